"""A gazetteer of first names, so that people mentioned in free text are redacted
("Called Sophie, no answer", "escalated to Dev Ramsay") even when they are not authors.

The names come from Faker's person providers (many locales, MIT licence). A name that is
also a plain word of the corpus being ingested ("Will", "May", "Can") is ambiguous: it is
dropped from the gazetteer by ``drop_ambiguous``, decided on the data itself.
"""

from __future__ import annotations

import importlib
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache

LOCALES = ("en_GB", "en_US", "en_IE", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL",
           "pt_BR", "sv_SE", "da_DK", "no_NO", "fi_FI", "cs_CZ")
# First names that are far more often product, place, month or plain words in ERP support text.
NOT_NAMES = frozenset("""
crystal hana chase mar sep sept del india georgia virginia carolina sydney florence austin chelsea devon
kent jordan nova earl faith hunter mason carter amber jade angel misty sandy penny ray gene iris ivy holly
dale glen dean jan feb apr jun jul aug oct nov dec mon tue wed thu fri sat sun august june april
""".split())
_NAME = re.compile(r"[A-Z][a-zà-ÿ'-]{2,}")
_WORD = re.compile(r"(?<![\w@./-])[A-Za-z][a-z'-]{2,}(?![\w@/-]|\.\w)")


@cache
def first_names() -> frozenset[str]:
    """First names of the locales above, in their capitalised form, three letters or more."""
    from casebase.ingest.redact.rules import COMMON_WORDS

    names: set[str] = set()
    for locale in LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            values = getattr(provider, attr, ())
            names.update(values.keys() if isinstance(values, dict) else values)
    return frozenset(n for n in names if _NAME.fullmatch(n) and n.lower() not in COMMON_WORDS
                     and n.lower() not in NOT_NAMES)


def drop_ambiguous(names: Iterable[str], texts: Iterable[str], min_count: int = 3,
                   share: float = 0.25) -> frozenset[str]:
    """The names that are not plain words of ``texts``: a name is dropped when its lower-case
    form occurs at least ``min_count`` times and at least ``share`` times as often as the
    capitalised form ("will" vs "Will"), outside e-mail addresses, paths and code names."""
    names = set(names)
    lowered = {n.lower() for n in names}
    lower: Counter = Counter()
    upper: Counter = Counter()
    for text in texts:
        for w in _WORD.findall(text):
            if w in names:
                upper[w] += 1
            elif w in lowered:
                lower[w] += 1
    return frozenset(n for n in names
                     if not (lower[n.lower()] >= min_count and lower[n.lower()] >= share * upper[n]))
