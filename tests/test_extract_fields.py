"""Extraction with the fields helpdesk exports carry (issue 16, item 2): a message made from the recorded resolution
field is the solution, tickets.status makes the resolved call, an internal note may be the solution and the case
says so (solution_internal). Without those fields extraction is what it was."""

from __future__ import annotations

import pandas as pd
import pytest

from casebase.extract import run as extract
from casebase.extract.heuristic import extract_one
from casebase.ingest import run as ingest
from conftest import FORUM
from test_reingest import FAST, desk_mapping, write_export

QUESTION = {"message_id": "t.0", "role": "customer", "author": "c", "body": "VAT return fails with error 1603."}
ASKS = {"message_id": "t.1", "role": "responder", "author": "a", "body": "Which version are you on?"}
FIX = {"message_id": "t.2", "role": "responder", "author": "a",
       "body": "Go to Settings > MTD, click Re-authorise, then submit the return again."}
THANKS = {"message_id": "t.3", "role": "customer", "author": "c", "body": "Thanks, that worked!"}
NOTE = {"message_id": "t.4", "role": "responder", "author": "a", "internal": True, "resolution": True,
        "body": "Root cause: the HMRC token had expired. Cleared the token table and re-linked the account."}


def test_a_recorded_resolution_message_is_the_solution():
    plain = extract_one({"subject": "VAT"}, [QUESTION, FIX, THANKS])
    assert plain["solution_message_ids"] == ["t.2"]  # the learned pick without it
    case = extract_one({"subject": "VAT"}, [QUESTION, FIX, THANKS, NOTE])
    assert case["resolved"] and case["solution_message_ids"] == ["t.4"]
    assert case["solution"].startswith("Root cause: the HMRC token had expired")
    assert case["candidate_message_id"] == "t.4"
    # it also resolves a thread the scorer alone calls unresolved
    assert not extract_one({"subject": "VAT"}, [QUESTION, ASKS])["resolved"]
    assert extract_one({"subject": "VAT"}, [QUESTION, ASKS, NOTE])["solution_message_ids"] == ["t.4"]


def test_status_makes_the_resolved_call():
    unresolved = [QUESTION, ASKS]
    assert not extract_one({"subject": "VAT"}, unresolved)["resolved"]  # no status: the learned call
    for status in ("solved", "closed"):  # the desk's verdict, with a reply to show
        case = extract_one({"subject": "VAT", "status": status}, unresolved)
        assert case["resolved"] and case["solution_message_ids"] == ["t.1"]
    assert not extract_one({"subject": "VAT", "status": "solved"}, [QUESTION])["resolved"]  # nothing to show
    resolved = [QUESTION, FIX, THANKS]
    assert extract_one({"subject": "VAT"}, resolved)["resolved"]
    for status in ("open", "pending"):  # still worked on (or reopened): not a confirmed fix, even with a note
        for thread in (resolved, resolved + [NOTE]):
            case = extract_one({"subject": "VAT", "status": status}, thread)
            assert not case["resolved"] and case["solution"] == "" and case["solution_message_ids"] == []


def test_without_the_new_fields_extraction_is_unchanged():
    """Absent fields, False flags and a status outside the four values give the same case as before."""
    threads = [[QUESTION, FIX, THANKS], [QUESTION, ASKS], [QUESTION], [QUESTION, ASKS, FIX, THANKS]]
    for thread in threads:
        base = extract_one({"subject": "VAT"}, thread)
        flagged = [dict(m, internal=False, resolution=False) for m in thread]
        for ticket in ({"subject": "VAT"}, {"subject": "VAT", "status": None}, {"subject": "VAT", "status": "new"}):
            assert extract_one(ticket, flagged) == base


def desk_export(folder, status_t1="solved", status_t2="open"):
    tickets = [{"ticket_id": "t1", "subject": "VAT return fails", "opened_at": "2024-03-01T09:00:00",
                "status": status_t1, "category": "vat"},
               {"ticket_id": "t2", "subject": "Bank feed stuck", "opened_at": "2024-03-02T09:00:00",
                "status": status_t2, "category": "bank"}]
    messages = [
        {"ticket_id": "t1", "message_id": "m1", "position": 0, "sent_at": "2024-03-01T09:00:00", "author": "Ann",
         "role": "customer", "body": "The VAT return fails with error 1603.", "internal": "false", "resolution": "false"},
        {"ticket_id": "t1", "message_id": "m2", "position": 1, "sent_at": "2024-03-01T10:00:00", "author": "Rob",
         "role": "responder", "body": "Looking into it.", "internal": "false", "resolution": "false"},
        {"ticket_id": "t1", "message_id": "m3", "position": 2, "sent_at": "2024-03-01T11:00:00", "author": "Rob",
         "role": "responder", "body": "Work note: expired HMRC token, cleared the token table and re-linked.",
         "internal": "true", "resolution": "false"},
        {"ticket_id": "t2", "message_id": "m4", "position": 0, "sent_at": "2024-03-02T09:00:00", "author": "Bo",
         "role": "customer", "body": "The bank feed has been stuck since Monday.", "internal": "false",
         "resolution": "false"},
        {"ticket_id": "t2", "message_id": "m5", "position": 1, "sent_at": "2024-03-02T10:00:00", "author": "Rob",
         "role": "responder", "body": "Reconnect the feed under Banking > Feeds, then refresh.", "internal": "false",
         "resolution": "false"},
        {"ticket_id": "t2", "message_id": "m6", "position": 2, "sent_at": "2024-03-02T11:00:00", "author": "Bo",
         "role": "customer", "body": "Thanks, that worked!", "internal": "false", "resolution": "false"},
    ]
    return write_export(folder, tickets, messages)


def test_cases_say_when_the_solution_is_an_internal_note_and_follow_the_status(ws, tmp_path):
    mapping = str(desk_mapping(tmp_path))
    ingest(ws, *desk_export(tmp_path / "a"), mapping=mapping, **FAST)
    first = extract(ws)
    cases = pd.read_parquet(ws.cases).set_index("ticket_id")
    assert cases["solution_internal"].dtype == bool
    # t1 solved: its last reply, an internal work note, is the solution, flagged so that a draft says so
    assert cases.loc["t1", "resolved"] and list(cases.loc["t1", "solution_message_ids"]) == ["m3"]
    assert cases.loc["t1", "solution_internal"]
    # t2 open: not resolved although the customer confirmed the fix
    assert not cases.loc["t2", "resolved"] and not cases.loc["t2", "solution_internal"]
    assert first["counts"]["worked"] == 2
    # the desk closes t2: a later export changes only its status; the ticket is extracted again, now resolved
    reingest = ingest(ws, *desk_export(tmp_path / "b", status_t2="closed"), mapping=mapping, **FAST)
    assert (reingest["counts"]["reingest"]["changed"], reingest["counts"]["reingest"]["unchanged"]) == (1, 1)
    second = extract(ws)
    assert (second["counts"]["worked"], second["counts"]["from_cache"]) == (1, 1)
    cases = pd.read_parquet(ws.cases).set_index("ticket_id")
    assert cases.loc["t2", "resolved"] and list(cases.loc["t2", "solution_message_ids"]) == ["m5"]
    assert not cases.loc["t2", "solution_internal"]


@pytest.mark.skipif(not FORUM.is_dir(), reason="forum-support data not present")
def test_forum_support_cases_have_no_internal_solutions_and_no_status_effect(tmp_path):
    """forum-support has no status, notes or recorded resolutions: every case's solution_internal is False and the
    resolved call is the learned one (the before/after comparison of all 2,096 cases is in the report)."""
    from casebase.workspace import Workspace

    ws = Workspace.at(tmp_path / "ws")
    t = pd.read_csv(FORUM / "tickets.csv", dtype=str).head(200)
    m = pd.read_csv(FORUM / "messages.csv", dtype=str)
    t.to_csv(tmp_path / "t.csv", index=False)
    m[m.ticket_id.isin(t.ticket_id)].to_csv(tmp_path / "m.csv", index=False)
    ingest(ws, tmp_path / "t.csv", tmp_path / "m.csv", mapping="canonical", **FAST)
    extract(ws)
    cases = pd.read_parquet(ws.cases)
    msgs = pd.read_parquet(ws.messages)
    threads = {tid: g.sort_values("position").to_dict("records") for tid, g in msgs.groupby("ticket_id")}
    assert not cases["solution_internal"].any()
    for row in pd.read_parquet(ws.tickets).to_dict("records")[:50]:  # the same case with the fields stripped
        bare = [{k: v for k, v in msg.items() if k not in ("internal", "resolution")} for msg in threads[row["ticket_id"]]]
        assert extract_one(row, threads[row["ticket_id"]]) == extract_one(row, bare)


def test_a_saleslogix_solution_becomes_a_resolution_message_that_extraction_prefers(tmp_path):
    """SalesLogix's SOLUTION (tickets.resolution in a mapping) is the desk's recorded resolution: a message of its
    own, flagged, after the thread, dated when the ticket was completed; counted in its own row of the manifest, and
    one that cleaning empties is quarantined with its reason."""
    from casebase.workspace import Workspace

    tickets = pd.DataFrame({
        "TICKETID": ["T1", "T2", "T3"], "SUBJECT": ["VAT return fails", "Printer offline", "Payroll export"],
        "PROBLEM": ["MTD submission fails with error 1603.", "The invoice printer shows offline.",
                    "Payroll export to the bank stops at 50%."],
        "SOLUTION": ["Re-authorised the HMRC connection under Settings > MTD, then resubmitted.", None,
                     "> quoted only"],
        "RECEIVEDDATE": ["01/02/2024 09:00", "02/02/2024 09:00", "03/02/2024 09:00"],
        "COMPLETEDDATE": ["05/02/2024 17:30", None, "06/02/2024 10:00"]})
    history = pd.DataFrame({
        "TICKETACTIVITYID": ["A1", "A2", "A3"], "TICKETID": ["T1", "T1", "T2"],
        "CREATEDATE": ["01/02/2024 10:00", "02/02/2024 11:00", "02/02/2024 10:00"],
        "ACTIVITYDESC": ["Which version are you on?", "Version 29, UK edition.", "Please restart the spooler."],
        "USERID": ["ADMIN", "ADMIN", "ADMIN"], "SHORTDESC": ["Note", "Customer e-mail", "Note"]})
    tickets.to_csv(tmp_path / "TICKET.csv", index=False)
    history.to_csv(tmp_path / "TICKETACTIVITY.csv", index=False)
    ws = Workspace.at(tmp_path / "ws")
    manifest = ingest(ws, tmp_path / "TICKET.csv", tmp_path / "TICKETACTIVITY.csv", mapping="saleslogix", **FAST)
    c = manifest["counts"]
    assert c["messages_from_ticket_resolution"] == {"in": 2, "out": 1, "quarantined": 1, "balanced": True}
    assert c["messages_total_out"] == 3 + 3 + 1  # bodies, history, the one resolution left
    quarantined = pd.read_csv(ws.quarantine)
    assert quarantined[["table", "ticket_id"]].values.tolist() == [["ticket-resolution", "T3"]]
    assert "resolution" not in pd.read_parquet(ws.tickets).columns  # a message now, not a ticket field as well
    msgs = pd.read_parquet(ws.messages)
    t1 = msgs[msgs["ticket_id"] == "T1"].sort_values("position")
    assert t1["position"].tolist() == [0, 1, 2, 3]
    last = t1.iloc[-1]
    assert last["message_id"] == "T1.resolution" and bool(last["resolution"]) and not bool(last["internal"])
    assert last["role"] == "responder" and str(last["sent_at"]) == "2024-02-05 17:30:00"
    assert last["body"].startswith("Re-authorised the HMRC connection")
    assert not msgs.loc[msgs["message_id"] != "T1.resolution", "resolution"].any()
    extract(ws, **{})
    cases = pd.read_parquet(ws.cases).set_index("ticket_id")
    assert cases.loc["T1", "solution_message_ids"].tolist() == ["T1.resolution"]
    assert cases.loc["T1", "solution"].startswith("Re-authorised the HMRC connection")


def test_a_resolution_column_of_labels_stays_a_ticket_column(tmp_path):
    """Jira's Resolution ("Done", "Won't Do") mapped as tickets.resolution is a label, not the text of a fix: no
    resolution messages, the column kept as resolution_name, and a warning that says so."""
    from casebase.workspace import Workspace

    n = 6
    pd.DataFrame({"TICKETID": [f"T{i}" for i in range(n)], "SUBJECT": [f"Issue {i}" for i in range(n)],
                  "PROBLEM": [f"Posting run {i} fails with error 1603." for i in range(n)],
                  "SOLUTION": ["Done", "Won't Do", "Done", "Done", "Won't Do", None],
                  "RECEIVEDDATE": ["01/02/2024"] * n}).to_csv(tmp_path / "TICKET.csv", index=False)
    ws = Workspace.at(tmp_path / "ws")
    manifest = ingest(ws, tmp_path / "TICKET.csv", mapping="saleslogix", **FAST)
    assert manifest["counts"]["messages_from_ticket_resolution"]["in"] == 0
    assert any("holds labels (Done, Won't Do)" in w for w in manifest["warnings"])
    tickets = pd.read_parquet(ws.tickets).set_index("ticket_id")
    assert tickets.loc["T1", "resolution_name"] == "Won't Do"
    assert not pd.read_parquet(ws.messages)["resolution"].any()
