"""Drop the rows of given tickets from each kind of workspace file, each written beside itself and renamed into place.

    plan = Plan()
    plan_tables(ws, plan, ids, pattern)      # tickets, messages, quarantine
    plan.rows                                # per file: rows before, removed, after (nothing written yet)
    for name, write in plan.writes: write()  # then the rewrites

Used by ``casebase forget`` (``casebase/forget.py``): ``ids`` are the tickets to erase, ``pattern`` the names and
texts it was asked for (it also finds records that carry no ticket id: quarantine previews, suggestions).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from casebase.retrieve.config import IndexConfig
from casebase.workspace import Workspace, file_sha256
from casebase.workspace import atomic_write as atomic

SPLITS = ("train", "val", "test")


@dataclass
class Plan:
    """Per file: rows before and removed; ``writes`` are the rewrites to run (path -> callable)."""

    rows: dict[str, dict] = field(default_factory=dict)
    writes: list[tuple[str, object]] = field(default_factory=list)

    def add(self, name: str, before: int, removed: int, write=None) -> None:
        self.rows[name] = {"rows_before": before, "rows_removed": removed, "rows_after": before - removed}
        if removed and write is not None:
            self.writes.append((name, write))


def _parquet(plan: Plan, ws: Workspace, path: Path, ids: set[str]) -> None:
    if not path.exists():
        return
    table = pq.read_table(path)
    keep = pc.invert(pc.fill_null(pc.is_in(pc.cast(table["ticket_id"], pa.string()),
                                           value_set=pa.array(sorted(ids), pa.string())), False))
    kept = table.filter(keep)
    plan.add(path.name, table.num_rows, table.num_rows - kept.num_rows,
             lambda: atomic(path, lambda tmp: pq.write_table(kept, tmp)))


def read_quarantine(ws: Workspace) -> pd.DataFrame:
    return pd.read_csv(ws.quarantine, dtype=str, keep_default_na=False, na_values=[""])


def plan_tables(ws: Workspace, plan: Plan, ids: set[str], pattern: re.Pattern | None = None) -> None:
    _parquet(plan, ws, ws.tickets, ids)
    _parquet(plan, ws, ws.messages, ids)
    if ws.quarantine.exists():
        q = read_quarantine(ws)
        drop = q["ticket_id"].isin(ids)
        if pattern is not None:
            drop |= q["preview"].fillna("").map(lambda v: bool(pattern.search(v)))
        kept = q[~drop]
        plan.add(ws.quarantine.name, len(q), int(drop.sum()),
                 lambda: atomic(ws.quarantine, lambda tmp: kept.to_csv(tmp, index=False)))


def case_files(ws: Workspace) -> list[Path]:
    return sorted(ws.root.glob("cases*.parquet"))


def plan_cases(ws: Workspace, plan: Plan, ids: set[str]) -> None:
    for path in case_files(ws):
        _parquet(plan, ws, path, ids)
    for path in sorted(ws.cache.glob("extract-*.jsonl")):
        _jsonl(plan, ws, path, lambda row: row.get("ticket_id") in ids)
    # embedding checkpoints of a killed `casebase index` (vectors of case texts): recomputable, so removed
    for path in sorted(ws.cache.glob("index-embed-*")):
        plan.add(str(path.relative_to(ws.root)), 1, 1, lambda p=path: shutil.rmtree(p, ignore_errors=True))


def jsonl_rows(path: Path) -> list[dict | None]:
    """Parsed lines of a JSONL file (None for a line that is not a JSON object)."""
    if not path.exists():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    obj = None
                rows.append(obj if isinstance(obj, dict) else None)
    return rows


def _jsonl(plan: Plan, ws: Workspace, path: Path, drop) -> None:
    """Drop the lines ``drop(row)`` selects (and unreadable lines: the tail of a killed run); keep the rest byte for byte."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    kept = []
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and not drop(row):
            kept.append(line if line.endswith("\n") else line + "\n")
    plan.add(str(path.relative_to(ws.root)), len(lines), len(lines) - len(kept),
             lambda: atomic(path, lambda tmp: tmp.write_text("".join(kept), encoding="utf-8")))


def split_ids(ws: Workspace) -> dict[str, set[str]]:
    return {s: {str(r.get("ticket_id")) for r in jsonl_rows(ws.split(s)) if r} for s in SPLITS}


