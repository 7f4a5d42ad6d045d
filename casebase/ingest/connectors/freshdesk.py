"""Freshdesk: tickets (the CSV export with its column titles, or the API's JSON) + conversations (the API's JSON).

Fields from Freshdesk's documentation (API v2 Tickets and Conversations; "Exporting tickets"):
- tickets, API: ``id``, ``subject``, ``description`` (HTML), ``description_text``, ``status`` (2 open, 3 pending,
  4 resolved, 5 closed), ``priority`` (1 low, 2 medium, 3 high, 4 urgent), ``source``, ``type``, ``requester_id``,
  ``responder_id``, ``group_id``, ``tags``, ``created_at``, ``updated_at``, ``stats`` (``resolved_at``,
  ``closed_at``; with ``include=stats``), ``conversations`` (with ``include=conversations``);
- tickets, CSV export: "Ticket ID", "Subject", "Description", "Status", "Priority", "Source", "Type", "Group",
  "Agent", "Created time", "Resolved time", "Closed time", "Last updated time", "Tags", "Full name", "Email",
  "Contact ID";
- conversations: ``id``, ``ticket_id``, ``body`` (HTML), ``body_text``, ``incoming``, ``private``, ``user_id``,
  ``created_at`` (per ticket, or one file for all).

The ticket's description is its first message, from the requester (the API does not list it among the
conversations). ``incoming: true`` -> customer, else responder; ``private: true`` -> internal. A users file
(``--users``: the contacts and/or agents API JSON, ``id`` + ``name`` or ``contact.name``) names the authors, so
ingest redacts their names in the bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casebase.errors import CasebaseError
from casebase.ingest.connectors import FALSE, TRUE, Connector, Export, Peek, flag, frame, recode
from casebase.ingest.connectors._common import (JSON_SUFFIXES, by_ticket, first_json_record, id_str, in_time_order,
                                                 json_records, need)
from casebase.ingest.mappings import MESSAGE_FIELDS, TICKET_FIELDS

STATUS = {"2": "open", "3": "pending", "4": "solved", "5": "closed", "6": "pending", "7": "pending",
          "open": "open", "pending": "pending", "resolved": "solved", "closed": "closed",
          "waiting on customer": "pending", "waiting on third party": "pending"}
# priority -> urgency on the product's scale, 1 (most urgent) .. 5, as every connector and the sample write it
PRIORITY = {"1": "4", "2": "3", "3": "2", "4": "1", "low": "4", "medium": "3", "high": "2", "urgent": "1"}
SOURCE = {"1": "email", "2": "portal", "3": "phone", "5": "twitter", "6": "facebook", "7": "chat",
          "8": "mobihelp", "9": "feedback widget", "10": "outbound email"}
# CSV export column title -> field of the record read (the API's names)
CSV_COLUMNS = {"ticket id": "id", "subject": "subject", "description": "description_text", "status": "status",
               "priority": "priority", "source": "source", "type": "type", "group": "group", "agent": "agent",
               "created time": "created_at", "resolved time": "resolved_at", "closed time": "closed_at",
               "last updated time": "updated_at", "tags": "tags", "full name": "contact_name",
               "email": "contact_email", "contact id": "requester_id"}
EXTRA = ("source_status", "source_priority", "channel", "tags", "group", "agent", "group_id")


def detect(pt: Peek, ph: Peek | None) -> str | None:
    if pt.kind == "table":
        cols = {c.strip().lower() for c in pt.columns}
        if {"ticket id", "subject", "created time"} <= cols and cols & {"status", "last updated time"}:
            return "columns Ticket ID, Subject, Created time: a Freshdesk ticket export (CSV)"
        return None
    rec = first_json_record(pt)
    if not isinstance(rec, dict) or "id" not in rec or "requester_id" not in rec or "submitter_id" in rec:
        return None
    if "description_text" in rec or "fr_escalated" in rec or ("responder_id" in rec and "fr_due_by" in rec):
        where = f", conversations from {ph.path.name}" if ph is not None else ""
        return f"tickets with requester_id and description_text/fr_escalated: Freshdesk's tickets API{where}"
    return None


def load_people(users: Path | None) -> dict[str, str]:
    """user id -> name, from the contacts (``name``) and agents (``contact.name``) API JSON."""
    if users is None:
        return {}
    out = {}
    for where, u in json_records(users, "users", ("contacts", "agents", "users")):
        need(u, ("id",), users, where, "Freshdesk contact or agent")
        contact = u.get("contact")
        name = u.get("name") or (contact.get("name") if isinstance(contact, dict) else None)
        if name:
            out[id_str(u["id"])] = str(name)
    return out


def ticket_records(tickets: Path) -> list[tuple[str, dict]]:
    """The tickets as API-shaped records (a CSV export's columns renamed to the API's fields)."""
    if Path(tickets).suffix.lower() in JSON_SUFFIXES:
        return json_records(tickets, "Freshdesk tickets", ("tickets", "results"))
    from casebase.ingest.readers import read_table

    df, _ = read_table(tickets)
    rename = {c: CSV_COLUMNS[c.strip().lower()] for c in df.columns if c.strip().lower() in CSV_COLUMNS}
    if "id" not in rename.values():
        raise CasebaseError(f"{tickets}: no 'Ticket ID' column (its columns: {', '.join(map(str, df.columns[:12]))})."
                            " Export the tickets from Freshdesk (Tickets > Export) with the Ticket ID field.")
    df = df[list(rename)].rename(columns=rename)
    return [(f"row {i + 2}", {k: v for k, v in r.items() if v is not None})
            for i, r in enumerate(df.to_dict("records"))]


def read(tickets: Path, history: Path | None, users: Path | None = None) -> Export:
    records = ticket_records(tickets)
    people = load_people(users)
    conversations: dict[str, list[tuple[str, dict]]] = {}
    nested = any(isinstance(r.get("conversations"), list) for _, r in records)
    if nested and history is not None:
        raise CasebaseError(f"{tickets} holds the tickets' conversations already (include=conversations) and "
                            f"--history {history} gives them too: leave out one of the two.")
    if history is not None:
        for tid, where, c in by_ticket(history, "conversations", "conversations"):
            conversations.setdefault(tid, []).append((where, c))
    warnings = []
    if history is None and not nested:
        warnings.append(f"{tickets}: no conversations: each ticket's description is its one message. Give the "
                        "conversations (API JSON) with --history FILE for the whole threads.")

    t_rows, m_rows, known = [], [], set()
    for where, r in records:
        need(r, ("id", "created_at"), tickets, where, "Freshdesk ticket")
        tid = id_str(r["id"])
        again = tid in known  # a ticket twice (overlapping API pages): ingest quarantines the second
        known.add(tid)
        stats = r.get("stats") if isinstance(r.get("stats"), dict) else {}
        tags = r.get("tags")
        if isinstance(tags, list):
            if not all(isinstance(t, str) for t in tags):
                raise CasebaseError(f"{tickets}: {where} has tags that are not a list of words.")
            tags = ", ".join(tags) or None
        status, priority = id_str(r.get("status")), id_str(r.get("priority"))
        t_rows.append({
            "ticket_id": tid, "subject": r.get("subject"), "opened_at": r.get("created_at"),
            "updated_at": r.get("updated_at"),
            "closed_at": r.get("resolved_at") or stats.get("resolved_at") or r.get("closed_at")
            or stats.get("closed_at"),
            "status": recode(status, STATUS), "source_status": status, "category": r.get("type"),
            "urgency": recode(priority, PRIORITY), "source_priority": priority,
            "channel": recode(id_str(r.get("source")), SOURCE), "tags": tags, "group": r.get("group"),
            "agent": r.get("agent"), "group_id": r.get("group_id"),
            "contact_name": r.get("contact_name"), "contact_email": r.get("contact_email")})
        if again and not nested:
            continue  # its description and the history's conversations are read once, with the first
        requester = id_str(r.get("requester_id"))
        description = r.get("description_text") or r.get("description")
        if description not in (None, ""):  # the first message, not among the conversations
            m_rows.append({"ticket_id": tid, "message_id": f"{tid}.description", "position": 0,
                           "sent_at": r.get("created_at"),
                           "author": people.get(requester) or r.get("contact_name") or user_label(requester),
                           "role": "customer", "body": description, "internal": FALSE, "resolution": FALSE})
        if nested:
            thread = r.get("conversations") or []
            thread = [(f"{where} conversations[{i}]", c) for i, c in enumerate(thread)]
        else:
            thread = in_time_order(conversations.get(tid, []))
        for i, (cwhere, c) in enumerate(thread, 1):
            m_rows.append(conversation_row(tid, i, c, people, tickets if nested else history, cwhere))
    for tid, thread in conversations.items():  # conversations of tickets not in the file: ingest quarantines them
        if tid not in known:
            for i, (cwhere, c) in enumerate(thread, 1):
                m_rows.append(conversation_row(tid, i, c, people, history, cwhere))
    if users is None and any(str(r.get("author") or "").startswith("freshdesk-user-") for r in m_rows):
        warnings.append("freshdesk: the authors are user ids, so their names are not known and not redacted by name "
                        "in the bodies; give the contacts and agents (API JSON) with --users users.json "
                        "(docs/mapping.md).")
    # one row per description and per conversation read: rows_in counts both
    return Export(tickets=frame(t_rows, TICKET_FIELDS[:8] + EXTRA), messages=frame(m_rows, MESSAGE_FIELDS),
                  rows_in={"tickets": len(records), "messages": len(m_rows)}, warnings=warnings)


def user_label(user_id: str | None) -> str | None:
    """An author without a name as ``freshdesk-user-123``: ingest redacts the authors' names in the bodies, and a
    bare ``123`` would take every equal number (an error code) with it."""
    return f"freshdesk-user-{user_id}" if user_id else None


def conversation_row(tid: str, i: int, c: dict, people: dict[str, str], path: Path, where: str) -> dict:
    if not isinstance(c, dict):
        raise CasebaseError(f"{path}: {where} is not an object.")
    missing = [k for k in ("incoming", "private") if k not in c]
    if missing or ("body_text" not in c and "body" not in c):
        raise CasebaseError(f"{path}: {where} has no {', '.join(missing) or 'body_text'} (a Freshdesk conversation "
                            "has id, body_text, incoming, private, user_id, created_at). Is this the conversations "
                            "export?")
    body: Any = c.get("body_text") if c.get("body_text") not in (None, "") else c.get("body")
    author = id_str(c.get("user_id"))
    return {"ticket_id": tid, "message_id": id_str(c.get("id")) or f"{tid}.{i}", "position": i,
            "sent_at": c.get("created_at"), "author": people.get(author) or user_label(author),
            "role": "customer" if flag(c.get("incoming")) == TRUE else "responder", "body": body,
            "internal": flag(c.get("private")), "resolution": FALSE}


CONNECTORS = (Connector(
    name="freshdesk",
    description="Freshdesk: tickets (CSV export or API JSON) + conversations API JSON (--history)",
    needs="Ticket ID, Subject, Created time, Status; or id, requester_id, description_text, created_at; "
          "conversations: ticket_id, body_text, incoming, private",
    export_hint="Tickets > Export (CSV, with Ticket ID, Subject, Description, Status, Priority, Created time, ...), "
                "or the API: GET /api/v2/tickets?include=description,stats; and GET /api/v2/tickets/{id}/"
                "conversations per ticket",
    detect=detect, read=read,
    example="casebase ingest --workspace ws --tickets tickets.json --history conversations.json --mapping freshdesk",
),)
