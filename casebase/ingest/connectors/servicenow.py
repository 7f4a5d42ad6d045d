"""ServiceNow: the ``incident`` table (CSV, or JSON from the Table API / list export) + ``sys_journal_field``.

incident: ``number``, ``short_description``, ``description``, ``close_notes``, ``close_code``, ``category``,
``priority`` ("1 - Critical" ... "5 - Planning"), ``urgency``, ``state`` (1 New, 2 In Progress, 3 On Hold,
6 Resolved, 7 Closed, 8 Canceled; or their labels), ``opened_at``, ``resolved_at``, ``closed_at``,
``sys_updated_on``, ``caller_id``, ``sys_id``. JSON is ``{"result": [...]}`` (Table API) or ``{"records": [...]}``
(list export), with plain values or ``{"value", "display_value"}`` / ``{"link", "value"}`` objects.
sys_journal_field: ``element_id`` (the incident's sys_id), ``element`` (comments | work_notes), ``value``,
``sys_created_on``, ``sys_created_by`` (a user name), ``name`` (the table: incident).

Messages: the description is the caller's first message; every journal entry one message (work notes flagged
internal), by time; ``close_notes`` is the recorded resolution, a message of its own flagged resolution (by the
resolver, at resolved_at), last. Journal entries by the caller (their user name, or a name that is the caller's
but for case and punctuation: ``abel.tuter`` is Abel Tuter; a users file, sys_user's ``user_name`` and ``name``,
settles the rest) are the customer's; every other author a responder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from casebase.errors import CasebaseError
from casebase.ingest.connectors import FALSE, TRUE, Connector, Export, Peek, frame, recode
from casebase.ingest.connectors._common import JSON_SUFFIXES, header_of, json_records, table_records, text, value
from casebase.ingest.mappings import MESSAGE_FIELDS, TICKET_FIELDS

TICKET_COLUMNS = tuple(f for f in TICKET_FIELDS if f not in ("body", "contact_email"))  # description: a message
STATES = {"1": "open", "2": "open", "3": "pending", "6": "solved", "7": "closed", "8": "closed",
          "new": "open", "in progress": "open", "active": "open", "on hold": "pending", "awaiting user info": "pending",
          "resolved": "solved", "closed": "closed", "canceled": "closed", "cancelled": "closed"}
# priority -> urgency on the product's scale, 1 (most urgent) .. 5, as every connector and the sample write it
PRIORITIES = {"1": "1", "2": "2", "3": "3", "4": "4", "5": "5",
              "critical": "1", "high": "2", "moderate": "3", "low": "4", "planning": "5"}


def priority(v: str | None, table: dict[str, str]) -> str | None:
    """"1 - Critical" (or 1, or Critical) -> urgency by the table: its number first, then its label."""
    if v is None:
        return None
    m = re.match(r"^\s*(\d+)\s*(?:-\s*(.*))?$", v)
    if m:
        return recode(m.group(1), table, default="") or recode(m.group(2) or v, table)
    return recode(v, table)


def state(v: str | None) -> str | None:
    if v is None:
        return None
    m = re.match(r"^\s*(\d+)\s*(?:-\s*(.*))?$", v)
    return recode(m.group(1) if m else v, STATES, default="") or recode(m.group(2) if m and m.group(2) else v, STATES)


def norm(name: str) -> str:
    """A person's name or user name reduced to its letters and digits, lower case: abel.tuter ~ Abel Tuter."""
    return re.sub(r"[\W_]+", "", name.lower())


# ---- detect -------------------------------------------------------------------------------------------------

def _fields(p: Peek) -> set[str]:
    return {c.lower() for c in (header_of(p) if p.kind == "table" else p.columns)}


def detect(pt: Peek, ph: Peek | None) -> str | None:
    cols = _fields(pt)
    if not ({"number", "short_description"} <= cols and cols & {"sys_id", "state", "opened_at", "caller_id"}):
        return None
    if ph is None:
        return "incident records with number, short_description and state/sys_id: a ServiceNow incident export"
    if {"element_id", "element", "value"} <= _fields(ph):
        return ("incident records with number, short_description and state/sys_id, and a sys_journal_field history "
                "(element_id, element, value): a ServiceNow export")
    return None


# ---- read ---------------------------------------------------------------------------------------------------

