# Everything a newcomer needs: `make run` serves the API with demo data, `make test` runs the suite.
PYTHON ?= python3
USER_BIN := $(HOME)/.local/bin
# uv from PATH, else ~/.local/bin, else the uv Python package of $(PYTHON) (`python3 -m uv`). Expanded
# lazily, so it finds the uv that the `uv` target has just installed.
UV ?= $(shell command -v uv 2>/dev/null || { test -x $(USER_BIN)/uv && echo $(USER_BIN)/uv; } || echo "$(PYTHON) -m uv")
export IPM_DATABASE_URL ?= sqlite+aiosqlite:///./ipm.db
# The demo lives on the manual clock from this date (demo/stories.py: its stories end 190 days later, the
# business date the server then shows); POST /clock/advance moves it on. IPM_CLOCK=system for real dates.
export IPM_CLOCK ?= manual
export IPM_CLOCK_START ?= 2025-10-09
# uv trusts the system's certificate store (as pip does), so a TLS-inspecting proxy whose root the
# machine trusts works for uv too. uv before 0.13 reads UV_NATIVE_TLS, later ones UV_SYSTEM_CERTS (and
# warn about the old name only when it is set alone).
export UV_NATIVE_TLS ?= 1
export UV_SYSTEM_CERTS ?= 1

.PHONY: run worker test probe lint migrate check bench install install-serve uv clean

# Install uv for this user when there is none: pip --user (or, on a distribution Python that refuses
# pip installs (PEP 668), pip --user --break-system-packages, which touches only ~/.local), else the
# official installer into ~/.local/bin.
uv:
	@command -v uv >/dev/null 2>&1 || test -x $(USER_BIN)/uv || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
	  $(PYTHON) -m pip install --quiet --user uv 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --user --break-system-packages uv || \
	  { curl -LsSf https://astral.sh/uv/install.sh | env UV_UNMANAGED_INSTALL=$(USER_BIN) sh; }
	@$(UV) --version

# Everything, test tools included (the dev group).
install: uv
	$(UV) sync --frozen

# Only what serving needs (no pytest, ruff, hypothesis, playwright); leaves dev tools already there alone.
install-serve: uv
	$(UV) sync --frozen --no-dev --inexact

migrate: install-serve
	$(UV) run --no-sync alembic upgrade head

# The server exits 0 on Ctrl+C or SIGTERM (api/__main__.py), so make reports no error.
run: migrate
	$(UV) run --no-sync python -m demo.seed
	$(UV) run --no-sync python -m api

# An extra outbox worker (e.g. next to API processes started with IPM_EMBEDDED_WORKER=false).
worker: migrate
	$(UV) run --no-sync python -m worker

test: install
	$(UV) run --no-sync pytest

# Schemathesis against the app in-process (tests/probe); IPM_PROBE_EXAMPLES bounds the examples per operation.
probe: install
	IPM_PROBE=1 IPM_PROBE_EXAMPLES=$${IPM_PROBE_EXAMPLES:-10} $(UV) run --no-sync pytest tests/probe -p no:warnings

# The gates of .ci/run: style, the one-way imports (pyproject [tool.importlinter]), types ([tool.mypy]).
lint: install
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync lint-imports
	$(UV) run --no-sync mypy
	@# mypy wants each ignore's code (ignore-without-code); the house wants the reason after it, too.
	@! grep -rnE --include='*.py' '# type: *ignore(\[[^]]*\])? *$$' kernel accounts finance market valuation \
	  || { echo 'a "# type: ignore[code]" needs "  # why" after it'; exit 1; }

check: install
	$(UV) run --no-sync alembic upgrade head && $(UV) run --no-sync alembic check

bench: install
	$(UV) run --no-sync python -m bench $(B)

clean:
	rm -f ipm.db ipm.db-wal ipm.db-shm
