"""Identifiers: checksummed national ids (python-stdnum), and context-cued identifiers that
are redacted even when a checksum fails ("IBAN DE00 …", "NI number …", "DOB …", "user …").

A mistyped IBAN or a wrong check digit is still somebody's personal data: after a cue word
the value goes whatever its checksum says. Without a cue, a number is only taken when its
shape and its checksum both say it is an id, so build numbers and document numbers survive.
"""

from __future__ import annotations

import re

from stdnum.de import idnr
from stdnum.fr import nir
from stdnum.nl import bsn
from stdnum.us import ssn

from casebase.ingest.redact.people import fold, translit
from casebase.ingest.redact.rules import COMMON_WORDS, NOT_PLACEHOLDER, UNSPENT, by_first_letter, can_start, luhn_ok, needle_test

# -- checksummed, no cue needed ----------------------------------------------------------------
# UK National Insurance number: two prefix letters (HMRC's allowed set), six digits, a suffix A-D
NINO = re.compile(r"(?<![\w-])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![\w-])")
SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
NIR = re.compile(r"(?<![\w-])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?![\w-])")
IDNR_SPACED = re.compile(r"(?<![\w-])\d{2} \d{3} \d{3} \d{3}(?![\w-])")  # 11 digits written as a tax id
BSN_DOTTED = re.compile(r"(?<![\w.-])\d{4}\.\d{2}\.\d{3}(?![\w-]|\.\d)")


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


CHECKSUMMED = (
    (NINO, lambda s: True),
    (SSN, lambda s: ssn.is_valid(s)),
    (NIR, lambda s: nir.is_valid(s.replace(" ", ""))),
    (BSN_DOTTED, lambda s: bsn.is_valid(_digits(s))),
    (IDNR_SPACED, lambda s: idnr_ok(s)),
)
CHECKSUMMED_NAMES = ("NINO", "SSN", "NIR", "BSN_DOTTED", "IDNR_SPACED")  # their names in prefilter.GATES

# -- context cues ------------------------------------------------------------------------------
_SEP = r"(?:\s*(?:no\.?|nr\.?|n°|number|nummer|numéro|num\.?|#))?\s*(?:is|ist|est|=|:|-)?\s*"
# the value: tokens of capitals and digits with single separators, at least five digits in all
_VALUE = r"((?=(?:[^\d\n]{0,4}\d){5})[A-Z0-9](?:[A-Z0-9]|[ ./-](?=[A-Z0-9])){3,36})"
ID_CUES = (
    r"IBAN|BIC|Kontonummer|account (?:number|no\.?)|acct\.? no\.?|sort code|Bankverbindung|RIB|rekeningnummer"
    r"|NI|NINO|national insurance|SSN|SSNs|social security|Sozialversicherungs(?:nummer)?|SV-Nummer|Rentenversicherungsnummer"
    r"|Steuer-?ID|Steuer-?Identifikationsnummer|Steuernummer|IdNr|tax (?:id|number|code)|TIN|UTR"
    r"|BSN|burgerservicenummer|sofinummer|NIR|sécurité sociale|numéro fiscal|numéro d'identification"
    r"|NIF|NIE|DNI|codice fiscale|CF|passport|Reisepass(?:nummer)?|Personalausweis(?:nummer)?|passeport"
    r"|ID card|carte d'identité|identity card|driving licen[cs]e|Führerschein(?:nummer)?|employee (?:id|number|no\.?)"
    r"|Personalnummer|personnel number|matricule|INSEE|Identifikationsnummer|IdNr\.?"
)
# the value may come a few words after its cue: "Die Steuer-ID des Mitarbeiters ist 70251064387"
CUED_ID = re.compile(rf"(?i:{can_start(ID_CUES)}(?<![^\W\d_]){NOT_PLACEHOLDER}(?:{by_first_letter(ID_CUES)})(?![\w-]))(?:{UNSPENT}[^\d\n.;]){{0,40}}?{_SEP}{_VALUE}")
IBAN_CUED = re.compile(r"(?i:(?<![\w-])IBAN(?![\w-]))" + _SEP + r"([A-Za-z]{2}\s?\d{2}(?:\s?[A-Z0-9]{1,4}){2,8})(?![\w-])")