def records(path: Path, what: str, warnings: list[str]) -> list[tuple[str, dict]]:
    """(where, record) of a ServiceNow table export: JSON (Table API or list export) or a table file."""
    path = Path(path)
    if path.suffix.lower() in JSON_SUFFIXES:
        return json_records(path, f"ServiceNow {what} table", ("result", "records"), warnings,
                            ndjson_in_json=False)
    return table_records(path, warnings)


def require(path: Path, recs: list[tuple[str, dict]], fields: tuple[str, ...], what: str, how: str) -> None:
    seen = {k for _, r in recs for k in r}
    missing = [f for f in fields if f not in seen]
    if missing:
        raise CasebaseError(f"{path}: not a ServiceNow {what} export: no {', '.join(missing)} field (fields found: "
                            f"{', '.join(sorted(seen)[:15])}). {how}")


def read(tickets: Path, history: Path | None = None, users: Path | None = None) -> Export:
    """incident (+ sys_journal_field, + sys_user) as canonical tickets and messages. States and priorities the
    tables do not know (a custom state "9 - Awaiting Vendor") are kept as given, for a connector mapping file's
    ``status_values`` / ``urgency_values`` to recode (docs/mapping.md)."""
    warnings: list[str] = []
    tickets, history = Path(tickets), Path(history) if history is not None else None
    inc = records(tickets, "incident", warnings)
    how = ("Export the incident list (all columns, or at least number, short_description, description, "
           "close_notes, state, opened_at, sys_id) as CSV or JSON.")
    require(tickets, inc, ("number",), "incident", how)
    journal = records(history, "journal entry", warnings) if history is not None else []
    if history is not None:
        require(history, journal, ("element_id", "value"), "sys_journal_field",
                "Export the sys_journal_field table (element_id, element, value, sys_created_on, sys_created_by), "
                "filtered on name=incident, as CSV or JSON.")
        if not any("sys_id" in r for _, r in inc):
            raise CasebaseError(f"{tickets}: no sys_id field, but the journal ({history.name}) names its incidents "
                                "by sys_id (element_id). Export the incidents with the sys_id column.")

    names: dict[str, str] = {}  # user name or sys_id -> the person's name, from a users file
    if users is not None:
        for _, u in records(Path(users), "user", warnings):
            name = text(value(u.get("name")))
            for k in ("user_name", "sys_id", "email"):
                if name and text(value(u.get(k), display=False)):
                    names[str(value(u.get(k), display=False)).lower()] = name

    t_rows, m_rows, close_rows = [], [], []
    by_sys_id: dict[str, str] = {}
    callers: dict[str, set[str]] = {}
    people: dict[str, str] = {}  # norm(name) -> the name an incident shows, for journal user names (beth.anglin)
    for where, r in inc:
        get = lambda k: text(value(r.get(k)))  # noqa: E731 - display value
        when = lambda k: text(value(r.get(k), display=False))  # noqa: E731 - a date: the API's value is UTC
        for k in ("caller_id", "resolved_by", "closed_by", "assigned_to", "opened_by"):
            if get(k):
                people.setdefault(norm(get(k)), get(k))
        number = get("number")
        sys_id = text(value(r.get("sys_id"), display=False))
        if number and sys_id:
            by_sys_id[sys_id] = number
        caller = get("caller_id") or get("caller_id.name")
        ids = {v.lower() for v in (caller, text(value(r.get("caller_id"), display=False)), get("caller_id.user_name"),
                                   get("caller_id.name"), get("caller_id.email")) if v}
        ids |= {names[i].lower() for i in list(ids) if i in names}
        callers[number or ""] = ids | {norm(i) for i in ids}
        src_state = get("state")
        status = state(src_state)
        t_rows.append({
            "ticket_id": number, "subject": get("short_description"), "opened_at": when("opened_at"),
            "closed_at": when("resolved_at") or when("closed_at"), "updated_at": when("sys_updated_on"),
            "status": status, "category": get("category"), "urgency": priority(get("priority"), PRIORITIES),
            "contact_name": caller, "source_state": src_state, "source_priority": get("priority"),
            "sn_urgency": get("urgency"), "impact": get("impact"), "subcategory": get("subcategory"),
            "close_code": get("close_code"), "resolved_at": when("resolved_at"), "sn_closed_at": when("closed_at"),
            "assignment_group": get("assignment_group"), "sys_id": sys_id,
        })
        if get("description") is not None:
            m_rows.append({"ticket_id": number, "message_id": f"{number}.description", "sent_at": when("opened_at"),
                           "author": caller, "role": "customer", "body": get("description"),
                           "internal": FALSE, "resolution": FALSE, "_order": -1})
        if get("close_notes") is not None:  # the recorded resolution: one more message, counted in rows_in
            close_rows.append({"ticket_id": number, "message_id": f"{number}.close_notes",
                               "sent_at": when("resolved_at") or when("closed_at"),
                               "author": get("resolved_by") or get("closed_by"), "role": "responder",
                               "body": get("close_notes"), "internal": FALSE, "resolution": TRUE})

    other_elements: set[str] = set()
    for i, (where, j) in enumerate(journal):
        get = lambda k: text(value(j.get(k)))  # noqa: E731
        when = lambda k: text(value(j.get(k), display=False))  # noqa: E731
        element_id = text(value(j.get("element_id"), display=False))
        number = by_sys_id.get(element_id or "", element_id)  # unknown: ingest quarantines it, naming the id
        element = (get("element") or "comments").lower()
        if element not in ("comments", "work_notes"):
            other_elements.add(element)
        author = get("sys_created_by")
        ids = callers.get(number or "", set())
        is_caller = author is not None and (author.lower() in ids or norm(author) in ids
                                            or names.get(author.lower(), "\0").lower() in ids)
        journal_id = text(value(j.get("sys_id"), display=False))
        m_rows.append({"ticket_id": number, "message_id": journal_id or f"{number}.journal{i + 1}",
                       "sent_at": when("sys_created_on"),
                       "author": names.get((author or "").lower()) or people.get(norm(author or ""), author),
                       "role": "customer" if is_caller else "responder", "body": get("value"),
                       "internal": FALSE if element == "comments" else TRUE, "resolution": FALSE, "_order": 0})
    if other_elements:
        warnings.append(f"{history.name}: journal fields {sorted(other_elements)} are neither comments nor work_notes: "
                        "kept as internal notes")

    messages = order(m_rows, close_rows)
    return Export(tickets=frame(t_rows, TICKET_COLUMNS), messages=frame(messages, MESSAGE_FIELDS),
                  rows_in={"tickets": len(inc), "messages": len(messages)}, warnings=warnings)


