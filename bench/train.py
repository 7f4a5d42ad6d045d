"""Training throughput on CPU: tokens/s and peak memory of `casebase train`, standard and hybrid.

    .venv/bin/python bench/train.py                        # forum-support, 10 steps per method (~15 min on 2 cores)
    .venv/bin/python bench/train.py --steps 4 --workspace /tmp/ws-forum   # reuse a prepared workspace

For each method, one child process runs the product's training loop (``casebase.train.run``:
answer-only logits, left padding, dynamic padding) for ``--steps`` optimizer steps, then, on the
same examples, batch size and LoRA settings, a baseline loop that a fine-tuning script would
write by hand: right padding and ``model(**batch, labels=labels).loss`` over full logits. Both
are timed on training steps only (validation and data preparation excluded); the ratio is
ours / baseline in the same process. Peak memory is the child's maximum RSS (both loops).
Without ``--workspace``, the forum-support export is ingested, extracted, split (solutions.csv)
and indexed into a temporary workspace first. Writes bench/out/train.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORUM = Path(os.environ.get("CASEBASE_FORUM_DATA", REPO.parent / "shared" / "datasets" / "forum-support"))


def prepare(ws_path: Path) -> None:
    from casebase.extract import run as extract
    from casebase.ingest import run as ingest
    from casebase.retrieve import build_index
    from casebase.split import run as split
    from casebase.workspace import Workspace

    ws = Workspace.at(ws_path)
    ingest(ws, FORUM / "tickets.csv", FORUM / "messages.csv")
    extract(ws)
    split(ws, split_file=FORUM / "solutions.csv")
    build_index(ws)


def child(ws_path: Path, method: str, steps: int) -> dict:
    """Run in a fresh process: the product loop, then the baseline loop, on the same data."""
    import torch
    from peft import LoraConfig, get_peft_model

    from casebase.llm.local import LocalLLM
    from casebase.progress import set_enabled
    from casebase.retrieve import load_index
    from casebase.train import TrainConfig, run
    from casebase.train.data import build_examples, encode, read_split
    from casebase.workspace import Workspace

    set_enabled(False)
    ws = Workspace.at(ws_path)
    config = TrainConfig(method=method, name=f"bench-{method}", max_steps=steps, eval_every=steps, save_every=steps)
    manifest = run(ws, config, overwrite=True)

    llm = LocalLLM(None)
    tokenizer, model = llm.tokenizer, llm.model
    model = get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                             lora_dropout=config.lora_dropout, target_modules=config.target_modules,
                                             task_type="CAUSAL_LM"))
    model.train()
    index = load_index(ws) if method == "hybrid" else None
    examples = build_examples(read_split(ws, "train"), method, index, k=config.k, oracle_share=config.oracle_share,
                              oracle_depth=config.oracle_depth, seed=config.seed)
    data = [f for f in (encode(tokenizer, e, config.max_length) for e in examples) if f is not None]
    import numpy as np

    order = np.random.default_rng(config.seed).permutation(len(data))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    pad = tokenizer.pad_token_id
    tokens, seconds = 0, 0.0
    for step in range(steps):
        rows = [data[i] for i in order[step * config.batch_size:(step + 1) * config.batch_size]]
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in rows])
        labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in rows])
        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows])
        t = time.perf_counter()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        seconds += time.perf_counter() - t
        tokens += int(mask.sum())
    return {"method": method, "steps": steps, "batch_size": config.batch_size, "max_length": config.max_length,
            "ours_tokens_per_s": manifest["timings_s"]["tokens_per_s"], "ours_train_s": manifest["timings_s"]["train"],
            "ours_tokens": manifest["counts"]["tokens"], "baseline_tokens_per_s": tokens / seconds,
            "baseline_train_s": seconds, "baseline_tokens": tokens,
            "speedup": manifest["timings_s"]["tokens_per_s"] / (tokens / seconds),
            "val_loss_start": manifest["loss"]["val_start"], "val_loss_end": manifest["loss"]["val_last"],
            "validation_s": manifest["timings_s"]["validation"], "prepare_s": manifest["timings_s"]["prepare"],
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="a workspace prepared through `casebase index` (default: "
                        "prepare forum-support in a temporary one)")
    parser.add_argument("--methods", default="standard,hybrid")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "train.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.workspace, args.child, args.steps)))
        return
    tmp = None
    if args.workspace is None:
        if not (FORUM / "messages.csv").exists():
            sys.exit(f"forum-support data not found at {FORUM} (set CASEBASE_FORUM_DATA)")
        tmp = tempfile.TemporaryDirectory(prefix="bench-train-")
        args.workspace = Path(tmp.name) / "ws"
        print(f"preparing forum-support in {args.workspace} ...", flush=True)
        prepare(args.workspace)
    rows = []
    for method in args.methods.split(","):
        print(f"training {method} for {args.steps} steps ...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--child", method, "--steps", str(args.steps),
                               "--workspace", str(args.workspace)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{method} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"\n{'method':<9} {'tokens/s':>9} {'baseline':>9} {'ratio':>6} {'peak RSS':>9} {'val loss start -> end':>22}")
    for r in rows:
        print(f"{r['method']:<9} {r['ours_tokens_per_s']:>9.1f} {r['baseline_tokens_per_s']:>9.1f} "
              f"{r['speedup']:>5.2f}x {r['peak_rss_gib']:>7.2f} G {r['val_loss_start']:>10.4f} -> {r['val_loss_end']:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
