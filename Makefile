# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup system-deps controlplane lint bench crd lock

setup: $(VENV)/.installed

# The product and, beside it, the emulators (a development package of their own, never in the
# image): they add `simon-visma emulate` and `simon-visma demo`, and the tests use them.
$(VENV)/.installed: pyproject.toml emulators/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e ./emulators
	touch $@

demo: setup
	$(BIN)/simon-visma demo

system-deps:
	scripts/install-system-deps.sh

controlplane:
	controlplane/build.sh

test: setup system-deps controlplane
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# The CRD (crds/ and the chart's copy), generated from the models in reconcilers/resource.
crd: setup
	$(BIN)/python -m reconcilers.resource.crd

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The image's lock, requirements/image.lock: the package's dependencies (with the postgres extra)
# and its build backend (requirements/image.in), pinned with the hashes of every file PyPI has for
# them, for Python 3.11 on any platform. Versions already locked are kept while they still fit;
# `make lock LOCK_FLAGS=--upgrade` takes the newest that fit.
lock: setup
	$(BIN)/pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml requirements/image.in --extra postgres --universal \
	  --python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
	  --quiet $(LOCK_FLAGS) -o requirements/image.lock
