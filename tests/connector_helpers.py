"""Helpers shared by the connector tests (tests/test_connector_*.py): ingesting into a workspace, reading a canonical
export (or the first threads of one), and the round trip's comparison of a connector's ingest with the canonical one.
Each test file keeps its own writer of its helpdesk's export and its own assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from casebase.ingest import run
from casebase.ingest.connectors import peek
from casebase.workspace import Workspace

FIXTURES = Path(__file__).parent / "data" / "connectors"
TICKET_COLUMNS = ["ticket_id", "subject", "opened_at", "category"]  # what a round trip compares of each ticket
SMALL_TICKETS = [
    {"ticket_id": "t1", "subject": "VAT return fails", "opened_at": "2024-03-01T09:00:00", "category": "vat"},
    {"ticket_id": "t2", "subject": "Bank feed stuck", "opened_at": "2024-03-02T10:00:00", "category": "bank"},
    {"ticket_id": "t3", "subject": "Reply first", "opened_at": "2024-03-03T08:00:00", "category": "misc"},
]
SMALL_MESSAGES = [  # (ticket_id, position, sent_at, author, role, body); t3 opens with a responder's message
    ("t1", 0, "2024-03-01T09:00:00", "Sarah Smith", "customer", "MTD submission fails with error 1603;\nsee log."),
    ("t1", 1, "2024-03-01T11:00:00", "Tom Baker", "responder", "Re-authorise HMRC under Settings > MTD."),
    ("t1", 2, "2024-03-01T12:00:00", "Sarah Smith", "customer", "Thanks, that worked!"),
    ("t2", 0, "2024-03-02T10:00:00", "Bob Jones", "customer", "<p>Bank feed stuck since Monday.</p>"),
    ("t2", 1, "2024-03-02T10:30:00", "Tom Baker", "responder", "Reconnect the feed; it expires after 90 days."),
    ("t3", 0, "2024-03-03T08:05:00", "Tom Baker", "responder", "We noticed your backup failed last night."),
    ("t3", 1, "2024-03-03T09:00:00", "Ann Lee", "customer", "Thanks, which file?"),
]


def ingest_ws(tmp_path: Path, name: str, tickets: Path, history: Path | None = None, users: Path | None = None,
              mapping: str = "auto"):
    """(workspace, manifest, tickets, messages, quarantine) of ingesting the files into ``tmp_path / name``."""
    ws = Workspace.at(tmp_path / name)
    manifest = run(ws, tickets, history, mapping=mapping, users=users)
    return ws, manifest, pd.read_parquet(ws.tickets), pd.read_parquet(ws.messages), pd.read_csv(ws.quarantine)


def ingested(tmp_path: Path, name: str = "ws", **kw) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(manifest, tickets, messages, quarantine as strings) of ``casebase.ingest.run(ws, **kw)``."""
    ws = Workspace.at(tmp_path / name)
    manifest = run(ws, **kw)
    return (manifest, pd.read_parquet(ws.tickets), pd.read_parquet(ws.messages),
            pd.read_csv(ws.quarantine, dtype=str))


