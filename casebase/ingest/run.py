"""The ingest stage: read, map, check, clean, redact and write, losing no row.

    casebase ingest --tickets tickets.csv --history messages.csv --workspace ws

Every source row ends in ``tickets.parquet``/``messages.parquet`` or in
``quarantine.csv`` with its file, row number and reason; the manifest ``ingest.json``
proves rows in = rows out + rows quarantined.
"""

from __future__ import annotations

import csv
import os
import secrets
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.text import Text

from casebase.errors import CasebaseError
from casebase.ingest.config import IngestConfig
from casebase.ingest.connectors import closest_formats, find_connector, override_values
from casebase.ingest.mappings import (ROLES, Mapping, TableMapping, choose_mapping, connector_mapping,
                                      required_columns)
from casebase.ingest.workers import clean_and_redact, in_parallel
from casebase.ingest.fields import put_ticket_fields, resolution_labels, status_warnings, ticket_fields
from casebase.ingest.merge import HASH_COLUMN, content_hashes, drop_previous, keep_previous, load_previous, merge
from casebase.ingest.readers import read_table
from casebase.ingest.redact import Redactor, build_redactor
from casebase import progress
from casebase.workspace import Manifest, Workspace, atomic_write, write_manifest

QUARANTINE_COLUMNS = ["file", "row", "table", "ticket_id", "message_id", "reason", "preview"]


@dataclass
class Quarantine:
    rows: list[dict] = field(default_factory=list)

    def add(self, frame: pd.DataFrame, mask: pd.Series, reason, table: str, redactor: Redactor | None = None):
        """Move the rows of ``frame`` selected by ``mask`` here; return the rest."""
        bad = frame[mask]
        reasons = reason(bad) if callable(reason) else [reason] * len(bad)
        for (_, row), why in zip(bad.iterrows(), reasons):
            preview = str(row.get("body") or row.get("subject") or "")[:300]
            if redactor is not None and preview:
                preview = redactor.redact(preview)[0]
            self.rows.append({"file": row["_file"], "row": int(row["_row"]), "table": table,
                              "ticket_id": row.get("ticket_id"), "message_id": row.get("message_id"),
                              "reason": why, "preview": preview})
        return frame[~mask]

    def count(self, table: str) -> int:
        return sum(r["table"] == table for r in self.rows)

    def write(self, path: Path) -> None:
        # every text quoted: the csv module quotes only the line terminator "\n", and a bare "\r" of a
        # preview would end the row for pandas, the csv module and Excel
        pd.DataFrame(self.rows, columns=QUARANTINE_COLUMNS).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


def run(ws: Workspace, cfg: IngestConfig | str | Path | None = None, history: str | Path | None = None,
        **overrides) -> Manifest:
    """Ingest a raw export into the workspace; return the manifest (its ``config``: ``cfg`` resolved).

    ``run(ws, IngestConfig(tickets=...))``, or the fields as keywords: ``run(ws, tickets="t.csv", mapping=...)``;
    ``run(ws, "t.csv", "h.csv", ...)`` (tickets and history first) is kept for the many callers that use it.
    """
    from casebase.config import resolve

    t0 = time.perf_counter()
    if cfg is not None and not isinstance(cfg, IngestConfig):
        overrides["tickets"] = cfg
        cfg = None
    if history is not None:
        overrides["history"] = history
    overrides = {k: v for k, v in overrides.items() if not (k == "redact" and v is None)}
    cfg = resolve(IngestConfig, cfg, overrides, "ingest").resolved()
    with ExitStack() as stack:  # holds the named-entity process of a large export (``_ingest``)
        return _ingest(ws, cfg, t0, stack)


def _ingest(ws: Workspace, cfg: IngestConfig, t0: float, stack: ExitStack) -> Manifest:
    max_body_chars, redact, mapping = cfg.max_body_chars, cfg.redact, cfg.mapping
    json_key, history_json_key = cfg.json_key, cfg.history_json_key
    tickets, history = cfg.tickets, cfg.history
    connector, picked = find_connector(mapping, tickets, history)
    if connector is not None:  # a helpdesk's own export: its reader gives the canonical tables
        export = connector.read(tickets, history, users=cfg.users)
        t_raw, m_raw, warnings = export.tickets, export.messages, list(export.warnings)
        overrides = override_values(mapping) if picked.startswith("mapping file") else None
        m = connector_mapping(connector.name, connector.description, t_raw, m_raw, overrides)
        fmt = {"name": connector.name, "why": picked, "rows_in": export.rows_in}
        progress.log(Text(f"format: {connector.name} ({picked})"))
    else:
        t_raw, warnings = read_table(tickets, json_key)
        fmt = None
    if t_raw.empty or t_raw.isna().all(axis=None):
        raise CasebaseError(f"{tickets}: no rows in the file (only a header, or blank lines). "
                            "Export the tickets with their rows.")
    if connector is None:
        m_raw = None
        if history is not None:
            m_raw, more = read_table(history, history_json_key, key_flag="--history-json-key")
            warnings += more
        try:
            m = choose_mapping(mapping, list(t_raw.columns), list(m_raw.columns) if m_raw is not None else None)
        except CasebaseError as err:
            if mapping != "auto":
                raise
            closest = closest_formats(tickets, history)
            raise CasebaseError(f"{err} Nor is it a helpdesk export casebase reads; the closest formats: "
                                f"{'; '.join(closest)} (docs/mapping.md, 'Helpdesks').") from None
        if mapping == "auto":  # say which mapping fits and why, as a connector does
            found: dict[str, list[str]] = {}
            for table, _, col, ok in required_columns(m, list(t_raw.columns),
                                                      list(m_raw.columns) if m_raw is not None else None):
                found.setdefault(table, []).append(col)
            fmt = {"name": m.name, "why": "the columns it requires are all there ("
                   + "; ".join(f"{t}: {', '.join(c)}" for t, c in found.items()) + ")"}
            progress.log(Text(f"format: {m.name} ({fmt['why']})"))
    if m_raw is None and "body" not in m.tickets.columns:
        raise CasebaseError("no messages: give the message history with --history FILE, or map the ticket "
                            "table's description column as tickets.body in a mapping file (docs/mapping.md).")
    warnings += unmapped_warnings(m, t_raw, m_raw)
    t_read = time.perf_counter()
    if cfg.redact.ner and in_parallel(len(t_raw) + (0 if m_raw is None else len(m_raw))):
        from casebase.ingest.redact import ner

        ner.check_installed()
        stack.enter_context(ner.aside())  # the model loads on the other core while this one checks and builds

    names = collect_names(t_raw, m_raw, m)
    redactor = build_redactor(names, corpus_sample(t_raw, m_raw, m), key=workspace_key(ws), config=redact)
    q = Quarantine()
    tk, truncated_fields = cap_fields(select(t_raw, m.tickets, tickets.name), max_body_chars)
    tk = check_tickets(tk, q, m, redactor)
    warnings += status_warnings(tk, m)
    tk, more = resolution_labels(tk, m)
    warnings += more
    if tk.empty:
        raise CasebaseError(f"{tickets}: none of its {len(t_raw)} tickets can be used ({reasons(q, 'tickets')}). "
                            "Fix the export, or the mapping's columns and dayfirst option (docs/mapping.md).")
    msgs, n_from_body, n_from_resolution = build_messages(tk, m_raw, m, history or tickets, q, redactor)  # nested comments: in --tickets
    if msgs.empty:
        why = (f"{history} has no rows" if m_raw is not None and m_raw.empty else reasons(q, "messages")
               if m_raw is not None else f"the tickets' {m.tickets.columns['body']!r} is empty in every row")
        raise CasebaseError(f"no messages to ingest ({why}). Give the history file with its rows, or map "
                            "the ticket table's description column as tickets.body (docs/mapping.md).")
    prev, replaced = load_previous(ws, cfg.replace, m.name, replace_command(ws, cfg))  # re-ingest: ingest/merge.py
    hashes = content_hashes(tk, msgs, workspace_key(ws), {"max_body_chars": max_body_chars,
                                                          "redact": cfg.redact.model_dump(mode="json")})
    t_checked = time.perf_counter()

    columns, fields = ticket_fields(tk)  # redacted in the same worker pool and named-entity pass as the bodies
    msgs, stats = clean_and_redact(msgs, redactor, max_body_chars, q, fields=fields)
    tk, ticket_stats = put_ticket_fields(tk, columns, stats.pop("fields"))
    stats["redacted"] = dict(Counter(stats["redacted"]) + Counter(ticket_stats))
    t_clean = time.perf_counter()

    tk_out = tk.drop(columns=[c for c in tk.columns if c.startswith("_") or c in
                              ("body", "resolution", "contact_name", "contact_email")])  # body, resolution: messages
    for col in ("internal", "resolution"):  # booleans in the contract; exports without them: False
        msgs[col] = msgs[col].map(lambda v: str(v).strip().lower() in ("true", "1", "yes")) if col in msgs else False
    msg_out = msgs[["ticket_id", "message_id", "position", "sent_at", "role", "author", "body", "internal", "resolution"]]
    tk_out = tk_out.assign(**{HASH_COLUMN: tk_out["ticket_id"].map(hashes)})
    # this export merged into the workspace's earlier ones (new, changed, unchanged, older, kept): ingest/merge.py
    tk_all, msg_all, reingest = merge(prev, tk_out, msg_out, workspace_key(ws), replaced)
    ws.begin("ingest")  # each file renamed into place whole, the manifest last (with their hashes)
    if reingest["rewritten"]:
        keep_previous(ws, prev)  # the state merged into, kept whole until this run's manifest lands  # else an export with nothing new or changed: the files stay byte for byte
        atomic_write(ws.tickets, lambda tmp: tk_all.to_parquet(tmp, index=False))
        atomic_write(ws.messages, lambda tmp: msg_all.to_parquet(tmp, index=False))
    atomic_write(ws.quarantine, q.write)

    counts = {
        "tickets": {"in": len(t_raw), "out": len(tk_out), "quarantined": q.count("tickets")},
        "messages": {"in": 0 if m_raw is None else len(m_raw),
                     "out": len(msg_out) - (n_from_body - q.count("ticket-body"))
                     - (n_from_resolution - q.count("ticket-resolution")),
                     "quarantined": q.count("messages")},
        "messages_from_ticket_body": {"in": n_from_body, "out": n_from_body - q.count("ticket-body"),
                                      "quarantined": q.count("ticket-body")},
        "messages_from_ticket_resolution": {"in": n_from_resolution,
                                            "out": n_from_resolution - q.count("ticket-resolution"),
                                            "quarantined": q.count("ticket-resolution")},
        "messages_total_out": len(msg_out),
        "reingest": reingest,  # this export against the workspace; tickets_total/messages_total: what it now holds
        "redacted": stats["redacted"],
        "truncated_bodies": stats["truncated"],
        "truncated_fields": truncated_fields,
        "chars": {"in": stats["chars_in"], "out": stats["chars_out"]},
    }
    for table in ("tickets", "messages", "messages_from_ticket_body", "messages_from_ticket_resolution"):
        c = counts[table]
        c["balanced"] = c["in"] == c["out"] + c["quarantined"]
        if not c["balanced"]:  # a bug, not a user error: never write a manifest that hides lost rows
            raise AssertionError(f"ingest lost rows of {table}: {c}")
    inputs = {"tickets": tickets} | ({"history": history} if history else {})
    t_end = time.perf_counter()
    manifest = write_manifest(
        ws, "ingest",
        config=cfg.saved(), inputs=inputs, counts=counts,
        timings={"read": t_read - t0, "check": t_checked - t_read, "clean_redact": t_clean - t_checked,
                 "write": t_end - t_clean, "total": t_end - t0,
                 "messages_per_s": len(msgs) / max(t_clean - t_checked, 1e-9)},
        extra={"mapping": m.to_dict(), "format": fmt, "warnings": warnings, "redaction": redactor.describe(),
               "previous": None if prev is None else {"created_at": prev.manifest.get("created_at"),
                                                      "files": prev.manifest.get("files")},
               "outputs": [str(ws.tickets), str(ws.messages), str(ws.quarantine)]},
        files=[ws.tickets, ws.messages, ws.quarantine],
    )
    drop_previous(ws)
    return manifest


