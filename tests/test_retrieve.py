"""Retrieval: tokenizer, BM25 + dense + RRF, persistence, --add, exclusion, abstain, triage, CLI.

A tiny ERP-like workspace (train.jsonl / val.jsonl written here) and the hashing FakeEmbedder keep
these fast; one test runs the real all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.retrieve import (BM25Index, FakeEmbedder, add_to_index, build_index, get_embedder, load_index, rrf,
                               tokenize, vote)

runner = CliRunner()

TRAIN = [
    ("C01", "DB2 error SQL0911N deadlock or timeout when posting a goods receipt in MIGO for the main plant",
     "Increase LOCKTIMEOUT and rerun the posting after the nightly batch.", "Database", "High"),
    ("C02", "ORA-00942 table or view does not exist after the transport of a custom sales report",
     "Grant SELECT on the new table to the SAPSR3 schema and regenerate the report.", "Database", "High"),
    ("C03", "ORA-00904 invalid identifier in a custom ABAP select after the support package",
     "Adjust the field list in the select to the renamed column.", "Database", "Medium"),
    ("C04", "ORA-01555 snapshot too old during the month end batch job for controlling",
     "Increase the undo retention and reschedule the job.", "Database", "Medium"),
    ("C05", "ORA-12154 could not resolve the connect identifier when starting the SAP GUI",
     "Fix the tnsnames.ora entry on the terminal server.", "Database", "High"),
    ("C06", "Purchase order creation in ME21N fails with pricing error message 06 042",
     "Maintain the missing condition record in MEK1.", "Purchasing", "Medium"),
    ("C07", "ME22N cannot change the delivery date on a purchase order item after goods receipt",
     "Reverse the goods receipt first, then change the date.", "Purchasing", "Low"),
    ("C08", "BTE 01000821 is not triggered when posting a vendor invoice in FB60",
     "Activate the product in FIBF and assign the function module to the event.", "Finance", "Medium"),
    ("C09", "Payment run F110 proposal shows no open items for the vendor",
     "Set the payment method in the vendor master and rerun the proposal.", "Finance", "Medium"),
    ("C10", "After the upgrade to 2023 R2 the sales invoice layout lost the VAT number",
     "Re-add the VAT field to the layout in the report designer.", "Reporting", "Low"),
    ("C11", "Report designer crashes when opening the customer statement layout",
     "Repair the layout file and clear the designer cache.", "Reporting", "Low"),
    ("C12", "Transport import ends with return code 8, log in /usr/sap/trans/log shows a syntax error",
     "Fix the syntax error in the object and reimport the transport.", "Basis", "High"),
    ("C13", "SAP GUI 15.7.0.80 freezes when printing a sales order from VA03",
     "Update the SAP GUI to the next patch level.", "Basis", "Low"),
    ("C14", "User cannot log on, password locked after too many failed attempts",
     "Unlock the user in SU01 and set a new initial password.", "Basis", "Medium"),
    ("C15", "Stock transfer MB1B posting error M7 021 deficit of unrestricted stock",
     "Post the missing goods receipt before the transfer.", "Logistics", "Medium"),
    ("C16", "Sales order in VA01 has a credit block that prevents delivery creation",
     "Release the credit block in VKM3.", "Sales", "High"),
    ("C17", "DB2 error SQL0911N deadlock or timeout when posting a goods receipt in MIGO for the main plant again",
     "Increase LOCKTIMEOUT; same as before.", "Database", "High"),
    ("C18", "Intercompany billing document is not created for a cross company sales order",
     "Maintain the intercompany billing type in the sales document type.", "Sales", "Medium"),
    ("C19", "Asset depreciation run AFAB ends with error AA 687 for the fiscal year",
     "Open the fiscal year in the asset accounting settings.", "Finance", "Medium"),
    ("C20", "Tax number field is missing in the customer master XD02 screen",
     "Add the field to the screen layout of the account group.", "Sales", "Low"),
]
VAL = [
    ("V01", "ORA-00942 table does not exist when running the custom report", "Grant select.", "Database", "High"),
    ("V02", "Purchase order in ME21N fails with a pricing error", "Maintain the condition.", "Purchasing", "Medium"),
    ("V03", "Payment run proposal has no open items", "Set the payment method.", "Finance", "Medium"),
    ("V04", "Credit block on a sales order prevents the delivery", "Release in VKM3.", "Sales", "High"),
]
NEW = [("N01", "Error KI 235 account requires an assignment to a CO object in FB50",
        "Add a cost center to the line.", "Finance", "Medium"),
       ("N02", "MIRO invoice blocked for payment because of a price variance",
        "Release the invoice in MRBR.", "Finance", "Low")]
UNRELATED = "recipe for chocolate cake with fresh strawberries and whipped cream"


def write_cases(path, rows):
    with open(path, "w") as f:
        for i, (cid, problem, solution, category, urgency) in enumerate(rows):
            f.write(json.dumps({"ticket_id": cid, "opened_at": f"2024-01-{i + 1:02d} 09:00:00", "problem": problem,
                                "solution": solution, "category": category, "urgency": urgency,
                                "solution_message_ids": [f"{cid}.1"]}) + "\n")


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, remembering every text it was asked to encode."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return super().encode(texts)


@pytest.fixture
def case_ws(ws):
    write_cases(ws.root / "train.jsonl", TRAIN)
    write_cases(ws.root / "val.jsonl", VAL)
    return ws


@pytest.fixture
def built(case_ws):
    build_index(case_ws, model="fake")
    return case_ws


def ids(hit):
    return [r["case_id"] for r in hit.results]


def test_tokenizer_keeps_identifiers_whole():
    toks = tokenize("Error SQL0911N and ORA-00942 in ME21N, BTE 01000821 after 2023 R2 with GUI 15.7.0.80; "
                    "see /usr/sap/trans/log. The follow-up is pending.")
    for t in ("sql0911n", "ora-00942", "me21n", "bte", "01000821", "2023 r2", "2023", "r2", "15.7.0.80",
              "/usr/sap/trans/log", "follow-up", "follow", "pending"):
        assert t in toks, t
    assert "ora" not in toks and "00942" not in toks and "the" not in toks and "is" not in toks
    assert tokenize("ORA-00942.") == ["ora-00942"] and tokenize("2019R1") == ["2019 r1", "2019", "r1"]


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_exact_code_ranks_first(built, mode):
    index = load_index(built)
    assert ids(index.search("ORA-00942", k=5, mode=mode))[0] == "C02"
    assert ids(index.search("01000821", k=5, mode=mode))[0] == "C08"
    assert ids(index.search("ME21N", k=5, mode=mode))[0] == "C06"
    bm25_only = index.search("ORA-00942", k=5, mode="bm25")
    assert ids(bm25_only) == ["C02"]  # ORA-00904, ORA-01555, ORA-12154 share no token with it


def test_rrf_matches_hand_computation():
    fused = rrf([["a", "b", "c"], ["c", "a"]], weights=[1.0, 2.0], k=60)
    expected = {"a": 1 / 61 + 2 / 62, "b": 1 / 62, "c": 1 / 63 + 2 / 61}
    assert [item for item, _ in fused] == ["c", "a", "b"]
    assert dict(fused) == pytest.approx(expected)
    assert rrf([["x", "y"], ["y", "x"]]) == [("x", pytest.approx(1 / 61 + 1 / 62)), ("y", pytest.approx(1 / 61 + 1 / 62))]


def test_vote_weights_and_confidence():
    assert vote(["A", "B", "A", None], [0.9, 0.8, 0.3, 0.5]) == {
        "value": "A", "confidence": pytest.approx(1.2 / 2.0), "votes": {"A": 1.2, "B": 0.8}}
    assert vote(["A", "B"], [-0.5, 0.2])["value"] == "B"  # negative similarity does not vote
    assert vote(["A", "B"], [0.4, 0.4]) == {"value": "A", "confidence": 0.5, "votes": {"A": 0.4, "B": 0.4}}
    assert vote([None, ""], [1.0, 1.0]) == {"value": None, "confidence": 0.0, "votes": {}}


def test_triage_in_search_is_the_weighted_vote_of_dense_neighbours(built):
    index = load_index(built)
    hit = index.search("ORA error table does not exist in the database", k=3)
    q = get_embedder("fake").encode(["ORA error table does not exist in the database"])[0]
    sims = index.embeddings @ q
    top = np.argsort(-sims, kind="stable")[:10]
    expected = vote(index.metadata["category"].to_numpy()[top].tolist(), sims[top].tolist())
    assert hit.triage["category"]["value"] == expected["value"] == "Database"
    assert hit.triage["category"]["confidence"] == pytest.approx(expected["confidence"], abs=1e-4)
    assert set(hit.triage) == {"category", "urgency"}


def test_files_and_persistence_round_trip(built):
    root = built.root / "index"
    for name in ("embeddings.npy", "metadata.parquet", "manifest.json", "bm25/params.index.json"):
        assert (root / name).exists(), name
    manifest = json.loads((root / "manifest.json").read_text())
    assert (manifest["model"], manifest["dimension"], manifest["count"], manifest["text"]) == ("fake", 64, 20, "problem")
    assert manifest["inputs"]["train"]["sha256"] and built.read_manifest("index")["counts"]["cases"] == 20
    emb = np.load(root / "embeddings.npy")
    assert emb.dtype == np.float32 and emb.shape == (20, 64)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    meta = pd.read_parquet(root / "metadata.parquet")
    assert list(meta.columns) == ["case_id", "problem", "solution", "category", "urgency", "opened_at", "text"]
    assert np.allclose(emb, get_embedder("fake").encode(meta["text"].tolist()), atol=1e-6)
    fresh = BM25Index.build(meta["text"].tolist())
    first, second = load_index(built), load_index(built)
    for query in ("ORA-00942 table missing", "goods receipt deadlock", "VAT number on the invoice"):
        assert np.array_equal(first.bm25.scores(query), fresh.scores(query))
        for mode in ("hybrid", "dense", "bm25"):
            assert first.search(query, k=5, mode=mode) == second.search(query, k=5, mode=mode)


def test_problem_plus_solution_mode_and_up_to_date_skip(case_ws):
    build_index(case_ws, model="fake")
    again = build_index(case_ws, model="fake")
    assert again["skipped"] is True
    counting = CountingEmbedder()
    m = build_index(case_ws, text="problem+solution", embedder=counting)
    assert m["config"]["text"] == "problem+solution" and m["counts"]["reused_embeddings"] == 0
    index = load_index(case_ws)
    assert index.metadata["text"][9].endswith("report designer.")
    assert ids(index.search("grant select SAPSR3 schema", k=1, mode="bm25")) == ["C02"]  # only in a solution
    forced = build_index(case_ws, text="problem+solution", embedder=counting, force=True)
    assert forced["counts"]["reused_embeddings"] == 20  # same texts, same model: nothing re-embedded


def test_add_appends_without_reembedding(built, tmp_path):
    before = (built.root / "index" / "embeddings.npy").read_bytes()
    new = tmp_path / "new.jsonl"
    write_cases(new, NEW)
    counting = CountingEmbedder()
    manifest = add_to_index(built, new, embedder=counting)
    assert sorted(counting.seen) == ["Error KI 235 account requires an assignment to a CO object in FB50",
                                     "MIRO invoice blocked for payment because of a price variance"]
    assert (built.root / "index" / "embeddings.npy").read_bytes() == before  # a segment: the main index is kept
    assert manifest["counts"] == {"cases": 22, "added": 2, "embedded": 2}
    index = load_index(built)
    assert len(index) == 22 and index.n_main == 20
    assert np.allclose(index._vectors([20, 21]), FakeEmbedder().encode([c[1] for c in NEW]), atol=1e-6)
    assert ids(index.search("MRBR price variance MIRO", k=1, mode="bm25")) == ["N02"]  # the segment's BM25
    from casebase.errors import CasebaseError
    with pytest.raises(CasebaseError, match="already in the index"):
        add_to_index(built, new)


def test_self_exclusion_removes_the_case_and_its_near_duplicate(built):
    index = load_index(built)
    query = TRAIN[0][1]
    assert float(index.embeddings[0] @ index.embeddings[16]) >= 0.95  # C17 is a near-duplicate of C01
    assert set(ids(index.search(query, k=3))[:2]) == {"C01", "C17"}
    for mode in ("hybrid", "dense", "bm25"):
        left = ids(index.search(query, k=5, mode=mode, exclude="C01"))
        assert "C01" not in left and "C17" not in left, mode
    only_self = ids(index.search(query, k=5, exclude="C01", near_duplicate=1.01))
    assert "C01" not in only_self and only_self[0] == "C17"
    many = index.search_many([query, query], k=3, exclude=["C01", None])
    assert "C01" not in ids(many[0]) and "C01" in ids(many[1])


def test_abstain_on_unrelated_ticket_with_calibrated_threshold(built):
    index = load_index(built)
    emb = get_embedder("fake")
    best = (emb.encode([p for _, p, *_ in VAL]) @ index.embeddings.T).max(axis=1)
    assert index.manifest["abstain"]["method"] == "val-quantile"
    assert index.threshold == pytest.approx(float(np.quantile(best, 0.10)), abs=1e-4)
    far = index.search(UNRELATED)
    assert far.abstained is True and far.best_similarity < index.threshold
    near = index.search(TRAIN[1][1])
    assert near.abstained is False and near.best_similarity == pytest.approx(1.0, abs=1e-4)


def test_default_threshold_without_val(ws):
    write_cases(ws.root / "train.jsonl", TRAIN)
    manifest = build_index(ws, model="fake")
    assert manifest["abstain"]["threshold"] == 0.3 and manifest["abstain"]["method"] == "default"


def test_bm25_mode_with_unknown_words_returns_nothing_hybrid_falls_back_to_dense(built):
    index = load_index(built)
    assert index.search("zzzz qqqq", mode="bm25").results == []
    assert len(index.search("zzzz qqqq", k=4, mode="hybrid").results) == 4


def test_ann_index_when_usearch_is_installed(case_ws):
    pytest.importorskip("usearch")
    manifest = build_index(case_ws, model="fake", ann_threshold=5, ann="always")
    ann = manifest["ann"]
    assert ann["kind"] == "hnsw" and (case_ws.root / "index" / "hnsw.usearch").exists()
    assert ann["recall@10"] >= 0.95 and ann["calibration"]["queries"] == 20
    index = load_index(case_ws)
    assert index.ann is not None and index.ann.expansion_search == ann["expansion_search"]
    assert ids(index.search("ORA-00942 table or view does not exist", k=3, mode="dense"))[0] == "C02"
    left = ids(index.search(TRAIN[0][1], k=5, exclude="C01"))
    assert "C01" not in left and "C17" not in left


def test_add_beside_a_graph_is_searched_exactly_in_the_segment(case_ws, tmp_path):
    pytest.importorskip("usearch")
    build_index(case_ws, model="fake", ann_threshold=5, ann="always")
    new = tmp_path / "new.jsonl"
    write_cases(new, NEW)
    add_to_index(case_ws, new)
    index = load_index(case_ws)
    assert index.ann is not None and len(index.ann.index) == 20 and len(index) == 22  # the graph is not rewritten
    assert ids(index.search("MRBR price variance MIRO invoice blocked", k=1, mode="dense")) == ["N02"]
    assert "N02" not in ids(index.search("MRBR price variance MIRO invoice blocked", k=5, exclude="N02"))
    merged = build_index(case_ws, model="fake", ann_threshold=5, ann="always")  # the next build merges it
    assert merged["counts"]["retained"] == 2 and len(load_index(case_ws).ann.index) == 22


def test_ann_calibration_finds_the_effort_that_reaches_the_target():
    pytest.importorskip("usearch")
    from casebase.retrieve.ann import EF_STEPS, HNSW, exact_neighbours

    rng = np.random.default_rng(0)
    E = rng.standard_normal((3000, 64)).astype(np.float32)
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    ann = HNSW.build(E)
    cal = ann.calibrate(E, target=0.99, queries=100)
    assert cal["reached"] and cal["recall"] >= 0.99 and ann.expansion_search == cal["expansion_search"]
    assert [s["expansion_search"] for s in cal["sweep"]] == list(EF_STEPS[:len(cal["sweep"])])
    assert all(s["recall"] < 0.99 for s in cal["sweep"][:-1])  # the smallest step that reaches it
    # the recall it reports is the recall a caller gets: k nearest other rows, checked independently
    rows = np.arange(0, 3000, 30)
    truth = exact_neighbours(E, rows, 10)
    got = [set(ann.search(E[r], 11)[0][0].tolist()) - {int(r)} for r in rows]
    assert np.mean([len(g & set(t.tolist())) / 10 for g, t in zip(got, truth)]) >= 0.97


def test_auto_ann_keeps_exact_search_when_the_graph_does_not_pay(case_ws, monkeypatch):
    pytest.importorskip("usearch")
    from casebase.retrieve.ann import HNSW

    def fake_calibration(**measured):
        def calibrate(self, embeddings, target=0.95, **_):
            return {"target_recall": target, "expansion_search": 4096, "sweep": [], **measured}
        return calibrate

    monkeypatch.setattr(HNSW, "calibrate", fake_calibration(reached=False, recall=0.8, ann_p50_ms=1.0,
                                                            exact_p50_ms=2.0))
    ann = build_index(case_ws, model="fake", ann_threshold=5)["ann"]
    assert ann["kind"] == "exact" and "does not reach --ann-recall 0.95" in ann["note"]
    assert not (case_ws.root / "index" / "hnsw.usearch").exists()
    monkeypatch.setattr(HNSW, "calibrate", fake_calibration(reached=True, recall=0.97, ann_p50_ms=3.0,
                                                            exact_p50_ms=2.0))
    ann = build_index(case_ws, model="fake", ann_threshold=5, force=True)["ann"]
    assert ann["kind"] == "exact" and "no faster than exact" in ann["note"]
    monkeypatch.setattr(HNSW, "calibrate", fake_calibration(reached=True, recall=0.97, ann_p50_ms=1.0,
                                                            exact_p50_ms=2.0))
    ann = build_index(case_ws, model="fake", ann_threshold=5, force=True)["ann"]
    assert ann["kind"] == "hnsw" and ann["expansion_search"] == 4096
    assert build_index(case_ws, model="fake", ann_threshold=5, ann="never")["ann"]["kind"] == "exact"
    with pytest.raises(CasebaseError, match="--ann"):
        build_index(case_ws, model="fake", ann="sometimes")
    result = runner.invoke(app, ["index", "--model", "fake", "--ann-recall", "1.5", "--workspace", str(case_ws.root)])
    assert result.exit_code == 2 and "--ann-recall 1.5" in result.output and "Traceback" not in result.output


def test_cli_index_then_queries_jsonl(case_ws, tmp_path):
    w = str(case_ws.root)
    result = runner.invoke(app, ["index", "--model", "fake", "--workspace", w, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["cases"] == 20
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "text": "ORA-00942 table or view does not exist after a transport"},
        {"id": "q2", "text": UNRELATED},
        {"id": "q3", "text": TRAIN[0][1], "exclude_id": "C01"}]) + "\n")
    result = runner.invoke(app, ["search", "--queries", str(queries), "--k", "3", "--workspace", w])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2", "q3"]
    assert lines[0]["results"][0]["case_id"] == "C02" and len(lines[0]["results"]) == 3
    assert {"case_id", "score", "problem", "solution", "category", "urgency"} <= set(lines[0]["results"][0])
    assert lines[0]["abstained"] is False and lines[1]["abstained"] is True
    assert set(lines[0]["triage"]["category"]) >= {"value", "confidence"}
    assert not {"C01", "C17"} & {r["case_id"] for r in lines[2]["results"]}
    single = runner.invoke(app, ["search", UNRELATED, "--workspace", w])
    assert single.exit_code == 0 and "no similar past case" in single.stdout
    shown = runner.invoke(app, ["search", "ORA-00942", "--workspace", w, "--json", "--exclude-id", "C02"])
    assert "C02" not in {r["case_id"] for r in json.loads(shown.stdout)["results"]}


def test_cli_errors_name_the_next_command(ws, tmp_path):
    result = runner.invoke(app, ["search", "ORA-00942", "--workspace", str(ws.root)])
    assert result.exit_code == 2 and "casebase index" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["index", "--model", "fake", "--workspace", str(ws.root)])
    assert result.exit_code == 2 and "casebase split" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\nnot json\n')
    write_cases(ws.root / "train.jsonl", TRAIN)
    runner.invoke(app, ["index", "--model", "fake", "--workspace", str(ws.root)])
    result = runner.invoke(app, ["search", "--queries", str(bad), "--workspace", str(ws.root)])
    assert result.exit_code == 2 and "line 1" in result.output and "line 2" in result.output
    result = runner.invoke(app, ["search", "x", "--mode", "fuzzy", "--workspace", str(ws.root)])
    assert result.exit_code == 2 and "'hybrid', 'dense' or 'bm25'" in result.output


@pytest.mark.parametrize("name", ["index", "search"])
def test_help_shows_an_example(name):
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output and f"casebase {name}" in result.output


def test_real_minilm_finds_a_paraphrase(case_ws):
    """The bundled all-MiniLM-L6-v2, offline: a reworded ticket finds its case in the top 3."""
    manifest = build_index(case_ws)
    assert manifest["config"]["model"] == "sentence-transformers/all-MiniLM-L6-v2" and manifest["counts"]["dimension"] == 384
    index = load_index(case_ws)
    hits = index.search_many(["the vendor payment proposal does not list any open invoices",
                              "user account is locked because of wrong passwords"], k=3, mode="dense")
    assert "C09" in ids(hits[0]) and "C14" in ids(hits[1])
    assert hits[0].triage["category"]["value"] == "Finance"


def test_minilm_batch_size_small_on_cpu_and_set_by_the_environment(monkeypatch):
    from casebase.retrieve.embed import CPU_BATCH, SentenceTransformerEmbedder

    monkeypatch.delenv("CASEBASE_EMBED_BATCH_SIZE", raising=False)
    plain = SentenceTransformerEmbedder(None, device="cpu")
    assert plain.batch_size == CPU_BATCH
    monkeypatch.setenv("CASEBASE_EMBED_BATCH_SIZE", "16")
    sixteen = SentenceTransformerEmbedder(None, device="cpu")
    assert sixteen.batch_size == 16
    texts = ["ORA-00942 table or view does not exist", "user locked after wrong passwords", "short"]
    assert np.allclose(plain.encode(texts), sixteen.encode(texts), atol=1e-5)  # batching does not change vectors
    monkeypatch.setenv("CASEBASE_EMBED_BATCH_SIZE", "lots")
    with pytest.raises(CasebaseError, match="CASEBASE_EMBED_BATCH_SIZE"):
        SentenceTransformerEmbedder(None, device="cpu")


def test_bm25_files_do_not_depend_on_the_hash_seed(tmp_path):
    """The same cases make the same BM25 files in every process (bm25s numbered its vocabulary in set order,
    which follows PYTHONHASHSEED: `casebase rerun --check` of index reported them as changed)."""
    import hashlib
    import os
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path; from casebase.retrieve.bm25 import BM25Index; "
              "BM25Index.build(['ORA-00942 table missing in ME21N', 'printer queue stuck in SPAD', "
              "'ME21N pricing error 06 042', 'deadlock SQL0911N when saving']).save(Path(sys.argv[1]))")
    digests = set()
    for seed in ("1", "2", "3"):
        out = tmp_path / seed
        out.mkdir()
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        digests.add(hashlib.sha256(b"".join(p.read_bytes() for p in sorted(out.iterdir()))).hexdigest())
    assert len(digests) == 1
