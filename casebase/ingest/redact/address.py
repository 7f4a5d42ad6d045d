"""Postal addresses and postcodes: street lines (UK/US, DE, FR, NL, ES, IT) and postcodes
with their town (UK, DE, FR, NL, US), so "14 Baker Street, London NW1 6XE",
"Hauptstraße 12, 80331 München", "15 rue de la Paix, 75002 Paris",
"Kerkstraat 12, 1017 GB Amsterdam" and "Springfield, IL 62704" go.

A bare five-digit number is an error or document number far more often than a postcode:
it counts only with a town after it, where a street line, a comma or a line break stands
before it, or after a postcode cue word.
"""

from __future__ import annotations

import re

from casebase.ingest.redact.rules import by_first_letter, can_start

_NAMEWORD = r"(?:[A-ZÀ-ÖØ-Þ][^\W\d_]*(?:['’-][^\W\d_]+)*)"
_TOWN = rf"{_NAMEWORD}(?:[ -](?:(?:am|an|im|in|der|de|la|le|les|sur|sous|en|upon|on|aan|den|bei)[ -])?{_NAMEWORD}){{0,2}}"

STREET_EN = re.compile(
    r"(?=[\dAFRSU])(?:\b(?:Flat|Apartment|Apt\.?|Unit|Suite|Ste\.?|Room|Floor) \d{1,4}[A-Z]?,? )?"
    rf"\b\d{{1,5}}[A-Za-z]?,? (?:{_NAMEWORD} ){{1,3}}"
    r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Close|Way|Court|Ct\.?|Place|Pl\.?|Square|Sq\.?"
    r"|Terrace|Crescent|Gardens|Grove|Boulevard|Blvd\.?|Parkway|Pkwy\.?|Highway|Hwy\.?|Row|Mews|Walk|Hill|Park|Green"
    r"|Rise|Vale|View|Wharf|Quay|Broadway|Circle|Trail)\b")
STREET_DE_NL = re.compile(
    rf"\b{_NAMEWORD}?(?:[a-zäöüß]*)(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad"
    r"|straat|laan|plein|gracht|kade|singel|dijk|steeg|hof|markt)(?: \d{1,4}(?: ?[a-zA-Z])?(?:[-/]\d{1,4})?)\b")
STREET_DE_WORD = re.compile(rf"\b{_NAMEWORD} (?:Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Ring|Damm|Chaussee"
                            r"|Laan|Straat|Plein|Kade) \d{1,4}[a-z]?\b")
STREET_DE_TWO = re.compile(rf"(?=[AIUZ])\b(?:Am|An der|Auf dem|Im|In der|Zum|Zur|Unter den) {_NAMEWORD} \d{{1,4}}[a-z]?\b")
STREET_FR = re.compile(
    r"(?=\d)\b\d{1,4}(?: ?(?:bis|ter|[a-d]))?,? (?i:rue|avenue|av\.|boulevard|bd|place|allée|chemin|impasse|quai|cours"
    r"|route|faubourg|square|voie|passage|rond-point)"
    rf" (?:(?i:de la|de l['’]|du|des|de|d['’]|la|le|les) ?)?{_NAMEWORD}(?: (?:(?i:de|du|des|la|le)) ?{_NAMEWORD}|"
    rf" {_NAMEWORD}){{0,3}}")
_STREET_WORDS_ES_IT = (r"Calle|C/|Avenida|Avda\.?|Plaza|Paseo|Passeig|Carrer|Avinguda|Via|Viale|Piazza|Corso|Largo"
                       r"|Rua|Rue|Avenue|Boulevard|Chaussée|Place|Chemin|Quai")
STREET_ES_IT = re.compile(rf"{can_start(_STREET_WORDS_ES_IT)}\b(?:{by_first_letter(_STREET_WORDS_ES_IT, ignorecase=False)}) "
                          rf"(?:(?:de la|del|de|dei|della|di) )?{_NAMEWORD}(?: {_NAMEWORD}){{0,2}},? \d{{1,4}}\b")
