"""The server's state in SQLite (WAL): suggestions, feedback and retained cases (``casebase.db``).

    store = Store(ws.db)
    sid = store.add_suggestion(subject, body, response)
    store.add_feedback(sid, "edited", "Release the block in VKM3, then create the delivery.")
    store.export_feedback(Path("feedback.jsonl"))   # accepted + edited answers for `casebase train --extra`
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
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
-- the insights page reads suggestions by date and each one's last verdict
CREATE INDEX IF NOT EXISTS suggestions_created ON suggestions(created_at);
CREATE INDEX IF NOT EXISTS feedback_suggestion ON feedback(suggestion_id, id);
"""
# Columns added since the first schema: (table, column, declaration); added to an older casebase.db on open.
ADDED = [("feedback", "agent", "TEXT"), ("retained_cases", "agent", "TEXT"),
         # the exact chat messages the model was given (JSON; NULL for retrieval-only and abstained answers, and for
         # suggestions stored before prompts were kept), the arm and model that answered, the prompt's version
         ("suggestions", "prompt_messages", "TEXT"), ("suggestions", "arm", "TEXT"), ("suggestions", "model", "TEXT"),
         ("suggestions", "prompt_version", "TEXT")]
# Why export-feedback leaves a feedback row out (the keys of its "skipped" counts).
SKIP_REASONS = {"superseded": "a later verdict on the same suggestion replaces it (only the agent's last say is trained on)",
                "rejected": "the agent rejected the draft",
                "no_prompt": "a retrieval-only or abstained answer: no model prompt to train on",
                "no_prompt_stored": "stored before casebase kept the model's prompt: nothing exact to train on",
                "no_answer": "no answer text (accepted, but the draft was empty)"}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


# How long a statement waits for another connection's write lock (another worker, `casebase export-feedback`)
# before failing with "database is locked". WAL lets readers run beside the one writer; writers take turns.
BUSY_TIMEOUT_S = 30.0


