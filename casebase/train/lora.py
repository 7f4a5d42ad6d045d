"""LoRA fine-tuning of an instruct model on the case base: ``casebase train``.

    casebase train --workspace ws --method hybrid --max-steps 30     # CPU: SmolLM2-135M
    casebase train --workspace ws --method standard --base local:/models/Llama-3.2-1B-Instruct
    accelerate launch --multi_gpu -m casebase train --workspace ws --method hybrid   # DDP (docs/train.md)

A plain PyTorch loop under ``accelerate`` (one process on a laptop, DDP or DeepSpeed ZeRO when
started with ``accelerate launch``): AdamW with linear warm-up and decay, gradient accumulation
and clipping, loss on answer tokens only, validation loss on val.jsonl (never test) every
``eval_every`` steps with early stopping, checkpoints every ``save_every`` steps. ``resume=True``
continues from the newest checkpoint with the same data order, optimizer, schedule and random
state, so a killed run ends where an uninterrupted one would.

Writes ``models/<name>/``: the adapter with the best val loss (``adapter_model.safetensors``,
``adapter_config.json``), the tokenizer, ``config.json`` (resolved), ``curves.csv`` and
``curves.png``, ``manifest.json``, and ``checkpoints/step-N/``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from casebase.errors import CasebaseError
from casebase.progress import log, track
from casebase.train.config import TrainConfig
from casebase.train.data import answer_loss, build_examples, collate, encode, encode_extra, read_extra, read_split
from casebase.workspace import Workspace, atomic_write, begin_outputs, write_manifest

STATE_FILE = "trainer_state.pt"
# Fields that may change between a run and its --resume; any other change makes the checkpoint invalid.
RESUMABLE = {"max_steps", "eval_every", "save_every", "keep_checkpoints", "patience", "val_limit"}


@dataclass
class TrainerState:
    step: int = 0
    best_val: float = math.inf
    best_step: int = 0
    bad_evals: int = 0
    first_val: float | None = None
    tokens: int = 0
    train_seconds: float = 0.0
    rows: list[dict] = field(default_factory=list)


def model_dir(ws: Workspace, name: str) -> Path:
    return ws.model(name)


def run(ws: Workspace, config: TrainConfig, resume: bool = False, overwrite: bool = False,
        on_step=None) -> dict:
    """Train one adapter; returns its manifest. ``on_step(step)`` is called after each step (tests)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    started = time.perf_counter()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)  # PEFT
    out = model_dir(ws, config.run_name)
    checkpoints = sorted((out / "checkpoints").glob("step-*"), key=_step_of) if (out / "checkpoints").exists() else []
    if checkpoints and not (resume or overwrite):
        raise CasebaseError(f"{out} holds checkpoints of an earlier run: add --resume to continue it, or "
                            f"--overwrite to start again.")
    if overwrite and out.exists():
        shutil.rmtree(out)
        checkpoints = []
    if resume and not checkpoints:
        log(f"no checkpoint under {out}: starting from the beginning")
    extra_chats = read_extra(config.extra_files)  # --extra (feedback): a bad line fails before the model loads

    # Our schedule counts optimizer steps; a prepared scheduler would otherwise be stepped once per process.
    accelerator = Accelerator(step_scheduler_with_optimizer=False)
    set_seed(config.seed)
    tokenizer, model, base_name = load_base(config, accelerator.device)
    train_cases, val_cases = read_split(ws, "train"), read_split(ws, "val")[: config.val_limit]
    if not train_cases or not val_cases:
        raise CasebaseError(f"train.jsonl has {len(train_cases)} cases and val.jsonl {len(val_cases)}: both need "
                            f"some; rerun `casebase split` with a larger --val-share or more data.")
    index = None
    if config.method == "hybrid":
        from casebase.retrieve import load_index

        index = load_index(ws)
    kw = dict(method=config.method, index=index, k=config.k, oracle_share=config.oracle_share,
              oracle_depth=config.oracle_depth, seed=config.seed)
    train_examples, val_examples = build_examples(train_cases, **kw), build_examples(val_cases, **kw)
    train_data, skipped_train = _encode_all(tokenizer, train_examples, config.max_length)
    val_data, skipped_val = _encode_all(tokenizer, val_examples, config.max_length)
    extra_data, skipped_extra = encode_extra(tokenizer, extra_chats, config.max_length)
    train_data = train_data + extra_data  # trained on beside train.jsonl, in the same shuffled order
    if not train_data or not val_data:
        raise CasebaseError(f"no example fits --max-length {config.max_length} (answers are never cut): raise it.")

    prepared = time.perf_counter() - started
    model = _with_lora(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    world = accelerator.num_processes
    per_step = config.batch_size * config.grad_accum * world
    total = config.max_steps or max(1, math.ceil(config.epochs * len(train_data) / per_step))
    warmup = int(config.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))
    _fill_deepspeed(accelerator, config)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    state = TrainerState()
    if resume and checkpoints:
        state = _load_checkpoint(checkpoints[-1], accelerator.unwrap_model(model), optimizer, scheduler, config)
        log(f"resuming from {checkpoints[-1].name} (step {state.step} of {total})")
    elif accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    if accelerator.is_main_process:
        begin_outputs(out / "manifest.json")  # the adapter files change from here until the manifest vouches for them

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eval_seconds = 0.0

    def evaluate() -> float:
        nonlocal eval_seconds
        t = time.perf_counter()
        loss = _val_loss(model, val_data, config.batch_size, pad_id, accelerator)
        eval_seconds += time.perf_counter() - t
        return loss
    if state.first_val is None:
        state.first_val = state.best_val = evaluate()
        state.rows.append(_row(0, None, state.first_val, scheduler, state))
        log(f"val loss before training: {state.first_val:.4f}")

    order = _order(len(train_data), total * config.grad_accum * config.batch_size * world, config.seed)
    stopped_early = False
    steps = track(range(state.step + 1, total + 1), f"training {config.run_name} ({config.method})", total=total - state.step)
    for step in steps:
        model.train()
        t0 = time.perf_counter()
        micro = [[train_data[i] for i in _micro_batch(order, (step - 1) * config.grad_accum + m, config.batch_size,
                                                       world, accelerator.process_index)]
                 for m in range(config.grad_accum)]
        batches = [collate(b, pad_id) for b in micro]
        # Answer tokens of the GLOBAL batch: DDP and DeepSpeed average gradients over processes, so each one
        # scales its sum by world / global count; the mean is then the one-process loss of the same examples.
        mine = [sum(int((b["labels"] != -100).sum()) for b in batches),
                sum(int(b["attention_mask"].sum()) for b in batches)]
        n_answer, n_tokens = (int(v) for v in _global_sum(accelerator, mine))
        loss_sum = 0.0
        for m, batch in enumerate(batches):
            batch = _to(batch, accelerator.device)
            sync = contextlib.nullcontext() if m == len(batches) - 1 else accelerator.no_sync(model)
            with sync:
                loss, _ = answer_loss(model, batch)
                accelerator.backward(loss * world / max(1, n_answer))
            loss_sum += float(loss.detach())
        loss_sum = float(_global_sum(accelerator, [loss_sum])[0])
        state.tokens += n_tokens
        accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.train_seconds += time.perf_counter() - t0
        state.step = step
        train_loss = loss_sum / max(1, n_answer)
        val = None
        if step % config.eval_every == 0 or step == total:
            val = evaluate()
            if val < state.best_val:
                state.best_val, state.best_step, state.bad_evals = val, step, 0
                if accelerator.is_main_process:
                    _save_into(out, accelerator.unwrap_model(model).save_pretrained)
            else:
                state.bad_evals += 1
            log(f"step {step}/{total}: train loss {train_loss:.4f}, val loss {val:.4f} (best {state.best_val:.4f} "
                f"at step {state.best_step})")
            stopped_early = state.bad_evals >= config.patience
        state.rows.append(_row(step, train_loss, val, scheduler, state))
        if (step % config.save_every == 0 or step == total or stopped_early) and accelerator.is_main_process:
            _save_checkpoint(out, step, accelerator.unwrap_model(model), optimizer, scheduler, state, config)
        if on_step is not None:
            on_step(step)
        if stopped_early:
            log(f"early stop: no better val loss in {config.patience} evaluations")
            break

    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return {}
    if state.best_step == 0:  # never beat the untrained model: keep the last adapter, and say so
        _save_into(out, accelerator.unwrap_model(model).save_pretrained)
    tokenizer_files = _save_into(out, tokenizer.save_pretrained)
    atomic_write(out / "config.json", lambda tmp: tmp.write_text(json.dumps(config.model_dump(), indent=2)))
    _write_curves(out, state.rows)
    t = time.perf_counter()
    sample = _sample_generation(config, out, val_examples[0], accelerator.device)
    sample_seconds = time.perf_counter() - t
    inputs = {"train": ws.split("train"), "val": ws.split("val")}
    if index is not None:
        inputs["index"] = index.root / "manifest.json"
    for i, path in enumerate(config.extra_files):
        inputs["extra" if i == 0 else f"extra_{i + 1}"] = Path(path)
    last_val = next((r["val_loss"] for r in reversed(state.rows) if r["val_loss"] is not None), None)
    return write_manifest(
        ws, f"train-{config.run_name}", path=out / "manifest.json", config=config.model_dump(), inputs=inputs,
        counts={"train_examples": len(train_data) - len(extra_data), "extra_examples": len(extra_data),
                "val_examples": len(val_data),
                "skipped_too_long": {"train": skipped_train, "val": skipped_val, "extra": skipped_extra},
                "oracle_in_context": sum(bool(e.oracle_in_context) for e in train_examples),
                "steps": state.step, "planned_steps": total, "tokens": state.tokens,
                "trainable_parameters": sum(p.numel() for p in trainable),
                "processes": world},
        timings={"total": time.perf_counter() - started, "prepare": prepared, "train": state.train_seconds,
                 "validation": eval_seconds, "sample_generation": sample_seconds,
                 "tokens_per_s": state.tokens / max(state.train_seconds, 1e-9)},
        extra={"base_model": base_name, "base": config.base, "method": config.method,
               "loss": {"val_start": state.first_val, "val_best": state.best_val, "val_last": last_val,
                        "best_step": state.best_step, "train_last": next(
                            (r["train_loss"] for r in reversed(state.rows) if r["train_loss"] is not None), None)},
               "stopped_early": stopped_early, "resumed": bool(resume and checkpoints),
               "device": str(accelerator.device), "sample": sample,
               "outputs": {"adapter": str(out), "curves": str(out / "curves.csv"), "plot": str(out / "curves.png")}},
        files=[out / "adapter_model.safetensors", out / "adapter_config.json", *tokenizer_files,
               *(out / f for f in ("config.json", "curves.csv", "curves.png"))])


