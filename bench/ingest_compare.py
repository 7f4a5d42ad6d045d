"""Ingest of forum-support by two versions of casebase side by side: speed, and whether the output is the same.

    .venv/bin/python bench/ingest_compare.py --rev 09e65ad          # that commit against the working tree, 2 rounds
    .venv/bin/python bench/ingest_compare.py --rev 09e65ad --rounds 3

Each round runs ``casebase.ingest.run`` once per version, alternating, each in a fresh process (imports before the
clock starts, as in bench/ingest.py), into workspaces that share one pseudonym key, so messages.parquet and
tickets.parquet can be compared byte for byte after reading. The old version is a ``git worktree`` of ``--rev``
in a temporary folder, run with this checkout's .venv. Prints messages/s of the whole stage and of clean + redact.
"""

from __future__ import annotations

import _venv  # noqa: F401  (re-runs under .venv/bin/python)
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORUM = REPO.parent / "shared" / "datasets" / "forum-support"

ONE_RUN = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from casebase.ingest import run
from casebase.workspace import Workspace
ws = Workspace.at(sys.argv[2]); ws.secret.parent.mkdir(parents=True, exist_ok=True); ws.secret.write_text("0" * 64)
t0 = time.perf_counter()
m = run(ws, sys.argv[3] + "/tickets.csv", sys.argv[3] + "/messages.csv", mapping="canonical")
dt = time.perf_counter() - t0
n = m["counts"]["messages"]["in"] + m["counts"]["messages_from_ticket_body"]["in"]
print(json.dumps({"seconds": dt, "messages": n, "msg_per_s": n / dt, "clean_redact_msg_per_s": m["timings_s"]["messages_per_s"]}))
"""


def one(code: Path, ws: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", ONE_RUN, str(code), str(ws), str(FORUM)], capture_output=True,
                         text=True, check=True, cwd=code)
    return json.loads(out.stdout.strip().splitlines()[-1])


def same_output(a: Path, b: Path) -> bool:
    import pandas as pd

    return all(pd.read_parquet(a / f).equals(pd.read_parquet(b / f)) for f in ("tickets.parquet", "messages.parquet"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the commit to compare the working tree with")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if not FORUM.exists():
        sys.exit(f"no forum-support data at {FORUM}")
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(old), args.rev], check=True)
        try:
            rows = {"old": [], "new": []}
            for r in range(args.rounds):
                for name, code in (("old", old), ("new", REPO)):
                    rows[name].append(one(code, Path(tmp) / f"ws-{name}-{r}"))
            same = same_output(Path(tmp) / "ws-old-0", Path(tmp) / "ws-new-0")
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    for name, label in (("old", args.rev), ("new", "working tree")):
        e2e = [f"{x['msg_per_s']:,.0f}" for x in rows[name]]
        cr = [f"{x['clean_redact_msg_per_s']:,.0f}" for x in rows[name]]
        print(f"{label:>14}: whole stage {' / '.join(e2e)} msg/s; clean + redact {' / '.join(cr)} msg/s "
              f"({rows[name][0]['messages']:,} messages)")
    print(f"same messages.parquet and tickets.parquet: {same}")


if __name__ == "__main__":
    main()
