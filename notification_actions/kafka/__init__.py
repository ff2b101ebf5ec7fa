"""Kafka and Faust plumbing under the stages: what they read and write, and how.

``topics``    every topic the service reads or writes, and their creation
``headers``   header names and encoding of dead letters, rejected records and retry tiers
``io``        small aiokafka helpers: publish, read a compacted topic, read offsets back
``gaps``      records Faust fetched but never handed over, read back; the tail sweep
``acks``      acks in offset order, so a commit never passes work still in flight
``inflight``  bounded concurrency with per-key order, one task per job
``loop``      the one guarded consume loop of every stage: read back, handle, guard, ack
``local``     a real Apache Kafka broker on demand (tests, development)
"""

__all__: list[str] = []
