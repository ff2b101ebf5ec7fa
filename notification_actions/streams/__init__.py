"""The pipeline's stages, in the order data flows through them.

``config``        config/integrations/directory topics → validated → tables (or the rejected topic)
``matching``      events → decoded, validated (or events DLQ) → matched → deliveries topic
``replayed``      the replay topic (``replay``, backfills) → matched within the scope, live throttles → deliveries
``dispatch``      deliveries → dedup → circuit → fire → outcomes; what follows each attempt
``firing``        one fire: the integration resolved, the registration's ``fire()`` bounded, its outcome
``bulkhead``      the places in a target's queue of its deliveries in memory (the per-target bound)
``pacing``        per-target spacing to a service's rate limit, before each fire
``retry``         what follows an attempt (``RetryPolicy.decide``); parking in the retry tier topics
``delay``         the retry tiers' delay queue, back to the deliveries topic when due
``dead_letters``  what is refused: the events DLQ, rejected configs, the deliveries DLQ

Every agent consumes through the guarded loop of ``kafka/loop.py``; the topics,
the acks in offset order, the in-flight set and the read-back of records Faust
skipped live in ``kafka/``, the records between stages in ``models/delivery.py``.
"""

__all__: list[str] = []
