"""Jira Service Management: the CSV export ("Export Excel CSV (all fields)") and the REST JSON (``/rest/api/*/search``).

CSV: one row per issue; the comments are repeated ``Comment`` columns whose cells read ``date;author;body``
(``06/Jun/24 10:15 AM;jsmith;Please restart the service``: Jira's default "dd/MMM/yy h:mm a"; the body may hold
';' and line breaks), so the header is read with the csv module (pandas would rename them Comment.1, ...).
JSON: ``{"issues": [{"key", "id", "fields": {"summary", "description", "status": {"name", "statusCategory":
{"key"}}, "priority", "resolution", "resolutiondate", "created", "updated", "reporter", "comment": {"comments":
[{"id", "author", "body", "created", "jsdPublic"}]}}}]}``; bodies are plain text (API v2) or Atlassian Document
Format (API v3), whose text nodes are flattened.

The description is the reporter's first message (Jira keeps it apart from the comments: it is counted once).
The reporter is the customer; every other author a responder. JSM marks internal comments ``jsdPublic: false``
(``public: false`` accepted too); the CSV export does not say which comments are internal, so all are public.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from casebase.errors import CasebaseError
from casebase.ingest.connectors import FALSE, TRUE, Connector, Export, Peek, frame, recode
from casebase.ingest.connectors._common import csv_rows, header_of, json_records, text
from casebase.ingest.mappings import MESSAGE_FIELDS, TICKET_FIELDS

# no body column: the description is a message of its own
TICKET_COLUMNS = tuple(f for f in TICKET_FIELDS if f not in ("body", "contact_email"))

# Jira's default priorities (and the older Blocker..Trivial scheme) -> urgency on the product's scale, 1 (most
# urgent) .. 5, as every connector and the sample write it
PRIORITIES = {"highest": "1", "blocker": "1", "critical": "1", "high": "2", "major": "2",
              "medium": "3", "normal": "3", "low": "4", "minor": "4", "lowest": "5", "trivial": "5"}
# status name -> status category, for exports without statusCategory (the CSV's "Status Category" column, when
# present, wins); names not listed: "done" when a resolution is set, else "indeterminate"
STATUS_CATEGORIES = {
    "open": "new", "to do": "new", "new": "new", "backlog": "new", "reopened": "new", "selected for development": "new",
    "in progress": "indeterminate", "waiting for support": "indeterminate", "waiting for customer": "indeterminate",
    "pending": "indeterminate", "escalated": "indeterminate", "work in progress": "indeterminate",
    "waiting for reporter": "indeterminate", "in review": "indeterminate", "on hold": "indeterminate",
    "done": "done", "resolved": "done", "closed": "done", "canceled": "done", "cancelled": "done",
    "declined": "done", "completed": "done"}
CATEGORY_LABELS = {"to do": "new", "new": "new", "in progress": "indeterminate", "indeterminate": "indeterminate",
                   "done": "done", "complete": "done"}
PENDING = ("waiting for customer", "waiting for reporter", "pending", "awaiting customer")
# resolutions that close an issue without fixing it: "closed", never "solved" (no resolution to learn from)
NOT_FIXED = {"won't do", "won't fix", "duplicate", "declined", "cannot reproduce", "incomplete", "rejected",
             "unresolved"}
NO_RESOLUTION = {"", "unresolved", "none"}

MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec"), 1)}
MONTHS.update({"mär": 3, "mrz": 3, "mai": 5, "okt": 10, "dez": 12,  # de
               "janv": 1, "févr": 2, "fevr": 2, "mars": 3, "avr": 4, "juin": 6, "juil": 7, "août": 8, "aout": 8,
               "sept": 9, "déc": 12})  # fr
JIRA_DATE = re.compile(r"^\s*(\d{1,2})/([^\W\d_]{3,5})\.?/(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?"
                       r"\s*([AaPp][Mm])?\s*$")
ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{1,2}:\d{2}|\s*$)")  # a site's own date format: yyyy-MM-dd HH:mm


def jira_date(value: str | None) -> str | None:
    """Jira's "dd/MMM/yy h:mm a" (``06/Jun/24 10:15 AM``) as ISO text; other text as given (ISO dates are read by
    ingest; anything it cannot read is quarantined with the value)."""
    if value is None:
        return None
    m = JIRA_DATE.match(value)
    if not m:
        return value.strip() or None
    day, mon, year, hour, minute, second, ampm = m.groups()
    month = MONTHS.get(mon.lower())
    if month is None:
        return value.strip()
    year_n = int(year) + (2000 if len(year) == 2 else 0)
    hour_n = int(hour)
    if ampm:
        if not 1 <= hour_n <= 12:
            return value.strip()
        hour_n = hour_n % 12 + (12 if ampm.lower() == "pm" else 0)
    try:
        return datetime(year_n, month, int(day), hour_n, int(minute), int(second or 0)).isoformat()
    except ValueError:
        return value.strip()


def jira_status(name: str | None, category: str | None, resolution: str | None) -> str | None:
    """The canonical status of an issue from its status name, status category (new|indeterminate|done) and
    resolution: done + resolved -> solved (closed when the name says Closed, or the resolution fixed nothing);
    done without a resolution -> closed; new -> open; indeterminate -> pending when waiting for the customer,
    else open. A name of no known category (and no resolution) is kept as given."""
    n = (name or "").strip().lower()
    res = (resolution or "").strip().lower()
    resolved = res not in NO_RESOLUTION
    cat = recode(category, CATEGORY_LABELS, default="") if category else ""
    if not cat:
        cat = STATUS_CATEGORIES.get(n, "done" if resolved else "")
    if not cat:  # a workflow's own status, no category: kept as given (ingest warns; status_values recodes it)
        return (name or "").strip() or None
    if cat == "done":
        if not resolved or res in NOT_FIXED or "closed" in n:
            return "closed"
        return "solved"
    if cat == "indeterminate" and any(p in n for p in PENDING):
        return "pending"
    return "open"


# ---- detect -------------------------------------------------------------------------------------------------

def detect(pt: Peek, ph: Peek | None) -> str | None:
    if pt.kind == "table":
        cols = set(header_of(pt))
        if ph is None and {"Issue key", "Summary", "Created"} <= cols and ("Comment" in cols or "Issue id" in cols):
            has = "repeated Comment columns" if "Comment" in cols else "Issue id"
            return f"CSV with Issue key, Summary, Created and {has}: a Jira CSV export"
        return None
    record = pt.record
    if isinstance(record, dict) and isinstance(record.get("fields"), dict) and ("key" in record or "id" in record):
        fields = record["fields"]
        if {"summary", "created"} & set(fields) or "issuetype" in fields:
            where = "issues[]" if "issues" in pt.document_keys else "records"
            return f"JSON {where} holding key and fields (summary, created, comment): a Jira REST export"
    return None


# ---- CSV ----------------------------------------------------------------------------------------------------

def read_csv(path: Path, warnings: list[str]) -> tuple[list[dict], list[dict]]:
    header, rows = csv_rows(path, warnings)
    index: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        index.setdefault(h, []).append(i)
    missing = [c for c in ("Issue key", "Created") if c not in index and not (c == "Issue key" and "Issue id" in index)]
    if missing:
        raise CasebaseError(
            f"{path}: not a Jira CSV export: no {' or '.join(map(repr, missing))} column (columns found: "
            f"{', '.join(header[:12])}{' ...' if len(header) > 12 else ''}). Export the issues from Jira with "
            "'Export > Export Excel CSV (all fields)', or give --mapping for another format.")
    request_type = next((h for h in index if h.lower().startswith("custom field (request type")), None)
    reporter_ids = [h for h in index if h.lower() in ("reporter id", "reporter username", "reporter account id")]
    tickets, messages = [], []
    bad_comments = 0
    for n, cells in rows:
        def get(col: str) -> str | None:
            return next((text(cells[i]) for i in index.get(col, ()) if i < len(cells) and text(cells[i])), None)

        def get_all(col: str) -> str | None:
            vals = [text(cells[i]) for i in index.get(col, ()) if i < len(cells) and text(cells[i])]
            return ", ".join(vals) or None

        key = get("Issue key") or get("Issue id")
        reporter = get("Reporter")
        status, resolution = get("Status"), get("Resolution")
        tickets.append({
            "ticket_id": key, "subject": get("Summary"), "opened_at": jira_date(get("Created")),
            "closed_at": jira_date(get("Resolved")), "updated_at": jira_date(get("Updated")),
            "status": jira_status(status, get("Status Category"), resolution),
            "category": (get(request_type) if request_type else None) or get_all("Component/s") or get("Issue Type"),
            "urgency": recode(get("Priority"), PRIORITIES), "contact_name": reporter,
            "source_status": status, "resolution_name": resolution if (resolution or "").lower() not in NO_RESOLUTION
            else None, "source_priority": get("Priority"), "issue_type": get("Issue Type"),
            "issue_id": get("Issue id"), "tags": get_all("Labels"),
        })
        customer = {v.lower() for v in [reporter] + [get(c) for c in reporter_ids] if v}
        description = get("Description")
        if description is not None:
            messages.append({"ticket_id": key, "message_id": f"{key}.description", "position": 0,
                             "sent_at": jira_date(get("Created")), "author": reporter, "role": "customer",
                             "body": description, "internal": FALSE, "resolution": FALSE})
        for k, i in enumerate(index.get("Comment", ()), 1):
            cell = cells[i] if i < len(cells) else ""
            if not cell.strip():
                continue  # fewer comments than the widest issue: an empty column, no comment
            parts = cell.split(";", 2)
            if len(parts) == 3 and (JIRA_DATE.match(parts[0]) or ISO_DATE.match(parts[0])):
                # a date Jira wrote, valid or not: one it cannot be is quarantined by ingest, with the value
                when, author, body = jira_date(parts[0]), text(parts[1]), parts[2]
            else:  # no "date;author;body": the cell is the body
                bad_comments += 1
                when, author, body = None, None, cell
            messages.append({"ticket_id": key, "message_id": f"{key}.comment{k}", "position": k, "sent_at": when,
                             "author": author, "role": "customer" if author and author.lower() in customer
                             else "responder", "body": text(body), "internal": FALSE, "resolution": FALSE})
    if bad_comments:
        warnings.append(f"{path.name}: {bad_comments} Comment cells are not 'date;author;body': read as the body, "
                        "with no date or author")
    return tickets, messages


# ---- REST JSON ----------------------------------------------------------------------------------------------

BLOCKS = {"paragraph", "heading", "blockquote", "codeBlock", "listItem", "bulletList", "orderedList", "panel",
          "rule", "table", "tableRow", "mediaSingle", "expand", "taskItem", "decisionItem"}


def adf_text(node: Any) -> str | None:
    """The text of a body: plain text as given, Atlassian Document Format (API v3) as its text nodes, a line
    break between blocks."""
    if node is None or isinstance(node, str):
        return node
    out: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for c in n:
                walk(c)
            return
        if not isinstance(n, dict):
            return
        kind = n.get("type")
        attrs = n.get("attrs") or {}
        if kind == "text":
            out.append(str(n.get("text", "")))
        elif kind == "hardBreak":
            out.append("\n")
        elif kind in ("mention", "emoji", "status", "date"):
            out.append(str(attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp") or ""))
        elif kind in ("inlineCard", "blockCard"):
            out.append(str(attrs.get("url", "")))
        walk(n.get("content"))
        if kind in BLOCKS and out and not out[-1].endswith("\n"):
            out.append("\n")

    walk(node)
    return "".join(out).strip() or None


def person(p: Any) -> tuple[str | None, set[str]]:
    """(display name, every id the person goes by) of a Jira user object (or a plain name)."""
    if not isinstance(p, dict):
        return text(p), ({str(p).lower()} if text(p) else set())
    ids = {str(p[k]).lower() for k in ("accountId", "name", "key", "emailAddress", "displayName") if p.get(k)}
    return text(p.get("displayName") or p.get("name") or p.get("accountId")), ids


def name_of(obj: Any) -> str | None:
    return text(obj.get("name") or obj.get("value")) if isinstance(obj, dict) else text(obj)


def request_type(fields: dict) -> str | None:
    """JSM's request type: the customer request type field (``{"requestType": {"name"}}``) wherever it is."""
    for v in fields.values():
        if isinstance(v, dict) and isinstance(v.get("requestType"), dict):
            return name_of(v["requestType"])
    return None


