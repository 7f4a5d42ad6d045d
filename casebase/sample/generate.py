"""Generate the SYNTHETIC helpdesk export: accounts, ticket dates, tickets, ids, the history frame, and writing it.

:func:`generate_frames` drives the generator class :class:`_Gen`, put together from the mixins of this package.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from casebase.sample.accounts import AccountsMixin
from casebase.sample.archetypes import ARCHETYPES, OUTCOMES, URGENCY
from casebase.sample.base import Slots, Ticket, b36, dmy, office_hours
from casebase.sample.config import SampleConfig
from casebase.sample.history import HistoryMixin
from casebase.sample.people import AGENTS
from casebase.sample.slots import SlotsMixin

_DEFAULTS = SampleConfig.model_fields  # the defaults of `casebase sample`, in one place

__all__ = ["generate_frames", "write_sample", "TICKET_COLUMNS", "HISTORY_COLUMNS"]

TICKET_COLUMNS = ["TICKETID", "ALTERNATEKEYSUFFIX", "ISSUE", "SUBJECT", "URGENCYCODE", "PROBLEM", "SOLUTION",
                  "CATEGORY", "AREA", "RECEIVEDDATE", "COMPLETEDDATE", "RESULTIONSUMMARY", "ACCOUNTID", "ACCOUNT"]
HISTORY_COLUMNS = ["TICKETACTIVITYID", "TICKETID", "CREATEDATE", "ACTIVITYDESC", "USERID", "SHORTDESC"]

START, N_DAYS = datetime(2023, 1, 1), 731  # 2023-01-01 .. 2024-12-31
_HOLIDAYS = {date(2023, m, d) for m, d in ((1, 2), (4, 7), (4, 10), (5, 1), (5, 8), (5, 29), (8, 28), (12, 25),
                                            (12, 26))}  # UK bank holidays
_HOLIDAYS |= {date(2024, m, d) for m, d in ((1, 1), (3, 29), (4, 1), (5, 6), (5, 27), (8, 26), (12, 25), (12, 26))}
_HOUR_W = np.array([.05] * 7 + [.8, 3.5, 6, 6, 5.5, 3.5, 4.5, 5.5, 5, 4, 2.2, .9, .5, .4, .3, .15, .08])
_UNRESOLVED_P = {1: .06, 2: .11, 3: .14, 4: .16, 5: .20}


def _fits(a) -> list[tuple[tuple, tuple]]:
    """Per problem paraphrase: the (solutions, subjects) that suit it."""
    out = []
    for i in range(len(a.problems)):
        sols, _, subs = a.fits[i].partition(":") if a.fits else ("", "", "")
        out.append((tuple(a.solutions[int(d)] for d in sols) or a.solutions,
                    tuple(a.subjects[int(d)] for d in subs) or a.subjects))
    return out


_FITS = {a.key: _fits(a) for a in ARCHETYPES}
_PAYROLL_RUSH = {"pay_rti", "pay_run_crash", "pay_pension"}


class _Gen(HistoryMixin, AccountsMixin, SlotsMixin):
    """The whole generator: random state, planted data, accounts, slot values, texts and histories."""


def _received_dates(g: _Gen, n: int) -> list[datetime]:
    days = np.arange(N_DAYS)
    wd = np.array([(START + timedelta(days=int(d))).weekday() for d in days])
    w = np.array([1.15, 1.05, 1.0, 1.0, .85, .06, .03])[wd] * (1 + .25 * days / N_DAYS)
    for i in days:
        if (START + timedelta(days=int(i))).date() in _HOLIDAYS:
            w[i] = .05
    day = g.np.choice(N_DAYS, size=n, p=w / w.sum())
    hour = g.np.choice(24, size=n, p=_HOUR_W / _HOUR_W.sum())
    secs = day * 86400 + hour * 3600 + g.np.integers(0, 3600, size=n)
    return (np.datetime64(START, "s") + secs.astype("timedelta64[s]")).astype(object).tolist()


def generate_frames(n_tickets: int = _DEFAULTS["tickets"].default, seed: int = _DEFAULTS["seed"].default) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Return (tickets, history, planted) for a synthetic helpdesk export.

    tickets has TICKET_COLUMNS (one row per ticket), history has HISTORY_COLUMNS (one row per activity,
    CREATEDATE as a day-first "dd/mm/yyyy HH:MM" string, rows slightly out of date order), planted maps
    "emails", "phones", "ibans", "cards", "ips", "secrets", "person_names" to the strings written into the
    texts. Same seed, same frames.
    """
    if n_tickets < 1:
        raise ValueError("n_tickets must be >= 1")
    g = _Gen(seed)
    r = g.r
    accounts = g.accounts(max(25, min(n_tickets // 6, 12000)))
    acc_p = 1.0 / (np.arange(len(accounts)) + 3.0) ** .8
    n_dup = round(n_tickets * .05) if n_tickets >= 40 else 0
    n_base = n_tickets - n_dup
    when = _received_dates(g, n_base)
    acc_idx = g.np.choice(len(accounts), size=n_base, p=acc_p / acc_p.sum()).tolist()
    months = np.array([d.month for d in when])
    arch_idx = np.zeros(n_base, dtype=int)
    base_w = np.array([a.weight for a in ARCHETYPES])
    for m in range(1, 13):
        sel = np.flatnonzero(months == m)
        w = base_w * np.array([3.0 if m in a.months else 1.0 for a in ARCHETYPES])
        arch_idx[sel] = g.np.choice(len(ARCHETYPES), size=len(sel), p=w / w.sum())

    tickets: list[Ticket] = []
    for i in range(n_base):
        t = Ticket()
        t.when, t.acct, t.arch, t.orig = when[i], accounts[acc_idx[i]], ARCHETYPES[arch_idx[i]], None
        tickets.append(t)
    end = START + timedelta(days=N_DAYS)
    early = [t for t in tickets if t.when < end - timedelta(days=75)] or tickets
    for _ in range(n_dup):  # recurring problem: same account, archetype, contact, weeks later
        o = r.choice(early)
        t = Ticket()
        t.when = office_hours(o.when + timedelta(days=r.randint(10, 70), minutes=r.randint(0, 600)), r)
        t.acct, t.arch, t.orig = o.acct, o.arch, o
        tickets.append(t)
    tickets.sort(key=lambda t: t.when)

    t_cols = {c: [] for c in TICKET_COLUMNS}
    h_rows: list[tuple] = []
    seen: set[str] = set()
    disp0, tid0 = r.randint(1000, 20000), r.randrange(36 ** 4, 36 ** 5)
    for i, t in enumerate(tickets):
        t.i, t.disp = i, f"{disp0 + i:06d}"
        t.tid = "t6UJ9A" + b36(tid0 + i * 3 + r.randrange(3))
        t.slots = Slots()
        t.slots.g, t.slots.t = g, t
        a = t.arch
        if t.orig is not None:
            t.contact, t.agent, t.pi = t.orig.contact, t.orig.agent, t.orig.pi
        else:
            t.pi = r.randrange(len(a.problems))
            contacts = t.acct["contacts"]
            t.contact = contacts[0] if r.random() < .55 else r.choice(contacts)
            t.agent = t.acct["agent"] if r.random() < .5 else r.choice(AGENTS)
        t.urg = r.choices((1, 2, 3, 4, 5), weights=URGENCY[a.urgency])[0]
        if a.key in _PAYROLL_RUSH and (t.when.day >= 24 or t.when.day <= 2) and r.random() < .5:
            t.urg = max(1, t.urg - 1)  # pay day is close
        late = t.when > end - timedelta(days=10)
        t.resolved = r.random() >= (_UNRESOLVED_P[t.urg] + (.3 if late else 0))
        if t.orig is not None:
            subj = t.orig.subject
            t.subject = r.choice((f"RE: {subj}", subj, f"{subj} - again", f"FW: {subj}"))
            problem = g.reword(t.orig.problem)
        else:
            t.subject = g.fmt(t, r.choice(_FITS[a.key][t.pi][1]))
            problem = g.problem(t)
        for _ in range(20):
            if problem not in seen:
                break
            problem = g.reword(problem) if t.orig is not None else g.problem(t)
        else:
            problem += f"\n\nRef: {t.disp}"
        seen.add(problem)
        t.problem = problem
        t.completed, t.sol, t.solution = None, None, ""
        if t.resolved:
            same = t.orig is not None and t.orig.sol is not None and r.random() < .7
            t.sol = t.orig.sol if same else r.choice(_FITS[a.key][t.pi][0])
            t.solution = g.solution_text(t, t.sol)
        acts = g.history(t)
        for when_, kind, uid, text in acts:
            h_rows.append((t.tid, when_, text, uid, kind))
        issue = a.issue if r.random() > .08 else r.choice(("Error message", "How to", "Data problem", "Other"))
        for col, val in zip(TICKET_COLUMNS, (
                t.tid, t.disp, issue, t.subject, t.urg, t.problem, t.solution, a.category, a.area, t.when,
                t.completed, OUTCOMES[t.sol[0]] if t.sol else "", t.acct["id"], t.acct["name"])):
            t_cols[col].append(val)

    tickets_df = pd.DataFrame(t_cols, columns=TICKET_COLUMNS)
    tickets_df["URGENCYCODE"] = tickets_df["URGENCYCODE"].astype("int64")
    for col in ("RECEIVEDDATE", "COMPLETEDDATE"):
        tickets_df[col] = pd.to_datetime(tickets_df[col]).astype("datetime64[s]")

    m = len(h_rows)
    order = np.argsort(np.arange(m) + g.np.uniform(0, 2.5, size=m), kind="stable")  # a little out of order
    hid0 = r.randrange(36 ** 4, 36 ** 5)
    h_cols = {c: [] for c in HISTORY_COLUMNS}
    for k in order.tolist():
        tid, when_, text, uid, kind = h_rows[k]
        h_cols["TICKETACTIVITYID"].append("Q6UJ9A" + b36(hid0 + 2 * k))
        h_cols["TICKETID"].append(tid)
        h_cols["CREATEDATE"].append(dmy(when_))
        h_cols["ACTIVITYDESC"].append(text)
        h_cols["USERID"].append(uid)
        h_cols["SHORTDESC"].append(kind)
    history_df = pd.DataFrame(h_cols, columns=HISTORY_COLUMNS)
    planted = {k: list(v) for k, v in g.planted.items()}
    return tickets_df, history_df, planted


def write_sample(out_dir: Path, n_tickets: int = _DEFAULTS["tickets"].default, seed: int = _DEFAULTS["seed"].default,
                 fmt: str = _DEFAULTS["format"].default) -> dict:
    """Write tickets.<fmt> and history.<fmt> into out_dir (fmt: xlsx or csv); return a summary dict
    {"tickets": n, "history": m, "files": [paths as str], "seed": seed}."""
    if fmt not in ("xlsx", "csv"):
        raise ValueError(f"fmt must be 'xlsx' or 'csv', not {fmt!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tickets, history, _ = generate_frames(n_tickets, seed)
    files = []
    for name, df in (("tickets", tickets), ("history", history)):
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_excel(path, index=False, engine="openpyxl", sheet_name=name)
        files.append(str(path))
    return {"tickets": len(tickets), "history": len(history), "files": files, "seed": seed}
