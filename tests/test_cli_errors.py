"""Every bad input a user can give gets exit code 2 and one line naming the value and the fix (issue 14);
user text is printed verbatim, never read as rich markup."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from casebase import render
from casebase.cli import app
from casebase.errors import CasebaseError
from casebase.ingest import run
from casebase.ingest.mappings import choose_mapping
from casebase.ingest.redact import RedactConfig
from casebase.ingest.readers import read_table
from casebase.workspace import Workspace

runner = CliRunner()
SLX_TICKETS = ["TICKETID", "SUBJECT", "PROBLEM", "SOLUTION", "RECEIVEDDATE"]
SLX_HISTORY = ["TICKETACTIVITYID", "TICKETID", "CREATEDATE", "ACTIVITYDESC", "USERID", "SHORTDESC"]


def cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *needles: str) -> str:
    """Exit 2, no traceback, one 'error:' line holding every needle; returns that line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    flat = " ".join(result.output.split())  # rich wraps long lines at the terminal width
    for needle in needles:
        assert needle in flat, (needle, result.output)
    return flat


def write_csv(path, rows: list[dict] | None = None, columns: list[str] | None = None):
    pd.DataFrame(rows or [], columns=columns).to_csv(path, index=False)
    return path


def canonical_files(tmp_path, ticket_rows=None, message_rows=None):
    t = write_csv(tmp_path / "tickets.csv",
                  ticket_rows or [{"ticket_id": "t1", "subject": "VAT", "opened_at": "2024-01-01"}])
    m = write_csv(tmp_path / "messages.csv", message_rows or [
        {"ticket_id": "t1", "role": "customer", "body": "MTD submission fails with error 1603."}])
    return t, m


# 1. no rows
def test_header_only_tickets_file_is_an_error(tmp_path):
    _, m = canonical_files(tmp_path)
    t = write_csv(tmp_path / "tickets.csv", columns=["ticket_id", "subject", "opened_at"])
    result = cli("ingest", "--tickets", t, "--history", m, "-w", tmp_path / "ws")
    one_line_error(result, "tickets.csv: no rows in the file")


def test_header_only_history_without_ticket_bodies_is_an_error(tmp_path):
    t, _ = canonical_files(tmp_path)
    m = write_csv(tmp_path / "history.csv", columns=["ticket_id", "role", "body"])
    result = cli("ingest", "--tickets", t, "--history", m, "-w", tmp_path / "ws")
    one_line_error(result, "no messages to ingest", "history.csv has no rows")


def test_all_tickets_quarantined_is_an_error_with_the_reasons(tmp_path):
    t, m = canonical_files(tmp_path, ticket_rows=[{"ticket_id": "t1", "opened_at": None},
                                                  {"ticket_id": "t2", "opened_at": "soon"}])
    result = cli("ingest", "--tickets", t, "--history", m, "-w", tmp_path / "ws")
    one_line_error(result, "none of its 2 tickets can be used", "missing opened_at", "unparseable opened_at 'soon'")


# 2. a ticket body column that is not there, no history
def test_missing_ticket_body_column_without_history_names_it(tmp_path):
    t, _ = canonical_files(tmp_path)
    mapping = tmp_path / "desk.toml"
    mapping.write_text('[tickets]\nticket_id = "ticket_id"\nopened_at = "opened_at"\nbody = "Description"\n'
                       '[messages]\nticket_id = "ticket_id"\nbody = "body"\n')
    result = cli("ingest", "--tickets", t, "--mapping", mapping, "-w", tmp_path / "ws")
    one_line_error(result, "'Description' (field body", "no --history", "columns found: 'ticket_id'")


# 3. --workspace is a file
def test_workspace_that_is_a_file_is_an_error_in_every_command(tmp_path):
    t, m = canonical_files(tmp_path)
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    one_line_error(cli("ingest", "--tickets", t, "--history", m, "-w", afile), f"--workspace {afile} is a file")
    one_line_error(cli("search", "deadlock", "-w", afile), "is a file; give a directory")
    one_line_error(cli("extract", "-w", afile / "sub"), "cannot create the directory")
    with pytest.raises(CasebaseError, match="is a file; give a directory"):
        Workspace.at(afile, create=False)


