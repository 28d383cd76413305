"""`spotify-capi-connector check-config`: validate settings and reach what `run` needs, then say
what `run` would do. Stops at the first problem with a one-line message and a non-zero exit
(2: settings, 3: Kafka, the Schema Registry or Spotify). Never prints a secret (the token,
passwords).

Spotify gets a connection, the one `run` would open (name, route, TLS trust), but no request:
a test request would either send an event or be refused for being empty, and neither says more
than the first real batch will. So a wrong token shows only when `run` starts (not ready, 401).
"""

from __future__ import annotations

import argparse
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from connector.config import (
    DEFAULT_CONNECTION,
    KafkaSettings,
    Settings,
    SpotifySettings,
    display_url,
)
from connector.errors import KafkaUnavailable
from connector.kafka.admin import check_topics
from connector.prepare.choice import choose
from connector.process import compiled as _compiled
from connector.sink.spotify_sink import tls_context

NAME = "check-config"
HELP = "validate the settings, reach Kafka, the Schema Registry and Spotify, say what run would do"


class SchemaRegistryUnreachable(KafkaUnavailable):
    """Exit code 3, like Kafka: an infrastructure dependency does not answer."""


class SpotifyUnreachable(KafkaUnavailable):
    """Exit code 3, like Kafka: no connection to the Spotify endpoint (name, route or TLS)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML settings file (environment wins)")


def run(args: argparse.Namespace) -> int:
    from connector.assemble import load_settings  # the parts judge what only they can

    settings = load_settings(args.config)
    settings.require_delivery()  # the token proven sendable, as `run` needs it
    say(
        "settings",
        f"valid ({args.config})" if args.config else "valid (environment and defaults)",
    )
    kafka = settings.kafka
    partitions = check_topics(kafka)
    say("kafka", f"{kafka.bootstrap_servers} reachable ({kafka.security_protocol})")
    say(
        "input",
        f"{describe_input(kafka, partitions)}, "
        f"group {kafka.group_id}, from {kafka.auto_offset_reset} when the group has no offsets",
    )
    say("results", f"{kafka.results_topic} ({partitions[kafka.results_topic]} partitions)")
    say("dead letters", f"{kafka.dlq_topic} ({partitions[kafka.dlq_topic]} partitions)")
    say("decode", describe_decode(settings))
    connections = settings.spotify_connections()
    named = list(connections) != [DEFAULT_CONNECTION]  # one plain connection: no names shown
    for name, spotify in connections.items():
        label = f"{name}: " if named else ""
        say("spotify", f"{label}{describe_spotify(spotify)}; {reach_spotify(spotify)}")
    if named or settings.routing.routes:
        say("routing", describe_routing(settings))
    sink = settings.sink
    say(
        "delivery",
        f"batches of up to {sink.batch_size} events, {sink.max_in_flight} requests in flight, "
        f"{sink.max_attempts} attempts",
    )
    say("consent", describe_consent(settings))
    say("fields", describe_fields(settings))
    say("health", describe_health(settings))
    say("code", _compiled.describe())
    say("prepare", choose(settings).describe())
    return 0


def say(what: str, text: str) -> None:
    print(f"{what:<14}{text}")


def describe_decode(settings: Settings) -> str:
    decode = settings.decode
    if decode.format != "confluent":
        schema = decode.writer_schema_path or "the bundled tracking_event schema"
        return f"schemaless Avro written with {schema}"
    subjects = registry_subjects(settings)
    registry = display_url(str(decode.schema_registry_url))
    return f"Confluent wire format, Schema Registry {registry} ({subjects} subjects)"


def describe_consent(settings: Settings) -> str:
    consent = settings.transform.consent
    if consent.property is None:
        return "no rule: every event is sent"
    grants = "true" if consent.category is None else f"category {consent.category!r} present"
    return (
        f"{consent.property!r} grants when {grants}; denied: {consent.on_denied}, "
        f"missing: {consent.on_missing}"
    )


def describe_fields(settings: Settings) -> str:
    """The Spotify fields that may leave the process (PURCHASE also keeps amount and currency)."""
    from connector.transform.allowed_fields import leaving

    allowed = settings.transform.allowed_fields
    which = "all the table maps" if allowed is None else "transform.allowed_fields"
    return f"{which}: {', '.join(leaving(allowed))}"


def registry_subjects(settings: Settings) -> int:
    from connector.kafka.registry import Registry

    decode = settings.decode
    registry = Registry.for_settings(decode)
    try:
        return registry.subject_count()
    except Exception as exc:  # transport errors come as many types; say which, not the auth
        raise SchemaRegistryUnreachable(
            f"cannot reach the Schema Registry at {display_url(str(decode.schema_registry_url))}: "
            f"{type(exc).__name__}"
        ) from None


def describe_input(kafka: KafkaSettings, partitions: dict[str, int]) -> str:
    named = [f"{t} ({partitions[t]} partitions)" for t in kafka.named_input_topics]
    return ", ".join(named) or f"topics matching {kafka.input_topic}"


def describe_routing(settings: Settings) -> str:
    routing = settings.routing
    by = "input topic" if routing.by == "topic" else f"property {routing.property}"
    routes = ", ".join(f"{key} → {name}" for key, name in sorted(routing.routes.items()))
    fallback = routing.default if routing.default is not None else "dead letter (no_route)"
    return f"by {by}: {routes or 'no routes'}; otherwise {fallback}"


def describe_spotify(spotify: SpotifySettings) -> str:
    connection = spotify.connection_id or ""
    return (
        f"POST {display_url(spotify.url)}, connection id …{connection[-4:]}, token set "
        f"(never shown) and sendable, timeout {spotify.request_timeout_s:g} s"
    )


def reach_spotify(spotify: SpotifySettings) -> str:
    """Connect to the endpoint as `run` would (TLS verified) and close without a request."""
    url = urlsplit(spotify.url)
    host = url.hostname or ""
    tls = tls_context(spotify) if url.scheme == "https" else None
    port = url.port or (443 if tls else 80)
    try:
        with socket.create_connection((host, port), timeout=spotify.request_timeout_s) as raw:
            if tls is None:
                return "reachable"
            with tls.wrap_socket(raw, server_hostname=host):
                return "reachable, certificate verified"
    except ssl.SSLCertVerificationError as exc:
        reason = f"certificate not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        reason = f"TLS failed ({exc.reason or type(exc).__name__})"
    except socket.gaierror as exc:
        reason = f"name not resolved ({exc.strerror})"
    except TimeoutError:
        reason = f"no answer within {spotify.request_timeout_s:g} s"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise SpotifyUnreachable(f"cannot reach Spotify at {host}:{port}: {reason}")


def describe_health(settings: Settings) -> str:
    t = settings.telemetry
    traces = f", traces to {display_url(t.otlp_endpoint)}" if t.otlp_endpoint else ""
    return (
        f"http://{t.health_host}:{t.health_port} /healthz /startupz /readyz /metrics, "
        f"stall after {t.stall_timeout_s:g} s{traces}; logs {t.log_format} at {t.log_level}"
    )
