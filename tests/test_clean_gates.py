"""The cleaning rules' speed-ups change no output: each gated or rewritten pattern is held to its plain form on
texts hypothesis writes from the pieces that matter (the patterns' words in any case, blanks, line breaks)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from casebase.ingest import clean

INNER_SPACE_AS_WRITTEN = re.compile(r"(?<=\S)[ \t\u00a0\u2007\u202f]+")
BLANKS = [" ", "  ", "\t", "\u00a0", "\u2007", "\u202f", "\n", "a", "b.", "\u3000", "x y"]


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.sampled_from(BLANKS), max_size=12))
def test_inner_space_leaves_single_spaces_alone_and_collapses_the_same_runs(parts):
    text = "".join(parts)
    assert clean._INNER_SPACE.sub(" ", text) == INNER_SPACE_AS_WRITTEN.sub(" ", text), repr(text)


def strip_quoted_ungated(text: str) -> str:
    """clean.strip_quoted as it was before its substring tests: every pattern searched."""
    cut = len(text)
    for pattern in (clean._WROTE, clean._ORIGINAL, clean._WROTE_INLINE):
        m = pattern.search(text)
        if m and m.start() < cut:
            cut = m.start()
    for m in clean._HEADER_FROM.finditer(text, 0, cut):
        if clean._header_keys(text, clean._FROM_KEY.search(text, m.start()).end(), clean._HEADER_KEY_ANY_CASE):
            cut = m.start()
            break
    text = text[:cut]
    return clean._strip_quote_lines(text[: clean._quote_start_intl(text)])


QUOTE_PARTS = ["On Mon, 3 Jan 2026 John ", "On 12/01/2026 ", "wrote:", "WROTE:", "Wrote:", "--", "-", "- ",
               "Original Message", "original message", "Forwarded message", "From:", "FROM:", "from:", "Fröm:",
               "Sent:", "Date:", "Subject:", "To:", "SENT:", "\n", " ", "> ", ">", "text", "Hi Tom,\n", "ſ", "K"]


@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(st.sampled_from(QUOTE_PARTS), min_size=1, max_size=16))
def test_strip_quoted_with_its_substring_tests_cuts_where_every_pattern_would(parts):
    text = "".join(parts)
    assert clean.strip_quoted(text) == strip_quoted_ungated(text), repr(text)


def test_strip_quoted_still_cuts_each_kind():
    assert clean.strip_quoted("Fixed it.\n\nOn Mon, 3 Jan 2026 at 10:00, Tom wrote:\n> old") == "Fixed it.\n"
    assert clean.strip_quoted("Fixed.\n-----Original Message-----\nold") == "Fixed.\n"
    assert clean.strip_quoted("Fixed.\nFROM: Tom\nSENT: Monday\nTO: Ann\nold") == "Fixed.\n"
