"""State the pipeline keeps in changelog-backed Faust tables, and what reads it.

``actions``       GlobalTable action id → definition, plus the in-memory (org, trigger) index
``integrations``  GlobalTable integration id → record (with credentials)
``directory``     GlobalTable organization id → members and teams
``dedup``         Table dedup key → delivered-at, co-partitioned with the deliveries topic
``throttle``      Table (action, key) → fixed-window counter, co-partitioned with the event topics
``circuits``      Table target → open circuit (head, tier, waiting), co-partitioned with the deliveries
``expiry``        deleting expired dedup keys and throttle windows, with tombstones to the changelog
``raw``           bytes-in, bytes-out codecs and the GlobalTable factory every table uses
``heap``          keeping the garbage collector off the large, long-lived action index
``state``         "what do the workers hold": the tables read from their changelogs (CLI tools)
"""

__all__: list[str] = []
