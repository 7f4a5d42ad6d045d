"""The Zammad connector: tickets + articles as the REST API gives them (fixtures written from Zammad's API docs,
invented content), read into the canonical tables; and a round trip of a canonical export written as Zammad."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.ingest import run as ingest
from casebase.ingest.connectors import find_connector, registry
from casebase.workspace import Workspace
from connector_helpers import read_ws, round_trip

DATA = Path(__file__).parent / "data" / "connectors" / "zammad"
TICKETS, ARTICLES = DATA / "tickets.json", DATA / "articles.json"


def test_zammad_tickets_and_articles_become_the_canonical_tables(tmp_path):
    ws = Workspace.at(tmp_path / "ws")
    manifest = ingest(ws, TICKETS, ARTICLES, mapping="auto")
    assert manifest["format"]["name"] == "zammad" and "Zammad" in manifest["format"]["why"]
    tickets, msgs, _ = read_ws(ws)
    src_t, src_a = json.loads(TICKETS.read_text()), json.loads(ARTICLES.read_text())
    counts = manifest["counts"]
    # every ticket and article read is out or quarantined (one empty body, one article of an unknown ticket)
    assert counts["tickets"] == {"in": len(src_t), "out": len(src_t), "quarantined": 0, "balanced": True}
    assert counts["messages"]["in"] == len(src_a) == manifest["format"]["rows_in"]["messages"]
    assert counts["messages"]["in"] == counts["messages"]["out"] + counts["messages"]["quarantined"]
    q = pd.read_csv(ws.quarantine)
    assert sorted(q["reason"]) == ["empty body", "message for an unknown ticket '99'"]
    # no description field: the first article is message 0 and counted once
    assert counts["messages_from_ticket_body"]["in"] == 0
    assert len(msgs) == counts["messages"]["out"]
    by_id = msgs.set_index("message_id")
    expected_role = {str(a["id"]): "customer" if a["sender"] == "Customer" else "responder" for a in src_a}
    kept = [m for m in by_id.index]
    assert {m: by_id.loc[m, "role"] for m in kept} == {m: expected_role[m] for m in kept}
    # internal notes flagged; the System auto-reply is a responder message flagged internal
    system = [str(a["id"]) for a in src_a if a["sender"] == "System"]
    internal = {str(a["id"]) for a in src_a if a["internal"]} | set(system)
    assert set(by_id.index[by_id["internal"]]) == internal & set(kept)
    assert (by_id.loc[system, "role"] == "responder").all()
    assert not msgs["resolution"].any()  # Zammad records no resolution field
    assert any("System articles" in w for w in manifest["warnings"])
    # thread order by article id; sent_at from created_at
    first = msgs[msgs["ticket_id"] == "11"].sort_values("position")
    assert list(first["message_id"]) == ["101", "102", "103", "104", "105"]
    assert first["sent_at"].iloc[0] == pd.Timestamp("2024-06-03 08:12:00")
    assert "<div>" not in first["body"].iloc[3] and "print queue PRN-02" in first["body"].iloc[3]
    # the agent's notes and e-mails ("Tom Berger via Support") have one author
    assert first["author"].iloc[2] == first["author"].iloc[3]
    # tickets: status, category (group), urgency (priority on the 1..5 scale), timestamps, the kept number
    t = tickets.set_index("ticket_id")
    assert dict(t["status"]) == {"11": "closed", "12": "solved", "13": "open", "14": "pending"}
    assert dict(t["source_status"]) == {r["id"].__str__(): r["state"] for r in src_t}
    assert dict(t["category"]) == {str(r["id"]): r["group"] for r in src_t}
    assert dict(t["urgency"]) == {"11": "3", "12": "2", "13": "4", "14": "3"}
    assert dict(t["number"]) == {str(r["id"]): r["number"] for r in src_t}
    assert t.loc["11", "opened_at"] == pd.Timestamp("2024-06-03 08:12:00")
    assert t.loc["11", "closed_at"] == pd.Timestamp("2024-06-03 11:40:00") and pd.isna(t.loc["12", "closed_at"])
    assert t.loc["14", "updated_at"] == pd.Timestamp("2024-06-06 12:45:00")
    assert "contact_email" not in tickets and "body" not in tickets


def test_ids_only_answer_with_a_users_file_and_a_directory_of_per_ticket_articles(tmp_path):
    """Without ?expand: state_id, priority_id, sender_id; authors from a users file; by_ticket files."""
    t = tmp_path / "tickets.json"
    t.write_text(json.dumps({"tickets": [
        {"id": 1, "number": "41001", "title": "Login fails", "state_id": 7, "priority_id": 3, "group_id": 2,
         "customer_id": 5, "created_at": "2024-01-02T08:00:00Z", "updated_at": "2024-01-02T09:00:00Z"},
        {"id": 2, "number": "41002", "title": "Disk full", "state_id": 5, "priority_id": 1, "group_id": 2,
         "customer_id": 5, "created_at": "2024-01-03T08:00:00Z"}]}))
    per_ticket = {1: [
        {"id": 12, "ticket_id": 1, "sender_id": 1, "internal": False, "created_by_id": 3,
         "body": "Reset your password under Profile > Password.", "created_at": "2024-01-02T09:00:00Z"},
        {"id": 11, "ticket_id": 1, "sender_id": 2, "internal": False, "created_by_id": 5,
         "body": "I cannot log in since this morning.", "created_at": "2024-01-02T08:00:00Z"}], 2: [
        {"id": 13, "ticket_id": 2, "sender_id": 2, "internal": False, "created_by_id": 5,
         "body": "The disk of my laptop is full.", "created_at": "2024-01-03T08:00:00Z"}]}
    d = tmp_path / "articles"
    d.mkdir()
    for tid, articles in per_ticket.items():  # the by_ticket answers, one file per ticket
        (d / f"{tid}.json").write_text(json.dumps(articles))
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"id": 3, "firstname": "Tom", "lastname": "Berger", "email": "t@desk.example"},
                                 {"id": 5, "firstname": "Anna", "lastname": "Keller", "email": "a@cust.example"}]))
    export = registry()["zammad"].read(t, d, users=users)
    assert export.rows_in == {"tickets": 2, "messages": 3} and len(export.messages) == 3
    assert dict(zip(export.messages["message_id"], export.messages["author"])) == {
        "11": "Anna Keller", "12": "Tom Berger", "13": "Anna Keller"}
    assert dict(zip(export.tickets["ticket_id"], export.tickets["contact_email"])) == {"1": "a@cust.example",
                                                                                        "2": "a@cust.example"}
    one_file = tmp_path / "articles.ndjson"  # the same articles as NDJSON, end to end
    one_file.write_text("\n".join(json.dumps(a) for arts in per_ticket.values() for a in arts) + "\n")
    ws = Workspace.at(tmp_path / "ws")
    manifest = ingest(ws, t, one_file, mapping="zammad", users=users)
    tickets, msgs, _ = read_ws(ws)
    assert dict(zip(tickets["ticket_id"], tickets["status"])) == {"1": "solved", "2": "closed"}
    assert dict(zip(tickets["ticket_id"], tickets["source_status"])) == {"1": "pending close", "2": "merged"}
    assert dict(zip(tickets["ticket_id"], tickets["urgency"])) == {"1": "2", "2": "4"}
    one = msgs[msgs["ticket_id"] == "1"].sort_values("position")
    assert list(one["message_id"]) == ["11", "12"] and list(one["role"]) == ["customer", "responder"]
    assert manifest["counts"]["messages"] == {"in": 3, "out": 3, "quarantined": 0, "balanced": True}
    # the users file named the authors: two people, the customer of both tickets is one pseudonym
    assert msgs["author"].nunique() == 2 and msgs["author"].notna().all()


def test_full_answer_with_assets(tmp_path):
    t = tmp_path / "full.json"
    t.write_text(json.dumps({"record_ids": [3], "assets": {
        "Ticket": {"3": {"id": 3, "number": "5003", "title": "Printer jam", "state_id": 2, "priority_id": 2,
                         "group_id": 1, "created_at": "2024-02-01T10:00:00Z"}},
        "TicketArticle": {"31": {"id": 31, "ticket_id": 3, "sender_id": 2, "internal": False,
                                 "body": "Paper jam in tray 2.", "created_at": "2024-02-01T10:00:00Z"}},
        "Group": {"1": {"id": 1, "name": "Hardware"}}}}))
    assert find_connector("auto", t, None)[0].name == "zammad"
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, t, mapping="auto")
    tickets, msgs, _ = read_ws(ws)
    assert list(tickets["category"]) == ["Hardware"] and list(tickets["status"]) == ["open"]
    assert list(msgs["body"]) == ["Paper jam in tray 2."]


@pytest.mark.parametrize("case, match", [
    ("not json", r"articles\.json: not valid JSON \(line 1"),
    ("no sender", r"record 1 has no sender Agent, Customer or System"),
    ("no ticket id", r"tickets\.json: record 1 has no id"),
])
def test_wrong_zammad_input_is_an_error_naming_file_record_and_key(tmp_path, case, match):
    t, a = tmp_path / "tickets.json", tmp_path / "articles.json"
    ticket = {"id": 1, "number": "1", "title": "x", "state": "open", "group": "g", "created_at": "2024-01-01"}
    article = {"id": 1, "ticket_id": 1, "sender": "Customer", "internal": False, "body": "hi",
               "created_at": "2024-01-01"}
    t.write_text(json.dumps([{k: v for k, v in ticket.items() if not (case == "no ticket id" and k == "id")}]))
    a.write_text("[{not json" if case == "not json" else
                 json.dumps([{k: v for k, v in article.items() if not (case == "no sender" and k == "sender")}]))
    with pytest.raises(CasebaseError, match=match):
        ingest(Workspace.at(tmp_path / "ws"), t, a, mapping="zammad")


def test_tickets_without_articles_say_how_to_give_them(tmp_path):
    with pytest.raises(CasebaseError, match="without their articles.*--history"):
        ingest(Workspace.at(tmp_path / "ws"), TICKETS, mapping="zammad")


def test_the_example_command_works(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(tmp_path / "ws"), "--tickets", str(TICKETS),
                                      "--history", str(ARTICLES), "--mapping", "zammad"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ws" / "messages.parquet").exists()


# --- round trip: a canonical export written as Zammad reads back as the canonical ingest does -------------------

def write_zammad(t: pd.DataFrame, m: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    """A canonical export (tickets.csv + messages.csv shape) as Zammad's expanded API answers: the canonical
    ticket_id kept as the ticket number, articles numbered in thread order."""
    ids = {tid: i for i, tid in enumerate(t["ticket_id"], 1)}
    tickets = [{"id": ids[r["ticket_id"]], "number": r["ticket_id"], "title": r.get("subject") or None,
                "state": "open", "priority": "2 normal", "group": r.get("category") or None,
                "created_at": r["opened_at"], "updated_at": r["opened_at"]} for r in t.to_dict("records")]
    m = m.assign(_pos=pd.to_numeric(m["position"], errors="coerce")) if "position" in m else m.assign(_pos=0)
    m = m.assign(_t=m["ticket_id"].map(ids)).sort_values(["_t", "_pos"], kind="stable")
    articles = [{"id": n, "ticket_id": ids.get(r["ticket_id"], r["ticket_id"]),
                 "sender": "Customer" if r.get("role") == "customer" else "Agent", "internal": False,
                 "from": r.get("author") or None, "body": r["body"], "content_type": "text/plain",
                 "created_at": r.get("sent_at") or None, "type": "note"}
                for n, r in enumerate(m.to_dict("records"), 1)]
    (out / "zammad").mkdir()
    tp, ap = out / "zammad" / "tickets.json", out / "zammad" / "articles.json"
    tp.write_text(json.dumps(tickets))
    ap.write_text(json.dumps(articles))
    return tp, ap


def test_round_trip_of_a_small_canonical_export(tmp_path):
    from test_ingest import write_canonical

    src = tmp_path / "src"
    src.mkdir()
    round_trip(tmp_path, *write_canonical(src), "zammad", write_zammad)


def test_round_trip_of_forum_support(tmp_path, forum):
    round_trip(tmp_path, forum / "tickets.csv", forum / "messages.csv", "zammad", write_zammad, limit=200)


def test_ndjson_in_a_json_file_is_recognised(tmp_path):
    """An export script's one-ticket-per-line file named .json: peek finds no document, the first line tells."""
    t, a = tmp_path / "tickets.json", tmp_path / "articles.json"
    t.write_text("\n".join(json.dumps(r) for r in json.loads(TICKETS.read_text())) + "\n")
    a.write_text("\n".join(json.dumps(r) for r in json.loads(ARTICLES.read_text())) + "\n")
    connector, why = find_connector("auto", t, a)
    assert connector.name == "zammad" and "articles holding ticket_id" in why
    manifest = ingest(Workspace.at(tmp_path / "ws"), t, a, mapping="auto")
    assert manifest["counts"]["messages"]["in"] == len(json.loads(ARTICLES.read_text()))


