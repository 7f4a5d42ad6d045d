"""The redaction layers' speed gates change nothing they find.

Each gated pattern starts with a lookahead for the characters its matches can start with (``rules.can_start``
builds it from the alternation), and a few patterns run only when one of their words is in the text. Both are
only there to let the search skip text fast (ingest's 2,000 messages/s floor, docs/benchmarks.md): here every
gated pattern must find exactly what it finds without its gate, on the labelled redaction set and on texts built
from the patterns' own words, digits and separators.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casebase.ingest.redact import address, ids, people, rules
from casebase.ingest.redact.rules import can_start

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from redact_eval import load_cases  # noqa: E402

# (pattern, its gate: the leading lookahead the ungated pattern does not have)
GATED = {
    "GREETING": (people.GREETING, can_start("|".join(people.GREETINGS))),
    "ROLE": (people.ROLE, can_start(people._ROLES)),
    "TITLE": (people.TITLE, "(?=(?i:[dfhmps])|[DFHIMS])"),
    "CUED_ID": (ids.CUED_ID, can_start(ids.ID_CUES)),
    "DOB": (ids.DOB, can_start(ids.DOB_CUES)),
    "LOGIN": (ids.LOGIN, can_start(ids.LOGIN_CUES)),
    "CARD_CUED": (ids.CARD_CUED, "(?=[cklpt])"),
    "SECRET": (rules._SECRET, can_start(rules._SECRET_NAMES)),
    "STREET_EN": (address.STREET_EN, r"(?=[\dAFRSU])"),
    "STREET_DE_TWO": (address.STREET_DE_TWO, "(?=[AIUZ])"),
    "STREET_FR": (address.STREET_FR, r"(?=\d)"),
    "STREET_ES_IT": (address.STREET_ES_IT, can_start(address._STREET_WORDS_ES_IT)),
    "UK_POSTCODE": (address.UK_POSTCODE, "(?=[A-Z])"),
    "EIRCODE": (address.EIRCODE, "(?=[A-Z])"),
    "NL_POSTCODE": (address.NL_POSTCODE, "(?=[1-9])"),
    "US_STATE_ZIP": (address.US_STATE_ZIP, "(?=[A-Z])"),
    "ZIP_TOWN": (address.ZIP_TOWN, r"(?=[\dABCDFN])"),
}


def ungated(pattern: re.Pattern, gate: str) -> re.Pattern:
    assert gate in pattern.pattern, f"the gate {gate!r} is not in the pattern any more: update GATED"
    return re.compile(pattern.pattern.replace(gate, "", 1), pattern.flags)


def spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)]


def _words() -> list[str]:
    """Every run of letters in the gated patterns, as written, capitalised and in capitals."""
    found = set()
    for pattern, _ in GATED.values():
        found.update(re.findall(r"[^\W\d_]+", pattern.pattern))
    found.update(re.findall(r"[^\W\d_]+", address._DE_NL_GATE.pattern))
    found.update(ids.DOB_AFTER_NEEDLES)
    return sorted({f for w in found for f in (w, w.capitalize(), w.upper())})


FRAGMENTS = _words() + ["12", "80331", "1017", "62704", "05.11.1969", "2024-01-31", "7", " ", " ", ", ", ": ", "\n",
                        "-", ".", "/", "<PERSON>", "<EMAIL>", "Müller", "Paris", "ſ", "K", "İ", "é"]


def test_can_start_lists_the_first_letter_of_each_alternative():
    assert can_start("hi|thanks(?: in advance| again)?|b\\.|D\\.O\\.B") == "(?=[Dbht])"
    with pytest.raises(ValueError, match="does not start with a letter"):
        can_start(r"token|\w*schlüssel")  # \w* can start anywhere: a gate would hide its matches


@pytest.mark.parametrize("name", sorted(GATED))
def test_a_gated_pattern_finds_what_it_finds_ungated_on_the_labelled_set(name):
    pattern, gate = GATED[name]
    plain = ungated(pattern, gate)
    texts = [c.text for c in load_cases()]
    assert [spans(pattern, t) for t in texts] == [spans(plain, t) for t in texts]


def matching_texts(name: str, pattern: re.Pattern):
    """Texts that the ungated pattern matches whole (hypothesis writes them from the regex itself, Unicode
    digits and letters included), with some text before and after."""
    if name == "CUED_ID":  # its value's lookahead is beyond from_regex: a cue from the regex, then a value
        whole = st.builds(lambda cue, sep: cue + sep + "DE 7025 1064 387", st.from_regex(
            re.compile(f"(?i:{ids.ID_CUES})"), fullmatch=True), st.sampled_from([" ", ": ", " is ", " nr. "]))
    else:
        whole = st.from_regex(pattern, fullmatch=True)
    edge = st.sampled_from(["", " ", "\n", "x", "Re: ", "<PERSON> ", "12 ", "-"])
    return st.builds(lambda a, m, b: a + m + b, edge, whole, edge)


@pytest.mark.parametrize("examples", [pytest.param(30, id="fast"),
                                      pytest.param(400, id="robust", marks=pytest.mark.robust)])
@pytest.mark.parametrize("name", sorted(GATED))
def test_a_gated_pattern_finds_what_it_finds_ungated_on_texts_its_regex_matches(name, examples):
    pattern, gate = GATED[name]
    plain = ungated(pattern, gate)

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(matching_texts(name, plain))
    def check(text):
        assert spans(pattern, text) == spans(plain, text), text

    check()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=14))
def test_the_word_gates_never_skip_a_match(parts):
    text = "".join(parts)
    low = text.lower()
    if address.STREET_DE_NL.search(text) or address.STREET_DE_WORD.search(text):
        assert address._DE_NL_GATE.search(text)
    if ids.DOB_AFTER.search(text):
        assert any(n in low for n in ids.DOB_AFTER_NEEDLES)


def test_the_word_gates_on_examples():
    assert list(address.streets("Lieferung an Hauptstraße 12, 80331 München"))
    assert list(address.streets("Kerkstraat 12, 1017 GB Amsterdam"))
    assert list(address.streets("Am Markt 3")) == [(0, 10)]
    assert not list(address.streets("no street here, 12 of them"))
    assert ids.DOB_AFTER.search("05.11.1969 geboren") and "geboren" in ids.DOB_AFTER_NEEDLES


@pytest.mark.parametrize("examples", [pytest.param(40, id="fast"),
                                      pytest.param(400, id="robust", marks=pytest.mark.robust)])
@pytest.mark.parametrize("name", ["GREETING", "ROLE"])
def test_the_ascii_form_on_lower_cased_text_finds_what_the_pattern_finds(name, examples):
    """people.spans searches ASCII text lower-cased with the (?i)-free form of GREETING and ROLE: the same spans."""
    pattern, fast = getattr(people, name), getattr(people, f"{name}_ASCII")
    ascii_text = st.text(st.characters(min_codepoint=9, max_codepoint=126), max_size=6)

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.builds(lambda a, m, b: a + m + b, ascii_text,
                     st.from_regex(ungated(*GATED[name]), fullmatch=True, alphabet=st.characters(codec="ascii")), ascii_text))
    def check(text):
        assert spans(fast, text.lower()) == spans(pattern, text), text

    check()
    for text in ("Hi Anna,\nThanks", "KIND REGARDS\nTom", "Dear Mr Smith", "Contact: Jane", "thank you! It works"):
        assert spans(fast, text.lower()) == spans(pattern, text)
    for word in set(re.findall(r"[a-z]+(?: [a-z]+)*", pattern.pattern)):  # every word of it, in three cases
        for form in (word, word.upper(), word.title()):
            for text in (f"{form} Anna,", f"x {form}\nTom", f"({form}: Jane Doe"):
                assert spans(fast, text.lower()) == spans(pattern, text), text
    with pytest.raises(ValueError, match="upper-case letter"):
        people._ascii_form(re.compile("(?i)(?:Hello|hi)"))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(ids.LOGIN_NEEDLES + ids.SECRET_NEEDLES) + ["x", " ", "ü", "us", "lo"]),
                max_size=6).map("".join))
def test_a_needle_test_is_any_needle_in_the_text(text):
    for needles in (ids.LOGIN_NEEDLES, ids.SECRET_NEEDLES, ids.DOB_AFTER_NEEDLES, ("@",), (".",)):
        assert bool(rules.needle_test(needles)(text)) == any(n in text for n in needles), text


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.one_of(st.from_regex(address.STREET_DE_NL, fullmatch=True),
                 st.from_regex(address.STREET_DE_WORD, fullmatch=True)))
def test_the_street_gate_passes_every_german_and_dutch_street_line(line):
    assert address._DE_NL_GATE.search(line), line


HANDLE_FRAGMENTS = ["andrew", "Andrew", "Andrew83", "andrew_x", "jean-luc", "Jean-luc", "o'neil", "rhaskins2", "'s",
                    "’s", "-", "x", "83", " ", "\n", ".", "@", "/", "_", "é", "Andrews", "ab"]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(HANDLE_FRAGMENTS), min_size=1, max_size=10))
def test_the_handle_pre_check_never_skips_a_text_the_handle_pass_changes(parts):
    """Redactor._may_hold_handle (a set look-up of the text's \\w+ runs) is False only where the handle pass (a
    _HANDLE search of every word) finds nothing: handles with "-" and "'", "Andrew83" for the handle "Andrew"."""
    from casebase.ingest.redact.core import _HANDLE, Redactor

    r = Redactor(["andrew", "jean-luc", "o'neil", "rhaskins2", "ab"])
    text = "".join(parts)
    found = [m for m in _HANDLE.finditer(text) if m.group(0) in r.handles or m.group(0)[:-2] in r.handles]
    if found:
        assert r._may_hold_handle(text), text


CUE_LISTS = {"ID_CUES": (ids.ID_CUES, True), "DOB_CUES": (ids.DOB_CUES, True), "LOGIN_CUES": (ids.LOGIN_CUES, True),
             "GREETINGS": ("|".join(people.GREETINGS), True), "ROLES": (people._ROLES, True),
             "SECRET_NAMES": (rules._SECRET_NAMES, True), "STREET_WORDS_ES_IT": (address._STREET_WORDS_ES_IT, False)}


def test_by_first_letter_groups_the_alternatives_and_refuses_what_it_cannot_keep():
    assert rules.by_first_letter("hi|thanks(?: in advance)?|hello|Hey") == "h(?:i|ello|ey)|thanks(?: in advance)?"
    assert rules.by_first_letter("hi|Hey", ignorecase=False) == "hi|Hey"
    for bad in ("user(name)|login", r"\w+|hi", "s?foo|bar"):
        with pytest.raises(ValueError):
            rules.by_first_letter(bad)


@pytest.mark.parametrize("name", sorted(CUE_LISTS))
def test_a_cue_list_grouped_by_first_letter_matches_what_it_matches_as_written(name):
    """Same spans, grouped and as written, on texts of the list's own words in any case, the labelled set, and
    the letters whose case folding is special (İ, ı, ſ, K)."""
    alternation, ignorecase = CUE_LISTS[name]
    flags = "(?i)" if ignorecase else ""
    plain = re.compile(rf"{flags}(?:{alternation})")
    grouped = re.compile(rf"{flags}(?:{rules.by_first_letter(alternation, ignorecase)})")
    assert grouped.pattern != plain.pattern
    words = sorted({f for w in re.findall(r"[^\W\d_]+", alternation) for f in (w, w.capitalize(), w.upper())})
    parts = words + [" ", ". ", "/", "-", "_", "İ", "ı", "ſ", "K", "é", "1"]

    @settings(max_examples=150, deadline=None, database=None)
    @given(st.lists(st.sampled_from(parts), min_size=1, max_size=8))
    def check(bits):
        text = "".join(bits)
        assert spans(grouped, text) == spans(plain, text), text

    check()
    for text in [c.text for c in load_cases()]:
        assert spans(grouped, text) == spans(plain, text)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.lists(st.sampled_from(["word", "Word", "é", "-", ".", "@", "/", "'", " ", "\n", "ab1", "x.y"]),
                         max_size=6).map("".join), max_size=5))
def test_lowercase_counts_over_joined_texts_count_each_text_as_alone(texts):
    from collections import Counter

    from casebase.ingest.redact import gazetteer

    every = Counter(w for t in texts for w in gazetteer._LOWER_WORD.findall(t))
    lower, upper = gazetteer.lowercase_counts(texts)
    assert lower == Counter({w: n for w, n in every.items() if w.islower()})
    assert upper == Counter({w: n for w, n in every.items() if w[0].isupper()})
