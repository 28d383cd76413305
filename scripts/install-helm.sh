#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy into <cache>/bin/helm (no download site needed).
# Usage: bash scripts/install-helm.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/helm exists and answers `version`.
set -euo pipefail

HELM_VERSION="v3.22.0"
cache_dir="${1:-.cache}"
mkdir -p "${cache_dir}/bin"
bin_dir="$(cd "${cache_dir}/bin" && pwd)"
helm="${bin_dir}/helm"

if [[ -x "${helm}" ]] && "${helm}" version --short >/dev/null 2>&1; then
  echo "helm already built: $("${helm}" version --short)"
  exit 0
fi

command -v go >/dev/null || { echo "error: go not found; install Go to build helm" >&2; exit 2; }

echo "building helm ${HELM_VERSION} into ${bin_dir} (a few minutes on a small machine)"
# The ldflag stamps the version; without it a source build reports v3.x-dev defaults.
CGO_ENABLED=0 GOBIN="${bin_dir}" go install \
  -ldflags "-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"

"${helm}" version --short
