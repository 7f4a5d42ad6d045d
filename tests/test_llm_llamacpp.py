"""The llamacpp backend's wiring, without llama.cpp: the spec, when ``local`` picks it, and the errors. The
backend against llama.cpp itself: tests/test_integration_llamacpp.py (make test-integration)."""

from __future__ import annotations

import pytest

from casebase.errors import CasebaseError
from casebase.llm import clear_cache, get_llm, llamacpp, parse_spec


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.delenv(llamacpp.BACKEND_VARIABLE, raising=False)
    clear_cache()
    yield
    clear_cache()


def test_spec_forms():
    assert parse_spec("llamacpp") == ("llamacpp", {"path": None})
    assert parse_spec("llamacpp:/m/x.gguf") == ("llamacpp", {"path": "/m/x.gguf"})
    with pytest.raises(CasebaseError, match="llamacpp:PATH.gguf"):
        parse_spec("gguf:/m/x.gguf")


@pytest.mark.parametrize("path, options, env, installed, expected", [
    (None, {}, "", True, True),                      # the bundled GGUF on CPU, binding installed: llama.cpp
    ("/m/x.gguf", {"batch_size": 8}, "", True, True),
    (None, {}, "", False, False),                    # not installed: transformers
    (None, {}, "transformers", True, False),         # asked for transformers
    ("/m/Qwen2.5-0.5B-Instruct", {}, "", True, False),  # a Hugging Face directory: transformers
    (None, {"adapter": "ws/models/hybrid"}, "", True, False),  # a PEFT adapter: transformers
    (None, {"device": "cpu"}, "", True, False),
    (None, {}, "llamacpp", False, True),             # forced: the backend then says how to install it
])
def test_when_local_runs_on_llama_cpp(monkeypatch, path, options, env, installed, expected):
    monkeypatch.setattr(llamacpp, "available", lambda: installed)
    if env:
        monkeypatch.setenv(llamacpp.BACKEND_VARIABLE, env)
    assert llamacpp.local_prefers_llamacpp(path, options) is expected


def test_a_bad_backend_variable_is_a_user_error(monkeypatch):
    monkeypatch.setenv(llamacpp.BACKEND_VARIABLE, "vllm")
    with pytest.raises(CasebaseError, match="transformers or llamacpp"):
        llamacpp.local_prefers_llamacpp(None, {})


def test_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setattr(llamacpp, "available", lambda: False)
    with pytest.raises(CasebaseError, match="make setup-llamacpp"):
        get_llm("llamacpp")
    monkeypatch.setenv(llamacpp.BACKEND_VARIABLE, "llamacpp")
    with pytest.raises(CasebaseError, match="make setup-llamacpp"):
        get_llm("local")


def test_bad_paths_are_user_errors(monkeypatch, tmp_path):
    monkeypatch.setattr(llamacpp, "available", lambda: True)
    with pytest.raises(CasebaseError, match="not found"):
        get_llm(f"llamacpp:{tmp_path / 'missing.gguf'}")
    with pytest.raises(CasebaseError, match="not a .gguf file"):
        get_llm(f"llamacpp:{tmp_path}")


def test_adapter_arms_refuse_the_llamacpp_backend(ws):
    from casebase.arms import ArmModels

    with pytest.raises(CasebaseError, match="standard arm needs its LoRA adapter"):
        ArmModels(ws, "llamacpp").get("standard")
