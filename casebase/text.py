"""Text functions shared by the stages: how a ticket becomes a problem and a reply a solution.

    from casebase.text import problem_text, condense, SOLUTION_WORDS
    problem_text("ATP check", "Hello, error BTE 01000821 when running the ATP check. Thanks!")

extract writes the train problems and solutions with these; evaluate asks test tickets, serve asks pasted
tickets, split vouches listed replies and the API condenses retained cases with the same ones, so a query and
the cases it is compared with are made the same way.
"""

from __future__ import annotations

import re

PROBLEM_WORDS = 80
SOLUTION_WORDS = 120
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
