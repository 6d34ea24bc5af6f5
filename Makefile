# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv is installed inside .venv by pip, so a clone needs nothing but Python 3.11+ and make.
UV_VERSION := 0.13.9
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
# Dagster reads dagster.yaml from DAGSTER_HOME; runs from the CLI, the tests and the UI share one instance.
export DAGSTER_HOME := $(CURDIR)
export DAGSTER_DATA_DIR := $(CURDIR)/data/dagster
export DAGSTER_DISABLE_TELEMETRY := 1
# Range runs store their per-day materialisations in batches (retail_pipeline/adapters/event_log.py).
export DAGSTER_EVENT_BATCH_SIZE ?= 500

.PHONY: demo test dev install clean-data lock bench bench-api bench-postgres serve

$(BIN)/.installed: pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required" or 0)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@# --inexact keeps uv itself, which is not a project dependency, in the environment.
	@# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, every process would otherwise
	@# compile dagster and pandera from source: 8 s of the 13 s it took to import them (cProfile).
	@$(BIN)/uv sync --locked --inexact --extra test --extra deploy --compile-bytecode --python $(BIN)/python --quiet
	@touch $@

install: $(BIN)/.installed

demo: install
	@mkdir -p data/landing data/dagster
	@if [ -z "$$(ls -A data/landing 2>/dev/null)" ]; then \
		echo "Landing zone is empty: generating the default synthetic Online Retail files"; \
		$(BIN)/retail-pipeline generate --out data/landing; \
	fi
	@$(BIN)/retail-pipeline run --landing data/landing --lakehouse data/lakehouse

# A worker that crashed in native code leaves its dump in data/test-faults (see conftest.py): printed last.
test: install
	@mkdir -p data/dagster
	$(BIN)/python -m pytest -n 2 --dist worksteal -q || { status=$$?; for log in data/test-faults/*.log; do \
		if [ -s "$$log" ]; then echo "== native crash dump: $$log"; grep -v -e /pluggy/ -e /_pytest/ "$$log" | head -n 120; fi; \
		done; exit $$status; }

# The read API on the demo lakehouse, on the loopback: `make serve`, then a key from
# `.venv/bin/retail-pipeline api-key create --name me --scopes read` (README "Serving").
serve: install
	$(BIN)/retail-pipeline serve --host 127.0.0.1 --port 8000

dev: install
	@mkdir -p data/dagster
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lock:
	uv lock

clean-data:
	rm -rf data/landing data/lakehouse data/dagster

# `make bench`: every case against ../shared/bench/baseline_polars.py (about half an hour); one case:
# `make bench BENCH_ARGS="--case real"`; see retail_pipeline_tests/bench.py.
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m retail_pipeline_tests.bench $(BENCH_ARGS)

# `make bench-api`: the read API's requests/s and latencies on the loopback (builds a demo and a 10M-row
# lakehouse, a few minutes); see retail_pipeline_tests/bench_api.py.
BENCH_API_ARGS ?=
bench-api: install
	$(BIN)/python -m retail_pipeline_tests.bench_api $(BENCH_API_ARGS)

# `make bench-postgres`: serving/postgres_marts' publication time and the readers' wait at its swap, on a real
# Postgres on 127.0.0.1 (the demo warehouse by default: `make demo` first); see retail_pipeline_tests/bench_postgres.py.
BENCH_POSTGRES_ARGS ?=
bench-postgres: install
	$(BIN)/python -m retail_pipeline_tests.bench_postgres $(BENCH_POSTGRES_ARGS)
