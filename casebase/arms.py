"""The arms (how an answer is made) and the one resolver evaluate and serve share.

    models = ArmModels(ws, llm_spec=None)        # one base model in memory, its adapters loaded onto it
    llm, max_length = models.get("hybrid+rag")   # the LLM view that answers as that arm
    models.fingerprint("hybrid+rag")             # what its replies depend on: base weights + adapter sha256

Arms: ``retrieval`` (the top case's solution, no model), ``base`` / ``base+rag`` (the untuned model, without /
with the top k cases), ``standard`` / ``standard+rag`` (the standard adapter, models/standard) and ``hybrid+rag``
(the RAFT adapter, models/hybrid). With a local base model every arm shares one copy of it: the adapters are loaded
onto it with PEFT (``load_adapter``) and switched per batch (``set_adapter``); ``openai:URL#MODEL`` asks the model
named after the adapter (vLLM ``--lora-modules``); ``fake`` stands in for every arm (tests, dry runs).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from casebase.errors import CasebaseError
from casebase.progress import log
from casebase.workspace import Workspace, file_record, file_sha256, verify_outputs

ARMS = ("retrieval", "base", "base+rag", "standard", "standard+rag", "hybrid+rag")
ADAPTER: dict[str, str | None] = {"retrieval": None, "base": None, "base+rag": None, "standard": "standard",
                                  "standard+rag": "standard", "hybrid+rag": "hybrid"}


def uses_rag(arm: str) -> bool:
    return arm.endswith("+rag")


def check_arm(arm: str, flag: str = "--arm") -> str:
    if arm not in ARMS:
        raise CasebaseError(f"{flag} {arm!r}: choose from {', '.join(ARMS)}")
    return arm


def adapter_dir(ws: Workspace, name: str) -> Path:
    return ws.models / name


def has_adapter(ws: Workspace, arm: str) -> bool:
    return not ADAPTER[arm] or (adapter_dir(ws, ADAPTER[arm]) / "adapter_config.json").exists()


def parse_arms(text: str | list[str] | None, ws: Workspace) -> list[str]:
    """The arms asked for (a comma list), or every arm whose adapter exists (saying which are left out)."""
    if text:
        arms = [a.strip() for a in (text.split(",") if isinstance(text, str) else text) if a.strip()]
        unknown = [a for a in arms if a not in ARMS]
        if unknown:
            raise CasebaseError(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
        missing = sorted({ADAPTER[a] for a in arms if not has_adapter(ws, a)})
        if missing:
            raise CasebaseError(f"no trained {' or '.join(missing)} adapter in {ws.models}: run "
                                f"`casebase train --method {missing[0]}` first, or leave those arms out.")
    else:
        arms = [a for a in ARMS if has_adapter(ws, a)]
        if skipped := [a for a in ARMS if a not in arms]:
            log(f"arms {', '.join(skipped)} left out: no trained adapter (casebase train --method standard|hybrid)")
    check_adapters(ws, arms)
    return arms


def check_adapters(ws: Workspace, arms: list[str]) -> None:
    """Each adapter an arm asks must be the one its manifest vouches for (a killed `casebase train` leaves files
    out of step with it)."""
    for name in sorted({ADAPTER[a] for a in arms if ADAPTER.get(a)}):
        out = adapter_dir(ws, name)
        verify_outputs(out / "manifest.json", f"casebase train --workspace {ws.root} --method {name} --overwrite",
                       [out / "adapter_config.json"])


def adapter_manifest(ws: Workspace, name: str | None) -> dict[str, Any]:
    path = adapter_dir(ws, name) / "manifest.json" if name else None
    if path is None or not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise CasebaseError(f"{path} cannot be read: re-run `casebase train --workspace {ws.root} --method {name} "
                            "--overwrite`") from None


def adapter_sha256(ws: Workspace, name: str | None) -> str | None:
    """sha256 of an adapter's weights (what a release and the reply cache are keyed on), None without one."""
    if not name:
        return None
    weights = adapter_dir(ws, name) / "adapter_model.safetensors"
    return file_sha256(weights) if weights.exists() else None


def base_spec(ws: Workspace, arm: str, llm_spec: str | None) -> str:
    """The base model an arm runs on: ``llm_spec``, else the one its adapter was trained on, else local."""
    if llm_spec:
        return llm_spec
    return adapter_manifest(ws, ADAPTER[arm]).get("base") or "local"


def default_max_length() -> int:
    from casebase.train.config import TrainConfig

    return TrainConfig.model_fields["max_length"].default


def arm_max_length(ws: Workspace, arm: str) -> int:
    """Tokens a prompt + reply may take: the adapter's training max_length (its prompts were that long), else
    the training default."""
    trained = adapter_manifest(ws, ADAPTER[arm]).get("config") or {}
    return int(trained.get("max_length") or default_max_length())