def load_base(config: TrainConfig, device) -> tuple:
    """(tokenizer, model, name) of the base model named by ``config.base`` (a local spec or a path)."""
    from casebase.llm import parse_spec

    spec = config.base if config.base.startswith(("local", "openai", "fake")) else f"local:{config.base}"
    kind, args = parse_spec(spec)
    if kind != "local":
        raise CasebaseError(f"--base {config.base!r}: training needs weights on this machine (local or "
                            f"local:PATH); serve the trained adapter with vLLM afterwards.")
    if config.quantize == "4bit":
        return _load_4bit(args["path"], device)
    from casebase.llm.local import LocalLLM

    llm = LocalLLM(args["path"], device=str(device))
    return llm.tokenizer, llm.model, llm.name


def _load_4bit(path, device):
    if not torch.cuda.is_available():
        raise CasebaseError("quantize = 4bit (QLoRA) needs a CUDA GPU; on CPU train with quantize = none.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise CasebaseError("quantize = 4bit needs bitsandbytes: pip install bitsandbytes") from None
    if not path or str(path).endswith(".gguf"):
        raise CasebaseError("QLoRA loads a Hugging Face model directory: --base local:/path/to/model")
    from peft import prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                               bnb_4bit_use_double_quant=True)
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quant, device_map={"": device},
                                                 local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, prepare_model_for_kbit_training(model), Path(path).name + " (4-bit)"


