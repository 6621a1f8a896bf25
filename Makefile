# The command surface of the project. `make help` lists the targets.
SHELL := /bin/bash
PYTHON_VERSION ?= 3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/var/dagster_home

.PHONY: help install provision demo demo-live test test-fast bench lint format ui lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/uv:
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==0.13.8

install: $(BIN)/uv  ## install the locked dependencies into .venv
	$(BIN)/uv sync --frozen --inexact --extra dev --extra k8s --python $(BIN)/python --compile-bytecode -q

demo: install  ## generate 14 days of traffic for both models and evaluate them through Dagster
	$(BIN)/monitoring-platform demo

demo-live: install  ## the example service under load for 20 s, then its day evaluated (examples/)
	$(BIN)/python -m examples.live_demo --seconds 20

# Two test processes (the machine's two cores); the end-to-end tests that start Dagster's own
# processes run one after another in one of them (END_TO_END in monitoring_platform_tests/conftest.py).
PYTEST_PROCESSES ?= -n 2 --dist loadgroup

test: install provision lint  ## lint, then run every test, the slow end-to-end ones included
	$(BIN)/pytest $(PYTEST_PROCESSES)

test-fast: install provision  ## run the tests not marked slow
	$(BIN)/pytest $(PYTEST_PROCESSES) -m "not slow"

provision:  ## install or start what the tests need beyond Python (chromium, prometheus, PostgreSQL)
	scripts/provision-tests

bench: install  ## one 1M-row day: naive script vs the platform vs a bare read (benchmarks/)
	$(BIN)/python benchmarks/bench_partition.py

lint: install  ## ruff lint, ruff format check and the mypy type check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format:  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

ui: install  ## the Dagster UI and daemon over the demo's instance (dg dev), on http://127.0.0.1:3000
	$(BIN)/python -c 'import pathlib, os; from monitoring_platform.defs.orchestration.instance import write_embedded_instance as w; w(pathlib.Path(os.environ["DAGSTER_HOME"]))'
	$(BIN)/dg dev --host 127.0.0.1 --port 3000

lock:  ## re-resolve uv.lock after changing pyproject.toml
	$(BIN)/uv lock --python $(PYTHON_VERSION)

clean:  ## remove generated data, reports and the demo's Dagster instance
	rm -rf var
