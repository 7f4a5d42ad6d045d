"""The arms' one resolver: every arm on one loaded base model, adapters switched per batch (PEFT)."""

from __future__ import annotations

import pytest
import torch

from casebase.errors import CasebaseError
from casebase.workspace import write_manifest

PROMPT = [[{"role": "user", "content": "ORA-00942 table or view does not exist in the custom report"}]]


def random_adapter(ws, name: str, base, seed: int) -> None:
    """A LoRA adapter with random (non-zero) weights, saved and vouched for as `casebase train` does."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"],
                                      init_lora_weights=False))
    out = ws.model(name)
    model.save_pretrained(out)
    write_manifest(ws, f"train-{name}", path=out / "manifest.json", config={"max_length": 256}, inputs={},
                   counts={}, timings={}, extra={"base": f"local:{base}"},
                   files=[out / "adapter_config.json", out / "adapter_model.safetensors"])


def test_every_arm_shares_one_base_model_and_answers_as_its_own_adapter_alone(ws, tiny_base):
    from casebase.arms import ArmModels
    from casebase.llm.local import LocalLLM

    random_adapter(ws, "standard", tiny_base, seed=1)
    random_adapter(ws, "hybrid", tiny_base, seed=2)
    models = ArmModels(ws, llm_spec=f"local:{tiny_base}")
    views = {arm: models.get(arm)[0] for arm in ("base", "standard", "hybrid+rag", "base+rag", "standard+rag")}
    assert models.base_models_loaded() == 1  # before: one copy of the base per arm
    assert models.get("hybrid+rag")[1] == 256  # the adapter's training max_length
    replies = {arm: v.generate(PROMPT, max_new_tokens=6)[0] for arm, v in views.items()}
    replies["base-again"] = views["base"].generate(PROMPT, max_new_tokens=6)[0]  # after adapters were active
    # the reference: each adapter on a copy of its own, as before
    for arm, adapter in (("base", None), ("standard", "standard"), ("hybrid+rag", "hybrid")):
        alone = LocalLLM(str(tiny_base), adapter=ws.model(adapter) if adapter else None)
        assert alone.generate(PROMPT, max_new_tokens=6)[0] == replies[arm], arm
    assert replies["base-again"] == replies["base"] == replies["base+rag"]
    shared = models._bases[f"local:{tiny_base}"][0].model
    ids = shared.base_model.model.model.embed_tokens.weight.new_tensor([[1, 2, 3]], dtype=torch.long)
    logits = {}
    for name in ("standard", "hybrid"):
        shared.set_adapter(name)
        logits[name] = shared(input_ids=ids).logits
    assert not torch.allclose(logits["standard"], logits["hybrid"])  # two adapters, not one loaded twice


def test_fingerprint_changes_with_the_adapter_weights(ws, tiny_base):
    from casebase.arms import ArmModels

    random_adapter(ws, "hybrid", tiny_base, seed=1)
    before = ArmModels(ws).fingerprint("hybrid+rag")
    random_adapter(ws, "hybrid", tiny_base, seed=3)
    after = ArmModels(ws).fingerprint("hybrid+rag")
    assert before["adapter_sha256"] != after["adapter_sha256"] and before["base"] == after["base"]
    assert set(before["base"]["files"]) >= {"model.safetensors", "config.json"}


def test_unknown_arm_and_the_retrieval_arm(ws):
    from casebase.arms import ArmModels, parse_arms

    with pytest.raises(CasebaseError, match="choose from retrieval, base"):
        ArmModels(ws).get("hybrid")
    with pytest.raises(CasebaseError, match="uses no model"):
        ArmModels(ws).get("retrieval")
    assert parse_arms(None, ws) == ["retrieval", "base", "base+rag"]


def test_a_base_arm_waiting_while_an_adapter_loads_still_answers_without_it(ws, tiny_base):
    """The base view read the model before taking the lock: a plain model then, a PeftModel once the adapter had
    loaded meanwhile, so it generated with the adapter active (a plain model has no disable_adapter)."""
    import threading
    import time

    from casebase.arms import ArmModels

    random_adapter(ws, "hybrid", tiny_base, seed=2)
    models = ArmModels(ws, llm_spec=f"local:{tiny_base}")
    base = models.get("base")[0]
    reference = base.generate(PROMPT, max_new_tokens=6)[0]
    shared, lock, loaded = models._bases[f"local:{tiny_base}"]
    got = {}
    with lock:
        waiting = threading.Thread(target=lambda: got.update(reply=base.generate(PROMPT, max_new_tokens=6)[0]))
        waiting.start()
        time.sleep(0.3)  # the base view is now waiting for the lock
        shared.load_adapter(ws.model("hybrid"), "hybrid")
        loaded.add("hybrid")
    waiting.join(60)
    assert models.get("hybrid+rag")[0].generate(PROMPT, max_new_tokens=6)[0] != reference  # the adapter shows
    assert got["reply"] == reference
