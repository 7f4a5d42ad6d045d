"""Re-ingest: a later export of the same desk merged into the workspace's tickets and messages (issue 16, item 5).

    casebase ingest --workspace ws --tickets export-2026-12.ndjson --mapping zendesk            # merge
    casebase ingest --workspace ws --tickets full-export.ndjson --mapping zendesk --replace    # the export is all

Each ticket of the export is **new** (not in the workspace), **changed** (its content differs: it replaces the
workspace's copy, messages and all), **unchanged** (the workspace's rows are kept as they are, so later stages'
content-keyed caches hit), or **older** (the export's ``updated_at`` is before the workspace's: an older copy never
replaces a newer one). Tickets of the workspace that the export lacks are **kept** (an export of the last 90 days
must not erase older history) unless ``--replace`` says the export is complete; then they are **dropped**.

"Differs" is decided by ``source_hash``, a column of tickets.parquet: an HMAC (keyed by the workspace's pseudonym
key, so it fingerprints no text outside the workspace) of the ticket's canonical row and its messages as read,
before cleaning and redaction, and of the settings that shape the output (``max_body_chars``, ``[redact]``). A
re-run on the same export is therefore a no-op whatever the redactor learns from the rest of the export, and a
changed setting re-writes every ticket of the export. Rows ingested before ``source_hash`` existed are compared by
their written (cleaned, redacted) content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from casebase.errors import CasebaseError
from casebase.workspace import Workspace, read_parquet

HASH_COLUMN = "source_hash"
KINDS = ("new", "changed", "unchanged", "older")


@dataclass
class Previous:
    tickets: pd.DataFrame
    messages: pd.DataFrame
    manifest: dict[str, Any]
    saved: bool = False  # read from SAVED (the last whole state, kept while a merge replaced the files)


# A merge replaces tickets.parquet and messages.parquet one rename at a time: a kill between them leaves a merged
# tickets table beside the earlier messages. So the last whole state (both tables and their manifest, hard links:
# no copy) is kept here until the merge's manifest is written, and a re-run after a kill merges into it again.
SAVED = ".ingest-previous"
SAVED_FILES = ("tickets.parquet", "messages.parquet", "quarantine.csv", "ingest.json")


def keep_previous(ws: Workspace, prev: Previous | None) -> None:
    """Before a merge replaces the files: keep the state it merges into (unless that is already the kept one)."""
    import os
    import shutil

    from casebase.workspace import atomic_dir

    if prev is None or prev.saved:
        return

    def link(tmp) -> None:
        for name in SAVED_FILES:
            try:
                os.link(ws.root / name, tmp / name)
            except OSError:  # a file system without hard links
                shutil.copy2(ws.root / name, tmp / name)

    atomic_dir(ws.root / SAVED, link)


def drop_previous(ws: Workspace) -> None:
    """Once the merge's manifest vouches for the new files, the kept state is not needed."""
    import shutil

    shutil.rmtree(ws.root / SAVED, ignore_errors=True)


def _saved_previous(ws: Workspace) -> Previous | None:
    """The state kept by a merge that was killed before its manifest, when it is whole; else None."""
    from casebase.workspace import pending_marker, recover_dir, verify_outputs

    saved = ws.root / SAVED
    recover_dir(saved)
    if not saved.is_dir() or not pending_marker(ws.manifest_path("ingest")).exists():
        return None
    try:
        manifest = verify_outputs(saved / "ingest.json", "casebase ingest", [saved / "tickets.parquet"])
    except CasebaseError:
        return None
    if manifest is None:
        return None
    command = f"casebase ingest --workspace {ws.root} ... --replace"
    return Previous(read_parquet(saved / "tickets.parquet", command), read_parquet(saved / "messages.parquet", command),
                    manifest, saved=True)