def order(rows: list[dict], close_rows: list[dict]) -> list[dict]:
    """Positions per incident: the description first, the journal by time (between equal times the file's order,
    reversed where it lists entries newest first; entries with no readable time after those with
    one), the close notes last."""
    if not rows and not close_rows:
        return []
    df = pd.DataFrame(rows + [dict(r, _order=1) for r in close_rows])
    sent = df["sent_at"]
    t = pd.to_datetime(sent, format="ISO8601", errors="coerce", utc=True)
    rest = t.isna() & sent.notna()
    if rest.any():
        t[rest] = pd.to_datetime(sent[rest], format="mixed", errors="coerce", utc=True)
    df["_t"], df["_i"] = t, range(len(df))
    # between equal times, the file's own order: as listed, or reversed when the file lists the entries of its
    # incidents newest first (ServiceNow's journal list does), as most steps between them go back in time
    df["_tie"] = df["_i"]
    journal = df["_order"] == 0
    step = df[journal].groupby("ticket_id", dropna=False)["_t"].diff()
    if (step < pd.Timedelta(0)).sum() > (step > pd.Timedelta(0)).sum():
        df.loc[journal, "_tie"] = -df.loc[journal, "_i"]
    df = df.sort_values(["ticket_id", "_order", "_t", "_tie"], kind="stable", na_position="last")
    df["position"] = df.groupby("ticket_id", dropna=False).cumcount()
    df = df.sort_values("_i")
    return df.drop(columns=["_order", "_t", "_i", "_tie"]).to_dict("records")


CONNECTORS = (Connector(
    name="servicenow",
    description="ServiceNow: incident (number, short_description, description, close_notes, state, sys_id) + "
                "sys_journal_field (element_id, element comments|work_notes, value)",
    needs="number, short_description, state, sys_id, close_notes; element_id, element, value, sys_created_on",
    export_hint="incident list > right-click the header > Export > CSV (or /api/now/table/incident as JSON); "
                "sys_journal_field.list filtered on name=incident, exported the same way",
    detect=detect,
    read=read,
    example="casebase ingest --workspace /tmp/ws-sn --tickets incident.csv --history sys_journal_field.csv "
            "--mapping auto",
),)
