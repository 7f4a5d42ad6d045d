"""The pattern rules of redaction: secrets, e-mail addresses, IBANs (mod-97), cards (Luhn),
IP addresses and phone-number shapes, each a regex with a check that keeps look-alikes
(versions, GUIDs, SAP material numbers, code naming a variable). ``casebase.ingest.redact``
runs them first, then the identifier, phone, address and person layers."""

from __future__ import annotations

import re
from collections.abc import Callable
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

PLACEHOLDERS = ("SECRET", "EMAIL", "IBAN", "CARD", "NATIONAL_ID", "DOB", "LOGIN", "IP", "PHONE", "ADDRESS", "PERSON")
PLACEHOLDER = re.compile(rf"<(?:{'|'.join(PLACEHOLDERS)})>")


def alternatives(alternation: str) -> list[str]:
    """The top-level alternatives of a regex ``a|b(?:c|d)|e``: ``["a", "b(?:c|d)", "e"]``."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(alternation):
        c = alternation[i]
        if c == "\\":
            i += 2
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(alternation[start:i])
            start = i + 1
        i += 1
    return out + [alternation[start:]]


def can_start(alternation: str) -> str:
    """A lookahead for the letters the alternatives of ``alternation`` (a regex ``a|b(?:c|d)|e``) start with: put
    before a pattern, it lets the search skip every other position at once instead of trying each alternative
    there (2-3x faster on long texts). Use it inside the pattern's (?i) scope; an alternative that does not start
    with a plain letter is refused, since the lookahead would then hide its matches."""
    firsts = set()
    for alt in alternatives(alternation):
        if not re.fullmatch(r"[^\W\d_]", alt[:1]):
            raise ValueError(f"alternative {alt[:20]!r} of {alternation[:40]!r}… does not start with a letter")
        firsts.add(alt[0])
    return "(?=[" + "".join(sorted(firsts)) + "])"


def by_first_letter(alternation: str, ignorecase: bool = True) -> str:
    """The same alternation with its alternatives grouped by first letter, ``hi|thanks|hello`` ->
    ``h(?:i|ello)|thanks``: Python's regex engine tries the alternatives of a group one by one at every place it
    searches, so a word start now tries one per letter instead of all of them (2-3x faster on the cue lists). It
    matches what the alternation matches, the same way: alternatives that start with different letters never
    match at the same place, and within a letter the order is kept. ``ignorecase``: the pattern's scope is (?i),
    so ``D`` and ``d`` are one letter. Refused: a capturing group (its number would move), an alternative that
    does not start with a plain letter or whose letter has a quantifier."""
    if re.search(r"(?<!\\)\((?!\?)", alternation):
        raise ValueError(f"{alternation[:40]!r}…: a capturing group; its number would move")
    groups: dict[str, list[str]] = {}
    for alt in alternatives(alternation):
        if not re.fullmatch(r"[^\W\d_]", alt[:1]) or alt[1:2] in ("?", "*", "+", "{"):
            raise ValueError(f"alternative {alt!r} of {alternation[:40]!r}… does not start with a plain letter")
        groups.setdefault(alt[0].lower() if ignorecase else alt[0], []).append(alt)
    return "|".join(g[0] if len(g) == 1 else g[0][0] + "(?:" + "|".join(a[1:] for a in g) + ")"
                    for g in groups.values())


def literal_trie(words) -> str:
    """A regex alternation that matches exactly ``words`` (literal strings), nested by common prefix: ``ab|abc|b``
    -> ``(?:ab(?:c)?|b)``. Python's regex engine tries a flat alternation's words one by one at every place it
    searches; the nested form tests one character a level, so a few thousand words cost about what one does."""
    trie: dict = {}
    for w in words:
        node = trie
        for c in w:
            node = node.setdefault(c, {})
        node[""] = {}

    def emit(node: dict) -> str:
        ends = "" in node
        branches = [re.escape(c) + emit(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and len(branches[0]) == 1 else "(?:" + "|".join(branches) + ")"
        return body + "?" if ends else body

    return emit(trie) if trie else "(?!)"


# A placeholder is no cue word ("<PHONE> for BTE 01000821"), and a cue whose value is already
# redacted is spent: the words between a cue and its value never cross a placeholder
# ("IBAN <IBAN> ref 12345678", "DOB <DOB>, opened 03.04.2024").
NOT_PLACEHOLDER = rf"(?!(?<=<)(?-i:{'|'.join(PLACEHOLDERS)})>)"
UNSPENT = rf"(?!<(?-i:{'|'.join(PLACEHOLDERS)})>)"

_SECRET_NAMES = (r"password|passwd|pwd|pass(?:phrase)?|secret|api[_ -]?key|access[_ -]?token|client[_ -]?secret"
                 r"|passwort|kennwort|wachtwoord|mot de passe|mdp|contraseña|clave|parola d'ordine|pin code|pin")
_SECRET = re.compile(
    # also "l_password = '...'", "$Password = ...", "**Password:** ..."
    rf"(?i){can_start(_SECRET_NAMES)}(?<![A-Za-z0-9])({by_first_letter(_SECRET_NAMES)})"
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
_WORD = re.compile(r"[^\W_][\w'’-]*")


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


_IP_CONTEXT = re.compile(rf"(?i)(?://|@|{NOT_PLACEHOLDER}\b(?:ip|ips|host|hostname|gateway|dns|ping|telnet|ssh|subnet|proxy)\b[^\n]{{0,25}}"
                         r"|ip_?addr\w*\W{0,3})$")  # also <SenderIPAddress>
# weaker: "Backup Server: 6.28.1.1: Dumpfile" is a Sybase message number, not an address
_IP_WEAK_CONTEXT = re.compile(rf"(?i){NOT_PLACEHOLDER}\b(?:server|address|addr|connect\w*|rdp|firewall|listen\w*|bind)\b[^\n]{{0,25}}$")
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
    if sum(len(p) == 3 for p in parts) >= 2 and parts[-1] != "0":  # 5.196.73.211: versions rarely have two
        return True
    return int(parts[0]) >= 24 or (int(parts[0]) >= 10 and _IP_WEAK_CONTEXT.search(before) is not None)


def needle_test(needles: tuple[str, ...]) -> Callable[[str], object]:
    """``any(n in text for n in needles)`` as one regex search: one pass over the text instead of one a needle."""
    return re.compile("|".join(re.escape(n) for n in needles)).search


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern
    check: Callable[[re.Match], bool] | None = None
    group: int = 0
    needles: tuple[str, ...] | None = None  # cheap pre-check on the lower-cased text


_DIGITS = tuple("0123456789")
_SECRET_NEEDLES = ("pass", "pwd", "secret", "key", "token", "wort", "wacht", "mdp", "contrase", "clave", "parola", "pin")
RULES = (
    Rule("SECRET", _SECRET, _is_secret_value, 3, _SECRET_NEEDLES),
    Rule("SECRET", _SECRET_ELEMENT, _is_secret_element, 2, _SECRET_NEEDLES),
    Rule("SECRET", _URL_CREDENTIALS, None, 0, ("@",)),
    Rule("EMAIL", _EMAIL, None, 0, ("@",)),
    Rule("IBAN", _IBAN, lambda m: iban_ok(m.group(0)), 0, _DIGITS),
    Rule("CARD", _CARD, lambda m: _card_ok(re.sub(r"\D", "", m.group(0))), 0, _DIGITS),
    Rule("IP", _IP, _ip_ok, 0, (".",)),
    Rule("IP", _IP6, None, 0, (":",)),
    Rule("PHONE", _PHONE_CONTEXT, None, 1, ("tel", "phone", "mob", "cell", "fax", "ph", "direct", "call")),
    Rule("PHONE", _PHONE, lambda m: sum(c.isdigit() for c in m.group(0)) >= 9, 0, _DIGITS),
)
