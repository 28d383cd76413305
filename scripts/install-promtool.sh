#!/usr/bin/env bash
# Builds promtool from the Go module proxy into <cache>/bin/promtool (used by `promtool test rules`).
# Usage: bash scripts/install-promtool.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/promtool exists and answers `--version`.
set -euo pipefail

# Prometheus publishes Go module versions as v0.<major*100+minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_MODULE_VERSION="v0.316.0"
cache_dir="${1:-.cache}"
mkdir -p "${cache_dir}/bin"
bin_dir="$(cd "${cache_dir}/bin" && pwd)"
promtool="${bin_dir}/promtool"

if [[ -x "${promtool}" ]] && "${promtool}" --version >/dev/null 2>&1; then
  echo "promtool already built: $("${promtool}" --version 2>&1 | head -n 1)"
  exit 0
fi

command -v go >/dev/null || { echo "error: go not found; install Go to build promtool" >&2; exit 2; }

echo "building promtool ${PROMETHEUS_MODULE_VERSION} into ${bin_dir} (several minutes on a small machine)"
CGO_ENABLED=0 GOBIN="${bin_dir}" go install \
  "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_MODULE_VERSION}"

"${promtool}" --version 2>&1 | head -n 1
