"""Erase tickets from every file of a workspace: a GDPR erasure request in one command.

    casebase forget --workspace ws --ticket T-1042                  # one ticket and its messages
    casebase forget --workspace ws --person "Sarah Smith" --dry-run  # what would go, nothing changed
    casebase forget --workspace ws --text "Harwood Plumbing" --json

Selectors (repeatable, combined as a union): ``--ticket ID``; ``--person NAME``: every ticket in
which the person wrote (``messages.parquet`` author = the workspace's pseudonym of the name) and
every ticket whose text still names them (case-insensitive, whole words); ``--text STRING``: every
ticket whose subject, messages, case problem or solution contain it (case-insensitive).

The tickets go from tickets, messages, quarantine, cases (and the extract cache), the splits, the
index (rows dropped, BM25 rebuilt by the index builder's code, the other embeddings kept) and
``casebase.db`` (retained cases, and suggestions that cite or contain them). Each file is written
beside itself and renamed into place, then its stage manifest gets new counts, hashes and a
``forgotten`` entry (when, how many tickets, which selector types: never a name or a text).
Adapters trained on an erased train/val ticket and evaluations whose test set or index held one
are marked ``stale``; ``casebase serve`` warns when it serves a stale arm.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casebase import erase
from casebase.erase import SPLITS, case_files, db_rows, jsonl_rows, load_json, read_quarantine
from casebase.errors import CasebaseError
from casebase.stale import mark_stale, stale_targets
from casebase.workspace import Workspace, file_sha256, write_json, write_manifest

SELECTORS = ("ticket", "person", "text")
MIN_TEXT = 3  # a shorter --text would match nearly every ticket
CASE_TEXT = ("subject", "problem", "solution")


@dataclass
class Selection:
    """The tickets to erase, which selector type found each, and the patterns for non-ticket records."""

    ids: set[str]
    by: dict[str, int]
    pattern: re.Pattern | None  # names verbatim and texts: suggestions and quarantine previews are matched by it
    types: list[str]


def run(ws: Workspace, tickets=(), persons=(), texts=(), dry_run: bool = False) -> dict:
    """Erase the selected tickets from the workspace (or, with ``dry_run``, only say what would go); the summary."""
    t0 = time.perf_counter()
    tickets, persons, texts = _check_args(tickets, persons, texts)
    if not ws.root.is_dir():
        raise CasebaseError(f"no workspace at {ws.root}: give the workspace the pipeline wrote (--workspace DIR).")
    sel = select(ws, tickets, persons, texts)
    now = dt.datetime.now(dt.timezone.utc)
    at = now.isoformat(timespec="seconds")
    plan = erase.Plan()
    erase.plan_tables(ws, plan, sel.ids, sel.pattern)
    erase.plan_cases(ws, plan, sel.ids)
    splits = erase.split_ids(ws)
    erase.plan_splits(ws, plan, sel.ids)
    erase.plan_retained(ws, plan, sel.ids)
    index_ids = erase.plan_index(ws, plan, sel.ids, at)
    erase.plan_db(ws, plan, sel.ids, sel.pattern)
    erase.plan_evals(ws, plan, sel.ids, sel.pattern)
    stale = stale_targets(ws, sel.ids, splits, index_ids)
    reason = f"forget: {len(sel.ids)} tickets erased on {now:%Y-%m-%d}"
    summary = {"dry_run": dry_run, "workspace": str(ws.root), "tickets": len(sel.ids), "ticket_ids": sorted(sel.ids),
               "selectors": sel.by, "files": {k: v for k, v in plan.rows.items() if v["rows_removed"]},
               "untouched_files": sorted(k for k, v in plan.rows.items() if not v["rows_removed"]),
               "stale": [{"path": p, "reason": reason} for p in stale], "notes": _notes(ws), "at": at}
    if dry_run:
        return summary
    from casebase.ingest.merge import drop_previous

    drop_previous(ws)  # the state an interrupted re-ingest kept holds the erased tickets too: it goes
    rewritten: dict[Path, str] = {}
    for name, write in plan.writes:
        write()
        path = ws.root / name
        if path.is_file():
            rewritten[path.resolve()] = file_sha256(path)
    entry = {"at": at, "tickets": len(sel.ids), "selectors": sel.types}
    _update_stage_manifests(ws, plan, rewritten, entry)
    if plan.writes and ws.index.exists():  # running servers load the index again within a second
        from casebase.retrieve.retained import bump_generation, locked

        with locked(ws.root):
            bump_generation(ws.root, new_base=f"forget-{now:%Y%m%dT%H%M%S%f}")
    for path in stale:
        mark_stale(ws.root / path, reason, at)
    counts = {k: v["rows_removed"] for k, v in plan.rows.items() if v["rows_removed"]}
    old = ws.read_manifest("forget") or {}
    write_manifest(ws, "forget", config={"selectors": sel.types}, inputs={},
                   counts={"tickets": len(sel.ids), "rows_removed": counts, "stale_marked": len(stale)},
                   timings={"total": time.perf_counter() - t0},
                   extra={"history": [*old.get("history", []), {**entry, "rows_removed": counts}],
                          "outputs_sha256": {str(p.relative_to(ws.root.resolve())): h for p, h in rewritten.items()}})
    return summary


def _check_args(tickets, persons, texts) -> tuple[list[str], list[str], list[str]]:
    tickets = [str(t).strip() for t in tickets or ()]
    persons = [" ".join(str(p).split()) for p in persons or ()]
    texts = [str(t) for t in texts or ()]
    if not (tickets or persons or texts):
        raise CasebaseError("say what to forget: --ticket ID, --person \"NAME\" or --text STRING (each repeatable), "
                            "e.g. `casebase forget --workspace ws --ticket T-1042 --dry-run`.")
    problems = []
    if any(not t for t in tickets):
        problems.append("--ticket: an empty id")
    if any(not p for p in persons):
        problems.append("--person: an empty name")
    if short := [t for t in texts if len(t.strip()) < MIN_TEXT]:
        problems.append(f"--text: {len(short)} value(s) shorter than {MIN_TEXT} characters would match nearly every "
                        "ticket; give a longer, distinctive string")
    if problems:
        raise CasebaseError("; ".join(problems) + ".")
    return tickets, persons, texts


# ---------------------------------------------------------------- selection

def _pattern(persons: list[str], texts: list[str]) -> re.Pattern | None:
    parts = [r"(?<!\w)" + r"\s+".join(map(re.escape, p.split())) + r"(?!\w)" for p in persons]
    parts += [re.escape(t) for t in texts]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _hits(ids, values, pattern: re.Pattern | None) -> set[str]:
    if pattern is None:
        return set()
    return {str(i) for i, v in zip(ids, values) if not _missing(i) and not _missing(v) and pattern.search(str(v))}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _text_columns(ws: Workspace) -> list[tuple[str, list[str]]]:
    """(file, text columns) of the workspace's tables that hold ticket text."""
    from casebase.ingest.fields import NOT_REDACTED

    out = []
    if ws.tickets.exists():
        schema = pq.read_schema(ws.tickets)
        out.append((ws.tickets.name, [f.name for f in schema if f.name not in NOT_REDACTED
                                      and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]))
    if ws.messages.exists():
        out.append((ws.messages.name, ["body"]))
    for path in case_files(ws):
        out.append((path.name, [c for c in CASE_TEXT if c in pq.read_schema(path).names]))
    return out