STREETS = (STREET_EN, STREET_DE_NL, STREET_DE_WORD, STREET_DE_TWO, STREET_FR, STREET_ES_IT)
STREET_NAMES = ("STREET_EN", "STREET_DE_NL", "STREET_DE_WORD", "STREET_DE_TWO", "STREET_FR", "STREET_ES_IT")

# postcodes are found first, then the town before them (a regex that starts with a town tries every word)
UK_POSTCODE = re.compile(r"(?=[A-Z])\b(?:GIR 0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b")
EIRCODE = re.compile(r"(?=[A-Z])\b(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}\b")
TOWN_BEFORE = re.compile(rf"\b{_TOWN}(?: \d{{1,2}})?,? $")  # "London NW1 6XE", "Dublin 2, D02 XY45"
NL_POSTCODE = re.compile(rf"(?=[1-9])\b[1-9]\d{{3}} ?(?P<letters>[A-Z]{{2}}),? (?P<town>{_TOWN})")
UNITS = frozenset("GB MB KB TB PB SA SD SS".split())  # "2048 GB Speicher"; SA, SD, SS are not used in NL
US_STATES = ("AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
             "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY").split()
US_STATE_ZIP = re.compile(rf"(?=[A-Z])\b(?:{'|'.join(US_STATES)}) \d{{5}}(?:-\d{{4}})?\b")
US_TOWN_BEFORE = re.compile(rf"\b{_TOWN},? $")
# five digits (DE, FR, ES, IT) or four (AT, CH, BE) and a town, with a country prefix or a cue before
ZIP_TOWN = re.compile(rf"(?=[\dABCDFN])(?:\b(?:D|F|A|CH|B|DE|FR|AT|NL)-)?\b\d{{4,5}} {_TOWN}")
_ZIP_CUE_WORDS = (r"(?i:\b(?:plz|postleitzahl|postcode|post code|postal code|zip(?: code)?|code postal|cp"
                  r"|código postal|cap)\b\.?\s*[:=]?\s*)")
ZIP_CUE = re.compile(_ZIP_CUE_WORDS + "$")
# a postcode after its cue word, whatever follows it
CUED_ZIP = re.compile(_ZIP_CUE_WORDS + r"(\b(?:\d{4,5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4} ?[A-Z]{2})\b)")
# words after a number that make it a quantity, not a town: "5000 Records", "80331 Fehler"
NOT_TOWNS = frozenset("""
euro euros eur usd gbp chf dollar dollars pounds records rows items lines entries users documents invoices orders
error errors fehler erreur message messages transactions tickets bytes kb mb gb tb files dateien fichiers
datensätze zeilen lignes enregistrements seconds sekunden secondes minutes minuten ms hz mhz ghz dpi pixel px
port ports threads sessions connections requests calls times mal fois stück units pieces pcs
""".split())


def _town_ok(span: str) -> bool:
    words = re.findall(r"[^\W\d_]+", span)
    return bool(words) and words[0].lower() not in NOT_TOWNS


def _placed(text: str, start: int) -> bool:
    """A postcode's place: at the start of a line, after a comma or a street line, or after a cue."""
    before = text[max(0, start - 30): start]
    return (before.rstrip(" ").endswith((",", "\n")) or not before.strip() or "<ADDRESS>" in before[-14:]
            or ZIP_CUE.search(before) is not None)


# STREET_DE_NL and STREET_DE_WORD match only where a street word of theirs stands right before " " and a digit
# (their house number): a cheap search first ("ring" and "hof" alone are in half the texts: "string", "during")
_DE_NL_GATE = re.compile(r"(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|chaussee|steig|pfad"
                         r"|straat|laan|plein|gracht|kade|singel|dijk|steeg|hof|markt"
                         r"|Straße|Strasse|Str\.|Weg|Gasse|Platz|Allee|Ring|Damm|Chaussee|Laan|Straat|Plein|Kade) \d")