def replace_command(ws: Workspace, cfg: IngestConfig) -> str:
    """The command line that ingests this export alone, replacing what the workspace holds."""
    history = f" --history {cfg.history}" if cfg.history else ""
    return f"casebase ingest --workspace {ws.root} --tickets {cfg.tickets}{history} --mapping {cfg.mapping} --replace"


def workspace_key(ws: Workspace) -> bytes:
    """The workspace's pseudonym key, created on first use."""
    if not ws.secret.exists():
        atomic_write(ws.secret, _write_key)
    return ws.secret.read_text().strip().encode()


def _write_key(path: Path) -> None:
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(secrets.token_hex(32))


def unmapped_warnings(m: Mapping, t_raw: pd.DataFrame, m_raw: pd.DataFrame | None) -> list[str]:
    if m.source.startswith("built-in:"):
        return []
    out = []
    for table, tm, df in (("tickets", m.tickets, t_raw), ("messages", m.messages, m_raw)):
        if df is None:
            continue
        for fld, col in tm.columns.items():
            if col not in df.columns:
                out.append(f"mapping {m.name}: [{table}] {fld} = {col!r} is not a column of the file; "
                           f"{fld} is {'inferred' if (table, fld) == ('messages', 'role') else 'left empty'}")
    return out


def corpus_sample(t_raw: pd.DataFrame, m_raw: pd.DataFrame | None, m: Mapping, sample: int = 20_000) -> list[str]:
    """Text of this export from which the redactor learns its plain words and languages."""
    texts = []
    for raw, tm in ((m_raw, m.messages), (t_raw, m.tickets)):
        col = tm.columns.get("body")
        if raw is not None and col in raw.columns:
            texts.extend(str(t) for t in raw[col].dropna().head(sample))
    return texts