def plan_splits(ws: Workspace, plan: Plan, ids: set[str]) -> None:
    for split in SPLITS:
        _jsonl(plan, ws, ws.split(split), lambda row: str(row.get("ticket_id")) in ids)
    path = ws.split_removed
    if path.exists():
        removed = pd.read_csv(path, dtype=str, keep_default_na=False)
        drop = removed["ticket_id"].isin(ids)
        kept = removed[~drop].copy()
        if "near_duplicate_of_test" in kept:  # the test twin is gone; the record that this case left train stays
            kept.loc[kept["near_duplicate_of_test"].isin(ids), "near_duplicate_of_test"] = "<forgotten>"
        changed = int(drop.sum()) + int((removed.loc[~drop, "near_duplicate_of_test"].isin(ids)).sum()
                                        if "near_duplicate_of_test" in removed else 0)
        plan.add(path.name, len(removed), changed, lambda: atomic(path, lambda tmp: kept.to_csv(tmp, index=False)))


def plan_index(ws: Workspace, plan: Plan, ids: set[str], at: str) -> set[str]:
    """Drop the erased rows from index/ (embeddings, metadata, HNSW) and rebuild BM25 with the builder's code;
    returns the ids the index held before."""
    from casebase.retrieve.bm25 import BM25Index
    from casebase.retrieve.build import _decide_ann, _write
    from casebase.retrieve.index import index_dir

    root = index_dir(ws)
    if not (root / "manifest.json").exists():
        return set()
    manifest = json.loads((root / "manifest.json").read_text())
    meta = pd.read_parquet(root / "metadata.parquet")
    held = set(meta["case_id"].astype(str))
    keep = ~meta["case_id"].astype(str).isin(ids).to_numpy()
    before = {s: file_sha256(ws.root / f) if (ws.root / f).exists() else None
              for s, f in INDEX_INPUTS.items()}  # the inputs as they are now, before forget filters them

    def write() -> None:
        embeddings = np.load(root / "embeddings.npy")[keep]
        kept = meta[keep].reset_index(drop=True)
        if kept.empty:  # nothing left to search: no index rather than an empty one
            shutil.rmtree(root)
            return
        bm25 = BM25Index.build(kept["text"].tolist())
        info = manifest.get("ann", {})
        graph = None
        if info.get("kind") == "hnsw":
            graph, info = _decide_ann(len(kept), info.get("threshold", 0), embeddings, info.get("mode", "auto"),
                                      info.get("target_recall", IndexConfig.model_fields["ann_recall"].default))
        new = {**manifest, "count": len(kept), "ann": info,
               "bm25": {**manifest.get("bm25", {}), "vocabulary": len(bm25.retriever.vocab_dict),
                        "avgdl": bm25.avgdl},
               "forgotten": [*manifest.get("forgotten", []), {"at": at, "tickets": len(ids),
                                                              "rows_removed": int((~keep).sum())}]}
        new["inputs"], new["build_key"] = _index_inputs(ws, manifest, before)
        _write(ws, embeddings, kept, bm25, graph, new)

    plan.add("index/metadata.parquet", len(meta), int((~keep).sum()), write)
    return held


def _index_inputs(ws: Workspace, manifest: dict, before: dict[str, str | None]) -> tuple[dict, dict]:
    """The index manifest's inputs and build key once the splits are filtered the same way: when the index was
    built from the very split files forget filtered, it records their new hashes, so `casebase index` sees it up
    to date (rebuilding would drop cases retained by the server)."""
    inputs, key = json.loads(json.dumps(manifest.get("inputs") or {})), dict(manifest.get("build_key") or {})
    for split, name in INDEX_INPUTS.items():
        path, entry = ws.root / name, inputs.get(split)
        if entry and path.exists() and before.get(split) and entry.get("sha256") == before[split]:
            entry["sha256"] = file_sha256(path)
            if key.get(f"{split}_sha256") == before[split]:
                key[f"{split}_sha256"] = entry["sha256"]
            if "cases" in entry:
                entry["cases"] = sum(1 for r in jsonl_rows(path) if r)
    return inputs, key


INDEX_INPUTS = {"train": "train.jsonl", "val": "val.jsonl", "retained": "cases-retained.jsonl"}


def plan_retained(ws: Workspace, plan: Plan, ids: set[str]) -> None:
    """Cases the server retained (``cases-retained.jsonl``) and their segment vectors; run before ``plan_index``,
    which records the filtered file's hash."""
    from casebase.retrieve.retained import RETAINED, forget_ids

    path = ws.root / RETAINED
    if not path.exists():
        return
    rows = jsonl_rows(path)
    removed = sum(1 for r in rows if r is None or str(r.get("ticket_id")) in ids)
    plan.add(RETAINED, len(rows), removed, lambda: forget_ids(ws.root, ids))


