"""The connector framework: `--mapping auto` says which format it picked and why, claims no flat export for a
helpdesk, and an export of no known shape gets the closest formats with the fields they need."""

from __future__ import annotations

import json

import pytest

from casebase.errors import CasebaseError
from casebase.ingest import run as ingest
from casebase.ingest.connectors import find_connector, peek, registry
from casebase.workspace import Workspace
from test_cli_errors import canonical_files


def test_a_flat_canonical_export_is_read_by_its_column_mapping_and_the_manifest_says_why(tmp_path):
    t, m = canonical_files(tmp_path)
    assert find_connector("auto", t, m) == (None, "")  # no helpdesk connector claims it
    manifest = ingest(Workspace.at(tmp_path / "ws"), t, m)
    assert manifest["format"]["name"] == "canonical"
    assert "tickets: ticket_id, opened_at" in manifest["format"]["why"]


def test_the_bundled_saleslogix_sample_is_not_claimed_by_a_connector(tmp_path):
    from casebase.sample import write_sample

    write_sample(tmp_path / "raw", n_tickets=20, seed=1, fmt="csv")
    files = sorted((tmp_path / "raw").glob("*.csv"))
    tickets = next(f for f in files if "ticket" in f.name)
    history = next(f for f in files if f != tickets)
    assert find_connector("auto", tickets, history) == (None, "")


def test_an_export_of_no_known_shape_lists_the_closest_formats_and_their_fields(tmp_path):
    if not registry():
        pytest.skip("no connector module yet")
    odd = tmp_path / "export.ndjson"
    odd.write_text(json.dumps({"case_no": 1, "headline": "printer", "opened": "2024-01-01"}) + "\n")
    with pytest.raises(CasebaseError) as err:
        ingest(Workspace.at(tmp_path / "ws"), odd)
    message = str(err.value)
    assert "closest formats" in message and "needs" in message
    assert any(name in message for name in registry())


def test_peek_reads_little_and_never_raises(tmp_path):
    nd = tmp_path / "a.ndjson"
    nd.write_text('{"id": 1, "comments": [{"author_id": 2}], "via": {"channel": "email"}}\n' + "{bad\n" * 3)
    p = peek(nd)
    assert p.kind == "ndjson" and "comments" in p.columns and "via.channel" in p.columns
    doc = tmp_path / "b.json"
    doc.write_text(json.dumps({"tickets": [{"id": 1, "subject": "x"}], "count": 1}))
    p = peek(doc)
    assert p.kind == "json" and p.document_keys == ["tickets", "count"] and p.record == {"id": 1, "subject": "x"}
    assert peek(tmp_path / "missing.json") is None
    broken = tmp_path / "c.json"
    broken.write_text("{")
    assert peek(broken).record is None


def toy_connector():
    """A connector of a made-up format (one JSON document with nested notes), for the framework alone."""
    from casebase.ingest.connectors import Connector, Export, frame

    def detect(pt, ph):
        return "a toy export (its records hold notes[])" if pt and "notes" in pt.columns else None

    def read(tickets, history, users=None):
        data = json.loads(tickets.read_text())
        rows, msgs = [], []
        for t in data:
            rows.append({"ticket_id": t["id"], "subject": t["title"], "opened_at": t["at"], "status": t["state"],
                         "urgency": t["prio"]})
            for i, n in enumerate(t["notes"]):
                msgs.append({"ticket_id": t["id"], "position": i, "sent_at": t["at"], "author": n["by"],
                             "role": "customer" if i == 0 else "responder", "body": n["text"],
                             "internal": "true" if n.get("internal") else "false", "resolution": "false"})
        return Export(frame(rows, ("ticket_id",)), frame(msgs, ("ticket_id",)), {"tickets": len(rows), "messages": len(msgs)})

    return Connector(name="toy", description="toy", needs="notes, title, state", export_hint="-", detect=detect, read=read)


def test_a_connector_is_picked_by_auto_its_output_flows_through_and_a_mapping_file_recodes_it(tmp_path, monkeypatch):
    import casebase.ingest.connectors as connectors
    import pandas as pd

    toy = toy_connector()
    monkeypatch.setattr(connectors, "registry", lambda: {"toy": toy})
    export = tmp_path / "toy.json"
    export.write_text(json.dumps([
        {"id": "T1", "title": "Printer stuck", "at": "2024-01-02T10:00:00", "state": "7", "prio": "p1",
         "notes": [{"by": "Ann Customer", "text": "The printer queue is stuck since this morning."},
                   {"by": "Bob Agent", "text": "Restarted the spooler, checking logs.", "internal": True},
                   {"by": "Bob Agent", "text": "Restart the spool service; it works again."}]}]))
    ws = Workspace.at(tmp_path / "ws")
    manifest = ingest(ws, export)
    assert manifest["format"] == {"name": "toy", "why": "a toy export (its records hold notes[])",
                                  "rows_in": {"tickets": 1, "messages": 3}}
    assert manifest["counts"]["messages"]["balanced"] and manifest["counts"]["messages"]["out"] == 3
    msgs = pd.read_parquet(ws.messages)
    assert msgs["internal"].tolist() == [False, True, False] and msgs["role"].tolist()[0] == "customer"
    override = tmp_path / "my-toy.toml"
    override.write_text('connector = "toy"\n[tickets]\nstatus_values = { "7" = "solved" }\nurgency_values = { "p1" = "High" }\n')
    ingest(Workspace.at(tmp_path / "ws2"), export, mapping=str(override))
    tk = pd.read_parquet(tmp_path / "ws2" / "tickets.parquet")
    assert tk["status"].tolist() == ["solved"] and tk["urgency"].tolist() == ["High"]
    bad = tmp_path / "bad.toml"
    bad.write_text('connector = "toy"\n[tickets]\nsubject = "headline"\n')
    with pytest.raises(CasebaseError, match="only recodes values"):
        ingest(Workspace.at(tmp_path / "ws3"), export, mapping=str(bad))


def test_an_input_given_as_a_folder_is_hashed_like_a_file(tmp_path):
    """One comments file per ticket (Zendesk, Zammad) is a folder given as --history: the manifest hashed inputs
    with file_sha256, which raised IsADirectoryError after the whole ingest had run."""
    from casebase.workspace import write_manifest

    folder = tmp_path / "comments"
    (folder / "sub").mkdir(parents=True)
    (folder / "1.json").write_text('{"comments": []}')
    (folder / "sub" / "2.json").write_text('{"comments": []}')
    ws = Workspace.at(tmp_path / "ws")
    first = write_manifest(ws, "ingest", config={}, inputs={"history": folder}, counts={}, timings={})
    (folder / "sub" / "2.json").write_text('{"comments": [{"id": 1}]}')
    second = write_manifest(ws, "ingest", config={}, inputs={"history": folder}, counts={}, timings={})
    assert first["inputs"]["history"]["sha256"] != second["inputs"]["history"]["sha256"]
