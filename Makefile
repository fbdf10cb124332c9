PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist processes for the tests: one per core
WORKERS ?= auto

.PHONY: demo test test-slow lint bench clean redis-server

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/btchannels demo

# the bus tests run a real redis-server: install it where missing (Debian, as root)
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else \
	    echo "redis-server not found: install it (Debian: apt-get install redis-server)" >&2; exit 1; \
	  fi; }

# make test: ruff, mypy and every test but the slow scenarios (@pytest.mark.slow), on every
# core; make test-slow: the slow ones. CI (.ci/run) runs both.
test: $(STAMP) redis-server
	$(BIN)/ruff check backtrader_channels tests examples
	$(BIN)/mypy backtrader_channels
	$(BIN)/pytest -n $(WORKERS) -m "not slow"

test-slow: $(STAMP) redis-server
	$(BIN)/pytest -n $(WORKERS) -m slow

bench: $(STAMP)
	$(BIN)/pytest tests/benchmarks --benchmark-enable

clean:
	rm -rf $(VENV) build *.egg-info
