"""The server's state in SQLite (WAL): suggestions, feedback and retained cases (``casebase.db``).

    store = Store(ws.root / "casebase.db")
    sid = store.add_suggestion(subject, body, response)
    store.add_feedback(sid, "edited", "Release the block in VKM3, then create the delivery.")
    store.export_feedback(Path("feedback.jsonl"))   # accepted + edited answers as SFT chat examples
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, subject TEXT, body TEXT NOT NULL,
    problem TEXT NOT NULL, response TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, suggestion_id TEXT NOT NULL REFERENCES suggestions(id),
    created_at TEXT NOT NULL, verdict TEXT NOT NULL CHECK (verdict IN ('accepted', 'edited', 'rejected')),
    final_text TEXT);
CREATE TABLE IF NOT EXISTS retained_cases (
    case_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, case_json TEXT NOT NULL);
"""
# Columns added since the first schema: (table, column, declaration); added to an older casebase.db on open.
ADDED = [("feedback", "agent", "TEXT"), ("retained_cases", "agent", "TEXT")]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """One connection per thread (sqlite3 objects are not shared across threads); WAL lets readers run beside a writer."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)
            for table, column, kind in ADDED:
                if column not in {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL's recommended level: no fsync per commit, no corruption
            conn.execute("PRAGMA foreign_keys=ON")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def add_suggestion(self, subject: str | None, body: str, problem: str, response: dict) -> str:
        sid = uuid.uuid4().hex[:16]
        with self._conn() as conn:
            conn.execute("INSERT INTO suggestions VALUES (?, ?, ?, ?, ?, ?)",
                         (sid, _now(), subject, body, problem, json.dumps(response, default=str)))
        return sid

    def suggestion(self, sid: str) -> dict | None:
        row = self._conn().execute("SELECT * FROM suggestions WHERE id = ?", (sid,)).fetchone()
        return None if row is None else {**dict(row), "response": json.loads(row["response"])}

    def add_feedback(self, sid: str, verdict: str, final_text: str | None, agent: str | None = None) -> int:
        """``agent``: the name of the token that gave it (named tokens), else None."""
        with self._conn() as conn:
            cur = conn.execute("INSERT INTO feedback (suggestion_id, created_at, verdict, final_text, agent) "
                               "VALUES (?, ?, ?, ?, ?)", (sid, _now(), verdict, final_text, agent))
        return int(cur.lastrowid)

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM feedback ORDER BY id")]

    def retain(self, case: dict, agent: str | None = None) -> None:
        with self._conn() as conn:
            conn.execute("INSERT INTO retained_cases (case_id, created_at, case_json, agent) VALUES (?, ?, ?, ?)",
                         (case["ticket_id"], _now(), json.dumps(case), agent))

    def retained(self, case_id: str) -> dict | None:
        row = self._conn().execute("SELECT * FROM retained_cases WHERE case_id = ?", (case_id,)).fetchone()
        return None if row is None else dict(row)

    def export_feedback(self, out: Path) -> int:
        """Accepted and edited answers as chat examples (the inference prompt, then the final answer): SFT-ready JSONL."""
        from casebase.llm.answer import build_messages, format_answer
        from casebase.workspace import atomic_write

        rows = self._conn().execute(
            "SELECT f.verdict, f.final_text, s.problem, s.response FROM feedback f JOIN suggestions s "
            "ON s.id = f.suggestion_id WHERE f.verdict IN ('accepted', 'edited') ORDER BY f.id").fetchall()
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for row in rows:
            response = json.loads(row["response"])
            solution = row["final_text"] if row["verdict"] == "edited" and row["final_text"] else response.get("solution")
            if not solution:
                continue
            cases = [{k: c.get(k) for k in ("case_id", "problem", "solution", "category", "urgency")}
                     for c in response.get("cited_cases", [])]
            answer = format_answer(solution, (response.get("category") or {}).get("value"),
                                   (response.get("urgency") or {}).get("value"))
            messages = build_messages(row["problem"], cases) + [{"role": "assistant", "content": answer}]
            lines.append(json.dumps({"messages": messages, "verdict": row["verdict"]}) + "\n")
        atomic_write(out, lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))  # a kill leaves no half file
        return len(lines)