def _rows(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Each row as one string: the column names, then each value (a missing one as NUL), vectorised."""
    out = pd.Series("\x1d".join(cols), index=df.index, dtype=object)
    for c in cols:
        out = out + "\x1f" + df[c].astype(str).where(df[c].notna(), "\x00").astype(object)
    return out


def content_hashes(tickets: pd.DataFrame, messages: pd.DataFrame, key: bytes, settings: dict[str, Any] | None = None,
                   skip: tuple[str, ...] = ()) -> dict[str, str]:
    """ticket_id -> HMAC-SHA256 of its row (every column but ``_``-prefixed ones and ``skip``) and its messages
    in thread order, with ``settings``."""
    salt = json.dumps(settings or {}, sort_keys=True, default=str)
    t_cols = sorted(c for c in tickets.columns if not c.startswith("_") and c not in skip and c != HASH_COLUMN)
    m_cols = sorted(c for c in messages.columns if not c.startswith("_") and c not in skip)
    t_rows = _rows(tickets, t_cols)
    msgs = messages.sort_values(["ticket_id", "position"], kind="stable") if "position" in messages else messages
    per_ticket = _rows(msgs, m_cols).groupby(msgs["ticket_id"].to_numpy(), sort=False).agg("\x1e".join).to_dict()
    return {tid: hmac.new(key, "\x1c".join((salt, row, per_ticket.get(tid, ""))).encode("utf-8", "surrogatepass"),
                          hashlib.sha256).hexdigest()
            for tid, row in zip(tickets["ticket_id"], t_rows)}


def load_previous(ws: Workspace, replace: bool, mapping_name: str, fix: str) -> tuple[Previous | None, set | None]:
    """The workspace's ingested tables to merge into (None on a first ingest or with ``replace``), and with
    ``replace`` the ids of the tickets it held (else None). ``fix``: the command line that ingests this export
    alone."""
    if replace:
        return None, _ids(ws)
    if not ws.manifest_path("ingest").exists():
        return None, None  # a first ingest (files without a manifest were made by hand: replaced as before)
    try:
        manifest = ws.require("ingest", ws.tickets, ws.messages)
    except CasebaseError as err:
        kept = _saved_previous(ws)  # a merge killed between its renames: merge into the state it started from
        if kept is not None:
            return _same_desk(kept, mapping_name, fix, ws), None
        raise CasebaseError(f"{err}; or, to ingest this export alone, `{fix}`") from None
    if manifest is None or not ws.tickets.exists() or not ws.messages.exists():
        return None, None
    command = f"casebase ingest --workspace {ws.root} ... --replace"
    prev = Previous(read_parquet(ws.tickets, command), read_parquet(ws.messages, command), manifest)
    return _same_desk(prev, mapping_name, fix, ws), None


def _same_desk(prev: Previous, mapping_name: str, fix: str, ws: Workspace) -> Previous:
    manifest = prev.manifest
    before = (manifest.get("mapping") or {}).get("name") if isinstance(manifest.get("mapping"), dict) else None
    if before and before != mapping_name:
        raise CasebaseError(
            f"{ws.root} holds an ingest read with the {before!r} mapping; this export is read with {mapping_name!r}, "
            f"so it is not a later export of the same desk and cannot be merged. Ingest it into another --workspace, "
            f"or replace the workspace's tickets with it: `{fix}`")
    return prev


def _ids(ws: Workspace) -> set:
    """The ticket ids the workspace holds (none when it has no readable tickets.parquet: it is replaced)."""
    try:
        return set(pd.read_parquet(ws.tickets, columns=["ticket_id"])["ticket_id"]) if ws.tickets.exists() else set()
    except (OSError, ValueError, KeyError):
        return set()


def merge(prev: Previous | None, tickets: pd.DataFrame, messages: pd.DataFrame, key: bytes,
          replaced: set | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The workspace's tables after this export (``tickets`` with its ``source_hash`` column, ``messages``), and the
    counts: new, changed, unchanged, older (each of this export's kept tickets is one of these), kept (in the
    workspace, not in the export); with --replace (``replaced``: the ids the workspace held) replaced (in the
    workspace before, written again from this export) and dropped (not in the export: gone); tickets_total,
    messages_total; rewritten (False: nothing changed, the workspace's files are to be left as they are)."""
    counts = dict.fromkeys((*KINDS, "kept", "replaced", "dropped"), 0)
    if prev is None:
        ids = set(tickets["ticket_id"])
        before = replaced or set()
        counts.update(new=len(ids - before), replaced=len(ids & before), dropped=len(before - ids),
                      mode="replace" if replaced is not None else "first")
        return _totals(tickets, messages, counts)
    old_t, old_m = prev.tickets, prev.messages
    for col in ("internal", "resolution"):  # a workspace ingested before these fields: none was
        if col not in old_m:
            old_m = old_m.assign(**{col: False})
    old_ids = old_t["ticket_id"].tolist()
    old_at = {tid: i for i, tid in enumerate(old_ids)}
    if HASH_COLUMN in old_t:
        old_hash = dict(zip(old_ids, old_t[HASH_COLUMN]))
    else:
        old_hash = {}
    legacy = [tid for tid in tickets["ticket_id"] if tid in old_at and not isinstance(old_hash.get(tid), str)]
    if legacy:  # written before source_hash: compare the written content, on the columns both copies have
        common_t = [c for c in tickets.columns if c in old_t.columns and c != HASH_COLUMN]
        common_m = [c for c in messages.columns if c in old_m.columns]
        pick = lambda df, cols: df.loc[df["ticket_id"].isin(legacy), cols]  # noqa: E731
        then = content_hashes(pick(old_t, common_t), pick(old_m, common_m), key)
        now = content_hashes(pick(tickets, common_t), pick(messages, common_m), key)
    else:
        then = now = {}
    upd_old = dict(zip(old_ids, old_t["updated_at"])) if "updated_at" in old_t else {}
    kind = {}
    for tid, h, upd in zip(tickets["ticket_id"], tickets[HASH_COLUMN],
                           tickets["updated_at"] if "updated_at" in tickets else [None] * len(tickets)):
        if tid not in old_at:
            kind[tid] = "new"
            continue
        before = upd_old.get(tid)
        if pd.notna(upd) and before is not None and pd.notna(before) and pd.Timestamp(upd) < pd.Timestamp(before):
            kind[tid] = "older"
        elif tid in then:
            kind[tid] = "unchanged" if then[tid] == now[tid] else "changed"
        else:
            kind[tid] = "unchanged" if old_hash.get(tid) == h else "changed"
    for k in kind.values():
        counts[k] += 1
    counts["kept"] = sum(tid not in kind for tid in old_ids)
    counts["mode"] = "merge"
    take = {tid for tid, k in kind.items() if k in ("new", "changed")}
    if not take and not legacy:  # nothing to write: the workspace's files stay as they are (byte for byte)
        return _totals(old_t, old_m, {**counts, "rewritten": False})
    keep_t = old_t[~old_t["ticket_id"].isin(take)]
    if legacy:  # rows kept from before source_hash get this export's hash, so the next re-ingest can compare it
        fresh = dict(zip(tickets["ticket_id"], tickets[HASH_COLUMN]))
        keep_t = keep_t.assign(**{HASH_COLUMN: [fresh.get(t, old_hash.get(t)) for t in keep_t["ticket_id"]]})
    add_t = tickets[tickets["ticket_id"].isin(take)]
    merged_t = pd.concat([f for f in (keep_t, add_t) if len(f)], ignore_index=True)
    order = merged_t["ticket_id"].map(lambda t: old_at.get(t, len(old_at)))  # changed ones stay in place
    merged_t = merged_t.iloc[order.argsort(kind="stable")].reset_index(drop=True)
    keep_m = old_m[~old_m["ticket_id"].isin(take)]
    add_m = messages[messages["ticket_id"].isin(take)]
    merged_m = pd.concat([f for f in (keep_m, add_m) if len(f)], ignore_index=True)
    merged_m = merged_m.sort_values("ticket_id", kind="stable").reset_index(drop=True)  # thread order kept
    return _totals(merged_t, merged_m, counts)


def _totals(tickets, messages, counts):
    counts.setdefault("rewritten", True)  # False: tickets.parquet and messages.parquet were left untouched
    counts["tickets_total"], counts["messages_total"] = len(tickets), len(messages)
    if counts["tickets_total"] != sum(counts[k] for k in (*KINDS, "kept", "replaced")):  # a bug, not a user error
        raise AssertionError(f"re-ingest lost tickets: {counts}")
    return tickets, messages, counts
