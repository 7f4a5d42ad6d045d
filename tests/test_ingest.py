"""The ingest stage end to end on small exports: mappings, quarantine, roles, manifest."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from casebase.errors import CasebaseError
from casebase.ingest import run
from casebase.ingest.mappings import choose_mapping, load_mapping

EMAIL = r"[\w.+-]+@[\w-]+\.[\w.-]+"


def write_canonical(tmp_path, tickets=None, messages=None):
    tickets = tickets if tickets is not None else [
        {"ticket_id": "t1", "subject": "VAT return fails", "opened_at": "2024-03-01T09:00:00", "category": "vat"},
        {"ticket_id": "t2", "subject": "Bank feed stuck", "opened_at": "2024-03-02T10:00:00", "category": "bank"},
    ]
    messages = messages if messages is not None else [
        {"ticket_id": "t1", "message_id": "t1.0", "position": 0, "sent_at": "2024-03-01T09:00:00",
         "author": "Sarah Smith", "role": "customer",
         "body": "Hi Tom,\nMTD submission fails with error 1603.\nKind regards,\nSarah Smith\nsarah@harwood.example.com"},
        {"ticket_id": "t1", "message_id": "t1.1", "position": 1, "sent_at": "2024-03-01T11:00:00",
         "author": "Tom Baker", "role": "responder",
         "body": "Hi Sarah, re-authorise HMRC under Settings > MTD. Call me on 01632 960123.\nThanks\nTom"},
        {"ticket_id": "t1", "message_id": "t1.2", "position": 2, "sent_at": "2024-03-01T12:00:00",
         "author": "Sarah Smith", "role": "customer", "body": "Thanks, that worked!"},
        {"ticket_id": "t2", "message_id": "t2.0", "position": 0, "sent_at": "2024-03-02T10:00:00",
         "author": "Bob Jones", "role": "customer", "body": "<p>Bank feed stuck since Monday.</p><p>IBAN GB82 WEST 1234 5698 7654 32</p>"},
    ]
    t, m = tmp_path / "tickets.csv", tmp_path / "messages.csv"
    pd.DataFrame(tickets).to_csv(t, index=False)
    pd.DataFrame(messages).to_csv(m, index=False)
    return t, m


def test_canonical_export_is_cleaned_and_redacted(ws, tmp_path):
    t, m = write_canonical(tmp_path)
    manifest = run(ws, t, m)
    tickets = pd.read_parquet(ws.tickets)
    msgs = pd.read_parquet(ws.messages)
    assert manifest["mapping"]["name"] == "canonical" and manifest["config"]["mapping"] == "auto"
    assert tickets["ticket_id"].tolist() == ["t1", "t2"]
    assert str(tickets["opened_at"].dtype).startswith("datetime64")
    assert list(msgs.columns) == ["ticket_id", "message_id", "position", "sent_at", "role", "author", "body",
                                  "internal", "resolution"]
    assert not msgs["internal"].any() and not msgs["resolution"].any()  # a plain export: no notes, no recorded fix
    bodies = dict(zip(msgs["message_id"], msgs["body"]))
    assert bodies["t1.0"] == "MTD submission fails with error 1603."
    assert "<PHONE>" in bodies["t1.1"] and "01632" not in bodies["t1.1"]
    assert bodies["t1.2"] == "Thanks, that worked!"
    assert bodies["t2.0"] == "Bank feed stuck since Monday.\n\nIBAN <IBAN>"
    assert not msgs["body"].str.contains(EMAIL).any()
    assert not msgs["body"].str.contains("Sarah|Smith|Tom|Bob").any()
    assert msgs["author"].str.fullmatch(r"person-[0-9a-f]{8}").all()
    assert msgs.loc[msgs.message_id == "t1.0", "author"].item() == msgs.loc[msgs.message_id == "t1.2", "author"].item()
    assert manifest["counts"]["redacted"]["IBAN"] == 1 and manifest["counts"]["redacted"]["PHONE"] == 1


def test_manifest_records_config_hashes_counts_and_timings(ws, tmp_path):
    t, m = write_canonical(tmp_path)
    run(ws, t, m)
    manifest = json.loads(ws.manifest_path("ingest").read_text())
    assert manifest["casebase_version"]
    assert "git_sha" in manifest and manifest["libraries"]["pandas"]
    assert len(manifest["inputs"]["tickets"]["sha256"]) == 64 and manifest["inputs"]["history"]["path"].endswith(
        "messages.csv")
    assert manifest["counts"]["tickets"] == {"in": 2, "out": 2, "quarantined": 0, "balanced": True}
    assert manifest["counts"]["messages"] == {"in": 4, "out": 4, "quarantined": 0, "balanced": True}
    assert manifest["timings_s"]["total"] > 0


def test_every_bad_row_is_quarantined_with_its_reason(ws, tmp_path):
    tickets = [
        {"ticket_id": "t1", "subject": "ok", "opened_at": "2024-01-01"},
        {"ticket_id": "t1", "subject": "dup", "opened_at": "2024-01-02"},
        {"ticket_id": None, "subject": "no id", "opened_at": "2024-01-03"},
        {"ticket_id": "t3", "subject": "bad date", "opened_at": "next tuesday"},
        {"ticket_id": "t4", "subject": "no date", "opened_at": None},
    ]
    messages = [
        {"ticket_id": "t1", "message_id": "a", "position": 0, "sent_at": "2024-01-01", "author": "x", "role": "customer", "body": "kept"},
        {"ticket_id": "zz", "message_id": "b", "position": 0, "sent_at": "2024-01-01", "author": "x", "role": "customer", "body": "orphan"},
        {"ticket_id": "t3", "message_id": "c", "position": 0, "sent_at": "2024-01-01", "author": "x", "role": "customer", "body": "of a bad ticket"},
        {"ticket_id": "t1", "message_id": "d", "position": 1, "sent_at": "2024-01-01", "author": "x", "role": "responder", "body": None},
        {"ticket_id": "t1", "message_id": "e", "position": 2, "sent_at": "31/31/2024", "author": "x", "role": "responder", "body": "bad date"},
        {"ticket_id": "t1", "message_id": "a", "position": 3, "sent_at": "2024-01-01", "author": "x", "role": "responder", "body": "dup id"},
        {"ticket_id": "t1", "message_id": "f", "position": 4, "sent_at": "2024-01-01", "author": "x", "role": "responder",
         "body": "-----Original Message-----\nFrom: a\nSent: b\nTo: c\nold text"},
        {"ticket_id": "t1", "message_id": "g", "position": "x", "sent_at": "2024-01-01", "author": "x", "role": "responder", "body": "bad position"},
    ]
    t, m = write_canonical(tmp_path, tickets, messages)
    manifest = run(ws, t, m)
    q = pd.read_csv(ws.quarantine)
    reasons = dict(zip(zip(q["table"], q["row"]), q["reason"]))
    assert reasons[("tickets", 3)] == "duplicate ticket_id (first at row 2)"
    assert reasons[("tickets", 4)] == "missing ticket_id"
    assert reasons[("tickets", 5)] == "unparseable opened_at 'next tuesday'"
    assert reasons[("tickets", 6)] == "missing opened_at"
    assert reasons[("messages", 3)] == "message for an unknown ticket 'zz'"
    assert reasons[("messages", 4)].startswith("its ticket was quarantined (row 5")
    assert reasons[("messages", 5)] == "empty body"
    assert reasons[("messages", 6)] == "unparseable sent_at '31/31/2024'"
    assert reasons[("messages", 7)] == "duplicate message_id"
    assert reasons[("messages", 8)].startswith("empty after cleaning")
    assert reasons[("messages", 9)] == "position 'x' is not a whole number"
    assert set(q["file"]) == {"tickets.csv", "messages.csv"}
    c = manifest["counts"]
    assert c["tickets"] == {"in": 5, "out": 1, "quarantined": 4, "balanced": True}
    assert c["messages"] == {"in": 8, "out": 1, "quarantined": 7, "balanced": True}
    assert pd.read_parquet(ws.messages)["body"].tolist() == ["kept"]


def test_missing_required_column_names_it_and_the_columns_found(ws, tmp_path):
    t, m = tmp_path / "t.csv", tmp_path / "m.csv"
    pd.DataFrame([{"id": 1, "title": "x"}]).to_csv(t, index=False)
    pd.DataFrame([{"ticket_id": 1, "text": "x"}]).to_csv(m, index=False)
    with pytest.raises(CasebaseError) as err:
        run(ws, t, m, mapping="canonical")
    msg = str(err.value)
    assert "'ticket_id' (field ticket_id)" in msg and "'opened_at' (field opened_at)" in msg
    assert "columns found: 'id', 'title'" in msg
    assert "'body' (field body)" in msg and "columns found: 'ticket_id', 'text'" in msg
    assert "--mapping FILE" in msg and "docs/mapping.md" in msg


def test_wrong_mapping_suggests_the_one_that_fits(tmp_path):
    canonical_cols = ["ticket_id", "subject", "opened_at"]
    with pytest.raises(CasebaseError, match="use --mapping canonical"):
        choose_mapping("saleslogix", canonical_cols, ["ticket_id", "body"])
    assert choose_mapping("auto", canonical_cols, ["ticket_id", "body"]).name == "canonical"
    assert choose_mapping("auto", ["TICKETID", "RECEIVEDDATE"], ["TICKETID", "ACTIVITYDESC"]).name == "saleslogix"


def test_wrong_delimiter_gives_a_mapping_error_naming_the_single_column(ws, tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("ticket_id#subject#opened_at\nt1#x#2024-01-01\n")
    with pytest.raises(CasebaseError, match=r"columns found: 'ticket_id#subject#opened_at'"):
        run(ws, t, None, mapping="canonical")


def test_custom_toml_mapping_with_recoded_roles_and_ticket_body(ws, tmp_path):
    t, m, mapping = tmp_path / "cases.xlsx", tmp_path / "notes.jsonl", tmp_path / "desk.toml"
    pd.DataFrame([
        {"Case": "C-1", "Title": "Payroll RTI rejected", "Created": "05/02/2024 09:30", "Prio": "High",
         "Description": "RTI submission rejected with error 3001.\nRegards\nJane Doe\n+44 7700 900123",
         "Contact": "Jane Doe", "Mail": "jane.doe@acme.example"},
    ]).to_excel(t, index=False)
    m.write_text("\n".join(json.dumps(r) for r in [
        {"case": "C-1", "at": "06/02/2024 10:00", "agent": "true", "who": "Ann Lee", "text": "Update the PAYE reference, then resubmit."},
        {"case": "C-1", "at": "05/02/2024 11:00", "agent": "false", "who": "Jane Doe", "text": "Any news? Jane"},
    ]))
    mapping.write_text("""
