"""Connectors: readers of the export files each helpdesk produces, into the canonical two tables.

    casebase ingest --tickets export.ndjson --mapping zendesk          # a connector by name
    casebase ingest --tickets incident.csv --history sys_journal_field.csv   # --mapping auto recognises it

A column mapping (``casebase.ingest.mappings``) renames the columns of a flat export; a connector reads what a
mapping cannot: nested comments (Zendesk, Jira REST), one row per ticket with repeated comment columns (Jira CSV),
a journal of work notes (ServiceNow), sender types and visibility flags (Zammad, OTRS). Each connector module
defines one ``Connector``; ``CONNECTORS`` lists them. A connector returns an ``Export``: two DataFrames of strings in
the canonical fields (``TICKET_FIELDS`` and ``MESSAGE_FIELDS`` of ``casebase.ingest.mappings``, plus extra ticket
columns), which ingest then checks, cleans and redacts like any other export; every row it read is in them
(``rows_in`` counts them, so ingest's balance holds), and what it cannot place is quarantined by ingest with its
reason (a comment of an unknown ticket, an empty body, an unparseable date).

The semantics every connector gets right (docs/architecture.md, "Ingest contract"):
- ``messages.internal``: "true" for internal notes and work notes, kept as responder messages (the fix is often
  there; extraction may use them, a customer-facing draft must not quote them as if public);
- ``messages.resolution``: "true" for a message made from a recorded resolution field (ServiceNow close_notes,
  SalesLogix SOLUTION): the resolution as the desk wrote it, which extraction prefers;
- ``tickets.status``: open, pending, solved or closed (``STATUSES``), recoded with the connector's table;
- priorities and categories recoded with the connector's built-in tables (overridable: a mapping file with
  ``connector = NAME`` and ``<field>_values`` tables, ``override_values``);
- a ticket's description that is also its first comment is one message, never two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from casebase.errors import CasebaseError

STATUSES = ("open", "pending", "solved", "closed")
TRUE, FALSE = "true", "false"  # every cell is a string, as from any reader


@dataclass
class Export:
    """What a connector read: canonical tickets and messages (strings or None), with what it read them from."""

    tickets: pd.DataFrame
    messages: pd.DataFrame | None
    rows_in: dict[str, int]  # {"tickets": records read, "messages": comments/articles/journal rows read}
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Connector:
    """One helpdesk's export format.

    ``detect(peek_tickets, peek_history)`` says why the files are this format (a sentence) or None;
    ``read(tickets, history, users=None)`` reads them (a mapping file with ``connector = NAME`` recodes the output:
    ``override_values``). ``needs`` names the fields it recognises the format by,
    for the error that lists the closest formats when none fits; ``export_hint`` says how to produce the export."""

    name: str
    description: str
    needs: str
    export_hint: str
    detect: Callable[["Peek", "Peek | None"], str | None]
    read: Callable[..., Export]
    example: str = ""


@dataclass
class Peek:
    """A cheap look at a file: its kind, column names or JSON keys, and the first record."""

    path: Path
    kind: str  # "table" (csv/xlsx/parquet), "json" (one document), "ndjson" (one record per line)
    columns: list[str]  # header of a table; keys of the first record (dotted for nested objects) of JSON
    record: dict[str, Any] | None  # the first record of JSON (None for tables)
    document_keys: list[str]  # keys of a JSON document that is an object (e.g. ["tickets", "count"])


def peek(path: Path | None) -> Peek | None:
    """``Peek`` of a file, reading little of it (the first line of a table, the first record of NDJSON); None when
    it cannot be read (the reader then reports why, with its own error)."""
    if path is None:
        return None
    try:
        return _peek(Path(path))
    except (OSError, UnicodeError, ValueError):
        return None


def _peek(path: Path) -> Peek | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None  # read_table reports missing and empty files with their own errors
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        return Peek(path, "ndjson", [], None, [])
                    return Peek(path, "ndjson", keys_of(record), record if isinstance(record, dict) else None, [])
        return Peek(path, "ndjson", [], None, [])
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig", errors="replace"))
        except (OSError, json.JSONDecodeError):
            return Peek(path, "json", [], None, [])
        doc_keys = list(data) if isinstance(data, dict) else []
        record = first_record(data)
        return Peek(path, "json", keys_of(record), record, doc_keys)
    if suffix in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet"):
        try:
            columns = _csv_header(path) if suffix in (".csv", ".tsv", ".txt") else _table_header(path)
        except Exception:  # a damaged workbook or parquet (each library its own errors): ingest's reader says why
            columns = []
        return Peek(path, "table", columns, None, [])
    return None


def _table_header(path: Path) -> list[str]:
    """Column names of a parquet file (its schema) or a workbook's first sheet (its first row): the header alone,
    not the table ingest then reads whole."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return [str(c).strip() for c in pq.read_schema(path).names]
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        first = next(book.worksheets[0].iter_rows(max_row=1, values_only=True), ())
    finally:
        book.close()
    return [str(c).strip() for c in first if c is not None]


def _csv_header(path: Path) -> list[str]:
    """The header record alone (a first data row may hold a quoted line break: only the header is parsed)."""
    import csv
    import io

    from casebase.ingest.readers import decode, sniff_delimiter

    with open(path, "rb") as f:
        raw = f.read(1 << 16)
    text = decode(raw, path, [])
    try:
        header = next(csv.reader(io.StringIO(text), delimiter=sniff_delimiter(text, path)), [])
    except csv.Error:
        return []
    return [c.strip() for c in header]


