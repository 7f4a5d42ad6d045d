"""Fold a trained LoRA adapter into its base model: ``casebase merge MODEL_DIR``.

    casebase merge workspace/models/hybrid              # -> workspace/models/hybrid/merged/
    vllm serve workspace/models/hybrid/merged           # or load it with AutoModelForCausalLM

The merged directory is a plain Hugging Face checkpoint (safetensors + tokenizer + config), so
transformers, vLLM and llama.cpp's converter load it without PEFT. The base model comes from
the adapter's manifest, so the merge uses the very weights the adapter was trained on.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.progress import log


def merge(model_dir: Path, out: Path | None = None, base: str | None = None) -> dict:
    """Write base + adapter as one model to ``out`` (default ``MODEL_DIR/merged``); returns a summary."""
    from casebase.llm.local import LocalLLM

    model_dir = Path(model_dir)
    if not (model_dir / "adapter_config.json").is_file():
        raise CasebaseError(f"no adapter in {model_dir} (adapter_config.json missing): give a directory written "
                            f"by `casebase train`, e.g. workspace/models/hybrid")
    manifest_path = model_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    base = base or manifest.get("base")
    if not base:
        raise CasebaseError(f"{model_dir} has no manifest naming its base model: pass --base local:PATH")
    path = base.partition(":")[2] if base.startswith("local") else base
    out = Path(out) if out else model_dir / "merged"
    log(f"merging {model_dir} into its base ({base}) -> {out}")
    llm = LocalLLM(path or None, adapter=model_dir, device="cpu")
    merged = llm.model.merge_and_unload()
    merged.config.use_cache = True
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp, safe_serialization=True)
    llm.tokenizer.save_pretrained(tmp)
    (tmp / "casebase-merge.json").write_text(json.dumps({"adapter": str(model_dir), "base": base,
                                                         "adapter_manifest": manifest.get("git_sha")}, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return {"merged": str(out), "base": base, "adapter": str(model_dir),
            "parameters": sum(p.numel() for p in merged.parameters())}