def collect_names(t_raw: pd.DataFrame, m_raw: pd.DataFrame | None, m: Mapping) -> list[str]:
    """People whose names must not survive: message authors and ticket contacts."""
    names: set[str] = set()
    col = m.tickets.columns.get("contact_name")
    if col in t_raw.columns:
        names.update(t_raw[col].dropna())
    col = m.messages.columns.get("author")
    if m_raw is not None and col in m_raw.columns:
        names.update(m_raw[col].dropna())
    # an author known only by a number (a helpdesk's user id) is no name: as one, it redacted "error 9001" in bodies
    return sorted(n for n in names if not str(n).strip().isdigit())


def reasons(q: Quarantine, table: str) -> str:
    """The commonest quarantine reasons of a table, for an error that nothing is left."""
    common = Counter(r["reason"] for r in q.rows if r["table"] == table).most_common(3)
    return "; ".join(f"{n} x {why}" for why, n in common) or "no rows"


def truncate(text: str, max_chars: int) -> str:
    return text[:max_chars] + f"\n[... {len(text) - max_chars} characters truncated]"


def cap_fields(tk: pd.DataFrame, max_chars: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Cut every ticket text field at ``max_chars`` (the body is cut with the messages; ids and
    dates are left whole); return the number cut per field."""
    counts = {}
    for col in tk.columns:
        if col.startswith("_") or col in ("ticket_id", "body", "opened_at", "closed_at"):
            continue
        long = tk[col].map(lambda v: isinstance(v, str) and len(v) > max_chars)
        if long.any():
            tk.loc[long, col] = [truncate(v, max_chars) for v in tk.loc[long, col]]
            counts[col] = int(long.sum())
    return tk, counts


def select(raw: pd.DataFrame, tm: TableMapping, file_name: str) -> pd.DataFrame:
    """Canonical columns from a raw table, values recoded, with the source file and row."""
    out = pd.DataFrame({fld: raw[col] for fld, col in tm.columns.items() if col in raw.columns})
    for fld, table in tm.values.items():
        if fld in out:
            default = table.get("*")
            out[fld] = out[fld].map(lambda v: table.get(str(v), default if default is not None else v)
                                    if v is not None else default)
    out["_file"] = file_name
    out["_row"] = raw.index + 2  # spreadsheet row: the header is row 1
    out["_blank"] = raw.isna().all(axis=1)  # a blank line of a csv: no value in any column
    return out


def parse_dates(values: pd.Series, dayfirst: bool) -> pd.Series:
    """ISO 8601 first (never day-first), then other formats with the mapping's dayfirst."""
    iso = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    rest = iso.isna() & values.notna()
    if rest.any():
        other = pd.to_datetime(values[rest], format="mixed", dayfirst=dayfirst, errors="coerce", utc=True)
        iso = iso.copy()
        iso[rest] = other
    return iso.dt.tz_localize(None).astype("datetime64[us]")


def check_tickets(tk: pd.DataFrame, q: Quarantine, m: Mapping, redactor: Redactor) -> pd.DataFrame:
    tk = q.add(tk, tk["_blank"], "empty row (no value in any column)", "tickets", redactor)
    tk = q.add(tk, tk["ticket_id"].isna(), "missing ticket_id", "tickets", redactor)
    tk["ticket_id"] = tk["ticket_id"].str.strip()
    first_row = tk.groupby("ticket_id")["_row"].transform("min")
    tk = q.add(tk, tk["_row"] != first_row,
               lambda b: [f"duplicate ticket_id (first at row {r})" for r in first_row[b.index]], "tickets", redactor)
    raw_opened = tk["opened_at"]
    tk["opened_at"] = parse_dates(raw_opened, m.dayfirst)
    tk = q.add(tk, raw_opened.isna(), "missing opened_at", "tickets", redactor)
    tk = q.add(tk, tk["opened_at"].isna(),
               lambda b: [f"unparseable opened_at {v!r}" for v in raw_opened[b.index]], "tickets", redactor)
    for col in ("closed_at", "updated_at"):
        if col in tk:
            tk[col] = parse_dates(tk[col], m.dayfirst)
    return tk


def build_messages(tk: pd.DataFrame, m_raw: pd.DataFrame | None, m: Mapping, history: Path | None,
                   q: Quarantine, redactor: Redactor) -> tuple[pd.DataFrame, int]:
    """History rows checked against the kept tickets, plus each ticket body as its first message."""
    has_body = "body" in tk.columns
    parts = []
    if has_body:
        body = tk[tk["body"].notna()]
        first = pd.DataFrame({
            "ticket_id": body["ticket_id"], "message_id": None, "position": 0, "sent_at": body["opened_at"],
            "author": body.get("contact_name", body.get("contact_email")), "role": "customer",
            "body": body["body"], "_file": body["_file"], "_row": body["_row"], "_from_ticket": True})
        parts.append(first)
    n_from_body = len(parts[0]) if parts else 0
    n_from_resolution = 0
    if "resolution" in tk.columns:  # the desk's recorded resolution (SalesLogix SOLUTION): a message of its own, last
        text = tk["resolution"].where(tk["resolution"].notna(), "").astype(str)
        rec = tk[text.str.strip() != ""]
        parts.append(pd.DataFrame({
            "ticket_id": rec["ticket_id"], "message_id": rec["ticket_id"] + ".resolution", "position": None,
            "sent_at": rec["closed_at"] if "closed_at" in rec else None, "author": None, "role": "responder",
            "body": rec["resolution"], "internal": False, "resolution": True, "_file": rec["_file"],
            "_row": rec["_row"], "_from_ticket": False, "_from_resolution": True}))
        n_from_resolution = len(rec)

    if m_raw is not None:
        ms = select(m_raw, m.messages, history.name)
        known = set(tk["ticket_id"])
        quarantined = {r["ticket_id"]: r for r in q.rows if r["table"] == "tickets" and r["ticket_id"]}
        ms["ticket_id"] = ms["ticket_id"].str.strip()
        ms = q.add(ms, ms["_blank"], "empty row (no value in any column)", "messages", redactor)

        def unknown_reason(bad: pd.DataFrame) -> list[str]:
            out = []
            for tid in bad["ticket_id"]:
                if tid is None:
                    out.append("missing ticket_id")
                elif tid in quarantined:
                    r = quarantined[tid]
                    out.append(f"its ticket was quarantined (row {r['row']}: {r['reason']})")
                else:
                    out.append(f"message for an unknown ticket {tid!r}")
            return out

        ms = q.add(ms, ~ms["ticket_id"].isin(known), unknown_reason, "messages", redactor)
        ms = q.add(ms, ms["body"].isna(), "empty body", "messages", redactor)
        if "message_id" in ms:
            dup = ms["message_id"].notna() & ms.duplicated("message_id", keep="first")
            ms = q.add(ms, dup, "duplicate message_id", "messages", redactor)
        if "sent_at" in ms:
            raw_sent = ms["sent_at"]
            ms["sent_at"] = parse_dates(raw_sent, m.dayfirst)
            ms = q.add(ms, raw_sent.notna() & ms["sent_at"].isna(),
                       lambda b: [f"unparseable sent_at {v!r}" for v in raw_sent[b.index]], "messages", redactor)
        if "position" in ms:
            pos = pd.to_numeric(ms["position"], errors="coerce")
            ms = q.add(ms, pos.isna() | (pos % 1 != 0),
                       lambda b: [f"position {v!r} is not a whole number" for v in b["position"]], "messages", redactor)
            ms["position"] = pd.to_numeric(ms["position"]).astype(int)
        ms["_from_ticket"] = False
        parts.append(ms)

    msgs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    msgs["_from_resolution"] = msgs["_from_resolution"].fillna(False).astype(bool) if "_from_resolution" in msgs \
        else False
    for col in ("message_id", "position", "sent_at", "author", "role"):
        if col not in msgs:
            msgs[col] = None
    msgs = assign_positions(msgs, has_body, m_raw is not None and "position" in m.messages.columns)
    # Roles are checked when the mapped role column is in the file; when it is unmapped, or mapped but absent
    # (the built-in mappings name every field; optional columns a file lacks are left out, a mapping file's
    # get a warning), they are inferred as docs/mapping.md describes. Only ticket bodies: all customer.
    role_col = m.messages.columns.get("role")
    msgs = assign_roles(msgs, tk, m_raw is None or (role_col is not None and role_col in m_raw.columns))
    msgs["author"] = msgs["author"].map(redactor.pseudonym)
    return msgs, n_from_body, n_from_resolution


def assign_positions(msgs: pd.DataFrame, has_body: bool, source_positions: bool) -> pd.DataFrame:
    """Thread order: the ticket body first, then history by its own position or by time."""
    msgs = msgs.copy()
    msgs["_order"] = pd.to_numeric(msgs["position"], errors="coerce").astype(float) if source_positions else 0.0
    msgs.loc[msgs["_from_ticket"], "_order"] = -1
    msgs.loc[msgs["_from_resolution"], "_order"] = float("inf")  # the recorded resolution: after the thread
    msgs["_t"] = pd.to_datetime(msgs["sent_at"])
    msgs = msgs.sort_values(["ticket_id", "_order", "_t", "_row"], kind="stable", na_position="last")
    if source_positions:
        msgs["position"] = msgs["position"].fillna(0).astype(int) + (1 if has_body else 0)
        msgs.loc[msgs["_from_ticket"], "position"] = 0
        res = msgs["_from_resolution"]
        if res.any():  # one past the thread's last position
            last = msgs[~res].groupby("ticket_id")["position"].max()
            msgs.loc[res, "position"] = msgs.loc[res, "ticket_id"].map(last).fillna(-1).astype(int) + 1
    else:
        msgs["position"] = msgs.groupby("ticket_id").cumcount()
    msgs["position"] = msgs["position"].astype(int)
    missing_id = msgs["message_id"].isna()
    msgs.loc[missing_id, "message_id"] = (msgs.loc[missing_id, "ticket_id"] + "."
                                          + msgs.loc[missing_id, "position"].astype(str))
    return msgs.drop(columns=["_order", "_t"]).reset_index(drop=True)


def assign_roles(msgs: pd.DataFrame, tk: pd.DataFrame, mapped: bool) -> pd.DataFrame:
    """Roles as mapped (checked), else inferred: the ticket's contact and the author of its
    first message are the customer, everybody else a responder."""
    if mapped:
        msgs.loc[msgs["_from_ticket"], "role"] = "customer"
        bad = sorted(set(msgs["role"].dropna()) - set(ROLES)) + (["<empty>"] if msgs["role"].isna().any() else [])
        if bad:
            raise CasebaseError(
                f"messages: role values {bad[:10]} are not {' or '.join(ROLES)}. Recode them in a mapping file, "
                'e.g. role_values = { "agent" = "responder", "client" = "customer", "*" = "responder" } '
                "(docs/mapping.md)."
            )
        return msgs
    contacts = {}
    for col in ("contact_name", "contact_email"):
        if col in tk:
            for tid, v in zip(tk["ticket_id"], tk[col]):
                if v:
                    contacts.setdefault(tid, set()).add(str(v).strip().lower())
    first_author = msgs.sort_values("position").groupby("ticket_id")["author"].first()
    roles = []
    for tid, author, from_ticket in zip(msgs["ticket_id"], msgs["author"], msgs["_from_ticket"]):
        a = str(author).strip().lower() if author is not None else None
        is_customer = from_ticket or (a is not None and (a in contacts.get(tid, ()) or
                                                         a == str(first_author.get(tid)).strip().lower()))
        roles.append("customer" if is_customer else "responder")
    msgs["role"] = roles
    return msgs