def select(ws: Workspace, tickets: list[str], persons: list[str], texts: list[str]) -> Selection:
    """The tickets the selectors name; an unknown id or a selection that finds nothing is an error."""
    by: dict[str, set[str]] = {s: set() for s in SELECTORS}
    known = _known_ids(ws)
    if unknown := [t for t in tickets if t not in known]:
        hints = [f"{t!r} (did you mean {', '.join(map(repr, close))}?)" if (close := difflib.get_close_matches(
            t, list(known), n=3, cutoff=0.7)) else repr(t) for t in unknown[:10]]
        raise CasebaseError(f"--ticket: no ticket {', '.join(hints)} in {ws.root} (none of tickets.parquet, "
                            "messages, quarantine, cases, splits, index or casebase.db holds it). Use the ids of "
                            "tickets.parquet; an id erased before is in none of them.")
    by["ticket"] = set(tickets)
    name_re, text_re = _pattern(persons, []), _pattern([], texts)
    if persons:
        if not ws.secret.exists():
            raise CasebaseError(f"--person: {ws.secret} is missing, so the authors' pseudonyms cannot be matched; "
                                "restore the key from a backup of the workspace, or erase by --ticket or --text.")
        from casebase.ingest.redact import Redactor

        redactor = Redactor(key=ws.secret.read_text().strip().encode())
        pseudonyms = {redactor.pseudonym(p) for p in persons}
        if ws.messages.exists():
            m = pd.read_parquet(ws.messages, columns=["ticket_id", "author"])
            by["person"] |= set(m.loc[m["author"].isin(pseudonyms), "ticket_id"].astype(str))
    for kind, pattern in (("person", name_re), ("text", text_re)):
        if pattern is None:
            continue
        for name, columns in _text_columns(ws):
            frame = pd.read_parquet(ws.root / name, columns=["ticket_id", *columns])
            for col in columns:
                by[kind] |= _hits(frame["ticket_id"], frame[col], pattern)
        for ids, values in _other_texts(ws):
            by[kind] |= _hits(ids, values, pattern)
    ids = set().union(*by.values())
    if not ids:
        given = ", ".join(f"{n} --{s}" for s, n in (("person", len(persons)), ("text", len(texts))) if n)
        raise CasebaseError(f"nothing matched the {given} given in {ws.root}: no ticket to forget. Check the spelling "
                            "(a --person is matched as its author pseudonym and as whole words in the text), or find "
                            "the ticket with `casebase search` and give --ticket ID.")
    return Selection(ids, {s: len(v) for s, v in by.items()}, _pattern(persons, texts),
                     [s for s, given in zip(SELECTORS, (tickets, persons, texts)) if given])


