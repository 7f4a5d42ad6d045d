"""The labelled redaction set (tests/data/pii) and its scorer, shared by bench/redact.py and the tests.

    from redact_eval import load_cases, score, batch_redact
    cases = load_cases(seed=0)                       # templates x values, expanded deterministically
    result = score(batch_redact(redactor), cases, batch=True)
    result["recall"], result["recall_by_type"], result["technical_kept_rate"], result["misses"][:5]

A planted value is LEAKED when any of its tokens (runs of letters and digits; tokens of one character,
tokens of the template's fixed text, of the case's technical strings and of placeholder names are not
counted) is still a whole token of the output, compared case-insensitively: "<PERSON> Müller" leaks
"Jan Müller". A technical string is KEPT only when it is in the output verbatim.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "pii"
TYPES = ("PERSON", "EMAIL", "PHONE", "IBAN", "CARD", "NATIONAL_ID", "DOB", "LOGIN", "ADDRESS", "IP", "SECRET")
LANGS = ("en", "de", "fr", "nl", "es", "it")
TECHNICAL = "TECHNICAL"  # the type of cases that plant nothing and only carry technical strings
FILLS = 2  # cases per PII template
TECH_FILLS = {"en": 2, "de": 2, "fr": 2}  # templates per technical string and language (others: 1)
_SLOT = re.compile(r"\{([A-Z_]+)(?:\.(\w+))?\}")
_TOKEN = re.compile(r"[^\W_]+")
PLACEHOLDER_TOKENS = frozenset(t.casefold() for typ in TYPES for t in _TOKEN.findall(typ))


@dataclass
class Case:
    lang: str
    type: str  # the PII type of its template, or TECHNICAL
    text: str
    planted: list[tuple[str, str]]  # (type, value) as it appears in text
    technical: list[str]  # strings that must survive verbatim
    fixed: str = ""  # the template's own text (slots blanked): its tokens are never counted as leaks
    template: str = ""
    tech_category: list[str] = field(default_factory=list)  # parallel to technical


def tokens(s: str) -> list[str]:
    return _TOKEN.findall(s)


def _fold(s: str) -> set[str]:
    return {t.casefold() for t in tokens(s)}


def checked_tokens(value: str, case: Case) -> set[str]:
    """The tokens of ``value`` whose presence in the output counts as a leak."""
    ignore = _fold(case.fixed) | PLACEHOLDER_TOKENS
    for t in case.technical:
        ignore |= _fold(t)
    return {t.casefold() for t in tokens(value) if len(t) > 1} - ignore


@cache
def _data() -> tuple[dict, dict, dict, dict]:
    """(values, templates {lang: {type: [..]}}, technical strings {category: [..]}, technical templates)."""
    values = tomllib.loads((DATA / "values.toml").read_text(encoding="utf-8"))
    values.update(tomllib.loads((DATA / "names.toml").read_text(encoding="utf-8")))
    templates: dict[str, dict[str, list[str]]] = {}
    for name in ("templates_en.toml", "templates_de.toml", "templates_fr.toml", "templates_more.toml"):
        for lang, by_type in tomllib.loads((DATA / name).read_text(encoding="utf-8")).items():
            templates.setdefault(lang, {}).update(by_type)
    tech = tomllib.loads((DATA / "technical.toml").read_text(encoding="utf-8"))
    return values, templates, tech["strings"], tech["templates"]


def _pool(typ: str, form: str | None, lang: str) -> list[str]:
    values = _data()[0]
    if typ == "PERSON":
        people = [p.split("|") for p in values["PERSON"][lang] + values["PERSON"]["world"]]
        pick = {"full": lambda f, l: f"{f} {l}", "first": lambda f, l: f, "last": lambda f, l: l}[form or "full"]
        return list(dict.fromkeys(pick(f, l) for f, l in people))
    entry = values[typ]
    v = entry[form] if form else entry.get(lang, entry.get("any"))
    if isinstance(v, dict):
        v = v.get(lang, v.get("any"))
    if not v:
        raise ValueError(f"no values for {{{typ}{'.' + form if form else ''}}} in {lang}")
    return list(v)


class _Cycle:
    """The values of one pool in a seeded order, handed out in turn so that every value gets used."""

    def __init__(self, values: list[str], seed: str):
        self.values = values[:]
        random.Random(seed).shuffle(self.values)
        self.i = 0

    def take(self, avoid: set[str]) -> str:
        for k in range(len(self.values)):
            v = self.values[(self.i + k) % len(self.values)]
            if not (_fold(v) & avoid):
                self.i += k + 1
                return v
        v = self.values[self.i % len(self.values)]
        self.i += 1
        return v


def _fill(template: str, lang: str, typ: str, cycle: Callable[[str, str | None], _Cycle]) -> Case:
    text, fixed, planted, technical, cats, pos, used = [], [], [], [], [], 0, set()
    for m in _SLOT.finditer(template):
        text.append(template[pos:m.start()])
        fixed.append(template[pos:m.start()] + " ")
        kind, form = m.group(1), m.group(2)
        if kind == "TECH":
            v = cycle("TECH", form).take(set())
            technical.append(v)
            cats.append(form)
        elif kind in TYPES:
            v = cycle(kind, form).take(used)
            planted.append((kind, v))
            used |= _fold(v)
        else:
            raise ValueError(f"unknown slot {m.group(0)} in {template!r}")
        text.append(v)
        pos = m.end()
    text.append(template[pos:])
    fixed.append(template[pos:])
    return Case(lang, typ, "".join(text), planted, technical, "".join(fixed), template, cats)


def load_cases(seed: int = 0) -> list[Case]:
    """Every PII template filled FILLS times, every technical string in TECH_FILLS templates per
    language; the same ``seed`` gives the same cases. Raises ValueError when the data collide."""
    _, templates, tech, tech_templates = _data()
    cycles: dict[tuple, _Cycle] = {}

    def cycle_for(lang: str):
        def get(kind: str, form: str | None) -> _Cycle:
            key = (kind, form, "*" if kind == "TECH" else lang)
            if key not in cycles:
                vals = tech[form] if kind == "TECH" else _pool(kind, form, lang)
                cycles[key] = _Cycle(vals, f"{seed}/{'/'.join(str(k) for k in key)}")
            return cycles[key]
        return get

    cases = []
    for lang in LANGS:
        for typ, items in templates.get(lang, {}).items():
            if typ not in TYPES:
                raise ValueError(f"unknown type {typ} in templates for {lang}")
            for template in items:
                cases.extend(_fill(template, lang, typ, cycle_for(lang)) for _ in range(FILLS))
    for lang in LANGS:
        for cat, items in tech_templates.get(lang, {}).items():
            rot = random.Random(f"{seed}/tech/{lang}/{cat}").randrange(len(items))
            n = min(TECH_FILLS.get(lang, 1), len(items))
            for i, s in enumerate(tech[cat]):
                for j in range(n):
                    t = items[(rot + i * n + j) % len(items)]
                    fixed = t.replace("{TECH.%s}" % cat, " ")
                    if _SLOT.search(fixed):
                        raise ValueError(f"technical template with another slot: {t!r}")
                    cases.append(Case(lang, TECHNICAL, t.replace("{TECH.%s}" % cat, s), [], [s], fixed, t, [cat]))
    _check(cases, tech)
    return cases


def _check(cases: list[Case], tech: dict[str, list[str]]) -> None:
    """Planted values must be scorable and must not collide with technical strings or placeholders."""
    problems = []
    strings = [s for v in tech.values() for s in v]
    tech_words = {t.casefold() for s in strings for t in tokens(s) if t.isalpha() and len(t) > 2}
    for s in strings:
        if re.search(r"<[A-Z_]+>", s) or _fold(s) & PLACEHOLDER_TOKENS:
            problems.append(f"technical string looks like a placeholder: {s!r}")
    values = {v for c in cases for _, v in c.planted}
    for v in values:
        for s in strings:
            if v in s or s in v:
                problems.append(f"value {v!r} and technical string {s!r} overlap")
    for c in cases:
        for typ, v in c.planted:
            if not checked_tokens(v, c):
                problems.append(f"{typ} value {v!r} has no token to check in {c.template!r}")
            if typ in ("PERSON", "LOGIN") and _fold(v) & tech_words:
                problems.append(f"{typ} value {v!r} shares a word with a technical string")
    if problems:
        raise ValueError("labelled set is inconsistent:\n" + "\n".join(sorted(set(problems))))


def describe_data(cases: list[Case] | None = None) -> dict:
    """Template, value and case counts per type and language (for reports and the data tests)."""
    values, templates, tech, tech_templates = _data()
    cases = load_cases() if cases is None else cases
    n_templates = {typ: {lang: len(templates.get(lang, {}).get(typ, [])) for lang in LANGS} for typ in TYPES}
    n_templates[TECHNICAL] = {lang: sum(map(len, tech_templates.get(lang, {}).values())) for lang in LANGS}
    n_cases = {typ: {lang: 0 for lang in LANGS} for typ in (*TYPES, TECHNICAL)}
    for c in cases:
        n_cases[c.type][c.lang] += 1
    distinct = {typ: sorted({v for c in cases for t, v in c.planted if t == typ}) for typ in TYPES}
    return {"templates": n_templates, "cases": n_cases,
            "distinct_values": {typ: len(v) for typ, v in distinct.items()},
            "distinct_values_total": sum(len(v) for v in distinct.values()),
            "technical_strings": {cat: len(v) for cat, v in tech.items()},
            "technical_strings_total": sum(len(v) for v in tech.values())}


def batch_redact(redactor) -> Callable[[list[str]], list]:
    """A list-in, list-out function: ``redact_many`` where the redactor has it, else ``redact`` per text."""
    many = getattr(redactor, "redact_many", None)
    if many is not None:
        return lambda texts: list(many(texts))
    return lambda texts: [redactor.redact(t) for t in texts]


def _rate(good: int, n: int) -> float | None:
    return round(good / n, 4) if n else None


def score(redact_fn: Callable, cases: Iterable[Case], batch: bool = False) -> dict:
    """Score ``redact_fn`` (text -> text or (text, counts); with ``batch``, list -> list) on ``cases``."""
    cases = list(cases)
    texts = [c.text for c in cases]
    raw = list(redact_fn(texts)) if batch else [redact_fn(t) for t in texts]
    if len(raw) != len(cases):
        raise ValueError(f"redact_fn returned {len(raw)} outputs for {len(cases)} texts")
    outputs = [r[0] if isinstance(r, tuple) else r for r in raw]
    placeholders: Counter = Counter()
    for r, out in zip(raw, outputs):
        if isinstance(r, tuple) and isinstance(r[1], Counter):
            placeholders.update(r[1])
    planted, leaked = Counter(), Counter()  # keyed (type, lang)
    tech_n, tech_kept = Counter(), Counter()  # keyed (category, lang)
    misses, lost = [], []
    for c, out in zip(cases, outputs):
        out_tokens = _fold(out)
        for typ, v in c.planted:
            planted[typ, c.lang] += 1
            hit = sorted(checked_tokens(v, c) & out_tokens)
            if hit:
                leaked[typ, c.lang] += 1
                misses.append({"type": typ, "lang": c.lang, "value": v, "leaked_tokens": hit,
                               "text": c.text, "output": out})
        for s, cat in zip(c.technical, c.tech_category or [""] * len(c.technical)):
            tech_n[cat, c.lang] += 1
            if s in out:
                tech_kept[cat, c.lang] += 1
            else:
                lost.append({"category": cat, "lang": c.lang, "value": s, "text": c.text, "output": out})

    def by(counter_n: Counter, counter_bad: Counter, idx: int, good_is_kept: bool) -> dict:
        n, k = Counter(), Counter()
        for key, v in counter_n.items():
            n[key[idx]] += v
        for key, v in counter_bad.items():
            k[key[idx]] += v
        return {g: _rate(k[g] if good_is_kept else n[g] - k[g], n[g]) for g in sorted(n)}

    n_planted, n_leaked = sum(planted.values()), sum(leaked.values())
    type_lang = defaultdict(dict)
    for (typ, lang), n in sorted(planted.items()):
        type_lang[typ][lang] = _rate(n - leaked[typ, lang], n)
    return {
        "cases": len(cases), "planted": n_planted, "leaked": n_leaked,
        "recall": _rate(n_planted - n_leaked, n_planted),
        "recall_by_type": by(planted, leaked, 0, False),
        "recall_by_lang": by(planted, leaked, 1, False),
        "recall_by_type_lang": dict(type_lang),
        "technical": sum(tech_n.values()), "technical_kept": sum(tech_kept.values()),
        "technical_kept_rate": _rate(sum(tech_kept.values()), sum(tech_n.values())),
        "technical_kept_by_category": by(tech_n, tech_kept, 0, True),
        "technical_kept_by_lang": by(tech_n, tech_kept, 1, True),
        "misses": misses, "technical_lost": lost,
        "counts": {"planted_by_type": {t: sum(v for (tt, _), v in planted.items() if tt == t) for t in TYPES},
                   "leaked_by_type": {t: sum(v for (tt, _), v in leaked.items() if tt == t) for t in TYPES},
                   "technical_by_category": {c: sum(v for (cc, _), v in tech_n.items() if cc == c)
                                             for c in sorted({k[0] for k in tech_n})},
                   "placeholders": dict(placeholders)},
    }
