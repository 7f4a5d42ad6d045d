"""Zendesk: the full JSON export (NDJSON, one ticket per line, its ``comments`` nested) and the API shape
(``{"tickets": [...]}`` with the comments as ``--history``).

Fields from Zendesk's documentation (Tickets and Ticket Comments API; "Exporting data to JSON"): a ticket has
``id``, ``subject``, ``description``, ``status`` (new, open, pending, hold, solved, closed), ``priority`` (low,
normal, high, urgent), ``type``, ``requester_id``, ``submitter_id``, ``assignee_id``, ``created_at``,
``updated_at``, ``tags``, ``via``, ``group_id``; a comment has ``id``, ``author_id``, ``public``, ``body``,
``plain_body``, ``html_body``, ``created_at``.

- The ``description`` is the first comment: it is read once, as that comment. A ticket without comments (the API
  shape without --history) gets its description as its one customer message.
- Role: the comment's author is the ticket's requester -> customer; anyone else -> responder. A users file
  (``--users``: ``{"users": [...]}`` or NDJSON, with ``id``, ``role`` end-user|agent|admin, ``name``) refines it:
  an end-user (e.g. a CC'd colleague) is a customer too, and the user's name is the author (so ingest redacts it
  in the bodies).
- ``public: false`` -> internal (a note, kept as a responder message flagged internal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casebase.errors import CasebaseError
from casebase.ingest.connectors import FALSE, TRUE, Connector, Export, Peek, flag, frame, recode
from casebase.ingest.connectors._common import by_ticket, first_json_record, id_str, in_time_order, json_records, need
from casebase.ingest.mappings import MESSAGE_FIELDS, TICKET_FIELDS

STATUS = {"new": "open", "open": "open", "pending": "pending", "hold": "pending", "on-hold": "pending",
          "solved": "solved", "closed": "closed"}
PRIORITY = {"low": "low", "normal": "normal", "high": "high", "urgent": "urgent"}
CUSTOMER_ROLES = {"end-user", "end_user", "enduser"}
EXTRA = ("source_status", "source_priority", "tags", "url", "channel", "group_id")


def detect(pt: Peek, ph: Peek | None) -> str | None:
    if pt.kind not in ("json", "ndjson"):
        return None
    rec = first_json_record(pt)
    if not isinstance(rec, dict) or "id" not in rec:
        return None
    comments = rec.get("comments")
    if isinstance(comments, list) and "requester_id" in rec:
        if comments and isinstance(comments[0], dict) and {"author_id", "public"} <= set(comments[0]):
            return "JSON records with nested comments[] holding author_id/public: a Zendesk full export"
        if not comments and "submitter_id" in rec:
            return "JSON records with requester_id, submitter_id and comments[]: a Zendesk full export"
    if {"requester_id", "submitter_id"} <= set(rec) and ("via" in rec or str(rec.get("status")).lower() in STATUS):
        where = f", comments from {ph.path.name}" if ph is not None else ""
        return f"tickets with requester_id, submitter_id and via: Zendesk's tickets API{where}"
    return None


def load_users(users: Path | None) -> dict[str, dict]:
    if users is None:
        return {}
    out = {}
    for where, u in json_records(users, "users", ("users",)):
        need(u, ("id",), users, where, "Zendesk user")
        out[id_str(u["id"])] = u
    return out


def body_of(c: dict) -> Any:
    """The plain text when the export has it; the HTML otherwise (ingest cleans it)."""
    for key in ("plain_body", "body", "html_body"):
        if c.get(key) not in (None, ""):
            return c[key]
    return None


def read(tickets: Path, history: Path | None, users: Path | None = None) -> Export:
    records = json_records(tickets, "Zendesk tickets", ("tickets", "results"))
    nested = any("comments" in r for _, r in records)
    if nested and history is not None:
        raise CasebaseError(f"{tickets} holds each ticket's comments already (a full export) and --history "
                            f"{history} gives comments too: leave out --history, or give the API's tickets file.")
    people = load_users(users)
    warnings: list[str] = []

    comments: dict[str, list[tuple[str, dict]]] = {}
    if history is not None:
        for tid, where, c in by_ticket(history, "comments", "comments"):
            comments.setdefault(tid, []).append((where, c))

    t_rows, m_rows, known = [], [], set()
    for where, r in records:
        need(r, ("id", "created_at"), tickets, where, "Zendesk ticket")
        tid = id_str(r["id"])
        again = tid in known  # a ticket twice (overlapping API pages): ingest quarantines the second
        known.add(tid)
        requester = id_str(r.get("requester_id"))
        via = r.get("via") if isinstance(r.get("via"), dict) else {}
        metrics = r.get("metric_set") if isinstance(r.get("metric_set"), dict) else {}
        tags = r.get("tags")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise CasebaseError(f"{tickets}: {where} has tags that are not a list of words.")
        t_rows.append({
            "ticket_id": tid, "subject": r.get("subject") or r.get("raw_subject"), "opened_at": r.get("created_at"),
            "updated_at": r.get("updated_at"), "closed_at": metrics.get("solved_at"),
            "status": recode(r.get("status"), STATUS), "source_status": r.get("status"),
            "category": r.get("type"), "urgency": recode(r.get("priority"), PRIORITY),
            "source_priority": r.get("priority"), "tags": " ".join(tags) if tags else None, "url": r.get("url"),
            "channel": via.get("channel"), "group_id": r.get("group_id")})
        if again and not nested:
            continue  # its description and the history's comments are read once, with the first
        if nested:
            thread = r.get("comments")
            if thread is None:
                thread = []
            if not isinstance(thread, list):
                raise CasebaseError(f"{tickets}: {where} has comments that are not a list.")
            thread = [(f"{where} comments[{i}]", c) for i, c in enumerate(thread)]
        else:
            thread = in_time_order(comments.get(tid, []))
        if not thread:  # no comments read: the description is the ticket's one message, from the requester
            if r.get("description") not in (None, ""):
                m_rows.append({"ticket_id": tid, "message_id": f"{tid}.description", "position": 0,
                               "sent_at": r.get("created_at"), "author": author_name(requester, people),
                               "role": "customer", "body": r["description"], "internal": FALSE,
                               "resolution": FALSE})
            continue
        for i, (cwhere, c) in enumerate(thread):
            m_rows.append(comment_row(tid, i, c, requester, people, tickets if nested else history, cwhere))

    for tid, thread in comments.items():  # comments of tickets not in the file: ingest quarantines them
        if tid not in known:
            for i, (cwhere, c) in enumerate(thread):
                m_rows.append(comment_row(tid, i, c, None, people, history, cwhere))
    if users is None and m_rows:
        warnings.append("zendesk: the authors are user ids, so their names are not known and not redacted by name "
                        "in the bodies; give the users export with --users users.json (docs/mapping.md).")
    if history is None and not nested:
        warnings.append(f"{tickets}: tickets without comments (the API shape): each description is its ticket's "
                        "one message. Give the comments with --history FILE for the whole threads.")
    n_messages = len(m_rows)  # every comment read, plus the description of a ticket without comments
    return Export(tickets=frame(t_rows, TICKET_FIELDS[:8] + EXTRA), messages=frame(m_rows, MESSAGE_FIELDS),
                  rows_in={"tickets": len(records), "messages": n_messages}, warnings=warnings)


def author_name(author: str | None, people: dict[str, dict]) -> str | None:
    """The user's name (from --users), else the id as ``zendesk-user-123``: ingest redacts the authors' names in
    the bodies, and a bare ``123`` would take every equal number (an error code) with it."""
    user = people.get(author) if author else None
    if user and user.get("name"):
        return str(user["name"])
    return f"zendesk-user-{author}" if author else None


def comment_row(tid: str, i: int, c: dict, requester: str | None, people: dict[str, dict], path: Path,
                where: str) -> dict:
    if not isinstance(c, dict):
        raise CasebaseError(f"{path}: {where} is not an object.")
    if "author_id" not in c:
        raise CasebaseError(f"{path}: {where} has no author_id (a Zendesk comment has id, author_id, public, "
                            "body, created_at). Is this the comments export?")
    author = id_str(c.get("author_id"))
    user = people.get(author) if author else None
    if author is not None and author == requester:
        role = "customer"
    elif user is not None and str(user.get("role", "")).lower() in CUSTOMER_ROLES:
        role = "customer"
    else:
        role = "responder"
    public = c.get("public", True)
    return {"ticket_id": tid, "message_id": id_str(c.get("id")) or f"{tid}.{i}", "position": i,
            "sent_at": c.get("created_at"), "author": author_name(author, people), "role": role,
            "body": body_of(c), "internal": FALSE if flag(public) == TRUE else TRUE, "resolution": FALSE}


CONNECTORS = (Connector(
    name="zendesk",
    description="Zendesk: full JSON export (NDJSON, comments nested) or tickets API JSON + comments (--history)",
    needs="id, subject, requester_id, submitter_id, created_at, comments; comments: author_id, public, plain_body",
    export_hint="Admin Center > Account > Tools > Reports > Export: JSON (full export, one ticket per line with "
                "its comments); or the API: GET /api/v2/tickets.json, and GET /api/v2/tickets/{id}/comments.json "
                "per ticket",
    detect=detect, read=read,
    example="casebase ingest --workspace ws --tickets zendesk.ndjson --mapping zendesk",
),)
