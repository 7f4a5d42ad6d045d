"""Properties of cleaning, redaction, the readers and ingest, checked on generated input (hypothesis):
any text in, never an exception; counts that balance; placeholders that are well formed.

    .venv/bin/python -m pytest -q tests/test_properties.py               # the fast subset (the normal suite)
    .venv/bin/python -m pytest -q -m robust tests/test_properties.py     # the full runs (make test-robust, CI)
    CASEBASE_FUZZ_RANDOM=1 .venv/bin/python -m pytest -q -m robust tests/test_properties.py  # new examples

Each property runs twice: a few examples in the normal suite, many under ``-m robust``. The examples are
the same at every run (``derandomize``, no example database), so CI is reproducible; a bug a property
found stays pinned by a plain regression test below it. Known problems of code another change is
fixing are listed in one place (readers and ingest, now empty), each with an xfail(strict) test that shows it.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban

from casebase.errors import CasebaseError
from casebase.ingest.clean import clean_text, fix_encoding, html_to_text, normalise_whitespace
from casebase.ingest.redact import PLACEHOLDERS, RedactConfig, Redactor, build_redactor, luhn_ok
from casebase.ingest.redact.phones import DEFAULT_REGIONS

DATA = Path(__file__).parent / "data"

BASE = settings(deadline=None, database=None, derandomize=not os.environ.get("CASEBASE_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def fast_and_robust(*strategies, fast: int, robust: int):
    """Two tests of one property: ``fast`` examples in the normal suite, ``robust`` under ``-m robust``."""
    def make(prop):
        fast_test = settings(BASE, max_examples=fast)(given(*strategies)(prop))
        robust_test = pytest.mark.robust(settings(BASE, max_examples=robust)(given(*strategies)(prop)))
        return fast_test, robust_test
    return make


# --- strategies -------------------------------------------------------------------------------

ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))  # lone surrogates reach us through JSON
ANY_TEXT = st.text(ANY_CHAR, max_size=60)
NOISE = st.sampled_from([
    "<p>", "</p>", "<br>", "<div>", "</div>", "<pre>", "</pre>", "<code>", "</code>", "<li>", "<td>", "</td>",
    "<script>x()</script>", "<span style='a'>", "[b]", "[/b]", "[quote]", "[/quote]", "[url=http://x]", "[/url]",
    "&amp;", "&nbsp;", "&#39;", "&lt;p&gt;", "&#0;", "&#1;", "&#13;", "&#x7f;", "&#8203;", "&#x85;", "&bogus;",
    "\x00", "\x001\x00", "\x01", "\x1b[31m", "\x7f", "\x0b", "\x0c", "\x85", "\u2028", "\r\n", "\r", "\n", "\n\n\n",
    "\t", " ", "   ", "\u00a0", "\u200b", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u202e", "\u2066", "\ud800",
    "\udc00x", "\ud83d\ude00", "Ã©", "â€™", "Ã¼ber", "Hi Tom,\n", "Dear Support,\n", "Kind regards,\nSarah",
    "-- \n", "> quoted\n", "On Mon, 3 Jun 2024 Tom wrote:", "-----Original Message-----", "From: a\nSent: b\n",
    "Message was edited by: bob", "Sent from my iPhone", "DESCRIPTION: ", "CONFIDENTIALITY NOTICE", "![img](x.png)",
    "[![a](b)](c)", "VKM3", "BTE 01000821", "C:\\Users\\x", "/usr/sap/trans", "x" * 500, "é" * 300,
])
NOISY_TEXT = st.lists(st.one_of(NOISE, ANY_TEXT), max_size=14).map("".join)
LONG_TOKEN = st.tuples(st.sampled_from(["a", "A1", "é", "-", "0", "<", "&", "x.", "@"]),
                       st.integers(1_000, 20_000)).map(lambda t: t[0] * t[1])

# plain content: support words, codes with digits, words in scripts without capitals; no greeting,
# closing, cue or context word (those change what a rule does, on purpose)
VOCAB = ("posting fails after upgrade restarted server log shows again works stock value report runs "
         "nightly job printer queue layout reset transport went screen freezes when saving").split()
WORD = st.one_of(st.sampled_from(VOCAB), st.from_regex(r"[a-z]{2,6}[0-9]{1,3}", fullmatch=True),
                 st.text(st.characters(categories=["Lo"]), min_size=1, max_size=6))
SEPARATOR = st.sampled_from([" ", " ", " ", ", ", ". ", "\n", "\n\n", " - "])


@st.composite
def joined(draw, parts, min_size: int = 0, max_size: int = 12) -> str:
    items = draw(st.lists(parts, min_size=min_size, max_size=max_size))
    out = ""
    for i, item in enumerate(items):
        out += (draw(SEPARATOR) if i else "") + item
    return out


CONTENT = joined(WORD)


@cache
def technical() -> dict:
    return tomllib.loads((DATA / "pii" / "technical.toml").read_text(encoding="utf-8"))


@cache
def technical_strings() -> list[str]:
    """The precision set's technical strings (tests/data/pii/technical.toml) that hold in any context:
    product and site names need the sentence around them, and dates are personal after a DOB cue."""
    return sorted({s for cat, values in technical()["strings"].items() if cat not in ("product", "site", "date")
                   for s in values} | {"VKM3", "VKM1", "BTE 01000821", "SQL0911N", "/usr/sap/trans/log",
                                       "C:\\Program Files\\SAP"})


@cache
def redactor(ner: bool = False):
    """The ingest redactor with two known people and the corpus of a desk (the precision set's
    sentences with their technical strings, the vocabulary below): the lexicon learns its plain words
    from the corpus, as ingest does from the export ("server" is a word there, not the name Server)."""
    corpus = [" ".join(VOCAB)] * 3
    for templates in technical()["templates"].values():
        for cat, sentences in templates.items():
            for sentence in sentences:
                corpus += [sentence.replace(f"{{TECH.{cat}}}", v) for v in technical()["strings"][cat]]
    return build_redactor(names=["Sarah Smith", "Tom Baker"], corpus=corpus, config=RedactConfig(ner=ner))


TECHNICAL = st.deferred(lambda: st.sampled_from(technical_strings()))

# placeholders, placeholder-like tokens, cue words and PII-shaped fragments: what a second pass meets
PII_FRAGMENT = st.sampled_from([
    *[f"<{k}>" for k in PLACEHOLDERS], "<", ">", "<PERSON", "PERSON>", "<Phone>", "</Phone>", "<b>",
    "Hi", "Dear", "Mr", "Mrs", "Herr", "Madame", "Regards,\n", "Thanks", "Bonjour", "our accountant", "cc", "de", "van",
    "Sarah", "Smith", "Tom Baker", "Müller", "Jordan", "Patel", "O'Connell", "Dubois", "Ananya Iyer", "Mei Ling Tan",
    "a.obrien", "HMUELLER", "user", "login:", "password:", "pwd=", "IBAN", "DOB", "born", "tel", "phone", "ref",
    "+44 7700 900123", "020 7946 0018", "06 12 34 56 78", "555-123-4567", "sarah@example.com",
    "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "4111 1111 1111 1111", "123-45-6789", "AB123456C",
    "192.168.1.20", "15.7.0.80", "2a01:4f8:c17:1a5::2", "14 Baker Street", "London NW1 6XE", "Hauptstraße 12",
    "80331 München", "15 rue de la Paix", "75002 Paris", "Springfield, IL 62704", "01.02.1980", "12 March 1975",
    "03.04.2024", "VKM3", "BTE 01000821", "SQL0911N", "v29.1", "12345", "4500012345", ",", ".", ":", "-", "'s",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghij",
])
PII_TEXT = joined(st.one_of(PII_FRAGMENT, PII_FRAGMENT, WORD, st.text(ANY_CHAR, max_size=8)), max_size=20)
WILD_TEXT = st.lists(st.one_of(PII_FRAGMENT, PII_FRAGMENT, st.text(ANY_CHAR, max_size=8)), max_size=20).map("".join)


# planted personal data: valid by construction, written the ways people write them

@st.composite
def emails(draw) -> str:
    local = draw(st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,18}[a-z0-9])?", fullmatch=True))
    labels = draw(st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3))
    tld = draw(st.from_regex(r"[a-z]{2,6}", fullmatch=True))
    return f"{local}@{'.'.join(labels)}.{tld}"


# BBAN shapes (n: digit, a: capital, c: either) of countries without a national check digit in stdnum
IBAN_FORMATS = {"DE": "n" * 18, "GB": "aaaa" + "n" * 14, "AT": "n" * 16, "CH": "nnnnn" + "c" * 12,
                "NL": "aaaa" + "n" * 10, "FR": "n" * 10 + "c" * 11 + "nn", "IE": "aaaa" + "n" * 14,
                "LU": "nnn" + "c" * 13, "IT": "a" + "n" * 10 + "c" * 12}
_CLASS = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


@st.composite
def ibans(draw) -> str:
    country = draw(st.sampled_from(sorted(IBAN_FORMATS)))
    bban = "".join(draw(st.sampled_from(_CLASS[c])) for c in IBAN_FORMATS[country])
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    iban = f"{country}{check:02d}{bban}"
    assert stdnum_iban.is_valid(iban), iban
    return draw(st.sampled_from([iban, stdnum_iban.format(iban)]))


@st.composite
def cards(draw) -> str:
    body = draw(st.sampled_from("45")) + "".join(draw(st.sampled_from("0123456789")) for _ in range(14))
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    number = body + check
    return draw(st.sampled_from([number, " ".join(number[i:i + 4] for i in range(0, 16, 4))]))


_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
_FORMATS = (phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def phones(draw) -> str:
    """A valid number of a random region (its example number with new last digits), in international
    format; in national format too for the regions the redactor is told about. Fewer than eight digits
    are never taken for a phone number (by design: they are document numbers far more often)."""
    national = draw(st.booleans())
    regions = DEFAULT_REGIONS if national else sorted(phonenumbers.SUPPORTED_REGIONS)
    region = draw(st.sampled_from(regions))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(_TYPES)))
    if example is None:
        example = phonenumbers.example_number(region)
    digits = str(example.national_number)
    k = min(4, len(digits) - 2)
    new = digits[:-k] + "".join(draw(st.sampled_from("0123456789")) for _ in range(k))
    number = phonenumbers.parse("+" + str(example.country_code) + new)
    if not phonenumbers.is_valid_number(number):
        number = example
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if national else draw(st.sampled_from(_FORMATS))
    text = phonenumbers.format_number(number, fmt)
    assume(sum(c.isdigit() for c in text) >= 8)
    return text


# --- cleaning ---------------------------------------------------------------------------------

_NOT_IN_CLEAN = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\r\u200b\u200c\u200d\u2060\ufeff\u00ad\ud800-\udfff]")


def _clean_is_total(text):
    """Any text: no exception; no control character, carriage return, zero-width character or lone
    surrogate left (fix_encoding and normalise_whitespace drop them); ends stripped, runs of blanks and
    blank lines collapsed."""
    out = clean_text(text)
    assert isinstance(out, str)
    assert not _NOT_IN_CLEAN.search(out), (text, out)
    assert out == out.strip()
    assert "\n\n\n" not in out and not re.search(r"\S(?: {2}|\t)|[ \t]\n", out)


test_clean_is_total, test_clean_is_total_robust = fast_and_robust(
    st.one_of(NOISY_TEXT, ANY_TEXT, LONG_TOKEN), fast=150, robust=2000)(_clean_is_total)


def _clean_steps_are_idempotent(text):
    """The steps that only normalise can be applied twice: encoding repair, white space."""
    once = fix_encoding(text)
    assert fix_encoding(once) == once
    once = normalise_whitespace(text)
    assert normalise_whitespace(once) == once


test_clean_steps_are_idempotent, test_clean_steps_are_idempotent_robust = fast_and_robust(
    NOISY_TEXT, fast=100, robust=1500)(_clean_steps_are_idempotent)


def _clean_keeps_content(words, technical):
    """Text without noise comes out as it went in (white space normalised, Unicode in NFC; ftfy also folds
    half-width and full-width forms and ligatures on purpose, so the two sides are compared in NFKC), technical
    strings intact, so cleaning twice changes nothing. (Noise is removed a layer at a time, one greeting, one signature, and ftfy's repair looks
    at the whole text, so ``clean_text`` is not idempotent on noisy input and does not claim to be.)"""
    text = " ".join(words[:1] + [technical] + words[1:])
    once = clean_text(text)
    expected = unicodedata.normalize("NFC", normalise_whitespace(text))
    assert unicodedata.normalize("NFKC", once) == unicodedata.normalize("NFKC", expected), (text, once)
    assert technical in once, (text, once)
    assert clean_text(once) == once, (text, once)


test_clean_keeps_content, test_clean_keeps_content_robust = fast_and_robust(
    st.lists(CONTENT, max_size=3), TECHNICAL, fast=60, robust=800)(_clean_keeps_content)


def test_clean_folds_character_width_as_ftfy_does():
    # found on a fresh clone by test_clean_keeps_content_robust: half-width katakana become full-width
    assert clean_text("ｦ -312,50 €") == "ヲ -312,50 €"


def test_nul_characters_in_html_are_no_stash_markers():
    # found by test_clean_is_total: html_to_text marks <pre> blocks as "\x00<n>\x00"; a NUL-digit-NUL in
    # the message itself was taken for a marker (IndexError, or another block's text pasted in)
    assert clean_text("<p>a</p><p>b\x005\x00</p>") == "a\n\nb5"
    assert clean_text("<p>x</p><pre>CODE</pre><p>\x000\x00</p>") == "x\n\nCODE\n\n0"
    assert "\x00" not in html_to_text("<p>a</p><br>\x00 b")


def test_control_characters_go_from_ascii_text_too():
    # found by test_clean_is_total: fix_encoding skipped ftfy for ASCII text, so control characters and
    # terminal escapes stayed in ASCII messages and went from the others
    assert clean_text("Error\x00 in\x01 step \x1b[31mred\x1b[0m\x7f") == "Error in step red"
    assert clean_text("Fehler\x00 in\x01 Schritt für \x1b[31mrot\x1b[0m") == "Fehler in Schritt für rot"


# --- redaction --------------------------------------------------------------------------------

_TOKEN = re.compile(r"<[A-Z_]+>")
_KNOWN = [f"<{k}>" for k in PLACEHOLDERS]


def _placeholders(text: str) -> Counter:
    return Counter({k: text.count(f"<{k}>") for k in PLACEHOLDERS})


def _stray(text: str) -> int:
    for p in _KNOWN:
        text = text.replace(p, "")
    return text.count("<") + text.count(">")


def check_redaction(text: str, out: str, counts: Counter) -> None:
    """What any redaction must give: the counts of known types only, equal to the placeholders it
    added (none of the input's taken away); no other <...> token and no other angle bracket added."""
    assert set(counts) <= set(PLACEHOLDERS) and all(v > 0 for v in counts.values()), (text, out, counts)
    added = _placeholders(out)
    added.subtract(_placeholders(text))
    assert +added == counts, (text, out, counts)
    new_tokens = Counter(_TOKEN.findall(out)) - Counter(_TOKEN.findall(text))
    assert set(new_tokens) <= set(_KNOWN), (text, out)
    assert _stray(out) <= _stray(text), (text, out)


def _redact_is_total(text):
    """Any text: no exception, well-formed placeholders, counts that match them."""
    out, counts = redactor().redact(text)
    check_redaction(text, out, counts)


test_redact_is_total, test_redact_is_total_robust = fast_and_robust(
    st.one_of(WILD_TEXT, PII_TEXT, NOISY_TEXT, LONG_TOKEN), fast=150, robust=2000)(_redact_is_total)


def _redact_many_is_redact(texts):
    """Batched redaction gives what one text at a time gives."""
    r = redactor()
    assert r.redact_many(texts) == [r.redact(t) for t in texts]


test_redact_many_is_redact, test_redact_many_is_redact_robust = fast_and_robust(
    st.lists(PII_TEXT, max_size=5), fast=30, robust=300)(_redact_many_is_redact)


def _redacting_twice_adds_nothing(text):
    """Redacted text redacted again stays as it is (serve redacts replies that quote the case base):
    a placeholder is no cue word, a spent cue takes no second value, a placeholder is never re-redacted."""
    r = redactor()
    once, _ = r.redact(text)
    twice, counts = r.redact(once)
    assert (twice, +counts) == (once, Counter()), (text, once, twice)


test_redacting_twice_adds_nothing, test_redacting_twice_adds_nothing_robust = fast_and_robust(
    PII_TEXT, fast=150, robust=2500)(_redacting_twice_adds_nothing)


def _redacting_twice_keeps_placeholders(text):
    """Glued text ("Paix75002 Paris") may read differently once a neighbour is a placeholder, but a
    second pass never breaks or re-redacts a placeholder of the first."""
    r = redactor()
    once, _ = r.redact(text)
    twice, counts = r.redact(once)
    check_redaction(once, twice, counts)
    kept = _placeholders(twice)
    kept.subtract(_placeholders(once))
    assert all(v >= 0 for v in kept.values()), (text, once, twice)


test_redacting_twice_keeps_placeholders, test_redacting_twice_keeps_placeholders_robust = fast_and_robust(
    WILD_TEXT, fast=100, robust=1500)(_redacting_twice_keeps_placeholders)


def _planted_pii_is_removed(before, kind_value, after, wrap):
    """An e-mail address, IBAN, card or phone number in any plain text is redacted as its type."""
    kind, value = kind_value
    text = f"{before} {wrap[0]}{value}{wrap[1]} {after}"
    out, counts = redactor().redact(text)
    check_redaction(text, out, counts)
    squeezed = re.sub(r"[\s().+-]", "", out)
    assert re.sub(r"[\s().+-]", "", value) not in squeezed, (text, out)
    if kind != "PHONE":  # a national number may be taken by the address or id layer too: it is gone all the same
        assert counts[kind] >= 1, (text, out, counts)


PLANTED = st.one_of(emails().map(lambda v: ("EMAIL", v)), ibans().map(lambda v: ("IBAN", v)),
                    cards().map(lambda v: ("CARD", v)), phones().map(lambda v: ("PHONE", v)))
WRAP = st.sampled_from([("", ""), ("(", ")"), ('"', '"'), ("", "."), ("", ","), ("[", "]"), ("", "\n")])

test_planted_pii_is_removed, test_planted_pii_is_removed_robust = fast_and_robust(
    CONTENT, PLANTED, CONTENT, WRAP, fast=100, robust=1500)(_planted_pii_is_removed)


def _technical_strings_are_kept(before, technical, after):
    """Error codes, transaction codes, versions, notes, ports, GUIDs, tables, document numbers and
    amounts in plain text stay exactly as they are."""
    text = f"{before} {technical} {after}"
    out, counts = redactor().redact(text)
    assert technical in out and not +counts, (text, out, counts)


test_technical_strings_are_kept, test_technical_strings_are_kept_robust = fast_and_robust(
    CONTENT, TECHNICAL, CONTENT, fast=60, robust=800)(_technical_strings_are_kept)


def _technical_strings_beside_redactions_are_kept(technical, planted):
    """A technical string right after a redacted value keeps its meaning: "<PHONE> for BTE 01000821"
    (the placeholder read as the word "phone" made it a phone number)."""
    kind, value = planted
    text = f"Call {value} for {technical} please"
    out, _ = redactor().redact(text)
    assert technical in out, (text, out)


test_technical_strings_beside_redactions_are_kept, test_technical_strings_beside_redactions_are_kept_robust = \
    fast_and_robust(TECHNICAL, PLANTED, fast=40, robust=500)(_technical_strings_beside_redactions_are_kept)


# runs of capitalised words that no gazetteer knows: what the named-entity pass is asked about
NAME_TEXT = joined(st.one_of(st.from_regex(r"[A-Z][a-zäöüéèñ]{2,9}", fullmatch=True), PII_FRAGMENT, WORD), max_size=14)


def _redact_with_ner_is_total(texts):
    """With the named-entity pass: no exception, well-formed placeholders, batch = one at a time."""
    try:
        r = redactor(ner=True)
    except CasebaseError as err:  # the pinned model is not installed (make setup installs it)
        pytest.skip(str(err))
    done = r.redact_many(texts)
    for text, (out, counts) in zip(texts, done):
        check_redaction(text, out, counts)
    assert done == [r.redact(t) for t in texts]


test_redact_with_ner_is_total, test_redact_with_ner_is_total_robust = fast_and_robust(
    st.lists(st.one_of(NAME_TEXT, PII_TEXT, NOISY_TEXT), max_size=4), fast=10, robust=150)(_redact_with_ner_is_total)


@pytest.mark.parametrize("text, expected", [
    # a placeholder is no cue word: "<PHONE>" made the error code after it a phone number, "<IBAN>" a
    # document number an id, "<DOB>" a date a birth date
    ("See +44 7700 900123 for BTE 01000821", "See <PHONE> for BTE 01000821"),
    ("<PHONE> for BTE 01000821", "<PHONE> for BTE 01000821"),
    ("<IBAN> ref 12345678 failed", "<IBAN> ref 12345678 failed"),
    ("<DOB>, opened 03.04.2024", "<DOB>, opened 03.04.2024"),
    ("<IP> and 15.7.0.80", "<IP> and 15.7.0.80"),
    ("host <IP> then 13.1.2.3", "host <IP> then <IP>"),  # (the cue before it still counts)
    ("ping 13.1.2.3 now", "ping <IP> now"),
    ("connect to server 12.1.2.3", "connect to server <IP>"),
    # a spent cue takes no second value
    ("IBAN GB82 WEST 1234 5698 7654 32 ref 12345678", "IBAN <IBAN> ref 12345678"),
    ("DOB 01.02.1980, opened 03.04.2024", "DOB <DOB>, opened 03.04.2024"),
    ("phone +44 7700 900123 BTE 01000821", "phone <PHONE> BTE 01000821"),
    ("password abc123! xyz987?", "password <SECRET> xyz987?"),
    # the cue words themselves still work, in XML too
    ("<Phone>0612345678</Phone>", "<Phone><PHONE></Phone>"),
    ("Die Steuer-ID des Mitarbeiters ist 70251064387", "Die Steuer-ID des Mitarbeiters ist <NATIONAL_ID>"),
])
def test_placeholders_are_no_cue_words(text, expected):
    # found by test_redacting_twice_adds_nothing and test_technical_strings_beside_redactions_are_kept
    _assert_redacts_once_to(text, expected)


def _assert_redacts_once_to(text: str, expected: str) -> None:
    """One pass gives ``expected``, and a second pass changes nothing."""
    r = redactor()
    out, _ = r.redact(text)
    assert out == expected
    assert r.redact(out)[0] == out


@pytest.mark.parametrize("text, expected", [
    # a value that swallowed a placeholder was counted as a new one: "<SECRET>" went, one SECRET counted
    ("password: ><SECRET>", "password: ><SECRET>"),
    ("password: x<EMAIL>", "password: x<EMAIL>"),
    # a placeholder the text had already was counted as a zero, or less
    ("<ADDRESS> 12.1.2.3", "<ADDRESS> 12.1.2.3"),
    ("<ADDRESS>, 14 Baker Street", "<ADDRESS>"),
    ("<ADDRESS>, <ADDRESS>, <ADDRESS> and 15 rue de la Paix", "<ADDRESS> and <ADDRESS>"),
])
def test_a_placeholder_is_never_redacted_again(text, expected):
    # found by test_redact_is_total
    out, counts = redactor().redact(text)
    assert (out, dict(counts)) == (expected, {})


@pytest.mark.parametrize("text, expected", [
    # a known surname beside a name-like word was missed when a name followed ("Bonjour Sarah" taken first)
    ("x Dubois Bonjour Sarah", "x <PERSON> <PERSON>"),
    # first names before a redacted surname: one per pass
    ("Jordan Jordan <PERSON> x", "<PERSON> x"),
    # overlapping spans of one type are one: the town between two addresses left "IL 62704"
    ("at 75002 Paris Springfield, IL 62704 today", "at <ADDRESS> today"),
    # a look-alike its check rejects ("0018 4111 1111 1111", no Luhn) hid the card starting inside it
    ("020 7946 0018 4111 1111 1111 1111", "<PHONE> <CARD>"),
])
def test_what_a_second_pass_found_is_found_by_the_first(text, expected):
    # found by test_redacting_twice_adds_nothing
    _assert_redacts_once_to(text, expected)


def test_a_rejected_cued_value_holds_no_cue():
    # the card fix holds for shapes only: a cue's rejected value is still its value. "Constant.Username" is
    # code, not the login after "Username", and its own "Username" is no cue for "dsa.Password" (a
    # forum-support docusign-dotnet post; searching on inside the rejected value redacted it)
    text = "dsa.Username = Constant.Username\ndsa.Password = Constant.Password"
    assert Redactor().redact(text) == (text, Counter())


def test_pseudonym_of_a_name_with_a_lone_surrogate():
    # found by test_ingest_balances: an author "Ana \\udc00" in a JSON export crashed ingest (UnicodeEncodeError)
    r = redactor()
    assert r.pseudonym("Ana \udc00") != r.pseudonym("Ana \udc01")
    assert r.pseudonym("Sarah Smith") == r.pseudonym(" sarah  SMITH ")
