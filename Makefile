# Two commands on a fresh machine: `make run` (the whole lake, locally) and `make test`.
# Both create .venv and install into it; a stamp keyed on setup.py keeps reruns fast.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)

SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: install browser image-python node run test lint format bench demo clean mutation soak docs defect-hunt

install: $(STAMP)

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

run: install
	$(BIN)/ngs-lake local up

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The browser check drives Debian's chromium through Playwright; no browser is downloaded.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser check"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The IAM policy evaluator the tests run (ngs_lake_tests/iam_evaluate.mjs): `npm ci` from
# package-lock.json, once per lockfile content (a stamp keyed on it, as for setup.py above).
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | cksum | cut -d' ' -f1)

node: $(NODE_STAMP)

$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# test_dockerfile.py carries out deploy/Dockerfile with Debian's Python 3.11 and its venv module,
# as the image's base would have them.
image-python:
	@/usr/bin/python3.11 -c 'import ensurepip' 2>/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3.11-venv >/dev/null; }

# The manual (docs/, MkDocs with the Material theme) into site/: strictly, so a broken link or
# anchor fails the build. NO_MKDOCS_2_WARNING: Material's end-of-life banner (its successor,
# Zensical, reads the same mkdocs.yml; docs/developers/development.md says why not yet).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: install lint browser image-python node docs
	$(BIN)/pytest

# The run-core simulation searching for SOAK_MINUTES (default 10) from an empty example database:
# every failure it finds, shrunk, then its figures (README, Development: the run-core simulation).
SOAK_MINUTES ?= 10
soak: install
	$(BIN)/python -m ngs_lake_tests.simulation.soak --minutes $(SOAK_MINUTES)

demo: install
	$(BIN)/ngs-lake demo --runs 5

bench: install
	$(BIN)/python bench/run_all.py

# The pure modules' mutation score against their fast tests (ngs_lake_tests/pure); not part of
# `make test`. 3 to 6 minutes on two cores; results stay in ./mutants (`mutmut show NAME`).
mutation: install
	$(BIN)/python -m ngs_lake_tests.pure.mutation --max-children 2

clean:
	rm -rf $(VENV) .ngs-lake .pytest_cache .ruff_cache node_modules mutants site

# Issue #30's acceptance, measured: each defect of ngs_lake_tests/simulation/defects/ put back
# on HEAD in a temporary worktree and searched for by the soak (DEFECT_MINUTES each, DEFECT_JOBS
# at a time), the table in bench/results/defect-hunt.md. DEFECTS=3,7 for some only.
DEFECT_MINUTES ?= 10
DEFECT_JOBS ?= 1
DEFECTS ?=
defect-hunt: install
	$(BIN)/python -m ngs_lake_tests.simulation.defect_hunt --minutes $(DEFECT_MINUTES) --jobs $(DEFECT_JOBS) --only '$(DEFECTS)'
