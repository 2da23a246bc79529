# `make run` and `make test` set up everything they need (a virtual environment in .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run demo test test-unit test-integration test-e2e screenshots migrate clean i18n-extract i18n-update i18n-compile
.DEFAULT_GOAL := run

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The message catalogues (Babel): `make i18n-update` after changing a text people read, then
# translate the new entries in dealsvc/translations/*/LC_MESSAGES/messages.po; the compiled .mo
# files are built here (not kept in git) before anything runs.
CATALOGUES := dealsvc/translations
PO_FILES := $(wildcard $(CATALOGUES)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

$(CATALOGUES)/%/LC_MESSAGES/messages.mo: $(CATALOGUES)/%/LC_MESSAGES/messages.po $(VENV)/.runtime
	$(VENV)/bin/pybabel compile -i $< -o $@

i18n-compile: $(MO_FILES)

i18n-extract: $(VENV)/.runtime
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k ngettext:1,2 -k Text -k i18n.Text -k Plural:1,2 -k Word:1c,2 --sort-by-file --project dealsvc -o $(CATALOGUES)/messages.pot .

i18n-update: i18n-extract
	$(VENV)/bin/pybabel update -i $(CATALOGUES)/messages.pot -d $(CATALOGUES) --no-fuzzy-matching --ignore-obsolete

run: $(VENV)/.runtime $(MO_FILES)
	$(PY) -m dealsvc run

# A fresh var/demo.db with shops and simulated phones in Milan, then the service: post on
# /shop/ and watch /emulator/.
demo: $(VENV)/.runtime $(MO_FILES)
	$(PY) -m dealsvc.web.demo

migrate: $(VENV)/.runtime
	$(PY) -m dealsvc migrate

# `make test`: the tests in parallel (PYTEST_WORKERS processes, each with its own databases),
# then the timing-sensitive ones (marked serial in tests/conftest.py) apart from them, three
# modules at a time: they mostly wait on processes of their own (one run: 90 s, against 120 s two
# at a time and about 230 s one at a time).
PYTEST_WORKERS ?= 3
# A part with no test of its kind selected (pytest's exit status 5) is no failure.
# --dist loadfile: a module's tests stay in one process, which starts the module's browser and
# servers once (work stealing splits modules: one clean-clone run took 1,293 s of CPU against 883).
# --no-loadscope-reorder: modules are handed out in the order tests/conftest.py gives them.
PARALLEL = $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not serial"
SERIAL = $(PY) -m pytest -n 3 --dist loadfile -m serial
test: $(VENV)/.dev $(MO_FILES)
	$(PARALLEL) $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(SERIAL) $(PYTEST_ARGS) || [ $$? -eq 5 ]

# No database, no processes: one process is quicker than starting workers.
test-unit: $(VENV)/.dev $(MO_FILES)
	$(PY) -m pytest -p no:xdist tests/unit $(PYTEST_ARGS)

test-integration: $(VENV)/.dev $(MO_FILES)
	$(PARALLEL) tests/integration $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(SERIAL) tests/integration $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The screenshots the docs show (docs/screenshots/), taken again by the browser tests; a plain
# test run writes them into artifacts/screenshots/ and leaves the docs' as they are.
screenshots: $(VENV)/.dev $(MO_FILES)
	DEALSVC_TEST_DOCS_SCREENSHOTS=1 $(PARALLEL) tests/e2e -k "browser or resident_app or funnel" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	DEALSVC_TEST_DOCS_SCREENSHOTS=1 $(SERIAL) tests/e2e -k "browser or resident_app or funnel" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-e2e: $(VENV)/.dev $(MO_FILES)
	$(PARALLEL) tests/e2e $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(SERIAL) tests/e2e $(PYTEST_ARGS) || [ $$? -eq 5 ]

clean:
	rm -rf $(VENV) var .pytest_cache