def _with_lora(model, config: TrainConfig):
    from peft import LoraConfig, get_peft_model

    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x; the old name warns
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
        model.config.use_cache = False
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, lora)


def _fill_deepspeed(accelerator, config: TrainConfig) -> None:
    """Under DeepSpeed, write the settings casebase owns into its config: the micro-batch (no dataloader is prepared
    to infer it from), clipping (DeepSpeed clips by itself, so ``clip_grad_norm_`` here does nothing) and one
    micro-batch per optimizer step (the loop counts steps, schedules the learning rate and accumulates itself)."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds, problems = plugin.deepspeed_config, []
    if config.grad_accum != 1:
        problems.append(f"grad_accum = {config.grad_accum}: set grad_accum = 1 and grow the global batch with "
                        f"--batch-size or more processes")
    ours = {"train_micro_batch_size_per_gpu": config.batch_size, "gradient_clipping": config.max_grad_norm,
            "gradient_accumulation_steps": 1}
    for key, value in ours.items():
        if ds.get(key, "auto") not in ("auto", value):
            problems.append(f"the DeepSpeed config sets {key} = {ds[key]!r} where casebase uses {value!r}: write "
                            f'"{key}": "auto" in it (casebase fills it)')
    if {"optimizer", "scheduler"} & ds.keys():
        problems.append("the DeepSpeed config has an optimizer or scheduler section: remove it (casebase runs AdamW "
                        "with its own schedule)")
    if problems:
        raise CasebaseError("cannot train under DeepSpeed: " + "; ".join(problems) + " (configs/deepspeed/zero2.json "
                            "is a working example).")
    ds.update(ours)


def _encode_all(tokenizer, examples, max_length: int) -> tuple[list[dict], int]:
    encoded = [encode(tokenizer, e, max_length) for e in track(examples, "tokenising", total=len(examples))]
    kept = [e for e in encoded if e is not None]
    if len(kept) < len(encoded):
        log(f"{len(encoded) - len(kept)} examples left out: their answer alone is longer than max_length {max_length}")
    return kept, len(encoded) - len(kept)


def _order(n: int, needed: int, seed: int) -> np.ndarray:
    """Example indices for the whole run: one seeded permutation per epoch, as many epochs as needed."""
    epochs = max(1, math.ceil(needed / n))
    return np.concatenate([np.random.default_rng(seed + e).permutation(n) for e in range(epochs)])


def _micro_batch(order: np.ndarray, micro: int, size: int, world: int, rank: int) -> list[int]:
    start = (micro * world + rank) * size
    return order[start:start + size].tolist()


@torch.no_grad()
def _val_loss(model, data: list[dict], batch_size: int, pad_id: int, accelerator) -> float:
    """Mean loss per answer token over the val examples (each process scores its share; sums are reduced)."""
    model.eval()
    total = torch.zeros(2, device=accelerator.device, dtype=torch.float64)
    mine = data[accelerator.process_index::accelerator.num_processes]
    for i in range(0, len(mine), batch_size):
        loss, n = answer_loss(model, _to(collate(mine[i:i + batch_size], pad_id), accelerator.device))
        total += torch.tensor([float(loss), n], device=accelerator.device, dtype=torch.float64)
    total = accelerator.reduce(total, reduction="sum")
    return float(total[0] / max(float(total[1]), 1.0))


def _global_sum(accelerator, values: list[float]) -> list[float]:
    """Each value summed over all processes (itself with one process)."""
    if accelerator.num_processes == 1:
        return values
    total = accelerator.reduce(torch.tensor(values, device=accelerator.device, dtype=torch.float64), reduction="sum")
    return total.tolist()


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _row(step: int, train_loss: float | None, val_loss: float | None, scheduler, state: TrainerState) -> dict:
    return {"step": step, "train_loss": None if train_loss is None else round(train_loss, 5),
            "val_loss": None if val_loss is None else round(val_loss, 5), "lr": scheduler.get_last_lr()[0],
            "tokens": state.tokens, "train_seconds": round(state.train_seconds, 2)}


def _step_of(path: Path) -> int:
    return int(path.name.split("-")[-1])


def _save_checkpoint(out: Path, step: int, model, optimizer, scheduler, state: TrainerState, config: TrainConfig):
    """Adapter + optimizer + schedule + random state, written to a temp dir and renamed (a kill leaves no half)."""
    root = out / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final, tmp = root / f"step-{step:06d}", root / f".step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "state": asdict(state),
                "config": config.model_dump(),
                "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}},
               tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(root.glob("step-*"), key=_step_of)[: -config.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(path: Path, model, optimizer, scheduler, config: TrainConfig) -> TrainerState:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    saved = torch.load(path / STATE_FILE, weights_only=False)
    changed = sorted(k for k, v in config.model_dump().items() if k not in RESUMABLE and saved["config"].get(k) != v)
    if changed:
        raise CasebaseError(f"--resume: the checkpoint {path} was trained with other settings for "
                            f"{', '.join(changed)}; use the same ones, or --overwrite to start again.")
    set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    rng = saved["rng"]
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return TrainerState(**saved["state"])


def _save_into(out: Path, save) -> list[Path]:
    """``save(tmp)`` writes files (an adapter, a tokenizer) into a temporary folder; each is then renamed into
    ``out``, so a kill leaves every file whole, old or new. Returns the files."""
    tmp = out / ".save.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save(tmp)
        saved = sorted(tmp.iterdir())
        for f in saved:
            os.replace(f, out / f.name)
        return [out / f.name for f in saved]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_curves(out: Path, rows: list[dict]) -> None:
    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(out / "curves.csv", write_csv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    train = [(r["step"], r["train_loss"]) for r in rows if r["train_loss"] is not None]
    val = [(r["step"], r["val_loss"]) for r in rows if r["val_loss"] is not None]
    if train:
        ax.plot(*zip(*train), label="train loss (answer tokens)", color="#4c72b0", linewidth=1)
    if val:
        ax.plot(*zip(*val), "o-", label="val loss", color="#dd8452")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy per token")
    ax.set_title(out.name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(out / "curves.png", lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _sample_generation(config: TrainConfig, out: Path, example, device) -> dict:
    """Load the saved adapter onto a fresh base model and answer one val ticket: proof the files work."""
    from casebase.llm.answer import TokenBudget, build_messages, parse_answer
    from casebase.llm.local import LocalLLM

    if config.quantize != "none":
        return {}
    spec = config.base if config.base.startswith("local") else f"local:{config.base}"
    path = spec.partition(":")[2] or None
    llm = LocalLLM(path, adapter=out, device=str(device))
    messages = build_messages(example.problem, example.context, TokenBudget.of(llm.tokenizer, config.max_length - 96))
    reply = llm.generate([messages], max_new_tokens=96)[0]
    return {"case_id": example.case_id, "reply": reply, "parsed": parse_answer(reply) is not None}
