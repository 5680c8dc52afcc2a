# xinyi — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PORT ?= 8000
MYPY ?= $(BIN)/mypy

.PHONY: run demo test test-processes check lint format bench migrate install clean

# A standard editable install (PEP 660): the checkout's packages are imported in place.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## make run: venv + install + migrate + demo data + serve on :8000 (SQLite, in-process store, WeChat sandbox)
run: $(STAMP)
	$(BIN)/xinyi migrate
	$(BIN)/xinyi seed-demo
	$(BIN)/xinyi serve --host 127.0.0.1 --port $(PORT)

## make demo: walk the product over HTTP against the server `make run` started (PORT=... as for make run)
demo: $(STAMP)
	$(BIN)/xinyi demo-walkthrough --base http://127.0.0.1:$(PORT)

migrate: $(STAMP)
	$(BIN)/xinyi migrate

## make test: the whole suite. Uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set (CI), else SQLite + in-process store.
## It runs in PYTEST_WORKERS processes (pytest-xdist; each has its own database and Redis database, see
## tests/conftest.py), whole test files to a worker; PYTEST_WORKERS=0 (or empty) runs it in one process.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/xinyi makemigrations --check
	$(BIN)/pytest -q -m "not processes" $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadfile)

## make test-processes: the tests that start their own servers, Chromium, a replica, a Redis Cluster (CI runs both)
test-processes: $(STAMP)
	$(BIN)/pytest -q -m processes

## make check: lint, formatting, types, and models that match their migrations
check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MYPY)
	$(BIN)/xinyi makemigrations --check

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .

## make bench: the benchmark scripts (need PostgreSQL and Redis on this machine)
bench: $(STAMP)
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache
