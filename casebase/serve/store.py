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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """One connection per thread (sqlite3 objects are not shared across threads); WAL lets readers run beside a writer."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)

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

    def add_feedback(self, sid: str, verdict: str, final_text: str | None) -> int:
        with self._conn() as conn:
            cur = conn.execute("INSERT INTO feedback (suggestion_id, created_at, verdict, final_text) VALUES (?, ?, ?, ?)",
                               (sid, _now(), verdict, final_text))
        return int(cur.lastrowid)

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM feedback ORDER BY id")]

    def retain(self, case: dict) -> None:
        with self._conn() as conn:
            conn.execute("INSERT INTO retained_cases VALUES (?, ?, ?)", (case["ticket_id"], _now(), json.dumps(case)))

    def export_feedback(self, out: Path) -> int:
        """Accepted and edited answers as chat examples (the inference prompt, then the final answer): SFT-ready JSONL."""
        from casebase.llm.answer import build_messages, format_answer

        rows = self._conn().execute(
            "SELECT f.verdict, f.final_text, s.problem, s.response FROM feedback f JOIN suggestions s "
            "ON s.id = f.suggestion_id WHERE f.verdict IN ('accepted', 'edited') ORDER BY f.id").fetchall()
        out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(out, "w", encoding="utf-8") as f:
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
                f.write(json.dumps({"messages": messages, "verdict": row["verdict"]}) + "\n")
                written += 1
        return written
