# Workhorse — targets:
#   make run       install everything into .venv and serve on the embedded defaults
#   make test      install test dependencies, start the test services, lint, type-check, run the suite
#   make install   install the server into .venv
#   make install-test   install the server and test tools into .venv
#   make lint      ruff + mypy
#   make bench     the benchmarks in bench/ (prints ratios)
#   make contract  the schemathesis run over the OpenAPI document alone (both modes; in make test too)

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# pip keeps the wheel it compiled for llama-cpp-python in its cache: never pass --no-cache-dir.
PIP_INSTALL := $(PIP) install --disable-pip-version-check

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test install install-test lint bench contract

$(PY):
	python3 -m venv $(VENV)
	$(PIP_INSTALL) -q --upgrade pip wheel

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP_INSTALL) -e '.[test]'
	(command -v redis-server && command -v prometheus && command -v promtool \
		&& command -v chromium && test -f /usr/share/wordnet/data.noun) >/dev/null \
		|| scripts/install-services.sh
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/workhorse serve

lint: install-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

test: install-test
	scripts/test.sh

bench: install-test
	$(PY) bench/chat_throughput.py

# The contract run, 10 examples per operation (WORKHORSE_CONTRACT_EXAMPLES=200 for a long one).
contract: install-test
	$(VENV)/bin/pytest tests/contract -m contract -p no:cacheprovider
