# syntax=docker/dockerfile:1
# spotify-capi-connector: Kafka -> Spotify Conversions API.
#   docker build -t spotify-capi-connector:0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm -e SPOTIFY_CAPI_TOKEN_FILE=/run/secrets/token ... spotify-capi-connector:0.1.0
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: turn the source into a wheel; build tools stay in this stage -----------------------
# The wheel carries the per-record modules compiled by mypyc (setup.py): a C compiler here, and
# mypy at constraints.txt's version (PIP_CONSTRAINT reaches pip's isolated build environment).
# It carries the Rust prepare fast path too (native/, built by setuptools-rust, pinned the same
# way): Debian's cargo-web and rustc-web, bookworm's current Rust (its plain `rustc` is 1.63,
# older than the locked crates need). Cargo fetches the crates of native/Cargo.lock.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/constraints.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev cargo-web rustc-web \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py constraints.txt README.md LICENSE ./
COPY requirements/runtime.lock ./requirements/
COPY native/Cargo.toml native/Cargo.lock ./native/
COPY native/src ./native/src
COPY connector ./connector
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- runtime: the wheel and its dependencies (binary wheels only), nothing else ---------------
FROM ${PYTHON_IMAGE} AS runtime
# Where the image came from, for scanners and `docker inspect`: pass them at build time
# (--build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=<repo URL>).
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="spotify-capi-connector" \
      org.opencontainers.image.description="Delivers conversion events from Apache Kafka to the Spotify Conversions API, at least once." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A numeric, non-root user: Kubernetes' runAsNonRoot can only verify a numeric UID.
RUN groupadd --system --gid 10001 connector \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin connector

# Dependencies first, from the lock (`make lock`): --require-hashes refuses any file whose sha256
# differs from the one recorded, so a re-uploaded or tampered release cannot enter the image.
# --only-binary: no dependency is compiled here, so the final image needs no compiler.
# Then the connector's own wheel, built above and so not hashable in advance: --no-deps, since
# every dependency is already in place.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/requirements/runtime.lock,target=/runtime.lock \
    pip install --require-hashes --only-binary=:all: -r /runtime.lock \
 && pip install --no-deps --no-index /wheels/*.whl \
 && pip uninstall -y setuptools wheel pip

USER 10001:10001
WORKDIR /tmp
# /healthz, /readyz and /metrics (telemetry.health_port)
EXPOSE 8080
# For plain Docker; Kubernetes uses the chart's probes instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3).status == 200 else 1)"]
ENTRYPOINT ["spotify-capi-connector"]
CMD ["run"]
