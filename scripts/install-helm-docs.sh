#!/usr/bin/env bash
# Builds helm-docs from the Go module proxy into <cache>/bin/helm-docs (the chart's README).
# Usage: bash scripts/install-helm-docs.sh [cache-dir]   (default: .cache)
# Idempotent: does nothing when <cache>/bin/helm-docs exists and answers `--help`.
set -euo pipefail

HELM_DOCS_VERSION="v1.14.2"
cache_dir="${1:-.cache}"
mkdir -p "${cache_dir}/bin"
bin_dir="$(cd "${cache_dir}/bin" && pwd)"
helm_docs="${bin_dir}/helm-docs"

if [[ -x "${helm_docs}" ]] && "${helm_docs}" --help >/dev/null 2>&1; then
  echo "helm-docs already built: ${helm_docs}"
  exit 0
fi

command -v go >/dev/null || { echo "error: go not found; install Go to build helm-docs" >&2; exit 2; }

echo "building helm-docs ${HELM_DOCS_VERSION} into ${bin_dir}"
CGO_ENABLED=0 GOBIN="${bin_dir}" go install \
  "github.com/norwoodj/helm-docs/cmd/helm-docs@${HELM_DOCS_VERSION}"

"${helm_docs}" --help >/dev/null && echo "built ${helm_docs}"