def _other_texts(ws: Workspace):
    """(ids, texts) of the records beyond the tables: quarantine previews, splits, index rows, retained cases."""
    if ws.quarantine.exists():
        q = read_quarantine(ws)
        yield q["ticket_id"], q["preview"]
    for split in SPLITS:
        for row in jsonl_rows(ws.split(split)):
            if row:
                yield [row.get("ticket_id")], [f"{row.get('problem')}\n{row.get('solution')}"]
    meta = ws.index / "metadata.parquet"
    if meta.exists():
        m = pd.read_parquet(meta)
        for col in ("problem", "solution", "text"):
            if col in m:
                yield m["case_id"], m[col]
    for case_id, case_json in db_rows(ws, "SELECT case_id, case_json FROM retained_cases"):
        yield [case_id], [case_json]
    for row in jsonl_rows(ws.retained):
        if row:
            yield [row.get("ticket_id")], [f"{row.get('problem')}\n{row.get('solution')}"]


def _known_ids(ws: Workspace) -> set[str]:
    known: set[str] = set()
    for path in (ws.tickets, ws.messages, *case_files(ws)):
        if path.exists():
            known.update(pd.read_parquet(path, columns=["ticket_id"])["ticket_id"].dropna().astype(str))
    if ws.quarantine.exists():
        known.update(read_quarantine(ws)["ticket_id"].dropna())
    for split in SPLITS:
        known.update(str(r["ticket_id"]) for r in jsonl_rows(ws.split(split)) if r and "ticket_id" in r)
    meta = ws.index / "metadata.parquet"
    if meta.exists():
        known.update(pd.read_parquet(meta, columns=["case_id"])["case_id"].astype(str))
    known.update(str(r[0]) for r in db_rows(ws, "SELECT case_id FROM retained_cases"))
    known.update(str(r["ticket_id"]) for r in jsonl_rows(ws.retained) if r and "ticket_id" in r)
    return known


# ---------------------------------------------------------------- stage manifests

STAGE_FILES = {"ingest": ("tickets.parquet", "messages.parquet", "quarantine.csv"),
               "split": ("train.jsonl", "val.jsonl", "test.jsonl", "split-removed.csv"),
               "index": ("index/metadata.parquet",)}


