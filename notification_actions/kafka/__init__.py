"""Kafka and Faust plumbing under the stages: what they read and write, and how.

``topics``    every topic the service reads or writes, and their creation
``headers``   header names and encoding of dead letters, rejected records and retry tiers
``security``  how every connection is made: TLS and SASL from the settings, for aiokafka and Faust
``io``        small aiokafka helpers: publish, read a compacted topic, read offsets back
``gaps``      records Faust fetched but never handed over, read back; the tail sweep
``acks``      acks in offset order, so a commit never passes work still in flight
``produced``  the records an item caused; it is acked only once the broker has every one
``inflight``  bounded concurrency with per-key order, one task per job
``rebalance`` whether a rebalance is on; sleeps that end when one starts
``monitor``   Faust's monitor without its bookkeeping per record (nobody reads it)
``loop``      the one guarded consume loop of every stage: read back, handle, guard, ack
``recovery``  the config GlobalTables recover in batches and still read their changelog live
``local``     a real Apache Kafka broker on demand (tests, development)
"""

__all__: list[str] = []
