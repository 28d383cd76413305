#!/usr/bin/env bash
# Builds helm-docs from the Go module proxy into <cache>/bin/helm-docs (the chart's README).
# Usage: bash scripts/install-helm-docs.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/helm-docs exists and answers `--help`.
set -euo pipefail
source "$(dirname "$0")/go-tool.sh"

HELM_DOCS_VERSION="v1.14.2"
install_go_tool "${1:-.cache}" helm-docs github.com/norwoodj/helm-docs/cmd/helm-docs \
  "${HELM_DOCS_VERSION}" "--help"
