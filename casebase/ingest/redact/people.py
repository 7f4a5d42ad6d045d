"""People's names: known names (authors, contacts), titles ("Mrs Patel", "Herr Schneider",
"Madame Dubois", "M. Girard"), greetings and sign-offs in en/de/fr/nl/es/it, role words ("our
accountant Siobhán O'Connell"), first names from the gazetteer with the surname that follows
("<PERSON> Müller" never stays), and, for what is left, candidate spans for the named-entity pass.

A word is taken as part of a name only when it looks like one: a capital letter, and a word
that the corpus never writes in lower case (``Lexicon``), so "Sales Order" or "Crystal Reports"
are not names, while "Wiśniewska" or "Okafor" are.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from casebase.ingest.redact.gazetteer import PRODUCTS
from casebase.ingest.redact.rules import COMMON_WORDS, by_first_letter, can_start

_UPPER = "".join(re.escape(chr(c)) for c in range(0x2000) if chr(c).isupper())
_LETTER = r"[^\W\d_]"
PARTICLES = frozenset("van von de der den del della dei di da du dos das la le ten ter zu zur af al el bin ibn y "
                      "'t ter d' mac".split())

TITLES = frozenset("""
mr mrs ms miss mx dr prof sir dame herr herrn frau fr hr madame mme monsieur mademoiselle mlle mevrouw mevr mw meneer
mnr dhr señor señora sr sra srta signor signora sig dott ing
""".split())
# a title (and a second one: "Frau Dr.", "Herr Prof. Dr.") before a name; "M." only as a capital
TITLE = re.compile(
    r"(?=(?i:[dfhmps])|[DFHIMS])"  # the letters a title starts with: the search skips other positions at once
    r"(?<![\w.])(?:(?i:mrs?|ms|miss|mx|sir|dame|herrn?|frau|madame|mme|monsieur|mademoiselle|mlle|mevrouw|mevr"
    r"|meneer|mnr|señora?|srta|signora?|dr|prof|dott|dott\.ssa)\.?|(?:Fr|Hr|Mw|Dhr|Sr|Sra|Sig|Ing)\.?|M\.)"
    r"(?:[ \t]+(?:Dr|Prof|Ing|Dipl\.-Ing|Dott)\.?)*[ \t]+")



GREETINGS = (
    "hi", "hello", "hey", "dear", "morning", "thanks(?: in advance| again| a lot)?", "thank you", "cheers", "regards",
    "rgds", "best wishes", "kind regards", "best regards", "best", "sincerely", "yours(?: sincerely| faithfully| truly)?",
    "greetings", "attn", "spoke to", "speak to", "talked to", "spoke with", "updated by", "discussed with",
    "assigned to", "called", "rang", "emailed", "cc",
    "hallo", "guten (?:morgen|tag|abend)", "sehr geehrte[rs]?", "liebe[rs]?", "mit freundlichen grüßen",
    "freundliche grüße", "viele grüße", "beste grüße", "liebe grüße", "grüße", "gruß", "mfg", "danke", "vielen dank",
    "bonjour", "bonsoir", "salut", "cher", "chère", "chers", "cordialement", "bien cordialement", "bien à vous",
    "salutations", "merci",
    "hoi", "beste", "geachte", "groeten", "met vriendelijke groet(?:en)?", "vriendelijke groet(?:en)?", "mvg",
    "bedankt", "dank je",
    "hola", "buenos días", "buenas tardes", "estimad[oa]s?", "saludos", "un saludo", "atentamente", "gracias",
    "ciao", "buongiorno", "buonasera", "gentile", "egregio", "car[oa]", "cordiali saluti", "distinti saluti", "saluti",
    "grazie",
)
GREETING = re.compile(rf"(?i){can_start('|'.join(GREETINGS))}(?<![\w-])(?:{by_first_letter('|'.join(GREETINGS))})(?![\w-])[ \t]*[,:!.-]*[ \t]*(?:\n[ \t]*(?:\n[ \t]*)?)?")
GREETING_WORDS = frozenset(w for g in GREETINGS for w in re.findall(r"[^\W\d_]{3,}", g))
_ROLES = (
    r"accountant|bookkeeper|colleague|co-worker|coworker|manager|director|consultant|technician"
    r"|engineer|contact|controller|administrator|admin|assistant|secretary|clerk|cfo|ceo|cto|owner|boss|supervisor"
    r"|kollegen?|kollegin|buchhalter(?:in)?|ansprechpartner(?:in)?|geschäftsführer(?:in)?|leiter(?:in)?|mitarbeiter(?:in)?"
    r"|sachbearbeiter(?:in)?|chef(?:in)?|berater(?:in)?|techniker(?:in)?"
    r"|collègue|comptable|responsable|directeur|directrice|gérant(?:e)?|interlocut(?:eur|rice)|technicien(?:ne)?"
    r"|collega|boekhouder|contactpersoon|medewerker|directeur|beheerder"
    r"|compañer[oa]|contable|contabile|responsabile|tecnico")
ROLE = re.compile(rf"(?i){can_start(_ROLES)}(?<![\w-])(?:{by_first_letter(_ROLES)})(?![\w-])[ \t]*,?[ \t]*")


def _ascii_form(pattern: re.Pattern) -> re.Pattern:
    """The pattern without (?i), for ASCII text lower-cased: the same spans (ASCII lower-casing keeps every
    position), found about 3x faster. Only for patterns whose letters are all lower case."""
    source = pattern.pattern.replace("(?i)", "", 1)
    if re.search(r"(?<!\\)[A-Z]", source) or "(?i" in source:
        raise ValueError(f"{source[:40]!r}…: an upper-case letter or another (?i) group; cannot search lower-cased text")
    return re.compile(source)


GREETING_ASCII, ROLE_ASCII = _ascii_form(GREETING), _ascii_form(ROLE)
MONTHS_DAYS = frozenset("""
january february march april may june july august september october november december monday tuesday wednesday
thursday friday saturday sunday januar februar märz mai juni juli oktober dezember montag dienstag mittwoch
donnerstag freitag samstag sonntag janvier février mars avril juin juillet août septembre octobre novembre décembre
lundi mardi mercredi jeudi vendredi samedi dimanche januari februari maart mei augustus maandag dinsdag woensdag
donderdag vrijdag zaterdag zondag enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre
diciembre gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
""".split())
ALLOW_PHRASES = frozenset({"Dr. Watson", "Dr Watson", "Mr. Coffee", "Dr. Web"})  # products named like people
# words that follow a greeting or a title but are not names
NOT_NAMES = frozenset("""
all everyone team support there folks guys experts gurus colleagues friends sir madam
zusammen team kollegen kolleginnen damen herren grüße gruß grüßen dank support kunde kunden
tous toutes équipe monsieur madame messieurs mesdames collègues
allemaal iedereen heren dames allen team
todos equipo señores tutti ragazzi signori
""".split())


def translit(word: str) -> str:
    """A surname as logins spell it: Müller -> muller, and MUELLER -> muller too."""
    return word.lower().replace("ue", "u").replace("oe", "o").replace("ae", "a").replace("ss", "ß")


@lru_cache(maxsize=1 << 16)  # called for every capitalised word: the same few thousand words again and again
def fold(word: str) -> str:
    """The word without diacritics, for gazetteer look-ups: Siobhán -> Siobhan."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ł", "l").replace("Ł", "L")


