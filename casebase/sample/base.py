"""Shared pieces of the SYNTHETIC sample generator: ids, dates, the per-ticket record and the generator base.

:class:`GenBase` holds the random state and the planted personal data; the mixins in :mod:`~casebase.sample.pii`,
:mod:`~casebase.sample.accounts`, :mod:`~casebase.sample.slots`, :mod:`~casebase.sample.text` and
:mod:`~casebase.sample.history` add the rest, and :mod:`~casebase.sample.generate` puts them together.
"""
from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

import numpy as np

PLANTED_KEYS = ("emails", "phones", "ibans", "cards", "ips", "secrets", "person_names")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALT = re.compile(r"\[([^\[\]|]*(?:\|[^\[\]|]*)+)\]")


def b36(n: int, width: int = 6) -> str:
    s = ""
    for _ in range(width):
        n, r = divmod(n, 36)
        s = _B36[r] + s
    return s


def dmy(dt: datetime) -> str:
    return f"{dt.day:02d}/{dt.month:02d}/{dt.year} {dt.hour:02d}:{dt.minute:02d}"


class Slots(dict):
    """Per-ticket template values, created on first use so a ticket stays self-consistent."""
    __slots__ = ("g", "t")

    def __missing__(self, key):
        value = getattr(self.g, "_s_" + key)(self.t)
        self[key] = value
        return value


class Ticket:
    """One ticket while it is generated (attributes are filled in by :func:`generate_frames`)."""

    __slots__ = ("i", "when", "acct", "contact", "arch", "agent", "urg", "resolved", "orig", "disp", "tid",
                 "subject", "problem", "slots", "sol", "solution", "completed", "pi")


class GenBase:
    """Random state, planted personal data and the helpers every part of the generator uses."""

    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.planted = {k: {} for k in PLANTED_KEYS}

    # -- helpers -------------------------------------------------------------------------------------------
    def plant(self, kind: str, value: str) -> str:
        self.planted[kind][value] = None
        return value

    def fmt(self, t: Ticket, s: str) -> str:
        if "[" in s:
            s = _ALT.sub(lambda m: self.r.choice(m.group(1).split("|")), s)
        return s.format_map(t.slots) if "{" in s else s

    def name(self, first: str, last: str | None = None) -> str:
        self.plant("person_names", first)
        if last:
            return self.plant("person_names", f"{first} {last}")
        return first

    def money(self) -> str:
        return f"£{round(10 ** self.r.uniform(1.3, 4.8), 2):,.2f}"


def office_hours(dt: datetime, r: random.Random) -> datetime:
    """Move ``dt`` into office hours (08:00-18:00 on a weekday)."""
    wd, h = dt.weekday(), dt.hour
    if wd < 5 and 8 <= h < 18:
        return dt
    if wd < 5 and h < 8:
        day = dt
    else:
        day = dt + timedelta(days=1)
        while day.weekday() >= 5:
            day += timedelta(days=1)
    return day.replace(hour=8, minute=0, second=0) + timedelta(minutes=r.randint(0, 100), seconds=r.randint(0, 59))
