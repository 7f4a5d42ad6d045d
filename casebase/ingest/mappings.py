"""Column mappings: which source column holds which canonical field.

A mapping is a TOML file with a ``[tickets]`` and a ``[messages]`` table; each key is a
canonical field, each value a source column. ``<field>_values`` recodes a field's values
(``"*"`` is the default for values not listed). Keys that are not canonical fields are kept
as extra columns. Built in: ``canonical`` and ``saleslogix``; ``auto`` picks the built-in
mapping whose required columns are all present (else reports the closest one's missing
columns). Without a history file, a mapped ticket ``body`` column is required too. See docs/mapping.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from casebase.errors import CasebaseError

# resolution: the desk's recorded resolution (SalesLogix SOLUTION): ingest makes it a message of its own, flagged
TICKET_FIELDS = ("ticket_id", "subject", "opened_at", "closed_at", "updated_at", "status", "category", "urgency",
                 "body", "resolution", "contact_name", "contact_email")
# internal: an internal note or work note ("true"/"false"); resolution: the desk's recorded resolution field
MESSAGE_FIELDS = ("ticket_id", "message_id", "position", "sent_at", "author", "role", "body", "internal", "resolution")
REQUIRED = {"tickets": ("ticket_id", "opened_at"), "messages": ("ticket_id", "body")}
ROLES = ("customer", "responder")
NO_HISTORY_BODY = ": the only messages, as there is no --history"
BUILTIN_DIR = resources.files("casebase.ingest").joinpath("mappings")


@dataclass
class TableMapping:
    columns: dict[str, str] = field(default_factory=dict)  # canonical field -> source column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {source value: value}

    def required(self, table: str, also: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        """(field, column) of the table's required fields, and of those in ``also`` that are mapped."""
        fields = REQUIRED[table] + tuple(f for f in also if f in self.columns)
        return [(f, self.columns.get(f, f)) for f in fields]


@dataclass
class Mapping:
    name: str
    tickets: TableMapping
    messages: TableMapping
    dayfirst: bool = False
    description: str = ""
    source: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "dayfirst": self.dayfirst,
                "tickets": self.tickets.columns, "messages": self.messages.columns,
                "values": {"tickets": self.tickets.values, "messages": self.messages.values}}


def connector_mapping(name: str, description: str, tickets, messages, values: dict | None = None) -> "Mapping":
    """The identity mapping over what a connector (casebase.ingest.connectors) produced: canonical fields by their
    own names, the tickets' other columns kept as extras, and ``values`` ({table: {field: {from: to}}}) recoding
    them (a connector mapping file's overrides of its built-in tables)."""
    t_cols = {c: c for c in tickets.columns}
    m_cols = {c: c for c in (messages.columns if messages is not None else ()) if c in MESSAGE_FIELDS}
    values = values or {}
    return Mapping(name=name, tickets=TableMapping(t_cols, dict(values.get("tickets", {}))),
                   messages=TableMapping(m_cols, dict(values.get("messages", {}))), description=description,
                   source=f"connector:{name}")


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in BUILTIN_DIR.iterdir() if p.name.endswith(".toml"))


def parse_mapping(data: dict, name: str, source: str) -> Mapping:
    problems = []
    tables = {}
    for table in ("tickets", "messages"):
        raw = data.get(table)
        if raw is None:
            problems.append(f"no [{table}] table")
            continue
        tm = TableMapping()
        for key, value in raw.items():
            if key.endswith("_values"):
                if not isinstance(value, dict):
                    problems.append(f"[{table}] {key} must be an inline table of value = value")
                else:
                    tm.values[key[: -len('_values')]] = {str(k): str(v) for k, v in value.items()}
            elif isinstance(value, str) and value.strip():
                tm.columns[key] = value
            else:
                problems.append(f"[{table}] {key} must be a column name (a string), got {value!r}")
        for fld in REQUIRED[table]:
            if fld not in tm.columns:
                problems.append(f"[{table}] has no entry for the required field {fld!r}")
        tables[table] = tm
    if problems:
        raise CasebaseError(f"mapping {source}: " + "; ".join(problems) + ". See docs/mapping.md for the format.")
    options = data.get("options", {})
    return Mapping(name=data.get("name", name), tickets=tables["tickets"], messages=tables["messages"],
                   dayfirst=bool(options.get("dayfirst", False)), description=data.get("description", ""),
                   source=source)


