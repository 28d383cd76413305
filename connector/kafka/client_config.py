"""What every confluent-kafka client of the connector shares, built here once.

The settings' properties; the consumer and producer configurations; librdkafka's own log lines
routed through the connector's logging (so they are JSON like the rest, not raw `%3|…` lines on
stderr), with identical lines collapsed while a broker is down; and librdkafka as the judge of
`kafka.client_properties`.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from pydantic import SecretStr

from connector.config import KafkaSettings
from connector.errors import ConfigError
from connector.process.logs import RepeatFilter

# While a broker is down, librdkafka and its error callback repeat the same lines many times a
# second: one line per window says it is still so, with the count held back.
REPEAT_WINDOW_S = 30.0

# Keys confluent-kafka takes as Python callables, not librdkafka properties: the connector sets
# those it needs, and a string in their place fails only later, inside a poll.
_CALLBACK_KEYS = frozenset(
    {"logger", "error_cb", "stats_cb", "throttle_cb", "oauth_cb", "on_commit", "on_delivery"}
)

KAFKA_LOG = logging.getLogger("connector.kafka")
KAFKA_LOG.addFilter(RepeatFilter(REPEAT_WINDOW_S))


def client_properties(settings: KafkaSettings) -> dict[str, str]:
    """The settings as librdkafka properties: brokers, security, then `client_properties`."""
    config: dict[str, str] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
    }
    optional = {
        "sasl.mechanism": settings.sasl_mechanism,
        "sasl.username": settings.sasl_username,
        "sasl.password": _reveal(settings.sasl_password),
        "ssl.ca.location": settings.ssl_ca_location,
        "ssl.certificate.location": settings.ssl_certificate_location,
        "ssl.key.location": settings.ssl_key_location,
        "ssl.key.password": _reveal(settings.ssl_key_password),
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl.endpoint.identification.algorithm"] = (
            settings.ssl_endpoint_identification_algorithm
        )
    config.update(settings.client_properties)
    return config


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """The properties every consumer, producer and admin client starts from."""
    return {**client_properties(settings), "logger": KAFKA_LOG}


def consumer_config(settings: KafkaSettings, *, group_id: str | None = None) -> dict[str, Any]:
    """A consumer with manual commits; the connector's group unless `group_id` names another."""
    return {
        **client_config(settings),
        "group.id": settings.group_id if group_id is None else group_id,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
    }


def streaming_consumer_config(settings: KafkaSettings) -> dict[str, Any]:
    """The source's consumer: offsets stored only by explicit commits, cooperative rebalancing."""
    return {
        **consumer_config(settings),
        "enable.auto.offset.store": False,
        "auto.offset.reset": settings.auto_offset_reset,
        "partition.assignment.strategy": "cooperative-sticky",
        "queued.max.messages.kbytes": 16384,  # bounds the client's prefetch memory
    }


def tool_consumer_config(settings: KafkaSettings, group_id: str) -> dict[str, Any]:
    """A short-lived consumer of a command (report, replay): its own group, librdkafka quiet."""
    return {**consumer_config(settings, group_id=group_id), "log_level": 0}


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """Idempotent, acks=all: a record acknowledged is durable and written once."""
    return {
        **client_config(settings),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        "delivery.timeout.ms": 120_000,
    }


def check_client_properties(settings: KafkaSettings) -> None:
    """ConfigError naming the first property librdkafka refuses (unknown, or a bad value).

    Each is tried alone in a client with no brokers, so nothing connects; the message names the
    property, not its value (librdkafka's own text may quote the value).
    """
    for name, value in settings.client_properties.items():
        if name in _CALLBACK_KEYS or not _accepted(name, value):
            raise ConfigError(
                f"kafka.client_properties: librdkafka refuses the property {name!r} "
                "(unknown, or a value it does not accept)"
            )


def _accepted(name: str, value: str) -> bool:
    try:
        Producer({name: value, "log_level": 0})
        Consumer({"group.id": "property-check", name: value, "log_level": 0}).close()
    except (KafkaException, TypeError, ValueError):
        return False
    return True


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def log_client_error(message: str) -> None:
    """The line an error callback writes (collapsed with its repeats)."""
    KAFKA_LOG.warning("kafka client error", extra={"error": message})
