"""Smoke test of bench/train_loop.py on the tiny random Llama (the real run, SmolLM2-135M, is in
docs/benchmarks.md): both loops train the same steps on the same examples and report comparable rows."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_both_loops_train_the_same_steps_and_are_scored_alike(tiny_base, tmp_path):
    out = tmp_path / "loop.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "train_loop.py"), "--base", f"local:{tiny_base}",
                           "--steps", "2", "--eval-every", "2", "--repeat", "1", "--out", str(out)],
                          cwd=REPO, timeout=150, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    rows = {r["loop"]: r for r in data["rows"]}
    assert rows.keys() == {"casebase", "transformers.Trainer"}
    ours, theirs = rows["casebase"], rows["transformers.Trainer"]
    assert ours["steps"] == theirs["steps"] == 2
    assert len(ours["step_tokens_seconds"]) == len(theirs["step_tokens_seconds"]) == 2
    assert ours["val_start"] == pytest.approx(theirs["val_start"], rel=1e-6)  # same base, LoRA init, val scoring
    for row in rows.values():
        assert row["tokens"] > 0 and row["tokens_per_s"] > 0 and row["peak_rss_gib"] > 0
        assert math.isfinite(row["val_kept"])
        assert row["tokens"] == sum(t for t, _ in row["step_tokens_seconds"])
    assert data["lines"]["casebase/train/lora.py"] > data["lines"][
        "bench child_trainer (Trainer variant, training part only)"] > 0
