# Everything a newcomer needs: `make run` serves the API with demo data, `make test` runs the suite.
PYTHON ?= python3
USER_BIN := $(HOME)/.local/bin
# uv from PATH, else ~/.local/bin, else the uv Python package of $(PYTHON) (`python3 -m uv`). Expanded
# lazily, so it finds the uv that the `uv` target has just installed.
UV ?= $(shell command -v uv 2>/dev/null || { test -x $(USER_BIN)/uv && echo $(USER_BIN)/uv; } || echo "$(PYTHON) -m uv")
export IPM_DATABASE_URL ?= sqlite+aiosqlite:///./ipm.db

.PHONY: run worker test lint migrate check bench install uv clean

# Install uv for this user when there is none: pip --user (or, on a distribution Python that refuses
# pip installs (PEP 668), pip --user --break-system-packages, which touches only ~/.local), else the
# official installer into ~/.local/bin.
uv:
	@command -v uv >/dev/null 2>&1 || test -x $(USER_BIN)/uv || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
	  $(PYTHON) -m pip install --quiet --user uv 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --user --break-system-packages uv || \
	  { curl -LsSf https://astral.sh/uv/install.sh | env UV_UNMANAGED_INSTALL=$(USER_BIN) sh; }
	@$(UV) --version

install: uv
	$(UV) sync --frozen

migrate: install
	$(UV) run alembic upgrade head

run: migrate
	$(UV) run python -m demo.seed
	$(UV) run python -m api

# An extra outbox worker (e.g. next to API processes started with IPM_EMBEDDED_WORKER=false).
worker: migrate
	$(UV) run python -m worker

test: install
	$(UV) run pytest

lint: install
	$(UV) run ruff check .

check: install
	$(UV) run alembic upgrade head && $(UV) run alembic check

bench: install
	$(UV) run python -m bench $(B)

clean:
	rm -f ipm.db ipm.db-wal ipm.db-shm
