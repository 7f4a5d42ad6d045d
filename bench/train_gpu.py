"""LoRA / QLoRA training throughput and peak GPU memory for Llama-sized models (random weights).

    python bench/train_gpu.py                         # GPU box: llama-3.2-1b, llama-3.2-3b, llama-3.1-8b
    python bench/train_gpu.py --models tiny           # CPU: 2-layer toy model, checks the plumbing only
    python bench/train_gpu.py --models llama-3.1-8b --modes qlora --checkpointing on --seq-len 2048

Reference point from the prototype: about 1,800 tokens/s and a 40 GB GPU for 8B LoRA on one A100.

Standalone on purpose (needs only torch, transformers, peft; bitsandbytes for QLoRA): nothing is
downloaded, every model is built from the architecture hyperparameters below with random weights,
so throughput and memory match the real model while the loss is meaningless. For each
(model, mode, gradient checkpointing) row: build the model, wrap it in PEFT LoRA (r=16, alpha=32,
dropout 0.05, all linear layers), run --warmup untimed and --steps timed forward+backward+AdamW
steps on random token batches (labels = inputs), and report training tokens/s, peak GPU memory
(torch.cuda.max_memory_allocated, reset per row) and trainable parameters. QLoRA loads the weights
in 4-bit NF4 (bf16 compute) through a temporary save_pretrained copy, since from_config cannot
quantise. A row that runs out of memory is recorded as "OOM", any other failure as "error: ...",
and the script goes on; rows left when --time-budget runs out are "skipped: time budget".
Prints a table and writes --out (JSON, rewritten after every row).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import peft
import torch
import transformers

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
LLAMA3 = {"vocab_size": 128256, "max_position_embeddings": 131072, "rope_theta": 500000.0,
          "rms_norm_eps": 1e-5, "hidden_act": "silu", "bos_token_id": 128000, "eos_token_id": 128001}
MODELS = {
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 128, "vocab_size": 1000, "max_position_embeddings": 4096},
    "llama-3.2-1b": {**LLAMA3, "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "intermediate_size": 8192, "tie_word_embeddings": True,
                     "rope_scaling": LLAMA3_ROPE},
    "llama-3.2-3b": {**LLAMA3, "hidden_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 24,
                     "num_key_value_heads": 8, "intermediate_size": 8192, "tie_word_embeddings": True,
                     "rope_scaling": LLAMA3_ROPE},
    "llama-3.1-8b": {**LLAMA3, "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                     "num_key_value_heads": 8, "intermediate_size": 14336, "tie_word_embeddings": False,
                     "rope_scaling": {**LLAMA3_ROPE, "factor": 8.0}},
}
GPU_DEFAULT_MODELS = "llama-3.2-1b,llama-3.2-3b,llama-3.1-8b"
GIB = 1024 ** 3


def parse_args(cuda: bool) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=GPU_DEFAULT_MODELS if cuda else "tiny",
                   help=f"comma list of {','.join(MODELS)} (default: {GPU_DEFAULT_MODELS} on GPU, tiny on CPU)")
    p.add_argument("--modes", default="lora,qlora", help="comma list of lora,qlora (qlora needs CUDA + bitsandbytes)")
    p.add_argument("--checkpointing", default="off,on", help="gradient checkpointing settings: comma list of off,on")
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before timing")
    p.add_argument("--steps", type=int, default=5, help="timed training steps")
    p.add_argument("--time-budget", type=float, default=480.0,
                   help="seconds; rows not started by then are recorded as 'skipped: time budget'")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "train_gpu.json"))
    args = p.parse_args()
    for name in args.models.split(","):
        if name not in MODELS:
            p.error(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return args


def enable_checkpointing(model) -> None:
    """Activation (gradient) checkpointing; transformers >= 5.2x renamed the method and warns on the old name."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()


def build_model(name: str, mode: str, checkpointing: bool, device: torch.device, saved: dict):
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = transformers.LlamaConfig(**MODELS[name])
    if mode == "lora":
        with device:
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
        if checkpointing:
            enable_checkpointing(model)
    else:  # qlora: random bf16 weights -> save once per model -> reload quantised to 4-bit NF4
        if name not in saved:
            with device:
                model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
            saved[name] = tempfile.mkdtemp(prefix=f"train_gpu_{name}_")
            model.save_pretrained(saved[name])
            del model
            free_memory()
        bnb = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                              bnb_4bit_compute_dtype=torch.bfloat16)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            saved[name], quantization_config=bnb, dtype=torch.bfloat16, device_map={"": device.index or 0})
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    lora = peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                           task_type="CAUSAL_LM")
    return peft.get_peft_model(model, lora)