def load_mapping(spec: str) -> Mapping:
    """A built-in mapping by name, or a TOML file by path."""
    if spec in builtin_names():
        text = BUILTIN_DIR.joinpath(f"{spec}.toml").read_text()
        source = f"built-in:{spec}"
    else:
        path = Path(spec)
        if not path.is_file():
            raise CasebaseError(
                f"mapping {spec!r}: not a built-in mapping ({', '.join(['auto', *builtin_names()])}) "
                f"and {'a directory, not a file' if path.is_dir() else 'no such file'}. Give a built-in name or "
                "the path of a TOML mapping (docs/mapping.md)."
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CasebaseError(f"mapping {spec}: cannot read it as UTF-8 text ({err}). Save the mapping as "
                                "a UTF-8 TOML file (docs/mapping.md).") from None
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CasebaseError(f"mapping {source}: invalid TOML ({err}).") from None
    return parse_mapping(data, Path(spec).stem, source)


def choose_mapping(spec: str, ticket_columns: list[str], message_columns: list[str] | None) -> Mapping:
    """Resolve ``spec`` (``auto``, a built-in name or a file) and check the columns exist.

    Collects every missing column of both tables into one error that lists the columns
    found and the mapping to use; for ``auto``, of the closest built-in mapping (the one
    with the most required columns present).
    """
    if spec == "auto":
        builtins = [load_mapping(name) for name in builtin_names()]
        for m in builtins:
            if not missing_columns(m, ticket_columns, message_columns):
                return m
        mapping = max(builtins, key=lambda m: sum(ok for *_, ok in required_columns(m, ticket_columns,
                                                                                   message_columns)))
        hint = f"No built-in mapping fits these columns; the closest is {mapping.name!r}: "
    else:
        mapping = load_mapping(spec)
        hint = ""
    problems = problems_for(mapping, ticket_columns, message_columns)
    if problems:
        fits = [n for n in builtin_names() if n != mapping.name and fits_whole(load_mapping(n), ticket_columns,
                                                                                message_columns)]
        swapped = message_columns is not None and not missing_columns(mapping, message_columns, ticket_columns)
        advice = (f"These columns fit the built-in mapping {fits[0]!r}: use --mapping {fits[0]}." if fits
                  else "The files look swapped: give the ticket table as --tickets and the history as --history."
                  if swapped else "Write a mapping file that names your columns and pass it with --mapping FILE "
                  "(format and a worked example: docs/mapping.md).")
        raise CasebaseError(f"{hint}mapping {mapping.name!r} does not fit the input. " + " ".join(problems)
                            + " " + advice)
    return mapping


def fits_whole(mapping: Mapping, ticket_columns: list[str], message_columns: list[str] | None) -> bool:
    """Every required column present, and a source of messages (a history file or a ticket body)."""
    return not missing_columns(mapping, ticket_columns, message_columns) and (
        message_columns is not None or "body" in mapping.tickets.columns)


def required_columns(mapping: Mapping, ticket_columns: list[str],
                     message_columns: list[str] | None) -> list[tuple[str, str, str, bool]]:
    """(table, field, column, present) of every required column. Without a history file the
    mapped ticket body is required: it is then the only source of messages."""
    out = [("tickets", fld, col, col in ticket_columns) for fld, col in
           mapping.tickets.required("tickets", also=("body",) if message_columns is None else ())]
    if message_columns is not None:
        out += [("messages", fld, col, col in message_columns) for fld, col in mapping.messages.required("messages")]
    return out


def missing_columns(mapping: Mapping, ticket_columns: list[str],
                    message_columns: list[str] | None) -> list[tuple[str, str, str]]:
    return [(t, fld, col) for t, fld, col, ok in required_columns(mapping, ticket_columns, message_columns) if not ok]


def problems_for(mapping: Mapping, ticket_columns: list[str], message_columns: list[str] | None) -> list[str]:
    out = []
    missing = missing_columns(mapping, ticket_columns, message_columns)
    for table, found in (("tickets", ticket_columns), ("messages", message_columns)):
        cols = ", ".join(f"{col!r} (field {fld}{NO_HISTORY_BODY if (t, fld) == ('tickets', 'body') else ''})"
                         for t, fld, col in missing if t == table)
        if cols:
            out.append(f"The {table} file lacks column {cols}; columns found: {', '.join(map(repr, found))}.")
    return out
