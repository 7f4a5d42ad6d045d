"""The feedback loop closed: a served draft keeps its exact prompt, export-feedback writes that prompt with the
agent's final answer, `casebase train --extra` trains on it (counted in the manifest), and feedback can retain
the ticket as a case."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from casebase.errors import CasebaseError
from casebase.llm.answer import format_answer
from casebase.serve.app import create_app
from casebase.serve.store import Store
from casebase.train.data import IGNORE, encode_chat, read_extra

AUTH = {"authorization": "Bearer s3cret"}
REPLY = "Category: Database\nUrgency: High\nSolution: Grant SELECT on the table to the schema."
TICKET = {"subject": "Report", "body": "ORA-00942 table or view does not exist after the transport"}


@pytest.fixture
def fake_llm():
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    llm = get_llm("fake")
    llm.responder = lambda messages: REPLY
    yield llm
    clear_cache()


def client_for(ws, arm: str) -> TestClient:
    return TestClient(create_app(ws, arm=arm, llm="fake", token="s3cret"), base_url="http://127.0.0.1")


def suggest(client, **extra) -> dict:
    r = client.post("/api/suggest", json=TICKET | extra, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def feedback(client, sid: str, verdict: str, **extra):
    return client.post("/api/feedback", json={"suggestion_id": sid, "verdict": verdict, **extra}, headers=AUTH)


def test_the_store_keeps_the_exact_messages_the_model_was_given(indexed_ws, fake_llm):
    with client_for(indexed_ws, "base+rag") as client:
        answer = suggest(client)
        given = fake_llm.calls[-1][0]  # what the model received for this draft
        retrieval = suggest(client, arm="retrieval")
    assert "prompt_messages" not in answer  # the page gets the answer, not the prompt
    store = Store(indexed_ws.root / "casebase.db")
    row = store.suggestion(answer["id"])
    assert row["prompt_messages"] == given and "Past cases that may help" in given[1]["content"]
    assert (row["arm"], row["model"]) == ("base+rag", "fake") and row["prompt_version"]
    assert "prompt_messages" not in row["response"]
    none = store.suggestion(retrieval["id"])
    assert none["prompt_messages"] is None and none["arm"] == "retrieval"


def test_export_writes_the_served_prompt_with_the_final_answer(indexed_ws, fake_llm, tmp_path):
    served = {}
    with client_for(indexed_ws, "base+rag") as client:
        accepted = suggest(client)
        served[accepted["id"]] = fake_llm.calls[-1][0]
        retrieval = suggest(client, arm="retrieval")
        rejected = suggest(client)
        for sid, verdict in ((accepted["id"], "accepted"), (retrieval["id"], "accepted"), (rejected["id"], "rejected")):
            assert feedback(client, sid, verdict).status_code == 200
    with client_for(indexed_ws, "base") as client:  # no cases in the prompt: a rebuilt prompt would add them
        edited = suggest(client)
        served[edited["id"]] = fake_llm.calls[-1][0]
        assert feedback(client, edited["id"], "edited", final_text="Grant it in SU01.  Then rerun.").status_code == 200
    store = Store(indexed_ws.root / "casebase.db")
    old = store.add_suggestion(None, "ORA-00942", "ORA-00942", {"arm": "base+rag", "abstained": False,
                                                                  "solution": "x", "cited_cases": []})
    store.add_feedback(old, "accepted", None)  # a suggestion stored before prompts were kept

    out = tmp_path / "feedback.jsonl"
    from casebase.cli import app

    result = CliRunner().invoke(app, ["export-feedback", "-w", str(indexed_ws.root), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["examples"] == 2
    assert report["skipped"] == {"superseded": 0, "rejected": 1, "no_prompt": 1, "no_prompt_stored": 1, "no_answer": 0}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["suggestion_id"], r["verdict"], r["source"]) for r in rows] == \
        [(accepted["id"], "accepted", "feedback"), (edited["id"], "edited", "feedback")]
    for row in rows:
        assert row["messages"][:-1] == served[row["suggestion_id"]]  # the very prompt, not a rebuilt one
        assert row["messages"][-1]["role"] == "assistant"
    assert "Past cases" not in rows[1]["messages"][1]["content"]
    assert rows[0]["messages"][-1]["content"] == format_answer(accepted["solution"], accepted["category"]["value"],
                                                               accepted["urgency"]["value"])
    assert rows[1]["messages"][-1]["content"] == format_answer("Grant it in SU01. Then rerun.",
                                                               edited["category"]["value"], edited["urgency"]["value"])
    assert rows[1]["arm"] == "base" and rows[1]["model"] == "fake"
    assert read_extra([out]) == [r["messages"] for r in rows]  # what train --extra reads back


def test_bad_extra_lines_name_the_file_and_line(tmp_path, indexed_ws):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path = tmp_path / "fb.jsonl"
    for bad, problem in (({"messages": [{"role": "user", "content": "q"}]}, "at least two"),
                         ({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "a"}]},
                          "assistant"),
                         ({"messages": [{"role": "robot", "content": "q"}, good["messages"][1]]}, r"messages\[0\]"),
                         ({"text": "q"}, "messages")):
        path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(CasebaseError, match=rf"{path}: line 2: .*{problem}.*export-feedback"):
            read_extra([path])
    path.write_text(json.dumps(good) + "\n{not json\n")
    from casebase.cli import app

    result = CliRunner().invoke(app, ["train", "-w", str(indexed_ws.root), "--method", "standard",
                                      "--extra", str(path)])
    assert result.exit_code == 2 and "line 2: not JSON" in result.output and "fb.jsonl" in result.output
    with pytest.raises(CasebaseError, match="not found.*export-feedback"):
        read_extra([tmp_path / "missing.jsonl"])


def test_extra_chats_learn_the_answer_only_with_the_prompt_as_given(tokenizer):
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "New ticket:\nX fails"},
                {"role": "assistant", "content": format_answer("Do Y.", "Z", 1)}]
    features = encode_chat(tokenizer, messages, max_length=512)
    ids, labels = features["input_ids"], features["labels"]
    first = next(i for i, label in enumerate(labels) if label != IGNORE)
    assert tokenizer.decode(ids[:first]) == tokenizer.apply_chat_template(messages[:-1], tokenize=False,
                                                                          add_generation_prompt=True)
    assert labels[first:] == ids[first:] and tokenizer.decode(ids[first:]).startswith(messages[-1]["content"])
    assert encode_chat(tokenizer, messages, max_length=first) is None  # too long: left out, never re-cut


def test_feedback_export_train_extra_counts_the_feedback_examples(indexed_ws, fake_llm, tiny_base,
                                                                  tmp_path):
    from casebase.cli import app
    from casebase.workspace import file_sha256

    with client_for(indexed_ws, "base+rag") as client:
        for verdict, extra in (("accepted", {}), ("edited", {"final_text": "Grant SELECT, then rerun the report."}),
                               ("rejected", {})):
            assert feedback(client, suggest(client)["id"], verdict, **extra).status_code == 200
    out = tmp_path / "feedback.jsonl"
    runner = CliRunner()
    w = str(indexed_ws.root)
    assert runner.invoke(app, ["export-feedback", "-w", w, "--out", str(out)]).exit_code == 0
    exported = len(out.read_text().splitlines())
    assert exported == 2
    result = runner.invoke(app, ["train", "-w", w, "--method", "standard", "--base", f"local:{tiny_base}",
                                 "--max-steps", "2", "--eval-every", "2", "--max-length", "1024",
                                 "--extra", str(out), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    counts = manifest["counts"]
    assert counts["extra_examples"] == exported and counts["skipped_too_long"]["extra"] == 0
    assert counts["train_examples"] == len((indexed_ws.root / "train.jsonl").read_text().splitlines())
    assert manifest["inputs"]["extra"]["sha256"] == file_sha256(out)
    assert manifest["config"]["extra"] == [str(out)]


def test_feedback_can_retain_the_ticket_as_a_searchable_case(indexed_ws, fake_llm):
    with client_for(indexed_ws, "base+rag") as client:
        cases = client.get("/healthz").json()["cases"]
        sid = suggest(client)["id"]
        assert feedback(client, sid, "rejected", retain=True).status_code == 422
        r = feedback(client, sid, "edited", final_text="Grant SELECT via role ZSALES_RPT in PFCG.", retain=True)
        assert r.status_code == 200, r.text
        retained = r.json()["retained"]
        assert retained["case_id"] == f"fb-{sid}" and retained["cases"] == cases + 1
        case = client.get(f"/api/cases/fb-{sid}", headers=AUTH).json()
        assert case["solution"] == "Grant SELECT via role ZSALES_RPT in PFCG." and case["category"] == "Database"
        hits = client.get("/api/search", params={"q": TICKET["body"], "k": 3}, headers=AUTH).json()["results"]
        assert f"fb-{sid}" in [h["case_id"] for h in hits]
        before = len(Store(indexed_ws.root / "casebase.db").feedback())
        assert feedback(client, sid, "accepted", retain=True).status_code == 409  # one case per id ...
        assert len(Store(indexed_ws.root / "casebase.db").feedback()) == before  # ... and a refusal records nothing
        r = feedback(client, sid, "accepted", retain=True, case_id="TCK-77")
        assert r.status_code == 200 and r.json()["retained"]["case"]["solution"] == REPLY.split("Solution: ")[1]
        assert feedback(client, sid, "accepted", retain=True, case_id="a/b").status_code == 422
        assert client.get("/healthz").json()["cases"] == cases + 2


def test_an_older_casebase_db_is_migrated_and_its_promptless_feedback_skipped(tmp_path):
    import sqlite3

    path = tmp_path / "casebase.db"
    conn = sqlite3.connect(path)  # the first schema: no agent, no prompt columns
    conn.executescript("""
        CREATE TABLE suggestions (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, subject TEXT, body TEXT NOT NULL,
                                  problem TEXT NOT NULL, response TEXT NOT NULL);
        CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, suggestion_id TEXT NOT NULL, created_at TEXT
                               NOT NULL, verdict TEXT NOT NULL, final_text TEXT);""")
    response = {"arm": "base+rag", "abstained": False, "solution": "Grant SELECT.", "model": "fake",
                "cited_cases": [{"case_id": "C02", "problem": "p", "solution": "s"}]}
    conn.execute("INSERT INTO suggestions VALUES ('old1', '2025-01-01', 's', 'b', 'ORA-00942', ?)", (json.dumps(response),))
    conn.execute("INSERT INTO feedback (suggestion_id, created_at, verdict, final_text) "
                 "VALUES ('old1', '2025-01-01', 'edited', 'Grant it.')")
    conn.commit()
    conn.close()
    store = Store(path)
    result = store.export_feedback(tmp_path / "fb.jsonl")
    assert result["examples"] == 0 and result["skipped"]["no_prompt_stored"] == 1  # nothing rebuilt or guessed
    sid = store.add_suggestion("s", "b", "p", {"arm": "base", "model": "fake"}, prompt_messages=[{"role": "user",
                                                                                                   "content": "p"}])
    assert store.suggestion(sid)["prompt_messages"] == [{"role": "user", "content": "p"}]
    assert store.suggestion("old1")["prompt_messages"] is None
