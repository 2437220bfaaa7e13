# The kit's commands. Each sets up .venv first (uv if present, else pip; same pins).
# Bytecode is compiled at install (pip does it by default, uv with --compile-bytecode): where
# PYTHONDONTWRITEBYTECODE is set, Python never writes it, and every process recompiles Prefect
# from source (measured: `import prefect` 2.1 s -> 1.0 s CPU).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
LAB_PORT ?= 8888
LAB_ARGS ?=

.PHONY: demo test lint setup doctor lab shop notebooks screenshots site bench requirements clean

demo: $(STAMP)  ## check the demo shop's shoe prices with the capstone flow
	$(PY) -m flow_code.nike_flow

test: $(STAMP)  ## every test: lint, unit, flows, notebooks
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

setup: $(STAMP)  ## only create .venv and install the pinned packages

doctor: $(STAMP)  ## check your set-up: one line per problem with its fix (exit 1 if any)
	@$(PY) -m flow_code.kit.doctor

lab: $(STAMP)  ## JupyterLab on http://127.0.0.1:8888/lab, the Prefect UI at http://127.0.0.1:8888/prefect/
	PATH="$(abspath $(VENV))/bin:$$PATH" binder/start jupyter lab --ip 127.0.0.1 --port $(LAB_PORT) \
		--config binder/jupyter_server_config.py $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) \
		notebooks/index.ipynb

notebooks: $(STAMP)  ## re-execute every notebook in place against a fresh Prefect server
	$(PY) -m flow_code.kit.execute_notebooks

screenshots: $(STAMP)  ## retake the README's screenshots (an emulated Binder launch, headless Chromium)
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -n 0 -q tests/test_binder.py -k browser

site: $(STAMP)  ## the course website from the committed notebooks: docs/_build/html/index.html
	$(PY) -m flow_code.kit.build_site

bench: $(STAMP)  ## measure the kit: prints a table and writes bench/README.md (~10 min)
	$(PY) bench/benchmark.py

shop: $(STAMP)  ## the demo shop in the foreground on http://127.0.0.1:8000
	$(PY) -m flow_code.kit.demo_shop --port 8000

$(STAMP):  # named after the pins' checksum: a change to requirements.txt or pyproject.toml makes a new one
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "the kit needs Python 3.11+"'
	@if command -v uv >/dev/null 2>&1; then \
		uv venv --quiet --allow-existing --python $(PYTHON) $(VENV) && \
		VIRTUAL_ENV=$(VENV) uv pip install --quiet --compile-bytecode -r requirements.txt -e .; \
	else \
		$(PYTHON) -m venv $(VENV) && \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -e .; \
	fi
	@rm -f $(VENV)/.installed-* && touch $@

requirements:  ## re-pin requirements.txt from requirements.in (binder/ gets the same pins)
	uv pip compile --quiet --python-version 3.11 requirements.in -o requirements.txt
	cp requirements.txt binder/requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache
