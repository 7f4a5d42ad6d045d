"""Heuristic extraction: no LLM. The problem from the subject and the first customer message,
the solution message picked by the learned scorer, the solution condensed from it.

    from casebase.extract.heuristic import extract_one
    case = extract_one(ticket, thread, activity)
"""

from __future__ import annotations

import re

import numpy as np

from casebase.extract.scorer import Scorer, default_scorer

PROBLEM_WORDS = 80
SOLUTION_WORDS = 120
RESOLVED_THRESHOLD = 0.5
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9<\"'(\[])|\n+")
_FILLER = re.compile(
    r"(?i)^(?:(?:many )?thanks?(?: you)?(?: (?:in advance|again|for (?:your|the) (?:help|reply|response|time)))?[.!]*"
    r"|(?:can|could) (?:you|someone|anyone) (?:please )?(?:help|advise|assist)[^.?!]*[.?!]*|any (?:ideas|help|suggestions)[^.?!]*[?!.]*"
    r"|(?:i )?hope (?:this|that|it) helps[^.?!]*[.!]*|let me know[^.?!]*[.!]*|please (?:advise|help)[.!]*"
    r"|(?:kind |best )?regards[.,!]*|cheers[.!]*|<PERSON>[.,!]*)$")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def condense(text: str, max_words: int) -> str:
    """Drop filler sentences (thanks, "can you help?", "hope this helps"), keep at most
    ``max_words`` words, cutting at a sentence end where one is near."""
    kept = [s for s in sentences(text) if not _FILLER.match(s)] or sentences(text)
    out, n = [], 0
    for s in kept:
        words = s.split()
        if n + len(words) > max_words:
            if n < max_words * 0.6:  # no sentence end near: cut inside the sentence
                out.append(" ".join(words[: max_words - n]) + " …")
            break
        out.append(s)
        n += len(words)
    return " ".join(out).strip()


def problem_text(subject: str | None, first_message: str) -> str:
    """Subject + the first customer message, filler removed, at most 80 words."""
    subject = (subject or "").strip()
    body = condense(first_message, PROBLEM_WORDS)
    if subject and subject.lower() not in body.lower()[: len(subject) + 20]:
        body = condense(f"{subject.rstrip('.?!')}. {body}", PROBLEM_WORDS)
    return body


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
