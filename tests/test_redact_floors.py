"""Floors on the labelled redaction set (tests/data/pii, scored by bench/redact_eval.py) for the redactor
that ingest and serve use, the scorer's own checks, and checks of the labelled data itself.

The full table, against the baseline redactor of commit 2b8075a: `.venv/bin/python bench/redact.py`.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from redact_eval import LANGS, TYPES, Case, batch_redact, describe_data, load_cases, score  # noqa: E402

RECALL_FLOOR = 0.98
TYPE_RECALL_FLOOR = 0.95
TECHNICAL_KEPT_FLOOR = 0.99


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases(seed=0)


@pytest.fixture(scope="module")
def result(cases) -> dict:
    from casebase.ingest.redact import build_redactor

    r = build_redactor(names=(), corpus=[c.text for c in cases], key=b"bench", config=None)
    return score(batch_redact(r), cases, batch=True)


def _show(items: list[dict], n: int = 15) -> str:
    return "\n".join(f"  {m.get('type') or m.get('category')}/{m['lang']} {m['value']!r}: {m['output']!r}"
                     for m in items[:n])


# -- floors (the redactor) ----------------------------------------------------------------------------------

def test_overall_recall_floor(result):
    assert result["recall"] >= RECALL_FLOOR, f"recall {result['recall']}; misses:\n{_show(result['misses'])}"


@pytest.mark.parametrize("typ", TYPES)
def test_recall_floor_per_type(result, typ):
    misses = [m for m in result["misses"] if m["type"] == typ]
    assert result["recall_by_type"][typ] >= TYPE_RECALL_FLOOR, \
        f"{typ} recall {result['recall_by_type'][typ]}; misses:\n{_show(misses)}"


def test_technical_kept_floor(result):
    assert result["technical_kept_rate"] >= TECHNICAL_KEPT_FLOOR, \
        f"technical kept {result['technical_kept_rate']}; lost:\n{_show(result['technical_lost'])}"


# -- the scorer can fail -----------------------------------------------------------------------------------

def test_identity_leaks_everything_and_keeps_all_technical_strings(cases):
    r = score(lambda t: t, cases)
    assert r["recall"] == 0.0 and r["leaked"] == r["planted"] > 1000
    assert all(v == 0.0 for v in r["recall_by_type"].values())
    assert r["technical_kept_rate"] == 1.0


def test_blanking_everything_keeps_no_technical_string(cases):
    r = score(lambda t: ("", Counter()), cases)
    assert r["recall"] == 1.0 and r["technical_kept"] == 0 and r["technical"] > 1000
    assert r["technical_kept_rate"] == 0.0


def test_a_surname_left_behind_is_a_leak():
    case = Case("de", "PERSON", "Bitte Jan Müller im Lager fragen.", [("PERSON", "Jan Müller")], [],
                fixed="Bitte   im Lager fragen.")
    leak = score(lambda t: "Bitte <PERSON> Müller im Lager fragen.", [case])
    assert leak["recall"] == 0.0 and leak["misses"][0]["leaked_tokens"] == ["müller"]
    assert score(lambda t: "Bitte <PERSON> MÜLLER im Lager fragen.", [case])["recall"] == 0.0  # case-insensitive
    assert score(lambda t: "Bitte <PERSON> im Lager fragen.", [case])["recall"] == 1.0


def test_tokens_of_the_fixed_text_and_one_letter_tokens_do_not_count():
    case = Case("en", "PERSON", "Ask Jan's colleague Jan O'Brien", [("PERSON", "Jan O'Brien")], [],
                fixed="Ask Jan's colleague  ")
    assert score(lambda t: "Ask Jan's colleague Jan O'<PERSON>", [case])["recall"] == 1.0
    assert score(lambda t: "Ask Jan's colleague <PERSON> Brien", [case])["recall"] == 0.0


def test_a_technical_string_must_survive_verbatim():
    case = Case("en", "TECHNICAL", "Since the upgrade we get ORA-00942.", [], ["ORA-00942"],
                fixed="Since the upgrade we get  .", tech_category=["errcode"])
    assert score(lambda t: t, [case])["technical_kept_rate"] == 1.0
    assert score(lambda t: t.replace("00942", "<PHONE>"), [case])["technical_kept_rate"] == 0.0
    assert score(lambda t: t.replace("ORA-00942", "ora-00942"), [case])["technical_kept_rate"] == 0.0


def test_batch_and_single_calls_agree(cases):
    some = cases[::50]
    assert score(lambda texts: [t.upper() for t in texts], some, batch=True) == score(str.upper, some)


# -- the labelled data ---------------------------------------------------------------------------------------

def test_expansion_is_deterministic_and_seeded(cases):
    again = load_cases(seed=0)
    assert [c.text for c in again] == [c.text for c in cases]
    assert [c.text for c in load_cases(seed=1)] != [c.text for c in cases]
    for c in cases:
        assert all(v in c.text for _, v in c.planted) and all(s in c.text for s in c.technical)


def test_enough_templates_values_and_cases(cases):
    d = describe_data(cases)
    for typ in TYPES:
        for lang in ("en", "de", "fr"):
            assert d["templates"][typ][lang] >= 15, (typ, lang)
        assert all(d["templates"][typ][lang] >= 3 for lang in LANGS), typ
    assert d["distinct_values_total"] >= 150
    assert d["technical_strings_total"] >= 100


def test_identifiers_pass_or_fail_their_checksums_as_labelled():
    import tomllib

    from stdnum import iban, luhn
    from stdnum.de import idnr
    from stdnum.es import dni
    from stdnum.fr import nir
    from stdnum.it import codicefiscale
    from stdnum.nl import bsn
    from stdnum.us import ssn

    v = tomllib.loads((REPO / "tests" / "data" / "pii" / "values.toml").read_text(encoding="utf-8"))
    for lang in v["IBAN"]["valid"]:
        assert all(iban.is_valid(x) for x in v["IBAN"]["valid"][lang]), lang
        assert not any(iban.is_valid(x) for x in v["IBAN"]["bad"][lang]), lang
    assert all(luhn.is_valid(re.sub(r"[ -]", "", x)) for x in v["CARD"]["any"])
    ids = v["NATIONAL_ID"]
    for name, module in (("ssn", ssn), ("steuerid", idnr), ("nir", nir), ("bsn", bsn)):
        assert all(module.is_valid(x) for x in ids[name]), name
        assert not any(module.is_valid(x) for x in ids[f"{name}_bad"]), name
    assert all(dni.is_valid(x) for x in ids["dni"]) and all(codicefiscale.is_valid(x) for x in ids["cf"])
    nino = re.compile(r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d\d ?\d\d ?\d\d ?[A-D]")
    assert all(nino.fullmatch(x) for x in ids["nino"]) and not any(nino.fullmatch(x) for x in ids["nino_bad"])
