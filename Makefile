# `make run` and `make test` set up everything they need (a virtual environment in .venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run demo test migrate clean
.DEFAULT_GOAL := run

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) -m dealsvc run

# A fresh var/demo.db with shops and simulated phones in Milan, then the service: post on
# /shop/ and watch /emulator/.
demo: $(VENV)/.runtime
	$(PY) -m dealsvc.web.demo

migrate: $(VENV)/.runtime
	$(PY) -m dealsvc migrate

test: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
