"""Serving: every endpoint in-process (TestClient), the one error shape, tokens, limits, escaping, feedback export."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from casebase.errors import CasebaseError
from casebase.serve.app import check_bind, create_app
from casebase.serve.engine import Suggester

FORMATTED = "Category: Database\nUrgency: High\nSolution: Grant SELECT on the table to the schema."


@pytest.fixture
def serve_ws(indexed_ws):
    return indexed_ws


@pytest.fixture
def client(serve_ws):
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    get_llm("fake").responder = lambda messages: FORMATTED
    app = create_app(serve_ws, arm="base+rag", llm="fake", token="s3cret", max_body_bytes=8_000)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
    clear_cache()


AUTH = {"authorization": "Bearer s3cret"}


def assert_error_shape(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message"}
    assert body["error"]["status"] == status and "Traceback" not in response.text


def test_suggest_returns_draft_triage_cited_cases_and_is_stored(client, serve_ws):
    r = client.post("/api/suggest", json={"subject": "Report", "body": "ORA-00942 table or view does not exist after the transport"},
                    headers=AUTH)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["id"] and s["abstained"] is False and s["arm"] == "base+rag" and s["model"] == "fake"
    assert s["solution"] == "Grant SELECT on the table to the schema." and s["parsed"] is True
    assert s["category"]["value"] == "Database" and s["cited_cases"][0]["case_id"] == "C02"
    assert {"case_id", "score", "problem", "solution"} <= set(s["cited_cases"][0]) and s["timings_ms"]["total"] >= 0
    assert client.post("/api/suggest", json={"body": "ORA-00942", "arm": "retrieval"}, headers=AUTH).json()["model"] \
        == "retrieval only"


def test_unrelated_ticket_abstains_without_a_draft(client):
    s = client.post("/api/suggest", json={"body": "recipe for chocolate cake with fresh strawberries and cream"},
                    headers=AUTH).json()
    assert s["abstained"] is True and s["solution"] is None and "no similar past case" in s["note"]


def test_search_case_health_and_openapi(client):
    r = client.get("/api/search", params={"q": "ME21N pricing error", "k": 2}, headers=AUTH)
    assert r.status_code == 200 and [x["case_id"] for x in r.json()["results"]][0] == "C06"
    assert len(r.json()["results"]) == 2
    assert client.get("/api/cases/C06", headers=AUTH).json()["solution"].startswith("Maintain the missing condition")
    assert_error_shape(client.get("/api/cases/NOPE", headers=AUTH), 404)
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["cases"] == 20 and h["auth"] is True
    assert "/api/suggest" in client.get("/openapi.json", headers=AUTH).json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "casebase" in page.text and "http" not in page.text.split("<body>")[1]


def test_feedback_and_export(client, serve_ws, tmp_path):
    from casebase.serve.store import Store

    sid = client.post("/api/suggest", json={"body": "ORA-00942 table does not exist"}, headers=AUTH).json()["id"]
    assert client.post("/api/feedback", json={"suggestion_id": sid, "verdict": "accepted"}, headers=AUTH).status_code == 200
    r = client.post("/api/feedback", json={"suggestion_id": sid, "verdict": "edited", "final_text": "Grant it. Then rerun."},
                    headers=AUTH)
    assert r.json()["status"] == "recorded"
    client.post("/api/feedback", json={"suggestion_id": sid, "verdict": "rejected"}, headers=AUTH)
    assert_error_shape(client.post("/api/feedback", json={"suggestion_id": "nope", "verdict": "accepted"},
                                   headers=AUTH), 404)
    assert_error_shape(client.post("/api/feedback", json={"suggestion_id": sid, "verdict": "edited"}, headers=AUTH), 422)
    store = Store(serve_ws.root / "casebase.db")
    assert [f["verdict"] for f in store.feedback()] == ["accepted", "edited", "rejected"]
    out = tmp_path / "sft.jsonl"
    result = store.export_feedback(out)  # the agent's last say on sid was "rejected": nothing to train on
    assert result["examples"] == 0 and result["skipped"]["superseded"] == 2 and result["skipped"]["rejected"] == 1
    other = client.post("/api/suggest", json={"body": "ORA-00942 table does not exist in report"}, headers=AUTH).json()["id"]
    client.post("/api/feedback", json={"suggestion_id": other, "verdict": "accepted"}, headers=AUTH)
    client.post("/api/feedback", json={"suggestion_id": other, "verdict": "edited", "final_text": "Grant it. Then rerun."},
                headers=AUTH)
    result = store.export_feedback(out)
    assert result["examples"] == 1 and result["skipped"]["superseded"] == 3  # the accept, then edited: the edit only
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    assert rows[0]["messages"][-1]["content"].endswith("Solution: Grant it. Then rerun.") and rows[0]["verdict"] == "edited"
    assert "Past cases that may help" in rows[0]["messages"][1]["content"]


def test_retained_case_is_searchable_without_restart(client):
    case = {"ticket_id": "R1", "subject": "Goods issue", "body": "Error M7 090 quantity unit not defined in MIGO for batch",
            "solution": "Maintain the unit of measure in MM02.", "category": "Logistics"}
    r = client.post("/api/cases", json=case, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["cases"] == 21
    hits = client.get("/api/search", params={"q": "M7 090 quantity unit MIGO"}, headers=AUTH).json()["results"]
    assert hits[0]["case_id"] == "R1"
    assert_error_shape(client.post("/api/cases", json=case, headers=AUTH), 409)


@pytest.mark.parametrize("payload", [{}, {"subject": "x"}, {"body": 5}, {"body": ""}, {"body": "x", "extra": 1},
                                     {"body": "x", "arm": "hybrid+rag"}])
def test_bad_payloads_get_422_in_the_one_error_shape(client, payload):
    assert_error_shape(client.post("/api/suggest", json=payload, headers=AUTH), 422)


def test_oversize_not_json_missing_token_wrong_method(client):
    assert_error_shape(client.post("/api/suggest", json={"body": "x" * 9_000}, headers=AUTH), 413)
    assert_error_shape(client.post("/api/suggest", content=b"{not json", headers={**AUTH, "content-type": "application/json"}),
                       422)
    assert_error_shape(client.post("/api/suggest", json={"body": "ORA-00942"}), 401)
    assert_error_shape(client.post("/api/feedback", json={"suggestion_id": "x", "verdict": "accepted"},
                                   headers={"authorization": "Bearer wrong"}), 401)
    assert_error_shape(client.post("/api/cases", json={}), 401)
    assert_error_shape(client.get("/api/search", params={"q": " "}, headers=AUTH), 422)
    assert_error_shape(client.delete("/api/cases/C01", headers=AUTH), 405)
    assert_error_shape(client.get("/nothing-here", headers=AUTH), 404)


def test_internal_errors_hide_the_trace(serve_ws):
    class Broken(Suggester):
        def suggest(self, *a, **kw):
            raise RuntimeError("secret internals")

    app = create_app(serve_ws, arm="retrieval", token="", engine=Broken(serve_ws, arm="retrieval"))
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        r = c.post("/api/suggest", json={"body": "ORA-00942"})
    assert_error_shape(r, 500)
    assert "secret internals" not in r.text


def test_personal_data_in_a_pasted_ticket_is_redacted_before_storage(client, serve_ws):
    from casebase.serve.store import Store

    s = client.post("/api/suggest", json={"body": "ORA-00942 again, call me on +44 20 7946 0958 or mail jane.doe@example.com"},
                    headers=AUTH).json()
    stored = Store(serve_ws.root / "casebase.db").suggestion(s["id"])
    assert "jane.doe@example.com" not in stored["body"] and "7946 0958" not in stored["body"]


def test_no_token_refused_beyond_loopback():
    check_bind("127.0.0.1", None)
    with pytest.raises(CasebaseError, match="CASEBASE_TOKEN"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "Zr8-fQ2pL9xK4mWv7tB1")


def test_cli_suggest_json(serve_ws):
    from typer.testing import CliRunner

    from casebase.cli import app

    r = CliRunner().invoke(app, ["suggest", "-w", str(serve_ws.root), "--arm", "retrieval", "--json",
                                 "ME21N pricing error 06 042"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cited_cases"][0]["case_id"] == "C06"


def test_warm_loads_the_query_encoder_before_the_first_request(serve_ws):
    engine = Suggester(serve_ws, arm="retrieval")
    engine.index._query_embedder = None  # as load_index leaves it: loaded on first use
    engine.warm()
    assert engine.index._query_embedder is not None  # queries have their own encoder (index.query_embedder)


def test_pasted_european_ticket_is_redacted_like_ingest_before_storage(client, serve_ws):
    # the layers the old redactor lacked: a title and a surname, a continental phone, a mistyped IBAN after
    # its cue word, a login, a postcode and town; the stored row and the answer carry the counts by type
    from casebase.serve.store import Store

    body = ("Frau Katharina Hoffmann aus der Buchhaltung (Tel. 06 12 34 56 78) meldet: IBAN DE00 1234 5678 9012 "
            "3456 78 wird abgelehnt, Benutzer HMUELLER ist gesperrt, Lieferadresse Hauptstraße 12, 80331 München.")
    s = client.post("/api/suggest", json={"body": body}, headers=AUTH).json()
    stored = Store(serve_ws.root / "casebase.db").suggestion(s["id"])
    for planted in ("Katharina", "Hoffmann", "06 12 34 56 78", "DE00", "HMUELLER", "Hauptstraße", "80331", "München"):
        assert planted not in stored["body"], planted
    assert {"PERSON", "PHONE", "IBAN", "LOGIN", "ADDRESS"} <= set(s["redacted"])
    assert stored["response"]["redacted"] == s["redacted"]


def test_cli_suggest_redacts_the_pasted_ticket_like_the_api(serve_ws):
    # the CLI is another door for a pasted ticket: its text reaches the model (or an openai: server) redacted
    from typer.testing import CliRunner

    from casebase.cli import app

    r = CliRunner().invoke(app, ["suggest", "-w", str(serve_ws.root), "--arm", "retrieval", "--json",
                                 "--subject", "Pricing for Frau Katharina Hoffmann",
                                 "ME21N pricing error 06 042, call me on 06 12 34 56 78"])
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)
    assert "Hoffmann" not in answer["problem"] and "06 12 34 56 78" not in answer["problem"]
    assert {"PERSON", "PHONE"} <= set(answer["redacted"])


def test_an_llm_server_outage_is_a_502_naming_the_server_and_exit_3(serve_ws):
    # it answered 400 bad_request, as if the agent's ticket were at fault
    from typer.testing import CliRunner

    from casebase.cli import app as cli
    from casebase.errors import UpstreamError
    from casebase.llm import clear_cache, get_llm

    clear_cache()

    def down(messages):
        raise UpstreamError("LLM server http://gpu-box:8000/v1/chat/completions failed after 3 tries: connection failed")

    get_llm("fake").responder = down
    app = create_app(serve_ws, arm="base+rag", llm="fake", token="")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        r = c.post("/api/suggest", json={"body": "ORA-00942 table or view does not exist"})
        assert_error_shape(r, 502)
        assert r.json()["error"]["code"] == "upstream_error" and "gpu-box:8000" in r.json()["error"]["message"]
        assert c.post("/api/suggest", json={"body": "ORA-00942 table", "arm": "retrieval"}).status_code == 200
    r = CliRunner().invoke(cli, ["suggest", "-w", str(serve_ws.root), "--arm", "base+rag", "--llm", "fake",
                                 "ORA-00942 table or view does not exist"])
    assert r.exit_code == 3 and "gpu-box:8000" in r.output
    clear_cache()


def test_a_request_for_another_arm_generates_with_that_arm(serve_ws):
    # suggest(arm=...) reported the requested arm but generated with the server's
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    seen = []
    get_llm("fake").responder = lambda messages: seen.append(messages) or FORMATTED
    engine = Suggester(serve_ws, arm="retrieval", llm="fake")
    answer = engine.suggest("Report", "ORA-00942 table or view does not exist after the transport", arm="base+rag")
    assert answer["arm"] == "base+rag" and answer["model"] == "fake" and answer["solution"].startswith("Grant")
    assert len(seen) == 1 and "Past cases that may help" in seen[0][-1]["content"]
    assert engine.suggest("Report", "ORA-00942 table or view does not exist", arm="base")["arm"] == "base"
    assert "Past cases" not in seen[-1][-1]["content"]  # base: no retrieved cases in its prompt
    with pytest.raises(CasebaseError, match="choose from"):
        engine.suggest("Report", "ORA-00942 table or view does not exist", arm="nope")
    clear_cache()
