"""Ingest throughput (clean + redact) against a plain pandas baseline.

    .venv/bin/python bench/ingest.py                 # forum-support + a 100k-ticket sample
    .venv/bin/python bench/ingest.py --tickets 5000  # a smaller generated sample

For each data set it times the full ``casebase ingest`` stage (read, check, clean,
redact, write) and, on the same files, the baseline ``pandas.read_csv`` + ``str.strip``
of the message bodies; it prints a table and writes bench/out/ingest.json.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casebase import progress  # noqa: E402
from casebase.ingest import run  # noqa: E402
from casebase.sample import write_sample  # noqa: E402
from casebase.workspace import Workspace  # noqa: E402

FORUM = REPO.parent / "shared" / "datasets" / "forum-support"


def baseline(tickets: Path, history: Path, body_cols: tuple[str, str]) -> float:
    """Seconds for plain pandas: read both tables and strip the text columns."""
    t0 = time.perf_counter()
    t = pd.read_csv(tickets, dtype=str)
    m = pd.read_csv(history, dtype=str)
    if body_cols[0] in t:
        t[body_cols[0]] = t[body_cols[0]].str.strip()
    m[body_cols[1]] = m[body_cols[1]].str.strip()
    return time.perf_counter() - t0


def measure(name: str, tickets: Path, history: Path, mapping: str, body_cols: tuple[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        manifest = run(Workspace.at(tmp), tickets, history, mapping=mapping)
        ours = time.perf_counter() - t0
    base = baseline(tickets, history, body_cols)
    c = manifest["counts"]
    n = c["messages"]["in"] + c["messages_from_ticket_body"]["in"]
    return {"data": name, "tickets": c["tickets"]["in"], "messages": n, "casebase_s": round(ours, 2),
            "casebase_msg_per_s": round(n / ours), "baseline_s": round(base, 3),
            "baseline_msg_per_s": round(n / base), "slowdown_vs_baseline": round(ours / base, 1),
            "clean_redact_msg_per_s": round(manifest["timings_s"]["messages_per_s"]),
            "redacted": c["redacted"], "workers": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=100_000, help="size of the generated sample (0 to skip)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "ingest.json")
    args = ap.parse_args()
    progress.set_enabled(False)
    rows = []
    if (FORUM / "messages.csv").exists():
        rows.append(measure("forum-support", FORUM / "tickets.csv", FORUM / "messages.csv", "canonical",
                            ("subject", "body")))
    else:
        print(f"forum-support not found at {FORUM}: skipped")
    if args.tickets:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            write_sample(Path(tmp), n_tickets=args.tickets, seed=1, fmt="csv")
            print(f"generated {args.tickets} sample tickets in {time.perf_counter() - t0:.1f}s")
            rows.append(measure(f"sample-{args.tickets}", Path(tmp) / "tickets.csv", Path(tmp) / "history.csv",
                                "saleslogix", ("PROBLEM", "ACTIVITYDESC")))
    cols = ["data", "tickets", "messages", "casebase_s", "casebase_msg_per_s", "baseline_s",
            "baseline_msg_per_s", "slowdown_vs_baseline", "clean_redact_msg_per_s"]
    print(pd.DataFrame(rows)[cols].to_string(index=False) if rows else "no data")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "cpus": os.cpu_count(), "results": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