# 4. square brackets are text, never markup
@pytest.fixture
def printed(monkeypatch):
    buf = io.StringIO()
    monkeypatch.setattr(render, "out", Console(file=buf, width=400, color_system=None))
    return buf


def test_search_and_suggest_print_bbcode_verbatim(printed):
    hit = {"rank": 1, "case_id": "C[/b]1", "score": 0.9, "category": "[tickets]", "urgency": "[red]",
           "problem": "Quote [quote]old[/quote] breaks", "solution": "Remove the [/quote] tag"}
    render.print_search({"abstained": False, "mode": "hybrid", "results": [hit],
                         "triage": {"category": {"value": "[tickets]", "confidence": 0.5},
                                    "urgency": {"value": None, "confidence": 0.0}}})
    render.print_suggestion({"abstained": False, "arm": "retrieval", "model": "m[/b]", "solution": "Use [/quote]",
                             "category": {"value": "[tickets]", "confidence": 0.4}, "urgency": {"value": "[/]"},
                             "cited_cases": [{"score": 0.9, "case_id": "C[/b]1", "problem": "a [/quote] b"}]})
    text = printed.getvalue()
    for needle in ("C[/b]1", "[tickets]", "[red]", "[quote]old[/quote]", "Remove the [/quote] tag", "m[/b]",
                   "Use [/quote]", "urgency: [/]", "a [/quote] b", "category [tickets]"):
        assert needle in text, needle


def test_ingest_summary_prints_brackets_in_paths_names_and_warnings_verbatim(printed):
    manifest = {"config": {"mapping": {"name": "desk[/b]"}, "max_body_chars": 10},
                "counts": {"tickets": {"in": 1, "out": 1, "quarantined": 0},
                           "messages": {"in": 1, "out": 1, "quarantined": 0},
                           "messages_from_ticket_body": {"in": 0, "out": 0, "quarantined": 0},
                           "messages_total_out": 1, "redacted": {}, "truncated_bodies": 0,
                           "truncated_fields": {"SOLUTION[/b]": 1}},
                "warnings": ["mapping desk: [tickets] body = 'Desc[/b]' is not a column of the file"],
                "timings_s": {"messages_per_s": 3.0}}
    render.print_ingest(manifest, "ws[/b]")
    text = printed.getvalue()
    for needle in ("ingest (desk[/b] mapping)", "[tickets] body = 'Desc[/b]'", "ws[/b]/tickets.parquet",
                   "SOLUTION[/b] 1"):
        assert needle in text, needle


