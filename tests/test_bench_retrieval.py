"""Smoke test of bench/retrieval.py: exact + ANN parts at tiny sizes (the real run is in docs/benchmarks.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    # usearch is a dependency (pyproject.toml): the ANN part must have run (it passed vacuously without it)
    assert "rows" in ann, ann
    assert 0.0 <= ann["rows"][0]["recall@10"] <= 1.0
    cal = ann["calibration"]
    assert {r["expansion_search"] for r in ann["rows"]} == {256, 512, 1024, 2048, cal["expansion_search"]}
    assert sum(r["calibrated"] for r in ann["rows"]) == len({r["queries"] for r in ann["rows"]})
    assert cal["decision"] in {"hnsw", "exact"} and cal["queries"] == 200 and cal["recall"] <= 1.0


FORUM = REPO.parent / "shared" / "datasets" / "forum-support"


@pytest.mark.skipif(not (FORUM / "messages.csv").exists(), reason="forum-support data not present")
def test_ann_1m_part_composes_passages_from_forum_sentences(tmp_path):
    pytest.importorskip("usearch")
    out = tmp_path / "retrieval.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "retrieval.py"), "--parts", "ann_1m", "--embedder", "fake",
                    "--ann-size", "3000", "--ann-queries", "20", "--ann-ef", "512", "--out", str(out)],
                   check=True, cwd=REPO, timeout=300, capture_output=True)
    part = json.loads(out.read_text())["parts"]["ann_1m"]
    assert part["cases"] == 3000 and part["sentences"] > 30_000
    efs = {256, 512, part["calibration"]["expansion_search"]}
    assert {(r["queries"], r["expansion_search"]) for r in part["rows"]} == {
        (q, ef) for q in ("held-out sentences", "new passages") for ef in efs}
    check = part["composition_check"]
    assert check["pairs"] == 200 and -1 <= check["cosine_p10"] <= check["cosine_mean"] <= 1


def test_encoder_comparison_helpers_judge_against_torch_at_256():
    """bench/retrieval.py --encoder: every row is judged against torch at 256 tokens with the issue's limits."""
    sys.path.insert(0, str(REPO / "bench"))
    import retrieval_encoder as enc
    from casebase.retrieve.embed import FakeEmbedder

    assert enc.budgets_of([64, 128]) == [64, 128, 256] and enc.budgets_of([256]) == [256]
    rows = [{"encoder": "torch", "query_tokens": 256, "dense_mrr@10": 0.70},
            {"encoder": "torch", "query_tokens": 64, "dense_mrr@10": 0.69},
            {"encoder": "onnx-int8", "query_tokens": 128, "dense_mrr@10": 0.6899}]
    enc.verdicts(rows, ("dense_mrr@10",))
    assert [r["within_limits"] for r in rows] == [True, True, False]
    assert rows[2]["dense_mrr@10_delta"] == -0.0101
    fake = FakeEmbedder()
    speed = enc.time_queries([("torch", fake), ("onnx", fake)], [64, 256], ["a b c", "d e"], rounds=1)
    assert {(r["encoder"], r["query_tokens"]) for r in speed} == {(e, b) for e in ("torch", "onnx") for b in (64, 256)}
    assert all(r["ms_per_query"] > 0 and r["speedup_vs_torch_256"] > 0 for r in speed)