def base_fingerprint(spec: str) -> dict[str, Any]:
    """What a base model's replies depend on, by content where it is on this machine: the sha256 of its weight
    files (size and ends above 256 MiB); for a server, its URL and model name (all that can be known of it)."""
    from casebase.llm import parse_spec

    kind, args = parse_spec(spec)
    if kind != "local":
        return {"spec": spec}
    from casebase.llm.gguf import default_gguf

    path = Path(args["path"]) if args.get("path") else default_gguf()
    files = [path] if path.is_file() else sorted(
        p for p in path.glob("*") if p.suffix in (".safetensors", ".bin", ".gguf", ".json")) if path.is_dir() else []
    return {"spec": spec, "files": {p.name: file_record(p, sampled=True) for p in files}}


class AdapterView:
    """One arm's view of a shared local model: ``generate`` runs with its adapter active (None: the base alone).
    Views of one model take turns on one lock, so two arms never switch adapters under each other."""

    def __init__(self, shared, adapter: str | None, lock: threading.Lock, name: str):
        self.shared, self.adapter, self.lock, self.name = shared, adapter, lock, name

    @property
    def tokenizer(self):
        return self.shared.tokenizer

    def generate(self, prompts, max_new_tokens: int = 256, **kw) -> list[str]:
        from peft import PeftModel

        with self.lock:  # the model is read under the lock: loading an adapter wraps it in a PeftModel
            model = self.shared.model
            if self.adapter is not None:
                model.set_adapter(self.adapter)
                return self.shared.generate(prompts, max_new_tokens, **kw)
            if isinstance(model, PeftModel):
                with model.disable_adapter():
                    return self.shared.generate(prompts, max_new_tokens, **kw)
            return self.shared.generate(prompts, max_new_tokens, **kw)


class ArmModels:
    """The LLM of each arm, resolved once: one copy of each local base model, every adapter loaded onto it."""

    def __init__(self, ws: Workspace, llm_spec: str | None = None, batch_size: int = 8):
        self.ws, self.llm_spec, self.batch_size = ws, llm_spec, batch_size
        self._bases: dict[str, tuple[Any, threading.Lock, set[str]]] = {}
        self._views: dict[str, Any] = {}
        self._guard = threading.Lock()
        self.fingerprints: dict[str, dict[str, Any]] = {}  # arm -> fingerprint when its replies were first asked

    def get(self, arm: str) -> tuple[Any, int]:
        """(LLM, max_length) of an LLM arm."""
        check_arm(arm)
        if arm == "retrieval":
            raise CasebaseError("the retrieval arm uses no model")
        with self._guard:
            if arm not in self._views:
                self._views[arm] = self._resolve(arm)
        return self._views[arm], arm_max_length(self.ws, arm)

    def _resolve(self, arm: str):
        from casebase.llm import get_llm, parse_spec

        adapter = ADAPTER[arm]
        spec = base_spec(self.ws, arm, self.llm_spec)
        kind, _ = parse_spec(spec)
        if kind == "openai":
            return get_llm(f"{spec.partition('#')[0]}#{adapter}" if adapter else spec)
        if kind == "fake":
            return get_llm("fake")
        if kind == "llamacpp":  # an adapter arm: its PEFT adapter converted to a GGUF LoRA by llama.cpp's converter
            if not adapter:
                return get_llm(spec)
            from casebase.llm import lora_gguf
            from casebase.llm.gguf import default_gguf
            from casebase.llm.llamacpp import LlamaCppLLM

            if not lora_gguf.available():
                raise CasebaseError(f"the {arm} arm needs its LoRA adapter as a GGUF file, and {lora_gguf.INSTALL_HINT}"
                                    f"; or use --llm local (transformers) or an openai:URL#MODEL server")
            path = parse_spec(spec)[1].get("path")
            base = Path(path) if path else None  # None: the bundled GGUF, named as the base arm names it
            lora = lora_gguf.convert(adapter_dir(self.ws, adapter), base or default_gguf())
            return LlamaCppLLM(base, lora=lora, lora_name=adapter)
        if spec not in self._bases:
            from casebase.llm.local import LocalLLM

            self._bases[spec] = (LocalLLM(parse_spec(spec)[1]["path"], batch_size=self.batch_size),
                                 threading.Lock(), set())
        shared, lock, loaded = self._bases[spec]
        if adapter and adapter not in loaded:
            with lock:
                shared.load_adapter(adapter_dir(self.ws, adapter), adapter)
            loaded.add(adapter)
        return AdapterView(shared, adapter, lock, f"{shared.name}+{adapter}" if adapter else shared.name)

    def fingerprint(self, arm: str) -> dict[str, Any]:
        """What an arm's replies depend on besides the prompt: base model content and adapter weights."""
        if arm == "retrieval":
            return {"arm": arm}
        spec = base_spec(self.ws, arm, self.llm_spec)
        return {"arm": arm, "base": base_fingerprint(spec), "adapter": ADAPTER[arm],
                "adapter_sha256": adapter_sha256(self.ws, ADAPTER[arm])}

    def base_models_loaded(self) -> int:
        """Copies of a base model in memory (one per local base, however many adapters)."""
        return len(self._bases)
