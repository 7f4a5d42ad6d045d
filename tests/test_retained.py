"""Retained cases: the durable file, the append segment, its merge by `casebase index`, the generation reload,
crash safety of an append and `casebase forget` (fake embedder, the tiny workspace of test_retrieve)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from casebase.retrieve import build_index, load_index
from casebase.retrieve.retained import (GENERATION, RETAINED, VECTORS, DuplicateCase, append_cases, id_key,
                                        read_generation, read_vectors)
from test_retrieve import NEW, TRAIN

AUTH = {"authorization": "Bearer s3cret"}
MORE = [  # retained cases that share words with train cases, so rankings mix main and segment rows
    ("R01", "Error M7 090 quantity unit not defined in MIGO for the goods receipt of a batch",
     "Maintain the unit of measure in MM02.", "Logistics", "Medium"),
    ("R02", "ORA-00942 table or view does not exist in the custom purchasing report after the transport",
     "Grant SELECT on the table to the schema.", "Database", "High"),
    ("R03", "Payment run F110 ends without a proposal for the vendor in company code 1000",
     "Maintain the house bank for the payment method.", "Finance", "Medium"),
    ("R04", "SAP GUI freezes when printing the delivery note from VL03N",
     "Update the printer driver on the terminal server.", "Basis", "Low"),
]


def case(cid, problem, solution, category, urgency) -> dict:
    return {"ticket_id": cid, "opened_at": "", "problem": problem, "solution": solution, "category": category,
            "urgency": urgency}


def ids(hit) -> list[str]:
    return [r["case_id"] for r in hit.results]


def index_files(ws) -> dict[str, str]:
    root = ws.root / "index"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def client(indexed_ws):
    from casebase.llm import clear_cache
    from casebase.serve.app import create_app

    clear_cache()
    with TestClient(create_app(indexed_ws, arm="retrieval", token="s3cret"), base_url="http://127.0.0.1") as c:
        yield c
    clear_cache()


def test_a_case_retained_by_the_server_survives_casebase_index(client, indexed_ws):
    body = {"ticket_id": "R1", "subject": "Goods issue", "body": "Error M7 090 quantity unit not defined in MIGO",
            "solution": "Maintain the unit of measure in MM02.", "category": "Logistics"}
    assert client.post("/api/cases", json=body, headers=AUTH).status_code == 201
    line = json.loads((indexed_ws.root / RETAINED).read_text())
    assert line["ticket_id"] == "R1" and line["retained_at"] and "agent" in line
    manifest = build_index(indexed_ws, model="fake")  # what `casebase index` runs: it must keep the case
    assert manifest["counts"]["retained"] == 1 and manifest["counts"]["cases"] == len(TRAIN) + 1
    sha = hashlib.sha256((indexed_ws.root / RETAINED).read_bytes()).hexdigest()
    assert manifest["inputs"]["retained"]["sha256"] == sha
    index = load_index(indexed_ws)
    assert index.n_main == len(TRAIN) + 1 and len(index) == len(TRAIN) + 1  # merged: the segment is empty
    assert ids(index.search("M7 090 quantity unit MIGO", k=1)) == ["R1"]
    assert build_index(indexed_ws, model="fake").get("skipped")  # nothing new since: up to date
    assert read_vectors(indexed_ws.root, 64)[0] == {}  # the merged case's vector left the segment


def test_a_retain_embeds_one_case_and_leaves_the_main_index_alone(indexed_ws):
    from casebase.retrieve.embed import FakeEmbedder

    class Counting(FakeEmbedder):
        seen: list = []

        def encode(self, texts):
            self.seen.extend(texts)
            return super().encode(texts)

    before = index_files(indexed_ws)
    index = load_index(indexed_ws, embedder=Counting())
    assert append_cases(index, [case(*MORE[0])]) == len(TRAIN) + 1
    assert Counting.seen == [MORE[0][1]]  # only the new case was embedded
    assert index_files(indexed_ws) == before  # no main file rewritten (embeddings, BM25, metadata, manifest)
    assert ids(index.search("M7 090 quantity unit MIGO", k=1)) == ["R01"]
    with pytest.raises(DuplicateCase, match="already in the index"):
        append_cases(index, [case(*MORE[0])])
    with pytest.raises(DuplicateCase, match="already in the index"):
        append_cases(index, [case("C01", "a train id", "s", None, None)])


def test_appended_segment_searches_like_a_rebuild(indexed_ws):
    index = load_index(indexed_ws)
    for row in [*NEW, *MORE]:
        append_cases(index, [case(*row)])
    queries = [p for _, p, *_ in [*TRAIN, *NEW, *MORE]] + ["ORA-00942 report transport", "payment proposal vendor"]
    everything = [c for c, *_ in [*TRAIN, *NEW, *MORE]]
    k = len(everything)  # all cases: the fake embedder makes exact ties, which float rounding may order either way
    appended = {m: index.search_many(queries, k=k, mode=m) for m in ("dense", "hybrid", "bm25")}
    excluded = index.search_many(queries, k=5, mode="dense", exclude=everything + [None] * 2)
    build_index(indexed_ws, model="fake")
    rebuilt = load_index(indexed_ws)
    assert rebuilt.n_main == len(index) == k and len(rebuilt) == k
    again = {m: rebuilt.search_many(queries, k=k, mode=m) for m in ("dense", "hybrid", "bm25")}

    def canonical(hit) -> list[tuple[float, str]]:  # the ranking, ties ordered by id
        return sorted(((-round(r["score"], 5), r["case_id"]) for r in hit.results))

    compared = 0
    for a, b in zip(appended["dense"], again["dense"]):  # dense: the same cases with the same scores, same triage
        assert canonical(a) == canonical(b) and a.best_similarity == b.best_similarity
        scores = [round(r["score"], 5) for r in a.results]
        if scores[9] != scores[10]:  # the triage vote's 10 neighbours are not cut inside a tie
            assert a.triage == b.triage
            compared += 1
    assert compared >= len(queries) // 2
    for a, b in zip(excluded, rebuilt.search_many(queries, k=5, mode="dense", exclude=everything + [None] * 2)):
        assert [r["score"] for r in a.results] == [r["score"] for r in b.results]
    # BM25: a segment case scores as in the rebuilt index (same statistics); main cases differ by IDF only
    seg_ids = {c for c, *_ in [*NEW, *MORE]}
    for a, b in zip(appended["bm25"], again["bm25"]):
        ours = {r["case_id"]: r["bm25_score"] for r in a.results}
        theirs = {r["case_id"]: r["bm25_score"] for r in b.results}
        for cid in seg_ids & set(ours) & set(theirs):
            assert ours[cid] == pytest.approx(theirs[cid], rel=1e-3, abs=1e-3)
    agree = sum(ids(a)[:1] == ids(b)[:1] for a, b in zip(appended["hybrid"], again["hybrid"]))
    assert agree == len(queries)  # hybrid top-1 is the same for every query on this fixture


def test_another_index_over_the_workspace_sees_a_retained_case_within_a_second(indexed_ws):
    reader, writer = load_index(indexed_ws), load_index(indexed_ws)
    query = "M7 090 quantity unit MIGO batch"
    assert "R01" not in ids(reader.search(query, k=3))
    append_cases(writer, [case(*MORE[0])])
    t0, found = time.monotonic(), False
    while time.monotonic() - t0 < 3 and not found:
        found = ids(reader.search(query, k=1)) == ["R01"]
        time.sleep(0.05)
    assert found and time.monotonic() - t0 < 1.5
    assert len(reader) == len(writer) == len(TRAIN) + 1 and not reader.stale
    build_index(indexed_ws, model="fake")  # a rebuild: loaded indexes load the new main index
    time.sleep(1.05)
    fresh = reader.current()
    assert fresh is not reader and fresh.n_main == len(TRAIN) + 1 and ids(fresh.search(query, k=1)) == ["R01"]


APPEND = """
import sys
from casebase.retrieve import load_index
from casebase.retrieve.retained import append_cases
from casebase.workspace import Workspace
index = load_index(Workspace.at(sys.argv[1]))
for i in range(int(sys.argv[3])):
    append_cases(index, [{"ticket_id": f"{sys.argv[2]}-{i}", "problem": f"retained problem {sys.argv[2]} {i} " * 20,
                          "solution": "s"}])