def streets(text: str, hits: set[str] | None = None):
    """Spans of street lines. ``hits``: the patterns that may match (``prefilter.scan``); None: all."""
    de_nl = _DE_NL_GATE.search(text) is not None if hits is None else "STREET_DE_NL" in hits
    for name, pattern in zip(STREET_NAMES, STREETS):
        if pattern in (STREET_DE_NL, STREET_DE_WORD) and not de_nl or hits is not None and name in _GATED \
                and name not in hits:
            continue
        for m in pattern.finditer(text):
            yield m.start(), m.end()


_GATED = frozenset({"STREET_EN", "STREET_DE_NL", "STREET_DE_WORD", "STREET_DE_TWO"})  # by prefilter.GATES


def postcodes(text: str, lexicon=None, hits: set[str] | None = None):
    """Spans of postcodes with their town, and of cued postcodes (run after ``streets``). ``hits``: the
    patterns that may match (``prefilter.scan``); None: all."""
    def may(name: str) -> bool:
        return hits is None or name in hits

    for name, pattern in (("UK_POSTCODE", UK_POSTCODE), ("EIRCODE", EIRCODE)):
        for m in (pattern.finditer(text) if may(name) else ()):
            town = TOWN_BEFORE.search(text, max(0, m.start() - 60), m.start())
            yield (town.start() if town else m.start()), m.end()
    for m in (NL_POSTCODE.finditer(text) if may("NL_POSTCODE") else ()):
        if _town_ok(m.group("town")) and (m.group("letters") not in UNITS or _placed(text, m.start())):
            yield m.start(), m.end()
    for m in (US_STATE_ZIP.finditer(text) if may("US_STATE_ZIP") else ()):
        town = US_TOWN_BEFORE.search(text, max(0, m.start() - 60), m.start())
        if town:  # "Springfield, IL 62704": the state alone is an ordinary word too often ("IN 46220")
            yield town.start(), m.end()
    for m in (ZIP_TOWN.finditer(text) if may("ZIP_TOWN") else ()):
        digits_end = re.match(r"(?:[A-Z]{1,2}-)?\d{4,5}", m.group(0)).end()
        town = m.group(0)[digits_end + 1:]
        # five digits (DE, FR, ES, IT) and a town written as a name, not "16791 ESD"
        five = len(m.group(0)[:digits_end].lstrip("ABCDEFHLNRT-")) == 5 and not town.split()[0].isupper()
        if ((m.group(0)[0].isalpha() or five or _placed(text, m.start())) and _town_ok(town)
                and (lexicon is None or not lexicon.is_word(town.split()[0].lower()))):
            yield m.start(), m.end()
    for m in (CUED_ZIP.finditer(text) if may("CUED_ZIP") else ()):
        yield m.start(1), m.end(1)


_MERGE = re.compile(
    rf"(?:\b(?:Flat|Apartment|Apt\.?|Unit|Suite|Ste\.?|Room|Floor)(?: \d{{1,4}}[A-Z]?)?,? )?"
    rf"(?:\b\d{{1,5}}[A-Za-z]?,? (?:{_NAMEWORD} ){{0,3}}{_NAMEWORD}, (?:{_NAMEWORD}, )?)?<ADDRESS>(?:, <ADDRESS>)*")


def merge(text: str, counts) -> str:
    """One placeholder per address: "221 Deansgate, <ADDRESS>" and "Unit <ADDRESS>, <ADDRESS>" -> "<ADDRESS>"."""
    def repl(m: re.Match) -> str:
        counts["ADDRESS"] -= m.group(0).count("<ADDRESS>") - 1
        return "<ADDRESS>"

    text = _MERGE.sub(repl, text)
    if counts["ADDRESS"] <= 0:  # the text's own placeholders merged ("<ADDRESS>, 14 Baker Street"): none new
        del counts["ADDRESS"]
    return text
