"""The Jira Service Management connector (casebase/ingest/connectors/jira.py) on fixtures written from Atlassian's
export documentation (tests/data/connectors/jira: jira.csv, the "Export Excel CSV (all fields)" shape with repeated
Comment columns; jira.json, the REST /search shape with ADF bodies and jsdPublic), and a round trip: a canonical
export written as a Jira export by ``write_jira`` ingests to the same tickets and messages as the canonical one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.ingest import run
from casebase.ingest.connectors import find_connector, peek
from casebase.ingest.connectors.jira import adf_text, detect, jira_date, jira_status
from casebase.workspace import Workspace
from connector_helpers import read_canonical, same_threads_as_canonical, small_canonical, thread, write_frames
from connector_helpers import ingest_ws as ingest

DATA = Path(__file__).parent / "data" / "connectors" / "jira"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")




def balanced(manifest, export_rows):
    c = manifest["counts"]
    for table in ("tickets", "messages"):
        assert c[table]["in"] == c[table]["out"] + c[table]["quarantined"], table
    assert manifest["format"]["rows_in"] == export_rows
    assert c["tickets"]["in"] == export_rows["tickets"] and c["messages"]["in"] == export_rows["messages"]


# ---- the CSV export -----------------------------------------------------------------------------------------

def test_csv_export_tickets_messages_roles_status_and_counts(tmp_path):
    ws, manifest, tk, msgs, q = ingest(tmp_path, "ws", DATA / "jira.csv")
    assert manifest["format"]["name"] == "jira" and "Comment" in manifest["format"]["why"]
    with open(DATA / "jira.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    comment_cols = [i for i, h in enumerate(header) if h == "Comment"]
    n_comments = sum(1 for r in body for i in comment_cols if r[i].strip())
    n_desc = sum(1 for r in body if r[header.index("Description")].strip())
    balanced(manifest, {"tickets": len(body), "messages": n_comments + n_desc})
    # the one comment with an empty body ("11/Jun/24 9:00 AM;kmiller;") is quarantined, named
    assert list(q["reason"]) == ["empty body"] and list(q["ticket_id"]) == ["SD-102"]

    by_id = tk.set_index("ticket_id")
    assert by_id.loc["SD-101", "status"] == "solved"  # Resolved + resolution Done
    assert by_id.loc["SD-102", "status"] == "pending"  # Waiting for customer
    assert by_id.loc["SD-103", "status"] == "closed"  # Closed + Won't Do: closed, not solved
    assert by_id.loc["SD-104", "status"] == "open"  # To Do
    assert by_id.loc["SD-101", "category"] == "Get IT help"  # the request type wins over components
    assert by_id.loc["SD-101", "urgency"] == "2" and by_id.loc["SD-104", "urgency"] == "1"  # High, Highest
    assert by_id.loc["SD-101", "tags"] == "vpn, remote"  # the repeated Labels columns, joined
    assert by_id.loc["SD-101", "opened_at"] == pd.Timestamp("2024-06-03 09:05")  # "03/Jun/24 9:05 AM"
    assert by_id.loc["SD-101", "closed_at"] == pd.Timestamp("2024-06-06 16:30")  # "06/Jun/24 4:30 PM"

    t1 = thread(msgs, "SD-101")
    assert list(t1["role"]) == ["customer", "responder", "customer", "responder"]  # the reporter's comment too
    assert t1["sent_at"].is_monotonic_increasing and t1["sent_at"].iloc[1] == pd.Timestamp("2024-06-04 10:15")
    # the description is the first message, once; a body with ';' and a line break is whole
    assert "VPN client drops" in t1["body"].iloc[0]
    assert sum("VPN client drops" in b for b in msgs["body"]) == 1
    assert "then send us the log" in t1["body"].iloc[1] and "ProgramData" in t1["body"].iloc[1]
    assert not msgs["internal"].any() and not msgs["resolution"].any()  # the CSV says nothing of either
    assert list(thread(msgs, "SD-103")["role"]) == ["customer"]  # no description: only the reporter's comment


def test_csv_comment_cells_and_dates():
    assert jira_date("06/Jun/24 10:15 AM") == "2024-06-06T10:15:00"
    assert jira_date("06/Jun/24 12:05 AM") == "2024-06-06T00:05:00"
    assert jira_date("06/Jun/24 12:05 PM") == "2024-06-06T12:05:00"
    assert jira_date("06/Dez/24 9:00") == "2024-12-06T09:00:00"
    assert jira_date("2024-06-06T10:15:00.000+0000") == "2024-06-06T10:15:00.000+0000"  # ISO: left to ingest
    assert jira_date("31/Feb/24 9:00 AM") == "31/Feb/24 9:00 AM"  # no such day: ingest quarantines it, named


def test_a_comment_cell_that_is_not_date_author_body_is_kept_as_its_body_with_a_warning(tmp_path):
    p = tmp_path / "jira.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Summary", "Issue key", "Issue id", "Created", "Reporter", "Description", "Comment"])
        w.writerow(["Printer", "IT-1", "1", "01/Jul/24 9:00 AM", "Ann", "Printer jams.", "just a note; no date"])
    ws, manifest, tk, msgs, q = ingest(tmp_path, "ws", p)
    assert list(thread(msgs, "IT-1")["body"]) == ["Printer jams.", "just a note; no date"]
    assert any("not 'date;author;body'" in w for w in manifest["warnings"])


# ---- the REST JSON ------------------------------------------------------------------------------------------

def test_rest_json_internal_comments_adf_bodies_status_and_counts(tmp_path):
    ws, manifest, tk, msgs, q = ingest(tmp_path, "ws", DATA / "jira.json")
    issues = json.loads((DATA / "jira.json").read_text())["issues"]
    n_comments = sum(len(i["fields"]["comment"]["comments"]) for i in issues)
    n_desc = sum(1 for i in issues if i["fields"].get("description"))
    assert manifest["format"]["name"] == "jira" and "issues[]" in manifest["format"]["why"]
    balanced(manifest, {"tickets": len(issues), "messages": n_comments + n_desc})
    assert len(q) == 0

    by_id = tk.set_index("ticket_id")
    assert dict(by_id["status"]) == {"HELP-1": "solved", "HELP-2": "pending", "HELP-3": "open"}
    assert by_id.loc["HELP-1", "category"] == "Get IT help" and by_id.loc["HELP-2", "category"] == "Incident"
    assert by_id.loc["HELP-1", "closed_at"] == pd.Timestamp("2024-06-04 16:00")
    assert by_id.loc["HELP-1", "opened_at"] == pd.Timestamp("2024-06-03 09:05:12")
    assert by_id.loc["HELP-1", "url"] == "https://example.atlassian.net/browse/HELP-1"

    h1 = thread(msgs, "HELP-1")
    assert list(h1["role"]) == ["customer", "responder", "responder", "customer"]
    assert list(h1["internal"]) == [False, True, False, False]  # jsdPublic: false
    assert h1["body"].iloc[0].splitlines()[-1] == "Browser: Firefox 126."  # ADF paragraphs, one a line
    h2 = thread(msgs, "HELP-2")
    assert list(h2["internal"]) == [False, True, False]  # "public": false is read too
    assert not msgs["resolution"].any()


def test_adf_flattening():
    doc = {"type": "doc", "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Hi "},
                                          {"type": "mention", "attrs": {"text": "@Sam"}},
                                          {"type": "hardBreak"}, {"type": "text", "text": "line two"}]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "step one"}]}]}]}]}
    assert adf_text(doc) == "Hi @Sam\nline two\nstep one"
    assert adf_text("plain") == "plain" and adf_text(None) is None


@pytest.mark.parametrize(("name", "category", "resolution", "expected"), [
    ("Resolved", "done", "Fixed", "solved"), ("Closed", "done", "Fixed", "closed"), ("Done", "done", None, "closed"),
    ("Waiting for customer", "indeterminate", None, "pending"), ("In Progress", "indeterminate", None, "open"),
    ("Open", "new", None, "open"), ("Resolved", None, "Done", "solved"), ("Canceled", None, "Won't Do", "closed"),
    ("Pending", None, None, "pending"), ("Triage", None, None, "Triage"), ("Triage", "new", None, "open"),
])
def test_status_recoding(name, category, resolution, expected):
    assert jira_status(name, category, resolution) == expected


# ---- wrong input --------------------------------------------------------------------------------------------

def test_a_csv_without_issue_key_or_created_names_the_file_and_the_columns(tmp_path):
    p = tmp_path / "jira.csv"
    p.write_text("Summary,Issue id,Comment\nPrinter,1,x\n")
    with pytest.raises(CasebaseError, match=r"jira\.csv: not a Jira CSV export: no 'Created' column.*Export Excel CSV"):
        run(Workspace.at(tmp_path / "ws"), p, mapping="jira")


def test_a_json_issue_without_fields_or_invalid_json_names_the_record(tmp_path):
    p = tmp_path / "jira.json"
    p.write_text(json.dumps({"issues": [{"key": "A-1", "fields": {"summary": "x", "created": "2024-01-01"}},
                                        {"key": "A-2"}]}))
    with pytest.raises(CasebaseError, match=r"jira\.json: issues\[1\] has no fields"):
        run(Workspace.at(tmp_path / "ws"), p, mapping="jira")
    p.write_text('{"issues": [{"key": "A-1",}]}')
    with pytest.raises(CasebaseError, match=r"jira\.json: invalid JSON at line 1"):
        run(Workspace.at(tmp_path / "ws"), p, mapping="jira")


def test_detect_claims_jira_files_only(tmp_path):
    assert detect(peek(DATA / "jira.csv"), None) and detect(peek(DATA / "jira.json"), None)
    sn = DATA.parent / "servicenow"
    assert detect(peek(sn / "incident.csv"), peek(sn / "sys_journal_field.csv")) is None
    assert detect(peek(sn / "incident.json"), None) is None
    # the jira_eu export: Jira-like columns, but no Comment or Issue id column and a comments file of its own
    eu = Path(__file__).parent / "data" / "jira_eu"
    assert detect(peek(eu / "T.csv"), peek(eu / "C.csv")) is None
    assert detect(peek(eu / "T.csv"), None) is None
    t, m = write_frames(tmp_path, *small_canonical())
    assert detect(peek(t), peek(m)) is None and find_connector("auto", t, m) == (None, "")


# ---- round trip ---------------------------------------------------------------------------------------------

def jira_time(iso: str) -> str:
    ts = pd.Timestamp(iso)
    assert ts.second == 0, "Jira's CSV dates have minutes only"
    return f"{ts.day:02d}/{MONTHS[ts.month - 1]}/{ts.year % 100:02d} {(ts.hour % 12) or 12}:{ts.minute:02d} " \
           f"{'AM' if ts.hour < 12 else 'PM'}"


def threads(tickets: pd.DataFrame, messages: pd.DataFrame):
    msgs = messages.assign(position=messages["position"].astype(int)).sort_values(["ticket_id", "position"])
    groups = dict(tuple(msgs.groupby("ticket_id")))
    for t in tickets.to_dict("records"):
        g = groups.get(t["ticket_id"])
        rows = g.to_dict("records") if g is not None else []
        first = rows[0] if rows and rows[0]["role"] == "customer" and rows[0]["position"] == 0 else None
        reporter = next((r["author"] for r in rows if r["role"] == "customer"), None)  # raised on their behalf
        yield t, reporter, first, rows[1:] if first else rows


def write_jira(tickets: pd.DataFrame, messages: pd.DataFrame, path: Path, fmt: str) -> Path:
    """A canonical export as a Jira export: the reporter the thread's customer, their opening message the
    description, every other message a comment; ``fmt`` "csv" (Comment cells 'date;author;body') or "json"
    (REST /search)."""
    all_threads = list(threads(tickets, messages))
    if fmt == "csv":
        width = max((len(c) for *_, c in all_threads), default=0)
        header = (["Summary", "Issue key", "Issue id", "Issue Type", "Created", "Reporter", "Description",
                   "Custom field (Request Type)"] + ["Comment"] * width)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            for n, (t, reporter, first, comments) in enumerate(all_threads, 1):
                cells = [f"{jira_time(c['sent_at'])};{c['author']};{c['body']}" for c in comments]
                w.writerow([t["subject"], t["ticket_id"], n, "Service Request", jira_time(t["opened_at"]),
                            reporter or "", first["body"] if first else "", t["category"]]
                           + cells + [""] * (width - len(cells)))
        return path

    def user(name):
        return {"accountId": "acc-" + name.lower().replace(" ", "-"), "displayName": name}

    issues = []
    for n, (t, reporter, first, comments) in enumerate(all_threads, 1):
        issues.append({"id": str(n), "key": t["ticket_id"], "fields": {
            "summary": t["subject"], "created": t["opened_at"], "issuetype": {"name": "Service Request"},
            "customfield_10010": {"requestType": {"name": t["category"]}},
            "reporter": user(reporter) if reporter else None, "description": first["body"] if first else None,
            "comment": {"comments": [{"id": f"{n}{k}", "author": user(c["author"]), "body": c["body"],
                                      "created": c["sent_at"], "jsdPublic": True} for k, c in enumerate(comments)]}}})
    path.write_text(json.dumps({"issues": issues}), encoding="utf-8")
    return path


def same_ingest(tmp_path, tickets: pd.DataFrame, messages: pd.DataFrame, fmt: str) -> int:
    """The canonical export and its Jira form (``fmt``) ingest to the same tickets and threads."""
    return same_threads_as_canonical(tmp_path, tickets, messages, "jira", lambda t, m, out: {
        "tickets": write_jira(t, m, out / f"jira.{fmt}", fmt)})


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_of_a_small_canonical_export(tmp_path, fmt):
    tickets, messages = small_canonical()
    assert same_ingest(tmp_path, tickets, messages, fmt) == len(messages)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_of_forum_support(tmp_path, forum, fmt):
    """The first 200 threads of forum-support (read only; the copies live in tmp_path)."""
    tickets, messages = read_canonical(forum / "tickets.csv", forum / "messages.csv", limit=200)
    assert same_ingest(tmp_path, tickets, messages, fmt)  # every message the canonical ingest kept, compared


def test_the_acceptance_style_command(tmp_path):
    result = CliRunner().invoke(app, ["ingest", "--workspace", str(tmp_path / "ws-jira"), "--tickets",
                                      str(DATA / "jira.csv"), "--mapping", "jira"])
    assert result.exit_code == 0, result.output
    assert "format: jira" in result.output


def test_a_workflow_status_of_no_known_category_is_kept_and_a_connector_mapping_file_recodes_it(tmp_path):
    p = tmp_path / "jira.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Summary", "Issue key", "Issue id", "Created", "Status", "Priority", "Reporter", "Description"])
        w.writerow(["Printer", "IT-1", "1", "01/Jul/24 9:00 AM", "Triage", "P2", "Ann", "Printer jams."])
    ws, manifest, tk, *_ = ingest(tmp_path, "ws1", p)
    assert list(tk["status"]) == ["Triage"] and list(tk["urgency"]) == ["P2"]
    assert any("Triage" in w and "status_values" in w for w in manifest["warnings"])
    toml = tmp_path / "my-jira.toml"
    toml.write_text('connector = "jira"\n[tickets]\nstatus_values = { "Triage" = "open" }\n'
                    'urgency_values = { "P2" = "high" }\n')
    ws, manifest, tk, *_ = ingest(tmp_path, "ws2", p, mapping=str(toml))
    assert list(tk["status"]) == ["open"] and list(tk["urgency"]) == ["high"]


def test_issues_holding_only_a_page_of_their_comments_get_a_warning(tmp_path):
    data = json.loads((DATA / "jira.json").read_text())
    data["issues"][0]["fields"]["comment"]["total"] = 57  # the search API's first page only
    p = tmp_path / "jira.json"
    p.write_text(json.dumps(data))
    ws, manifest, *_ = ingest(tmp_path, "ws", p)
    assert any("HELP-1 (3 of 57)" in w and "/comment" in w for w in manifest["warnings"])
    ws, manifest, *_ = ingest(tmp_path, "ws2", DATA / "jira.json")
    assert not any("of their comments" in w for w in manifest["warnings"])


def test_an_unknown_shape_names_jira_with_its_fields_among_the_closest(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("Issue key,Summary,Opened\nA-1,Printer,2024-01-01\n")
    with pytest.raises(CasebaseError, match=r"closest formats.*jira \(needs Issue key, Summary, Created, Comment"):
        run(Workspace.at(tmp_path / "ws"), p)


def test_comment_dates_in_iso_form_are_read_and_an_impossible_one_is_quarantined_with_its_value(tmp_path):
    p = tmp_path / "jira.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Summary", "Issue key", "Issue id", "Created", "Reporter", "Description", "Comment", "Comment"])
        w.writerow(["Printer", "IT-1", "1", "2024-07-01 09:00", "Ann", "Printer jams.",
                    "2024-07-01 10:30;bo;Which tray?", "31/Feb/24 9:00 AM;Ann;Tray 2."])
    ws, manifest, tk, msgs, q = ingest(tmp_path, "ws", p)
    t = thread(msgs, "IT-1")
    assert list(t["body"]) == ["Printer jams.", "Which tray?"]
    assert t["sent_at"].iloc[1] == pd.Timestamp("2024-07-01 10:30") and t["role"].iloc[1] == "responder"
    assert list(q["reason"]) == ["unparseable sent_at '31/Feb/24 9:00 AM'"]
    assert manifest["counts"]["messages"] == {"in": 3, "out": 2, "quarantined": 1, "balanced": True}
    assert not any("not 'date;author;body'" in w for w in manifest["warnings"])
