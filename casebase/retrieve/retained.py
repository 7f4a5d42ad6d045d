"""Retained cases: a durable append-only file, an append segment beside the main index, a generation number.

    from casebase.retrieve import load_index
    from casebase.retrieve.retained import append_cases
    index = load_index(ws)                          # main index + the segment of retained cases it does not hold
    append_cases(index, [case], agent="alice")      # embeds only the new case: O(1) in the size of the index
    other.search(...)                               # another Index over ws sees the case within ~1 s

Files of the workspace (``casebase serve`` and ``casebase index --add`` write them, ``casebase index`` reads them):

``cases-retained.jsonl``
    The source of truth: one case a line (train.jsonl fields + ``agent``, ``retained_at``), appended with
    flush + fsync under an ``fcntl`` lock (``.cases-retained.lock``) so two processes never interleave. An input
    of ``casebase index``: a rebuild indexes train.jsonl + these cases (a train id wins) and so keeps them.
``cases-retained.vectors``
    The segment's vectors: fixed-size records of (blake2b of the case id, blake2b of model + text, float32
    vector). A record cut short by a kill is ignored (and cut off by the next append); a retained case without
    its record (a kill between the two appends) is embedded again when loaded. Content-keyed, so it never serves
    a vector of another model or text. ``casebase index`` keeps only the records of cases it did not merge.
``index-generation.json``
    ``{"generation": N, "base": TOKEN}``: N grows on every append, rebuild and forget; TOKEN changes when the main
    index or the retained file was rewritten (rebuild, forget). A loaded index reads it at most once a second
    before a search: a new N with the same TOKEN loads only the new lines, a new TOKEN asks for a full reload.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from casebase.errors import CasebaseError
from casebase.progress import log

RETAINED = "cases-retained.jsonl"
VECTORS = "cases-retained.vectors"
GENERATION = "index-generation.json"
LOCK = ".cases-retained.lock"
FIELDS = ("ticket_id", "opened_at", "problem", "solution", "category", "urgency")
KEY_BYTES = 16  # per digest; a record is 2 * KEY_BYTES + 4 * dimension bytes
MAGIC, HEADER_BYTES = b"CBV1", 8  # the vector file starts with MAGIC + the dimension (uint32)


class DuplicateCase(CasebaseError):
    """A case id the index (main or segment) already holds."""


class StaleIndex(CasebaseError):
    """The main index was rebuilt or rewritten since this one was loaded: load it again (``index.current()``)."""


@contextmanager
def locked(root: Path, shared: bool = False):
    """The workspace's retained-cases lock across processes (exclusive to write; ``shared`` to read), held for the
    ``with`` block. A reader in a workspace it cannot write to reads without it."""
    try:
        f = open(Path(root) / LOCK, "a+b")
    except OSError:
        if not shared:
            raise
        yield
        return
    with f:
        fcntl.flock(f.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_generation(root: Path) -> tuple[int, str | None]:
    try:
        data = json.loads((Path(root) / GENERATION).read_text())
        return int(data["generation"]), data.get("base")
    except (OSError, ValueError, KeyError, TypeError):
        return 0, None


def bump_generation(root: Path, new_base: str | None = None, default_base: str | None = None) -> tuple[int, str | None]:
    """Generation + 1 (call under ``locked``); ``new_base`` when the main index or the retained file was rewritten;
    ``default_base``: the base of a workspace without a generation yet (the loaded index's build id)."""
    number, base = read_generation(root)
    value = (number + 1, new_base or base or default_base or secrets.token_hex(8))
    # renamed into place (a reader never sees half of it) but not fsynced: it holds no data, only a hint; one lost
    # to a power cut reads as generation 0, and loaded indexes catch up from the retained file all the same
    path = Path(root) / GENERATION
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"generation": value[0], "base": value[1]}))
    os.replace(tmp, path)
    return value


def case_text(case: dict, mode: str) -> str:
    problem, solution = str(case.get("problem") or ""), str(case.get("solution") or "")
    return problem if mode == "problem" else f"{problem}\n\n{solution}".strip()


def id_key(case_id: str) -> bytes:
    return hashlib.blake2b(str(case_id).encode(), digest_size=KEY_BYTES).digest()


