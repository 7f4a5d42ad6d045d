"""Re-ingest of a later export into the same workspace (issue 16, item 5): new tickets added, changed ones replaced,
unchanged ones left byte for byte, absent ones kept unless --replace; extraction's cache sees what changed."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from casebase.errors import CasebaseError
from casebase.ingest import run
from casebase.ingest.merge import HASH_COLUMN
from casebase.workspace import file_sha256, write_manifest

FAST = {"redact": {"ner": False}}


def ticket(tid, day, subject, **extra):
    return {"ticket_id": tid, "subject": subject, "opened_at": f"2024-03-{day:02d}T09:00:00", "category": "vat",
            **extra}


def thread(tid, day, *bodies):
    """Messages alternating customer, responder, customer, ... an hour apart."""
    return [{"ticket_id": tid, "message_id": f"{tid}.{i}", "position": i, "sent_at": f"2024-03-{day:02d}T{9 + i:02d}:00:00",
             "author": "Ann Customer" if i % 2 == 0 else "Rob Agent", "role": "customer" if i % 2 == 0 else "responder",
             "body": body} for i, body in enumerate(bodies)]


def write_export(folder, tickets, messages):
    folder.mkdir(parents=True, exist_ok=True)
    t, m = folder / "tickets.csv", folder / "messages.csv"
    pd.DataFrame(tickets).to_csv(t, index=False)
    pd.DataFrame(messages).to_csv(m, index=False)
    return t, m


T1 = (ticket("t1", 1, "VAT return fails"), thread("t1", 1, "The VAT return fails with error 1603.",
                                                   "Re-authorise HMRC under Settings > MTD.", "Thanks, that worked!"))
T2 = (ticket("t2", 2, "Bank feed stuck"), thread("t2", 2, "The bank feed is stuck since Monday.",
                                                 "Which bank is it?"))
T3 = (ticket("t3", 3, "Invoice PDF blank"), thread("t3", 3, "Invoice PDFs come out blank.",
                                                   "Switch the template to Classic.", "Fixed, thank you."))
T4 = (ticket("t4", 4, "Payroll rounding"), thread("t4", 4, "Payroll rounds the pension wrongly.",
                                                  "Set rounding to per employee in Payroll settings.", "Solved, thanks"))
T2_LATER = (T2[0], T2[1] + thread("t2", 2, "", "", "It is Barclays.", "Reconnect the feed under Banking > Feeds.",
                                  "That did the trick, thanks.")[2:])


MAPPING = """name = "desk"
[tickets]
ticket_id = "ticket_id"
subject = "subject"
opened_at = "opened_at"
updated_at = "updated_at"
status = "status"
category = "category"
[messages]
ticket_id = "ticket_id"
message_id = "message_id"
position = "position"
sent_at = "sent_at"
author = "author"
role = "role"
body = "body"
internal = "internal"
resolution = "resolution"
"""


def desk_mapping(folder):
    """A mapping file for a flat export with the fields the built-in canonical mapping leaves out (updated_at,
    status, internal, resolution)."""
    path = folder / "desk.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(MAPPING)
    return path


def export(folder, *tickets, bad_rows=()):
    return write_export(folder, [t for t, _ in tickets] + list(bad_rows), [m for _, ms in tickets for m in ms])


def frames(ws):
    return pd.read_parquet(ws.tickets), pd.read_parquet(ws.messages)


def test_later_export_adds_new_replaces_changed_keeps_unchanged_and_absent(ws, tmp_path):
    # the first export has a broken row (no opened_at): quarantined by that run only
    first = run(ws, *export(tmp_path / "a", T1, T2, T3, bad_rows=[{"ticket_id": "t9", "subject": "no date"}]), **FAST)
    assert (first["counts"]["reingest"]["mode"], first["counts"]["reingest"]["new"]) == ("first", 3)
    assert len(pd.read_csv(ws.quarantine)) == 1
    t_before, m_before = frames(ws)
    manifest = run(ws, *export(tmp_path / "b", T2_LATER, T3, T4), **FAST)  # t1 absent (older than the export window)
    c = manifest["counts"]
    assert {k: c["reingest"][k] for k in ("new", "changed", "unchanged", "older", "kept", "dropped")} == \
        {"new": 1, "changed": 1, "unchanged": 1, "older": 0, "kept": 1, "dropped": 0}
    assert c["reingest"]["mode"] == "merge" and c["reingest"]["tickets_total"] == 4
    # the balance is about this export's rows: 3 tickets and their messages in, all out
    assert c["tickets"] == {"in": 3, "out": 3, "quarantined": 0, "balanced": True}
    assert c["messages"]["in"] == c["messages"]["out"] == len(T2_LATER[1]) + len(T3[1]) + len(T4[1])
    assert pd.read_csv(ws.quarantine).empty  # this run's quarantine: the first run's broken row is not repeated
    tickets, msgs = frames(ws)
    assert tickets["ticket_id"].tolist() == ["t1", "t2", "t3", "t4"]  # changed ones stay in place, new ones last
    assert c["reingest"]["messages_total"] == len(msgs) == len(T1[1]) + len(T2_LATER[1]) + len(T3[1]) + len(T4[1])
    assert msgs.groupby("ticket_id").size().to_dict() == {"t1": 3, "t2": 5, "t3": 3, "t4": 3}
    assert msgs.loc[msgs.ticket_id == "t2", "position"].tolist() == [0, 1, 2, 3, 4]
    assert msgs.loc[msgs.ticket_id == "t2", "body"].iloc[-1] == "That did the trick, thanks."
    # kept and unchanged tickets are the earlier run's rows, untouched (same pseudonyms, same redaction)
    for tid in ("t1", "t3"):
        pd.testing.assert_frame_equal(m_before[m_before.ticket_id == tid].reset_index(drop=True),
                                      msgs[msgs.ticket_id == tid].reset_index(drop=True))
        assert t_before.loc[t_before.ticket_id == tid, HASH_COLUMN].item() == \
            tickets.loc[tickets.ticket_id == tid, HASH_COLUMN].item()
    assert manifest["previous"]["created_at"] == first["created_at"]
    assert manifest["previous"]["files"]["tickets.parquet"]["sha256"] == first["files"]["tickets.parquet"]["sha256"]
    assert ws.require("ingest", ws.tickets, ws.messages)["files"]["tickets.parquet"]["sha256"] == file_sha256(ws.tickets)


def test_the_same_export_again_leaves_the_files_byte_for_byte(ws, tmp_path):
    files = export(tmp_path / "a", T1, T2)
    run(ws, *files, **FAST)
    before = {p: file_sha256(p) for p in (ws.tickets, ws.messages)}
    c = run(ws, *files, **FAST)["counts"]["reingest"]
    assert (c["unchanged"], c["new"], c["changed"], c["kept"], c["rewritten"]) == (2, 0, 0, 0, False)
    assert {p: file_sha256(p) for p in (ws.tickets, ws.messages)} == before


def test_updated_at_never_lets_an_older_copy_replace_a_newer_one(ws, tmp_path):
    newer = [dict(T1[0], updated_at="2024-03-10T00:00:00"), dict(T2[0], updated_at="2024-03-10T00:00:00")]
    mapping = str(desk_mapping(tmp_path))
    run(ws, *write_export(tmp_path / "a", newer, T1[1] + T2[1]), mapping=mapping, **FAST)
    # an old export: t1 as it was before, with a different subject; t2 updated after the first export
    later = [dict(T1[0], subject="VAT return (old title)", updated_at="2024-03-05T00:00:00"),
             dict(T2_LATER[0], updated_at="2024-03-12T00:00:00")]
    c = run(ws, *write_export(tmp_path / "b", later, T1[1] + T2_LATER[1]), mapping=mapping, **FAST)["counts"]["reingest"]
    assert (c["older"], c["changed"], c["unchanged"]) == (1, 1, 0)
    tickets, msgs = frames(ws)
    assert tickets.set_index("ticket_id")["subject"].to_dict() == {"t1": "VAT return fails", "t2": "Bank feed stuck"}
    assert str(tickets.set_index("ticket_id")["updated_at"]["t2"]) == "2024-03-12 00:00:00"
    assert (msgs.ticket_id == "t2").sum() == len(T2_LATER[1])


def test_replace_makes_the_workspace_exactly_the_export(ws, tmp_path):
    run(ws, *export(tmp_path / "a", T1, T2, T3), **FAST)
    c = run(ws, *export(tmp_path / "b", T3, T4), replace=True, **FAST)["counts"]["reingest"]
    assert (c["mode"], c["new"], c["replaced"], c["dropped"], c["kept"], c["tickets_total"]) == \
        ("replace", 1, 1, 2, 0, 2)  # t4 new, t3 written again, t1 and t2 gone
    tickets, msgs = frames(ws)
    assert tickets["ticket_id"].tolist() == ["t3", "t4"] and set(msgs["ticket_id"]) == {"t3", "t4"}


def test_a_changed_setting_rewrites_every_ticket_of_the_export(ws, tmp_path):
    files = export(tmp_path / "a", T1, T2)
    run(ws, *files, **FAST)
    c = run(ws, *files, max_body_chars=20, **FAST)["counts"]["reingest"]
    assert (c["changed"], c["unchanged"]) == (2, 0)  # the bodies are now cut at 20 characters: written again
    assert frames(ws)[1]["body"].str.contains("characters truncated").any()


def test_another_desks_export_is_refused_unless_replace(ws, tmp_path):
    from casebase.sample import write_sample

    run(ws, *export(tmp_path / "a", T1, T2), **FAST)
    sample = write_sample(tmp_path / "sl", n_tickets=8, seed=3, fmt="csv")
    t, h = [p for p in map(str, sample["files"])]
    with pytest.raises(CasebaseError, match=r"read with the 'canonical' mapping.*--replace"):
        run(ws, t, h, **FAST)
    assert frames(ws)[0]["ticket_id"].tolist() == ["t1", "t2"]  # nothing written
    c = run(ws, t, h, replace=True, **FAST)["counts"]["reingest"]
    assert (c["mode"], c["dropped"], c["replaced"], c["new"]) == ("replace", 2, 0, c["tickets_total"])


def test_a_workspace_out_of_step_with_its_manifest_is_not_merged(ws, tmp_path):
    run(ws, *export(tmp_path / "a", T1, T2), **FAST)
    tickets = pd.read_parquet(ws.tickets)
    tickets.iloc[:1].to_parquet(ws.tickets, index=False)  # edited by hand: a merge would build on a wrong base
    with pytest.raises(CasebaseError, match=r"does not match .*--replace"):
        run(ws, *export(tmp_path / "b", T3), **FAST)
    assert run(ws, *export(tmp_path / "b", T3), replace=True, **FAST)["counts"]["reingest"]["tickets_total"] == 1


def test_a_workspace_ingested_before_source_hash_is_compared_by_its_written_rows(ws, tmp_path):
    files = export(tmp_path / "a", T1, T2)
    first = run(ws, *files, **FAST)
    pd.read_parquet(ws.tickets).drop(columns=[HASH_COLUMN]).to_parquet(ws.tickets, index=False)  # as ingested before
    write_manifest(ws, "ingest", config=first["config"], inputs={"tickets": files[0]}, counts=first["counts"],
                   timings={}, extra={"mapping": first["mapping"]}, files=[ws.tickets, ws.messages, ws.quarantine])
    c = run(ws, *export(tmp_path / "b", T1, T2_LATER), **FAST)["counts"]["reingest"]
    assert (c["unchanged"], c["changed"]) == (1, 1)
    tickets = pd.read_parquet(ws.tickets)
    assert tickets[HASH_COLUMN].notna().all()  # filled in: the next re-ingest compares hashes
    assert run(ws, *export(tmp_path / "b", T1, T2_LATER), **FAST)["counts"]["reingest"]["rewritten"] is False


def test_reingest_then_extract_works_only_new_and_changed_tickets(ws, tmp_path):
    from casebase.extract.run import run as extract

    run(ws, *export(tmp_path / "a", T1, T2, T3), **FAST)
    first = extract(ws)
    assert (first["counts"]["worked"], first["counts"]["from_cache"]) == (3, 0)
    reingest = run(ws, *export(tmp_path / "b", T2_LATER, T3, T4), **FAST)["counts"]["reingest"]
    second = extract(ws)
    assert second["counts"]["cases"] == reingest["tickets_total"] == 4
    assert second["counts"]["from_cache"] == reingest["unchanged"] + reingest["kept"] == 2  # t1 kept, t3 unchanged
    assert second["counts"]["worked"] == reingest["new"] + reingest["changed"] == 2  # t4 new, t2 changed
    cases = pd.read_parquet(ws.cases).set_index("ticket_id")
    assert cases.loc["t2", "resolved"] and "Banking > Feeds" in cases.loc["t2", "solution"]  # its new reply


def test_cli_replace_flag(tmp_path):
    from casebase.cli import app

    runner = CliRunner()
    ws = tmp_path / "ws"
    for folder, tickets, extra in (("a", (T1, T2), []), ("b", (T3,), ["--replace"])):
        t, m = export(tmp_path / folder, *tickets)
        result = runner.invoke(app, ["ingest", "--tickets", str(t), "--history", str(m), "-w", str(ws), "--no-ner",
                                     "--json", *extra])
        assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]["reingest"]
    assert (counts["mode"], counts["dropped"], counts["new"], counts["tickets_total"]) == ("replace", 2, 1, 1)
    assert json.loads((ws / "ingest.json").read_text())["config"]["replace"] is True


def test_a_later_zendesk_export_merges_by_updated_at_and_extraction_follows_the_status(ws, tmp_path):
    """The Zendesk connector's fixture, then a later export of the same desk: ticket 102 got the agent's fix and
    was solved, 101 fell out of the export window, 103 is as it was, 104 is new."""
    from casebase.extract.run import run as extract
    from pathlib import Path

    fixture = Path(__file__).parent / "data" / "connectors" / "zendesk" / "export.json"
    records = [json.loads(line) for line in fixture.read_text().splitlines() if line.strip()]
    run(ws, fixture, mapping="zendesk", **FAST)
    first = extract(ws)
    by_id = {r["id"]: r for r in records}
    assert not pd.read_parquet(ws.cases).set_index("ticket_id").loc["102", "resolved"]  # on hold: not resolved
    later_102 = json.loads(json.dumps(by_id[102]))
    later_102.update(status="solved", updated_at="2024-05-06T09:00:00Z")
    agent = next(c["author_id"] for c in by_id[101]["comments"][1:] if c["public"])
    later_102["comments"].append({**later_102["comments"][0], "id": 1099, "author_id": agent, "public": True,
                                  "created_at": "2024-05-06T08:55:00Z",
                                  "body": "Re-run the export from Reports > VAT after clearing the cache.",
                                  "plain_body": "Re-run the export from Reports > VAT after clearing the cache.",
                                  "html_body": "<p>Re-run the export from Reports &gt; VAT after clearing the cache.</p>"})
    new_104 = {**json.loads(json.dumps(by_id[103])), "id": 104, "url": by_id[103]["url"].replace("103", "104"),
               "subject": "Cannot add a user", "raw_subject": "Cannot add a user", "description": "Cannot add a user"}
    later = tmp_path / "later.json"
    later.write_text("".join(json.dumps(r) + "\n" for r in (later_102, by_id[103], new_104)))
    c = run(ws, later, mapping="zendesk", **FAST)["counts"]["reingest"]
    assert {k: c[k] for k in ("new", "changed", "unchanged", "older", "kept")} == \
        {"new": 1, "changed": 1, "unchanged": 1, "older": 0, "kept": 1}
    tickets = pd.read_parquet(ws.tickets).set_index("ticket_id")
    assert tickets.loc["102", "status"] == "solved" and str(tickets.loc["102", "updated_at"]) == "2024-05-06 09:00:00"
    second = extract(ws)
    assert second["counts"]["from_cache"] == 2 and second["counts"]["worked"] == 2  # 101, 103 / 102, 104
    assert first["counts"]["cases"] == 3 and second["counts"]["cases"] == 4
    case = pd.read_parquet(ws.cases).set_index("ticket_id").loc["102"]
    assert case["resolved"] and case["solution"].startswith("Re-run the export from Reports > VAT")


def test_a_merge_killed_between_its_renames_is_merged_again_from_the_state_it_started_from(ws, tmp_path, monkeypatch):
    """tickets.parquet renamed into place, messages.parquet not yet: the re-run found the files out of step with
    their manifest and refused (tests/test_crash.py's kill at rename 1 of a re-ingest). The state the merge
    started from is kept until its manifest lands, and the re-run merges into it."""
    import importlib

    ingest_run = importlib.import_module("casebase.ingest.run")  # the package exports its run() under that name
    from casebase.ingest.merge import SAVED

    run(ws, *export(tmp_path / "a", T1, T2, T3), **FAST)
    later = export(tmp_path / "b", T2_LATER, T4)
    clean = ws.root.parent / "clean"
    run(type(ws).at(clean), *export(tmp_path / "a2", T1, T2, T3), **FAST)
    run(type(ws).at(clean), *later, **FAST)  # the same merge, not killed: the reference

    real, calls = ingest_run.atomic_write, []

    def killed_after_the_first_rename(path, write):
        real(path, write)
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt("killed")  # stands in for SIGKILL: nothing after this runs

    monkeypatch.setattr(ingest_run, "atomic_write", killed_after_the_first_rename)
    with pytest.raises(KeyboardInterrupt):
        run(ws, *later, **FAST)
    monkeypatch.setattr(ingest_run, "atomic_write", real)
    assert (ws.root / SAVED).is_dir()
    with pytest.raises(CasebaseError, match="does not match"):
        ws.require("ingest", ws.tickets, ws.messages)  # the kill left the files out of step
    again = run(ws, *later, **FAST)  # before: refused with "does not match ... --replace"
    assert again["counts"]["reingest"]["new"] == 1 and again["counts"]["reingest"]["changed"] == 1
    assert again["counts"]["reingest"]["kept"] == 2
    assert not (ws.root / SAVED).exists()
    for name in ("tickets.parquet", "messages.parquet"):
        got, want = pd.read_parquet(ws.root / name), pd.read_parquet(clean / name)
        other_key = [HASH_COLUMN, "author"]  # keyed by each workspace's own pseudonym key
        pd.testing.assert_frame_equal(got.drop(columns=other_key, errors="ignore"),
                                      want.drop(columns=other_key, errors="ignore"))


def test_forget_erases_the_state_an_interrupted_merge_kept(ws, tmp_path):
    """.ingest-previous/ holds the tickets as they were: casebase forget must not leave an erased one there."""
    from casebase.ingest.merge import SAVED
    from casebase.forget import run as forget

    run(ws, *export(tmp_path / "a", T1, T2, T3), **FAST)
    saved = ws.root / SAVED
    saved.mkdir()
    for name in ("tickets.parquet", "messages.parquet"):
        (saved / name).write_bytes((ws.root / name).read_bytes())
    forget(ws, tickets=["t1"])
    assert not saved.exists()
