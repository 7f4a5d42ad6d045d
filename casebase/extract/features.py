"""Features of each reply in a thread, for picking the message that holds the solution.

A thread is the list of a ticket's messages in order (dicts with ``role``, ``author``,
``body``); message 0 is the question. ``thread_features`` returns one row per reply
(positions 1..n-1) with the signals named in ``FEATURES``: who wrote it, where it stands,
its length, what follows it ("thanks, that worked"), the asker's own "I solved it by ...",
questions, steps and code, overlap with the problem, and how active its author is.
The weights that combine them are learned by ``casebase.extract.tune`` on training threads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

THANKS = re.compile(r"(?i)\b(?:thanks?|thank you|thx|ty|appreciate\w*|cheers)\b")
POSITIVE = re.compile(
    r"(?i)\b(?:work(?:s|ed|ing)?(?: now| fine| perfectly| great)?|solved|resolved|fixed|did the trick|"
    r"that(?:'?s| is| was) it|helpful|helped|got it|success(?:ful(?:ly)?)?|perfect|great|awesome|excellent|brilliant)\b")
NEGATIVE = re.compile(
    r"(?i)\b(?:not work\w*|doesn'?t work|didn'?t work|still (?:not|get\w*|fail\w*|the same|have)|no luck|"
    r"same (?:error|issue|problem)|does not|did not|doesn'?t|didn'?t|unfortunately|but)\b")
RESOLVED = re.compile(
    r"(?i)\b(?:solved|resolved|fixed|sorted|found (?:it|them|the)|figured|was able to|managed to|got it|"
    r"it work(?:s|ed)|works (?:now|fine|perfectly)|working now|now works?|(?:is|was) working|did the trick|finally|"
    r"identified|turned out|the (?:problem|issue|cause|reason|solution|fix) (?:is|was)|it was (?:a|an|the|because)|"
    r"there was (?:a|an)|workaround)\b")
EXPLAINS = re.compile(
    r"(?i)\b(?:it was|the (?:problem|issue|cause|reason) (?:is|was)|turned out|because|"
    r"by (?:adding|changing|using|setting|removing|replacing|installing|updating|calling)|"
    r"i (?:changed|added|used|set|removed|replaced|installed|updated|modified|created|reused|had to|needed to|did|tried)|"
    r"instead|workaround|solution (?:is|was)|the fix)\b")
SELF_SOLVED = re.compile(
    r"(?i)\b(?:i (?:have )?(?:solved|resolved|fixed|found|figured)|(?:solved|resolved|fixed) (?:it|this|the (?:issue|problem))|"
    r"found the (?:solution|issue|problem|answer|cause)|got it (?:working|to work)|works now|the (?:solution|fix) (?:is|was)|"
    r"(?:issue|problem) (?:is|was) (?:solved|resolved|fixed)|managed to)\b")
STEPS = re.compile(r"(?im)^\s*(?:\d+[.)]|[-*•])\s+|\b(?:step|go to|click|set|use|try|check|install|apply|change|"
                   r"call|add|run|open|select)\b")
CODE = re.compile(r"[{};]|\b(?:def|function|class|return|select|data|call|method)\b|->|=>|\(\)")
WORDS = re.compile(r"[a-z0-9]{3,}")

FEATURES = (
    "responder", "first_reply", "last_message", "first_responder_reply", "last_responder_reply",
    "relative_position", "log_length", "longest_responder_reply",
    "next_customer_thanks", "next_customer_positive", "next_customer_negative", "next_customer_short_thanks",
    "right_before_first_positive", "any_later_positive", "customer_self_solved", "self_solved",
    "has_question", "ends_with_question", "question_count",
    "has_steps", "has_code", "has_link", "jaccard_with_problem", "overlap_with_problem",
    "thanks_only", "customer_last", "responder_last", "author_share",
    "customer_resolved", "customer_explains", "customer_resolved_explains", "customer_log_length",
    "customer_after_responder", "customer_short",
    "next_customer_explains_fix", "next_customer_resolved",
    "two_messages", "long_thread", "responder_relative_position",
    "last_responder_before_confirmation", "author_activity", "most_active_responder",
)


def words(text: str) -> set[str]:
    return set(WORDS.findall(text.lower()))


def positive(text: str) -> bool:
    return bool(RESOLVED.search(text)) and not NEGATIVE.search(text[:150])


def thread_features(thread: Sequence[Mapping], subject: str = "",
                    activity: Mapping[str, int] | None = None) -> np.ndarray:
    """A (n-1) x len(FEATURES) matrix for the replies of ``thread``; ``activity`` counts the
    replies each author wrote across the whole export (how much of an expert they are)."""
    activity = activity or {}
    n = len(thread)
    bodies = [str(m["body"]) for m in thread]
    roles = [m["role"] for m in thread]
    authors = [m.get("author") for m in thread]
    lens = [len(b) for b in bodies]
    problem = words(bodies[0] + " " + (subject or ""))
    resp = [i for i in range(1, n) if roles[i] == "responder"]
    longest = max(resp, key=lambda i: lens[i]) if resp else -1
    confirmations = [j for j in range(1, n) if roles[j] == "customer" and positive(bodies[j])]
    before_conf = max((j for j in range(1, confirmations[0]) if roles[j] == "responder"), default=-1) \
        if confirmations else -1
    acts = [activity.get(authors[j], 0) for j in resp]
    top = max(acts) if acts else 0
    rows = []
    for i in range(1, n):
        b, r = bodies[i], roles[i] == "responder"
        c = not r
        nxt = bodies[i + 1] if i + 1 < n else ""
        nxt_c = i + 1 < n and roles[i + 1] == "customer"
        later = [j for j in range(i + 1, n) if roles[j] == "customer" and POSITIVE.search(bodies[j])
                 and not NEGATIVE.search(bodies[j][:200])]
        mw = words(b)
        loglen = math.log1p(lens[i]) / 8
        rows.append([
            r, i == 1, i == n - 1, r and resp and i == resp[0], r and resp and i == resp[-1],
            i / (n - 1), loglen, i == longest,
            nxt_c and bool(THANKS.search(nxt)), nxt_c and bool(POSITIVE.search(nxt)),
            nxt_c and bool(NEGATIVE.search(nxt)), nxt_c and len(nxt) < 200 and bool(THANKS.search(nxt)),
            bool(later) and later[0] == i + 1, bool(later), c and bool(SELF_SOLVED.search(b)),
            bool(SELF_SOLVED.search(b)),
            "?" in b, b.rstrip().endswith("?"), min(b.count("?"), 5) / 5,
            len(STEPS.findall(b)) > 2, bool(CODE.search(b)), "http" in b,
            len(problem & mw) / max(1, len(problem | mw)), len(problem & mw) / max(1, len(mw)) ** 0.5 / 5,
            lens[i] < 80 and bool(THANKS.search(b)), c and i == n - 1, r and i == n - 1,
            sum(a == authors[i] for a in authors) / n,
            c and positive(b), c and bool(EXPLAINS.search(b)), c and positive(b) and bool(EXPLAINS.search(b)),
            c * loglen, c and roles[i - 1] == "responder", c and lens[i] < 120,
            r and nxt_c and bool(RESOLVED.search(nxt)) and bool(EXPLAINS.search(nxt)) and len(nxt) > 150,
            r and nxt_c and positive(nxt),
            n == 2, n >= 6, r * i / (n - 1),
            i == before_conf, r * math.log1p(activity.get(authors[i], 0)) / 5,
            r and activity.get(authors[i], 0) == top,
        ])
    return np.asarray(rows, dtype=np.float32).reshape(-1, len(FEATURES))