def read_json(path: Path, warnings: list[str]) -> tuple[list[dict], list[dict]]:
    tickets, messages = [], []
    short: list[str] = []  # issues whose export holds only the first page of their comments
    for where, issue in json_records(path, "Jira issues", ("issues", "values"), warnings, ndjson_in_json=False):
        fields = issue.get("fields")
        key = text(issue.get("key")) or text(issue.get("id"))
        if not isinstance(fields, dict) or key is None:
            missing = [k for k, ok in (("key (or id)", key is not None), ("fields", isinstance(fields, dict)))
                       if not ok]
            raise CasebaseError(f"{path}: {where} has no {' and no '.join(missing)}: not a Jira issue (a Jira REST "
                                "export holds issues[] of {key, id, fields}). Export with /rest/api/2/search.")
        status = fields.get("status") if isinstance(fields.get("status"), dict) else {"name": fields.get("status")}
        category = (status.get("statusCategory") or {}).get("key") if isinstance(status.get("statusCategory"),
                                                                                dict) else None
        resolution = name_of(fields.get("resolution"))
        reporter, reporter_ids = person(fields.get("reporter"))
        comps = [name_of(c) for c in fields.get("components") or [] if name_of(c)]
        labels = [str(x) for x in fields.get("labels") or []]
        url = None
        if isinstance(issue.get("self"), str) and issue.get("key"):
            u = urlsplit(issue["self"])
            url = f"{u.scheme}://{u.netloc}/browse/{issue['key']}" if u.netloc else None
        tickets.append({
            "ticket_id": key, "subject": text(fields.get("summary")), "opened_at": text(fields.get("created")),
            "closed_at": text(fields.get("resolutiondate")), "updated_at": text(fields.get("updated")),
            "status": jira_status(name_of(status), category, resolution),
            "category": request_type(fields) or (", ".join(comps) or None) or name_of(fields.get("issuetype")),
            "urgency": recode(name_of(fields.get("priority")), PRIORITIES), "contact_name": reporter,
            "source_status": name_of(status), "resolution_name": resolution,
            "source_priority": name_of(fields.get("priority")),
            "issue_type": name_of(fields.get("issuetype")), "issue_id": text(issue.get("id")),
            "tags": ", ".join(labels) or None, "url": url,
        })
        description = adf_text(fields.get("description"))
        if description is not None:
            messages.append({"ticket_id": key, "message_id": f"{key}.description", "position": 0,
                             "sent_at": text(fields.get("created")), "author": reporter, "role": "customer",
                             "body": description, "internal": FALSE, "resolution": FALSE})
        block = fields.get("comment")
        comments = block.get("comments") if isinstance(block, dict) else block
        if comments is None:
            comments = []
        if not isinstance(comments, list):
            raise CasebaseError(f"{path}: {where} ({key}): fields.comment.comments is not a list of comments.")
        total = block.get("total") if isinstance(block, dict) else None
        if isinstance(total, int) and total > len(comments):
            short.append(f"{key} ({len(comments)} of {total})")
        for k, c in enumerate(comments, 1):
            if not isinstance(c, dict):
                raise CasebaseError(f"{path}: {where} ({key}): comment {k} is not an object.")
            author, author_ids = person(c.get("author"))
            public = c.get("jsdPublic", c.get("public", True))
            messages.append({
                "ticket_id": key, "message_id": f"{key}.{c['id']}" if c.get("id") is not None else f"{key}.comment{k}",
                "position": k, "sent_at": text(c.get("created")), "author": author,
                "role": "customer" if author_ids & reporter_ids else "responder", "body": adf_text(c.get("body")),
                "internal": FALSE if public is None or public is True or str(public).lower() == "true" else TRUE,
                "resolution": FALSE})
    if short:
        warnings.append(f"{path.name}: {len(short)} issues hold only some of their comments ({', '.join(short[:5])}"
                        f"{' ...' if len(short) > 5 else ''}): the search API returns the first page of comments; "
                        "fetch /rest/api/2/issue/KEY/comment for those issues and merge them into fields.comment")
    return tickets, messages


