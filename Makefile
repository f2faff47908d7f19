# Two entry points for a fresh clone with only Python 3.11+:
#   make demo   set up from the lock file, then load the local Lune sandbox into DuckDB
#   make test   set up from the lock file, then lint and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

.PHONY: demo test test-airflow lint setup lock bench stress clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/lune-pipeline demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest
	$(MAKE) test-airflow

# The DAG's test needs a real Airflow, kept in its own venv (its pins differ from ours).
$(AIRFLOW_STAMP): requirements-airflow.lock pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-airflow.lock
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(AIRFLOW_STAMP)

test-airflow: $(AIRFLOW_STAMP)
	$(AIRFLOW_VENV)/bin/pytest --noconftest -p no:cacheprovider tests/test_airflow_dag.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# 1,000 SIGKILLed runs across every step, each followed by a run that must succeed; the
# warehouse must equal the sandbox at the end (the test suite runs 200: test_crash_stress.py)
stress: $(STAMP)
	$(BIN)/python -m tests.support.stress --kills $(or $(KILLS),1000)

# Re-pin dependencies after editing pyproject.toml (needs the package registry).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra postgres --extra test \
		-o requirements.lock pyproject.toml requirements.in
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra airflow --extra test \
		-o requirements-airflow.lock pyproject.toml requirements.in

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) var .pytest_cache .ruff_cache