def run_row(name: str, mode: str, checkpointing: bool, args, device: torch.device, saved: dict) -> dict:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(name, mode, checkpointing, device, saved)
    model.train()
    trainable, total = model.get_nb_trainable_parameters()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    gen = torch.Generator(device="cpu").manual_seed(0)
    vocab = model.config.vocab_size
    batch = torch.randint(0, vocab, (args.batch_size, args.seq_len), generator=gen).to(device)

    def step():
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        step()
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    elapsed = time.perf_counter() - start
    tokens = args.batch_size * args.seq_len * args.steps
    return {"status": "ok", "tokens_per_s": round(tokens / elapsed, 1), "step_s": round(elapsed / args.steps, 4),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated(device) / GIB, 2) if device.type == "cuda" else None,
            "trainable_params": trainable, "total_params": total}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def skip_reason(mode: str, device: torch.device) -> str | None:
    if mode != "qlora":
        return None
    if device.type != "cuda":
        return "skipped: needs CUDA"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "skipped: bitsandbytes not installed"
    return None


def print_table(rows: list[dict]) -> None:
    cols = [("model", "model", 14), ("mode", "mode", 6), ("gc", "gradient_checkpointing", 4),
            ("status", "status", 36), ("tokens/s", "tokens_per_s", 10), ("step s", "step_s", 8),
            ("peak GiB", "peak_mem_gib", 9), ("trainable", "trainable_params", 11)]
    fmt = lambda v: "-" if v is None else ("on" if v is True else "off" if v is False else str(v))  # noqa: E731
    print("  ".join(title.ljust(w) for title, _, w in cols))
    for row in rows:
        print("  ".join(fmt(row.get(key)).ljust(w) for _, key, w in cols))


def main() -> int:
    cuda = torch.cuda.is_available()
    args = parse_args(cuda)
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    bnb_spec = importlib.util.find_spec("bitsandbytes")
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": torch.cuda.get_device_name(device) if cuda else f"cpu ({platform.processor() or platform.machine()})",
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "peft": peft.__version__,
                     "bitsandbytes": __import__("bitsandbytes").__version__ if bnb_spec else None},
        "args": vars(args), "rows": [],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    saved: dict[str, str] = {}  # model name -> temp dir holding its random bf16 weights (QLoRA)
    try:
        for name in args.models.split(","):
            for mode in args.modes.split(","):
                for gc_flag in args.checkpointing.split(","):
                    row = {"model": name, "mode": mode, "gradient_checkpointing": gc_flag == "on",
                           "seq_len": args.seq_len, "batch_size": args.batch_size, "status": None,
                           "tokens_per_s": None, "peak_mem_gib": None, "trainable_params": None,
                           "total_params": None, "step_s": None}
                    reason = skip_reason(mode, device)
                    if reason is None and time.monotonic() - t0 > args.time_budget:
                        reason = "skipped: time budget"
                    if reason:
                        row["status"] = reason
                    else:
                        print(f"... {name} {mode} gc={gc_flag}", file=sys.stderr, flush=True)
                        try:
                            row.update(run_row(name, mode, gc_flag == "on", args, device, saved))
                        except torch.cuda.OutOfMemoryError:
                            row["status"] = "OOM"
                        except Exception as exc:  # noqa: BLE001 - one failed row must not stop the rest
                            oom = "out of memory" in str(exc).lower()
                            row["status"] = "OOM" if oom else f"error: {type(exc).__name__}: {exc}"[:300]
                        free_memory()
                    row["host_peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB, 2)
                    report["rows"].append(row)
                    report["elapsed_s"] = round(time.monotonic() - t0, 1)
                    out.write_text(json.dumps(report, indent=2) + "\n")
            if name in saved:
                shutil.rmtree(saved.pop(name), ignore_errors=True)
    finally:
        for path in saved.values():
            shutil.rmtree(path, ignore_errors=True)
    print(f"device: {report['device']}  seq_len {args.seq_len}  batch {args.batch_size}  "
          f"steps {args.steps} (+{args.warmup} warmup)")
    print_table(report["rows"])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
