# Two commands on a fresh machine: `make run` (set up and run PostGuard) and `make test` (set up and run all tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARGS   ?= run
# ExifTool: the reference the location tests compare with; PostgreSQL: the store tests run on a real server too;
# Chromium: the browser tests (Playwright drives Debian's build; it cannot download its own).
APT_PACKAGES := libimage-exiftool-perl postgresql chromium

.PHONY: setup system-deps run test bench clean

$(BIN)/postguard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: system-deps $(BIN)/postguard extension/node_modules/.package-lock.json

# The extension's lint (web-ext) and its Node unit tests.
extension/node_modules/.package-lock.json: extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund --loglevel=error

# Debian packages the tests use, installed when missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  echo "installing:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup
	@test -f "$$($(BIN)/python -c 'from rules.config import default_path; print(default_path())')" || $(BIN)/postguard init
	$(BIN)/postguard $(ARGS)

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/location_bench.py
	$(BIN)/python bench/photo_bench.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
