#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy into <cache>/bin/helm (no download site needed).
# Usage: bash scripts/install-helm.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/helm exists and answers `version`.
set -euo pipefail
source "$(dirname "$0")/go-tool.sh"

HELM_VERSION="v3.22.0"
# The ldflag stamps the version; without it a source build reports v3.x-dev defaults.
install_go_tool "${1:-.cache}" helm helm.sh/helm/v3/cmd/helm "${HELM_VERSION}" "version --short" \
  -ldflags "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
