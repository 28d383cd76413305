# Two commands do everything on a fresh machine (Python 3.11, Java 17, Maven, Go, Rust):
#   make demo   - local broker + local Spotify sandbox: produce sample events, deliver, show results
#   make test   - lint, types, and every test against a real broker
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
CACHE  := .cache
HELM   := $(CACHE)/bin/helm
PROMTOOL := $(CACHE)/bin/promtool
HELM_DOCS := $(CACHE)/bin/helm-docs
JAEGER := $(CACHE)/bin/jaeger
UV     := $(CACHE)/uv/bin/uv
RUNTIME_LOCK := requirements/runtime.lock
# The per-record modules mypyc compiles (connector/process/compiled.py lists them).
COMPILED_SOURCES := $(shell $(PYTHON) connector/process/compiled.py 2>/dev/null)
COMPILED := build/.compiled
# The Rust prepare fast path (native/, PyO3): connector/prepare/_native.<abi>.so, built by
# setuptools-rust (setup.py). Cargo's build tree is kept under .cache/ (CI caches it); cargo finds it
# through the environment, for `build_ext` too (setuptools-rust rebuilds the crate there as well).
NATIVE_SOURCES := native/Cargo.toml $(wildcard native/Cargo.lock native/src/*.rs)
NATIVE := build/.native
export CARGO_TARGET_DIR ?= $(abspath $(CACHE)/cargo-target)

.PHONY: setup demo test lint typecheck unit integration chart chart-readme bench clean lock

$(VENV)/.installed: pyproject.toml devtools/pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (or run make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CAPI_PURE_PYTHON_BUILD=1 $(PY) -m pip install -q -c constraints.txt -e '.[dev]' -e ./devtools
	@touch $@

# mypyc builds the compiled modules in place (the editable install above compiles nothing),
# again whenever one of their sources changes; an older extension is never imported (process/compiled.py).
# (Order-only on $(NATIVE): build_ext also builds the Rust extension, so cargo is checked first.)
$(COMPILED): $(VENV)/.installed setup.py connector/process/compiled.py $(COMPILED_SOURCES) | $(NATIVE)
	$(PY) setup.py -q build_ext --inplace
	@touch $@

# The Rust extension in place (release), again whenever the crate's manifest, lock or sources change.
# CAPI_PURE_PYTHON_BUILD=1 (setup.py) builds neither extension, so needs no cargo.
$(NATIVE): $(VENV)/.installed setup.py $(NATIVE_SOURCES)
	@[ "$${CAPI_PURE_PYTHON_BUILD:-0}" != 0 ] || command -v cargo >/dev/null || { echo "error: cargo not found; install Rust (cargo), e.g. with rustup or your distribution's cargo package"; exit 2; }
	$(PY) setup.py -q build_rust --inplace --release
	@mkdir -p $(@D)
	@touch $@

$(CACHE)/kafka/.fetched: devtools/capi_devtools/localinfra/kafka-pom.xml | $(VENV)/.installed
	$(PY) -m capi_devtools.localinfra fetch
	@touch $@

$(HELM): scripts/install-helm.sh scripts/go-tool.sh
	bash scripts/install-helm.sh $(CACHE)

# `promtool test rules` runs the chart's alert tests (tests/chart/test_rules.py).
$(PROMTOOL): scripts/install-promtool.sh scripts/go-tool.sh
	bash scripts/install-promtool.sh $(CACHE)

# Jaeger, a real trace backend for tests/integration/test_traces.py.
$(JAEGER): scripts/install-jaeger.sh
	bash scripts/install-jaeger.sh $(CACHE)

# helm-docs writes the chart's README from the comments in values.yaml (`make chart-readme`).
$(HELM_DOCS): scripts/install-helm-docs.sh scripts/go-tool.sh
	bash scripts/install-helm-docs.sh $(CACHE)

chart-readme: $(HELM_DOCS)
	$(HELM_DOCS) --chart-search-root helm --sort-values-order file --skip-version-footer

# uv in its own venv: the lock tool is not a dependency of the connector or of its tests.
$(UV):
	$(PYTHON) -m venv $(CACHE)/uv
	$(CACHE)/uv/bin/pip install -q uv==0.13.9

# Run after changing pyproject.toml's dependencies or constraints.txt: the image installs exactly
# this file (runtime dependencies only, constraints.txt's versions, hashes of every file on PyPI).
lock: $(UV)
	$(UV) pip compile pyproject.toml -c constraints.txt --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_36 --annotation-style line \
	  --custom-compile-command 'make lock' -o $(RUNTIME_LOCK)

setup: $(VENV)/.installed $(NATIVE) $(COMPILED) $(CACHE)/kafka/.fetched $(HELM) $(PROMTOOL) $(HELM_DOCS) $(JAEGER)

demo: $(VENV)/.installed $(NATIVE) $(COMPILED) $(CACHE)/kafka/.fetched
	$(PY) -m connector demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check connector devtools tests bench
	$(VENV)/bin/ruff format --check connector devtools tests bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

test: setup lint typecheck
	PATH="$(abspath $(CACHE)/bin):$$PATH" $(PY) -m pytest

unit: $(VENV)/.installed $(NATIVE) $(COMPILED)
	$(PY) -m pytest tests/unit

bench: setup
	$(PY) -m bench.end_to_end

clean:
	rm -rf $(VENV) $(CACHE) .mypy_cache .ruff_cache .pytest_cache build
	find connector -name '*.so' -delete
