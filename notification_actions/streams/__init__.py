"""The agents and the pipeline's stages, in the order data flows through them.

``topics``      every topic the service reads or writes, and their creation
``config``      config/integrations/directory topics → validated → tables (or rejected topic)
``matching``    events → decoded, validated (or events DLQ) → matched → deliveries topic
``dispatch``    deliveries → dedup → registration ``fire()`` → outcomes (and deliveries DLQ)
``records``     the typed records that travel between stages (Delivery, Outcome)
``headers``     header names of dead letters and rejected records
"""