def text_key(model: str, text: str) -> bytes:
    return hashlib.blake2b(f"{model}\x00{text}".encode(), digest_size=KEY_BYTES).digest()


def parse_lines(data: bytes, source: str) -> list[dict]:
    """Cases of whole lines of the retained file; a line that is not a case is skipped with a note."""
    rows = []
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or row.get("ticket_id") in (None, "") or row.get("problem") in (None, ""):
            log(f"note: {source}: a line that is not a case (ticket_id and problem) is skipped")
            continue
        rows.append({**row, "ticket_id": str(row["ticket_id"])})
    return rows


def read_retained(root: Path) -> tuple[list[dict], bytes]:
    """(cases, the bytes they were read from) of the workspace's retained file, whole lines only."""
    path = Path(root) / RETAINED
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], b""
    data = data[: data.rfind(b"\n") + 1]  # a line cut short by a kill is not a case yet
    return parse_lines(data, str(path)), data


def read_vectors(root: Path, dimension: int, start: int = 0) -> tuple[dict[bytes, tuple[bytes, np.ndarray]], int]:
    """{id key: (text key, vector)} of the whole records from byte ``start`` on, and the byte offset reached; none
    when the file holds vectors of another dimension (another model: they are embedded again)."""
    size = 2 * KEY_BYTES + 4 * dimension
    try:
        with open(Path(root) / VECTORS, "rb") as f:
            if _dimension(f.read(HEADER_BYTES)) != dimension:
                return {}, start
            start = max(start, HEADER_BYTES)
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return {}, start
    whole = len(data) // size
    out = {}
    for i in range(whole):
        rec = data[i * size: (i + 1) * size]
        out[rec[:KEY_BYTES]] = (rec[KEY_BYTES: 2 * KEY_BYTES], np.frombuffer(rec[2 * KEY_BYTES:], dtype=np.float32))
    return out, start + whole * size


def _append(path: Path, data: bytes, unit: int | None = None) -> int:
    """Append ``data`` durably; first cut a torn tail (a line without its newline, a partial record) left by a kill.
    Returns the offset at which ``data`` starts. Call under ``locked``."""
    with open(path, "a+b") as f:
        size = f.seek(0, os.SEEK_END)
        keep = size
        if unit is None and size:
            f.seek(max(0, size - 1))
            if f.read(1) != b"\n":
                f.seek(0)
                keep = f.read().rfind(b"\n") + 1
        elif unit:
            keep = size if size < HEADER_BYTES else HEADER_BYTES + (size - HEADER_BYTES) // unit * unit
            if size < HEADER_BYTES:
                keep = 0
        if keep != size:
            f.truncate(keep)
            log(f"note: {path.name}: a record cut short by an interrupted append was dropped")
        f.seek(0, os.SEEK_END)
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return keep


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def append_cases(index, cases: list[dict], agent: str | None = None, source: str | None = None) -> int:
    """Append cases to the workspace's retained file and to ``index``'s segment: only they are embedded, the main
    index is not touched. A case id the index holds (here or appended by another process) is a ``DuplicateCase``.
    Returns how many cases the index now holds."""
    root = index.workspace_root
    if root is None:
        raise CasebaseError("this index was not loaded from a workspace: load it with load_index(ws) to retain cases")
    rows, seen = [], set()
    for case in cases:
        row = {k: case.get(k) for k in FIELDS}
        row["ticket_id"] = str(row["ticket_id"] or "").strip()
        if not row["ticket_id"] or not str(row["problem"] or "").strip():
            raise CasebaseError("a retained case needs a ticket_id and a problem")
        if row["ticket_id"] in seen:
            raise DuplicateCase(f"case {row['ticket_id']!r} is given twice")
        seen.add(row["ticket_id"])
        row.update(opened_at=row["opened_at"] or "", solution=row["solution"] or "", agent=agent, retained_at=_now())
        if source:
            row["source"] = source
        rows.append(row)
    mode, model = index.manifest["text"], index.manifest["model"]
    texts = [case_text(r, mode) for r in rows]
    from casebase.retrieve.embed import encode_batched

    vectors = encode_batched(index.embedder, texts, f"embedding {len(texts)} retained case(s)")  # outside the lock
    with index.sync_lock, locked(root):
        index.sync(force=True, locked_already=True)
        if index.stale:
            raise StaleIndex("the index was rebuilt since it was loaded: load it again (index.current()) and retry")
        if clash := [r["ticket_id"] for r in rows if r["ticket_id"] in index._row]:
            raise DuplicateCase(f"case {clash[0]!r} is already in the index"
                                + (f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""))
        lines = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
        start = _append(root / RETAINED, lines)
        records = b"".join(id_key(r["ticket_id"]) + text_key(model, t) + np.asarray(v, np.float32).tobytes()
                           for r, t, v in zip(rows, texts, vectors))
        dim = index.manifest["dimension"]
        vec = root / VECTORS
        with open(vec, "a+b") as f:  # a new file, or one of another model's vectors (then rebuilt), gets a header
            f.seek(0)
            fresh = _dimension(f.read(HEADER_BYTES)) != dim
        if fresh:
            _rewrite(vec, _header(dim))
        _append(vec, records, unit=2 * KEY_BYTES + 4 * dim)
        generation = bump_generation(root, default_base=index._generation[1])
        index._retained_offset = start + len(lines)
        index._generation = generation
        index._add_segment(rows, texts, np.asarray(vectors, dtype=np.float32))
    return len(index)


