"""What every confluent-kafka client of the connector shares.

The settings' properties; librdkafka's own log lines routed through the connector's logging (so
they are JSON like the rest, not raw `%3|…` lines on stderr), with identical lines collapsed
while a broker is down; and librdkafka as the judge of `kafka.client_properties`.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from connector.config import KafkaSettings
from connector.errors import ConfigError
from connector.logs import RepeatFilter

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


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """The properties every consumer, producer and admin client starts from."""
    return {**settings.client_config(), "logger": KAFKA_LOG}


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


def log_client_error(message: str) -> None:
    """The line an error callback writes (collapsed with its repeats)."""
    KAFKA_LOG.warning("kafka client error", extra={"error": message})
