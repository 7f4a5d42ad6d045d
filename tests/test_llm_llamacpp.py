"""The llamacpp backend's wiring, without llama.cpp: the spec, when ``local`` picks it, and the errors. The
backend against llama.cpp itself: tests/test_integration_llamacpp.py (make test-integration)."""

from __future__ import annotations

from pathlib import Path

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


def test_adapter_arms_without_the_converter_say_how_to_install_it(ws, monkeypatch):
    from casebase.arms import ArmModels
    from casebase.llm import lora_gguf

    monkeypatch.setenv(lora_gguf.CONVERTER_VARIABLE, str(ws.root / "missing.py"))
    with pytest.raises(CasebaseError, match="standard arm needs its LoRA adapter as a GGUF file.*make setup-llamacpp"):
        ArmModels(ws, "llamacpp").get("standard")


def test_adapter_arms_run_on_llamacpp_with_their_adapter_converted(ws, monkeypatch, tmp_path):
    """Each adapter arm gets its own llama.cpp model with its adapter's GGUF LoRA, the base arm none."""
    from casebase.arms import ArmModels, adapter_dir
    from casebase.llm import lora_gguf

    made = []

    class FakeLlama:
        def __init__(self, path=None, *, lora=None, lora_name=None, **_):
            made.append((path, lora, lora_name))
            self.name = f"llamacpp:x+{lora_name}" if lora else "llamacpp:x"

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    monkeypatch.setattr(lora_gguf, "available", lambda: True)
    monkeypatch.setattr(lora_gguf, "convert", lambda adapter, b: Path(b).with_name(f"{Path(adapter).name}.gguf"))
    monkeypatch.setattr(llamacpp, "LlamaCppLLM", FakeLlama)
    monkeypatch.setattr(llamacpp, "available", lambda: True)
    arms = ArmModels(ws, f"llamacpp:{base}")
    assert arms.get("standard")[0].name == "llamacpp:x+standard"
    assert arms.get("hybrid+rag")[0].name == "llamacpp:x+hybrid"
    assert arms.get("base")[0].name == "llamacpp:x"
    assert made == [(base, tmp_path / "standard.gguf", "standard"), (base, tmp_path / "hybrid.gguf", "hybrid"),
                    (str(base), None, None)]
    assert adapter_dir(ws, "standard").name == "standard"


def test_the_converted_lora_is_keyed_by_the_adapter_the_base_and_the_converter(tmp_path, monkeypatch):
    from casebase.llm import lora_gguf

    script = tmp_path / "convert_lora_to_gguf.py"
    script.write_text("# converter v1\n")
    monkeypatch.setenv(lora_gguf.CONVERTER_VARIABLE, str(script))
    monkeypatch.setenv("CASEBASE_CACHE_DIR", str(tmp_path / "cache"))
    adapter = tmp_path / "hybrid"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.safetensors").write_bytes(b"weights v1")
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF base")
    first = lora_gguf.converted_path(adapter, base)
    assert first.name.startswith("hybrid-") and first.suffix == ".gguf"
    assert lora_gguf.converted_path(adapter, base) == first
    (adapter / "adapter_model.safetensors").write_bytes(b"weights v2")  # retrained
    second = lora_gguf.converted_path(adapter, base)
    script.write_text("# converter v2\n")
    third = lora_gguf.converted_path(adapter, base)
    assert len({first, second, third}) == 3
    (adapter / "adapter_model.safetensors").unlink()
    with pytest.raises(CasebaseError, match="not a PEFT LoRA adapter"):
        lora_gguf.converted_path(adapter, base)
