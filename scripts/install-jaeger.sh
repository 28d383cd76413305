#!/usr/bin/env bash
# Builds Jaeger (the v2 all-in-one backend) from the Go module proxy into <cache>/bin/jaeger, the
# trace backend of tests/integration/test_traces.py. Jaeger's module is built as a tool of a
# module of our own (`go get -tool`), as the proxy serves it; its sources stay in Go's module cache.
# Usage: bash scripts/install-jaeger.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/jaeger exists and answers `--help`.
set -euo pipefail

JAEGER_VERSION="v1.75.0"  # the module's version; the binary is Jaeger v2
cache_dir="${1:-.cache}"
mkdir -p "${cache_dir}/bin" "${cache_dir}/jaeger-build"
tool="$(cd "${cache_dir}/bin" && pwd)/jaeger"

if [[ -x "${tool}" ]] && "${tool}" --help >/dev/null 2>&1; then
  echo "jaeger already built: ${tool}"
  exit 0
fi
command -v go >/dev/null || { echo "error: go not found; install Go to build jaeger" >&2; exit 2; }

echo "building jaeger ${JAEGER_VERSION} into ${tool} (a few minutes on a small machine)"
cd "${cache_dir}/jaeger-build"
[[ -f go.mod ]] || go mod init capi-jaeger-build >/dev/null
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@${JAEGER_VERSION}"
CGO_ENABLED=0 go build -o "${tool}" github.com/jaegertracing/jaeger/cmd/jaeger
echo "built jaeger: ${tool}"