def db_rows(ws: Workspace, sql: str, args=()) -> list[tuple]:
    path = ws.db
    if not path.exists():
        return []
    # a plain connection: one opened read-only would leave -wal/-shm files behind; this one only reads, and when it
    # is the last to close, SQLite removes them again (checkpointing a WAL a crashed server left, as any open would)
    conn = sqlite3.connect(path, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # a table the server has not created
        return []
    finally:
        conn.close()


def _doomed_suggestions(ws: Workspace, ids: set[str], pattern: re.Pattern | None) -> tuple[list[str], list[int]]:
    """Suggestions that cite an erased case or contain a name/text; feedback that does or belongs to them."""
    sids = []
    for sid, subject, body, problem, response in db_rows(
            ws, "SELECT id, subject, body, problem, response FROM suggestions"):
        try:
            cited = {str(c.get("case_id")) for c in json.loads(response).get("cited_cases", [])}
        except (json.JSONDecodeError, AttributeError, TypeError):
            cited = set()
        texts = " \n".join(str(v) for v in (subject, body, problem, response) if v)
        if cited & ids or (pattern is not None and pattern.search(texts)):
            sids.append(sid)
    doomed = set(sids)
    fids = [fid for fid, sid, final in db_rows(ws, "SELECT id, suggestion_id, final_text FROM feedback")
            if sid in doomed or (pattern is not None and final and pattern.search(final))]
    return sids, fids


def plan_db(ws: Workspace, plan: Plan, ids: set[str], pattern: re.Pattern | None = None) -> None:
    path = ws.db
    if not path.exists():
        return
    retained = [r[0] for r in db_rows(ws, "SELECT case_id FROM retained_cases") if str(r[0]) in ids]
    sids, fids = _doomed_suggestions(ws, ids, pattern)
    counts = {t: (db_rows(ws, f"SELECT count(*) FROM {t}") or [(0,)])[0][0]
              for t in ("retained_cases", "suggestions", "feedback")}

    def write() -> None:
        # SQLite's own transaction is the atomic write here: renaming a new file over a database a server
        # may hold open would strand its WAL. secure_delete + VACUUM + a truncating checkpoint leave no copy.
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM feedback WHERE id = ?", [(f,) for f in fids])
            conn.executemany("DELETE FROM feedback WHERE suggestion_id = ?", [(s,) for s in sids])
            conn.executemany("DELETE FROM suggestions WHERE id = ?", [(s,) for s in sids])
            conn.executemany("DELETE FROM retained_cases WHERE case_id = ?", [(c,) for c in retained])
            conn.execute("COMMIT")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    removed = {"retained_cases": len(retained), "suggestions": len(sids), "feedback": len(fids)}
    for table, n in removed.items():
        plan.add(f"casebase.db:{table}", counts[table], n)
    if any(removed.values()):
        plan.writes.append(("casebase.db", write))


def plan_evals(ws: Workspace, plan: Plan, ids: set[str], pattern: re.Pattern | None = None) -> None:
    """Per evaluation run: results rows and cached replies of erased tickets (or that retrieved one); the report
    when it shows an erased ticket. The run's numbers stay, marked stale."""
    for d in sorted(p for p in ws.evals.glob("*") if p.is_dir()):
        path = d / "results.csv"
        if path.exists():
            res = pd.read_csv(path, dtype=str, keep_default_na=False)
            drop = res["ticket_id"].isin(ids) if "ticket_id" in res else pd.Series(False, index=res.index)
            if "retrieved_ids" in res:
                drop |= res["retrieved_ids"].map(lambda c: bool(ids & set(map(str, _json_list(c)))))
            if pattern is not None and "answer" in res:
                drop |= res["answer"].map(lambda a: bool(pattern.search(a)))
            kept = res[~drop]
            plan.add(str(path.relative_to(ws.root)), len(res), int(drop.sum()),
                     lambda p=path, k=kept: atomic(p, lambda tmp: k.to_csv(tmp, index=False)))
        _jsonl(plan, ws, d / "cache.jsonl", lambda row: str(row.get("ticket_id")) in ids or (
            pattern is not None and bool(pattern.search(json.dumps(row.get("result"), ensure_ascii=False)))))
        report = d / "report.html"
        if report.exists():
            html = report.read_text(encoding="utf-8", errors="replace")
            shows = any(re.search(rf"(?<![\w-]){re.escape(i)}(?![\w-])", html) for i in ids) or (
                pattern is not None and pattern.search(html) is not None)
            plan.add(str(report.relative_to(ws.root)), 1, int(shows), lambda p=report: p.unlink(missing_ok=True))


def _json_list(cell) -> list:
    try:
        value = json.loads(cell or "[]")
    except (json.JSONDecodeError, TypeError):
        return []
    return value if isinstance(value, list) else []


def load_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None

