# Everything a newcomer needs: `make run` serves the API with demo data, `make test` runs the suite.
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export IPM_DATABASE_URL ?= sqlite+aiosqlite:///./ipm.db

.PHONY: run test lint migrate check bench install uv clean

uv:
	@command -v uv >/dev/null 2>&1 || test -x $(HOME)/.local/bin/uv || python3 -m pip install --quiet --user uv

install: uv
	$(UV) sync --frozen

migrate: install
	$(UV) run alembic upgrade head

run: migrate
	$(UV) run python -m demo.seed
	$(UV) run python -m api

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
