"""Which training loop to keep: casebase's hand-written one (``casebase.train.run``) or ``transformers.Trainer``.

    .venv/bin/python bench/train_loop.py                                   # SmolLM2-135M, 16 steps (~5 min on 2 cores)
    .venv/bin/python bench/train_loop.py --base local:/path/to/model --steps 8 --workspace ws

Each loop runs in its own child process on the same base, LoRA settings (casebase's ``_with_lora``), the same
encoded examples (casebase's ``build_examples`` + ``encode``: RAFT contexts and answer-only labels), the same
AdamW and learning-rate schedule (handed to the Trainer through ``optimizers=``), batch size, steps, validation
cadence, early-stopping patience and checkpoints kept. What differs is only the loop: data order, the loss (the
Trainer's ``model(..., labels=...)`` over full logits; casebase's answer-only logits), evaluation and saving.
After training, both kept adapters (the best by val loss) are scored by the same function (casebase's
``_val_loss``, per answer token over all val examples). Timed: optimizer steps only (the Trainer through a
callback from ``on_step_begin`` to ``on_step_end``; casebase its own ``train_seconds``). Peak RSS is the child's
``ru_maxrss``; casebase's closing sample generation (a second model load) is switched off so both hold one model.

Without ``--workspace`` the data are the unit tests' 20 train / 4 val cases (tests/test_retrieve.py), standard
method: the comparison is about the loop, not the data. Writes bench/out/train_loop.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import csv
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def prepare(ws_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from test_retrieve import TRAIN, VAL, write_cases

    from casebase.retrieve import build_index
    from casebase.workspace import Workspace

    ws = Workspace.at(ws_path)
    write_cases(ws.root / "train.jsonl", TRAIN)
    write_cases(ws.root / "val.jsonl", VAL)
    build_index(ws, model="fake")


def settings(args) -> dict:
    return dict(method=args.method, base=args.base, max_steps=args.steps, batch_size=2, eval_every=args.eval_every,
                save_every=args.eval_every, patience=3, keep_checkpoints=2, seed=args.seed)


def child_loop(ws_path: Path, values: dict) -> dict:
    import casebase.train.lora as lora
    from casebase.progress import set_enabled
    from casebase.train import TrainConfig, run
    from casebase.workspace import Workspace

    set_enabled(False)
    lora._sample_generation = lambda *a, **k: {}  # a second model load; the Trainer side has none
    ws = Workspace.at(ws_path)
    manifest = run(ws, TrainConfig(name="bench-loop", **values), overwrite=True)
    rows = list(csv.DictReader(open(ws.root / "models" / "bench-loop" / "curves.csv")))
    steps = [(int(b["tokens"]) - int(a["tokens"]), float(b["train_seconds"]) - float(a["train_seconds"]))
             for a, b in zip(rows, rows[1:])]
    return {"loop": "casebase", "step_tokens_seconds": steps, "tokens": manifest["counts"]["tokens"], "train_s": manifest["timings_s"]["train"],
            "steps": manifest["counts"]["steps"], "val_start": manifest["loss"]["val_start"],
            "val_kept": manifest["loss"]["val_best"], "best_step": manifest["loss"]["best_step"]}


def child_trainer(ws_path: Path, values: dict) -> dict:
    """The same training through transformers.Trainer: what casebase would own if it switched."""
    import math
    from types import SimpleNamespace

    import torch
    from accelerate.utils import set_seed
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

    from casebase.progress import set_enabled
    from casebase.train import TrainConfig
    from casebase.train.data import build_examples, collate, read_split
    from casebase.train.lora import _encode_all, _val_loss, _with_lora, load_base, model_dir
    from casebase.workspace import Workspace

    set_enabled(False)
    ws, config = Workspace.at(ws_path), TrainConfig(name="bench-trainer", **values)
    set_seed(config.seed)
    tokenizer, model, _ = load_base(config, "cpu")
    index = None
    if config.method == "hybrid":
        from casebase.retrieve import load_index

        index = load_index(ws)
    kw = dict(method=config.method, index=index, k=config.k, oracle_share=config.oracle_share,
              oracle_depth=config.oracle_depth, seed=config.seed)
    train, _ = _encode_all(tokenizer, build_examples(read_split(ws, "train"), **kw), config.max_length)
    val, _ = _encode_all(tokenizer, build_examples(read_split(ws, "val")[: config.val_limit], **kw), config.max_length)
    model = _with_lora(model, config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    single = SimpleNamespace(process_index=0, num_processes=1, device=torch.device("cpu"),
                             reduce=lambda t, reduction: t)
    val_start = _val_loss(model, val, config.batch_size, pad_id, single)

    total, warmup = config.max_steps, int(config.warmup_ratio * config.max_steps)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (total - s) / max(1, total - warmup)))

    class Timer(TrainerCallback):
        seconds, started, tokens_before, steps = 0.0, 0.0, 0, []

        def on_step_begin(self, args, state, control, **kw):
            self.started, self.tokens_before = time.perf_counter(), trainer.tokens

        def on_step_end(self, args, state, control, **kw):
            self.seconds += time.perf_counter() - self.started
            self.steps.append((trainer.tokens - self.tokens_before, time.perf_counter() - self.started))

    class CountingTrainer(Trainer):
        tokens = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                self.tokens += int(inputs["attention_mask"].sum())
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    out = model_dir(ws, config.run_name)
    args = TrainingArguments(
        output_dir=str(out), max_steps=total, per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        max_grad_norm=config.max_grad_norm, eval_strategy="steps", eval_steps=config.eval_every,
        save_strategy="steps", save_steps=config.save_every, save_total_limit=config.keep_checkpoints,
        load_best_model_at_end=True, metric_for_best_model="eval_loss", greater_is_better=False,
        logging_steps=1, report_to="none", use_cpu=True, seed=config.seed, data_seed=config.seed,
        remove_unused_columns=False, disable_tqdm=True, dataloader_num_workers=0)
    timer = Timer()
    trainer = CountingTrainer(
        model=model, args=args, train_dataset=train, eval_dataset=val,
        data_collator=lambda rows: {k: v for k, v in collate(rows, pad_id).items() if k != "keep"},
        optimizers=(optimizer, scheduler),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience), timer])
    trainer.train()
    val_kept = _val_loss(trainer.model, val, config.batch_size, pad_id, single)
    evals = [(h["step"], h["eval_loss"]) for h in trainer.state.log_history if "eval_loss" in h]
    return {"loop": "transformers.Trainer", "step_tokens_seconds": timer.steps, "tokens": trainer.tokens, "train_s": timer.seconds,
            "steps": trainer.state.global_step, "val_start": val_start, "val_kept": val_kept,
            "best_step": int(trainer.state.best_model_checkpoint.rsplit("-", 1)[-1])
            if trainer.state.best_model_checkpoint else None,
            "trainer_eval_loss": evals, "val_kept_is_finite": math.isfinite(val_kept)}


def owned_lines() -> dict:
    """Non-blank, non-comment lines: lora.py as a whole, and the Trainer variant above (which covers less)."""
    import casebase.train.lora as lora

    def count(text: str) -> int:
        return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))

    return {"casebase/train/lora.py": count(Path(lora.__file__).read_text()),
            "bench child_trainer (Trainer variant, training part only)": count(inspect.getsource(child_trainer))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a workspace with train.jsonl and val.jsonl (and index/ for "
                        "--method hybrid); default: the unit tests' cases in a temporary one")
    parser.add_argument("--base", default="local", help="training base (default: the bundled SmolLM2-135M)")
    parser.add_argument("--method", default="standard")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="data order, LoRA init, dropout (both loops)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per loop, in A B B A order (a shared machine "
                        "is noisy: the table keeps each loop's fastest run)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "train_loop.json")
    parser.add_argument("--child", choices=("casebase", "trainer"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = child_loop if args.child == "casebase" else child_trainer
        row = run(args.workspace, settings(args))
        row["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        row["tokens_per_s"] = row["tokens"] / max(row["train_s"], 1e-9)
        # a shared machine stalls some steps for seconds; the median step is the loop's own speed
        row["median_step_tokens_per_s"] = statistics.median(t / max(s, 1e-9) for t, s in row["step_tokens_seconds"])
        print(json.dumps(row))
        return
    tmp = None
    if args.workspace is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-train-loop-")
        args.workspace = Path(tmp.name) / "ws"
        prepare(args.workspace)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    rows = []
    order = [w for i in range(args.repeat) for w in (("casebase", "trainer") if i % 2 == 0 else ("trainer", "casebase"))]
    for which in order:
        print(f"{which}: {args.steps} steps on {args.base} (load average {os.getloadavg()[0]:.1f}) ...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--child", which, "--workspace", str(args.workspace),
                               "--base", args.base, "--method", args.method, "--steps", str(args.steps),
                               "--eval-every", str(args.eval_every), "--seed", str(args.seed)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            sys.exit(f"{which} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"  {rows[-1]['tokens_per_s']:.1f} tokens/s ({rows[-1]['median_step_tokens_per_s']:.1f} in the median "
              f"step)", flush=True)
    best = [max((r for r in rows if r["loop"] == loop), key=lambda r: r["median_step_tokens_per_s"])
            for loop in dict.fromkeys(r["loop"] for r in rows)]
    print(f"\n{'loop':<22} {'steps':>5} {'tokens/s':>9} {'median step':>11} {'peak RSS':>9} "
          f"{'val start -> kept (step)':>27}")
    for r in best:
        print(f"{r['loop']:<22} {r['steps']:>5} {r['tokens_per_s']:>9.1f} {r['median_step_tokens_per_s']:>11.1f} "
              f"{r['peak_rss_gib']:>7.2f} G "
              f"{r['val_start']:>10.4f} -> {r['val_kept']:.4f} ({r['best_step']})")
    lines = owned_lines()
    for name, n in lines.items():
        print(f"lines: {n:>4}  {name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "rows": rows, "best": best,
                                    "lines": lines}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
