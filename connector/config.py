"""Settings: a YAML file, then environment variables (which win), validated once at start.

Every setting has a generic variable `CONNECTOR_<SECTION>__<FIELD>` (for example
`CONNECTOR_SINK__BATCH_SIZE=200`); the common ones also have the short names of `WELL_KNOWN_ENV`.
A secret may come from a file instead (`<NAME>_FILE`, as Kubernetes secret mounts give it).
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.errors import ConfigError

SPOTIFY_CAPI_URL = "https://capi.spotify.com/capi-direct/events/"
SPOTIFY_EVENT_NAMES = frozenset(
    {
        "ADD_TO_CART",
        "ALIAS",
        "VIEW",
        "PURCHASE",
        "LEAD",
        "SIGN_UP",
        "PRODUCT",
        "CHECK_OUT",
        "CUSTOM_EVENT_1",
        "CUSTOM_EVENT_2",
        "CUSTOM_EVENT_3",
        "CUSTOM_EVENT_4",
        "CUSTOM_EVENT_5",
    }
)


# Unicode categories no setting may hold: control characters (a newline, a tab, DEL) and the
# surrogates a non-UTF-8 environment value decodes to. Either would make a request unsendable.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})
# RFC 6750's b64token, widened to every visible ASCII character: what a header can carry as one
# credential without quoting.
_SENDABLE_TOKEN = re.compile(r"[\x21-\x7e]+")


def _trimmed(value: object) -> object:
    """Surrounding whitespace goes (a secret's trailing newline); blank or control characters
    inside are refused. The messages never quote the value."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        raise ValueError("is blank (empty or only whitespace)")
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        raise ValueError("contains a control character")
    return value


def _without_credentials(url: str | None) -> str | None:
    if url is not None and "@" in urlsplit(url).netloc:
        raise ValueError("must not carry credentials (user:password@); use the secret settings")
    return url


def display_url(url: str) -> str:
    """The URL as logs and messages show it: never with user:password@."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


OptionalText = Annotated[str | None, BeforeValidator(_trimmed)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_trimmed)]
Url = Annotated[str, BeforeValidator(_trimmed), AfterValidator(_without_credentials)]
OptionalUrl = Annotated[str | None, BeforeValidator(_trimmed), AfterValidator(_without_credentials)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    # One topic, several separated by commas, or one pattern starting with `^` (a regex,
    # as librdkafka subscribes to it).
    input_topic: str = "tracking-events"
    group_id: str = "spotify-capi-connector"
    results_topic: str = "spotify-capi-results"
    # How results are written: schemaless Avro, the Confluent wire format (schema registered
    # under `<results_topic>-value` with decode.schema_registry_*), or one JSON object each.
    results_format: Literal["avro", "confluent", "json"] = "avro"
    dlq_topic: str = "spotify-capi-dlq"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: OptionalText = None
    sasl_password: OptionalSecret = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: OptionalSecret = None
    ssl_endpoint_identification_algorithm: Literal["https", "none"] = "https"
    # Any other librdkafka property, passed through as is (for example `client.rack`).
    client_properties: dict[str, str] = Field(default_factory=dict)

    @property
    def input_topics(self) -> list[str]:
        """What the consumer subscribes to: the named topics, or the one pattern."""
        if self.input_topic.startswith("^"):
            return [self.input_topic]
        return [name.strip() for name in self.input_topic.split(",") if name.strip()]

    @property
    def named_input_topics(self) -> list[str]:
        """The input topics that can be checked by name (none for a pattern)."""
        return [name for name in self.input_topics if not name.startswith("^")]


class DecodeSettings(_Section):
    format: Literal["avro", "confluent"] = "avro"
    writer_schema_path: Path | None = None  # default: the bundled schemas/tracking_event.avsc
    schema_registry_url: OptionalUrl = None
    schema_registry_basic_auth: OptionalSecret = None  # "user:password"

    @model_validator(mode="after")
    def _registry_for_confluent(self) -> DecodeSettings:
        if self.format == "confluent" and not self.schema_registry_url:
            raise ValueError("format 'confluent' needs schema_registry_url")
        return self


DEFAULT_CONNECTION = "default"  # the connection of `spotify.token` and `spotify.connection_id`
_CONNECTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


class ConnectionSettings(_Section):
    """A named Spotify connection: its own connection id and token (the URL is shared)."""

    connection_id: OptionalText = None
    token: OptionalSecret = None
    # The file the token was read from (SPOTIFY_CAPI_<NAME>_TOKEN_FILE): re-read when it changes.
    token_file: Path | None = None
    # This connection's own request-rate cap; unset: sink.max_requests_per_second.
    max_requests_per_second: float | None = Field(default=None, gt=0)


class SpotifySettings(_Section):
    url: Url = SPOTIFY_CAPI_URL
    token: OptionalSecret = None
    # The file the token was read from (SPOTIFY_CAPI_TOKEN_FILE): the sink re-reads it when it
    # changes (a mounted Secret updated in place), so a token rotates without a restart.
    token_file: Path | None = None
    connection_id: OptionalText = None
    # More connections by name, each with its own token and connection id (the rest is shared);
    # `token` and `connection_id` above are the connection named `default`.
    connections: dict[str, ConnectionSettings] = Field(default_factory=dict)
    # Extra CA certificates to trust for the endpoint; checked at start, not at the first request.
    ca_bundle: FilePath | None = None
    allow_insecure_http: bool = False  # plain http:// to a host that is not loopback
    request_timeout_s: float = Field(default=15.0, gt=0)

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_is_pem(cls, path: Path | None) -> Path | None:
        if path is not None:
            try:
                ssl.create_default_context().load_verify_locations(cafile=str(path))
            except ssl.SSLError:
                raise ValueError("is not a PEM file of CA certificates") from None
            except OSError as exc:
                raise ValueError(f"cannot be read ({exc.strerror})") from None
        return path

    def bearer_token(self, setting: str = "spotify.token", env: str = "SPOTIFY_CAPI_TOKEN") -> str:
        """The token, or ConfigError if it is unset or could not travel in an HTTP header (a
        newline, a space, a non-ASCII character would fail inside the HTTP library on every
        request; here it is a setting error at start instead)."""
        token = "" if self.token is None else self.token.get_secret_value()
        if not token:
            raise ConfigError(f"{setting} is not set ({env} or its _FILE)")
        if not _SENDABLE_TOKEN.fullmatch(token):
            raise ConfigError(
                f"{setting} cannot be sent in an HTTP header (only visible ASCII characters, "
                "no spaces)"
            )
        return token

    @field_validator("connections")
    @classmethod
    def _connections_are_named(
        cls, connections: dict[str, ConnectionSettings]
    ) -> dict[str, ConnectionSettings]:
        for name in connections:
            if name == DEFAULT_CONNECTION:
                raise ValueError("'default' is spotify.token and spotify.connection_id")
            if not _CONNECTION_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a name (a-z, digits and _, from a letter)")
        return connections

    @model_validator(mode="after")
    def _url_is_safe(self) -> SpotifySettings:
        _check_http_url("url", self.url, self.allow_insecure_http, "spotify")
        return self


def _check_http_url(name: str, url: str, allow_insecure_http: bool, section: str) -> None:
    """An http(s) URL, plain http only to a loopback host unless the section allows it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL")
    if parts.scheme == "http" and not (allow_insecure_http or _is_loopback(parts.hostname)):
        raise ValueError(
            f"{name} uses plain http to a host that is not loopback; use https "
            f"or set {section}.allow_insecure_http"
        )


SPOTIFY_ADS_API_URL = "https://api-partner.spotify.com/ads/v3"
SPOTIFY_ACCOUNTS_TOKEN_URL = "https://accounts.spotify.com/api/token"  # noqa: S105 - a URL


class AdsConnectionSettings(_Section):
    """Where a named connection's events are counted: its dataset (and business, when it is not
    `ads_api.business_id`)."""

    dataset_id: OptionalText = None
    business_id: OptionalText = None


class AdsApiSettings(_Section):
    """Spotify's Ads API, read by `reconcile` (connector/reconcile/): OAuth client credentials and
    a refresh token, never the Conversions API token. Nothing here is needed to deliver."""

    url: Url = SPOTIFY_ADS_API_URL
    token_url: Url = SPOTIFY_ACCOUNTS_TOKEN_URL
    client_id: OptionalText = None
    client_secret: OptionalSecret = None
    refresh_token: OptionalSecret = None
    business_id: OptionalText = None
    dataset_id: OptionalText = None  # the dataset of the connection named `default`
    connections: dict[str, AdsConnectionSettings] = Field(default_factory=dict)
    # Spotify counts an event in diagnostics at least 20 minutes after it arrives (its guides):
    # an hour is compared once it ended this long ago, before that it is pending.
    processing_delay_s: float = Field(default=1200.0, ge=0)
    request_timeout_s: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    allow_insecure_http: bool = False  # plain http:// to a host that is not loopback
    # Reconcile in the running connector every this many seconds (a gauge and an alert); unset:
    # never. It reads the results of the last `reconcile_window_h` hours each time.
    reconcile_interval_s: float | None = Field(default=None, ge=60)
    reconcile_window_h: int = Field(default=24, ge=1, le=168)

    @model_validator(mode="after")
    def _urls_are_safe(self) -> AdsApiSettings:
        _check_http_url("url", self.url, self.allow_insecure_http, "ads_api")
        _check_http_url("token_url", self.token_url, self.allow_insecure_http, "ads_api")
        return self

    def missing(self, connections: list[str]) -> list[str]:
        """The settings `reconcile` needs for these connections that are not set, by name."""
        wanted: dict[str, object] = {
            "ads_api.client_id (SPOTIFY_ADS_CLIENT_ID)": self.client_id,
            "ads_api.client_secret (SPOTIFY_ADS_CLIENT_SECRET or its _FILE)": self.client_secret,
            "ads_api.refresh_token (SPOTIFY_ADS_REFRESH_TOKEN or its _FILE)": self.refresh_token,
        }
        for name in connections:
            where = self.where(name)
            prefix = "ads_api" if name == DEFAULT_CONNECTION else f"ads_api.connections.{name}"
            wanted[f"{prefix}.dataset_id"] = where[1]
            if name != DEFAULT_CONNECTION or where[0] is None:
                wanted[f"{prefix}.business_id (or ads_api.business_id)"] = where[0]
        return [setting for setting, value in wanted.items() if value is None]

    def where(self, connection: str) -> tuple[str | None, str | None]:
        """(business id, dataset id) of a connection's dataset."""
        if connection == DEFAULT_CONNECTION:
            return self.business_id, self.dataset_id
        own = self.connections.get(connection, AdsConnectionSettings())
        return own.business_id or self.business_id, own.dataset_id


class RoutingSettings(_Section):
    """Which connection an event goes to: by its input topic or by a property's value."""

    by: Literal["topic", "property"] = "topic"
    property: str | None = None  # with `by: property`: the tracking event's property to read
    routes: dict[str, str] = Field(default_factory=dict)  # topic or value → connection name
    # The connection of events no route names; null: they are dead-lettered (`no_route`).
    default: str | None = DEFAULT_CONNECTION

    @model_validator(mode="after")
    def _property_for_property_routing(self) -> RoutingSettings:
        if self.by == "property" and not self.property:
            raise ValueError("by 'property' needs property")
        return self


class TextLimits(_Section):
    """The longest text sent per field, in characters after trimming (Spotify publishes none).
    Longer: `event_id` rejects the event (`event_id_too_long`); any other field is left out
    with the warning `too_long`. Validated fields (IPs, e-mails, phones, names) have their own
    bounds."""

    event_id: int = Field(default=256, ge=1)
    event_source_url: int = Field(default=2048, ge=1)
    content_name: int = Field(default=1024, ge=1)
    content_category: int = Field(default=256, ge=1)  # as the shop sent it, before the lookup
    user_agent: int = Field(default=1024, ge=1)
    device_id: int = Field(default=256, ge=1)
    platform_id: int = Field(default=256, ge=1)
    session_id: int = Field(default=256, ge=1)
    alias_id: int = Field(default=256, ge=1)
    cookie1: int = Field(default=1024, ge=1)
    page_id: int = Field(default=256, ge=1)
    connection_type: int = Field(default=64, ge=1)
    age_group: int = Field(default=64, ge=1)
    click_id: int = Field(default=512, ge=1)  # `clickID`


ConsentAction = Literal["drop", "attribution_only", "send"]


class ConsentSettings(_Section):
    """Who may reach Spotify (connector/transform/consent.py). Off while `property` is unset.
    `drop`: nothing is sent, the result says SKIPPED_NO_CONSENT; `attribution_only`: sent with
    `opt_out_targeting: true` and only the event's fields and the four identifiers; `send`."""

    property: OptionalText = None  # e.g. "marketing_consent", or "onetrust_groups"
    # Unset: the property is a boolean. Set: the category that must be in its list or
    # comma-separated text (e.g. "C0004", "advertising").
    category: OptionalText = None
    on_denied: ConsentAction = "drop"
    on_missing: ConsentAction = "drop"

    @model_validator(mode="after")
    def _category_needs_property(self) -> ConsentSettings:
        if self.category is not None and self.property is None:
            raise ValueError("category is set but property is not (the rule is off)")
        if self.category is not None and ("," in self.category or ":" in self.category):
            raise ValueError("category must be one category name, without ',' or ':'")
        return self


class TransformSettings(_Section):
    # Event names of the tracking tool → Spotify event names, e.g. {"Order Completed": "PURCHASE"}
    event_name_mapping: dict[str, str] = Field(default_factory=dict)
    # The built-in aliases (Spotify Pixel, stape-io/spotify-tag, Segment e-commerce names;
    # connector/transform/event_names.py); the mapping above wins over them.
    event_name_aliases: bool = True
    # A shop's category names → a Google Product Taxonomy id, path or category name,
    # e.g. {"Sneakers": "Apparel & Accessories > Shoes"}; checked against the taxonomy at load
    # (connector/assemble.py).
    content_category_mapping: dict[str, str] = Field(default_factory=dict)
    max_length: TextLimits = TextLimits()
    default_phone_region: str = Field(default="US", min_length=2, max_length=2)
    phone_format: Literal["e164", "e164_digits"] = "e164"
    max_future_skew_s: float = Field(default=300.0, ge=0)
    max_event_age_s: float | None = Field(default=None, gt=0)
    default_opt_out_targeting: bool = True
    consent: ConsentSettings = ConsentSettings()
    # The optional Spotify fields that may leave, by contract path (`user_data.clickID`,
    # `event_details.content_name`); unset: every field the property table maps.
    # Checked against the property table where the transform is (connector/assemble.py).
    allowed_fields: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _mapping_targets_are_spotify_names(self) -> TransformSettings:
        unknown = sorted(set(self.event_name_mapping.values()) - SPOTIFY_EVENT_NAMES)
        if unknown:
            raise ValueError(f"event_name_mapping maps to unknown Spotify names: {unknown}")
        return self


class SinkSettings(_Section):
    batch_size: int = Field(default=100, ge=1, le=1000)
    linger_ms: int = Field(default=50, ge=0, le=60_000)
    # Requests at once per connection, halved on every 429 (sink/concurrency.py); 32 because a
    # request takes ~80 ms with 50 ms of Spotify in it (decisions.md, "Defaults for throughput").
    max_in_flight: int = Field(default=32, ge=1, le=256)
    max_attempts: int = Field(default=10, ge=1)
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    auth_retry_interval_s: float = Field(default=30.0, gt=0)
    # A lone event refused with 400 is sent again with less (connector/sink/heal.py) before it
    # is dead-lettered; false: dead-letter it at once.
    heal_rejected: bool = True
    # Learned refusals (connector/sink/learned.py): once Spotify refuses a field for
    # `learn_after` events of a connection within `learn_window_s`, the connection's events go
    # without it for `learned_ttl_s`, then one batch probes with it. false: healing alone.
    learn_refusals: bool = True
    learn_after: int = Field(default=3, ge=1)
    learn_window_s: float = Field(default=60.0, gt=0)
    learned_ttl_s: float = Field(default=600.0, gt=0)
    # Requests a second per connection (sends, retries, heal resends and auth probes alike),
    # for each process: `run --workers N` gives each worker a Nth. Unset: no cap.
    max_requests_per_second: float | None = Field(default=None, gt=0)


class PipelineSettings(_Section):
    # Pause partitions above this. Each unsettled record holds 3 to 5 KB (its bytes, its JSON and
    # their bookkeeping); at 20,000 events/s a record is unsettled ~0.25 s, so 15,000 leaves room.
    max_unsettled: int = Field(default=15_000, ge=1)
    poll_batch_size: int = Field(default=1000, ge=1)
    commit_interval_s: float = Field(default=1.0, gt=0)
    # Commit as soon as everything read has settled (at most every 0.1 s) instead of waiting for
    # the interval: a caught-up consumer shows no lag, and a restart repeats nothing it finished.
    commit_when_caught_up: bool = True
    # The whole stop: draining, committing and the last revoke's wait end within this.
    drain_timeout_s: float = Field(default=30.0, ge=0)
    # A rebalance's wait for the records in flight of the partitions taken away.
    revoke_timeout_s: float = Field(default=10.0, ge=0)
    # Worker processes that decode and transform (the CPU-bound part); 0: the Kafka thread does;
    # auto: one when the process has two CPUs or more (connector/process/cpus.py).
    prepare_processes: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = "auto"


class TelemetrySettings(_Section):
    health_host: str = "0.0.0.0"  # noqa: S104 - a pod's probes come from outside it
    health_port: int = Field(default=8080, ge=0, le=65535)  # 0: pick a free port
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    otlp_endpoint: OptionalUrl = None
    stall_timeout_s: float = Field(default=300.0, gt=0)
    # /healthz fails once the Kafka thread has not come round its loop for this long: a hung
    # poll loop gets the pod restarted. Above any one rebalance wait (pipeline.revoke_timeout_s).
    liveness_timeout_s: float = Field(default=120.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONNECTOR_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    kafka: KafkaSettings = KafkaSettings()
    decode: DecodeSettings = DecodeSettings()
    spotify: SpotifySettings = SpotifySettings()
    routing: RoutingSettings = RoutingSettings()
    transform: TransformSettings = TransformSettings()
    sink: SinkSettings = SinkSettings()
    pipeline: PipelineSettings = PipelineSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    ads_api: AdsApiSettings = AdsApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first (it wins), then the YAML file's values given as init arguments.
        return (WellKnownEnvSource(settings_cls), env_settings, init_settings)

    @model_validator(mode="after")
    def _registry_for_confluent_results(self) -> Settings:
        if self.kafka.results_format == "confluent" and not self.decode.schema_registry_url:
            raise ValueError("kafka.results_format 'confluent' needs decode.schema_registry_url")
        return self

    @model_validator(mode="after")
    def _routes_name_connections(self) -> Settings:
        known = {DEFAULT_CONNECTION, *self.spotify.connections}
        targets = set(self.routing.routes.values())
        if self.routing.default is not None:
            targets.add(self.routing.default)
        unknown = sorted(targets - known)
        if unknown:
            raise ValueError(f"routing names unknown connections: {unknown}")
        return self

    def spotify_connections(self) -> dict[str, SpotifySettings]:
        """Every connection events may go to, by name, with its own token and connection id.

        `default` is among them when it is set or routed to, or when it is the only one."""
        default = self.spotify.model_copy(update={"connections": {}})
        named = {
            name: default.model_copy(
                update={
                    "token": c.token,
                    "token_file": c.token_file,
                    "connection_id": c.connection_id,
                }
            )
            for name, c in sorted(self.spotify.connections.items())
        }
        routed = {*self.routing.routes.values(), self.routing.default}
        if not named or default.token or default.connection_id or DEFAULT_CONNECTION in routed:
            return {DEFAULT_CONNECTION: default, **named}
        return named

    def max_requests_per_second(self, connection: str) -> float | None:
        """The request-rate cap of a connection: its own, else `sink.max_requests_per_second`."""
        own = self.spotify.connections.get(connection)
        if own is not None and own.max_requests_per_second is not None:
            return own.max_requests_per_second
        return self.sink.max_requests_per_second

    def require_delivery(self) -> None:
        """Settings `run` needs beyond those a dry run needs."""
        for name, spotify in self.spotify_connections().items():
            _require_connection(name, spotify)


def _require_connection(name: str, spotify: SpotifySettings) -> None:
    if name == DEFAULT_CONNECTION:
        spotify.bearer_token()
        if not spotify.connection_id:
            raise ConfigError("spotify.connection_id is not set (SPOTIFY_CAPI_CONNECTION_ID)")
        return
    env = f"SPOTIFY_CAPI_{name.upper()}"
    spotify.bearer_token(f"spotify.connections.{name}.token", f"{env}_TOKEN")
    if not spotify.connection_id:
        raise ConfigError(
            f"spotify.connections.{name}.connection_id is not set "
            f"({env}_CONNECTION_ID or its _FILE)"
        )


# Short environment variable names → (section, field). Secrets also accept `<NAME>_FILE`.
WELL_KNOWN_ENV: dict[str, tuple[str, str]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("kafka", "bootstrap_servers"),
    "KAFKA_SECURITY_PROTOCOL": ("kafka", "security_protocol"),
    "KAFKA_SASL_MECHANISM": ("kafka", "sasl_mechanism"),
    "KAFKA_SASL_USERNAME": ("kafka", "sasl_username"),
    "KAFKA_SASL_PASSWORD": ("kafka", "sasl_password"),
    "KAFKA_SSL_CA_LOCATION": ("kafka", "ssl_ca_location"),
    "KAFKA_SSL_CERTIFICATE_LOCATION": ("kafka", "ssl_certificate_location"),
    "KAFKA_SSL_KEY_LOCATION": ("kafka", "ssl_key_location"),
    "KAFKA_SSL_KEY_PASSWORD": ("kafka", "ssl_key_password"),
    "CONNECTOR_INPUT_TOPIC": ("kafka", "input_topic"),
    "CONNECTOR_GROUP_ID": ("kafka", "group_id"),
    "CONNECTOR_RESULTS_TOPIC": ("kafka", "results_topic"),
    "CONNECTOR_DLQ_TOPIC": ("kafka", "dlq_topic"),
    "SCHEMA_REGISTRY_URL": ("decode", "schema_registry_url"),
    "SCHEMA_REGISTRY_BASIC_AUTH": ("decode", "schema_registry_basic_auth"),
    "SPOTIFY_CAPI_URL": ("spotify", "url"),
    "SPOTIFY_CAPI_TOKEN": ("spotify", "token"),
    "SPOTIFY_CAPI_CONNECTION_ID": ("spotify", "connection_id"),
    "SPOTIFY_CAPI_CA_BUNDLE": ("spotify", "ca_bundle"),
    "SPOTIFY_ADS_CLIENT_ID": ("ads_api", "client_id"),
    "SPOTIFY_ADS_CLIENT_SECRET": ("ads_api", "client_secret"),
    "SPOTIFY_ADS_REFRESH_TOKEN": ("ads_api", "refresh_token"),
    "SPOTIFY_ADS_BUSINESS_ID": ("ads_api", "business_id"),
    "SPOTIFY_ADS_DATASET_ID": ("ads_api", "dataset_id"),
}
SECRET_ENV = frozenset(
    {
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_KEY_PASSWORD",
        "SCHEMA_REGISTRY_BASIC_AUTH",
        "SPOTIFY_CAPI_TOKEN",
        "SPOTIFY_CAPI_CONNECTION_ID",
        "SPOTIFY_ADS_CLIENT_SECRET",
        "SPOTIFY_ADS_REFRESH_TOKEN",
    }
)


# A named connection's secrets: SPOTIFY_CAPI_<NAME>_TOKEN and SPOTIFY_CAPI_<NAME>_CONNECTION_ID,
# each also as `_FILE`.
_CONNECTION_ENV = re.compile(r"SPOTIFY_CAPI_([A-Z][A-Z0-9_]*?)_(TOKEN|CONNECTION_ID)(_FILE)?")


class WellKnownEnvSource(PydanticBaseSettingsSource):
    """Reads the short variable names of `WELL_KNOWN_ENV`, and secrets from `<NAME>_FILE`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ builds the whole mapping at once

    def __call__(self) -> dict[str, Any]:
        return well_known_values(os.environ)


def well_known_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, dict[str, Any]] = {}
    for name, (section, field_name) in WELL_KNOWN_ENV.items():
        value = environ.get(name)
        file_name = environ.get(f"{name}_FILE") if name in SECRET_ENV else None
        if value is None and file_name:
            value = _read_secret_file(f"{name}_FILE", file_name)
            if field_name == "token":  # re-read when it changes (connector/sink/token.py)
                values.setdefault(section, {})["token_file"] = file_name
        if value is not None:
            values.setdefault(section, {})[field_name] = value
    connections = _connection_values(environ)
    if connections:
        values.setdefault("spotify", {})["connections"] = connections
    return values


def _connection_values(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, dict[str, str]] = {}
    for name in sorted(environ):  # the plain variable is read before its _FILE, and wins
        match = _CONNECTION_ENV.fullmatch(name)
        if match is None:
            continue
        connection, field_name = match.group(1).lower(), match.group(2).lower()
        fields = values.setdefault(connection, {})
        if field_name in fields:
            continue
        if match.group(3):
            fields[field_name] = _read_secret_file(name, environ[name])
            if field_name == "token":
                fields["token_file"] = environ[name]
        else:
            fields[field_name] = environ[name]
    return values


def _read_secret_file(variable: str, file_name: str) -> str:
    try:
        return Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {file_name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{variable}: {file_name} is not UTF-8 text") from None


def read_settings(config_file: Path | None = None) -> Settings:
    """Build the settings, or raise ConfigError with a one-line message (no secret values).

    What needs a part to judge (the property table, the taxonomy, librdkafka) is checked where
    the parts are wired: `connector.assemble.load_settings` reads, then checks."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {config_file} is not UTF-8 text") from None
        except yaml.YAMLError as exc:
            # The parser's own text quotes the lines around the problem, a secret among them.
            raise ConfigError(f"config file {config_file} is not valid YAML{_where(exc)}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping of sections")
        file_values = loaded or {}
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if not isinstance(mark, yaml.Mark):
        return ""
    return f" (line {mark.line + 1}, column {mark.column + 1})"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the setting, never echoing its value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        problems.append(f"{where}: {error['msg']}")
    return "invalid settings: " + "; ".join(problems)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
