# Two commands on a fresh machine: `make run` and `make test`. Each sets everything up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test check bench format clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Herald needs Python 3.11 or newer"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/herald serve

# The SMPP tests' SMSC (tests/smpp_peer) runs on Node.js; npm ci again only when its lock changes.
NODE_STAMP := tests/smpp_peer/node_modules/.installed-stamp

$(NODE_STAMP): tests/smpp_peer/package-lock.json
	npm ci --prefix tests/smpp_peer --no-audit --no-fund
	touch $(NODE_STAMP)

# The console's browser tests drive Debian's Chromium (headless) through Playwright.
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The domain's unit tests run under branch coverage (100% required); the rest after them,
# on two workers (pytest-xdist), a test module's tests kept together on one (its server).
test: install $(NODE_STAMP) $(CHROMIUM)
	$(BIN)/coverage run --branch --source=herald.domain -m pytest -q tests/domain
	$(BIN)/coverage report --show-missing --skip-covered --fail-under=100
	$(BIN)/python -m pytest -q --ignore=tests/domain -n 2 --dist loadscope

check: install
	$(BIN)/ruff check herald tests bench scripts
	$(BIN)/ruff format --check herald tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/generate_tables.py --check

format: install
	$(BIN)/ruff format herald tests bench scripts
	$(BIN)/ruff check --fix herald tests bench scripts

bench: install $(NODE_STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/api_accept.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/smpp.py
	@echo "bench/scale.py needs PostgreSQL: .venv/bin/python bench/scale.py [--database-url URL]"

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
