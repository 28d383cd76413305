"""What the sandbox is told: who may call it, how strict it is, and how it misbehaves.

Limits Spotify does not publish (events per request, body size, clock skew) are chosen here and
documented on each field; change them at run time through the admin API to test other limits.
The `ads_*` fields steer the emulated slice of the Ads API (ads_api.py, diagnostics.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from capi_devtools.sandbox.validation import USER_DATA_KEYS
from connector.config import SPOTIFY_EVENT_NAMES

# The credentials the demo and the tests use unless they configure others.
DEFAULT_TOKEN = "sandbox-capi-token-not-a-secret"  # noqa: S105 - a well-known test credential
DEFAULT_CONNECTION_ID = "5f0c6d2e-8b1a-4c3e-9d7f-2a6b4e8c1d90"
# The Ads API's: an OAuth client, its refresh token, and the business and dataset it reads.
DEFAULT_ADS_CLIENT_ID = "sandbox-ads-client-id"
DEFAULT_ADS_CLIENT_SECRET = "sandbox-ads-client-secret-not-a-secret"  # noqa: S105 - test value
DEFAULT_ADS_REFRESH_TOKEN = "sandbox-ads-refresh-token-not-a-secret"  # noqa: S105 - test value
DEFAULT_BUSINESS_ID = "3b9e2f41-6c0d-4a8e-b5f7-1d2c3e4f5a60"
DEFAULT_DATASET_ID = "0d86b9e9-70f0-4700-a725-3417ba8786f6"  # the spec's example DatasetId
DEFAULT_ADS_DIAGNOSTICS_DELAY_S = 1200.0  # Spotify's guides: wait at least 20 minutes

DEFAULT_MAX_EVENTS_PER_REQUEST = 1000  # the connector's own upper bound on batch size
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: 1000 typical events (~600 bytes each) fit
DEFAULT_MAX_CLOCK_SKEW_S = 300.0  # same allowance as the transform's max_future_skew_s

LatencyDistribution = Literal["fixed", "uniform", "normal"]
OutageMode = Literal["refuse", "503"]
ValidationLevel = Literal["full", "light"]
# `error_response`: the Ads API's published ErrorResponse `{"sp_trace_id", "messages",
# "error_codes"}`; `detailed`: `{"message", "errors": [{"index", "field", "code", "message"}],
# "sp_trace_id"}`, which names each problem's event and field.
ErrorBody = Literal["error_response", "detailed"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FaultSettings(_Model):
    """Misbehaviour on demand. Shares are probabilities per request; they must sum to at most 1."""

    seed: int | None = None  # None: a fresh random sequence on every (re)configuration
    latency_ms: float = Field(default=0.0, ge=0)  # fixed latency, or the mean of the distribution
    latency_jitter_ms: float = Field(default=0.0, ge=0)  # uniform: ± half-width; normal: stddev
    latency_distribution: LatencyDistribution = "fixed"
    share_429: float = Field(default=0.0, ge=0, le=1)
    share_500: float = Field(default=0.0, ge=0, le=1)
    share_503: float = Field(default=0.0, ge=0, le=1)
    share_drop: float = Field(default=0.0, ge=0, le=1)  # close the connection, no response
    retry_after_s: int | None = Field(default=1, ge=0)  # on 429 and 503; None: no header
    rps_limit: float | None = Field(default=None, gt=0)  # requests/s above which 429 answers
    # `user_data` keys answered with 400 (full validation), e.g. ["clickID"]: a Spotify that
    # refuses a field, for the sink's healing.
    refuse_user_data_keys: tuple[str, ...] = ()
    # Refuse those keys for this long after the faults are set, then accept them again (a
    # Spotify that changes its mind, for the sink's probe of a learned refusal); None: for ever.
    refuse_for_s: float | None = Field(default=None, ge=0)

    @field_validator("refuse_user_data_keys")
    @classmethod
    def _known_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(keys) - USER_DATA_KEYS)
        if unknown:
            raise ValueError(f"not user_data keys of the contract: {', '.join(unknown)}")
        return keys

    @model_validator(mode="after")
    def _shares_fit(self) -> FaultSettings:
        if self.share_429 + self.share_500 + self.share_503 + self.share_drop > 1.0 + 1e-9:
            raise ValueError("share_429 + share_500 + share_503 + share_drop must be at most 1")
        return self


class SandboxSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0: pick a free port
    admin_port: int = Field(default=0, ge=0, le=65535)  # admin stays up during an outage
    # Serve the events port over HTTPS with this certificate (PEM) and key; the admin port
    # stays plain HTTP on loopback.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tokens: tuple[SecretStr, ...] = (SecretStr(DEFAULT_TOKEN),)
    connection_ids: tuple[str, ...] = (DEFAULT_CONNECTION_ID,)
    validation: ValidationLevel = "full"
    max_events_per_request: int = Field(default=DEFAULT_MAX_EVENTS_PER_REQUEST, ge=1)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1, le=64 * 1024 * 1024)
    max_clock_skew_s: float = Field(default=DEFAULT_MAX_CLOCK_SKEW_S, ge=0)
    max_event_age_s: float | None = Field(default=None, gt=0)  # None: no lower bound on time
    # A 400 lists each problem (event index, field). Spotify's own 400 may not: switch this off
    # to prove the client copes with a bare 400.
    detailed_errors: bool = True
    error_body: ErrorBody = "error_response"
    keep_bodies: bool = True  # keep the last accepted body of each event id, for assertions
    max_kept_bodies: int | None = Field(default=None, ge=0)  # bound memory: forget the oldest
    faults: FaultSettings = FaultSettings()
    # --- the Ads API (POST /api/token, GET /ads/v3/...) ------------------------------------
    ads_client_id: str = Field(default=DEFAULT_ADS_CLIENT_ID, min_length=1)
    ads_client_secret: SecretStr = SecretStr(DEFAULT_ADS_CLIENT_SECRET)
    ads_refresh_token: SecretStr = SecretStr(DEFAULT_ADS_REFRESH_TOKEN)
    ads_token_ttl_s: int = Field(default=3600, ge=1)  # `expires_in` of each access token
    ads_business_id: str = DEFAULT_BUSINESS_ID  # the one business; it owns every dataset
    # dataset id → the capi_connection_id linked to it (one dataset per connection)
    ads_datasets: dict[str, str] = Field(
        default_factory=lambda: {DEFAULT_DATASET_ID: DEFAULT_CONNECTION_ID}
    )
    # Datasets whose CAPI integration is not linked: diagnostics list no CAPI datasource.
    ads_unlinked_datasets: tuple[str, ...] = ()
    # An event shows in diagnostics this long after it arrived (0: at once).
    ads_diagnostics_delay_s: float = Field(default=DEFAULT_ADS_DIAGNOSTICS_DELAY_S, ge=0)
    # CAPI event name → share (0..1) of its events accepted but never counted; exact, see
    # diagnostics.py. Replaced as a whole by a change ({} stops every loss).
    ads_diagnostics_loss: dict[str, float] = Field(default_factory=dict)

    @field_validator("tokens", "connection_ids")
    @classmethod
    def _not_empty(cls, values: tuple[object, ...]) -> tuple[object, ...]:
        if not values:
            raise ValueError("at least one is needed")
        return values

    @model_validator(mode="after")
    def _cert_with_key(self) -> SandboxSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @field_validator("ads_business_id")
    @classmethod
    def _business_uuid(cls, value: str) -> str:
        return canonical_uuid(value)

    @field_validator("ads_datasets")
    @classmethod
    def _datasets(cls, datasets: dict[str, str]) -> dict[str, str]:
        canonical = {
            canonical_uuid(dataset): connection for dataset, connection in datasets.items()
        }
        if len(set(canonical.values())) < len(canonical):
            raise ValueError("a capi_connection_id feeds one dataset at most")
        return canonical

    @field_validator("ads_unlinked_datasets")
    @classmethod
    def _unlinked_uuids(cls, datasets: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(canonical_uuid(dataset) for dataset in datasets)

    @field_validator("ads_diagnostics_loss")
    @classmethod
    def _loss(cls, loss: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(loss) - SPOTIFY_EVENT_NAMES)
        if unknown:
            raise ValueError(f"not CAPI event names (ADD_TO_CART, not ADDTOCART): {unknown}")
        if any(not 0.0 <= share <= 1.0 for share in loss.values()):
            raise ValueError("each share must be between 0 and 1")
        return loss

    @model_validator(mode="after")
    def _unlinked_are_datasets(self) -> SandboxSettings:
        unknown = sorted(set(self.ads_unlinked_datasets) - set(self.ads_datasets))
        if unknown:
            raise ValueError(f"ads_unlinked_datasets not in ads_datasets: {', '.join(unknown)}")
        return self

    def token_values(self) -> frozenset[str]:
        return frozenset(token.get_secret_value() for token in self.tokens)


def canonical_uuid(value: str) -> str:
    """The lower-case, hyphenated form: the spec types business and dataset ids as uuid."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"not a UUID: {value!r}") from None


# Settings the admin API cannot change while the server runs.
FIXED_AT_START = frozenset({"host", "port", "admin_port", "tls_cert", "tls_key"})


def apply_changes(settings: SandboxSettings, changes: Mapping[str, Any]) -> SandboxSettings:
    """A partial update, as the admin API takes it: `faults` merges key by key.

    Raises ValueError for a setting fixed at start and pydantic's ValidationError (a ValueError)
    for an invalid value.
    """
    fixed = sorted(FIXED_AT_START.intersection(changes))
    if fixed:
        raise ValueError(f"cannot change while running: {', '.join(fixed)}")
    current = settings.model_dump()
    current["tokens"] = [token.get_secret_value() for token in settings.tokens]
    merged = {**current, **changes}
    faults = changes.get("faults")
    if isinstance(faults, Mapping):
        merged["faults"] = {**current["faults"], **faults}
    return SandboxSettings.model_validate(merged)
