"""The agents and the pipeline's stages, in the order data flows through them.

``topics``        every topic the service reads or writes, and their creation
``config``        config/integrations/directory topics → validated → tables (or rejected topic)
``matching``      events → decoded, validated (or events DLQ) → matched → deliveries topic
``dispatch``      deliveries → dedup → circuit → registration ``fire()`` → outcomes
``retry``         what follows a failed attempt; parking in the retry tier topics
``delay``         the retry tiers' delay queue, back to the deliveries topic when due
``dead_letters``  the events DLQ, rejected configs and the deliveries DLQ (one writer)
``ratelimit``     per-target pacing to a service's rate limit
``inflight``      bounded concurrency with per-target order
``acks``          acks in offset order, so a commit never passes work in flight
``gaps``          records Faust fetched but never handed over, read back
``records``       the typed records between stages (Delivery, Outcome, Origin)
``headers``       header names of dead letters and rejected records
"""