def read_ws(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    return (pd.read_parquet(ws.tickets), pd.read_parquet(ws.messages),
            json.loads((ws.root / "ingest.json").read_text()))


def balanced(manifest: dict) -> None:
    """Every ticket and message read is out or quarantined, and ingest counted the messages the connector read."""
    for table in ("tickets", "messages"):
        c = manifest["counts"][table]
        assert c["in"] == c["out"] + c["quarantined"], (table, c)
    assert manifest["counts"]["messages"]["in"] == manifest["format"]["rows_in"]["messages"]


def thread(msgs: pd.DataFrame, tid: str) -> pd.DataFrame:
    return msgs[msgs["ticket_id"] == tid].sort_values("position")


def read_canonical(tickets: Path, messages: Path, limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A canonical export as text; with ``limit`` its first tickets and their messages only."""
    t = pd.read_csv(tickets, dtype=str, keep_default_na=False)
    m = pd.read_csv(messages, dtype=str, keep_default_na=False)
    if limit is not None:
        t = t.head(limit)
        m = m[m["ticket_id"].isin(set(t["ticket_id"]))]
    return t, m


def write_frames(folder: Path, tickets: pd.DataFrame, messages: pd.DataFrame) -> tuple[Path, Path]:
    """The two tables as a canonical export, ``folder``/tickets.csv and messages.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    t, m = folder / "tickets.csv", folder / "messages.csv"
    tickets.to_csv(t, index=False)
    messages.to_csv(m, index=False)
    return t, m


def canonical_frames(tickets: list[dict], messages: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tickets and (ticket_id, position, sent_at, author, role, body) messages as the canonical tables."""
    cols = ("ticket_id", "position", "sent_at", "author", "role", "body")
    rows = [dict(zip(cols, m), message_id=f"{m[0]}.{m[1]}") for m in messages]
    return pd.DataFrame(tickets), pd.DataFrame(rows)


def small_canonical(*extra: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``SMALL_TICKETS`` and ``SMALL_MESSAGES`` as the canonical tables; ``extra`` messages join their threads."""
    return canonical_frames(SMALL_TICKETS, sorted([*SMALL_MESSAGES, *extra], key=lambda m: (m[0], m[1])))


def assert_same_tickets(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    key = lambda d: d[TICKET_COLUMNS].sort_values("ticket_id").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(expected), key(got))


def in_thread_order(msgs: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """``cols`` of the messages in thread order (ticket, position); ``order`` numbers each thread 0, 1, ..."""
    msgs = msgs.sort_values(["ticket_id", "position"], kind="stable")
    return msgs.assign(order=msgs.groupby("ticket_id").cumcount())[cols].reset_index(drop=True)


def assert_same_threads(expected: pd.DataFrame, got: pd.DataFrame, cols: list[str]) -> int:
    """The same ``cols`` of the messages, thread by thread in order; returns the number compared."""
    a, b = in_thread_order(expected, cols), in_thread_order(got, cols)
    pd.testing.assert_frame_equal(a, b)
    return len(a)


def same_threads_as_canonical(tmp_path: Path, tickets: pd.DataFrame, messages: pd.DataFrame, name: str,
                               write) -> int:
    """Ingest the canonical export and ``write(tickets, messages, tmp_path)``'s form of it (a dict of ``run``'s
    tickets, history, users) with --mapping auto and one pseudonym key (the same pseudonyms for the same names);
    assert connector ``name`` read it, the same tickets and the same threads (body, role, order, sent_at); return
    the number of messages compared."""
    ws_c, ws_x = Workspace.at(tmp_path / "ws-canonical"), Workspace.at(tmp_path / f"ws-{name}")
    t, m = write_frames(tmp_path, tickets, messages)
    run(ws_c, t, m, mapping="canonical")
    ws_x.secret.write_text(ws_c.secret.read_text())
    manifest = run(ws_x, mapping="auto", **write(tickets, messages, tmp_path))
    assert manifest["format"]["name"] == name
    (tk_c, msg_c, _), (tk_x, msg_x, _) = read_ws(ws_c), read_ws(ws_x)
    assert_same_tickets(tk_c, tk_x)
    return assert_same_threads(msg_c, msg_x, ["ticket_id", "order", "sent_at", "role", "body"])


def same_as_canonical(ws_canon: Workspace, ws_other: Workspace, kept_id: str = "number") -> None:
    """The connector's ingest gives the canonical ingest's tickets (subject, opened_at, category) and messages
    (body, role, order, sent_at), its tickets matched by the canonical id it kept in ``kept_id``."""
    ct, cm, cman = read_ws(ws_canon)
    ot, om, oman = read_ws(ws_other)
    to_canon = dict(zip(ot["ticket_id"], ot[kept_id]))
    ot = ot.assign(ticket_id=ot["ticket_id"].map(to_canon))
    om = om.assign(ticket_id=om["ticket_id"].map(to_canon))
    for name in ("tickets", "messages"):
        assert {k: cman["counts"][name][k] for k in ("out", "quarantined")} == \
            {k: oman["counts"][name][k] for k in ("out", "quarantined")}, name
    assert_same_tickets(ct, ot)
    assert assert_same_threads(cm, om, ["ticket_id", "position", "body", "role", "sent_at"]) > 0


def round_trip(tmp_path: Path, tickets: Path, messages: Path, name: str, write, limit: int | None = None) -> None:
    """A canonical export (its first ``limit`` tickets) ingested as it is and as ``write(t, m, tmp_path)`` writes it
    for connector ``name`` (--mapping auto): ``same_as_canonical``."""
    t, m = read_canonical(tickets, messages, limit)
    ct, cm = write_frames(tmp_path / "canon", t, m)
    ws_c, ws_o = Workspace.at(tmp_path / "ws-canon"), Workspace.at(tmp_path / f"ws-{name}")
    run(ws_c, ct, cm, mapping="canonical")
    manifest = run(ws_o, *write(t, m, tmp_path), mapping="auto")
    assert manifest["format"]["name"] == name
    same_as_canonical(ws_c, ws_o)


def same_as_canonical_by_order(tmp_path: Path, name: str, order: list[str], tickets_csv: Path, messages_csv: Path,
                               **files: Path) -> int:
    """The connector's ingest of ``files`` (--mapping auto) gives the canonical ingest's tickets and messages (body,
    role, sent_at, internal, resolution, in thread order); its numeric ticket ids n are ``order[n - 1]``. Returns
    the number of messages compared."""
    m_x, t_x, msg_x, _ = ingested(tmp_path, f"{name}-ws", mapping="auto", **files)
    _, t_c, msg_c, _ = ingested(tmp_path, "canonical-ws", tickets=tickets_csv, history=messages_csv,
                                mapping="canonical")
    assert m_x["format"]["name"] == name
    balanced(m_x)
    for df in (t_x, msg_x):
        df["ticket_id"] = df["ticket_id"].map(lambda i: order[int(i) - 1])  # back to the canonical ids, by order
    assert_same_tickets(t_c, t_x)
    return assert_same_threads(msg_c, msg_x, ["ticket_id", "body", "role", "sent_at", "internal", "resolution"])


def fixtures_claimed(connector) -> list[str]:
    """``folder/name`` of every connector fixture file that ``connector.detect`` claims alone."""
    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file())
    return [f"{f.parent.name}/{f.name}" for f in files if (p := peek(f)) is not None and connector.detect(p, None)]