_CONTRACTION = re.compile(r"['’](?:s|ll|ve|re|d|m|t)$|n['’]t$")


@dataclass
class Lexicon:
    """Plain words: the built-in common words and function words, and whatever the corpus
    writes in lower case often enough."""

    lower: Counter = field(default_factory=Counter)
    upper: Counter = field(default_factory=Counter)
    words: frozenset = frozenset()
    min_count: int = 2
    share: float = 0.2
    after_login: Counter = field(default_factory=Counter)  # lower-case words right after a login cue
    _seen: dict = field(default_factory=dict, repr=False, compare=False)  # is_word's answers (the words repeat)

    def is_word(self, low: str) -> bool:
        seen = self._seen.get(low)
        if seen is None:
            seen = self._seen[low] = self._is_word(low)
        return seen

    def _is_word(self, low: str) -> bool:
        if "'" in low or "’" in low:
            low = _CONTRACTION.sub("", low)  # "you'll", "we've", "it's": the word before it
        if low in self.words or low in COMMON_WORDS:
            return True
        n = self.lower.get(low, 0)
        return n >= self.min_count and n >= self.share * self.upper.get(low.capitalize(), 0)


@dataclass
class Names:
    """What the person layer knows: names of people in the export, and the gazetteers."""

    full: set = field(default_factory=set)        # tuples of tokens of known full names
    full_starts: set = field(default_factory=set)  # their first tokens
    first: set = field(default_factory=set)       # first names (folded), known and from the gazetteer
    last: frozenset = frozenset()                 # last names (folded), less the plain words of the corpus
    last_all: frozenset = frozenset()             # all of them: "Tan", "Park", "Große" after a first name
    first_all: frozenset = frozenset()            # all first names: "Jordan" right before a redacted surname
    last_translit: frozenset = frozenset()        # surnames as logins spell them: MUELLER, SCHAEFER
    lexicon: Lexicon = field(default_factory=Lexicon)
    allow: frozenset = PRODUCTS                   # product and technical names that look like names

    @classmethod
    def of(cls, first, last, first_all, last_all, lexicon: Lexicon) -> "Names":
        """The look-up sets, folded (Siobhán -> Siobhan), from gazetteer names."""
        last_all = frozenset(fold(n) for n in last_all)
        return cls(first={fold(n) for n in first}, last=frozenset(fold(n) for n in last), last_all=last_all,
                   first_all=frozenset(fold(n) for n in first_all), last_translit=frozenset(map(translit, last_all)),
                   lexicon=lexicon)


