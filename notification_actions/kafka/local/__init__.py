"""A real Apache Kafka broker on demand (KRaft, from Maven Central jars).

``manager``  start, stop and status of a 1- or 3-node cluster in a data directory
``secure``   its SASL_SSL listener (``kafka start --secure``): keytool certificates, PLAIN and SCRAM users
``jars``     fetching Kafka's jars once from Maven Central (with ``pom.xml``) into a cache
``probe``    whether a broker answers at an address, and free port blocks
``procs``    whether a broker's JVM is alive (zombies and recycled pids included)
"""

from notification_actions.kafka.local.manager import (
    LocalKafka,
    LocalKafkaError,
    broker_answers,
    ensure_jars,
    free_port_block,
)

__all__ = ["LocalKafka", "LocalKafkaError", "broker_answers", "ensure_jars", "free_port_block"]