def after_rebuild(root: Path, merged_ids: set[str], build_id: str) -> None:
    """After ``casebase index``: keep only the vectors of retained cases the new main index does not hold (appended
    while it ran), and bump the generation with the new build as base (every loaded index reloads)."""
    root = Path(root)
    with locked(root):
        path = root / VECTORS
        if path.exists():
            keep = {id_key(r["ticket_id"]) for r in read_retained(root)[0] if r["ticket_id"] not in merged_ids}
            data = path.read_bytes()
            _rewrite_vectors(path, data, [rec for rec in _records(data) if rec[:KEY_BYTES] in keep])
        bump_generation(root, new_base=build_id)


def forget_ids(root: Path, ids: set[str]) -> None:
    """Erase cases from the retained file and their vectors (``casebase forget``); every loaded index reloads."""
    root = Path(root)
    with locked(root):
        path = root / RETAINED
        if path.exists():
            kept = [line for line in path.read_bytes().splitlines(keepends=True)
                    if (case_id := _line_id(line)) is not None and case_id not in ids]  # torn tails go too
            _rewrite(path, b"".join(line if line.endswith(b"\n") else line + b"\n" for line in kept))
        vec = root / VECTORS
        if vec.exists():
            gone = {id_key(i) for i in ids}
            data = vec.read_bytes()
            _rewrite_vectors(vec, data, [rec for rec in _records(data) if rec[:KEY_BYTES] not in gone])
        bump_generation(root, new_base=secrets.token_hex(8))


def _line_id(line: bytes) -> str | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None  # the torn tail of a killed append (or a blank line): dropped with the rewrite
    return str(row.get("ticket_id")) if isinstance(row, dict) and row.get("ticket_id") not in (None, "") else None


def _records(data: bytes) -> list[bytes]:
    """Whole vector records of a vector file's bytes (its header names the dimension)."""
    dim = _dimension(data)
    if dim is None:
        return []
    size = 2 * KEY_BYTES + 4 * dim
    body = data[HEADER_BYTES:]
    return [body[i: i + size] for i in range(0, len(body) - len(body) % size, size)]


def _dimension(data: bytes) -> int | None:
    if len(data) < HEADER_BYTES or data[:4] != MAGIC:
        return None
    return int.from_bytes(data[4:HEADER_BYTES], "little")


def _header(dimension: int) -> bytes:
    return MAGIC + int(dimension).to_bytes(HEADER_BYTES - 4, "little")


def _rewrite_vectors(path: Path, data: bytes, records: list[bytes]) -> None:
    dim = _dimension(data)
    _rewrite(path, (_header(dim) + b"".join(records)) if dim is not None and records else b"")


def _rewrite(path: Path, data: bytes) -> None:
    from casebase.workspace import atomic_write

    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def tokens_of(text: str) -> tuple[Counter, int]:
    from casebase.retrieve.bm25 import tokenize

    tokens = tokenize(text)
    return Counter(tokens), len(tokens)
