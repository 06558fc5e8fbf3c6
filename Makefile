# Needledrop: `make run` and `make test` set up everything on a fresh Debian/Ubuntu machine.
#   run     install what is missing, build the model bundle if needed, start Needledrop
#   test    the same set-up, then the test suite (this is what CI runs)
#   models  build or refresh the model bundle (only missing or stale graphs are rebuilt)
#   bench   speed benchmarks (not part of CI)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch 2.13.0; any looser requirement pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
EXTRAS := cpu,train,dev

export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test models bench system-deps lint clean

run: models
	$(BIN)/needledrop models info

test: models
	$(BIN)/python -m pytest

models: $(STAMP)
	$(BIN)/needledrop models build

bench: models
	$(BIN)/python tests/bench/bench_backbones.py

lint: $(STAMP)
	$(BIN)/ruff check engine export_onnx training desktop tests

system-deps:
	@scripts/system-deps.sh

$(STAMP): pyproject.toml scripts/system-deps.sh | system-deps
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Needledrop needs Python 3.11 or newer (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(TORCH)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