def test_cli_search_prints_a_case_holding_bbcode(ws):
    from casebase.retrieve import build_index

    cases = [{"ticket_id": f"C{i}", "opened_at": f"2024-01-0{i + 1} 09:00:00", "category": "[tickets]",
              "urgency": "High", "solution_message_ids": [f"C{i}.1"],
              "problem": f"forum post {i} quoting [quote]the error[/quote] ORA-00942",
              "solution": f"remove the [/quote] tag and grant select {i}"} for i in range(3)]
    (ws.root / "train.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    build_index(ws, model="fake")
    result = cli("search", "ORA-00942 [/quote] error", "--k", "2", "-w", ws.root)
    assert result.exit_code == 0, result.output
    assert "[/quote]" in result.output and "[tickets]" in result.output


def test_cli_ingest_with_brackets_in_a_path_and_a_column_name(tmp_path):
    folder = tmp_path / "export[" / "b]"  # the path holds "export[/b]"
    folder.mkdir(parents=True)
    t = write_csv(folder / "tickets.csv", [{"Case [/b]": "t1", "opened_at": "2024-01-01", "Body": "Error 1603 in MTD"}])
    mapping = folder / "desk.toml"
    mapping.write_text('[tickets]\nticket_id = "Case [/b]"\nopened_at = "opened_at"\nbody = "Body"\n'
                       'subject = "Title [/b]"\n[messages]\nticket_id = "x"\nbody = "y"\n')
    result = cli("ingest", "--tickets", t, "--mapping", mapping, "-w", folder / "ws", "--no-ner")
    assert result.exit_code == 0, result.output
    flat = "".join(result.output.split())
    assert "[tickets]subject='Title[/b]'" in flat and "export[/b]/ws/tickets.parquet" in flat
    bad = write_csv(folder / "bad.csv", [{"[/b]": "x"}])
    one_line_error(cli("ingest", "--tickets", bad, "-w", folder / "ws"), "columns found: '[/b]'")


# 5. --max-body-chars and long fields
@pytest.mark.parametrize("value", ["-1", "0"])
def test_max_body_chars_below_one_is_rejected(tmp_path, value):
    t, m = canonical_files(tmp_path)
    result = cli("ingest", "--tickets", t, "--history", m, "--max-body-chars", value, "-w", tmp_path / "ws")
    one_line_error(result, f"--max-body-chars {value}", "1 or more")


def test_every_ticket_text_field_is_capped_and_counted(ws, tmp_path):
    big = "ORA-00942 " + "x" * 2_000_000
    t = write_csv(tmp_path / "tickets.csv", [
        {"TICKETID": "1", "SUBJECT": "s" * 20_000, "PROBLEM": "Posting fails", "SOLUTION": big,
         "RECEIVEDDATE": "01/02/2024"},
        {"TICKETID": "2", "SUBJECT": "short", "PROBLEM": "Other problem", "SOLUTION": "Fixed it",
         "RECEIVEDDATE": "02/02/2024"}])
    manifest = run(ws, t, mapping="saleslogix", max_body_chars=10_000, redact=RedactConfig(ner=False))
    tickets = pd.read_parquet(ws.tickets).set_index("ticket_id")
    # SOLUTION is the recorded resolution: a message of its own, capped like every other text field
    solutions = pd.read_parquet(ws.messages).query("resolution").set_index("ticket_id")["body"]
    assert solutions["1"].startswith("ORA-00942") and len(solutions["1"]) < 10_100
    assert "characters truncated]" in solutions["1"] and len(tickets.loc["1", "subject"]) < 10_100
    assert solutions["2"] == "Fixed it"
    assert manifest["counts"]["truncated_fields"] == {"subject": 1, "resolution": 1}
    assert json.loads(ws.manifest_path("ingest").read_text())["counts"]["truncated_fields"]["resolution"] == 1


# 6. auto: the closest mapping
def test_auto_reports_the_closest_mapping_and_its_missing_column():
    with pytest.raises(CasebaseError) as err:
        choose_mapping("auto", [c for c in SLX_TICKETS if c != "RECEIVEDDATE"], SLX_HISTORY)
    msg = str(err.value)
    assert "the closest is 'saleslogix'" in msg and "'RECEIVEDDATE' (field opened_at)" in msg
    assert "'ticket_id'" not in msg and "messages file lacks" not in msg


def test_swapped_files_are_named_as_swapped():
    with pytest.raises(CasebaseError, match="files look swapped"):
        choose_mapping("auto", SLX_HISTORY, SLX_TICKETS)


# 7. JSON that does not fit a table
def test_nested_lists_in_json_are_refused_with_the_field_and_row(tmp_path):
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps([{"ticket_id": "1", "tags": "a"},
                                {"ticket_id": "2", "comments": [{"body": "hi"}], "meta": {"files": ["a.png"]}}]))
    with pytest.raises(CasebaseError) as err:
        read_table(path)
    msg = str(err.value)
    assert "field 'comments' of row 2 is a list" in msg and "field 'meta.files' of row 2 is a list" in msg
    assert "nested records cannot be mapped" in msg


def test_nested_objects_become_dotted_columns_and_big_ids_stay_exact(tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"id": 12345678901234567, "requester": {"name": "Ann", "org": {"id": 7}}},
        {"id": 2, "subject": "x"}]))
    df, _ = read_table(path)
    assert list(df.columns) == ["id", "requester.name", "requester.org.id", "subject"]
    assert df["id"].tolist() == ["12345678901234567", "2"] and df["requester.org.id"].tolist() == ["7", None]


