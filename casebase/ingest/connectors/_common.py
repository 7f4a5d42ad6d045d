"""Reading helpers shared by the connectors: an export file's text, its JSON or NDJSON records and table rows, each
with where it came from (``line 3``, ``record 2``, ``issues[0]``, ``row 4``), and the small recodings several
helpdesks need (ids, authors, thread order, priorities). Errors name the file, the record or line, and what is
missing. (Private to the connectors; nothing here knows a helpdesk: the callers name theirs in ``what``.)"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

from casebase.errors import CasebaseError
from casebase.ingest.connectors import Peek, keys_of
from casebase.ingest.readers import decode, read_table, sniff_delimiter

JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")
NDJSON_SUFFIXES = (".ndjson", ".jsonl")


# ---- files ---------------------------------------------------------------------------------------------------

def read_text(path: Path, what: str | None = None, warnings: list[str] | None = None) -> str:
    """The file's text (UTF-8, UTF-16 with BOM or cp1252, as ``readers.decode``; its warning goes to ``warnings``
    when given), or an error naming the problem and ``what`` the file should hold ("Zendesk tickets")."""
    path = Path(path)
    of_what = f" of the {what}" if what else ""
    if not path.exists():
        raise CasebaseError(f"{path}: no such file. Check the path{of_what} (it is relative to {Path.cwd()}).")
    if path.is_dir():
        raise CasebaseError(f"{path}: is a directory; give the path of the {what or 'exported'} file.")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CasebaseError(f"{path}: cannot read the {what or 'exported'} file ({err.strerror}). "
                            "Check its permissions.") from None
    text = decode(raw, path, [] if warnings is None else warnings)
    if not text.strip():
        raise CasebaseError(f"{path}: the file is empty. Export {f'the {what}' if what else 'it'} again.")
    return text


def json_document(path: Path, what: str, warnings: list[str] | None = None,
                  ndjson_in_json: bool = True) -> tuple[Any, bool]:
    """(data, ndjson): the parsed document, or [(line number, record)] of NDJSON (``.ndjson``/``.jsonl``; with
    ``ndjson_in_json`` also a ``.json`` file of objects one per line, as Zendesk's full export is)."""
    path = Path(path)
    text = read_text(path, what, warnings)
    doc_error = None
    if path.suffix.lower() not in NDJSON_SUFFIXES:
        try:
            return json.loads(text), False
        except json.JSONDecodeError as err:
            if not ndjson_in_json:
                raise CasebaseError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}. "
                                    f"Export the {what} again.") from None
            doc_error = (f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}). Export the "
                         f"{what} again as JSON (one document, or one object per line).")
            if text.lstrip()[:1] != "{":
                raise CasebaseError(doc_error) from None
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((n, json.loads(line)))
        except json.JSONDecodeError as err:
            if doc_error and not records:  # not NDJSON either: say where the document breaks
                raise CasebaseError(doc_error) from None
            raise CasebaseError(f"{path}: line {n} is not valid JSON ({err.msg}, column {err.colno}); the {what} "
                                "file must hold one JSON object per line. Export it again.") from None
    return records, True


def json_records(path: Path, what: str, keys: tuple[str, ...], warnings: list[str] | None = None,
                 ndjson_in_json: bool = True) -> list[tuple[str, dict]]:
    """[(where, record)] of an NDJSON file, a JSON array, or the array under one of ``keys`` of a JSON object
    (``{"tickets": [...], "next_page": ...}``); a record that is itself ``{key: [...]}`` (one API answer per line)
    gives its items. ``where`` names the line or the record (``line 3``, ``record 3``, ``issues[2]``,
    ``line 3 Ticket[0]``)."""
    data, ndjson = json_document(path, what, warnings, ndjson_in_json)
    return records_of(data, ndjson, path, what, keys)


