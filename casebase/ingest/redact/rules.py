"""Redaction of personal data, applied before any later stage sees the text.

Each rule replaces what it finds with a typed placeholder and counts it:
<SECRET> (values of "password: ...", of <Password> elements, user:password@ in URLs), <EMAIL>,
<IBAN> (mod-97 checked), <CARD> (Luhn checked), <IP>, <PHONE>, and <PERSON> (known names of
authors and contacts, and names in greetings and sign-offs). Authors become stable pseudonyms keyed per workspace.

    r = Redactor(names=["Sarah Smith"])
    r.redact("Hi Sarah, call me on +44 7700 900123")  # -> ("Hi <PERSON>, call me on <PHONE>", counts)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Words that are also first names or user names but are far more often plain words in
# support text; a name token in this list is only redacted as part of a full name.
COMMON_WORDS = frozenset("""
a about after again all also am an and any are as at back be been before best bill but by can case
change check clear close code could data date day dear does done down each error every few field file
fine first fix for form free from full further good great grant guy guys have hello help her here hey
hi him his how however i if in info is issue it its job just key kind last let like line list long
look lord mark max may me message miss more most much must my name need new next nice no none not note
now number of off ok okay on once one only open or order other our out over page part pat per please
point post power pro query read ready real regards report rest right rose run same see set she should
show so some sort still sun support sure system table team test than thank thanks that the their them
then there these they this those thus to today too top try under up us use user very view was way we
well were what when where which while who why will with work would yes yet you your all everyone
experts folks friends gurus sir madam colleagues there admin administrator guest service services
customer client sales accounts finance payroll manager consultant developer partner sap docusign
morning afternoon evening again above below also sorry please thank regards cheers hope dev deep
jan june april august summer winter autumn spring rich
i'm i’m i'll i’ll i've i’ve i'd i’d im ive world universe using
""".split())

PLACEHOLDERS = ("SECRET", "EMAIL", "IBAN", "CARD", "IP", "PHONE", "PERSON")

_SECRET_NAMES = r"password|passwd|pwd|pass(?:phrase)?|secret|api[_ -]?key|access[_ -]?token|client[_ -]?secret"
_SECRET = re.compile(
    # also "l_password = '...'", "$Password = ...", "**Password:** ..."
    rf"(?i)(?<![A-Za-z0-9])({_SECRET_NAMES})"
    r"(\s*[:=](?:\*\*)?\s*)(?![<\[*]|\"\.\.\.\")(\"[^\"\n]{1,80}\"|'[^'\n]{1,80}'|[^\s,;&'\"]{2,80})"
)
# <Password>secret</Password>, <wsse:Password Type="...">secret</wsse:Password>
_SECRET_ELEMENT = re.compile(
    r"(?i)<((?:\w+:)?(?:password|passwd|pwd|secret|api_?key|access_?token|client_?secret))\b[^<>]*>\s*"
    r"([^<\s][^<]{0,79}?)\s*</\1\s*>")
# user:password@host in a URL
_URL_CREDENTIALS = re.compile(r"(?<=://)[^\s:/@<>\[\]()'\"]+:[^\s:/@<>\[\]()'\"]+(?=@[\w-])")
_EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
# (a leading look-ahead for the first character lets the regex engine skip ahead fast)
_CARD = re.compile(r"(?=\d)(?<![\w.=&/?#:-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5})(?![\w-])")
_IP = re.compile(r"(?=\d)(?<![\w.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w|\.\d)")
_IP6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])", re.I)
_VERSION_CONTEXT = re.compile(r"(?i)\b(?:version|ver\.?|v|release|build|patch|sp|ebf|kernel|level|rev)[\s=:]*$")
_PHONE = re.compile(
    r"(?=[\d+(])(?<![\w+-])(?:"
    r"\+\d{1,3}[ .-]?(?:\(0\)[ .-]?)?\(?\d{1,5}\)?(?:[ .-]?\d{2,5}){1,4}"  # +44 7700 900123
    r"|\(0?\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{3,4}"  # (0161) 496 0000
    r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}"  # 01632 960123, 020 7946 0018
    r"|\d{3}[-.]\d{3}[-.]\d{4}"  # 555-123-4567
    r"|(?<=[:.] )\d{3} \d{3} \d{4}"
    r")(?![\w-])"
)
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:tel|telephone|phone|mobile|mob|cell|fax|ph|direct(?: line)?|call me on)\.?"
    r"(?:\s*(?:no\.?|number))?\s*[:.]?\s*(\+?\d[\d ().-]{6,18}\d)"
)
_NAME_AFTER = re.compile(
    r"(?=[hdtcrbsygauHDTCRBSYGAU])\b(?i:hi|hello|hey|dear|thanks(?: in advance| again)?|thank you|cheers|regards"
    r"|rgds|best wishes|best(?=[ \t]*,)|sincerely|yours|greetings|attn|spoke to|speak to|talked to|spoke with"
    r"|updated by|discussed with|assigned to)"
    # the name on the same or the next line, or alone on its line after a blank line ("Regards,\n\nTom")
    r"(?:[ \t]*[,:!-]?[ \t]*\n?|[ \t]*[,:!.-]*[ \t]*\n[ \t]*\n(?=[ \t]*[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+){0,2}"
    r"[ \t]*[.!]?[ \t]*(?:\n|\Z)))[ \t]*((?:(?:Mr|Mrs|Ms|Miss|Dr)\.?[ \t]+)?"
    r"[A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+){0,2})(?![\w@])"
)
_WORD = re.compile(r"[^\W_][\w'’-]*")
_SURNAME = re.compile(r"[A-Z][a-z][a-z'’-]+")


_IDENT = r"[A-Za-z_]\w*"
_CODE_REF = re.compile(rf"[$@]?\{{?({_IDENT}(?:(?:\.|->|::){_IDENT})*)\}}?([\[(])?")
_CODE_WORDS = frozenset("value null none nil undefined true false string str input text".split())
_PROSE_WORDS = frozenset("the a an is was are be and or not no for to of in on it this that you your".split())
_SECRETISH = re.compile(r"(?i)pass|pwd|secret|key|token|cred")


def _is_secret_value(m: re.Match) -> bool:
    """A value, not code naming a variable: ``password = password``, ``password: req.password``,
    ``password = l_password.``, ``Password = ConfigurationManager.AppSettings["..."]``,
    ``password={password}``. A quoted literal is a value (unless it only repeats the name)."""
    raw = m.group(3)
    if raw[0] in "\"'":
        return raw.strip("\"'").lower() != m.group(1).lower()
    bare = raw.rstrip(".;,)}]")
    ref = _CODE_REF.match(bare)
    if ref is None or (ref.end() < len(bare) and not ref.group(2)):
        return True  # not an identifier: "paybox#Must", "1>"
    name = ref.group(1)
    if bare.lower() in _PROSE_WORDS:  # "reset their password: the old one expired"
        return False
    return not (ref.group(2) or bare[0] in "$@{" or "." in name or "->" in name or "::" in name
                or _SECRETISH.search(name) or name.lower() in _CODE_WORDS)


def _is_secret_element(m: re.Match) -> bool:
    """Skip code that builds the element: ``"<Password>" + password + "</Password>"``."""
    value = m.group(2)
    return not any(c in value for c in "\"'+&") and value.lower() != m.group(1).split(":")[-1].lower()


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(digits: str) -> bool:
    """Luhn-valid, and not a zero-padded key such as SAP's material number 000000000000040782
    (no card number starts with 0)."""
    return digits[0] != "0" and luhn_ok(digits)


def iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


_IP_CONTEXT = re.compile(r"(?i)(?://|@|\b(?:ip|ips|host|hostname|gateway|dns|ping|telnet|ssh|subnet|proxy)\b[^\n]{0,25}"
                         r"|ip_?addr\w*\W{0,3})$")  # also <SenderIPAddress>
# weaker: "Backup Server: 6.28.1.1: Dumpfile" is a Sybase message number, not an address
_IP_WEAK_CONTEXT = re.compile(r"(?i)\b(?:server|address|addr|connect\w*|rdp|firewall|listen\w*|bind)\b[^\n]{0,25}$")
_PORT = re.compile(r":\d")
_PRIVATE_PREFIXES = ("10.", "127.", "192.168.") + tuple(f"172.{i}." for i in range(16, 32))


def _ip_ok(m: re.Match) -> bool:
    """An IPv4 address, not a four-part version number such as 15.7.0.80 or 4.20.00.67."""
    ip = m.group(0)
    parts = ip.split(".")
    if any(int(p) > 255 or (len(p) > 1 and p[0] == "0") for p in parts):
        return False
    before = m.string[max(0, m.start() - 40): m.start()]
    if _VERSION_CONTEXT.search(before[-12:]):
        return False
    if _IP_CONTEXT.search(before) or _PORT.match(m.string, m.end()) or ip.startswith(_PRIVATE_PREFIXES):
        return True
    return int(parts[0]) >= 24 or (int(parts[0]) >= 10 and _IP_WEAK_CONTEXT.search(before) is not None)


def _plausible_name(m: re.Match) -> bool:
    """A greeting or sign-off is followed by a name, not by "all", "team" or "for"."""
    words = m.group(1).split()
    return words[-1].lower() not in COMMON_WORDS and words[0].lower() not in COMMON_WORDS


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern
    check: Callable[[re.Match], bool] | None = None
    group: int = 0
    needles: tuple[str, ...] | None = None  # cheap pre-check on the lower-cased text


_DIGITS = tuple("0123456789")
RULES = (
    Rule("SECRET", _SECRET, _is_secret_value, 3, ("pass", "pwd", "secret", "key", "token")),
    Rule("SECRET", _SECRET_ELEMENT, _is_secret_element, 2, ("pass", "pwd", "secret", "key", "token")),
    Rule("SECRET", _URL_CREDENTIALS, None, 0, ("@",)),
    Rule("EMAIL", _EMAIL, None, 0, ("@",)),
    Rule("IBAN", _IBAN, lambda m: iban_ok(m.group(0)), 0, _DIGITS),
    Rule("CARD", _CARD, lambda m: _card_ok(re.sub(r"\D", "", m.group(0))), 0, _DIGITS),
    Rule("IP", _IP, _ip_ok, 0, (".",)),
    Rule("IP", _IP6, None, 0, (":",)),
    Rule("PHONE", _PHONE_CONTEXT, None, 1, ("tel", "phone", "mob", "cell", "fax", "ph", "direct", "call")),
    Rule("PHONE", _PHONE, lambda m: sum(c.isdigit() for c in m.group(0)) >= 9, 0, _DIGITS),
    Rule("PERSON", _NAME_AFTER, _plausible_name, 1),
)


class Redactor:
    """Replaces personal data with typed placeholders; ``names`` are known people
    (authors, contacts) whose full names, and distinctive first names, are redacted;
    ``first_names`` is a gazetteer (``casebase.ingest.names``) of first names redacted
    wherever they stand capitalised, with the surname that follows them."""

    def __init__(self, names: Iterable[str] = (), key: bytes = b"casebase", first_names: Iterable[str] = ()):
        self.key = key
        self.full: set[tuple[str, ...]] = set()
        self.single: set[str] = set(first_names)
        self.starts: set[str] = set(self.single)  # first tokens of full names, and single names
        for name in names:
            self.add_name(name)

    def add_name(self, name: str | None) -> None:
        if not name or "@" in name:
            return
        tokens = tuple(_WORD.findall(name))
        if not tokens:
            return
        if len(tokens) > 1:
            self.full.add(tokens)
            self.starts.add(tokens[0])
        first = tokens[0]
        if first.lower() in COMMON_WORDS or len(first) < 3 or first.isupper() and len(first) < 4:
            return
        if len(tokens) == 1 and first.islower() and len(first) < 4:
            return
        if first.isalpha() and (first[0].isupper() or len(tokens) == 1) or len(tokens) == 1:
            self.single.update((first, first[0].upper() + first[1:]))
            self.starts.update((first, first[0].upper() + first[1:]))

    def pseudonym(self, name: str | None) -> str | None:
        """A stable, non-reversible stand-in for a person: the same name gives the same id."""
        if name is None or not str(name).strip():
            return None
        norm = " ".join(str(name).lower().split())
        return "person-" + hmac.new(self.key, norm.encode(), hashlib.sha256).hexdigest()[:8]

    def redact(self, text: str) -> tuple[str, Counter]:
        """Return the redacted text and counts per placeholder type."""
        counts: Counter = Counter()
        if not text:
            return text, counts

        def sub(pattern: re.Pattern, kind: str, s: str, check=None, group: int = 0) -> str:
            def repl(m: re.Match) -> str:
                if check is not None and not check(m):
                    return m.group(0)
                counts[kind] += 1
                if group:
                    return m.group(0)[: m.start(group) - m.start()] + f"<{kind}>" + m.group(0)[m.end(group) - m.start():]
                return f"<{kind}>"
            return pattern.sub(repl, s)

        lower = text.lower()
        for rule in RULES:
            if rule.needles is None or any(n in lower for n in rule.needles):
                text = sub(rule.pattern, rule.kind, text, check=rule.check, group=rule.group)
        if self.full or self.single:
            text = self._known_names(text, counts)
        return text, counts

    def _known_names(self, text: str, counts: Counter) -> str:
        words = list(_WORD.finditer(text))
        out, last, skip_to = [], 0, -1
        for i, w in enumerate(words):
            token = w.group(0)
            if token.endswith(("'s", "’s")) and token[:-2] in self.single:  # "Sophie's PC"
                out.append(text[last: w.start()])
                out.append("<PERSON>")
                counts["PERSON"] += 1
                last = w.end() - 2
                continue
            if i < skip_to or token not in self.starts:
                continue
            end = None
            for n in (4, 3, 2):  # the longest full name starting here, separated by white space only
                span = words[i: i + n]
                if len(span) == n and tuple(x.group(0) for x in span) in self.full and all(
                        text[a.end(): b.start()].isspace() for a, b in zip(span, span[1:])):
                    end, skip_to = span[-1].end(), i + n
                    break
            if end is None and w.group(0) in self.single:
                end = w.end()
                # and the surname after a known first name: "John Cunningham", "Ergin Dervisoglu"
                nxt = words[i + 1] if i + 1 < len(words) else None
                if (nxt is not None and _SURNAME.fullmatch(nxt.group(0)) and nxt.group(0).lower() not in COMMON_WORDS
                        and text[w.end(): nxt.start()] in (" ", "\t")):
                    end, skip_to = nxt.end(), i + 2
            if end is None:
                continue
            out.append(text[last: w.start()])
            out.append("<PERSON>")
            counts["PERSON"] += 1
            last = end
        out.append(text[last:])
        return "".join(out)
