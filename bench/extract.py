"""Extraction quality on forum-support's solved threads, against the accepted solutions.

    .venv/bin/python bench/extract.py                   # heuristic on all threads, SmolLM2 on 20 test threads
    .venv/bin/python bench/extract.py --llm-threads 0   # heuristic and baselines only

Reports, per split (train / test of solutions.csv): solution pick accuracy with a 95%
Wilson interval for the three baselines (first / last / longest responder reply), the
heuristic picker, the heuristic end to end (its pick only counts when it also calls the
thread resolved) and the LLM method; ROUGE-L of the condensed solution against the
accepted post; the share of unsolved threads marked unresolved; tickets per minute.
The scorer was tuned on train threads only, so test figures are out of sample.
Writes bench/out/extract.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casebase import progress  # noqa: E402
from casebase.extract import run as extract  # noqa: E402
from casebase.extract.llm_method import LlmExtractor  # noqa: E402
from casebase.ingest import run as ingest  # noqa: E402
from casebase.metrics import rouge_l, wilson_interval  # noqa: E402
from casebase.workspace import Workspace  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"


def baseline_pick(thread: list[dict], kind: str) -> str | None:
    replies = [m for m in thread[1:] if m["role"] == "responder"]
    if not replies:
        return None
    if kind == "first":
        return replies[0]["message_id"]
    if kind == "last":
        return replies[-1]["message_id"]
    return max(replies, key=lambda m: len(m["body"]))["message_id"]


def acc_row(method: str, split: str, hits: list[bool], extra: dict | None = None) -> dict:
    k, n = int(sum(hits)), len(hits)
    lo, hi = wilson_interval(k, n)
    return {"method": method, "split": split, "n": n, "pick_accuracy": round(k / n, 3) if n else None,
            "ci95": [round(lo, 3), round(hi, 3)], **(extra or {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", default=None, help="LLM spec for the llm method (default: local SmolLM2)")
    ap.add_argument("--llm-threads", type=int, default=20, help="first N test threads for the llm method (0: skip)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "extract.json")
    args = ap.parse_args()
    if not (FORUM / "solutions.csv").exists():
        sys.exit(f"forum-support not found at {FORUM}")
    progress.set_enabled(False)
    labels = pd.read_csv(FORUM / "solutions.csv")
    gold = dict(zip(labels["ticket_id"], labels["solution_message_id"]))
    split_of = dict(zip(labels["ticket_id"], labels["split"]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(tmp)
        ingest(ws, FORUM / "tickets.csv", FORUM / "messages.csv")
        t0 = time.perf_counter()
        manifest = extract(ws)
        heuristic_tpm = manifest["counts"]["tickets"] / (time.perf_counter() - t0) * 60
        cases = pd.read_parquet(ws.root / "cases.parquet").set_index("ticket_id")
        msgs = pd.read_parquet(ws.messages)
        threads = {t: g.to_dict("records") for t, g in msgs.sort_values(["ticket_id", "position"]).groupby("ticket_id")}
        bodies = dict(zip(msgs["message_id"], msgs["body"]))
        tickets = pd.read_parquet(ws.tickets).set_index("ticket_id")

        for split in ("train", "test"):
            ids = [t for t in labels.loc[labels["split"] == split, "ticket_id"] if t in threads]
            for kind in ("first", "last", "longest"):
                rows.append(acc_row(f"baseline: {kind} responder reply", split,
                                    [baseline_pick(threads[t], kind) == gold[t] for t in ids]))
            c = cases.loc[ids]
            rows.append(acc_row("heuristic picker", split, list(c["candidate_message_id"] == [gold[t] for t in ids])))
            strict = [len(s) > 0 and s[0] == gold[t] for t, s in zip(ids, c["solution_message_ids"])]
            rouge = [rouge_l(sol, bodies[gold[t]]) for t, sol in zip(ids, c["solution"]) if sol]
            rows.append(acc_row("heuristic end to end", split, strict, {
                "called_resolved": round(float(c["resolved"].mean()), 3),
                "rouge_l_vs_accepted": round(float(np.mean(rouge)), 3) if rouge else None,
                "tickets_per_min": round(heuristic_tpm)}))
        unsolved = cases[~cases.index.isin(labels["ticket_id"])]
        unresolved_share = float((~unsolved["resolved"]).mean())

        if args.llm_threads:
            test_ids = [t for t in labels.loc[labels["split"] == "test", "ticket_id"] if t in threads][: args.llm_threads]
            ex = LlmExtractor(args.llm, activity=msgs.loc[msgs.role == "responder", "author"].value_counts().to_dict())
            items = [(tickets.loc[t].to_dict() | {"ticket_id": t}, threads[t]) for t in test_ids]
            t0 = time.perf_counter()
            out = []
            for i in range(0, len(items), 8):
                out.extend(ex.extract(items[i: i + 8]))
            secs = time.perf_counter() - t0
            hits = [bool(r["solution_message_ids"]) and r["solution_message_ids"][0] == gold[t] for t, r in zip(test_ids, out)]
            fallbacks = sum(r["extractor"]["fallback"] is not None for r in out)
            rouge = [rouge_l(r["solution"], bodies[gold[t]]) for t, r in zip(test_ids, out) if r["solution"]]
            rows.append(acc_row(f"llm ({ex.llm.name})", "test", hits, {
                "fallbacks_to_heuristic": fallbacks, "called_resolved": round(np.mean([r["resolved"] for r in out]), 3),
                "rouge_l_vs_accepted": round(float(np.mean(rouge)), 3) if rouge else None,
                "tickets_per_min": round(len(items) / secs * 60, 2)}))

    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print(f"unsolved threads marked unresolved by the heuristic: {unresolved_share:.3f} of {len(unsolved)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "results": rows,
                                    "unsolved_marked_unresolved": round(unresolved_share, 3),
                                    "unsolved_threads": len(unsolved)}, indent=2, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