_MONTHS = (r"jan(?:uary|uar|vier)?|feb(?:ruary|ruar)?|févr(?:ier)?|fev|mar(?:ch|s)?|märz|apr(?:il)?|avr(?:il)?"
           r"|may|mai|juin?|jun[ei]?|juil(?:let)?|jul[iy]?|aug(?:ust)?|août|sep(?:t(?:ember|embre)?)?|oct(?:ober|obre)?"
           r"|okt(?:ober)?|nov(?:ember|embre)?|dec(?:ember)?|déc(?:embre)?|dez(?:ember)?|enero|febrero|marzo|abril"
           r"|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|gennaio|febbraio|aprile|maggio|giugno"
           r"|luglio|settembre|ottobre|dicembre|januari|februari|maart|mei|juni|juli|augustus|oktober")
DATE = (r"(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2}"
        rf"|\d{{1,2}}(?:st|nd|rd|th|er|\.)?(?: of)?\s+(?i:{_MONTHS})\.?,?\s+\d{{4}}"
        rf"|(?i:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
        rf"|\d{{1,2}} de (?i:{_MONTHS}) de \d{{4}})")
DOB_CUES = (r"gebdat|geb_?datum|birth_?date|date_?naissance|date_de_naissance|fecha_?nac\w*|naci[óo]|nacida"
            r"|DOB|D\.O\.B\.?|date of birth|birth ?date|born(?: on)?|b\.|Geburtsdatum|Geb\.?(?:-?Datum)?|geboren(?: am)?"
            r"|né(?:e)?(?: le)?|date de naissance|geboortedatum|geboren op|fecha de nacimiento|nacid[oa] el"
            r"|data di nascita|nat[oa] il")
# the date may come a few words after its cue ("date of birth to 05.11.1969"), or before "geboren"/"born"
DOB = re.compile(rf"(?i:{can_start(DOB_CUES)}(?<![\w-]){NOT_PLACEHOLDER}(?:{by_first_letter(DOB_CUES)})(?![\w-]))(?:{UNSPENT}[^\n.;!?]){{0,40}}?({DATE})")
DOB_AFTER_NEEDLES = ("geboren", "born", "né", "nacid", "nat")  # DOB_AFTER needs one of them: a cheap test first
DOB_AFTER = re.compile(rf"({DATE})[ ,]{{1,3}}(?i:geboren|born|né|née|nacid[oa]|nat[oa])(?![\w-])")

LOGIN_CUES = (r"user(?:[ _-]?(?:name|id|account))?|login(?:[ _-]?(?:name|id))?|log-?on(?:[ _-]?(?:name|id))?"
              r"|logged in as|log(?:ged)? on as|signed in as|angemeldet als|connecté en tant que|ingelogd als"
              r"|conectad[oa] como|collegat[oa] come|konto|benutzerkonto"
              r"|account(?: name)?|benutzer(?:[ _-]?(?:name|id|kennung|konto))?|anmeldename|kennung|utilisateur|identifiant"
              r"|compte|gebruiker(?:snaam)?|usuario|utente|SAP user")
_LOGIN_CUES_GROUPED = by_first_letter(LOGIN_CUES)
LOGIN = re.compile(rf"(?i:{can_start(LOGIN_CUES)}(?<![\w-])({_LOGIN_CUES_GROUPED})(?![\w-]))"
                   r"(\**\s*(?:[:=]|\b(?:is|ist|est|should be|will be|would be|sera|wird|lautet|heißt)\b)?\**\s*)[\"'`]?"
                   rf"(?!(?i:{_LOGIN_CUES_GROUPED})\b)([A-Za-z][\w.@\\-]{{1,40}}[A-Za-z0-9])")
LOGIN_NEEDLES = ("user", "log", "account", "benutzer", "anmelde", "kennung", "utilisateur", "identifiant", "compte",
                 "gebruiker", "usuario", "utente", "angemeldet", "connect", "conectad", "collegat", "konto", "signed")
has_login_cue = needle_test(LOGIN_NEEDLES)  # any(n in lower_cased_text for n in LOGIN_NEEDLES), one search
# technical accounts that a cue word may introduce: not people
SYSTEM_ACCOUNTS = frozenset("""
ddic sap* earlywatch tmsadm sapcpic system sys admin administrator root sa guest dbo sapsr3 sapsys
sapadm sapservice everyone anonymous service localsystem networkservice postgres oracle mysql www-data
""".split())
_CODE_REF = re.compile(r"(?i:user|login|logon|account|name)|[a-z][A-Z]\w*\.|\.[a-z]+[A-Z]"
                       r"|^(?:req|request|self|this|ctx|args|params|config|data|form)\.")
