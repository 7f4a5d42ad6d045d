"""The ticket table's own fields: which are codes and which are text to redact, the recorded resolution that
holds labels rather than a fix, and status values extraction cannot use (used by ``casebase.ingest.run``)."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from casebase.ingest.clean import clean_text
from casebase.ingest.mappings import Mapping

TEXT_EXTRAS = {"resolution", "resolution_summary", "summary", "description", "notes", "solution"}
# codes and labels of the ticket, never personal data (a helpdesk's state "Awaiting Vendor" read as a name otherwise)
NOT_REDACTED = {"ticket_id", "opened_at", "closed_at", "updated_at", "category", "urgency", "url", "views", "status",
                "source_status", "source_state", "source_priority", "priority", "subcategory", "close_code",
                "issue_type", "resolution_name", "resolution_label", "sys_id", "issue_id", "number"}


def status_warnings(tk: pd.DataFrame, m: Mapping) -> list[str]:
    """A status outside open/pending/solved/closed is kept as given, but extraction cannot use it: say so."""
    from casebase.ingest.connectors import STATUSES

    if "status" not in tk:
        return []
    odd = sorted({str(v) for v in tk["status"].dropna()} - set(STATUSES))
    if not odd:
        return []
    return [f"tickets: status values {odd[:10]} are not {', '.join(STATUSES)}: extraction ignores them; recode them "
            f"with status_values in a mapping file (docs/mapping.md)"]


def resolution_labels(tk: pd.DataFrame, m: Mapping) -> tuple[pd.DataFrame, list[str]]:
    """A ``tickets.resolution`` column that holds labels (Jira's "Done", "Won't Do", "Duplicate"), not the text of a
    fix, is kept as ``resolution_name`` instead of becoming a message: few distinct values, each repeated, none
    longer than four words. Say so."""
    if "resolution" not in tk:
        return tk, []
    values = [str(v).strip() for v in tk["resolution"].dropna() if str(v).strip()]
    distinct = set(values)
    if len(values) < 2 or len(distinct) > min(30, len(values) / 2) or any(len(v.split()) > 4 for v in distinct):
        return tk, []
    column = m.tickets.columns.get("resolution", "resolution")
    name = "resolution_label" if "resolution_name" in tk else "resolution_name"
    return tk.rename(columns={"resolution": name}), [
        f"tickets: resolution = {column!r} holds labels ({', '.join(sorted(distinct)[:5])}), not the text of a fix: "
        f"kept as the ticket column {name}, not made a resolution message. Map the column that holds the "
        "resolution text as tickets.resolution, or this one as resolution_name (docs/mapping.md)."]


def ticket_fields(tk: pd.DataFrame) -> tuple[list[tuple[str, list[bool]]], list[str]]:
    """The tickets' free-text fields to redact: ([(column, which rows have a value)], their texts in that order);
    the subject and the text extras cleaned first."""
    columns, texts = [], []
    for col in tk.columns:
        if col.startswith("_") or col in NOT_REDACTED or col in ("body", "resolution", "contact_name", "contact_email"):
            continue  # body and resolution are redacted as messages
        if tk[col].dtype != object and not pd.api.types.is_string_dtype(tk[col]):
            continue
        clean = col == "subject" or col in TEXT_EXTRAS
        present = [v is not None and v == v for v in tk[col]]
        texts += [clean_text(str(v)) if clean else str(v) for v, ok in zip(tk[col], present) if ok]
        columns.append((col, present))
    return columns, texts


def put_ticket_fields(tk: pd.DataFrame, columns: list[tuple[str, list[bool]]],
                      results: list[tuple[str, Counter]]) -> tuple[pd.DataFrame, Counter]:
    """The tickets with the redacted fields put back (``results``: ``ticket_fields``' texts, redacted)."""
    counts: Counter = Counter()
    tk = tk.copy()
    done = iter(results)
    for col, present in columns:
        values = []
        for ok in present:
            if not ok:
                values.append(None)
                continue
            text, c = next(done)
            counts.update(c)
            values.append(text)
        tk[col] = values
    return tk, counts