def read(tickets: Path, history: Path | None = None, users: Path | None = None) -> Export:
    """A Jira export (CSV or REST JSON) as canonical tickets and messages. ``history`` is not used (a Jira export
    is one file). Priorities and statuses this module's tables do not know are kept as given, for a connector
    mapping file's ``urgency_values`` / ``status_values`` to recode (docs/mapping.md)."""
    warnings: list[str] = []
    path = Path(tickets)
    if history is not None:
        warnings.append(f"{Path(history).name}: not read (a Jira export holds its comments in the issues file)")
    suffix = path.suffix.lower()
    if suffix in (".json", ".ndjson", ".jsonl"):
        t_rows, m_rows = read_json(path, warnings)
    elif suffix in (".csv", ".tsv", ".txt"):
        t_rows, m_rows = read_csv(path, warnings)
    else:
        raise CasebaseError(f"{path}: a Jira export is CSV (Export Excel CSV (all fields)) or REST JSON, not "
                            f"{suffix or 'a file without an extension'}: its repeated Comment columns do not survive "
                            "a spreadsheet. Export the CSV again and give it as it is.")
    return Export(tickets=frame(t_rows, TICKET_COLUMNS), messages=frame(m_rows, MESSAGE_FIELDS),
                  rows_in={"tickets": len(t_rows), "messages": len(m_rows)}, warnings=warnings)


CONNECTORS = (Connector(
    name="jira",
    description="Jira Service Management: CSV export (Issue key, Summary, Created, repeated Comment "
                "'date;author;body') or REST JSON (issues[].fields with comment.comments[], jsdPublic)",
    needs="Issue key, Summary, Created, Comment; key, fields.summary, fields.created, fields.comment",
    export_hint="Filters > Export > Export Excel CSV (all fields); or GET /rest/api/2/search?jql=...&fields=*all "
                "saved as JSON",
    detect=detect,
    read=read,
    example="casebase ingest --workspace /tmp/ws-jira --tickets jira.csv --mapping jira",
),)