_WORDISH = re.compile(r"(?:tion|sion|ing|ed|ment|ly|ce|ble|ity|ness|ive|al|ous|ize|ise|ate|ure|ung|heit|keit|lich|ieren"
                      r"|eur|ique|able|ent|ant|ist|ism|ery|ary|ory|ship|ful|less|age|ance|ence)$")
NOT_LOGINS = frozenset("exit exits name names id ids group groups role roles list management account accounts admin "
                   "interface friendly manual guide settings profile profiles master data type types".split())
_ACCOUNTISH = re.compile(r".*\d.*|.+[._\\@].+")


def login_ok(m: re.Match, lexicon, last_names) -> bool:
    """Whether the word after a login cue is an account name: after "username:" anything that is
    not a plain word; after a bare "user", only what looks like an account (JSMITH01, m.dupont,
    PATEL_R, KBECKER: an initial and a surname)."""
    value = m.group(3)
    low = value.lower()
    # a login name recurs in a desk's tickets: only a word the corpus writes often is a plain word here
    # (counted outside login cues: "rvenkat" recurs after "user", "saves" elsewhere too)
    common = (low in lexicon.words or low in COMMON_WORDS
              or lexicon.lower.get(low, 0) - lexicon.after_login.get(low, 0) >= 2)
    called = m.string[m.end(3): m.end(3) + 1] == "("  # "userName = reader.ReadString();"
    if low in SYSTEM_ACCOUNTS or common or called or _CODE_REF.search(value) or low in NOT_LOGINS:
        return False  # code naming the variable: "username = l_username", "user: oRequest.user"
    explicit = m.group(2).strip(" \t*") in (":", "=") or m.group(1).lower() not in (
        "user", "account", "compte", "kennung", "login", "logon", "konto")
    if _ACCOUNTISH.fullmatch(value):
        if re.fullmatch(r"\d+(?:\.\d+)*", value):
            return False
        # "creation.Regards", "info.I", "details.integrators.key": sentences run together, property names
        return explicit or any(c.isdigit() for c in value) or re.fullmatch(r"[a-z]+[._][a-z]+", value) is not None
    if value.isupper() and len(value) >= 4:
        cap = value[1:].capitalize(), value[:-1].capitalize(), value.capitalize()
        return explicit or any(c in last_names for c in cap)
    # "user tnovak", "user rvenkat": a lower-case word that is not a plain word of the corpus, nor shaped
    # like one ("user interaction", "the user is greeted", "account mgmt", "this user lacks")
    return (value.islower() and len(value) >= 4 and value.isalpha() and _WORDISH.search(low) is None
            and any(c in "aeiouy" for c in low) and not _inflected_word(low, lexicon))


def _inflected_word(low: str, lexicon) -> bool:
    """A verb or plural of a plain word: "lacks", "drags", "saves" (the corpus writes "lack", "drag")."""
    for suffix, add in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e")):
        stem = low[: -len(suffix)] + add
        if low.endswith(suffix) and len(stem) >= 3 and lexicon.is_word(stem):
            return True
    return False


def checksummed(text: str, hits: set[str] | None = None):
    """Spans of ids that carry their own proof (checksum or a distinctive shape). ``hits``: the patterns that
    may match (``prefilter.scan``); None: all."""
    for name, (pattern, ok) in zip(CHECKSUMMED_NAMES, CHECKSUMMED):
        if hits is not None and name not in hits:
            continue
        for m in pattern.finditer(text):
            if ok(m.group(0)):
                yield m.start(), m.end()


def idnr_ok(value: str) -> bool:
    return len(_digits(value)) == 11 and idnr.is_valid(_digits(value))


# -- secrets without a ":" or "=": "password is Ch@ngeMe77", "API key is …", "Bearer …" -------------
SECRET_NEEDLES = ("pass", "pwd", "key", "token", "secret", "bearer", "wort", "wacht", "clave", "schlüssel", "jeton",
                  "clé", "contrase")
