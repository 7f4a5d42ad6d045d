"""Smoke test of bench/retrieval.py: exact + ANN parts at tiny sizes (the real run is in docs/benchmarks.md)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_exact_and_ann_parts_run(tmp_path):
    out = tmp_path / "retrieval.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "retrieval.py"), "--parts", "exact,ann",
                    "--exact-sizes", "500", "--queries", "20", "--ann-size", "600", "--ann-queries", "10",
                    "--dim", "16", "--out", str(out)], check=True, cwd=REPO, timeout=120, capture_output=True)
    data = json.loads(out.read_text())
    row = data["parts"]["exact_search"]["rows"][0]
    assert row["cases"] == 500 and row["same_top10"] == 1.0
    assert "retrieval.py" in data["command"]
    ann = data["parts"]["ann"]
    if "rows" in ann:  # usearch installed
        assert 0.0 <= ann["rows"][0]["recall@10"] <= 1.0
        assert ann["rows"][0]["product_setting"] and {r["expansion_search"] for r in ann["rows"]} == {256, 512, 1024, 2048}

