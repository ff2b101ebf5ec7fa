"""State the pipeline keeps in changelog-backed Faust tables.

``actions``       GlobalTable action id → definition, plus the in-memory (org, trigger) index
``integrations``  GlobalTable integration id → record (with credentials)
``directory``     GlobalTable organization id → members and teams
``dedup``         Table dedup key → delivered-at, co-partitioned with the deliveries topic
``throttle``      Table (action, key) → fixed-window counter, co-partitioned with the event topics
"""
