"""Redaction of personal data, applied before any later stage sees the text.

    r = build_redactor(names=["Sarah Smith"], corpus=texts, key=b"...", config=RedactConfig())
    r.redact("Hi Sarah, call me on +44 7700 900123")  # -> ("Hi <PERSON>, call me on <PHONE>", counts)
    r.redact_many(texts)                               # the same, batched (the named-entity pass pays per batch)
    r.describe()                                       # what ran: layers, languages, gazetteer and model hashes
"""

from casebase.ingest.redact.rules import COMMON_WORDS, PLACEHOLDERS, Redactor, iban_ok, luhn_ok  # noqa: F401
from casebase.ingest.redact.gazetteer import drop_ambiguous, first_names  # noqa: F401


def build_redactor(names=(), corpus=(), key: bytes = b"casebase", config=None) -> Redactor:
    """The redactor ingest and serve use: known ``names`` (authors, contacts), gazetteers less the
    words that ``corpus`` writes in lower case, and the layers ``config`` turns on."""
    return Redactor(names, key=key, first_names=drop_ambiguous(first_names(), corpus))
