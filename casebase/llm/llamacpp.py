"""llama.cpp in this process (the ``llama-cpp-python`` binding) as an LLM: the fast CPU path for GGUF models.

    get_llm("llamacpp")                                  # the bundled SmolLM2-135M-Instruct GGUF
    get_llm("llamacpp:/models/model.Q4_K_M.gguf")        # any chat GGUF
    get_llm("local")     # on a machine without CUDA where llama-cpp-python is installed: this backend
                         # (CASEBASE_LOCAL_BACKEND=transformers keeps the transformers one)

llama-cpp-python compiles llama.cpp from source (about 9 minutes on 2 cores), so it is an optional extra:
``make setup-llamacpp``. The chat template is the one in the GGUF's metadata, as llama.cpp's server uses it;
``json_schema`` becomes a grammar (decoding constrained to the schema); ``temperature == 0`` is greedy.
Prompts run one at a time (the binding decodes one sequence), which on CPU is faster than the transformers
backend's batches (docs/benchmarks.md, "Generation on CPU"). ``lora``: a GGUF LoRA file applied on the model
(the adapter arms: ``casebase.llm.lora_gguf`` converts their PEFT adapters with llama.cpp's own converter).
"""

from __future__ import annotations

import importlib.util
import os
import weakref
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.llm.base import LLM, normalise_prompts
from casebase.llm.gguf import default_gguf
from casebase.llm.prompts import cut_at_stop, cut_first_json_object
from casebase.progress import track

INSTALL_HINT = ("llama-cpp-python is not installed: run `make setup-llamacpp` (compiles llama.cpp, about 9 min), "
                "or use --llm local (transformers) or openai:URL#MODEL")
BACKEND_VARIABLE = "CASEBASE_LOCAL_BACKEND"  # transformers | llamacpp: what --llm local runs on


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def local_prefers_llamacpp(path: str | None, options: dict) -> bool:
    """Whether ``--llm local[:PATH]`` runs on llama.cpp: a GGUF model, no adapter or device asked for, no CUDA,
    the binding installed, and ``CASEBASE_LOCAL_BACKEND`` not set to ``transformers``."""
    choice = os.environ.get(BACKEND_VARIABLE, "").strip().lower()
    if choice not in ("", "transformers", "llamacpp"):
        raise CasebaseError(f"{BACKEND_VARIABLE}={choice!r}: use transformers or llamacpp")
    if choice == "transformers" or set(options) - {"batch_size"}:
        return False
    if path and Path(path).suffix != ".gguf":
        return False
    if choice == "llamacpp":
        return True
    if not available():
        return False
    import torch

    return not torch.cuda.is_available()


class LlamaCppLLM(LLM):
    """A GGUF chat model run by llama.cpp; ``batch_size`` is accepted for the local backend's callers and unused."""

    def __init__(self, path: str | Path | None = None, *, n_ctx: int = 4096, threads: int | None = None,
                 batch_size: int = 1, seed: int = 0, lora: str | Path | None = None, lora_name: str | None = None):
        if not available():
            raise CasebaseError(INSTALL_HINT)
        source = Path(path) if path else default_gguf()
        if source.suffix != ".gguf":
            raise CasebaseError(f"llamacpp backend: {source} is not a .gguf file; give llamacpp:PATH of one "
                                f"(a Hugging Face directory runs on --llm local:PATH)")
        if not source.is_file():
            raise CasebaseError(f"GGUF file not found: {source}; give llamacpp:PATH of an existing .gguf file")
        from llama_cpp import Llama

        self.path = source
        self.threads = threads or os.cpu_count() or 1
        self.lora = Path(lora) if lora else None
        try:
            self.model = Llama(model_path=str(source), n_ctx=n_ctx, n_threads=self.threads,
                               n_threads_batch=self.threads, seed=seed, verbose=False,
                               lora_path=str(self.lora) if self.lora else None)
        except (ValueError, RuntimeError) as error:
            if self.lora is None:
                raise
            raise CasebaseError(f"llama.cpp could not apply the LoRA {self.lora} to {source} ({error}): was the "
                                f"adapter trained on this base model?") from error
        # freed before the interpreter tears its modules down (else llama_cpp's own clean-up fails at exit)
        weakref.finalize(self, self.model.close)
        if not self.model.metadata.get("tokenizer.chat_template"):
            raise CasebaseError(f"{source} has no chat template in its metadata; use an instruction-tuned (chat) "
                                f"GGUF")
        stem = "SmolLM2-135M-Instruct" if path is None else source.stem
        self.name = f"llamacpp:{stem}" + (f"+{lora_name or self.lora.stem}" if self.lora else "")
        self.completion_tokens = 0  # generated so far, for speed figures

    def generate(self, prompts, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 json_schema: dict | None = None, stop: list[str] | None = None) -> list[str]:
        batch = normalise_prompts(prompts)
        items = track(batch, f"generating ({self.name})", total=len(batch)) if len(batch) > 1 else batch
        return [self._one(messages, max_new_tokens, temperature, json_schema, stop) for messages in items]

    def _one(self, messages, max_new_tokens: int, temperature: float, json_schema: dict | None,
             stop: list[str] | None) -> str:
        kwargs: dict = {"max_tokens": max_new_tokens, "temperature": temperature, "stop": stop or None}
        if temperature <= 0:
            kwargs.update(top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)  # greedy, as the other backends
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        try:
            out = self.model.create_chat_completion(messages=messages, **kwargs)
        except ValueError as error:  # the prompt does not fit n_ctx
            raise CasebaseError(f"{self.name}: {error}; shorten the prompt or raise n_ctx") from error
        self.completion_tokens += int(out.get("usage", {}).get("completion_tokens") or 0)
        text = out["choices"][0]["message"].get("content") or ""
        text = cut_at_stop(text, stop)
        return cut_first_json_object(text) if json_schema is not None else text
