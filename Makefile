# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export FLASK_APP = wsgi

.PHONY: run test bench translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# Compiled catalogues (.mo) are build products, made from the .po files in the repo.
translations: $(VENV)/.runtime
	$(BIN)/pybabel compile -d marketplace/translations
	$(BIN)/pybabel compile -D wtforms -d marketplace/translations

extract-messages: $(VENV)/.runtime
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o marketplace/translations/messages.pot .
	$(BIN)/pybabel update -i marketplace/translations/messages.pot -d marketplace/translations --no-fuzzy-matching

# `make run PORT=5310 HOST=0.0.0.0`: where the development server listens (PUBLIC_BASE_URL,
# the address printed in stamps, defaults to http://127.0.0.1:$(PORT)).
PORT ?= 5000
HOST ?= 127.0.0.1
run: export PORT := $(PORT)
run: $(VENV)/.runtime translations
	$(BIN)/flask db upgrade
	@if $(BIN)/flask db-empty; then $(BIN)/flask seed-demo; fi
	@$(BIN)/flask check-base-url
	$(BIN)/flask run --host $(HOST) --port $(PORT)

# PYTEST_ARGS: what to run (default: the whole suite), e.g. `make test PYTEST_ARGS=tests/test_one_truth.py`
test: $(VENV)/.dev translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.dev translations
	$(BIN)/python bench/run.py
	$(BIN)/python bench/stamps.py
	$(BIN)/python bench/labels.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/epcis.py
	$(BIN)/python bench/mixed.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .pytest_cache
