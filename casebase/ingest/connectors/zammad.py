"""Zammad: tickets and their articles as the REST API gives them.

    casebase ingest --tickets tickets.json --history articles.json --mapping zammad

Tickets: ``GET /api/v1/tickets?expand=true`` (``[{"id", "number", "title", "state", "priority", "group",
"customer", "created_at", "updated_at", "close_at", ...}]``; without ``expand`` the same with ``state_id``,
``priority_id``, ``group_id``, ``customer_id``), as a JSON array, ``{"tickets": [...]}``, NDJSON, or the
``?full=true`` answer (``{"record_ids": [...], "assets": {"Ticket": {...}, "TicketArticle": {...}, "User": {...}}}``).
Articles: ``GET /api/v1/ticket_articles/by_ticket/{id}`` (``[{"id", "ticket_id", "sender" Agent|Customer|System
or "sender_id" 1|2|3, "internal", "from", "body", "content_type", "created_at", "type", ...}]``), as one file for
all tickets, a directory of one file per ticket, NDJSON, or nested in each ticket as ``articles``.

Semantics (docs/mapping.md, "Helpdesks"):
- ``ticket_id`` is Zammad's ``id`` (what articles point to); the ticket number shown in the UI is kept as ``number``.
- There is no description field: the first article is the customer's first message, counted once.
- Roles: sender Customer -> customer, Agent -> responder; ``internal: true`` -> internal. System articles
  (auto-replies, trigger notifications) are written by the desk, not by the customer nor by a person: they are kept
  as responder messages flagged internal, so that a draft never quotes them and the count still balances (the
  manifest's warnings say how many).
- States: new, open -> open; pending reminder -> pending; pending close (the agent is done, it closes by itself
  unless the customer answers) -> solved; closed -> closed; merged, removed -> closed. The state as Zammad named it
  is kept as ``source_status``; a desk's own state names are kept as given (recode them in a mapping file:
  ``connector = "zammad"`` with ``[tickets] status_values``).
- Bodies: ``content_type`` text/html bodies are cleaned as HTML by ingest, also a one-line ``<div>`` note that the
  cleaner would not recognise by its look; text/plain bodies are left as they are.
- Priority -> ``urgency`` on the product's 1 (most urgent) .. 5 scale by its words: 3 high -> 2, 2 normal -> 3,
  1 low -> 4 (``priority`` keeps the name). Category: a ``category`` attribute when the desk has one, else the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from casebase.errors import CasebaseError
from casebase.ingest.connectors import FALSE, TRUE, Connector, Export, Peek, flag, frame, recode
from casebase.ingest.connectors._common import (JSON_SUFFIXES, html_body, id_str, json_document, number_order,
                                                 peek_columns, person, priority_urgency, records_of, scalar,
                                                 thread_positions, via)
from casebase.ingest.mappings import MESSAGE_FIELDS, TICKET_FIELDS

STATE_IDS = {"1": "new", "2": "open", "3": "pending reminder", "4": "closed", "5": "merged", "6": "removed",
             "7": "pending close"}  # Zammad's seeded Ticket::State ids
STATUS = {"new": "open", "open": "open", "pending reminder": "pending", "pending close": "solved",
          "closed": "closed", "merged": "closed", "removed": "closed"}
PRIORITY_IDS = {"1": "4", "2": "3", "3": "2"}  # seeded Ticket::Priority: 1 low, 2 normal, 3 high -> urgency
PRIORITY_NAMES = {"1": "1 low", "2": "2 normal", "3": "3 high"}
SENDER_IDS = {"1": "agent", "2": "customer", "3": "system"}  # seeded Ticket::Article::Sender
ROLE = {"customer": "customer", "agent": "responder", "system": "responder"}
TICKET_KEYS = ("tickets", "Ticket")
ARTICLE_KEYS = ("articles", "ticket_articles", "TicketArticle")
TICKET_COLUMNS = tuple(f for f in TICKET_FIELDS if f != "body")  # the first article is the description


def detect(pt: Peek, ph: Peek | None) -> str | None:
    if pt.kind not in ("json", "ndjson"):
        return None
    cols = set(peek_columns(pt))
    if "assets.Ticket" in cols:
        return "a JSON object with assets.Ticket (and record_ids): a Zammad API answer with full=true"
    if not ({"id", "number", "title"} <= cols and cols & {"state", "state_id"} and cols & {"group", "group_id"}):
        return None
    why = "JSON ticket records with number, title, state and group: Zammad tickets"
    hcols = set(peek_columns(ph))
    if {"ticket_id", "internal"} <= hcols and hcols & {"sender", "sender_id"}:
        why += ", with articles holding ticket_id, sender and internal"
    return why


def read(tickets: Path, history: Path | None, users: Path | None = None) -> Export:
    warnings: list[str] = []
    assets: dict[str, dict] = {}
    t_recs = load(Path(tickets), "Zammad tickets", "Ticket", TICKET_KEYS, warnings, assets)
    if history is not None:
        a_recs = load(Path(history), "Zammad articles", "TicketArticle", ARTICLE_KEYS, warnings, assets)
    else:  # a full=true answer holds the articles among its assets
        table = assets.get("TicketArticle", {})
        a_recs = [(f"assets.TicketArticle[{k}]", table[k]) for k in sorted(table, key=number_order)
                  if isinstance(table[k], dict)]
    people = user_names(assets.get("User", {}).values())
    if users is not None:
        u_assets: dict[str, dict] = {}
        people.update(user_names(r for _, r in load(Path(users), "Zammad users", "User", ("users", "User"),
                                                     warnings, u_assets)))
    states = {id_str(k): v.get("name") for k, v in assets.get("TicketState", {}).items() if isinstance(v, dict)}
    groups = {id_str(k): v.get("name") for k, v in assets.get("Group", {}).items() if isinstance(v, dict)}

    t_rows, nested, unknown_states = [], [], set()
    for where, r in t_recs:
        tid = id_str(r.get("id"))
        if tid is None:
            raise CasebaseError(f"{tickets}: {where} has no id (a Zammad ticket record needs id, number, title, "
                                "state and created_at). Is this the tickets file?")
        state = id_str(r.get("state")) or states.get(id_str(r.get("state_id"))) \
            or STATE_IDS.get(id_str(r.get("state_id")) or "")
        status = recode(state, STATUS, default="") if state else None
        if status == "":
            unknown_states.add(state)
            status = state
        prio = id_str(r.get("priority")) or PRIORITY_NAMES.get(id_str(r.get("priority_id")) or "")
        customer = id_str(r.get("customer")) if not isinstance(r.get("customer"), dict) else None
        who = people.get(id_str(r.get("customer_id")) or "", {})
        group = scalar(r.get("group")) or groups.get(id_str(r.get("group_id"))) or id_str(r.get("group_id"))
        t_rows.append({
            "ticket_id": tid, "number": id_str(r.get("number")), "subject": r.get("title"),
            "opened_at": r.get("created_at"), "closed_at": r.get("close_at"), "updated_at": r.get("updated_at"),
            "status": status, "source_status": state, "category": scalar(r.get("category")) or group,
            "urgency": priority_urgency(prio, PRIORITY_IDS) if prio else None, "priority": prio,
            "type": scalar(r.get("type")), "tags": scalar(r.get("tags")),
            "contact_name": who.get("name") or (customer if customer and "@" not in customer else None),
            "contact_email": who.get("email") or (customer if customer and "@" in customer else None),
        })
        if scalar(r.get("category")):  # a desk's own category attribute: the group is kept beside it
            t_rows[-1]["group"] = group
        if isinstance(r.get("articles"), list):
            for i, a in enumerate(r["articles"]):
                if not isinstance(a, dict):
                    raise CasebaseError(f"{tickets}: {where} articles[{i}] is a JSON {type(a).__name__}, not an "
                                        "object.")
                nested.append((f"{where} articles[{i}]", {"ticket_id": r.get("id"), **a}, tickets))
    if unknown_states:
        warnings.append(f"Zammad states {sorted(unknown_states)} are not Zammad's own: status keeps them as given; "
                        'recode them in a mapping file (connector = "zammad", [tickets] status_values = '
                        '{ "in progress" = "open" }, docs/mapping.md)')

    m_rows, n_system = [], 0
    for where, a, path in [(w, a, history or tickets) for w, a in a_recs] + nested:
        sender = (id_str(a.get("sender")) or SENDER_IDS.get(id_str(a.get("sender_id")) or "") or "").lower()
        if sender not in ROLE:
            raise CasebaseError(f"{path}: {where} has no sender Agent, Customer or System (sender "
                                f"{a.get('sender')!r}, sender_id {a.get('sender_id')!r}); a Zammad article record "
                                "needs ticket_id, sender or sender_id, body and created_at. Is this the articles file?")
        tid = id_str(a.get("ticket_id"))
        if tid is None:
            raise CasebaseError(f"{path}: {where} has no ticket_id (a Zammad article record needs ticket_id, sender "
                                "or sender_id, body and created_at).")
        n_system += sender == "system"
        created_by = a.get("created_by") if not isinstance(a.get("created_by"), dict) else None  # expand: login
        author = (via(person(a.get("from")), sender == "agent") or id_str(created_by)
                  or people.get(id_str(a.get("created_by_id")) or "", {}).get("name"))
        m_rows.append({
            "ticket_id": tid, "message_id": id_str(a.get("id")), "sent_at": a.get("created_at"), "author": author,
            "role": ROLE[sender], "body": html_body(a.get("body"), a.get("content_type")),
            "internal": TRUE if sender == "system" else flag(a.get("internal", False)), "resolution": FALSE,
            "_order": (number_order(a.get("id")), str(a.get("created_at") or "")),
        })
    thread_positions(m_rows)
    if n_system:
        warnings.append(f"{n_system} Zammad System articles (auto-replies, trigger notifications) kept as internal "
                        "responder messages")
    if history is None and not nested and not a_recs:
        raise CasebaseError(f"{tickets}: Zammad tickets without their articles. Give the articles with --history "
                            "articles.json (each ticket's GET /api/v1/ticket_articles/by_ticket/{id}, in one file "
                            "or a directory of one file per ticket).")
    return Export(tickets=frame(t_rows, TICKET_COLUMNS), messages=frame(m_rows, MESSAGE_FIELDS),
                  rows_in={"tickets": len(t_rows), "messages": len(m_rows)}, warnings=warnings)


def load(path: Path, what: str, asset: str, keys: tuple[str, ...], warnings: list[str],
         assets: dict[str, dict]) -> list[tuple[str, dict]]:
    """Records of a Zammad export file (array, ``{key: [...]}``, NDJSON, or a ``full=true`` answer whose
    ``assets`` are also gathered into ``assets``), or of every JSON file of a directory (one per ticket)."""
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in JSON_SUFFIXES), key=lambda p: p.name)
        if not files:
            raise CasebaseError(f"{path}: a directory without .json files; give the {what} file, or a directory "
                                "of one JSON file per ticket (the API's by_ticket answers).")
        return [(f"{p.name} {where}", r) for p in files for where, r in load(p, what, asset, keys, warnings, assets)]
    data, ndjson = json_document(path, what, warnings)
    if not ndjson and isinstance(data, dict) and isinstance(data.get("assets"), dict):
        for kind, table in data["assets"].items():
            if isinstance(table, dict):
                assets.setdefault(kind, {}).update(table)
        table = data["assets"].get(asset) or {}
        if not isinstance(table, dict):
            raise CasebaseError(f"{path}: assets.{asset} is not an object of records keyed by id.")
        return [(f"assets.{asset}[{k}]", table[k]) for k in sorted(table, key=number_order)
                if isinstance(table[k], dict)]
    return records_of(data, ndjson, path, what, keys)


def user_names(records: Any) -> dict[str, dict[str, str | None]]:
    """Zammad users by id: {"name": "firstname lastname" (else login), "email"}."""
    out = {}
    for u in records:
        uid = id_str(u.get("id")) if isinstance(u, dict) else None
        if uid is None:
            continue
        name = " ".join(p for p in (id_str(u.get("firstname")), id_str(u.get("lastname"))) if p)
        out[uid] = {"name": name or id_str(u.get("login")), "email": id_str(u.get("email"))}
    return out


CONNECTORS = (Connector(
    name="zammad",
    description="Zammad: tickets (id, number, title, state, priority, group, created_at) + articles (ticket_id, "
                "sender, internal, from, body, created_at) from the REST API",
    needs="id, number, title, state, group, created_at; articles: ticket_id, sender, internal, body",
    export_hint="GET /api/v1/tickets?expand=true (all pages) saved as tickets.json, and each ticket's "
                "GET /api/v1/ticket_articles/by_ticket/{id} saved into one articles.json (or a directory of "
                "one file per ticket)",
    detect=detect, read=read,
    example="casebase ingest --workspace /tmp/ws-zm --tickets tickets.json --history articles.json --mapping zammad",
),)