def _journal_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode (persistent: a no-op once it is). Switching needs the database to itself and
    SQLite reports a busy database at once, without its busy handler, so a first open racing another is retried
    here, up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Store:
    """One connection per thread (sqlite3 objects are not shared across threads); WAL lets readers run beside a writer."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        conn = self._conn()
        # One schema set-up at a time, across processes (`casebase serve --workers N`, two servers on one workspace):
        # BEGIN IMMEDIATE waits (busy timeout) for the write lock, so the column checks below see the other's work
        # and a column is never added twice ("duplicate column name" once crashed a second worker).
        conn.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}")
        try:
            for table, column, kind in ADDED:
                if column not in {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # what connect(timeout=) sets, said aloud
            _journal_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL's recommended level: no fsync per commit, no corruption
            conn.execute("PRAGMA foreign_keys=ON")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def add_suggestion(self, subject: str | None, body: str, problem: str, response: dict,
                       prompt_messages: list[dict] | None = None) -> str:
        """``prompt_messages``: the exact messages the model was given (None when none was asked); kept for
        ``export_feedback`` with the response's arm and model."""
        from casebase.llm.answer import PROMPT_VERSION

        sid = uuid.uuid4().hex[:16]
        with self._conn() as conn:
            conn.execute("INSERT INTO suggestions (id, created_at, subject, body, problem, response, prompt_messages, "
                         "arm, model, prompt_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (sid, _now(), subject, body, problem, json.dumps(response, default=str),
                          None if prompt_messages is None else json.dumps(prompt_messages), response.get("arm"),
                          response.get("model"), None if prompt_messages is None else PROMPT_VERSION))
        return sid

    def suggestion(self, sid: str) -> dict | None:
        row = self._conn().execute("SELECT * FROM suggestions WHERE id = ?", (sid,)).fetchone()
        return None if row is None else {**dict(row), "response": json.loads(row["response"]), "prompt_messages":
                                         None if row["prompt_messages"] is None else json.loads(row["prompt_messages"])}

    def add_feedback(self, sid: str, verdict: str, final_text: str | None, agent: str | None = None) -> int:
        """``agent``: the name of the token that gave it (named tokens), else None."""
        with self._conn() as conn:
            cur = conn.execute("INSERT INTO feedback (suggestion_id, created_at, verdict, final_text, agent) "
                               "VALUES (?, ?, ?, ?, ?)", (sid, _now(), verdict, final_text, agent))
        return int(cur.lastrowid)

    def feedback(self) -> list[dict]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM feedback ORDER BY id")]

    def feedback_of(self, sid: str) -> list[dict]:
        """The verdicts given on one suggestion, oldest first (the last one is the agent's final say)."""
        return [dict(r) for r in self._conn().execute(
            "SELECT id, created_at, verdict, final_text, agent FROM feedback WHERE suggestion_id = ? ORDER BY id", (sid,))]

    def insight_rows(self, since: str, abstained_limit: int = 2000) -> tuple[list[dict], list[dict]]:
        """What the insights page counts (``casebase.serve.insights``), read with SQLite's JSON functions so the
        stored answers (cited cases and all) are never loaded whole: (one row per suggestion since ``since``: day,
        arm, abstained, shown category, last verdict; the ``abstained_limit`` newest abstained suggestions: their
        problem and the category of the nearest case)."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT substr(s.created_at, 1, 10) AS day, COALESCE(s.arm, json_extract(s.response, '$.arm')) AS arm, "
            "COALESCE(json_extract(s.response, '$.abstained'), 0) AS abstained, "
            "json_extract(s.response, '$.category.value') AS category, "
            "(SELECT f.verdict FROM feedback f WHERE f.suggestion_id = s.id ORDER BY f.id DESC LIMIT 1) AS verdict "
            "FROM suggestions s WHERE s.created_at >= ?", (since,)).fetchall()
        missing = conn.execute(
            "SELECT s.created_at, s.problem, json_extract(s.response, '$.cited_cases[0].category') AS nearest_category "
            "FROM suggestions s WHERE s.created_at >= ? AND json_extract(s.response, '$.abstained') "
            "ORDER BY s.created_at DESC LIMIT ?", (since, abstained_limit)).fetchall()
        return [dict(r) for r in rows], [dict(r) for r in missing]

    def retain(self, case: dict, agent: str | None = None) -> None:
        with self._conn() as conn:
            conn.execute("INSERT INTO retained_cases (case_id, created_at, case_json, agent) VALUES (?, ?, ?, ?)",
                         (case["ticket_id"], _now(), json.dumps(case), agent))

    def retained(self, case_id: str) -> dict | None:
        row = self._conn().execute("SELECT * FROM retained_cases WHERE case_id = ?", (case_id,)).fetchone()
        return None if row is None else dict(row)

    def export_feedback(self, out: Path) -> dict:
        """Accepted and edited answers as training examples for ``casebase train --extra``: per suggestion, its latest
        feedback (an accept later edited is trained on as the edit, never as both), the exact
        messages the model was given, then the agent's final answer as the assistant turn, in the training answer
        format (an edited answer's text replaces the draft's solution). Rejected drafts, and suggestions without a
        stored prompt, are left out and counted by reason (``SKIP_REASONS``). The file is written whole (atomic).
        Returns ``{"examples", "skipped": {reason: n}, "out"}``; the line format is ``casebase.train.data.feedback_row``."""
        from casebase.llm.answer import format_answer
        from casebase.train.data import feedback_row
        from casebase.workspace import atomic_write

        rows = self._conn().execute(
            "SELECT f.id AS feedback_id, f.verdict, f.final_text, f.agent, s.id AS suggestion_id, s.response, "
            "s.prompt_messages, s.arm, s.model, s.prompt_version FROM feedback f JOIN suggestions s "
            "ON s.id = f.suggestion_id ORDER BY f.id").fetchall()
        lines, skipped = [], dict.fromkeys(SKIP_REASONS, 0)
        last = {row["suggestion_id"]: row["feedback_id"] for row in rows}  # rows come in feedback order
        for row in rows:
            if last[row["suggestion_id"]] != row["feedback_id"]:  # one prompt, one answer: never both the draft and its edit
                skipped["superseded"] += 1
                continue
            response = json.loads(row["response"])
            if row["verdict"] == "rejected":
                skipped["rejected"] += 1
                continue
            if row["prompt_messages"] is None:
                generated = response.get("arm") != "retrieval" and not response.get("abstained")
                skipped["no_prompt_stored" if generated else "no_prompt"] += 1
                continue
            solution = row["final_text"] if row["verdict"] == "edited" and row["final_text"] else response.get("solution")
            if not (solution or "").strip():
                skipped["no_answer"] += 1
                continue
            answer = format_answer(solution, (response.get("category") or {}).get("value"),
                                   (response.get("urgency") or {}).get("value"))
            lines.append(json.dumps(feedback_row(
                json.loads(row["prompt_messages"]), answer, suggestion_id=row["suggestion_id"], verdict=row["verdict"],
                agent=row["agent"], feedback_id=row["feedback_id"], arm=row["arm"], model=row["model"],
                prompt_version=row["prompt_version"]), ensure_ascii=False) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda tmp: tmp.write_text("".join(lines), encoding="utf-8"))  # a kill leaves no half file
        return {"examples": len(lines), "skipped": skipped, "out": str(out)}