SECRET_CUED = re.compile(
    r"(?i:(?<![^\W_])(?:password|passwort|kennwort|wachtwoord|mot de passe|contraseña|pwd|api[ _-]?key|access[ _-]?token"
    r"|zugriffstoken|token|secret|bearer|client[ _-]?secret|\w*schlüssel|clé(?: api)?|jeton|\w*kennwort|\w*passwort)(?![\w-]))"
    rf"(?:[ \t]+(?!(?i:is|ist|est)\b){UNSPENT}[^\s:=]{{1,12}}){{0,2}}?"  # "Mot de passe provisoire : …", "mot de passe FTP …"
    r"(?:\s+(?i:is|was|ist|war|est|was set to|set to|changed to|lautet|is now|now))?[ \t]*[:=]?[ \t]*[\"'`]?"
    r"((?=[^\s\"'`,;]*[^\W\d_][^\s\"'`,;]*)(?=[^\s\"'`,;]*[^A-Za-zÀ-ÿ\s\"'`,;])[^\s\"'`,;]{6,200})")
JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{6,}")


def secret_ok(m: re.Match) -> bool:
    """A value, not a word: digits or symbols and letters, or a long random-looking token."""
    v = m.group(1).rstrip(".!?)")
    if re.match(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:[\[(]|$)", v):
        return False  # code: "ConfigurationManager.AppSettings[...]"
    if re.fullmatch(r"(?i)\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?", v):
        return False  # a GUID names a registry key or an object, it opens nothing
    if re.search(r"(?i)pass|pwd|key|token|secret|wort|null|none|undefined", v):
        return False  # code naming the variable: "password = l_password", "token: req.token"
    if re.fullmatch(r"[^\W\d_]+", v) or v.startswith(("<", "{", "$", "%")) or re.fullmatch(r"[\d.]+", v):
        return False
    if "://" in v or v[0] in "(.[-" or v.endswith(("=", ":")):
        return False  # a URL, an attribute or punctuation: "xmlns:wsu=", "(which", "...and"
    has_digit = any(c.isdigit() for c in v)
    has_alpha = any(c.isalpha() for c in v)
    mixed = len(v) >= 12 and any(c.isupper() for c in v) and any(c.islower() for c in v)
    return has_alpha and (has_digit or mixed) and not re.fullmatch(r"[a-z_]+\.[a-z_.]+\(?", v)


CARD_CUED = re.compile(r"(?i:(?=[cklpt])(?<![\w-])(?:pan|card(?:[ _-]?(?:number|no))?|cc|kreditkarte|karte|carte|tarjeta|carta))"
                       r"\s*[=:]?\s*(\d(?:[ -]?\d){12,18})(?![\w-])")


def card_cued_ok(m: re.Match) -> bool:
    return luhn_ok(_digits(m.group(1)))


_IP6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]{6,39}(?![\w:])")


def ipv6(text: str):
    """Compressed IPv6 addresses ("2a01:4f8:c17:1a5::2"), checked by the standard library."""
    import ipaddress

    if "::" not in text and text.count(":") < 7:
        return
    for m in _IP6_CANDIDATE.finditer(text):
        v = m.group(0)
        if "::" in v or v.count(":") == 7:
            try:
                ip = ipaddress.IPv6Address(v)
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_unspecified):
                yield m.start(), m.end()


# -- account names without a cue: "a.obrien", "elodie.m", "BCARTWRIGHT3", "HMUELLER" ------------------
_DOTTED = re.compile(r"(?<![\w.@/\\-])([a-z]{1,12})\.([a-z]{1,20})(?![\w@/\\-]|\.\w)")
_CAPS = re.compile(r"(?<![\w.@/\\-])([A-Z])([A-Z]{5,14})(\d{0,3})(?![\w@/\\-])")


def accounts(text: str, names, hits: set[str] | None = None) -> list[tuple[int, int]]:
    """Spans of account names built from a person's name: an initial or a first name joined to a
    surname (the gazetteers say which), as desks write logins. ``hits``: as for ``checksummed``."""
    def surname(w: str) -> bool:
        return fold(w.capitalize()) in names.last_all or translit(w) in names.last_translit

    out = []
    for m in (_DOTTED.finditer(text) if hits is None or "DOTTED" in hits else ()):
        a, b = m.group(1), m.group(2)
        if len(a) == 1 and len(b) >= 3 and surname(b) or len(b) == 1 and len(a) >= 3 and fold(a.capitalize()) in names.first_all \
                or len(a) >= 3 and len(b) >= 3 and fold(a.capitalize()) in names.first_all and surname(b):
            out.append((m.start(), m.end()))
    for m in (_CAPS.finditer(text) if hits is None or "CAPS" in hits else ()):
        if m.group(0).lower() not in SYSTEM_ACCOUNTS and surname(m.group(2)) and not names.lexicon.is_word(m.group(0).lower()):
            out.append((m.start(), m.end()))
    return out
