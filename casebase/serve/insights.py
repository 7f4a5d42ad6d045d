"""The support lead's view of casebase.db: ``GET /api/insights`` and the page at ``/insights``.

    from casebase.serve.insights import insights
    insights(store, days=30, top=10)
    # {"days", "since", "until", "totals", "per_day": [...], "by_arm": [...], "by_category": [...], "missing": [...]}

- ``per_day``: suggestions per day (UTC), every day of the window, zeros included, with how many abstained and
  the last verdict of the rest;
- ``by_arm`` / ``by_category``: accepted / edited / rejected rates per arm and per shown category, over the
  suggestions that got feedback (a suggestion counts once, with its last verdict, as ``export-feedback`` does);
- ``missing``: the most frequent problems without precedent: abstained suggestions grouped by their words
  (greedy: a problem joins the first group whose first problem shares at least ``GROUP_JACCARD`` of their
  distinct words, identifiers such as error codes included), biggest groups first. This is what the case base
  is missing: write up one resolved ticket of a group (``POST /api/cases``) and its like stop abstaining.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from casebase.retrieve.bm25 import tokenize

INSIGHT_DAYS = 30  # the window GET /api/insights reads by default
MISSING_TOP = 10  # groups of abstained problems it lists by default
GROUP_JACCARD = 0.3  # word overlap (|A & B| / |A | B|) for two abstained problems to be "the same problem"
VERDICTS = ("accepted", "edited", "rejected")
NO_CATEGORY = "(none)"


def _rates(rows: list[dict], key: str) -> list[dict]:
    """Per value of ``key``: suggestions, how many got feedback, and each verdict's count and rate."""
    groups: dict[str, Counter] = {}
    for row in rows:
        value = row[key] if row[key] not in (None, "") else NO_CATEGORY
        c = groups.setdefault(str(value), Counter())
        c["suggestions"] += 1
        c["abstained"] += bool(row["abstained"])
        if row["verdict"] in VERDICTS:
            c["feedback"] += 1
            c[row["verdict"]] += 1
    out = []
    for value, c in groups.items():
        entry = {key: value, "suggestions": c["suggestions"], "abstained": c["abstained"], "feedback": c["feedback"]}
        for v in VERDICTS:
            entry[v] = c[v]
            entry[f"{v}_rate"] = round(c[v] / c["feedback"], 4) if c["feedback"] else None
        out.append(entry)
    return sorted(out, key=lambda e: (-e["feedback"], -e["suggestions"], e[key]))


def group_problems(problems: list[dict], top: int = MISSING_TOP, jaccard: float = GROUP_JACCARD) -> list[dict]:
    """Abstained problems (newest first: ``created_at``, ``problem``, ``nearest_category``) in groups of the same
    problem, biggest first (the most recent first on a tie): each with its count, its most frequent words, the
    nearest cases' most frequent category, up to 3 example problems and when it was last seen."""
    groups: list[dict] = []
    for p in problems:
        words = set(tokenize(p["problem"] or ""))
        if not words:
            continue
        for g in groups:
            if len(words & g["words"]) / len(words | g["words"]) >= jaccard:
                break
        else:
            g = {"words": words, "members": []}
            groups.append(g)
        g["members"].append(p)
    out = []
    for g in groups:
        members = g["members"]
        # words by how many problems hold them; a tie keeps the order of the newest problem's words
        counts = Counter(w for m in members for w in dict.fromkeys(tokenize(m["problem"])))
        categories = Counter(m["nearest_category"] for m in members if m.get("nearest_category"))
        examples = list(dict.fromkeys(m["problem"][:300] for m in members))[:3]
        out.append({"count": len(members), "terms": [w for w, _ in counts.most_common(5)],
                    "nearest_category": categories.most_common(1)[0][0] if categories else None,
                    "examples": examples, "last_seen": members[0]["created_at"]})
    out.sort(key=lambda g: g["last_seen"], reverse=True)  # newest first within one count (sort is stable)...
    out.sort(key=lambda g: -g["count"])  # ...biggest first
    return out[:top]


def insights(store, days: int = INSIGHT_DAYS, top: int = MISSING_TOP, now: dt.datetime | None = None) -> dict:
    """The insights of the last ``days`` days (today, UTC, included) from ``store`` (a ``Store``)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    first = (now - dt.timedelta(days=days - 1)).date()
    rows, abstained = store.insight_rows(first.isoformat())
    per_day = {(first + dt.timedelta(days=i)).isoformat(): Counter() for i in range(days)}
    totals = Counter()
    for row in rows:
        day = per_day.setdefault(row["day"], Counter())  # a clock that went back: the day is still counted
        for c in (day, totals):
            c["suggestions"] += 1
            c["abstained"] += bool(row["abstained"])
            if row["verdict"] in VERDICTS:
                c["feedback"] += 1
                c[row["verdict"]] += 1
    fields = ("suggestions", "abstained", "feedback", *VERDICTS)
    return {"days": days, "since": first.isoformat(), "until": now.date().isoformat(),
            "totals": {f: totals[f] for f in fields},
            "per_day": [{"day": d, **{f: c[f] for f in fields}} for d, c in sorted(per_day.items())],
            "by_arm": _rates(rows, "arm"), "by_category": _rates(rows, "category"),
            "missing": group_problems(abstained, top)}
