"""Heuristic extraction: no LLM. The problem from the subject and the first customer message,
the solution message picked by the learned scorer, the solution condensed from it.

    from casebase.extract.heuristic import extract_one
    case = extract_one(ticket, thread, activity)
"""

from __future__ import annotations

import numpy as np

from casebase.extract.scorer import Scorer, default_scorer
from casebase.text import SOLUTION_WORDS, condense, problem_text

RESOLVED_THRESHOLD = 0.5


def extract_one(ticket: dict, thread: list[dict], activity: dict | None = None,
                scorer: Scorer | None = None) -> dict:
    """One case from one ticket: problem, resolved, solution_message_ids, solution."""
    scorer = scorer or default_scorer()
    first_customer = next((m for m in thread if m["role"] == "customer"), thread[0] if thread else None)
    subject = ticket.get("subject") if isinstance(ticket.get("subject"), str) else ""
    problem = problem_text(subject, first_customer["body"] if first_customer else "")
    scores = scorer.score(thread, subject, activity) if len(thread) > 1 else np.zeros(0)
    p_resolved = scorer.resolved_probability(thread, scores) if thread else 0.0
    written = ticket.get("resolution")  # an agent-written resolution in the export wins
    written = written.strip() if isinstance(written, str) else ""
    best = int(np.argmax(scores)) + 1 if len(scores) else None
    resolved = bool(written) or (best is not None and p_resolved >= RESOLVED_THRESHOLD)
    ids = [thread[best]["message_id"]] if resolved and best is not None else []
    solution = condense(written or (thread[best]["body"] if ids else ""), SOLUTION_WORDS) if resolved else ""
    return {
        "problem": problem,
        "resolved": resolved and bool(solution),
        "solution_message_ids": ids if solution else [],
        "solution": solution,
        "candidate_message_id": thread[best]["message_id"] if best is not None else None,
        "resolved_score": round(float(p_resolved), 4),
    }
