"""Tests for the synthetic helpdesk sample generator (casebase.sample)."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from casebase.sample import ARCHETYPES, CATEGORIES, generate_frames, write_sample
from casebase.sample.phrases import REOPEN_LINES

TICKET_COLUMNS = ["TICKETID", "ALTERNATEKEYSUFFIX", "ISSUE", "SUBJECT", "URGENCYCODE", "PROBLEM", "SOLUTION",
                  "CATEGORY", "AREA", "RECEIVEDDATE", "COMPLETEDDATE", "RESULTIONSUMMARY", "ACCOUNTID", "ACCOUNT"]
HISTORY_COLUMNS = ["TICKETACTIVITYID", "TICKETID", "CREATEDATE", "ACTIVITYDESC", "USERID", "SHORTDESC"]
CUSTOMER_KINDS = {"Customer e-mail", "Web portal update"}
AGENT_KINDS = {"E-mail to customer", "Phone call", "Internal note", "Resolution"}


@pytest.fixture(scope="module")
def default():
    return generate_frames()  # 1500 tickets, seed 0


@pytest.fixture(scope="module")
def history_dates(default):
    _, history, _ = default
    return pd.to_datetime(history["CREATEDATE"], format="%d/%m/%Y %H:%M")


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    checksum = 0
    for pos, d in enumerate(reversed(digits)):
        if pos % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        checksum += d
    return checksum % 10 == 0


def _mod97(iban: str) -> bool:
    s = iban.replace(" ", "")
    s = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in s)) % 97 == 1


def test_deterministic_for_seed():
    a = generate_frames(200, seed=7)
    b = generate_frames(200, seed=7)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert a[2] == b[2]
    c = generate_frames(200, seed=8)
    assert not a[0]["PROBLEM"].equals(c[0]["PROBLEM"])


def test_columns_and_types(default):
    tickets, history, planted = default
    assert list(tickets.columns) == TICKET_COLUMNS
    assert list(history.columns) == HISTORY_COLUMNS
    assert len(tickets) == 1500
    assert set(planted) == {"emails", "phones", "ibans", "cards", "ips", "secrets", "person_names"}
    assert pd.api.types.is_datetime64_any_dtype(tickets["RECEIVEDDATE"])
    assert pd.api.types.is_datetime64_any_dtype(tickets["COMPLETEDDATE"])
    assert tickets["URGENCYCODE"].between(1, 5).all()
    assert tickets["TICKETID"].is_unique and tickets["ALTERNATEKEYSUFFIX"].is_unique
    assert history["TICKETACTIVITYID"].is_unique
    assert tickets["TICKETID"].str.fullmatch(r"t[0-9A-Z]{11}").all()
    assert tickets["ACCOUNTID"].str.fullmatch(r"A[0-9A-Z]{11}").all()
    assert tickets["ALTERNATEKEYSUFFIX"].str.fullmatch(r"\d{6}").all()


def test_archetypes_and_categories(default):
    assert len(ARCHETYPES) >= 40 and len({a.key for a in ARCHETYPES}) == len(ARCHETYPES)
    assert len(CATEGORIES) >= 8
    for a in ARCHETYPES:
        assert len(a.subjects) >= 3 and len(a.problems) >= 3 and 1 <= len(a.solutions) <= 3, a.key
    tickets = default[0]
    # every archetype has its own (CATEGORY, AREA) pair, so the pairs count the archetypes in use
    assert len({(a.category, a.area) for a in ARCHETYPES}) == len(ARCHETYPES)
    assert len(tickets.groupby(["CATEGORY", "AREA"])) >= 40
    assert tickets["CATEGORY"].nunique() >= 8


def test_unresolved_share(default):
    tickets = default[0]
    unresolved = tickets["SOLUTION"] == ""
    assert 0.10 <= unresolved.mean() <= 0.20
    assert (tickets["COMPLETEDDATE"].isna() == unresolved).all()
    assert ((tickets["RESULTIONSUMMARY"] == "") == unresolved).all()
    assert tickets.loc[~unresolved, "RESULTIONSUMMARY"].str.startswith("Resolved - ").all()
    done = tickets[~unresolved]
    assert (done["COMPLETEDDATE"] >= done["RECEIVEDDATE"]).all()


def test_urgency_imbalanced(default):
    counts = default[0]["URGENCYCODE"].value_counts()
    assert set(counts.index) == {1, 2, 3, 4, 5}
    assert counts.idxmax() == 3 and counts.idxmin() == 1
    assert counts[1] / counts.sum() < 0.06


def test_history_shape(default, history_dates):
    tickets, history, _ = default
    per_ticket = history.groupby("TICKETID").size()
    assert set(per_ticket.index) == set(tickets["TICKETID"])
    assert per_ticket.between(1, 8).all()
    assert per_ticket.between(2, 5).mean() > 0.6
    assert set(history["SHORTDESC"]) == CUSTOMER_KINDS | AGENT_KINDS
    customer = history["SHORTDESC"].isin(CUSTOMER_KINDS)
    assert history.loc[customer, "USERID"].str.contains("@").all()
    assert not history.loc[~customer, "USERID"].str.contains("@").any()
    assert history_dates.notna().all()
    # rows are a little shuffled: a reader has to sort by date
    assert not history_dates.is_monotonic_increasing


def test_history_follows_ticket(default, history_dates):
    tickets, history, _ = default
    h = history.assign(dt=history_dates).merge(tickets[["TICKETID", "RECEIVEDDATE", "COMPLETEDDATE", "SOLUTION"]])
    assert (h["dt"] >= h["RECEIVEDDATE"].dt.floor("min")).all()
    last = h.sort_values("dt", kind="stable").groupby("TICKETID").tail(1)
    resolved = last[last["SOLUTION"] != ""]
    assert (resolved["SHORTDESC"] == "Resolution").all()
    assert (resolved["dt"] == resolved["COMPLETEDDATE"].dt.floor("min")).all()
    unresolved = h[h["SOLUTION"] == ""]
    assert not (unresolved["SHORTDESC"] == "Resolution").any()


def test_createdate_is_day_first(default, history_dates):
    history = default[1]
    assert history["CREATEDATE"].str.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d").all()
    days = history["CREATEDATE"].str.slice(0, 2).astype(int)
    assert days.max() > 12  # would not parse month-first
    assert (history_dates.dt.day == days).all()


def test_dates_spread(default):
    received = default[0]["RECEIVEDDATE"]
    assert (received.max() - received.min()).days >= 600
    assert (received.dt.day_of_week < 5).mean() > 0.9
    assert received.dt.hour.between(8, 17).mean() > 0.8


def test_problem_texts_unique_and_realistic(default):
    tickets, history, _ = default
    assert tickets["PROBLEM"].is_unique
    assert tickets["SUBJECT"].str.len().gt(0).all()
    text = "\n".join(tickets["PROBLEM"]) + "\n".join(history["ACTIVITYDESC"])
    for marker in ("-----Original Message-----", "wrote:\n> ", "TICKET RECEIVED: ", "DESCRIPTION:",
                   "This is an automated message from the support portal.", "[REDACTED]", "Kind regards"):
        assert marker in text, marker
    # near-duplicates: some tickets reopen an earlier problem with small edits
    reopened = tickets["PROBLEM"].str.contains("|".join(map(re.escape, REOPEN_LINES)))
    assert 0.03 <= reopened.mean() <= 0.1


def test_planted_data_in_text(default):
    tickets, history, planted = default
    text = "\n".join(tickets["PROBLEM"]) + "\n".join(history["ACTIVITYDESC"])
    for key in ("emails", "phones", "ibans", "cards", "ips", "secrets", "person_names"):
        assert planted[key], key
        missing = [v for v in planted[key] if v not in text]
        assert not missing, (key, missing[:5])
    found_emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text))
    assert set(planted["emails"]) <= found_emails


def test_ibans_and_cards_valid(default):
    planted = default[2]
    assert all(_mod97(i) for i in planted["ibans"])
    assert all(re.fullmatch(r"[A-Z]{2}\d\d[A-Z0-9]{11,30}", i.replace(" ", "")) for i in planted["ibans"])
    assert all(_luhn(c) and len(re.sub(r"\D", "", c)) == 16 for c in planted["cards"])


def test_write_sample_xlsx_roundtrip(tmp_path):
    summary = write_sample(tmp_path, n_tickets=60, seed=3, fmt="xlsx")
    tickets, history, _ = generate_frames(60, seed=3)
    assert summary == {"tickets": 60, "history": len(history), "seed": 3,
                       "files": [str(tmp_path / "tickets.xlsx"), str(tmp_path / "history.xlsx")]}
    t = pd.read_excel(tmp_path / "tickets.xlsx", dtype={"ALTERNATEKEYSUFFIX": str})
    h = pd.read_excel(tmp_path / "history.xlsx", dtype=str)
    assert list(t.columns) == TICKET_COLUMNS and list(h.columns) == HISTORY_COLUMNS
    assert len(t) == 60 and len(h) == len(history)
    assert t["PROBLEM"].tolist() == tickets["PROBLEM"].tolist()
    assert (t["RECEIVEDDATE"] == tickets["RECEIVEDDATE"]).all()
    assert t["ALTERNATEKEYSUFFIX"].tolist() == tickets["ALTERNATEKEYSUFFIX"].tolist()
    assert h["CREATEDATE"].tolist() == history["CREATEDATE"].tolist()


def test_write_sample_csv(tmp_path):
    summary = write_sample(tmp_path / "out", n_tickets=80, seed=1, fmt="csv")
    assert summary["tickets"] == 80
    t = pd.read_csv(summary["files"][0])
    h = pd.read_csv(summary["files"][1])
    assert list(t.columns) == TICKET_COLUMNS and len(h) == summary["history"]
    with pytest.raises(ValueError):
        write_sample(tmp_path, n_tickets=10, fmt="json")
