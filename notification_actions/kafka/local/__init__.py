"""A real Apache Kafka broker on demand (KRaft, from Maven Central jars): see :mod:`.manager`."""

from notification_actions.kafka.local.manager import (
    LocalKafka,
    LocalKafkaError,
    broker_answers,
    ensure_jars,
    free_port_block,
)

__all__ = ["LocalKafka", "LocalKafkaError", "broker_answers", "ensure_jars", "free_port_block"]
