"""What the sandbox is told: who may call it, how strict it is, and how it misbehaves.

Limits Spotify does not publish (events per request, body size, clock skew) are chosen here and
documented on each field; change them at run time through the admin API to test other limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from capi_devtools.sandbox.validation import USER_DATA_KEYS

# The credentials the demo and the tests use unless they configure others.
DEFAULT_TOKEN = "sandbox-capi-token-not-a-secret"  # noqa: S105 - a well-known test credential
DEFAULT_CONNECTION_ID = "5f0c6d2e-8b1a-4c3e-9d7f-2a6b4e8c1d90"

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

    def token_values(self) -> frozenset[str]:
        return frozenset(token.get_secret_value() for token in self.tokens)


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
