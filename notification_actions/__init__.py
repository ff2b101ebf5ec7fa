"""Notification Actions: product events on Kafka → notifications on third-party services.

The packages, lowest layer first; a module imports only its own package and
the layers below it (``tests/test_layers.py``; drawn in docs/architecture.md):

``errors``, ``settings``, ``logs``, ``metrics``
                 the leaves: error classes, settings, logging, Prometheus metrics
``models``       every message on a topic, as pydantic models, and the registry container
``kafka``        plumbing under Faust with no business rule (topics, I/O, acks, gaps, the local broker)
``tables``       the state: actions and their index, integrations, directory, dedup, throttle, circuits
``registrations``  one module per service: ``fire()`` talks to that service and nothing else
``streams``      the stages in data order: config, matching, dispatch, retry, delay, dead letters
``ops``          what operators run beside the stream: replay, dlq, lag, test-fire, dev-sink, config writes
``api``          the REST API on the web port: tokens, Sentry's notification-actions routes, the console
``worker``       the Faust app wired together, its web views, the runner
``cli``          every command
``__main__``     ``python -m notification_actions``
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
