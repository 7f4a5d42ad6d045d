"""A cheap language guess per message (function words), enough to pick greetings, titles and
the named-entity model: ``guess("Bitte prüfen Sie die Buchung")`` -> ``"de"``."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

FUNCTION_WORDS = {
    "en": "the and is are was were to of in on for with this that it you we i have has not please thanks can".split(),
    "de": "der die das und ist sind nicht ich wir sie mit auf für bei ein eine den dem des von zu bitte danke "
          "wird wurde haben hat kann auch noch".split(),
    "fr": "le la les et est sont pas je nous vous avec pour sur dans une des du au aux merci ce cette il elle "
          "qui que ne avons avez".split(),
    "nl": "de het een en is zijn niet ik wij we je jij met voor op bij van naar dat dit er ook graag bedankt "
          "heeft hebben kan wordt".split(),
    "es": "el la los las y es son no yo nosotros con para en una un del por que gracias este esta hay".split(),
    "it": "il lo la gli le e è sono non io noi con per su una un del della che grazie questo questa ci".split(),
}
LANGUAGES = tuple(FUNCTION_WORDS)
_WORDS = {lang: frozenset(ws) for lang, ws in FUNCTION_WORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+")


def guess(text: str, languages: Iterable[str] = LANGUAGES, default: str = "en") -> str:
    """The language among ``languages`` whose function words occur most often in ``text``."""
    head = text[:2000]  # ASCII: lower-cased whole, the same tokens (elsewhere "İ" lower-cased is two characters)
    tokens = _TOKEN.findall(head.lower()) if head.isascii() else [t.lower() for t in _TOKEN.findall(head)]
    best, best_n = default, 0
    for lang in languages:
        words = _WORDS.get(lang)
        if words is None:
            continue
        n = sum(map(words.__contains__, tokens))
        if n > best_n:
            best, best_n = lang, n
    return best


def detect(texts: Iterable[str], min_share: float = 0.05, limit: int = 5000) -> list[str]:
    """The languages of a corpus: those guessed for at least ``min_share`` of its texts."""
    counts: Counter = Counter()
    for i, text in enumerate(texts):
        if i >= limit:
            break
        counts[guess(text)] += 1
    total = sum(counts.values()) or 1
    found = [lang for lang, n in counts.most_common() if n / total >= min_share]
    return found or ["en"]
