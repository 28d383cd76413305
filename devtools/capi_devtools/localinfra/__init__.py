"""Local development infrastructure: a real Kafka broker from Maven jars, without Docker."""

from connector.localinfra.jars import cache_dir, kafka_libs
from connector.localinfra.kafka import KafkaBroker, free_port

__all__ = ["KafkaBroker", "cache_dir", "free_port", "kafka_libs"]