def test_json_object_with_several_arrays_needs_json_key(tmp_path):
    export = tmp_path / "export.json"
    export.write_text(json.dumps({
        "users": [{"id": "u1"}],
        "tickets": [{"ticket_id": "t1", "subject": "VAT", "opened_at": "2024-01-01"}],
        "comments": [{"ticket_id": "t1", "role": "customer", "body": "MTD submission fails with error 1603."}]}))
    result = cli("ingest", "--tickets", export, "--history", export, "-w", tmp_path / "ws")
    one_line_error(result, "several arrays ('users', 'tickets', 'comments')", "--json-key NAME")
    result = cli("ingest", "--tickets", export, "--history", export, "--json-key", "tickets", "-w", tmp_path / "ws")
    one_line_error(result, "--history-json-key NAME")
    result = cli("ingest", "--tickets", export, "--json-key", "ticket", "-w", tmp_path / "ws")
    one_line_error(result, "--json-key 'ticket' is not an array", "arrays found: 'users', 'tickets', 'comments'")
    result = cli("ingest", "--tickets", export, "--history", export, "--json-key", "tickets",
                 "--history-json-key", "comments", "-w", tmp_path / "ws", "--no-ner", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["messages"]["out"] == 1


def test_single_array_under_one_key_still_works(tmp_path):
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps({"count": 1, "tickets": [{"ticket_id": "t1"}]}))
    df, _ = read_table(path)
    assert df["ticket_id"].tolist() == ["t1"]


def test_parquet_list_column_is_refused(tmp_path):
    path = tmp_path / "tickets.parquet"
    pd.DataFrame({"ticket_id": ["1", "2"], "tags": [["a"], ["b", "c"]]}).to_parquet(path)
    with pytest.raises(CasebaseError, match="field 'tags' of row 1 is a list"):
        read_table(path)


# 8. other careless inputs
def test_mapping_that_is_a_directory_or_not_utf8(tmp_path):
    t, m = canonical_files(tmp_path)
    one_line_error(cli("ingest", "--tickets", t, "--history", m, "--mapping", tmp_path, "-w", tmp_path / "ws"),
                   "a directory, not a file")
    bad = tmp_path / "desk.toml"
    bad.write_bytes(b"[tickets]\nticket_id = \"\x81\"\n")
    one_line_error(cli("ingest", "--tickets", t, "--history", m, "--mapping", bad, "-w", tmp_path / "ws"),
                   f"mapping {bad}: cannot read it as UTF-8")


def test_unreadable_tickets_file(tmp_path, monkeypatch):
    t, m = canonical_files(tmp_path)
    original = type(t).read_bytes

    def deny(self):
        if self.name == "tickets.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return original(self)

    monkeypatch.setattr(type(t), "read_bytes", deny)
    one_line_error(cli("ingest", "--tickets", t, "--history", m, "-w", tmp_path / "ws"),
                   "tickets.csv: cannot read the file (Permission denied)")


def test_split_file_and_queries_that_are_missing_or_not_utf8(tmp_path):
    latin = tmp_path / "split.csv"
    latin.write_bytes("ticket_id,split\nCafé,test\n".encode("latin-1"))
    ws = tmp_path / "ws"
    one_line_error(cli("split", "--split-file", tmp_path / "nope.csv", "-w", ws), "--split-file", "no such file")
    one_line_error(cli("split", "--split-file", latin, "-w", ws), f"--split-file {latin}: not UTF-8")
    one_line_error(cli("search", "--queries", latin, "-w", ws), f"--queries {latin}: not UTF-8")


def test_empty_search_text_is_an_error(tmp_path):
    one_line_error(cli("search", "  ", "-w", tmp_path), "TEXT to search for is empty")


def test_sample_out_that_is_a_file(tmp_path):
    afile = tmp_path / "sample"
    afile.write_text("x")
    one_line_error(cli("sample", "--out", afile, "--tickets", "5"), f"--out {afile} is a file")


def test_an_os_error_in_a_stage_is_one_line(tmp_path, monkeypatch):
    import casebase.split

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "ws" / "train.jsonl"))

    monkeypatch.setattr(casebase.split, "run", full)
    one_line_error(cli("split", "-w", tmp_path / "ws"), "train.jsonl: No space left on device")
