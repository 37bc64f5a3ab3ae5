# marid: `make run` starts a complete single-node server; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck unit bench clean sshd

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/marid serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy domain application projections infrastructure api ops

# Test processes (pytest-xdist): tests mostly wait on PostgreSQL, so more than the cores.
TEST_WORKERS ?= 3

test: lint typecheck sshd
	$(BIN)/pytest -n $(TEST_WORKERS)

# The ssh driver's tests start a real sshd: install OpenSSH's server if it is missing (as
# root on Debian/Ubuntu; elsewhere those tests skip, except in CI where they must run).
sshd:
	@test -x /usr/sbin/sshd || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq openssh-server >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq openssh-server >/dev/null 2>&1; }; } || \
		echo "make: openssh-server not installed" >&2

bench: $(STAMP)
	$(BIN)/python bench/namespaces.py
	$(BIN)/python bench/builds.py
	$(BIN)/python bench/queue_latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