def test_a_short_html_note_is_cleaned_and_a_plain_text_body_with_markup_is_left_alone(tmp_path):
    """Zammad's editor writes one-line notes as ``<div>...</div>`` (content_type text/html): too little markup for
    the cleaner to recognise by its look, so the connector says it is HTML; text/plain bodies are never touched."""
    t, a = tmp_path / "tickets.json", tmp_path / "articles.json"
    t.write_text(json.dumps([{"id": 1, "number": "1", "title": "x", "state": "open", "group": "g",
                              "created_at": "2024-01-01T10:00:00Z"}]))
    a.write_text(json.dumps([
        {"id": 1, "ticket_id": 1, "sender": "Customer", "internal": False, "content_type": "text/plain",
         "body": "My template has <div class=\"row\"> in it and the page breaks.", "created_at": "2024-01-01T10:00:00Z"},
        {"id": 2, "ticket_id": 1, "sender": "Agent", "internal": True, "content_type": "text/html",
         "body": "<div>Closed the unclosed div in the template.</div>", "created_at": "2024-01-01T11:00:00Z"}]))
    ws = Workspace.at(tmp_path / "ws")
    ingest(ws, t, a, mapping="zammad")
    bodies = list(pd.read_parquet(ws.messages).sort_values("position")["body"])
    assert bodies == ["My template has <div class=\"row\"> in it and the page breaks.",
                      "Closed the unclosed div in the template."]


def test_a_mapping_file_recodes_a_desks_own_states(tmp_path):
    """A state Zammad does not ship ("in progress") is kept as given, with a warning; a mapping file naming the
    connector recodes it."""
    rows = json.loads(TICKETS.read_text())
    rows[2]["state"] = "in progress"
    t = tmp_path / "tickets.json"
    t.write_text(json.dumps(rows))
    m = tmp_path / "my-zammad.toml"
    m.write_text('connector = "zammad"\n[tickets]\nstatus_values = { "in progress" = "open" }\n')
    ws = Workspace.at(tmp_path / "ws")
    plain = ingest(Workspace.at(tmp_path / "ws-plain"), t, ARTICLES, mapping="zammad")
    assert any("in progress" in w for w in plain["warnings"])
    ingest(ws, t, ARTICLES, mapping=str(m))
    status = dict(zip(*pd.read_parquet(ws.tickets)[["ticket_id", "status"]].T.values))
    assert status == {"11": "closed", "12": "solved", "13": "open", "14": "pending"}