"""


def test_two_processes_appending_never_interleave_and_a_server_sees_both(indexed_ws, tmp_path):
    from casebase.serve.engine import Suggester

    engine = Suggester(indexed_ws, arm="retrieval")
    script = tmp_path / "append.py"
    script.write_text(APPEND)
    procs = [subprocess.Popen([sys.executable, str(script), str(indexed_ws.root), name, "15"]) for name in "AB"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    lines = (indexed_ws.root / RETAINED).read_text().splitlines()
    assert sorted(json.loads(line)["ticket_id"] for line in lines) == sorted(f"{n}-{i}" for n in "AB" for i in range(15))
    time.sleep(1.05)
    assert engine.search("retained problem B 7", k=1).results[0]["case_id"] == "B-7"
    assert len(engine.index) == len(TRAIN) + 30
    with pytest.raises(DuplicateCase):  # an id another process retained: the app answers 409
        engine.retain(case("A-3", "again", "s", None, None))


def test_a_kill_mid_append_corrupts_nothing_and_a_missing_vector_is_embedded_again(indexed_ws):
    before = index_files(indexed_ws)
    index = load_index(indexed_ws)
    append_cases(index, [case(*MORE[0])])
    root = indexed_ws.root
    # killed between the two appends: the line is there, its vector is not
    with open(root / RETAINED, "a") as f:
        f.write(json.dumps(case(*MORE[1])) + "\n")
    # and then killed mid-write: half a line, half a vector record
    with open(root / RETAINED, "a") as f:
        f.write(json.dumps(case(*MORE[2]))[:40])
    with open(root / VECTORS, "ab") as f:
        f.write(b"\x01" * 50)
    loaded = load_index(indexed_ws)
    assert len(loaded) == len(TRAIN) + 2  # R01 and R02 (re-embedded); R03's half line is no case
    assert ids(loaded.search("ORA-00942 custom purchasing report transport", k=1, mode="dense")) == ["R02"]
    assert index_files(indexed_ws) == before  # the main index is whole
    append_cases(loaded, [case(*MORE[3])])  # the next append cuts the torn tails first
    rows = [json.loads(line) for line in (root / RETAINED).read_text().splitlines()]
    assert [r["ticket_id"] for r in rows] == ["R01", "R02", "R04"]
    vectors, end = read_vectors(root, 64)
    assert set(vectors) == {id_key("R01"), id_key("R04")} and end == (root / VECTORS).stat().st_size
    assert len(load_index(indexed_ws)) == len(TRAIN) + 3


def test_forget_erases_a_retained_case_from_the_file_the_vectors_and_search(indexed_ws):
    from typer.testing import CliRunner

    from casebase.cli import app

    index = load_index(indexed_ws)
    append_cases(index, [case(*MORE[0]), case(*MORE[1])])
    generation = read_generation(indexed_ws.root)
    r = CliRunner().invoke(app, ["forget", "--workspace", str(indexed_ws.root), "--ticket", "R01"])
    assert r.exit_code == 0, r.output
    text = (indexed_ws.root / RETAINED).read_text()
    assert "R01" not in text and "M7 090" not in text and "R02" in text
    assert set(read_vectors(indexed_ws.root, 64)[0]) == {id_key("R02")}
    assert read_generation(indexed_ws.root)[1] != generation[1]  # a new base: loaded indexes reload
    time.sleep(1.05)
    fresh = index.current()
    assert fresh is not index and "R01" not in fresh._row and "R02" in fresh._row
    assert "R01" not in ids(fresh.search("M7 090 quantity unit MIGO", k=5))
    assert (indexed_ws.root / GENERATION).exists()


def test_index_add_keeps_its_cases_through_a_rebuild(indexed_ws, tmp_path):
    from typer.testing import CliRunner

    from casebase.cli import app

    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps(case(*row)) + "\n" for row in NEW))
    runner = CliRunner()
    r = runner.invoke(app, ["index", "--workspace", str(indexed_ws.root), "--add", str(new)])
    assert r.exit_code == 0, r.output
    assert "added 2 cases" in r.output
    r = runner.invoke(app, ["index", "--workspace", str(indexed_ws.root), "--model", "fake"])
    assert r.exit_code == 0, r.output
    index = load_index(indexed_ws)
    assert {"N01", "N02"} <= set(index.metadata["case_id"]) and index.n_main == len(TRAIN) + 2
    np.testing.assert_allclose(index.embeddings[-2:], index.embedder.encode([p for _, p, *_ in NEW]), atol=1e-6)
    assert Path(indexed_ws.root / RETAINED).read_text().count("\n") == 2


def test_a_forgotten_case_is_gone_from_every_route_within_a_second_not_only_from_search(client, indexed_ws):
    """GET /api/cases/{id}, /healthz and the retain conflict check read the index the server loaded: after
    `casebase forget` they kept serving the erased case until some search reloaded it."""
    from typer.testing import CliRunner

    from casebase.cli import app

    body = {"ticket_id": "R1", "subject": "Goods issue", "body": "Error M7 090 quantity unit not defined in MIGO",
            "solution": "Maintain the unit of measure in MM02.", "category": "Logistics"}
    assert client.post("/api/cases", json=body, headers=AUTH).status_code == 201
    cases = client.get("/healthz").json()["cases"]
    assert client.get("/api/cases/R1", headers=AUTH).status_code == 200
    r = CliRunner().invoke(app, ["forget", "--workspace", str(indexed_ws.root), "--ticket", "R1", "--ticket", "C01"])
    assert r.exit_code == 0, r.output
    time.sleep(1.1)
    assert client.get("/api/cases/R1", headers=AUTH).status_code == 404  # no search in between
    assert client.get("/api/cases/C01", headers=AUTH).status_code == 404
    assert client.get("/healthz").json()["cases"] == cases - 2


def test_the_vectors_a_process_appended_are_not_kept_twice_in_memory(indexed_ws):
    """A server read its own appended vectors back on every catch-up and kept them in a cache nothing emptied."""
    index, other = load_index(indexed_ws), load_index(indexed_ws)
    for i in range(20):
        append_cases(index, [case(f"X{i:02d}", f"Printer {i} stuck in SPAD queue {i}", "Restart the spool.", "Basis", "Low")])
    append_cases(other, [case("Y01", "MIGO goods receipt blocked by M7 021", "Post the stock first.", "Logistics", "Low")])
    index.sync(force=True)  # reads the other's case: and, before, its own 20 vectors back into the cache
    assert "Y01" in index._row and len(index) == len(TRAIN) + 21
    assert index._vec_cache == {}