def first_record(data: Any) -> dict | None:
    """The first object of a JSON document: the document's first element, or the first element of its one array
    (``{"tickets": [...]}``), or the document itself when it is one object."""
    if isinstance(data, list):
        return data[0] if data and isinstance(data[0], dict) else None
    if isinstance(data, dict):
        arrays = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if len(arrays) >= 1:
            return arrays[0][0]
        return data
    return None


def keys_of(record: Any, prefix: str = "") -> list[str]:
    """Keys of a record, nested objects as dotted names (``fields.comment.comments``)."""
    if not isinstance(record, dict):
        return []
    out = []
    for k, v in record.items():
        out.append(f"{prefix}{k}")
        if isinstance(v, dict):
            out.extend(keys_of(v, f"{prefix}{k}."))
    return out


def registry() -> dict[str, Connector]:
    """name -> Connector, from the connector modules (imported here so a broken one names itself)."""
    import importlib

    found = {}
    for module in MODULES:
        try:
            mod = importlib.import_module(f"casebase.ingest.connectors.{module}")
        except ModuleNotFoundError as err:
            if err.name == f"casebase.ingest.connectors.{module}":
                continue  # not written yet
            raise
        for connector in getattr(mod, "CONNECTORS", ()):
            found[connector.name] = connector
    return found


MODULES = ("zendesk", "freshdesk", "jira", "servicenow", "zammad", "otrs")


def find_connector(mapping: str, tickets: Path, history: Path | None) -> tuple[Connector | None, str]:
    """(connector, why) for ``--mapping``: the connector of that name, or with ``auto`` the one that recognises
    the files; (None, "") when a column mapping should read them."""
    connectors = registry()
    if mapping in connectors:
        return connectors[mapping], f"--mapping {mapping}"
    if mapping != "auto":
        named = mapping_file_connector(mapping)
        if named is None:
            return None, ""
        if named not in connectors:
            raise CasebaseError(f"mapping {mapping}: connector = {named!r} is not a helpdesk casebase reads "
                                f"({', '.join(connectors) or 'none'})")
        return connectors[named], f"mapping file {mapping}: connector = {named}"
    pt, ph = peek(tickets), peek(history)
    if pt is None:
        return None, ""
    for connector in connectors.values():
        why = connector.detect(pt, ph)
        if why:
            return connector, why
    return None, ""


def mapping_file_connector(mapping: str) -> str | None:
    """The ``connector = NAME`` of a TOML mapping file (a helpdesk export with its value tables overridden), if any."""
    import tomllib

    path = Path(mapping)
    if path.suffix.lower() != ".toml" or not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # load_mapping reports it with its own error
    value = data.get("connector")
    return str(value) if value else None


def override_values(mapping: str) -> dict[str, dict[str, dict[str, str]]]:
    """{"tickets": {field: {value: value}}, "messages": {...}} of a connector mapping file's ``<field>_values``
    tables: they recode the connector's output (e.g. a desk's own priority names, a status a workflow added)."""
    import tomllib

    data = tomllib.loads(Path(mapping).read_text(encoding="utf-8"))
    out: dict[str, dict[str, dict[str, str]]] = {"tickets": {}, "messages": {}}
    for table in out:
        for key, value in (data.get(table) or {}).items():
            if not key.endswith("_values") or not isinstance(value, dict):
                raise CasebaseError(f"mapping {mapping}: [{table}] {key}: a connector's mapping file only recodes "
                                    "values (<field>_values = {{ source = value }}); its columns are the connector's")
            out[table][key[: -len("_values")]] = {str(k): str(v) for k, v in value.items()}
    return out


def closest_formats(tickets: Path, history: Path | None, limit: int = 3) -> list[str]:
    """Lines naming the connectors whose fields overlap the files' most, with the fields each needs (for the
    error of ``--mapping auto`` when nothing fits)."""
    pt, ph = peek(tickets), peek(history)
    seen = {c.lower() for p in (pt, ph) if p for c in p.columns}
    scored = []
    for c in registry().values():
        wanted = {w.strip().lower() for w in c.needs.replace(";", ",").split(",") if w.strip()}
        scored.append((len(wanted & seen), c))
    scored.sort(key=lambda x: -x[0])
    return [f"{c.name} (needs {c.needs})" for _, c in scored[:limit]]


def frame(rows: list[dict], columns: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Rows as a DataFrame of strings (None for missing) with at least ``columns``; nothing converted."""
    from casebase.ingest.readers import cell_to_str

    df = pd.DataFrame(rows, dtype=object)
    for col in columns:
        if col not in df:
            df[col] = None
    return df.map(cell_to_str) if len(df) else df.astype(object)


def flag(value: Any) -> str:
    """A truthy export value as "true"/"false" (booleans, 1/0, "yes"/"no")."""
    if isinstance(value, str):
        return TRUE if value.strip().lower() in ("1", "true", "yes", "y", "t") else FALSE
    return TRUE if bool(value) else FALSE


def recode(value: Any, table: dict[str, str], default: str | None = None) -> str | None:
    """``table[str(value)]`` (case-insensitive), else ``default`` (the value itself when default is None)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    key = str(value).strip()
    lowered = {str(k).lower(): v for k, v in table.items()}
    return lowered.get(key.lower(), key if default is None else default)
