"""An append-only JSONL cache of per-ticket results, so that a killed run resumes.

Each line is one finished ticket: ``{"key": ..., "ticket_id": ..., "result": {...}}``. The key
hashes the ticket's content with the method, model and prompt version, so a changed ticket
or a new model is worked again and an unchanged one never is. A line cut short by a kill is
ignored on the next read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def content_key(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


class JsonlCache:
    def __init__(self, path: Path):
        self.path = path
        self.done: dict[str, dict] = {}
        if path.exists():
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        self.done[row["key"]] = row["result"]
                    except (json.JSONDecodeError, KeyError):
                        continue  # the last line of a killed run
        self._fh = None

    def get(self, key: str) -> dict | None:
        return self.done.get(key)

    def put(self, key: str, ticket_id: str, result: dict) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
            if self._fh.tell() and not self._ends_with_newline():
                self._fh.write("\n")
        self._fh.write(json.dumps({"key": key, "ticket_id": ticket_id, "result": result}, default=str) + "\n")
        self._fh.flush()  # survives a killed process (not a power cut: no fsync per ticket)
        self.done[key] = result

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