def records_of(data: Any, ndjson: bool, path: Path, what: str, keys: tuple[str, ...]) -> list[tuple[str, dict]]:
    """``json_records`` of a document already parsed by ``json_document``."""
    if ndjson:
        items = [(f"line {n}", r) for n, r in data]
    elif isinstance(data, dict):
        found = [k for k in keys if isinstance(data.get(k), list | dict)]
        if not found:
            arrays = [k for k, v in data.items() if isinstance(v, list)]
            raise CasebaseError(f"{path}: a JSON object without {' or '.join(map(repr, keys))} (its arrays: "
                                f"{', '.join(map(repr, arrays)) or 'none'}). Give the {what} export: an array "
                                f"of records, {{{keys[0]!r}: [...]}}, or one record per line.")
        key = found[0]
        items = [(f"{key}[{i}]", r) for i, r in enumerate(data[key] if isinstance(data[key], list) else [data[key]])]
    elif isinstance(data, list):
        items = [(f"record {i}", r) for i, r in enumerate(data, 1)]
    else:
        raise CasebaseError(f"{path}: the JSON is a {type(data).__name__}, not an array of {what} records.")
    out = []
    for where, r in items:
        inner = next((k for k in keys if isinstance(r, dict) and isinstance(r.get(k), list | dict)), None)
        if inner is not None:  # {"Ticket": [...]} answers, one per line or in an array
            nested = r[inner] if isinstance(r[inner], list) else [r[inner]]
            out += [(f"{where} {inner}[{i}]", x) for i, x in enumerate(nested)]
        else:
            out.append((where, r))
    for where, r in out:
        if not isinstance(r, dict):
            raise CasebaseError(f"{path}: {where} is not an object but a JSON {type(r).__name__}. Export the "
                                f"{what} again (one object per record).")
    return out


def table_records(path: Path, warnings: list[str]) -> list[tuple[str, dict]]:
    """[(where, record)] of a table (CSV, Excel, parquet), every cell a string or None; ``row N`` counts the
    header as row 1, as a spreadsheet does."""
    df, more = read_table(path)
    warnings += more
    return [(f"row {i + 2}", rec) for i, rec in enumerate(df.to_dict("records"))]


