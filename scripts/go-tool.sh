# Sourced by the install-*.sh scripts: builds one Go tool from the Go module proxy into
# <cache>/bin, once (no download site needed; the module cache makes a rebuild quick).
#
#   install_go_tool CACHE_DIR NAME PACKAGE VERSION "CHECK ARGS" [GO INSTALL FLAG...]
#
# Idempotent: does nothing when <cache>/bin/NAME exists and answers CHECK ARGS.

install_go_tool() {
  local cache_dir="$1" name="$2" package="$3" version="$4"
  local -a check
  read -r -a check <<<"$5"
  shift 5
  mkdir -p "${cache_dir}/bin"
  local bin_dir tool
  bin_dir="$(cd "${cache_dir}/bin" && pwd)"
  tool="${bin_dir}/${name}"

  if [[ -x "${tool}" ]] && "${tool}" "${check[@]}" >/dev/null 2>&1; then
    echo "${name} already built: $("${tool}" "${check[@]}" 2>&1 | head -n 1)"
    return 0
  fi

  command -v go >/dev/null || { echo "error: go not found; install Go to build ${name}" >&2; exit 2; }

  echo "building ${name} ${version} into ${bin_dir} (a few minutes on a small machine)"
  CGO_ENABLED=0 GOBIN="${bin_dir}" go install "$@" "${package}@${version}"
  echo "built ${name}: $("${tool}" "${check[@]}" 2>&1 | head -n 1)"
}
