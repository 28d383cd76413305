"""Local development infrastructure: a real Kafka broker from Maven jars, without Docker."""

from capi_devtools.localinfra.jars import cache_dir, kafka_libs
from capi_devtools.localinfra.kafka import KafkaBroker, free_port

__all__ = ["KafkaBroker", "cache_dir", "free_port", "kafka_libs"]
