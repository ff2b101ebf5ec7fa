"""Running a worker: a broker to talk to, the topics, then Faust's worker loop."""

from __future__ import annotations

import asyncio
import logging

import faust

from notification_actions.errors import ConfigError
from notification_actions.logs import LineLogger, configure_logging
from notification_actions.settings import DEFAULT_BROKER, Settings
from notification_actions.tables import heap

log = logging.getLogger("notification_actions.worker")

__all__ = ["configure", "preflight", "run_worker", "start_embedded_broker"]


def _embedded_broker(settings: Settings):
    """Start a local Kafka on the default address and return it (the caller stops it)."""
    from notification_actions.kafka.local import LocalKafka

    host, _, port = DEFAULT_BROKER.removeprefix("kafka://").partition(":")
    kafka = LocalKafka(
        settings.kafka_home / "data",
        port=int(port),
        version=settings.kafka_version,
        cache_dir=settings.kafka_home,
    )
    log.warning(
        "NOTIFICATION_ACTIONS_BROKER is unset and nothing answers at %s:%s: starting a local "
        "Apache Kafka %s (data in %s); it stops when this worker stops",
        host, port, settings.kafka_version, settings.kafka_home / "data",
    )
    kafka.start()
    log.warning("local Apache Kafka ready at %s", kafka.bootstrap)
    return kafka


def _worker_streams(settings: Settings) -> dict:
    """In JSON mode, what the Faust worker prints becomes log records too."""
    if settings.log_format.lower() != "json":
        return {}
    printed = logging.getLogger("faust.worker")
    return {"stdout": LineLogger(printed, logging.INFO), "stderr": LineLogger(printed, logging.ERROR)}


def configure(settings: Settings) -> None:
    """Logging as the settings say (a bad format or level ends the command with why)."""
    try:
        configure_logging(settings)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def start_embedded_broker(settings: Settings, *, broker_configured: bool):
    """A local Kafka when no broker is configured and none answers at the default (else None).

    The caller stops what it gets. ``worker --processes N`` calls this once, in the
    parent: its children find the broker answering at the default address.
    """
    from notification_actions.kafka.security import Security

    # The local broker it would start is plaintext: of no use to a worker set up for TLS or SASL.
    if not broker_configured and settings.embedded_broker and settings.kafka_security_protocol == "PLAINTEXT":
        from notification_actions.kafka.local import broker_answers

        if not broker_answers(",".join(settings.broker_hosts()), timeout=3.0, security=Security.of(settings)):
            return _embedded_broker(settings)
    return None


def preflight(settings: Settings) -> None:
    """Connect once and create the topics; ``SystemExit`` with the reason when that cannot work."""
    from notification_actions.kafka.security import Security, connection_problem
    from notification_actions.kafka.topics import ensure_topics

    loop = asyncio.new_event_loop()
    try:
        # Refused credentials or a certificate that does not verify: say so now, not
        # in aiokafka's "Unable to bootstrap" retried by every client of the worker.
        if problem := loop.run_until_complete(connection_problem(settings)):
            raise SystemExit(f"refusing to start: {problem}")
        log.info("connected to Kafka at %s (%s)", settings.broker, Security.of(settings).describe())
        if settings.kafka_security_protocol == "SASL_PLAINTEXT" and settings.kafka_sasl_mechanism == "PLAIN":
            log.warning("SASL_PLAINTEXT with PLAIN sends the Kafka password in clear text; use SASL_SSL "
                        "unless this network is trusted")
        loop.run_until_complete(ensure_topics(settings))
    except ConfigError as exc:  # e.g. an events topic auto-created with the wrong partition count
        raise SystemExit(f"refusing to start: {exc}") from None
    finally:
        loop.close()


def run_worker(settings: Settings, *, broker_configured: bool) -> None:
    """Run one worker until SIGTERM/SIGINT: drain in-flight deliveries, commit, exit."""
    configure(settings)
    embedded = start_embedded_broker(settings, broker_configured=broker_configured)
    try:
        from notification_actions.worker.app import build

        preflight(settings)
        asyncio.set_event_loop(asyncio.new_event_loop())
        service = build(settings)
        # What the imports and the app built are kept for the process's life: frozen now, the full
        # collections of the start (recovery, the index) walk only what comes after (tables/heap.py).
        heap.settle("the app was built")
        worker = faust.Worker(
            service.app,
            loglevel=settings.log_level.upper(),
            redirect_stdouts=False,
            override_logging=False,  # keep configure_logging's handler (logs.py)
            **_worker_streams(settings),
        )
        if settings.log_format.lower() == "json":
            worker.spinner = None  # it would print "OK ^" instead of logging "Ready"
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
    finally:
        if embedded is not None:
            log.warning("stopping the local Apache Kafka this worker started")
            embedded.stop()
