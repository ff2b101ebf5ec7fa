"""Operating the service: the work behind the command line's operator commands.

- ``dlq``: read, summarise and redrive the dead-letter topics (the DLQ itself is never changed).
- ``configwrite``: write an action through the config topic and wait for the workers' verdict (the REST API).
- ``dlqscan``: a bounded read of the newest dead letters and an organization-scoped redrive (the console's API).
- ``devsink``: a local webhook receiver that prints what it gets (``dev-sink``), standard library only.
- ``lag``: consumer lag per group/topic/partition with a status judged over a window of samples.
- ``replay``: feed a range of an events topic back through matching into the deliveries topic (backfill).
- ``configwrite``: write an action through the config topic and wait for the workers' verdict.
- ``testfire``: fire one action now with a given or sample event (no dedup, no table writes).
"""

__all__: list[str] = []
