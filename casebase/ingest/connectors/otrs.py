"""OTRS / Znuny (((OTRS)) Community Edition): tickets and their articles.

    casebase ingest --tickets tickets.json --mapping otrs                          # TicketGet, AllArticles=1
    casebase ingest --tickets ticket.csv --history article.csv --mapping otrs      # two tables

JSON: the GenericInterface ``TicketGet`` answer with ``AllArticles=1`` (``{"Ticket": [{"TicketID", "TicketNumber",
"Title", "State", "StateType", "Priority", "Queue", "Type", "CustomerUserID", "Created", "Changed", "Article":
[{"ArticleID", "ArticleNumber", "SenderType", "IsVisibleForCustomer", "From", "Subject", "Body", "ContentType",
"CreateTime"}]}]}``), one answer per file, an array of them, or one per line; articles may also come as their own
file (``--history``, records with ``TicketID``). CSV (or Excel): ``ticket.csv`` and ``article.csv`` with the same
field names (``TicketID`` or ``ticket_id``: names are matched without case and underscores, so a database dump's
``is_visible_for_customer``, ``create_time`` are read too). Dates as OTRS writes them: "2024-06-06 10:15:00".

Semantics (docs/mapping.md, "Helpdesks"):
- ``ticket_id`` is ``TicketID`` (what articles point to); the ticket number shown in the UI is kept as ``number``.
- There is no description field: the first article is the customer's first message, counted once.
- Roles: SenderType customer -> customer, agent -> responder; internal when ``IsVisibleForCustomer`` is 0, or in
  versions before 6 when the ``ArticleType`` is internal (note-internal, email-internal, ...-int, note-report).
  System articles (auto-replies, notifications) are kept as responder messages flagged internal.
- ``StateType`` (else the state's default name) -> status: new, open -> open; pending reminder -> pending; pending
  auto (closes by itself unless the customer answers) -> solved; closed, merged, removed -> closed. ``source_status``
  keeps the state's name ("closed unsuccessful" stays visible there); a desk's own state names without a type are
  kept as given (recode them in a mapping file: ``connector = "otrs"`` with ``[tickets] status_values``).
- Priority ("1 very low" .. "5 very high") -> ``urgency`` on the product's 1 (most urgent) .. 5 scale: 5 very high
  -> 1 ... 1 very low -> 5 (``priority`` keeps the name). Category: the queue (``type`` and ``service`` are kept).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from casebase.errors import CasebaseError
from casebase.ingest.connectors import FALSE, TRUE, Connector, Export, Peek, flag, frame
from casebase.ingest.connectors._common import (JSON_SUFFIXES, html_body, id_str, json_records, number_order,
                                                 peek_columns, person, priority_urgency, scalar, table_records,
                                                 thread_positions, via)
from casebase.ingest.mappings import MESSAGE_FIELDS, TICKET_FIELDS

STATE_TYPES = {"new": "open", "open": "open", "pending reminder": "pending", "pending auto": "solved",
               "closed": "closed", "merged": "closed", "removed": "closed"}
STATE_NAMES = {"new": "new", "open": "open", "closed successful": "closed", "closed unsuccessful": "closed",
               "pending reminder": "pending reminder", "pending auto close+": "pending auto",
               "pending auto close-": "pending auto", "merged": "merged", "removed": "removed",
               "closed with workaround": "closed"}  # the default states and their types
PRIORITY_NUMBERS = {"1": "5", "2": "4", "3": "3", "4": "2", "5": "1"}  # "1 very low" .. "5 very high"
ROLE = {"customer": "customer", "agent": "responder", "system": "responder"}
TICKET_COLUMNS = tuple(f for f in TICKET_FIELDS if f != "body")  # the first article is the description
ALIASES = {"tn": "ticketnumber", "ticket#": "ticketnumber", "createtime": "created", "changetime": "changed",
           "ticketstate": "state", "articlesendertype": "sendertype"}


def norm(key: str) -> str:
    k = re.sub(r"[\s_\-]", "", str(key).lower())
    return ALIASES.get(k, k)


def normed(record: dict) -> dict[str, Any]:
    return {norm(k): v for k, v in record.items()}


def detect(pt: Peek, ph: Peek | None) -> str | None:
    cols = {norm(c) for c in peek_columns(pt)}
    if not ({"ticketid", "ticketnumber"} <= cols and cols & {"title", "state", "statetype"}):
        return None
    if pt.kind == "table":
        why = "a table with TicketID, TicketNumber, Title and State: an OTRS/Znuny ticket export"
        hcols = {norm(c) for c in peek_columns(ph)}
        if {"ticketid", "sendertype"} <= hcols or {"ticketid", "articletype"} <= hcols:
            why += ", with articles holding TicketID and SenderType"
        return why
    nested = " with nested Article[]" if "article" in cols else ""
    return f"JSON Ticket records holding TicketID, TicketNumber and Title{nested}: an OTRS/Znuny TicketGet answer"


def load(path: Path, what: str, key: str, warnings: list[str]) -> list[tuple[str, dict]]:
    path = Path(path)
    if path.is_dir():
        raise CasebaseError(f"{path}: is a directory; give the path of the {what} file.")
    if path.suffix.lower() in JSON_SUFFIXES:
        return json_records(path, what, (key,), warnings)
    return table_records(path, warnings)


def read(tickets: Path, history: Path | None, users: Path | None = None) -> Export:
    warnings: list[str] = []
    t_recs = load(tickets, "OTRS tickets", "Ticket", warnings)
    a_recs = [(w, a, history) for w, a in load(history, "OTRS articles", "Article", warnings)] \
        if history is not None else []
    t_rows, nested, unknown_states, nested_fields = [], [], set(), set()
    for where, raw in t_recs:
        r = normed(raw)
        tid = id_str(r.get("ticketid"))
        if tid is None:
            raise CasebaseError(f"{tickets}: {where} has no TicketID (an OTRS ticket record needs TicketID, "
                                "TicketNumber, Title, State and Created). Is this the ticket file?")
        state, stype = id_str(r.get("state")), id_str(r.get("statetype"))
        kind = (stype or STATE_NAMES.get((state or "").lower()) or "").lower()
        status = STATE_TYPES.get(kind)
        if status is None and (state or stype):
            unknown_states.add(state or stype)
            status = state or stype
        prio = id_str(r.get("priority"))
        customer = id_str(r.get("customeruserid")) or id_str(r.get("customeruser"))
        row = {
            "ticket_id": tid, "number": id_str(r.get("ticketnumber")), "subject": r.get("title"),
            "opened_at": r.get("created"), "closed_at": r.get("closed"), "updated_at": r.get("changed"),
            "status": status, "source_status": state or stype, "category": scalar(r.get("queue")),
            "urgency": priority_urgency(prio, PRIORITY_NUMBERS) if prio else None, "priority": prio,
            "type": scalar(r.get("type")), "service": scalar(r.get("service")),
            "contact_name": customer if customer and "@" not in customer else None,
            "contact_email": customer if customer and "@" in customer else None,
        }
        for f in raw.get("DynamicField") or []:  # [{"Name", "Value"}]: scalar values kept as dynamic_<Name>
            if isinstance(f, dict) and f.get("Name") and scalar(f.get("Value")) is not None:
                row[f"dynamic_{f['Name']}"] = scalar(f.get("Value"))
            elif isinstance(f, dict) and f.get("Value") not in (None, "", []):
                nested_fields.add(str(f.get("Name")))
        t_rows.append(row)
        articles = r.get("article")
        articles = [articles] if isinstance(articles, dict) else articles
        if isinstance(articles, list):
            for i, a in enumerate(articles):
                if not isinstance(a, dict):
                    raise CasebaseError(f"{tickets}: {where} Article[{i}] is a JSON {type(a).__name__}, not an "
                                        "object.")
                nested.append((f"{where} Article[{i}]", {"TicketID": tid, **a}, tickets))
    if unknown_states:
        warnings.append(f"OTRS states {sorted(unknown_states)} have no StateType in the export and are not OTRS's "
                        "own: status keeps them as given; recode them in a mapping file (connector = \"otrs\", "
                        '[tickets] status_values = { "in progress" = "open" }, docs/mapping.md)')
    if nested_fields:
        warnings.append(f"OTRS dynamic fields {sorted(nested_fields)} hold nested values (not text): not read")
    if history is None and not nested:
        raise CasebaseError(f"{tickets}: OTRS tickets without their articles. Export them with TicketGet and "
                            "AllArticles=1, or give the article table with --history article.csv.")

    m_rows, n_system = [], 0
    for where, raw, path in a_recs + nested:
        a = normed(raw)
        sender = (id_str(a.get("sendertype")) or "").lower()
        if sender not in ROLE:
            raise CasebaseError(f"{path}: {where} has no SenderType customer, agent or system (got "
                                f"{a.get('sendertype')!r}); an OTRS article record needs TicketID, SenderType, "
                                "Body and CreateTime. Is this the article file?")
        tid = id_str(a.get("ticketid"))
        if tid is None:
            raise CasebaseError(f"{path}: {where} has no TicketID (an OTRS article record needs TicketID, "
                                "SenderType, Body and CreateTime).")
        n_system += sender == "system"
        m_rows.append({
            "ticket_id": tid, "message_id": id_str(a.get("articleid")), "sent_at": a.get("created"),
            "author": via(person(a.get("from")), sender == "agent"), "role": ROLE[sender],
            "body": html_body(a.get("body"), a.get("contenttype") or a.get("mimetype")),
            "internal": TRUE if sender == "system" else internal(a), "resolution": FALSE,
            "_order": (number_order(a.get("articlenumber")), number_order(a.get("articleid")),
                       str(a.get("created") or "")),
        })
    thread_positions(m_rows)
    if n_system:
        warnings.append(f"{n_system} OTRS system articles (auto-replies, notifications) kept as internal responder "
                        "messages")
    return Export(tickets=frame(t_rows, TICKET_COLUMNS), messages=frame(m_rows, MESSAGE_FIELDS),
                  rows_in={"tickets": len(t_rows), "messages": len(m_rows)}, warnings=warnings)


def internal(a: dict[str, Any]) -> str:
    """Not visible to the customer: ``IsVisibleForCustomer`` 0 (OTRS 6+, Znuny), else an internal ArticleType."""
    visible = a.get("isvisibleforcustomer")
    if visible is not None and str(visible).strip() != "":
        return FALSE if flag(visible) == TRUE else TRUE
    kind = (id_str(a.get("articletype")) or "").lower()
    return TRUE if "internal" in kind or kind.endswith("-int") or kind == "note-report" else FALSE


CONNECTORS = (Connector(
    name="otrs",
    description="OTRS/Znuny: tickets (TicketID, TicketNumber, Title, State, StateType, Priority, Queue, Created) + "
                "articles (TicketID, SenderType, IsVisibleForCustomer or ArticleType, From, Body, CreateTime)",
    needs="TicketID, TicketNumber, Title, State, Created; articles: TicketID, SenderType, Body, CreateTime",
    export_hint="the GenericInterface TicketGet operation with AllArticles=1 (and DynamicFields=1) for the "
                "tickets, saved as one JSON file; or ticket and article tables exported as CSV with their field "
                "names",
    detect=detect, read=read,
    example="casebase ingest --workspace /tmp/ws-otrs --tickets tickets.json --mapping otrs",
),)