def csv_rows(path: Path, warnings: list[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """(header, rows) of a delimited file read with the csv module, so that repeated column names (Jira's
    ``Comment``, ``Labels``) stay apart; each row as (record number, cells), the header being record 1. Rows with
    no value in any cell (blank lines) are left out: they hold no record."""
    text = read_text(path, warnings=warnings).lstrip("\r\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text, path))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CasebaseError(f"{path}: no header row. Export the table with its header row.") from None
    except csv.Error as err:
        raise CasebaseError(f"{path}: cannot read the header as delimited text ({err}).") from None

    def rows() -> Iterator[tuple[int, list[str]]]:
        n = 1
        try:
            for cells in reader:
                n += 1
                if any(c.strip() for c in cells):
                    yield n, cells
        except csv.Error as err:
            raise CasebaseError(f"{path}: record {n + 1} cannot be read as delimited text ({err}). "
                                "Check the quoting of the export, or export it again.") from None

    return header, rows()


# ---- detection ------------------------------------------------------------------------------------------------

def first_json_record(p: Peek) -> dict | None:
    """The first record of a JSON file, also when its file ends in ``.json`` but holds NDJSON (``peek`` then
    finds no record: it parses the whole file as one document)."""
    if p.record is not None or p.kind != "json":
        return p.record
    try:
        with open(p.path, encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    return record if isinstance(record, dict) else None
    except (OSError, ValueError):
        return None
    return None


def peek_columns(p: Peek | None) -> list[str]:
    """A ``Peek``'s columns, also of NDJSON in a file named ``.json`` (``peek`` parses such a file as one
    document, fails, and finds no columns): then the keys of its first line."""
    if p is None:
        return []
    if p.columns or p.kind != "json":
        return list(p.columns)
    return keys_of(first_json_record(p))


def header_of(pt) -> list[str]:
    """The column names of a ``Peek`` of a table; for a delimited file where the framework's peek finds none (one
    that starts with blank lines), the header record read with the csv module from the file's first 64 KiB."""
    if pt.columns or pt.kind != "table" or pt.path.suffix.lower() not in (".csv", ".tsv", ".txt"):
        return list(pt.columns)
    try:
        head = decode(pt.path.read_bytes()[: 1 << 16], pt.path, []).lstrip("\r\n")
        return [h.strip() for h in next(csv.reader(io.StringIO(head, newline=""),
                                                    delimiter=sniff_delimiter(head, pt.path)))]
    except (OSError, StopIteration, csv.Error, CasebaseError, UnicodeError):
        return []


# ---- fields -------------------------------------------------------------------------------------------------

def need(record: dict, keys: tuple[str, ...], path: Path, where: str, what: str) -> None:
    missing = [k for k in keys if record.get(k) in (None, "")]
    if missing:
        raise CasebaseError(f"{path}: {where} has no {', '.join(missing)} (a {what} record needs "
                            f"{', '.join(keys)}). Is this the right file?")


def id_str(value: Any) -> str | None:
    """An id as text: 123, 123.0 and " 123 " -> "123"; None for missing."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def text(cell: Any) -> str | None:
    """A cell as stripped text, None when empty."""
    if cell is None or (isinstance(cell, float) and cell != cell):
        return None
    s = str(cell).strip()
    return s or None


def value(cell: Any, display: bool = True) -> Any:
    """A field of a Table API record: its display value (or value) when it is a ``{"value", "display_value"}`` or
    ``{"link", "value"}`` object, else the cell itself."""
    if isinstance(cell, dict):
        if display and "display_value" in cell:
            return cell["display_value"]
        return cell.get("value", cell.get("display_value"))
    return cell


def scalar(value: Any) -> Any:
    """A cell for an extra column: scalars as they are, a list of scalars joined with ", ", anything nested None
    (a nested value is never stored as text)."""
    if isinstance(value, list):
        if all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
            return ", ".join(str(v) for v in value) or None
        return None
    if isinstance(value, dict):
        return None
    return value


def person(value: Any) -> str | None:
    """The author of an article's ``From``: the display name of ``"Jane Doe" <jane@example.com>``, else the
    address, else the text as given."""
    text = id_str(value)
    if text is None:
        return None
    m = re.match(r'^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$', text)
    if m:
        return m.group(1).strip() or m.group(2).strip() or None
    return text


def html_body(body: Any, content_type: Any) -> Any:
    """A body declared HTML (``text/html``) as text, by ingest's own converter (a short note from a rich-text editor,
    ``<div>Fixed.</div>``, does not look like HTML to the cleaner); any other body as it is."""
    if not isinstance(body, str) or "html" not in str(content_type or "").lower():
        return body
    from casebase.ingest.clean import html_to_text

    return html_to_text(body, declared=True)


def via(name: str | None, agent: bool) -> str | None:
    """An agent's name without the "via <group>" that Zammad and OTRS add to the From of its e-mails ("Tom Berger
    via Support"), so that the agent's notes and e-mails have one author."""
    if name and agent:
        return re.sub(r"\s+via\s+.+$", "", name) or name
    return name


# ---- threads --------------------------------------------------------------------------------------------------

def ticket_id_of_file(path: Path) -> str | None:
    """The ticket id in a per-ticket file's name: ``123.json``, ``ticket-123-comments.json`` -> "123"."""
    digits = re.findall(r"\d+", Path(path).stem)
    return digits[-1] if digits else None


def per_ticket_files(history: Path) -> list[Path]:
    files = sorted(p for p in Path(history).iterdir() if p.suffix.lower() in JSON_SUFFIXES)
    if not files:
        raise CasebaseError(f"{history}: a directory without .json files; give the comments file, or a directory "
                            "of one file per ticket named after its id (123.json).")
    return files


def by_ticket(history: Path, what: str, key: str, parent_keys: tuple[str, ...] = ()) -> list[tuple[str, str, dict]]:
    """[(ticket_id, where, item)] of a history export, in file order. Accepted shapes:
    a directory of per-ticket files (``123.json``: ``{key: [...]}`` or ``[...]``); one file of items that name
    their ``ticket_id`` (array, ``{key: [...]}`` or NDJSON); NDJSON or an array of ``{"ticket_id": .., key: [...]}``;
    an object keyed by ticket id (``{"123": [...]}`` or ``{"123": {key: [...]}}``); one ticket's ``{key: [...]}``
    whose file is named after the ticket."""
    history = Path(history)
    out: list[tuple[str | None, str, dict]] = []
    files = per_ticket_files(history) if history.is_dir() else [history]
    for path in files:
        data, ndjson = json_document(path, what)
        file_tid = ticket_id_of_file(path) if history.is_dir() else None
        if ndjson:
            items = [(f"line {n}", r) for n, r in data]
        elif isinstance(data, dict) and isinstance(data.get(key), list):
            items = [(f"{key}[{i}]", r) for i, r in enumerate(data[key])]
            if not history.is_dir() and items and all(isinstance(r, dict) and r.get("ticket_id") is None
                                                       for _, r in items):
                file_tid = ticket_id_of_file(path)  # one ticket's comments endpoint, saved as ticket-123.json
        elif isinstance(data, dict) and data and all(re.fullmatch(r"\s*\d+\s*", str(k)) for k in data):
            items = []
            for tid, v in data.items():
                v = v.get(key) if isinstance(v, dict) else v
                if not isinstance(v, list):
                    raise CasebaseError(f"{path}: the value of ticket {tid!r} is not a list of {what} "
                                        f"(nor {{{key!r}: [...]}}).")
                items += [(f"ticket {tid.strip()} {key}[{i}]", {**r, "ticket_id": tid.strip()} if isinstance(r, dict)
                           else r) for i, r in enumerate(v)]
        elif isinstance(data, list):
            items = [(f"record {i}", r) for i, r in enumerate(data, 1)]
        else:
            raise CasebaseError(f"{path}: not a {what} export: expected {{{key!r}: [...]}}, an array of {what}, "
                                f"an object keyed by ticket id, or one {what[:-1]} per line.")
        for where, r in items:
            if not isinstance(r, dict):
                raise CasebaseError(f"{path}: {where} is a JSON {type(r).__name__}, not an object.")
            if isinstance(r.get(key), list) and any(k in r for k in ("ticket_id", *parent_keys)):
                tid = id_str(r.get("ticket_id", next((r[k] for k in parent_keys if k in r), None)))
                for i, c in enumerate(r[key]):
                    if not isinstance(c, dict):
                        raise CasebaseError(f"{path}: {where} {key}[{i}] is not an object.")
                    out.append((tid, f"{path.name} {where} {key}[{i}]", c))
                continue
            tid = id_str(r.get("ticket_id")) or file_tid
            if tid is None:
                raise CasebaseError(
                    f"{path}: {where} has no ticket_id. One file for all tickets needs ticket_id in each of its "
                    f"{what}; the API's per-ticket files go in a directory, each named after its ticket (123.json), "
                    "given as --history DIR.")
            out.append((tid, f"{path.name} {where}", r))
    return out


def in_time_order(thread: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """A ticket's comments or conversations by ``created_at`` (the APIs list them so; a file of pages joined in
    another order is put right), file order among equal times; as given when a time is missing or not ISO 8601."""
    from datetime import datetime, timezone

    times = []
    for _, c in thread:
        try:
            t = datetime.fromisoformat(str(c.get("created_at")))
        except ValueError:
            return thread
        times.append(t if t.tzinfo else t.replace(tzinfo=timezone.utc))
    return [thread[i] for i in sorted(range(len(thread)), key=times.__getitem__)]


def thread_positions(rows: list[dict], key: str = "_order") -> None:
    """``position`` 0, 1, ... per ticket in the order of ``rows[i][key]`` (a sortable tuple), file order on ties;
    drops ``key``."""
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r["ticket_id"], []).append(i)
    for idx in groups.values():
        for pos, i in enumerate(sorted(idx, key=lambda i: (rows[i][key], i))):
            rows[i]["position"] = pos
    for r in rows:
        r.pop(key, None)


def number_order(value: Any) -> tuple:
    """Sort key of an id or article number: numbers by value, before anything else (then by text)."""
    text = id_str(value)
    if text is not None and re.fullmatch(r"\d+", text):
        return (0, int(text), "")
    return (1, 0, text or "")


# The product's urgency scale is 1 (most urgent) to 5 (casebase.extract.llm_method); a helpdesk's priority
# names are recoded onto it by their words, so Zammad's "3 high" and OTRS's "4 high" are both 2.
PRIORITY_WORDS = {"very high": "1", "urgent": "1", "critical": "1", "emergency": "1", "high": "2",
                  "normal": "3", "medium": "3", "moderate": "3", "low": "4", "very low": "5", "lowest": "5"}


def priority_urgency(name: Any, by_number: dict[str, str]) -> str | None:
    """Urgency (1 most urgent .. 5) of a priority name like "3 high" / "2 normal" (by its words), else of its
    leading number or id (``by_number``: the helpdesk's default table); None when neither is known."""
    text = id_str(name)
    if text is None:
        return None
    m = re.match(r"^\s*(\d+)?\s*[-.:]?\s*(.*?)\s*$", text)
    number, words = m.group(1), m.group(2).lower()
    if words in PRIORITY_WORDS:
        return PRIORITY_WORDS[words]
    if number is not None and number in by_number:
        return by_number[number]
    return None
