"""What the page shows beside a draft (casebase/serve/explain.py): similarity labels against the calibrated
threshold, sentence-level citations found on the server, and a stored suggestion found again by id."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from casebase.serve.app import create_app
from casebase.serve.explain import MIN_OVERLAP, attribute, sentences, similarity

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
CASES = [{"case_id": "C02", "solution": "Grant SELECT on the new table to the SAPSR3 schema and regenerate the report."},
         {"case_id": "C05", "solution": "Fix the tnsnames.ora entry on the terminal server."}]


def test_similarity_is_a_label_and_a_share_of_the_threshold_never_the_rrf_score():
    assert similarity(0.70, threshold=0.5, typical=0.65) == {"label": "close", "percent_of_threshold": 140}
    assert similarity(0.60, threshold=0.5, typical=0.65) == {"label": "related", "percent_of_threshold": 120}
    assert similarity(0.40, threshold=0.5, typical=0.65) == {"label": "weak", "percent_of_threshold": 80}
    assert similarity(0.50, threshold=0.5)["label"] == "related"  # at the threshold: not abstained
    # without a calibrated median (or one below the threshold): close from 125% of the threshold
    assert similarity(0.63, threshold=0.5)["label"] == "close" and similarity(0.62, 0.5, typical=0.4)["label"] == "related"
    assert similarity(0.3, threshold=0.0)["percent_of_threshold"] is None
    assert similarity(None, threshold=0.5) == {"label": None, "percent_of_threshold": None}


def test_sentences_put_together_are_the_draft():
    draft = "1. Open VKM3.\n2. Release the credit block for the order. Then create the delivery! Done."
    parts = sentences(draft)
    assert "".join(parts) == draft
    assert parts[0] == "1. Open VKM3.\n"  # "1." alone is too short: it joins its sentence
    assert parts[-1].endswith("Then create the delivery! Done.")  # a short tail joins the sentence before it


def test_each_sentence_cites_the_case_whose_solution_it_overlaps_most():
    draft = ("Grant SELECT on the new table to the SAPSR3 schema. Then fix the tnsnames.ora entry on the terminal "
             "server. Restart your laptop and wait for an hour.")
    parts = attribute(draft, CASES)
    assert "".join(p["text"] for p in parts) == draft
    assert [p["cites"] for p in parts] == [[1], [2], []]
    assert [p["source"] for p in parts] == ["overlap", "overlap", None]
    assert parts[0]["overlap"] >= MIN_OVERLAP > parts[2]["overlap"]


def test_markers_the_model_wrote_are_kept_and_out_of_range_ones_ignored():
    parts = attribute("Grant SELECT on the table [2]. Reboot the printer spooler service [7].", CASES)
    assert parts[0]["cites"] == [2] and parts[0]["source"] == "model"  # the model's own citation wins
    assert parts[1]["cites"] == [] and parts[1]["source"] is None  # no case [7]; its words match no solution
    assert attribute("", CASES) == [] and attribute(None, CASES) == []
    same = [{"solution": "Release the credit block in VKM3."}, {"solution": "Release the credit block in VKM3."}]
    assert attribute("Release the credit block in VKM3.", same)[0]["cites"] == [1]  # a tie: the closer case


FORMATTED = ("Category: Database\nUrgency: High\nSolution: Grant SELECT on the new table to the SAPSR3 schema. "
             "Restart your laptop and wait for an hour.")


@pytest.fixture
def client(indexed_ws):
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    get_llm("fake").responder = lambda messages: FORMATTED
    with TestClient(create_app(indexed_ws, arm="base+rag", llm="fake", token=TOKEN), base_url="http://127.0.0.1") as c:
        yield c
    clear_cache()


def test_suggest_returns_labels_and_citations(client):
    body = {"subject": "Report", "body": "ORA-00942 table or view does not exist after the transport of the sales report"}
    s = client.post("/api/suggest", json=body, headers=AUTH).json()
    assert s["abstained"] is False and s["similarity"]["label"] in ("close", "related")
    top = s["cited_cases"][0]
    assert top["case_id"] == "C02" and top["similarity"]["label"] in ("close", "related")
    assert top["similarity"]["percent_of_threshold"] == round(100 * top["dense_score"] / s["threshold"])
    assert [p["cites"] for p in s["attribution"]] == [[1], []]  # the second sentence is the model's own
    retrieval = client.post("/api/suggest", json={**body, "arm": "retrieval"}, headers=AUTH).json()
    assert retrieval["solution"] == retrieval["cited_cases"][0]["solution"]
    assert {tuple(p["cites"]) for p in retrieval["attribution"]} == {(1,)}  # the nearest case's solution: all [1]


def test_an_abstained_answer_labels_every_case_weak(client):
    # hybrid search ranks C19 first here, by words; the nearest in meaning is another case
    s = client.post("/api/suggest", json={"subject": "Payroll", "body": "Payroll run PY-301 stops with error PAYR-17 "
                                                                        "for the night shift employees"}, headers=AUTH).json()
    assert s["abstained"] is True and s["attribution"] == [] and s["similarity"]["label"] == "weak"
    assert s["similarity"]["percent_of_threshold"] < 100
    assert s["cited_cases"] and {c["similarity"]["label"] for c in s["cited_cases"]} == {"weak"}
    # the cases listed are the nearest in meaning, the closest first: the one the threshold was measured on
    assert s["cited_cases"][0]["dense_score"] == s["best_similarity"]
    assert [c["dense_score"] for c in s["cited_cases"]] == sorted((c["dense_score"] for c in s["cited_cases"]), reverse=True)


def test_search_results_carry_the_label(client):
    r = client.get("/api/search", params={"q": "ORA-00942 table or view does not exist"}, headers=AUTH).json()
    assert r["results"][0]["similarity"]["label"] in ("close", "related") and "score" in r["results"][0]
    assert r["similarity"]["percent_of_threshold"] >= 100 and r["threshold"] > 0


def test_a_suggestion_is_found_again_by_id_with_its_feedback(client):
    s = client.post("/api/suggest", json={"subject": "Report", "body": "ORA-00942 after the transport"}, headers=AUTH).json()
    assert client.get(f"/api/suggestions/{s['id']}").status_code == 401  # reads need the token too
    client.post("/api/feedback", json={"suggestion_id": s["id"], "verdict": "accepted"}, headers=AUTH)
    client.post("/api/feedback", json={"suggestion_id": s["id"], "verdict": "edited", "final_text": "Grant it."},
                headers=AUTH)
    again = client.get(f"/api/suggestions/{s['id']}", headers=AUTH).json()
    assert again["id"] == s["id"] and again["solution"] == s["solution"] and again["attribution"] == s["attribution"]
    assert again["subject"] == "Report" and again["created_at"]
    assert [f["verdict"] for f in again["feedback"]] == ["accepted", "edited"]
    assert again["feedback"][-1]["final_text"] == "Grant it." and again["feedback"][-1]["agent"] == "token"
    missing = client.get("/api/suggestions/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_cli_search_shows_similarity_labels_not_fusion_scores(tmp_path):
    """`casebase search` labels each case as the page does (close / related / weak and its percentage of the
    calibrated threshold), not with the RRF fusion score."""
    from typer.testing import CliRunner

    from casebase.cli import app as cli_app
    from casebase.retrieve import build_index, load_index
    from casebase.serve.explain import similarity_in
    from casebase.workspace import Workspace
    from test_retrieve import TRAIN, VAL, write_cases

    ws = Workspace.at(tmp_path / "ws")
    write_cases(ws.root / "train.jsonl", TRAIN)
    write_cases(ws.root / "val.jsonl", VAL)
    build_index(ws, model="fake")
    query = TRAIN[1][1]  # (id, problem, solution, category, urgency)
    out = CliRunner().invoke(cli_app, ["search", query, "-w", str(ws.root), "--json"])
    assert out.exit_code == 0, out.output
    found = json.loads(out.output)
    idx = load_index(ws)
    for r in found["results"]:
        assert r["similarity"] == similarity_in(idx, r["dense_score"])
    table = CliRunner().invoke(cli_app, ["search", query, "-w", str(ws.root)], env={"COLUMNS": "300"})
    label = found["results"][0]["similarity"]
    if not found["abstained"]:
        assert f"{label['label']} {label['percent_of_threshold']}%" in table.output
        assert f"{found['results'][0]['score']:.3f}" not in table.output
