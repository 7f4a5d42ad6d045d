"""The :class:`Archetype` record and the small tables that describe archetypes, for the SYNTHETIC sample.

Nothing in :mod:`casebase.sample.archetypes` describes a real person, customer or ticket: names, companies and
ticket texts are invented. Phone numbers come from the Ofcom ranges reserved for drama, IP addresses from private
ranges. Product names are used only to make the texts read like a real ERP reseller's support desk.

Template syntax (expanded by :mod:`casebase.sample`):
  ``{slot}``   a per-ticket value (one ``_s_<slot>`` method in :mod:`casebase.sample.slots` or
               :mod:`casebase.sample.pii`), the same within one ticket;
  ``[a|b|c]``  pick one alternative at random (``[a|]`` = optional ``a``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Archetype", "URGENCY", "OUTCOMES", "GENERIC_ERRS", "collector"]


@dataclass(frozen=True)
class Archetype:
    key: str
    category: str
    area: str
    issue: str
    urgency: str  # key into URGENCY
    weight: float  # relative frequency
    subjects: tuple[str, ...]
    problems: tuple[str, ...]  # the customer's core description, paraphrases
    extras: tuple[str, ...]  # optional context sentences (also reused in replies)
    solutions: tuple[tuple[str, str, str], ...]  # (outcome, cause, fix steps)
    errs: tuple[str, ...] = ()
    asks: tuple[str, ...] = ()
    months: tuple[int, ...] = ()  # busy months (weight x3)
    secrets: bool = False  # install/SQL style tickets: passwords, IPs in notes
    fits: tuple[str, ...] = ()  # per problem: "solutions:subjects" index digits, empty side = all (see FITS)


# Urgency weights for codes 1..5 (1 = critical).
URGENCY = {
    "crit": (16, 38, 36, 8, 2),
    "high": (3, 20, 57, 17, 3),
    "norm": (1, 8, 52, 30, 9),
    "low": (0.5, 3, 38, 36, 22.5),
}

OUTCOMES = {
    "config": "Resolved - configuration change",
    "fix": "Resolved - software fix applied",
    "advice": "Resolved - advice given",
    "data": "Resolved - data corrected",
    "repair": "Resolved - reinstall/repair",
    "licence": "Resolved - licence updated",
    "third": "Resolved - third party issue",
}

GENERIC_ERRS = (
    "Error 0x80004005 Unspecified error",
    "Object reference not set to an instance of an object",
    "Run-time error '91'",
    "An unexpected error has occurred (code 1722)",
)


def collector() -> tuple[list[Archetype], Callable[..., None]]:
    """A fresh list and an ``A(key, category, area, issue, urgency, weight, subjects, problems, extras,
    solutions, **kw)`` function that appends an :class:`Archetype` to it (lists become tuples)."""
    items: list[Archetype] = []

    def A(key, category, area, issue, urgency, weight, subjects, problems, extras, solutions, **kw):
        items.append(Archetype(key, category, area, issue, urgency, weight, tuple(subjects), tuple(problems),
                               tuple(extras), tuple(solutions), **{k: tuple(v) if isinstance(v, list) else v
                                                                    for k, v in kw.items()}))

    return items, A