_CAMEL = re.compile(r"[^\W\d_][a-zà-ÿ]+[A-Z]")
_CAMEL_OK = re.compile(r"(?:Mc|Mac|O['’]|D['’]|De|Di|Da|La|Le|Van|Von|St)[A-Z]")


@lru_cache(maxsize=1 << 16)
def _cap(tok: str) -> bool:
    """Capitalised like a name: "Müller", "O'Connell", "McAllister", "d'Aubigny"; not "TypeError" or "SAP"."""
    if tok[:2] in ("d'", "d’", "l'", "l’") and len(tok) > 3:
        tok = tok[2:]
    if not tok[:1].isupper() or len(tok) > 1 and (tok.isupper() or tok[1].isupper()):
        return False  # "SAP", and acronyms in the plural: "SMEs", "APIs", "IDs"
    return not _CAMEL.match(tok) or _CAMEL_OK.match(tok) is not None


def _namey(tok: str, names: Names) -> bool:
    """A capitalised word that is not a plain word: a plausible part of a name."""
    if not _cap(tok) or len(tok) < 2 or tok in names.allow:
        return False
    low = tok.lower()
    return low not in NOT_NAMES and low not in TITLES and not names.lexicon.is_word(low) or fold(tok) in names.first


# a word, not a part of a code name (Ann_Replace_Comments, user.name, C:\\Users\\Anna, item2)
_WORD_RE = re.compile(rf"(?<![\w@/\\.]){_LETTER}+(?:['’-]{_LETTER}+)*\.?(?![\w@/\\]|(?<=\.)\w)")


def _words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0)) for m in _WORD_RE.finditer(text)]


