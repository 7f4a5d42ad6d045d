"""Smoke test of bench/train_gpu.py on the tiny model (the real runs need a GPU: see the script's docstring)."""

import json
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def test_tiny_lora_rows_run_and_qlora_is_skipped_on_cpu(tmp_path):
    out = tmp_path / "x.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "train_gpu.py"), "--models", "tiny",
                           "--modes", "lora,qlora", "--seq-len", "32", "--steps", "2", "--warmup", "1",
                           "--out", str(out)], cwd=REPO, timeout=120, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tokens/s" in proc.stdout
    data = json.loads(out.read_text())
    assert data["versions"]["torch"] == torch.__version__
    rows = data["rows"]
    assert [(r["mode"], r["gradient_checkpointing"]) for r in rows] == [
        ("lora", False), ("lora", True), ("qlora", False), ("qlora", True)]
    for row in rows:
        assert row["model"] == "tiny" and row["seq_len"] == 32 and row["batch_size"] == 1
    for row in rows[:2]:
        assert row["status"] == "ok", row["status"]
        assert row["tokens_per_s"] > 0 and row["step_s"] > 0
        assert 0 < row["trainable_params"] < row["total_params"]
        if not torch.cuda.is_available():
            assert row["peak_mem_gib"] is None and row["host_peak_rss_gib"] > 0
    if not torch.cuda.is_available():
        for row in rows[2:]:
            assert row["status"].startswith("skipped: ") and row["tokens_per_s"] is None
