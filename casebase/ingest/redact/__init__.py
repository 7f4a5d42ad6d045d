"""Redaction of personal data, applied before any later stage sees the text.

    r = build_redactor(names=["Sarah Smith"], corpus=texts, key=b"...", config=RedactConfig())
    r.redact("Hi Sarah, call me on +44 7700 900123")  # -> ("Hi <PERSON>, call me on <PHONE>", counts)
    r.redact_many(texts)                               # the same, batched (the named-entity pass pays per batch)
    r.describe()                                       # what ran: layers, languages, gazetteer and model hashes

The layers and their order: ``casebase/ingest/redact/core.py``; how well they work:
``bench/redact.py`` and docs/benchmarks.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from casebase.errors import CasebaseError
from casebase.ingest.redact import gazetteer, ids, lang, people, prefilter
from casebase.ingest.redact.core import Redactor
from casebase.ingest.redact.gazetteer import drop_ambiguous, first_names, last_names, lowercase_counts
from casebase.ingest.redact.people import Lexicon
from casebase.ingest.redact.phones import DEFAULT_REGIONS
from casebase.ingest.redact.rules import COMMON_WORDS, PLACEHOLDERS, iban_ok, luhn_ok

__all__ = ["Redactor", "RedactConfig", "build_redactor", "PLACEHOLDERS", "COMMON_WORDS", "iban_ok", "luhn_ok",
           "drop_ambiguous", "first_names", "last_names"]


class RedactConfig(BaseModel):
    """How ingest and serve redact (recorded in ingest.json; serve reads it back from there). The ``[redact]``
    table of an ingest config file; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    languages: list[str] | None = Field(
        None, description="Languages of the desk's text (en, de, fr, nl, es, it; a list, or comma-separated); "
        "none: guessed from the data.")
    phone_regions: list[str] = Field(
        list(DEFAULT_REGIONS), description="Regions whose national phone formats are recognised (ISO 3166 codes).")
    ner: bool = Field(True, description="Run the named-entity pass on the candidate names the other layers leave.")

    @field_validator("languages", "phone_regions", mode="before")
    @classmethod
    def _comma_list(cls, v):  # --languages en,de and languages = "en,de" in a config file
        return [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else v

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, v):
        if v is None:
            return v
        bad = [x for x in v if x not in lang.LANGUAGES]
        if bad or not v:
            raise ValueError(f"languages {bad or v}: choose from {', '.join(lang.LANGUAGES)}")
        return v

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, v):
        import phonenumbers

        bad = [x for x in v if x.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"phone regions {bad} are not ISO 3166 region codes known to libphonenumber (e.g. GB, DE)")
        return [x.upper() for x in v]

    @classmethod
    def from_flags(cls, languages: str | None = None, **fields) -> "RedactConfig":
        """From command-line values (``--languages en,de``; a field left None keeps its default); a bad
        value is a CasebaseError naming the allowed ones."""
        from pydantic import ValidationError

        given = {k: v for k, v in fields.items() if v is not None}
        if languages:
            given["languages"] = [x.strip() for x in languages.split(",") if x.strip()]
        try:
            return cls(**given)
        except ValidationError as e:
            raise CasebaseError("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None


def lexicon(corpus: Iterable[str], sample: int = 20_000) -> Lexicon:
    """Plain words: function words (spaCy's stop-word lists where installed) and the words the
    corpus writes in lower case."""
    texts = []
    for i, t in enumerate(corpus):
        if i >= sample:
            break
        texts.append(str(t))
    lower, upper = lowercase_counts(texts)
    after_login: Counter = Counter()  # words right after a login cue: their counts do not make them plain words
    for t in texts:
        low = t.lower()
        if ids.has_login_cue(low):
            after_login.update(m.group(3).lower() for m in ids.LOGIN.finditer(t))
    words: set[str] = set()
    for code in lang.LANGUAGES:  # all of them: a German "Sie" in an English desk's export is still no name
        words.update(lang.FUNCTION_WORDS.get(code, ()))
        words.update(w for w in _stop_words(code) if len(w) > 1)
    return Lexicon(lower=lower, upper=upper, words=frozenset(words), after_login=after_login)


def _stop_words(code: str) -> frozenset[str]:
    """spaCy's stop-word list of a language, read from its file (importing spaCy costs seconds)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    path = Path(list(spec.submodule_search_locations)[0]) / "lang" / code / "stop_words.py"
    if not path.exists():
        return frozenset()
    scope: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), scope)  # a module of literals only
    return frozenset(scope.get("STOP_WORDS", ()))


def build_redactor(names: Iterable[str] = (), corpus: Iterable[str] = (), key: bytes = b"casebase",
                   config: RedactConfig | None = None) -> Redactor:
    """The redactor ingest and serve use: known ``names`` (authors, contacts), the gazetteers less
    the words ``corpus`` writes in lower case, and the layers ``config`` turns on."""
    config = config or RedactConfig()
    corpus = [str(t) for t in corpus]
    languages = config.languages or lang.detect(corpus)
    lex = lexicon(corpus)
    counts = (lex.lower, lex.upper)
    not_names = lex.words | people.MONTHS_DAYS | people.GREETING_WORDS | gazetteer.NOT_NAMES  # folded forms too

    def plain(name: str) -> bool:  # folded too: Icelandic "Rún" must not take the word "Run" with it
        return any(w in not_names or lex.is_word(w) for w in {name.lower(), people.fold(name).lower()})

    firsts = frozenset(n for n in drop_ambiguous(first_names(), counts=counts) if not plain(n))
    lasts = frozenset(n for n in last_names() if not plain(n))
    if config.ner:
        from casebase.ingest.redact import ner

        ner.check_installed()  # the model itself loads on first use, or with Redactor.load()
    prefilter.available()  # compiled here, once, not in each worker the redactor is forked into
    return Redactor(names, key=key, first_names=firsts, last_names=lasts, lexicon=lex, ner=config.ner,
                    all_first_names=frozenset(n for n in gazetteer.all_first_names() if n.lower() not in lex.words),
                    all_last_names=frozenset(n for n in last_names() if n.lower() not in lex.words),
                    languages=languages, phone_regions=config.phone_regions)