def spans(text: str, names: Names, lang: str | Callable[[], str] = "en") -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(spans that are names, candidate spans for the named-entity pass). ``lang``: the text's language, or a
    function that guesses it (called only where it matters: a candidate run)."""
    words = _words(text)
    toks = [w[2].rstrip(".") for w in words]
    caps = [i for i, t in enumerate(toks) if t[:1].isupper()]  # only these can start a name
    found: list[tuple[int, int]] = []
    taken = [False] * len(words)

    def spaced(i: int) -> bool:  # words i and i+1 are apart by blanks on one line
        return i + 1 < len(words) and text[words[i][1]: words[i + 1][0]] in (" ", "\t", "  ")

    def name_from(i: int, need_namey: bool = True, most: int = 3) -> int | None:
        """Index after the name that starts at word i, or None (after a title or a greeting, a
        name may start with a particle: "Mevrouw de Vries")."""
        j, n = i, 0
        while j < len(words) and n < most:
            t = toks[j]
            if (t.lower() in PARTICLES and (n > 0 or not need_namey) and spaced(j) and j + 1 < len(words)
                    and _cap(toks[j + 1])):
                j += 1
                continue
            if t.endswith(("'s", "’s")) and _namey(t[:-2], names):
                return j + 1
            ok = _namey(t, names) or fold(t) in names.last if need_namey or n else (
                _cap(t) and t.lower() not in NOT_NAMES)
            if not ok:
                break
            n += 1
            j += 1
            if not spaced(j - 1) or words[j - 1][2].endswith(".") and len(t) > 1:
                break  # the name ends with its line or its sentence
        return j if n else None

    def take(i: int, j: int) -> None:
        if any(taken[i:j]):
            return
        for k in range(i, j):
            taken[k] = True
        end = words[j - 1][0] + len(toks[j - 1])
        if toks[j - 1].endswith(("'s", "’s")):
            end -= 2
        found.append((words[i][0], end))

    # titles: "Mrs Patel", "Herr Dr. Schneider", "M. Girard", "mevrouw de Vries"
    for m in TITLE.finditer(text):
        i = _index(words, m.end())
        start = _index(words, m.start())
        lower_title = m.group(0)[:1].islower()  # "I did miss. Please help": a lower-case title needs a real name
        if i is not None and start is not None and (end := name_from(i, need_namey=lower_title, most=3)) is not None:
            if text[words[start][0]: words[i][0] + len(toks[i].split("-")[0])] not in ALLOW_PHRASES:
                take(start, end)
    # greetings, sign-offs and role words: the name right after them
    low = text.lower() if text.isascii() else None  # ASCII: the case-sensitive forms on the lower-cased text
    for pattern, fast in ((GREETING, GREETING_ASCII), (ROLE, ROLE_ASCII)):
        for m in (fast.finditer(low) if low is not None else pattern.finditer(text)):
            i = _index(words, m.end())
            if i is None or not (toks[i][:1].isupper() or toks[i].lower() in PARTICLES):
                continue
            if pattern is GREETING and re.search(r"[.!][ \t]*$", m.group(0)):
                continue  # "Thank you! It works": a new sentence, not a name
            end = name_from(i, need_namey=pattern is ROLE or toks[i].lower() in names.lexicon.words)
            if end is not None and (pattern is ROLE or _plausible(toks[i], names)):
                take(i, end)
    # known full names, then gazetteer first names and the surnames after them
    for i in caps:
        if taken[i]:
            continue
        t = toks[i]
        if t in names.full_starts:
            for n in (4, 3, 2):
                if i + n <= len(words) and tuple(toks[i:i + n]) in names.full and all(
                        spaced(k) for k in range(i, i + n - 1)):
                    take(i, i + n)
                    break
            if taken[i]:
                continue
        if not _cap(t):
            continue
        first = fold(t.split("-")[0] if "-" in t else t)
        if t.split("-")[0] in names.allow:
            continue  # a product that is also a first name: Julia, Sage
        if first in names.first or (t.endswith(("'s", "’s")) and fold(t[:-2]) in names.first):
            start = i
            if i > 0 and spaced(i - 1) and not taken[i - 1] and toks[i - 1][:1].isupper() and (
                    fold(toks[i - 1]).capitalize() in names.last and toks[i - 1].isupper()
                    or fold(toks[i - 1]) in names.last and _namey(toks[i - 1], names)):
                start = i - 1  # "NOVÁK Tomáš", "Wiśniewska Małgorzata"
            end = i + 1
            if spaced(i) and not t.endswith(("'s", "’s")):
                end = name_from(i + 1) or end
                while (end < len(words) and end - i < 4 and spaced(end - 1) and _cap(toks[end])
                       and fold(toks[end]) in names.last_all and toks[end].lower() not in names.lexicon.words
                       and not words[end - 1][2].endswith(".")):
                    end += 1  # "Mei Ling Tan", "Sung-min Park": a surname that is also a word
            take(start, end)
    # what is left: runs of two or more name-like words, for the named-entity pass
    candidates = []
    after = -1
    for i in caps:
        if i < after or taken[i] or not _namey(toks[i], names):
            continue
        end = name_from(i)
        if end is not None:  # the run stops at a name already found: "Dubois Bonjour <Sarah>"
            end = next((k for k in range(i, end) if taken[k]), end)
        if end is not None and end - i >= 2:
            evidence = any(fold(toks[k]) in names.last or fold(toks[k]) in names.first for k in range(i, end))
            span = (words[i][0], words[end - 1][0] + len(toks[end - 1]) - (2 if toks[end - 1].endswith(("'s", "’s")) else 0))
            if evidence and end - i <= 3:
                found.append(span)  # "Ananya Iyer", "Chidi Okafor": a known surname beside a name-like word
                for k in range(i, end):
                    taken[k] = True
            else:
                if not isinstance(lang, str):
                    lang = lang()
                if lang != "de":  # German writes every noun with a capital: only gazetteer evidence counts there
                    candidates.append(span)
            after = end
    return sorted(found), candidates


def _index(words, pos: int) -> int | None:
    """The index of the word that starts at ``pos``, or None."""
    lo, hi = 0, len(words)
    while lo < hi:
        mid = (lo + hi) // 2
        if words[mid][0] < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(words) and words[lo][0] == pos else None


def _plausible(first: str, names: Names) -> bool:
    """A greeting is followed by a name, not by "all", "team" or a plain word."""
    return first.lower() not in NOT_NAMES and not names.lexicon.is_word(first.lower()) or fold(first) in names.first


_BEFORE_PLACEHOLDER = re.compile(rf"(?<![\w'’-])([{_UPPER}]{_LETTER}+(?:['’-]{_LETTER}+)*)[ \t]+<PERSON>")
_AFTER_PLACEHOLDER = re.compile(rf"<PERSON>((?:[ \t]+(?:(?:{'|'.join(sorted(PARTICLES - {chr(39) + 't'}))})[ \t]+)*"
                                rf"[{_UPPER}]{_LETTER}*(?:['’-]{_LETTER}+)*){{1,2}})")


def absorb_surnames(text: str, names: Names) -> str:
    """"<PERSON> Müller" -> "<PERSON>": a capitalised word that is not a plain word, right after
    a redacted name, is its surname (and a first name right before one is its first name)."""

    def repl(m: re.Match) -> str:
        tail = m.group(1)
        parts = tail.split()
        keep = []
        for p in parts:
            if p.lower() in PARTICLES or _namey(p, names) or fold(p) in names.last:
                keep.append(p)
            else:
                break
        while keep and keep[-1].lower() in PARTICLES:
            keep.pop()
        if not keep:
            return m.group(0)
        consumed = tail[: tail.index(keep[-1]) + len(keep[-1])]
        return "<PERSON>" + tail[len(consumed):]

    text = _AFTER_PLACEHOLDER.sub(repl, text)

    def before(m: re.Match) -> str:  # "Jordan <PERSON>"
        w = m.group(1)
        if fold(w) in names.first_all and _cap(w) and w.lower() not in names.lexicon.words and w not in names.allow:
            return "<PERSON>"
        return m.group(0)

    while True:  # "Jordan Lee <PERSON>": each first name before it, one per pass (each pass shortens the text)
        done = _BEFORE_PLACEHOLDER.sub(before, text)
        if done == text:
            return text
        text = done
