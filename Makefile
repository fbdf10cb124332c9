PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
# pytest-xdist processes for the tests: one per core
WORKERS ?= auto

.PHONY: demo test test-slow lint bench clean redis-server chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# make demo installs what the demo needs, the core and matplotlib (about 35 s, 380 MB);
# make test everything, the peers and the test tools included (several minutes, 1.7 GB)
$(DEMO_STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[plot]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/btchannels demo

# the bus tests run a real redis-server: install it where missing (Debian, as root)
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else \
	    echo "redis-server not found: install it (Debian: apt-get install redis-server)" >&2; exit 1; \
	  fi; }

# the HTML report's tests open it in Debian's chromium (driven by playwright, no browser
# download): install it where missing (Debian, as root)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium not found: install it (Debian: apt-get install chromium)" >&2; exit 1; \
	  fi; }

# make test: ruff, mypy and every test but the slow scenarios (@pytest.mark.slow), on every
# core; make test-slow: the slow ones. CI (.ci/run) runs both.
test: $(STAMP) redis-server chromium
	$(BIN)/ruff check backtrader_channels tests examples
	$(BIN)/mypy backtrader_channels
	$(BIN)/pytest -n $(WORKERS) -m "not slow"

test-slow: $(STAMP) redis-server
	$(BIN)/pytest -n $(WORKERS) -m slow

bench: $(STAMP)
	$(BIN)/pytest tests/benchmarks --benchmark-enable

clean:
	rm -rf $(VENV) build *.egg-info
