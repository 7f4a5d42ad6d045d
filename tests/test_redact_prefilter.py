"""The Hyperscan prefilter (casebase/ingest/redact/prefilter.py) never skips a pattern that matches.

Each gate must hit every text its pattern matches: on the labelled redaction set, on texts hypothesis writes
from the pattern itself (Unicode digits and letters included) and on texts built from the patterns' words and
digits. And the redactor gives the same output with the prefilter as without it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casebase.ingest.redact import Redactor, address, ids, prefilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from redact_eval import load_cases  # noqa: E402
from test_redact_gates import FRAGMENTS, GATED, ungated  # noqa: E402

pytestmark = pytest.mark.skipif(not prefilter.available(), reason="hyperscan is not installed (no wheel here)")

PATTERNS = {name: getattr(address, name) for name in ("UK_POSTCODE", "EIRCODE", "NL_POSTCODE", "US_STATE_ZIP",
                                                       "ZIP_TOWN", "CUED_ZIP", "STREET_EN", "STREET_DE_NL",
                                                       "STREET_DE_WORD", "STREET_DE_TWO")}
PATTERNS |= {name: pattern for name, (pattern, _) in zip(ids.CHECKSUMMED_NAMES, ids.CHECKSUMMED)}
PATTERNS |= {"DOTTED": ids._DOTTED, "CAPS": ids._CAPS}
MORE_FRAGMENTS = FRAGMENTS + ["123-45-6789", "1 85 05 78 006 084 36", "1234.56.782", "12 345 678 901", "QQ 12 34 56 C",
                              "a.obrien", "BCARTWRIGHT3", "NW1 6XE", "D02 XY45", "IL 62704", "Street", "Road", "Am ",
                              "Flat 3, ", "٣", "𝟏", "ſ", "\udcff"]


def test_every_gated_pattern_has_a_gate_and_every_gate_a_pattern():
    assert set(PATTERNS) == set(prefilter.GATES)


def test_a_gate_hits_wherever_its_pattern_matches_on_the_labelled_set():
    for case in load_cases():
        hits = prefilter.scan(case.text)
        for name, pattern in PATTERNS.items():
            if pattern.search(case.text):
                assert hits is not None and name in hits, (name, case.text)


@pytest.mark.parametrize("examples", [pytest.param(40, id="fast"),
                                      pytest.param(400, id="robust", marks=pytest.mark.robust)])
@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_a_gate_hits_every_text_its_pattern_matches(name, examples):
    pattern = PATTERNS[name]
    written = ungated(*GATED[name]) if name in GATED else pattern  # (from_regex cannot satisfy the leading gate)
    edge = st.sampled_from(["", " ", "\n", "x", "<PERSON> ", "12 ", "-", "é"])

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.builds(lambda a, m, b: a + m + b, edge, st.from_regex(written, fullmatch=True), edge))
    def check(text):
        if pattern.search(text):
            assert prefilter.allows(prefilter.scan(text), name), text

    check()


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(MORE_FRAGMENTS), min_size=1, max_size=14))
def test_no_gate_skips_a_match_in_texts_of_the_patterns_words(parts):
    text = "".join(parts)
    hits = prefilter.scan(text)
    for name, pattern in PATTERNS.items():
        if pattern.search(text):
            assert prefilter.allows(hits, name), (name, text)


def test_a_text_that_is_not_utf8_runs_every_pattern():
    assert prefilter.scan("Tel \udcff 123-45-6789") is None
    assert prefilter.allows(None, "SSN")


def test_the_gates_skip_texts_without_their_shapes():
    assert prefilter.scan("Posting the invoice fails with error 471 in the ledger") == set()
    assert {"SSN", "UK_POSTCODE"} <= prefilter.scan("SSN 123-45-6789, London NW1 6XE")


def test_the_redactor_gives_the_same_output_with_the_prefilter_and_without(monkeypatch):
    texts = [c.text for c in load_cases()] + ["Ship to 14 Baker Street, London NW1 6XE or Hauptstraße 12, 80331 München",
                                               "login a.obrien / BCARTWRIGHT3, SSN 078-05-1120, BSN 1112.22.333"]
    r = Redactor(["Ann Example"], first_names=["Siobhan"], last_names=["Cartwright", "Obrien"])
    with_it = r.redact_many(texts)
    monkeypatch.setattr(prefilter, "enabled", False)
    assert prefilter.scan(texts[0]) is None
    assert r.redact_many(texts) == with_it
