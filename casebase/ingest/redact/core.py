"""The redactor: layers of detection in a fixed order, each replacing what it finds with a
typed placeholder and counting it.

1. secrets and e-mail addresses (``rules``);
2. checksummed identifiers: IBAN (mod 97), cards (Luhn), national ids (python-stdnum: UK NINO,
   US SSN, FR NIR, NL BSN, DE tax id);
3. context-cued identifiers whatever their checksum: "IBAN …", "NI number …", "SSN …",
   dates of birth ("DOB", "Geburtsdatum", "né le"), login names ("user JSMITH01", "login: …");
4. IP addresses; 5. phone numbers (libphonenumber, region hints); 6. postal addresses and postcodes;
7. people: known names, titles, greetings and sign-offs, role words, gazetteers, then the
   named-entity pass on the capitalised spans the rest leaves, then surnames after a redacted name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from casebase.ingest.redact import address, ids, lang, people, phones, prefilter
from casebase.ingest.redact.rules import COMMON_WORDS, PLACEHOLDER, RULES, _WORD, literal_trie, needle_test

LAYERS = ("secrets", "checksummed_ids", "cued_ids", "ip", "phones", "addresses", "people", "named_entities",
          "surnames")

_YEARISH = re.compile(r"\d[./-]\d{1,2}[./-]\d\d|\b(?:19|20)\d\d\b")
_HANDLE = re.compile(r"(?<![\w@./-])[^\W_][\w'’-]*(?![\w@/-]|\.\w)")
_WORD_RUN = re.compile(r"\w+")


def _spans_sub(text: str, spans: Iterable[tuple[int, int]], kind: str, counts: Counter) -> str:
    """Replace spans (that do not cut a placeholder) with ``<kind>``, overlapping ones as one: a town
    that ends one address and starts the next ("75002 Paris Springfield, IL 62704") leaves no part."""
    keep: list[tuple[int, int]] = []
    for s, e in sorted(set(spans)):
        seg = text[s:e]
        if e <= s or "<" in seg or ">" in seg:
            continue
        if keep and s < keep[-1][1]:
            keep[-1] = (keep[-1][0], max(keep[-1][1], e))
        else:
            keep.append((s, e))
    if not keep:
        return text
    out, last = [], 0
    for s, e in keep:
        out.append(text[last:s])
        out.append(f"<{kind}>")
        counts[kind] += 1
        last = e
    out.append(text[last:])
    return "".join(out)


def _matches(pattern: re.Pattern, text: str, check=None, cued: bool = False):
    """The matches that ``check`` accepts. Where the match is the value (a shape: card, IBAN, phone), a
    rejected one does not use up its text: the search goes on from its next character, so a look-alike
    cannot hide a value that starts inside it (the card in "020 7946 0018 4111 1111 1111 1111" starts inside
    the failed "0018 4111 1111 1111"). A ``cued`` value rejected is still its cue's value: the search goes
    on after it, and no word of it is a cue ("Username = Constant.Username\ndsa.Password")."""
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        if check is None or check(m):
            yield m
            pos = max(m.end(), m.start() + 1)
        else:
            pos = max(m.end(), m.start() + 1) if cued else m.start() + 1


def _rule_sub(text: str, rule, counts: Counter) -> str:
    def ok(m: re.Match) -> bool:  # (a value that swallows a placeholder is no new value: "password: x<EMAIL>")
        return (rule.check is None or rule.check(m)) and not PLACEHOLDER.search(m.group(rule.group))

    out, last = [], 0
    for m in _matches(rule.pattern, text, ok, cued=rule.group != 0):
        out += [text[last: m.start(rule.group)], f"<{rule.kind}>"]
        counts[rule.kind] += 1
        last = m.end(rule.group)
    return "".join(out) + text[last:] if out else text


def _group_sub(text: str, pattern: re.Pattern, kind: str, counts: Counter, group: int = 1, check=None) -> str:
    spans = [(m.start(group), m.end(group)) for m in _matches(pattern, text, check, cued=group != 0)]
    return _spans_sub(text, spans, kind, counts)


_RULES_BY_KIND: dict[str, list] = {}
_NEEDLES = {r: needle_test(r.needles) for r in RULES if r.needles}  # each rule's cheap pre-check, one search
_SECRET_NEEDLES, _DOB_AFTER_NEEDLES = (needle_test(n) for n in (ids.SECRET_NEEDLES, ids.DOB_AFTER_NEEDLES))
for _r in RULES:
    _RULES_BY_KIND.setdefault(_r.kind, []).append(_r)


class Redactor:
    """Replaces personal data with typed placeholders.

    ``names``: people the export names (authors, contacts): their full names and distinctive first
    names go wherever they stand. ``first_names``/``last_names``: gazetteers (``build_redactor``
    loads the frozen ones). ``lexicon``: the plain words of the corpus. ``ner``: run the
    named-entity pass on what the other layers leave."""

    def __init__(self, names: Iterable[str] = (), key: bytes = b"casebase", first_names: Iterable[str] = (),
                 last_names: Iterable[str] = (), all_first_names: Iterable[str] = (), all_last_names: Iterable[str] = (),
                 lexicon: people.Lexicon | None = None, ner: bool = False,
                 languages: Sequence[str] = lang.LANGUAGES, phone_regions: Sequence[str] = phones.DEFAULT_REGIONS):
        self.key = key
        self.ner = ner
        self.languages = tuple(languages)
        self.phone_regions = tuple(phone_regions)
        self.names = people.Names.of(first_names, last_names, all_first_names or first_names,
                                     all_last_names or last_names, lexicon or people.Lexicon())
        self.handles: set[str] = set()
        self._handle_runs: set[str] = set()  # the first \w+ run of each handle: a text without one has no handle
        self._handle_re: re.Pattern | None = None
        for name in names:
            self.add_name(name)

    def add_name(self, name: str | None) -> None:
        """A person of the export: the full name, and the first name when it is distinctive."""
        if not name or "@" in name:
            return
        tokens = tuple(_WORD.findall(name))
        if not tokens:
            return
        if len(tokens) > 1:
            self.names.full.add(tokens)
            self.names.full_starts.add(tokens[0])
        first = tokens[0]
        if first.lower() in COMMON_WORDS or len(first) < 3 or first.isupper() and len(first) < 4:
            return
        if len(tokens) == 1 and first.islower() and len(first) < 4:
            return
        if len(tokens) == 1:  # a handle as author: "rhaskins2", "devcenter"
            forms = (first, first[0].upper() + first[1:])
            self.handles.update(forms)
            self._handle_runs.update(_WORD_RUN.match(h).group(0) for h in forms)
            self._handle_re = None
        if first.isalpha():
            self.names.first.add(people.fold(first[0].upper() + first[1:]))

    def _may_hold_handle(self, text: str) -> bool:
        """False only where the handle pass below finds nothing: the text's \w+ run that starts where it finds a
        handle (a match that is one, or one and two characters more: "Andrew83" for the handle "Andrew") is the
        handle's first run, or that run and one or two characters more."""
        if self._handle_re is None:  # one search of all the runs at once (a trie of them), compiled once a name set
            self._handle_re = re.compile(rf"(?<!\w)(?:{literal_trie(self._handle_runs)})\w{{0,2}}(?!\w)")
        return self._handle_re.search(text) is not None

    def pseudonym(self, name: str | None) -> str | None:
        """A stable, non-reversible stand-in for a person: the same name gives the same id."""
        if name is None or not str(name).strip():
            return None
        norm = " ".join(str(name).lower().split())
        # surrogatepass: a lone surrogate (a JSON export can hold one) is still a name, not a crash
        return "person-" + hmac.new(self.key, norm.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:8]

    def redact(self, text: str) -> tuple[str, Counter]:
        """Return the redacted text and counts per placeholder type."""
        return self.redact_many([text])[0]

    def redact_many(self, texts: Sequence[str]) -> list[tuple[str, Counter]]:
        """Redact many texts; the named-entity pass runs once over all their candidates."""
        return self.finish_many(self.stage_many(texts))

    def stage_many(self, texts: Sequence[str]) -> list[tuple]:
        """Every layer but the named-entity pass (picklable: worker processes run this part)."""
        return [self._cheap(t) for t in texts]

    def finish_many(self, staged: Sequence[tuple]) -> list[tuple[str, Counter]]:
        """The named-entity pass over the staged texts' candidates, then their names replaced."""
        if self.ner and any(c for _, _, _, c in staged):
            from casebase.ingest.redact import ner

            confirmed = ner.confirm([(t, c) for t, _, _, c in staged])
        else:
            confirmed = [[] for _ in staged]
        out = []
        for (text, counts, found, _), spans in zip(staged, confirmed):
            text = _spans_sub(text, found + spans, "PERSON", counts)
            if "<PERSON>" in text:
                text = people.absorb_surnames(text, self.names)
            out.append((text, counts))
        return out

    def load(self) -> None:
        """Load the named-entity model now (ingest does it while its workers run the other layers)."""
        if self.ner:
            from casebase.ingest.redact import ner

            ner.info()

    def _cheap(self, text: str) -> tuple[str, Counter, list[tuple[int, int]], list[tuple[int, int]]]:
        """Every layer but the named-entity pass: (text, counts, names found, candidates for the
        model), the last two as spans of the returned text, not yet replaced."""
        counts: Counter = Counter()
        if not text:
            return text, counts, [], []
        low = text.lower()
        rules = _RULES_BY_KIND
        scanned, hits = None, None

        def can() -> set[str] | None:  # the gated patterns that may match the text as it is now (prefilter.py)
            nonlocal scanned, hits
            if scanned is not text:  # a layer replaced something: the later patterns see the new text
                scanned, hits = text, prefilter.scan(text)
            return hits

        def run_rules(*kinds: str) -> None:
            nonlocal text
            for kind in kinds:
                for r in rules[kind]:
                    if r.needles is None or _NEEDLES[r](low):
                        text = _rule_sub(text, r, counts)

        run_rules("SECRET", "EMAIL")
        if _SECRET_NEEDLES(low):
            text = _group_sub(text, ids.SECRET_CUED, "SECRET", counts, check=ids.secret_ok)
        if "eyj" in low:
            text = _group_sub(text, ids.JWT, "SECRET", counts, group=0)
        n_digits = sum(map(text.count, "0123456789")) if text.isascii() else sum(c.isdigit() for c in text)
        has_digit = n_digits > 0
        if n_digits >= 5:  # every identifier below has five digits or more
            run_rules("IBAN", "CARD")
            text = _spans_sub(text, ids.checksummed(text, can()), "NATIONAL_ID", counts)
            if "iban" in low:
                text = _group_sub(text, ids.IBAN_CUED, "IBAN", counts)
            text = _group_sub(text, ids.CUED_ID, "NATIONAL_ID", counts)
            if _YEARISH.search(text):
                text = _group_sub(text, ids.DOB, "DOB", counts)
                if _DOB_AFTER_NEEDLES(low):
                    text = _group_sub(text, ids.DOB_AFTER, "DOB", counts)
            text = _group_sub(text, ids.CARD_CUED, "CARD", counts, check=ids.card_cued_ok)
        if ids.has_login_cue(low):
            text = _group_sub(text, ids.LOGIN, "LOGIN", counts, group=3,
                              check=lambda m: ids.login_ok(m, self.names.lexicon, self.names.last))
        text = _spans_sub(text, ids.accounts(text, self.names, can()), "LOGIN", counts)
        if has_digit:
            run_rules("IP")
            text = _spans_sub(text, ids.ipv6(text), "IP", counts)
            run_rules("PHONE")
            text = _spans_sub(text, phones.find(text, self.phone_regions), "PHONE", counts)
            text = _spans_sub(text, address.streets(text, can()), "ADDRESS", counts)
            text = _spans_sub(text, address.postcodes(text, self.names.lexicon, can()), "ADDRESS", counts)
            if "<ADDRESS>" in text:
                text = address.merge(text, counts)
        if self.handles and self._may_hold_handle(text):
            text = _spans_sub(text, [(m.start(), m.end() - (2 if m.group(0).endswith(("'s", "’s")) else 0))
                                     for m in _HANDLE.finditer(text) if m.group(0) in self.handles
                                     or m.group(0)[:-2] in self.handles], "PERSON", counts)
        guess = (lambda: lang.guess(text, self.languages)) if "de" in self.languages else "en"  # only "de" matters
        found, candidates = people.spans(text, self.names, guess)
        return text, counts, found, candidates

    def describe(self) -> dict:
        """What ran, for the manifest."""
        from casebase.ingest.redact import gazetteer

        out = {"layers": list(LAYERS), "languages": list(self.languages), "phone_regions": list(self.phone_regions),
               "gazetteers": gazetteer.files(), "first_names": len(self.names.first),
               "last_names": len(self.names.last), "known_full_names": len(self.names.full),
               "named_entities": {"enabled": self.ner}}
        if self.ner:
            from casebase.ingest.redact import ner

            out["named_entities"].update(ner.info())
        return out

