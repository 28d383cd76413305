"""The Schema Registry through confluent-kafka's client: its configuration, one retry policy.

The client itself retries 408, 429, 5xx and transport errors with jittered backoff; the connector
adds no loop of its own. Bounded: `ATTEMPTS` requests of at most `REQUEST_TIMEOUT_S` each, with
less than `RETRY_MAX_WAIT_MS` between two, so a registry that stops answering holds the decoding
thread for about 42 s at most before the record's batch fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from connector.config import DecodeSettings
from connector.errors import DecodeError, SchemaRegistryUnavailable

REQUEST_TIMEOUT_S = 10
RETRIES = 3  # after the first request
ATTEMPTS = RETRIES + 1
RETRY_WAIT_MS = 200  # the first backoff's ceiling; it doubles, with full jitter
RETRY_MAX_WAIT_MS = 2_000


@dataclass(frozen=True, slots=True)
class RegisteredSchema:
    schema_type: str | None
    text: str


def registry_config(settings: DecodeSettings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "url": str(settings.schema_registry_url),
        "timeout": REQUEST_TIMEOUT_S,
        "max.retries": RETRIES,
        "retries.wait.ms": RETRY_WAIT_MS,
        "retries.max.wait.ms": RETRY_MAX_WAIT_MS,
    }
    if settings.schema_registry_basic_auth is not None:
        config["basic.auth.user.info"] = settings.schema_registry_basic_auth.get_secret_value()
    return config


class Registry:
    """Schemas by id. DecodeError for an id the registry does not know (404);
    SchemaRegistryUnavailable once the client's retries are spent."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self._client = client

    @classmethod
    def for_settings(cls, settings: DecodeSettings) -> Registry:
        return cls(SchemaRegistryClient(registry_config(settings)))

    def schema(self, schema_id: int) -> RegisteredSchema:
        try:
            found = self._client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise DecodeError(
                    "unknown_schema_id", f"schema id {schema_id} is not in the registry"
                ) from None
            raise SchemaRegistryUnavailable(
                f"the Schema Registry answered {exc.http_status_code}"
            ) from None
        except Exception as exc:  # connection errors come as many types
            raise SchemaRegistryUnavailable(
                f"the Schema Registry is unreachable: {type(exc).__name__}"
            ) from None
        return RegisteredSchema(found.schema_type, found.schema_str or "")

    def subject_count(self) -> int:
        """How many subjects the registry holds; raises what the client raises."""
        return len(self._client.get_subjects())

    def close(self) -> None:
        self._client.close()


def register_schema(settings: DecodeSettings, subject: str, schema_text: str) -> int:
    """Register an Avro schema under `subject` (the registry keeps one id for the same text) and
    return its id; SchemaRegistryUnavailable names why it could not (an incompatible schema is
    a 409)."""
    client = SchemaRegistryClient(registry_config(settings))
    try:
        return int(client.register_schema(subject, Schema(schema_text, "AVRO")))
    except SchemaRegistryError as exc:
        raise SchemaRegistryUnavailable(
            f"the Schema Registry refused the results schema under {subject} "
            f"({exc.http_status_code}: {exc.error_message})"
        ) from None
    except Exception as exc:  # connection errors come as many types
        raise SchemaRegistryUnavailable(
            f"the Schema Registry is unreachable: {type(exc).__name__}"
        ) from None
    finally:
        client.close()
