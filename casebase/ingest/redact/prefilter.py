"""Which of the costly redaction patterns can match a text, found in one pass (Hyperscan).

    can = prefilter.scan(text)      # None: no engine here, every pattern may match
    if can is None or "SSN" in can:
        ...                         # run ids.SSN as before

Python's ``re`` scans a text once per pattern, at about 20 ns a character whatever the pattern; the street,
postcode, checksummed-id and account patterns (18 of them, 17 gates) are most of that, and match in a few texts in a
hundred. Hyperscan (Intel's multi-pattern engine, the ``hyperscan`` package) runs all their gates over a
text in one pass: 8,574 forum-support messages in 0.05 s, against 2.7 s for the same gates one by one in
``re`` (docs/benchmarks.md). A gate only says "this pattern may match here": the pattern itself still decides,
on the same text, so what is redacted does not change.

Each gate is its pattern with every lookaround and ``\\b`` dropped and each repeated part cut to what it must
contain, so it matches wherever its pattern does (tests/test_redact_prefilter.py holds each one to that on
the labelled set and on texts generated from the pattern). Gates use only case-sensitive parts of their
patterns: ``(?i)`` in Python folds "ſ" to "s" and "K" (Kelvin) to "k", which another engine need not do.

The gates' ``\\d`` is ASCII ``[0-9]``: Python's takes every Unicode digit, and Hyperscan's Unicode tables are
older than Python's (they lack U+1E140, a digit to ``re``), so a text with any other digit is not scanned. Where
the package is missing (Linux on ARM has no wheel), or a text holds such a digit or is not valid UTF-8 (a lone
surrogate from a JSON export), ``scan`` returns None and every pattern runs, as before. The database compiles
in about 0.1 s, once a process (ingest compiles it before it forks its workers).
"""

from __future__ import annotations

import re
import threading

from casebase.ingest.redact.address import _DE_NL_GATE

_NAME_START = "[A-ZÀ-ÖØ-Þ]"  # the first letter of address._NAMEWORD
_STREET_TYPES = ("Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Close|Way|Court|Ct|Place|Pl|Square|Sq|Terrace|Crescent"
                 "|Gardens|Grove|Boulevard|Blvd|Parkway|Pkwy|Highway|Hwy|Row|Mews|Walk|Hill|Park|Green|Rise|Vale"
                 "|View|Wharf|Quay|Broadway|Circle|Trail")

# the name of the pattern (in address or ids) -> its gate
GATES: dict[str, str] = {
    # address.py
    "UK_POSTCODE": r"\d[ABD-HJLNP-UW-Z]{2}",  # the inward code ("GIR 0AA" too)
    "EIRCODE": r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}",
    "NL_POSTCODE": rf"[1-9]\d{{3}} ?[A-Z]{{2}},? {_NAME_START}",
    "US_STATE_ZIP": r"[A-Z]{2} \d{5}",
    "ZIP_TOWN": rf"\d{{4}} {_NAME_START}",
    "CUED_ZIP": r"\d{4}|\d[A-Z]{2}",  # its value (the cue words are case-folded: not gated on)
    "STREET_EN": rf"\d[A-Za-z]?,? (?:{_NAME_START}[^ ]* ){{1,3}}(?:{_STREET_TYPES})",
    "STREET_DE_NL": _DE_NL_GATE.pattern,  # a street word, " " and its house number
    "STREET_DE_WORD": _DE_NL_GATE.pattern,
    "STREET_DE_TWO": rf"(?:Am|An der|Auf dem|Im|In der|Zum|Zur|Unter den) {_NAME_START}[^ ]* \d",
    # ids.py: checksummed ids, account names
    "NINO": r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]",
    "SSN": r"\d{3}-\d{2}-\d{4}",
    "NIR": r"\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}",  # its first digits cut: whole, too large to compile
    "IDNR_SPACED": r"\d{2} \d{3} \d{3} \d{3}",
    "BSN_DOTTED": r"\d{4}\.\d{2}\.\d{3}",
    "DOTTED": r"[a-z]\.[a-z]",  # ids._DOTTED: "a.obrien"
    "CAPS": r"[A-Z]{6}",  # ids._CAPS: "BCARTWRIGHT3"
}

_NAMES = tuple(GATES)
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_engine = None  # (hyperscan module, database), compiled on first use in each process
_local = threading.local()  # a Hyperscan scratch space per thread (the server redacts in several)
_lock = threading.Lock()
enabled = True  # tests turn it off to compare with every pattern run


def available() -> bool:
    return _load() is not None


def _load():
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                try:
                    import hyperscan
                except ImportError:
                    _engine = False
                else:
                    db = hyperscan.Database()
                    flags = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_SINGLEMATCH
                    db.compile(expressions=[GATES[n].replace(r"\d", "[0-9]").encode() for n in _NAMES],
                               ids=list(range(len(_NAMES))), flags=[flags] * len(_NAMES))
                    _engine = (hyperscan, db)
    return _engine or None


def scan(text: str) -> set[str] | None:
    """The names of the patterns that may match ``text`` (a gate of each hit), or None: all may."""
    engine = _load() if enabled else None
    if engine is None:
        return None
    if not text.isascii() and _OTHER_DIGIT.search(text):
        return None  # the gates' digits are ASCII: re's \d takes every Unicode digit ("٣", "𝟏")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: Hyperscan needs valid UTF-8
        return None
    hyperscan, db = engine
    scratch = getattr(_local, "scratch", None)
    if scratch is None or getattr(_local, "db", None) is not db:
        scratch = _local.scratch = hyperscan.Scratch(db)
        _local.db = db
    hits: set[str] = set()
    db.scan(data, match_event_handler=lambda i, _f, _t, _fl, _c: hits.add(_NAMES[i]), scratch=scratch)
    return hits


def allows(hits: set[str] | None, name: str) -> bool:
    return hits is None or name in hits
