"""The worker process: the Faust app, how it is run, and its HTTP endpoints.

- ``app``: the Faust app: topics, tables and agents wired together (``build(settings)``).
- ``runner``: running a worker: a broker to talk to, the topics, then Faust's worker loop.
- ``supervisor``: ``worker --processes N``: N workers of one group on a host, restarted on a crash, drained together.
- ``web``: the HTTP endpoints on the worker's web port (health, readiness, metrics, token-protected rest).
"""

__all__: list[str] = []
