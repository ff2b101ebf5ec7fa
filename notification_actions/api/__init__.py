"""The HTTP API on the worker's web port: Sentry's notification-actions REST contract and its tokens.

One layer above ``ops`` (it uses the replay, test-fire and config-write tools) and
below ``worker`` (which mounts it): ``auth`` (who may do what), ``http`` (bodies,
errors, rate limits), ``sentry`` (Sentry's request and response shapes), ``recent``
(the last attempts of each action), ``actions`` (the routes), ``backfill`` (backfill jobs over the API);
``console`` (the operator console's pages under ``static/console/`` and its endpoints) with
``deadletters`` (the dead-letter and redrive routes it uses).
"""

__all__: list[str] = []
