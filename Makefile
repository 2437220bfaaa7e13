# The kit's commands. Each sets up .venv first with uv: the one on PATH, else the pinned one that pip puts
# in .venv (pip alone takes ~5x as long, bench/README.md). `make demo` first installs only what the main job
# needs (the packages above "# -- end of demo" in requirements.in), pinned by requirements.txt.
# Bytecode is compiled at install (pip does it by default, uv with --compile-bytecode): where
# PYTHONDONTWRITEBYTECODE is set, Python never writes it, and every process recompiles Prefect
# from source (measured: `import prefect` 2.1 s -> 1.0 s CPU).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
DEMO_STAMP    := $(VENV)/.demo-$(shell cat requirements.txt requirements.in pyproject.toml | cksum | cut -d' ' -f1)
DEMO_PACKAGES := $(shell sed '/^\# -- end of demo/q' requirements.in | sed 's/\#.*//')
LAB_PORT ?= 8888
LAB_ARGS ?=

.PHONY: demo test lint setup doctor lab shop notebooks screenshots site bench requirements clean

demo: $(DEMO_STAMP)  ## check the demo shop's shoe prices with the capstone flow
	$(PY) -m flow_code.nike_flow

# Tests marked `timing` (rates checked in real time) run after the rest, alone: on a machine busy with the
# notebooks, a process paused for a quarter second delivers its requests in a bunch.
test: $(STAMP)  ## every test: lint, unit, flows, notebooks
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not timing"; rest=$$?; $(PY) -m pytest -n 0 -m timing tests/; exit $$((rest || $$?))

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

screenshots: $(STAMP)  ## retake the screenshots (an emulated Binder launch, the UI pages the notebooks link to)
	SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -n 0 -q tests/test_binder.py tests/test_ui_pages.py \
		-k "browser or test_ui_pages"

site: $(STAMP)  ## the course website from the committed notebooks: docs/_build/html/index.html
	$(PY) -m flow_code.kit.build_site

bench: $(STAMP)  ## measure the kit: prints a table and writes bench/README.md (~10 min)
	$(PY) bench/benchmark.py

shop: $(STAMP)  ## the demo shop in the foreground on http://127.0.0.1:8000
	$(PY) -m flow_code.kit.demo_shop --port 8000

# $(call install,ARGS): `uv pip install ARGS` into .venv, made first if missing. Without uv on PATH, the
# machine's pip puts the pinned uv into a venv made without pip of its own (making one with pip takes
# seconds); a pip too old for `--python` (before 22.3) or none: the venv gets its own pip, which does it.
define install
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "the kit needs Python 3.11+"'
	@if command -v uv >/dev/null 2>&1; then uv=uv; uv venv --quiet --allow-existing --python $(PYTHON) $(VENV); \
	else uv=$(VENV)/bin/uv; pip="install --quiet --disable-pip-version-check -c requirements.txt uv"; \
		[ -x $$uv ] || { $(PYTHON) -m venv --without-pip $(VENV) && \
			$(PYTHON) -m pip --python $(VENV)/bin/python $$pip 2>/dev/null; } || \
		{ $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip $$pip; }; fi && \
	VIRTUAL_ENV=$(VENV) $$uv pip install --quiet --compile-bytecode $(1)
endef

$(STAMP):  # named after the pins' checksum: a change to requirements.txt or pyproject.toml makes a new one
	$(call install,-r requirements.txt -e .)
	@rm -f $(VENV)/.installed-* $(VENV)/.demo-* && touch $@ $(DEMO_STAMP)

$(DEMO_STAMP):  # what the main job imports, at the same pins; `make test` and the others install the rest
	$(call install,-c requirements.txt $(DEMO_PACKAGES) -e .)
	@rm -f $(VENV)/.demo-* && touch $@

requirements:  ## re-pin requirements.txt from requirements.in (binder/ gets the same pins)
	uv pip compile --quiet --python-version 3.11 requirements.in -o requirements.txt
	cp requirements.txt binder/requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache
