"""The ServiceNow connector (casebase/ingest/connectors/servicenow.py) on fixtures written from ServiceNow's Table API
and export documentation (tests/data/connectors/servicenow: incident.csv + sys_journal_field.csv with display values;
incident.json, the Table API's ``{"result": [...]}`` with ``{"display_value", "value"}`` objects, +
sys_journal_field.json), and a round trip: a canonical export written as incident + journal (+ sys_user) by
``write_servicenow`` ingests to the same tickets and messages as the canonical one."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.ingest import run
from casebase.ingest.connectors import find_connector, peek
from casebase.ingest.connectors.servicenow import detect, priority, state
from casebase.workspace import Workspace
import connector_helpers as helpers
from connector_helpers import read_canonical, same_threads_as_canonical, thread, write_frames
from connector_helpers import ingest_ws as ingest

DATA = Path(__file__).parent / "data" / "connectors" / "servicenow"




def csv_records(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_incidents_journal_close_notes_roles_internal_status_and_counts(tmp_path, fmt):
    ws, manifest, tk, msgs, q = ingest(tmp_path, "ws", DATA / f"incident.{fmt}", DATA / f"sys_journal_field.{fmt}")
    assert manifest["format"]["name"] == "servicenow" and "sys_journal_field" in manifest["format"]["why"]
    if fmt == "csv":
        incidents, journal = csv_records(DATA / "incident.csv"), csv_records(DATA / "sys_journal_field.csv")
        val = lambda v: v  # noqa: E731
    else:
        incidents = json.loads((DATA / "incident.json").read_text())["result"]
        journal = json.loads((DATA / "sys_journal_field.json").read_text())["result"]
        val = lambda v: v["display_value"]  # noqa: E731
    n_desc = sum(1 for i in incidents if val(i["description"]))
    n_close = sum(1 for i in incidents if val(i["close_notes"]))
    c = manifest["counts"]
    # every journal entry, every description and every close_notes is one message row read
    assert manifest["format"]["rows_in"] == {"tickets": len(incidents), "messages": len(journal) + n_desc + n_close}
    for table in ("tickets", "messages"):
        assert c[table]["in"] == c[table]["out"] + c[table]["quarantined"] == manifest["format"]["rows_in"][table]
    # the entry of an incident not in the export and the empty work note are quarantined with their reasons
    assert sorted(q["reason"]) == ["empty body", "message for an unknown ticket 'ffffffffffffffffffffffffffffffff'"]

    by_id = tk.set_index("ticket_id")
    expected_status = {"INC0010001": "solved", "INC0010002": "pending" if fmt == "csv" else "closed",
                       "INC0010003": "closed", "INC0010004": "open"}
    assert dict(by_id["status"]) == expected_status  # Resolved, On Hold (JSON: Closed, 7), Canceled, New
    assert dict(by_id["urgency"]) == {"INC0010001": "2", "INC0010002": "3", "INC0010003": "5",
                                      "INC0010004": "1"}  # 2 - High, 3 - Moderate, 5 - Planning, 1 - Critical
    assert by_id.loc["INC0010001", "category"] == "Network" and by_id.loc["INC0010001", "close_code"] == \
        "Solved (Permanently)"
    # (in incident.json the display values of these dates are the user's local time, "03-06-2024 11:05:00": the
    # reader takes the API's UTC value)
    assert by_id.loc["INC0010001", "opened_at"] == pd.Timestamp("2024-06-03 09:05")
    assert by_id.loc["INC0010001", "closed_at"] == pd.Timestamp("2024-06-04 16:00")  # resolved_at

    t1 = thread(msgs, "INC0010001")
    # the description first, the journal by time (the file lists it newest first), the close notes last
    assert t1["sent_at"].is_monotonic_increasing
    assert list(t1["role"]) == ["customer", "responder", "customer", "responder", "responder", "responder"]
    assert list(t1["internal"]) == [False, False, False, True, False, False]  # the work note
    assert list(t1["resolution"]) == [False, False, False, False, False, True]
    assert "re-enrolled the device" in t1["body"].iloc[-1]
    assert t1["body"].iloc[0].startswith("My VPN token is rejected")
    assert sum(b.startswith("My VPN token is rejected") for b in msgs["body"]) == 1  # the description once
    assert msgs["resolution"].sum() == n_close
    # INC0010003 has no description: its only message is the work note
    assert list(thread(msgs, "INC0010003")["internal"]) == [True]


def test_journal_authors_are_matched_to_the_caller_by_user_name_and_a_users_file(tmp_path):
    inc = tmp_path / "incident.csv"
    pd.DataFrame([{"number": "INC1", "sys_id": "s1", "short_description": "Printer", "description": "Jams.",
                   "caller_id": "Maria Garcia", "state": "2", "opened_at": "2024-07-01 09:00:00"}]
                 ).to_csv(inc, index=False)
    jr = tmp_path / "sys_journal_field.csv"
    pd.DataFrame([
        {"element_id": "s1", "element": "comments", "value": "Which tray?", "sys_created_on": "2024-07-01 10:00:00",
         "sys_created_by": "it.agent"},
        {"element_id": "s1", "element": "comments", "value": "Tray 2.", "sys_created_on": "2024-07-01 11:00:00",
         "sys_created_by": "mgarcia"},  # the caller, but not by their name: only the users file says so
        {"element_id": "s1", "element": "comments", "value": "Tray 2 again.", "sys_created_on": "2024-07-01 12:00:00",
         "sys_created_by": "maria.garcia"},  # the caller's name but for case and punctuation
    ]).to_csv(jr, index=False)
    *_, msgs, _ = ingest(tmp_path, "ws1", inc, jr)
    assert list(thread(msgs, "INC1")["role"]) == ["customer", "responder", "responder", "customer"]
    users = tmp_path / "sys_user.csv"
    pd.DataFrame([{"user_name": "mgarcia", "name": "Maria Garcia"}, {"user_name": "it.agent", "name": "Ivo Tan"}]
                 ).to_csv(users, index=False)
    *_, msgs, _ = ingest(tmp_path, "ws2", inc, jr, users=users)
    assert list(thread(msgs, "INC1")["role"]) == ["customer", "responder", "customer", "customer"]
    assert state("On Hold") == "pending" and state("6") == "solved" and state("8 - Canceled") == "closed"
    assert priority("4 - Low", {"4": "4"}) == "4" and priority("Critical", {"critical": "1"}) == "1"


def test_an_incident_export_alone_gives_descriptions_and_close_notes(tmp_path):
    ws, manifest, tk, msgs, q = ingest(tmp_path, "ws", DATA / "incident.csv")
    assert manifest["format"]["name"] == "servicenow"
    assert sorted(msgs["message_id"].str.split(".").str[-1].unique()) == ["close_notes", "description"]
    assert manifest["counts"]["messages"]["in"] == manifest["counts"]["messages"]["out"] == len(msgs)


# ---- wrong input --------------------------------------------------------------------------------------------

def test_wrong_input_names_the_file_and_what_is_missing(tmp_path):
    j = tmp_path / "sys_journal_field.csv"
    j.write_text("element,value\ncomments,hello\n")
    with pytest.raises(CasebaseError, match=r"sys_journal_field\.csv: not a ServiceNow sys_journal_field export: "
                                            r"no element_id field"):
        run(Workspace.at(tmp_path / "ws"), DATA / "incident.csv", j, mapping="servicenow")
    inc = tmp_path / "incident.csv"
    pd.read_csv(DATA / "incident.csv").drop(columns=["sys_id"]).to_csv(inc, index=False)
    with pytest.raises(CasebaseError, match=r"incident\.csv: no sys_id field.*element_id"):
        run(Workspace.at(tmp_path / "ws"), inc, DATA / "sys_journal_field.csv", mapping="servicenow")
    bad = tmp_path / "incident.json"
    bad.write_text('{"result": [{"number": "INC1",}]}')
    with pytest.raises(CasebaseError, match=r"incident\.json: invalid JSON at line 1"):
        run(Workspace.at(tmp_path / "ws"), bad, mapping="servicenow")
    bad.write_text('{"result": [{"number": "INC1"}, 7]}')
    with pytest.raises(CasebaseError, match=r"incident\.json: result\[1\] is not an object"):
        run(Workspace.at(tmp_path / "ws"), bad, mapping="servicenow")
    bad.write_text('{"result": [{"short_description": "x"}]}')
    with pytest.raises(CasebaseError, match=r"incident\.json: not a ServiceNow incident export: no number field"):
        run(Workspace.at(tmp_path / "ws"), bad, mapping="servicenow")


def test_detect_claims_servicenow_files_only(tmp_path):
    assert detect(peek(DATA / "incident.csv"), peek(DATA / "sys_journal_field.csv"))
    assert detect(peek(DATA / "incident.json"), peek(DATA / "sys_journal_field.json"))
    assert detect(peek(DATA / "incident.csv"), None)
    jira = DATA.parent / "jira"
    assert detect(peek(jira / "jira.csv"), None) is None and detect(peek(jira / "jira.json"), None) is None
    # incidents with a history file that is not a journal: not claimed
    t, m = write_frames(tmp_path, *small_canonical())
    assert detect(peek(DATA / "incident.csv"), peek(m)) is None
    assert detect(peek(t), peek(m)) is None and find_connector("auto", t, m) == (None, "")


# ---- round trip ---------------------------------------------------------------------------------------------

def small_canonical():
    """The connector tests' small export, with a second message in the minute of another: the journal has times
    only, so file order decides."""
    return helpers.small_canonical(
        ("t2", 2, "2024-03-02T10:30:00", "Tom Baker", "responder", "Same minute, second message."))


def sn_time(iso: str) -> str:
    return pd.Timestamp(iso).strftime("%Y-%m-%d %H:%M:%S")


def user_name(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:10]  # a user name that says nothing of the person's name


def write_servicenow(tickets: pd.DataFrame, messages: pd.DataFrame, folder: Path, fmt: str):
    """A canonical export as ServiceNow tables: one incident per ticket (the caller the thread's customer, their
    opening message the description), one journal comment per other message (sys_created_by a user name), and the
    sys_user table naming the users; ``fmt`` "csv" (display values) or "json" (Table API, display_value=all)."""
    msgs = messages.assign(position=messages["position"].astype(int)).sort_values(["ticket_id", "position"])
    groups = dict(tuple(msgs.groupby("ticket_id")))
    incidents, journal, users = [], [], {}
    for t in tickets.to_dict("records"):
        rows = groups[t["ticket_id"]].to_dict("records") if t["ticket_id"] in groups else []
        first = rows[0] if rows and rows[0]["role"] == "customer" and rows[0]["position"] == 0 else None
        caller = next((r["author"] for r in rows if r["role"] == "customer"), None)
        sys_id = hashlib.md5(t["ticket_id"].encode()).hexdigest()
        incidents.append({"number": t["ticket_id"], "sys_id": sys_id, "short_description": t["subject"],
                          "description": first["body"] if first else "", "caller_id": caller or "",
                          "category": t["category"], "state": "2", "opened_at": sn_time(t["opened_at"])})
        for r in rows[1:] if first else rows:
            users[user_name(r["author"])] = r["author"]
            journal.append({"sys_id": hashlib.md5(r["message_id"].encode()).hexdigest(), "element_id": sys_id,
                            "name": "incident", "element": "comments", "value": r["body"],
                            "sys_created_on": sn_time(r["sent_at"]), "sys_created_by": user_name(r["author"])})
    journal.reverse()  # newest first, as ServiceNow lists it: the reader orders by time
    user_rows = [{"user_name": u, "name": n, "sys_id": f"user-{u}"} for u, n in users.items()]
    paths = [folder / f"{name}.{fmt}" for name in ("incident", "sys_journal_field", "sys_user")]
    for path, rows in zip(paths, (incidents, journal, user_rows)):
        if fmt == "csv":
            pd.DataFrame(rows).to_csv(path, index=False)
        else:
            wrapped = [{k: {"display_value": v, "value": v} for k, v in r.items()} for r in rows]
            path.write_text(json.dumps({"result": wrapped}), encoding="utf-8")
    return paths


def same_ingest(tmp_path, tickets: pd.DataFrame, messages: pd.DataFrame, fmt: str) -> int:
    """The canonical export and its ServiceNow tables (``fmt``: incident, journal, sys_user) ingest to the same
    tickets and threads."""
    def write(t, m, out):
        (out / "sn").mkdir()
        return dict(zip(("tickets", "history", "users"), write_servicenow(t, m, out / "sn", fmt)))

    return same_threads_as_canonical(tmp_path, tickets, messages, "servicenow", write)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_of_a_small_canonical_export(tmp_path, fmt):
    tickets, messages = small_canonical()
    assert same_ingest(tmp_path, tickets, messages, fmt) == len(messages)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_of_forum_support(tmp_path, forum, fmt):
    """The first 200 threads of forum-support (read only; the copies live in tmp_path). ServiceNow's journal has
    no position, only times: the threads compare equal because the forum's order is its time order there (ties in
    file order), but for one reply dated before its question, which the description's place first absorbs."""
    tickets, messages = read_canonical(forum / "tickets.csv", forum / "messages.csv", limit=200)
    assert same_ingest(tmp_path, tickets, messages, fmt)  # every message the canonical ingest kept, compared


def test_the_acceptance_command(tmp_path, monkeypatch):
    monkeypatch.chdir(DATA)
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(tmp_path / "ws-sn"), "--tickets", "incident.csv",
                                      "--history", "sys_journal_field.csv", "--mapping", "auto"])
    assert result.exit_code == 0, result.output
    assert "format: servicenow" in result.output


def test_a_custom_state_is_kept_as_given_with_a_warning_and_a_connector_mapping_file_recodes_it(tmp_path):
    inc = tmp_path / "incident.csv"
    pd.DataFrame([{"number": "INC1", "sys_id": "s1", "short_description": "Printer", "description": "Jams.",
                   "caller_id": "Maria Garcia", "state": "9", "priority": "P1",
                   "opened_at": "2024-07-01 09:00:00"}]).to_csv(inc, index=False)
    ws, manifest, tk, *_ = ingest(tmp_path, "ws1", inc)
    # (a state's code: its label, e.g. "Awaiting Vendor", would pass through the same way, but ingest's redactor
    # reads the status column as free text and may take a label for a name)
    assert list(tk["status"]) == ["9"] and list(tk["urgency"]) == ["P1"]
    assert any("'9'" in w and "status_values" in w for w in manifest["warnings"])
    toml = tmp_path / "my-servicenow.toml"
    toml.write_text('connector = "servicenow"\n[tickets]\nstatus_values = { "9" = "pending" }\n'
                    'urgency_values = { "P1" = "urgent" }\n')
    ws, manifest, tk, *_ = ingest(tmp_path, "ws2", inc, mapping=str(toml))
    assert list(tk["status"]) == ["pending"] and list(tk["urgency"]) == ["urgent"]


def test_an_unknown_shape_names_servicenow_with_its_fields_among_the_closest(tmp_path):
    inc = tmp_path / "incident.csv"
    inc.write_text("number,short_description,opened\nINC1,Printer,2024-01-01\n")
    with pytest.raises(CasebaseError, match=r"closest formats.*servicenow \(needs number, short_description"):
        run(Workspace.at(tmp_path / "ws"), inc)