def _update_stage_manifests(ws: Workspace, plan: erase.Plan, rewritten: dict[Path, str], entry: dict) -> None:
    """New counts, hashes and a ``forgotten`` entry in the manifest of every stage whose files changed."""
    stages = dict(STAGE_FILES)
    for path in case_files(ws):
        stages[path.stem.replace("cases", "extract", 1)] = (path.name,)
    for stage, files in stages.items():
        removed = {f: plan.rows[f]["rows_removed"] for f in files if f in plan.rows and plan.rows[f]["rows_removed"]}
        manifest = ws.read_manifest(stage)
        if manifest is None or not (removed or _refresh_hashes(copy.deepcopy(manifest), rewritten)):
            continue
        _refresh_hashes(manifest, rewritten)
        counts = manifest.setdefault("counts", {})
        if stage == "ingest":
            _ingest_counts(ws, counts, removed)
        elif stage.startswith("extract"):
            cases = pd.read_parquet(ws.root / files[0], columns=["resolved"])
            counts.update(cases=len(cases), resolved=int(cases["resolved"].sum()),
                          unresolved=int((~cases["resolved"]).sum()))
            if "output_sha256" in manifest:
                manifest["output_sha256"] = file_sha256(ws.root / files[0])
        elif stage == "split":
            counts.update({s: plan.rows[f"{s}.jsonl"]["rows_after"] for s in SPLITS if f"{s}.jsonl" in plan.rows})
        elif stage == "index":
            idx = load_json(ws.index / "manifest.json") or {}
            counts["cases"] = idx.get("count", 0)
            if "bm25" in idx:
                counts["bm25_vocabulary"] = idx["bm25"].get("vocabulary")
        manifest["forgotten"] = [*manifest.get("forgotten", []), {**entry, "rows_removed": removed}]
        write_json(ws.manifest_path(stage), manifest)


def _ingest_counts(ws: Workspace, counts: dict, removed: dict) -> None:
    if isinstance(counts.get("tickets"), dict) and ws.tickets.exists():
        counts["tickets"]["out"] = pq.read_metadata(ws.tickets).num_rows
    if ws.messages.exists():
        counts["messages_total_out"] = pq.read_metadata(ws.messages).num_rows
    done = counts.get("forgotten", {})
    counts["forgotten"] = {k: done.get(k, 0) + removed.get(f, 0) for k, f in
                           (("tickets", "tickets.parquet"), ("messages", "messages.parquet"),
                            ("quarantine_rows", "quarantine.csv"))}


def _refresh_hashes(node, rewritten: dict[Path, str]) -> bool:
    """Set the sha256 of every {path, sha256} entry naming a rewritten file; whether one changed."""
    changed = False
    if isinstance(node, dict):
        if isinstance(node.get("path"), str) and "sha256" in node:
            new = rewritten.get(Path(node["path"]).resolve())
            if new is not None and node["sha256"] != new:
                node["sha256"], changed = new, True
        for value in node.values():
            changed |= _refresh_hashes(value, rewritten)
    elif isinstance(node, list):
        for value in node:
            changed |= _refresh_hashes(value, rewritten)
    return changed


def _notes(ws: Workspace) -> list[str]:
    notes = ["a running `casebase serve` reloads the index within a second (its generation moved); restart it to "
             "report the stale marks of the release it serves"]
    ingest = ws.read_manifest("ingest") or {}
    sources = [v["path"] for v in ingest.get("inputs", {}).values() if isinstance(v, dict) and "path" in v]
    if sources:
        notes.append("the raw export still holds these tickets (a new `casebase ingest` would bring them back): "
                     "erase them there too: " + ", ".join(sources))
    added = (load_json(ws.index / "manifest.json") or {}).get("added") or []
    if outside := sorted({str(a["path"]) for a in added if a.get("path") and Path(a["path"]).exists()
                          and ws.root.resolve() not in Path(a["path"]).resolve().parents}):
        notes.append("files given to `casebase index --add` may hold them too: " + ", ".join(outside))
    if (ws.db).exists():
        notes.append("files written by `casebase export-feedback` outside the workspace are not searched")
    return notes
