"""Column mappings: which source column holds which canonical field.

A mapping is a TOML file with a ``[tickets]`` and a ``[messages]`` table; each key is a
canonical field, each value a source column. ``<field>_values`` recodes a field's values
(``"*"`` is the default for values not listed). Keys that are not canonical fields are kept
as extra columns. Built in: ``canonical`` and ``saleslogix``; ``auto`` picks the built-in
mapping whose required columns are all present. See docs/mapping.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from casebase.errors import CasebaseError

TICKET_FIELDS = ("ticket_id", "subject", "opened_at", "closed_at", "category", "urgency", "body",
                 "contact_name", "contact_email")
MESSAGE_FIELDS = ("ticket_id", "message_id", "position", "sent_at", "author", "role", "body")
REQUIRED = {"tickets": ("ticket_id", "opened_at"), "messages": ("ticket_id", "body")}
ROLES = ("customer", "responder")
BUILTIN_DIR = resources.files("casebase.ingest").joinpath("mappings")


@dataclass
class TableMapping:
    columns: dict[str, str] = field(default_factory=dict)  # canonical field -> source column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> {source value: value}

    def missing(self, found: list[str], table: str) -> list[tuple[str, str]]:
        """(field, column) pairs whose column is absent; optional fields only count if required."""
        return [(f, self.columns[f]) if f in self.columns else (f, f)
                for f in REQUIRED[table] if self.columns.get(f, f) not in found]


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
        if not path.exists():
            raise CasebaseError(
                f"mapping {spec!r}: not a built-in mapping ({', '.join(['auto', *builtin_names()])}) "
                "and no such file. Give a built-in name or the path of a TOML mapping (docs/mapping.md)."
            )
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CasebaseError(f"mapping {source}: invalid TOML ({err}).") from None
    return parse_mapping(data, Path(spec).stem, source)


def choose_mapping(spec: str, ticket_columns: list[str], message_columns: list[str] | None) -> Mapping:
    """Resolve ``spec`` (``auto``, a built-in name or a file) and check the columns exist.

    Collects every missing column of both tables into one error that lists the columns
    found and the mapping to use.
    """
    if spec == "auto":
        for name in builtin_names():
            m = load_mapping(name)
            if not problems_for(m, ticket_columns, message_columns):
                return m
        spec = "canonical"
        hint = "No built-in mapping fits these columns: "
    else:
        hint = ""
    mapping = load_mapping(spec)
    problems = problems_for(mapping, ticket_columns, message_columns)
    if problems:
        fits = [n for n in builtin_names() if n != mapping.name
                and not problems_for(load_mapping(n), ticket_columns, message_columns)]
        advice = (f"These columns fit the built-in mapping {fits[0]!r}: use --mapping {fits[0]}."
                  if fits else "Write a mapping file that names your columns and pass it with --mapping FILE "
                  "(format and a worked example: docs/mapping.md).")
        raise CasebaseError(f"{hint}mapping {mapping.name!r} does not fit the input. " + " ".join(problems)
                            + " " + advice)
    return mapping


def problems_for(mapping: Mapping, ticket_columns: list[str], message_columns: list[str] | None) -> list[str]:
    out = []
    tables = [("tickets", mapping.tickets, ticket_columns)]
    if message_columns is not None:
        tables.append(("messages", mapping.messages, message_columns))
    for table, tm, found in tables:
        missing = tm.missing(found, table)
        if missing:
            cols = ", ".join(f"{col!r} (field {fld})" for fld, col in missing)
            out.append(f"The {table} file lacks column {cols}; columns found: {', '.join(map(repr, found))}.")
    return out
