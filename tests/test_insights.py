"""GET /api/insights (casebase/serve/insights.py): suggestions per day, verdict rates by arm and category, the
most frequent problems without precedent; guarded by the token like every read."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from fastapi.testclient import TestClient

from casebase.serve.app import create_app
from casebase.serve.insights import group_problems, insights
from casebase.serve.store import Store

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
ORA = {"subject": "Report", "body": "ORA-00942 table or view does not exist after the transport of the sales report"}
CREDIT = {"subject": "Delivery", "body": "Credit block on the sales order VA01 prevents the delivery creation"}
PAYROLL = ["Payroll run PY-301 stops with error PAYR-17 for the night shift employees",
           "PAYR-17 error in payroll run PY-301 for night shift employees again",
           "payroll run PY-301 fails: PAYR-17 night shift employees missing"]
CAKE = "recipe for chocolate cake with fresh strawberries and cream"


@pytest.fixture
def client(indexed_ws):
    from casebase.llm import clear_cache, get_llm

    clear_cache()
    get_llm("fake").responder = lambda messages: "Category: Database\nUrgency: High\nSolution: Grant SELECT."
    with TestClient(create_app(indexed_ws, arm="base+rag", llm="fake", token=TOKEN), base_url="http://127.0.0.1") as c:
        yield c
    clear_cache()


def suggest(client, ticket: dict, arm: str | None = None) -> dict:
    r = client.post("/api/suggest", json=ticket | ({"arm": arm} if arm else {}), headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def feedback(client, sid: str, verdict: str, text: str | None = None) -> None:
    r = client.post("/api/feedback", json={"suggestion_id": sid, "verdict": verdict, "final_text": text}, headers=AUTH)
    assert r.status_code == 200, r.text


def test_insights_need_the_token_and_check_their_parameters(client):
    r = client.get("/api/insights")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    for params in ({"days": 0}, {"days": 400}, {"top": 0}, {"days": "x"}):
        bad = client.get("/api/insights", params=params, headers=AUTH)
        assert bad.status_code == 422 and set(bad.json()) == {"error"}, params
    page = client.get("/insights")  # the page itself is public and holds no data
    assert page.status_code == 200 and "insights.js" in page.text and "ORA" not in page.text


def test_an_empty_database_gives_zeros_for_every_day(client):
    r = client.get("/api/insights", params={"days": 7}, headers=AUTH).json()
    assert r["days"] == 7 and len(r["per_day"]) == 7 and r["per_day"][-1]["day"] == r["until"]
    assert r["totals"] == {"suggestions": 0, "abstained": 0, "feedback": 0, "accepted": 0, "edited": 0, "rejected": 0}
    assert r["by_arm"] == [] and r["by_category"] == [] and r["missing"] == []


def test_rates_by_arm_and_category_count_each_suggestion_once_by_its_last_verdict(client):
    a = suggest(client, ORA)  # base+rag, Database
    feedback(client, a["id"], "accepted")
    feedback(client, a["id"], "edited", "Grant SELECT on the table.")  # the last say: edited, counted once
    b = suggest(client, ORA)
    feedback(client, b["id"], "rejected")
    suggest(client, ORA)  # no feedback
    c = suggest(client, CREDIT, arm="retrieval")  # retrieval, Sales
    feedback(client, c["id"], "accepted")
    suggest(client, {"body": CAKE})  # abstained

    r = client.get("/api/insights", headers=AUTH).json()
    assert r["totals"] == {"suggestions": 5, "abstained": 1, "feedback": 3, "accepted": 1, "edited": 1, "rejected": 1}
    today = r["per_day"][-1]
    assert today["suggestions"] == 5 and today["abstained"] == 1 and today["accepted"] == 1
    arms = {row["arm"]: row for row in r["by_arm"]}
    assert arms["base+rag"]["suggestions"] == 4 and arms["base+rag"]["feedback"] == 2
    assert arms["base+rag"]["edited_rate"] == 0.5 and arms["base+rag"]["rejected_rate"] == 0.5
    assert arms["base+rag"]["accepted_rate"] == 0.0 and arms["base+rag"]["abstained"] == 1
    assert arms["retrieval"]["accepted_rate"] == 1.0 and arms["retrieval"]["feedback"] == 1
    categories = {row["category"]: row for row in r["by_category"]}
    assert categories["Database"]["feedback"] == 2 and categories["Sales"]["accepted"] == 1
    assert r["by_arm"][0]["arm"] == "base+rag"  # most feedback first


def test_problems_without_precedent_are_grouped_most_frequent_first(client):
    for text in PAYROLL:
        assert suggest(client, {"body": text})["abstained"] is True
    suggest(client, {"body": CAKE})
    missing = client.get("/api/insights", params={"top": 5}, headers=AUTH).json()["missing"]
    assert [g["count"] for g in missing] == [3, 1]
    payroll = missing[0]
    assert {"payr-17", "py-301"} <= set(payroll["terms"]) and len(payroll["examples"]) == 3
    assert payroll["examples"][0].startswith("payroll run PY-301 fails")  # the newest first
    assert "chocolate" in missing[1]["terms"]
    assert client.get("/api/insights", params={"top": 1}, headers=AUTH).json()["missing"][0]["count"] == 3


def test_the_window_leaves_older_suggestions_out(client, indexed_ws):
    old = suggest(client, ORA)
    suggest(client, ORA)
    feedback(client, old["id"], "accepted")
    ten_days_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)).isoformat(timespec="seconds")
    with sqlite3.connect(indexed_ws.db) as conn:
        conn.execute("UPDATE suggestions SET created_at = ? WHERE id = ?", (ten_days_ago, old["id"]))
    week = client.get("/api/insights", params={"days": 7}, headers=AUTH).json()
    assert week["totals"]["suggestions"] == 1 and week["totals"]["feedback"] == 0
    month = client.get("/api/insights", params={"days": 30}, headers=AUTH).json()
    assert month["totals"]["suggestions"] == 2 and month["totals"]["accepted"] == 1
    assert next(d for d in month["per_day"] if d["day"] == ten_days_ago[:10])["suggestions"] == 1


def test_insights_of_old_rows_without_arm_columns(tmp_path):
    store = Store(tmp_path / "casebase.db")  # rows stored before the arm column, answers missing fields
    store.add_suggestion("s", "b", "p", {"arm": "retrieval"})
    store.add_suggestion("s", "b", "p", {})
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE suggestions SET arm = NULL")
    r = insights(store, days=1)
    assert {row["arm"] for row in r["by_arm"]} == {"retrieval", "(none)"} and r["totals"]["suggestions"] == 2


def test_grouping_needs_shared_words():
    rows = [{"created_at": "2026-01-0%d" % i, "problem": p, "nearest_category": c}
            for i, (p, c) in enumerate([("VPN token expired for the remote office", "Basis"),
                                        ("remote office VPN token expired again", "Basis"),
                                        ("Printer in hall 3 prints blank pages", None)], start=1)]
    groups = group_problems(rows)
    assert [g["count"] for g in groups] == [2, 1] and groups[0]["nearest_category"] == "Basis"
    assert groups[1]["nearest_category"] is None and group_problems([{"created_at": "x", "problem": "",
                                                                     "nearest_category": None}]) == []
