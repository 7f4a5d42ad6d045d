"""Heuristic extraction: no LLM. The problem from the subject and the first customer message,
the solution message picked by the learned scorer, the solution condensed from it.

    from casebase.extract.heuristic import extract_one
    case = extract_one(ticket, thread, activity)
"""

from __future__ import annotations

import numpy as np

from casebase.extract.scorer import Scorer, default_scorer
from casebase.text import SOLUTION_WORDS, condense, problem_text

RESOLVED_THRESHOLD = 0.5  # without an operating point: a case more likely right than wrong (the stage passes its own)
OPEN_STATUSES = ("open", "pending")  # tickets.status the desk still works on: not resolved
DONE_STATUSES = ("solved", "closed")  # the desk's own verdict: resolved when there is a solution to show


def flag(value) -> bool:
    """A message's ``internal``/``resolution`` flag: True only when set (absent in older workspaces: False)."""
    return value is True or (isinstance(value, (bool, np.bool_)) and bool(value)) or \
        (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def status_of(ticket: dict) -> str | None:
    """tickets.status when it is one of open, pending, solved, closed; else None (exports without it)."""
    value = ticket.get("status")
    value = value.strip().lower() if isinstance(value, str) else None
    return value if value in OPEN_STATUSES + DONE_STATUSES else None


def extract_one(ticket: dict, thread: list[dict], activity: dict | None = None,
                scorer: Scorer | None = None, threshold: float = RESOLVED_THRESHOLD) -> dict:
    """One case from one ticket: problem, resolved, solution_message_ids, solution.

    ``resolved_score`` is the scorer's calibrated probability that the case is right (the thread was resolved and
    the picked reply holds the fix); the learned call is resolved at ``threshold`` or above (the extract stage
    passes the threshold of its ``--min-precision`` operating point)."""
    scorer = scorer or default_scorer()
    first_customer = next((m for m in thread if m["role"] == "customer"), thread[0] if thread else None)
    subject = ticket.get("subject") if isinstance(ticket.get("subject"), str) else ""
    problem = problem_text(subject, first_customer["body"] if first_customer else "")
    scores = scorer.score(thread, subject, activity) if len(thread) > 1 else np.zeros(0)
    p_resolved = scorer.resolved_probability(thread, scores) if thread else 0.0
    written = ticket.get("resolution")  # an agent-written resolution in the export wins
    written = written.strip() if isinstance(written, str) else ""
    best = int(np.argmax(scores)) + 1 if len(scores) else None
    # a message made from the desk's recorded resolution field (ServiceNow close_notes, ...) wins over both:
    # the last one (a reopened ticket's later resolution replaces the first)
    # (three words at least: a one-ticket export's "Done" or "Won't Do" is a label, not a fix)
    recorded = [i for i, m in enumerate(thread) if flag(m.get("resolution")) and len(str(m.get("body") or "").split()) >= 3]
    if recorded:
        best = recorded[-1]
    status = status_of(ticket)
    if status in OPEN_STATUSES:  # still being worked on: whatever the thread says, not (yet) a confirmed fix
        resolved = False
    elif recorded or written:
        resolved = True
    else:  # solved/closed: the desk's verdict, given a reply to show; no status: the learned call as before
        resolved = best is not None and (status in DONE_STATUSES or p_resolved >= threshold)
    ids = [thread[best]["message_id"]] if resolved and best is not None else []
    text = thread[best]["body"] if recorded else written or (thread[best]["body"] if ids else "")
    solution = condense(text, SOLUTION_WORDS) if resolved else ""
    return {
        "problem": problem,
        "resolved": resolved and bool(solution),
        "solution_message_ids": ids if solution else [],
        "solution": solution,
        "candidate_message_id": thread[best]["message_id"] if best is not None else None,
        "resolved_score": round(float(p_resolved), 4),
    }
