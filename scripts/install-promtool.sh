#!/usr/bin/env bash
# Builds promtool from the Go module proxy into <cache>/bin/promtool (used by `promtool test rules`).
# Usage: bash scripts/install-promtool.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/promtool exists and answers `--version`.
set -euo pipefail
source "$(dirname "$0")/go-tool.sh"

# Prometheus publishes Go module versions as v0.<major*100+minor>.<patch>: v0.316.0 is Prometheus 3.16.0.
PROMETHEUS_MODULE_VERSION="v0.316.0"
install_go_tool "${1:-.cache}" promtool github.com/prometheus/prometheus/cmd/promtool \
  "${PROMETHEUS_MODULE_VERSION}" "--version"