[options]
dayfirst = true
[tickets]
ticket_id = "Case"
subject = "Title"
opened_at = "Created"
urgency = "Prio"
body = "Description"
contact_name = "Contact"
contact_email = "Mail"
[messages]
ticket_id = "case"
sent_at = "at"
author = "who"
role = "agent"
body = "text"
role_values = { "true" = "responder", "false" = "customer" }
""")
    manifest = run(ws, t, m, mapping=str(mapping))
    tickets = pd.read_parquet(ws.tickets)
    msgs = pd.read_parquet(ws.messages)
    assert "contact_name" not in tickets and "contact_email" not in tickets and "body" not in tickets
    assert tickets["opened_at"][0] == pd.Timestamp("2024-02-05 09:30")
    assert tickets["urgency"][0] == "High"
    assert msgs["position"].tolist() == [0, 1, 2]
    assert msgs["message_id"].tolist() == ["C-1.0", "C-1.1", "C-1.2"]
    assert msgs["role"].tolist() == ["customer", "customer", "responder"]
    assert msgs["body"][0] == "RTI submission rejected with error 3001."
    assert msgs["body"][1] == "Any news? <PERSON>"
    assert msgs["sent_at"][2] == pd.Timestamp("2024-02-06 10:00")
    assert manifest["counts"]["messages_from_ticket_body"] == {"in": 1, "out": 1, "quarantined": 0, "balanced": True}


def test_unmapped_role_values_are_an_error_listing_them(ws, tmp_path):
    t, m = write_canonical(tmp_path, messages=[
        {"ticket_id": "t1", "message_id": "a", "position": 0, "sent_at": "2024-01-01", "author": "x",
         "role": "agent", "body": "hello there"}])
    with pytest.raises(CasebaseError, match=r"role values \['agent'\].*role_values"):
        run(ws, t, m)


def test_roles_are_inferred_from_the_first_author_when_not_mapped(ws, tmp_path):
    t, m, mapping = *write_canonical(tmp_path, messages=[
        {"ticket_id": "t1", "author": "Kim", "body": "Stock valuation wrong after FIFO switch", "sent_at": "2024-01-01 10:00"},
        {"ticket_id": "t1", "author": "Agent A", "body": "Run the revaluation report.", "sent_at": "2024-01-01 11:00"},
        {"ticket_id": "t1", "author": "kim", "body": "Done, fixed.", "sent_at": "2024-01-01 12:00"},
    ]), tmp_path / "m.toml"
    mapping.write_text('[tickets]\nticket_id="ticket_id"\nopened_at="opened_at"\n'
                       '[messages]\nticket_id="ticket_id"\nauthor="author"\nbody="body"\nsent_at="sent_at"\n')
    run(ws, t, m, mapping=str(mapping))
    assert pd.read_parquet(ws.messages)["role"].tolist() == ["customer", "responder", "customer"]


def test_bad_mapping_file_lists_its_problems(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[tickets]\nsubject = 3\n')
    with pytest.raises(CasebaseError) as err:
        load_mapping(str(path))
    msg = str(err.value)
    assert "no [messages] table" in msg and "'ticket_id'" in msg and "subject must be a column name" in msg
    with pytest.raises(CasebaseError, match="not a built-in mapping"):
        load_mapping("nosuch")


def test_huge_body_is_truncated_and_counted(ws, tmp_path):
    t, m = write_canonical(tmp_path, messages=[
        {"ticket_id": "t1", "message_id": "a", "position": 0, "sent_at": "2024-01-01", "author": "x",
         "role": "customer", "body": "ORA-00942 " + "log line\n" * 120_000}])
    manifest = run(ws, t, m, max_body_chars=10_000)
    body = pd.read_parquet(ws.messages)["body"][0]
    assert body.startswith("ORA-00942") and len(body) < 10_100 and "characters truncated]" in body
    assert manifest["counts"]["truncated_bodies"] == 1


def test_rerun_gives_identical_output(ws, tmp_path):
    t, m = write_canonical(tmp_path)
    run(ws, t, m)
    first = pd.read_parquet(ws.messages)
    run(ws, t, m)
    pd.testing.assert_frame_equal(first, pd.read_parquet(ws.messages))


def test_forum_support_ingest(ws, forum):
    """The acceptance command: every row accounted for, no e-mail or phone left."""
    manifest = run(ws, forum / "tickets.csv", forum / "messages.csv")
    c = manifest["counts"]
    assert c["tickets"] == {"in": 2096, "out": 2096, "quarantined": 0, "balanced": True}
    assert c["messages"]["in"] == 8574 and c["messages"]["balanced"]
    q = pd.read_csv(ws.quarantine)
    assert len(q) == c["messages"]["quarantined"] <= 5 and q["reason"].notna().all()
    msgs = pd.read_parquet(ws.messages)
    assert len(msgs) == c["messages"]["out"]
    assert not msgs["body"].str.contains(EMAIL).any()
    assert not msgs["body"].str.contains(r"\b\d{3}-\d{3}-\d{4}\b|\+\d[\d .]{9,}\d").any()
    assert set(msgs["role"]) == {"customer", "responder"}
    assert manifest["timings_s"]["messages_per_s"] > 500
