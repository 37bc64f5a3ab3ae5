# marid: `make run` starts a complete single-node server; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck unit bench bench-tools clean sshd docker browser qemu lock

# Installs come from the lock files (exact versions with hashes), so that a release
# upstream never changes what a clean clone installs; `make lock` moves them on purpose.
# marid itself is installed without build isolation: its build backend is locked too.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# `make lock` moves every pin to the newest release pyproject.toml allows; after adding a
# dependency, `make lock LOCK_UPGRADE=` pins just what is new and keeps the other pins.
LOCK_UPGRADE ?= --upgrade
# For the oldest Python marid supports; the lock holds markers for the newer ones.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --extra build $(LOCK_UPGRADE) --custom-compile-command 'make lock'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --require-hashes -r $(LOCK)
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $@

$(DEV_STAMP): $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) --require-hashes -r $(DEV_LOCK)
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	touch $(STAMP) $@

# Resolve pyproject.toml's dependencies into the lock files (the runtime lock is held to
# the dev lock's versions, so `make run` and `make test` run the same code).
lock: $(DEV_STAMP)
	$(UV_COMPILE) --extra dev -o $(DEV_LOCK)
	$(UV_COMPILE) -c $(DEV_LOCK) -o $(LOCK)

run: $(STAMP)
	$(BIN)/marid serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy domain application projections infrastructure api ops

# Test processes (pytest-xdist): tests mostly wait on PostgreSQL, so more than the cores.
TEST_WORKERS ?= 3

test: lint typecheck sshd docker browser qemu
	$(BIN)/pytest -n $(TEST_WORKERS)

# The ssh driver's tests start a real sshd: install OpenSSH's server if it is missing (as
# root on Debian/Ubuntu; elsewhere those tests skip, except in CI where they must run).
sshd:
	@test -x /usr/sbin/sshd || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq openssh-server >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq openssh-server >/dev/null 2>&1; }; } || \
		echo "make: openssh-server not installed" >&2

# The browser tests drive Debian's Chromium with Playwright (no browser download): install
# it if missing (as root on Debian/Ubuntu; elsewhere those tests skip, except in CI where
# they must run).
browser:
	@test -x /usr/bin/chromium || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq chromium >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq chromium >/dev/null 2>&1; }; } || \
		echo "make: chromium not installed" >&2

# The qemu driver's tests boot VMs from an image they build offline from Debian's packages
# (tests/qemu/build-image.sh): install qemu and the image's tools if missing (as root on
# Debian/Ubuntu; elsewhere those tests skip, except in CI where they must run).
QEMU_PACKAGES = qemu-system-x86 qemu-utils busybox-static dropbear-bin openssh-sftp-server \
	syslinux syslinux-common mtools dosfstools fdisk cpio openssh-client kmod
qemu:
	@{ command -v qemu-system-x86_64 && command -v qemu-img && command -v dropbear && \
		command -v syslinux && command -v mcopy && test -x /usr/lib/openssh/sftp-server; \
		} >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq $(QEMU_PACKAGES) >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq $(QEMU_PACKAGES) >/dev/null 2>&1; }; } || \
		echo "make: qemu or the test image's tools not installed" >&2

# The docker driver's tests need a Docker daemon, and a static busybox to build their image
# offline: as root on Debian/Ubuntu, install docker.io and busybox-static if missing and
# start dockerd if none answers (vfs storage: overlay is not available everywhere).
# Elsewhere those tests skip, except in CI where they must run. (`ldd` fails on a static
# busybox: Debian's plain busybox package is dynamically linked.)
DOCKERD_LOG ?= /tmp/marid-dockerd.log
docker:
	@{ command -v dockerd >/dev/null && test -x /bin/busybox && \
		! ldd /bin/busybox >/dev/null 2>&1; } || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq docker.io busybox-static >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq docker.io busybox-static >/dev/null 2>&1; }; } || \
		echo "make: docker.io or busybox-static not installed" >&2
	@docker version >/dev/null 2>&1 || test "$$(id -u)" != 0 || ! command -v dockerd >/dev/null || \
		{ (nohup dockerd --storage-driver=vfs >$(DOCKERD_LOG) 2>&1 &); \
		for _ in $$(seq 1 30); do docker version >/dev/null 2>&1 && break; sleep 1; done; \
		docker version >/dev/null 2>&1 || echo "make: dockerd did not start: $(DOCKERD_LOG)" >&2; }

# bench/ceilings.py drives marid and its ceilings with wrk and pgbench: C programs, since a
# Python client would be slower than the server it measures. As root on Debian/Ubuntu,
# install them if missing (pgbench comes with the server packages, via postgresql-contrib).
bench-tools:
	@command -v wrk >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq wrk >/dev/null 2>&1; }; } || \
		echo "make: wrk not installed" >&2
	@ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || pgbench --version >/dev/null 2>&1 || \
		{ export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq postgresql-contrib >/dev/null 2>&1 || \
		{ apt-get update -qq >/dev/null 2>&1 && \
		apt-get install -y -qq postgresql-contrib >/dev/null 2>&1; }; } || \
		echo "make: pgbench (postgresql-contrib) not installed" >&2

# ceilings.py starts its own servers on scratch databases; the scripts after it load the
# marid that `make run` serves.
bench: $(STAMP) bench-tools
	$(BIN)/python bench/ceilings.py
	$(BIN)/python bench/namespaces.py
	$(BIN)/python bench/builds.py
	$(BIN)/python bench/queue_latency.py
	$(BIN)/python bench/rebuild.py
	$(BIN)/python bench/lag.py
	$(BIN)/python bench/cli.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
