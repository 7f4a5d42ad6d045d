"""Shared fixtures: an isolated workspace per test, the forum-support data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORUM = Path(os.environ.get("CASEBASE_FORUM_DATA", REPO.parent / "shared" / "datasets" / "forum-support"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_workspace_env(monkeypatch, tmp_path):
    """No test reads or writes the user's ./workspace by accident."""
    monkeypatch.setenv("CASEBASE_WORKSPACE", str(tmp_path / "default-workspace"))


@pytest.fixture
def ws(tmp_path):
    from casebase.workspace import Workspace

    return Workspace.at(tmp_path / "ws")


@pytest.fixture
def indexed_ws(ws):
    """A workspace holding test_retrieve's train and val cases, indexed with the fake embedder."""
    from casebase.retrieve import build_index
    from test_retrieve import TRAIN, VAL, write_cases

    write_cases(ws.root / "train.jsonl", TRAIN)
    write_cases(ws.root / "val.jsonl", VAL)
    build_index(ws, model="fake")
    return ws


@pytest.fixture(scope="session")
def forum() -> Path:
    """The shared forum-support export; tests that need it skip cleanly where it is absent."""
    if not (FORUM / "messages.csv").exists():
        pytest.skip(f"forum-support data not found at {FORUM}")
    return FORUM


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from casebase.llm.gguf import cache_dir_for, default_gguf

    cached = cache_dir_for(default_gguf())
    if not (cached / "tokenizer_config.json").exists():
        pytest.skip("SmolLM2 not converted yet: run `make setup` (python -m casebase.llm.gguf)")
    return AutoTokenizer.from_pretrained(cached, local_files_only=True)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, tokenizer):
    """A random 2-layer Llama with SmolLM2's tokenizer, saved as a model directory (``local:PATH``)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    model = AutoModelForCausalLM.from_config(config)
    path = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
