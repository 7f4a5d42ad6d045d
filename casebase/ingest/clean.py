"""Text cleaning rules for helpdesk messages, each a small tested function.

``clean_text`` applies them in order: encoding repair, HTML to text, markdown images,
quoted replies, auto-generated boilerplate, signatures and disclaimers, greetings,
white space. The rules only remove what is structurally noise; technical content
(error codes, transaction codes, versions, amounts, paths, code) stays.

    from casebase.ingest.clean import clean_text
    clean_text("<p>Hi Tom,</p><p>Error SQL0911N in v29.1</p>")  # -> "Error SQL0911N in v29.1"
"""

from __future__ import annotations

import html
import re

import ftfy

# --- encoding -------------------------------------------------------------------------

# what ftfy may change: anything but printable ASCII (control characters, terminal escapes too)
_NOT_PLAIN = re.compile(r"[^\t\n\r\x20-\x7e]")


def fix_encoding(text: str) -> str:
    """Repair mojibake ("Ã©" -> "é") and odd Unicode, drop control characters and terminal escapes;
    printable ASCII text is returned as is."""
    if not _NOT_PLAIN.search(text):
        return text
    return ftfy.fix_text(text, unescape_html=False)


# --- HTML -----------------------------------------------------------------------------

_HTML_MARKERS = re.compile(r"<(?:br|p|/p|html|body|table|tr|td|ul|ol|li|h[1-6]|strong|b|em|i|font|span style)\b[^>]*>", re.I)
_PRE = re.compile(r"<(pre|code)\b[^>]*>(.*?)</\1\s*>", re.I | re.S)
_BREAK_TAGS = re.compile(r"<\s*(?:br|/p|/div|/tr|/h[1-6]|/ul|/ol|/table|hr)\b[^>]*>", re.I)
_OPEN_BLOCK = re.compile(r"<\s*(?:p|div|tr|h[1-6]|table)\b[^>]*>", re.I)
_LI = re.compile(r"<\s*li\b[^>]*>", re.I)
_CELL = re.compile(r"<\s*/t[dh]\s*>", re.I)
_DROP_BLOCKS = re.compile(r"<(script|style|head)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_KNOWN_TAG = re.compile(
    r"</?(?:a|abbr|b|big|blockquote|body|br|center|code|col|colgroup|dd|del|div|dl|dt|em|font|h[1-6]|head|hr|"
    r"html|i|img|ins|kbd|li|meta|o:p|ol|p|pre|s|small|span|strike|strong|sub|sup|table|tbody|td|tfoot|th|thead|"
    r"title|tr|tt|u|ul)\b[^<>]*>",
    re.I,
)
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});", re.I)


# Signs that the markup is a pasted code snippet, not the body of an HTML mail.
_CODE_HINTS = re.compile(
    r"<(?:input|form|script|object|param|button|textarea|select|option|\?php|\?xml|%)\b|\becho\s*['\"]"
    r"|\bfunction\s*\w*\s*\(|\bdata-sap-ui-", re.I)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_TAG_NAME = re.compile(r"</?([A-Za-z][\w.-]*(?::[A-Za-z][\w.-]*)?)(?=[\s/>])")
_HTML_NAMES = frozenset("""
a abbr address article b base big blockquote body br caption center cite code col colgroup dd del div dl dt em
figcaption figure font footer h1 h2 h3 h4 h5 h6 head header hr html i img ins kbd label li link main mark meta
nav nobr ol p pre q s section small span strike strong style sub sup table tbody td tfoot th thead title tr tt
u ul wbr
""".split())
_OFFICE_PREFIXES = ("o:", "v:", "w:", "m:", "st1:", "x:")  # Outlook/Word HTML


def looks_like_html(text: str) -> bool:
    """True for HTML-formatted mail bodies; a code snippet with <div> tags is not enough:
    markup pasted after paragraphs of plain text, markup with <input>, <script>, PHP or
    JavaScript, and XML made mostly of non-HTML tags are code."""
    if len(_HTML_MARKERS.findall(text)) < 2:
        return False
    first = _HTML_MARKERS.search(text)
    prefix = text[: first.start()]
    if prefix.strip() and _BLANK_LINE.search(prefix):
        return False
    if _CODE_HINTS.search(text):
        return False
    names = [n.lower() for n in _TAG_NAME.findall(text)]
    unknown = sum(1 for n in names if n not in _HTML_NAMES and not n.startswith(_OFFICE_PREFIXES))
    return not (unknown >= 2 and 2 * unknown >= len(names))


def html_to_text(text: str, declared: bool = False) -> str:
    """Turn an HTML body into text, keeping line breaks, list items and <pre>/<code> content. ``declared``: the
    export says the body is HTML (a content type), so a short note that does not look like HTML is converted too."""
    if declared or looks_like_html(text):
        kept: list[str] = []

        def stash(m: re.Match) -> str:
            kept.append(html.unescape(m.group(2)))
            return f"\x00{len(kept) - 1}\x00"

        text = _DROP_BLOCKS.sub("", text).replace("\x00", "")  # NUL marks the stashed blocks
        text = _PRE.sub(stash, text)
        text = re.sub(r"\s*\n\s*", " ", text)  # source newlines are not breaks in HTML
        text = _BREAK_TAGS.sub("\n", text)
        text = _OPEN_BLOCK.sub("\n", text)
        text = _LI.sub("\n- ", text)
        text = _CELL.sub("\t", text)
        text = _KNOWN_TAG.sub("", text)
        text = re.sub(r"\x00(\d+)\x00", lambda m: "\n" + kept[int(m.group(1))] + "\n", text)
    return unescape_entities(text)


def unescape_entities(text: str) -> str:
    """&amp; &lt; &nbsp; &#39; ... to characters."""
    if "&" not in text or not _ENTITY.search(text):
        return text
    return html.unescape(text)


# --- markdown images ------------------------------------------------------------------

_LINKED_IMAGE = re.compile(r"\[!\[([^\]\n]*)\]\([^)]*\)\]\([^)]*\)")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)]*\)")


def strip_images(text: str) -> str:
    """Markdown images (often wrapped in a link) become "[image: name]"."""
    def label(m: re.Match) -> str:
        name = m.group(1).strip()
        return f"[image: {name}]" if name else "[image]"

    return _IMAGE.sub(label, _LINKED_IMAGE.sub(label, text))


# --- quoted replies -------------------------------------------------------------------

_WROTE = re.compile(r"^\s*On\b.{4,200}?\bwrote:\s*$", re.M | re.S)
_WROTE_INLINE = re.compile(
    r"(?=O)\bOn (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun|\d{1,4}[/.-]\d{1,2}|\d{1,2} \w+ \d{4})[^\n]{0,150}?\bwrote:")
_ORIGINAL = re.compile(r"^\s*-{2,}\s*(?:Original Message|Forwarded message)\s*-{2,}", re.M | re.I)
# a mail header block needs a Sent:/Date:/Subject: line: "From: X ... To: Y" alone is also how
# dependency errors read ("From: SAP HANA Studio 1.0.48 ... To: com.sap...")
_HEADER_FROM = re.compile(r"^\s*_{0,}\s*From:[^\n]*\n(?:[^\n]*\n){0,2}\s*(?:Sent|Date|Subject):", re.M | re.I)
_FROM_KEY = re.compile(r"From:", re.I)
# the same in German, French, Dutch, Spanish and Italian mail clients, cut to the end:
#   "Am 3. Dez. 2026 um 10:15 schrieb Max <max@example.de>:"
#   "Le 3 déc. 2026 à 10:15, Jean Dupont <jean@example.fr> a écrit :"
#   "Op 3 dec. 2026 om 10:15 schreef Jan <jan@example.nl>:"
#   "El 3 dic 2026, a las 10:15, Juan <juan@example.es> escribió:"
#   "Il giorno 3 dic 2026, alle ore 10:15 Mario <mario@example.it> ha scritto:"
# the line may wrap (once before the verb, once after); a date (a digit before the verb) is required,
# so that "Am Montag schrieb der Kunde:" or "Le serveur a écrit :" in a sentence stay
_WROTE_INTL = re.compile(
    r"^[ \t]*(?:Am|Le|Op|El|Il)[ \t](?P<when>[^\n]{1,200}?|[^\n]{0,200}\n[^\n]{0,200}?)(?<=\s)"
    r"(?:schrieb|a[ \t\u00a0]+écrit|schreef|escribió|ha[ \t]+scritto)(?:[ \t][^\n:]{0,150})?(?:\n[^\n:]{1,150})?"
    r"[ \t\u00a0]*:[ \t]*$",
    re.M)
# the same glued into a line (HTML mail flattened): only with a date right after the opening word
_WROTE_INTL_INLINE = re.compile(
    r"\b(?:Am|Le|Op|El|Il giorno)[ \t](?:[^\W\d]{2,10}\.?,?[ \t])?\d{1,4}[./ -][^\n]{0,160}?(?<=\s)"
    r"(?:schrieb|a[ \t\u00a0]écrit|schreef|escribió|ha[ \t]scritto)(?:[ \t][^\n:]{0,100})?[ \t\u00a0]?:")
# Outlook and Gmail separators in other languages
_ORIGINAL_INTL = re.compile(
    r"^\s*-{2,}\s*(?:Ursprüngliche Nachricht|Originalnachricht|Weitergeleitete Nachricht|Message d['’]origine"
    r"|Message transféré|Message original|Oorspronkelijk bericht|Origineel bericht|Doorgestuurd bericht"
    r"|Mensaje original|Mensaje reenviado|Messaggio originale|Messaggio inoltrato)\s*-{2,}", re.M | re.I)
# Outlook header blocks in other languages: "Von: … Gesendet: … An: … Betreff: …", "De : … Envoyé : … À : …
# Objet :", "Van: … Verzonden: … Aan: … Onderwerp:", "De: … Enviado: … Para: … Asunto:", "Da: … Inviato: … A: …
# Oggetto:", one key a line or all on one line; the From key opens a line and a Sent/Date key and a
# To/Subject key follow within four lines ("Von: der Buchhaltung kam …" alone is a sentence)
_HEADER_INTL_FROM = re.compile(r"^[ \t>]*[*_]{0,2}(?:Von|De|Van|Da)[*_]{0,2}[ \t\u00a0]?:[*_]{0,2}[ \t\u00a0]", re.M)
_HEADER_INTL_KEY = re.compile(
    r"(?:^|(?<=\s))[*_]{0,2}(?:(?P<sent>Gesendet|Datum|Envoyé|Date|Verzonden|Enviado(?:[ \t]el)?|Fecha|Inviato|Data"
    r"|Sent)|(?P<to>An|Betreff|À|A|Objet|Aan|Onderwerp|Para|Asunto|Oggetto|To|Subject|Cc))[*_]{0,2}[ \t\u00a0]?:",
    re.M)
_HEADER_KEY_ANY_CASE = re.compile(_HEADER_INTL_KEY.pattern, re.M | re.I)  # English: "FROM:/SENT:" too
_FOUR_LINES = re.compile(r"[^\n]*(?:\n[^\n]*){0,4}")


# the words each of those needs, tested first (a substring test is far cheaper than the patterns)
_WROTE_HINTS = ("schrieb", "écrit", "schreef", "escribió", "scritto")
_SENT_HINTS = ("Gesendet", "Datum", "Envoy", "Date :", "Verzonden", "Enviado", "Fecha", "Inviato", "Data:", "Data :")


def _quote_start_intl(text: str) -> int:
    """Where a quoted mail in de/fr/nl/es/it starts, or len(text)."""
    cut = len(text)
    if any(h in text for h in _WROTE_HINTS):
        for m in _WROTE_INTL.finditer(text):
            if any(c.isdigit() for c in m.group("when")):
                cut = m.start()
                break
        m = _WROTE_INTL_INLINE.search(text, 0, cut)
        if m:
            cut = m.start()
    if "--" in text:
        m = _ORIGINAL_INTL.search(text, 0, cut)
        if m:
            cut = m.start()
    if not any(h in text for h in _SENT_HINTS):
        return cut
    for m in _HEADER_INTL_FROM.finditer(text, 0, cut):
        if _header_keys(text, m.end()):
            return m.start()
    return cut


def _header_keys(text: str, pos: int, keys: re.Pattern = _HEADER_INTL_KEY) -> bool:
    """True when a Sent/Date key and a To/Subject key follow pos (a From key's end) within four lines."""
    window = _FOUR_LINES.match(text, pos).group()
    return {k.lastgroup for k in keys.finditer(window)} == {"sent", "to"}


_QUOTE_LINE = re.compile(r"^[ \t]*>[^\n]*(?:\n|$)", re.M)
# a reply quote: "> Tom wrote:", or a ">" block opening the message (after at most a greeting line)
_REPLY_QUOTE = re.compile(
    r"^[ \t]*>[^\n]*\bwrote:|\A\s*(?:(?:hi|hello|hey|dear|greetings|good \w+)\b[^\n>]{0,50}\n\s*)?>", re.M | re.I)


def strip_quoted(text: str) -> str:
    """Remove quoted earlier mails: "On ... wrote:", "-----Original Message-----",
    From:/Sent:/To: header blocks, the same in German, French, Dutch, Spanish and Italian
    ("Am ... schrieb ...:", "Le ... a écrit :", "Von: / Gesendet: / Betreff:", "De : / Envoyé : /
    Objet :", "-----Ursprüngliche Nachricht-----" ...) (all cut to the end) and lines starting with ">" when the
    message is a reply that quotes ("> Tom wrote:", or opens with a ">" block). Elsewhere
    ">" marks code, log lines or a quoted document, which stay."""
    cut = len(text)
    # each pattern needs its words ("wrote:", "--", "from:" in any case): a substring test first
    for pattern in ((_WROTE, _WROTE_INLINE) if "wrote:" in text else ()) + ((_ORIGINAL,) if "--" in text else ()):
        m = pattern.search(text)
        if m and m.start() < cut:
            cut = m.start()
    for m in _HEADER_FROM.finditer(text, 0, cut) if "from:" in text.lower() else ():
        # "From: the log we saw ...\nDate: ..." is a sentence: a To/Subject key must follow too
        if _header_keys(text, _FROM_KEY.search(text, m.start()).end(), _HEADER_KEY_ANY_CASE):
            cut = m.start()
            break
    text = text[:cut]
    return _strip_quote_lines(text[:_quote_start_intl(text)])


def _strip_quote_lines(text: str) -> str:
    if ">" in text and _REPLY_QUOTE.search(text):
        text = _QUOTE_LINE.sub("", text)
    return text


# --- auto-generated boilerplate -------------------------------------------------------

_BOILERPLATE_LINES = re.compile(
    r"^[ \t]*(?:TICKET (?:RECEIVED|UPDATED|CLOSED)\b[^\n]*"
    r"|This is an automated (?:message|e-?mail|response)[^\n]*"
    r"|Please do not reply to this (?:e-?mail|message)[^\n]*"
    r"|Message was edited by:(?:[ \t]*\S+){0,4}"  # the editor's name; a longer line goes on with content
    r"|Message was edited by:[ \t]*(?:\S+[ \t]+){1,3}-[ \t][^\n]*"  # "... by: Name - reason of the edit"
    r"|Edited by:(?:[ \t]*\S+){1,4}|Edited by:[^\n]{1,60}? on \w{3} \d{1,2}, \d{4} \d{1,2}:\d{2}(?: [AP]M)?"
    r"|Sent from my (?:iPhone|iPad|BlackBerry|Android|mobile|phone|Samsung|Galaxy)[^\n]*"
    r"|\[cid:[^\]\n]*\])[ \t]*$\n?",
    re.M | re.I,
)
# "Sent from my iPhone" in German, French, Dutch, Spanish, Italian (run only where a _SENT_FROM_HINTS word is)
_SENT_FROM_INTL = re.compile(
    r"^[ \t]*(?:Von meinem (?:iPhone|iPad|Android|Smartphone|Handy|Samsung|Galaxy)[^\n]{0,30}? gesendet"
    r"|(?:Gesendet von meinem|Envoy[ée] (?:de|depuis) mon|Verzonden (?:vanaf|met) mijn|Enviado desde mi"
    r"|Inviato dal mio|Inviato da) (?:iPhone|iPad|BlackBerry|Android|Smartphone|Handy|Samsung|Galaxy|mobile|"
    r"m[óo]vil|cellulare|t[ée]l[ée]phone|telefoon)[^\n]{0,40})[ \t]*$\n?", re.M | re.I)
_SENT_FROM_HINTS = ("meinem", "nvoy", "mijn", "desde mi", "nviato da")
_LABELS = re.compile(r"^[ \t]*(?:DESCRIPTION|PROBLEM|DETAILS)\s*:[ \t]*", re.M)
# "Message was edited by: Name" glued to text: the name (up to three words on the last line,
# two where more text follows: scraped posts lost the line break after it) goes, the text stays
_INLINE_EDITED = re.compile(r"[ \t]*Message was edited by:(?:[ \t]*\S+(?:[ \t]+\S+){0,2}[ \t]*$|(?:[ \t]*\S+){0,2})",
                            re.I)


def strip_boilerplate(text: str) -> str:
    """Remove lines a helpdesk or forum generates ("TICKET RECEIVED: ...", "Message was
    edited by: ...", "Sent from my iPhone") and field labels ("DESCRIPTION:")."""
    text = _BOILERPLATE_LINES.sub("", text)
    if any(h in text for h in _SENT_FROM_HINTS):
        text = _SENT_FROM_INTL.sub("", text)
    text = _LABELS.sub("", text)
    return _INLINE_EDITED.sub("", text) if "edited by" in text else text


# --- signatures and disclaimers -------------------------------------------------------

_SIG_DELIM = re.compile(r"^-- ?$", re.M)
_DISCLAIMER = re.compile(
    r"(?:^|(?<=\n)|(?<=[.!?] ))[^\n]{0,80}?(?:(?-i:\bCONFIDENTIALITY NOTICE\b|\bDISCLAIMER\b|^Disclaimer:)|"
    r"This (?:e-?mail|message|communication)(?: and any (?:files|attachments)[^.\n]{0,40})? (?:is|are|may be) "
    r"(?:confidential|intended)|If you (?:have )?received this (?:e-?mail|message|communication) in error|"
    r"Registered in England(?: and Wales)?|"
    r"Diese (?:E-?Mail|Nachricht)[^.\n]{0,60}? (?:enthält vertrauliche|ist vertraulich)|"
    r"(?:Ce|Le présent) (?:message|courriel|e-?mail)[^.\n]{0,60}? (?:est|sont) (?:strictement )?confidentiel|"
    r"(?:Dit|Deze) (?:e-?mail(?:bericht)?|bericht)[^.\n]{0,60}? (?:is|zijn) (?:uitsluitend bestemd|vertrouwelijk)|"
    r"Este (?:mensaje|correo(?: electrónico)?)[^.\n]{0,60}? (?:es|son) confidencial|"
    r"(?:Questo messaggio|Questa e-?mail|Le informazioni contenute)[^.\n]{0,60}? (?:è|sono) "
    r"(?:riservat|confidenzial))[\s\S]*?(?=\n\s*\n|\Z)",
    re.I,
)
CLOSINGS = (r"(?:(?:kind|best|warm|many|with kind|thanks and|thanks &)\s+)?(?:regards|rgds|wishes|thanks)"
            r"|thank you|cheers|sincerely|yours sincerely|yours faithfully|best(?=[ \t]*,)|ta(?![\w-])")
# German, French, Dutch, Spanish, Italian: "Mit freundlichen Grüßen", "Viele Grüße", "Cordialement", "Bien à
# vous", "Met vriendelijke groet", "Saludos cordiales", "Un saludo", "Cordiali saluti", "Distinti saluti" ...
CLOSINGS_INTL = (
    r"(?:mit\s+)?(?:(?:freundlich|best|viel|lieb|herzlich|sch[öo]n|sonnig)e[mnrs]?\s+)?gr(?:ü|ue|u)(?:ß|ss)(?:en?)?"
    r"(?:\s+aus\s+\w+)?|(?:vielen\s+|besten\s+)?dank(?:e(?:\s+schön)?)?(?:\s+(?:und|&)\s+(?:viele|beste|freundliche)"
    r"\s+gr(?:ü|ue)(?:ß|ss)e)?"
    r"|(?:bien\s+|très\s+)?cordialement|bien\s+à\s+(?:vous|toi)|(?:sincères\s+|meilleures\s+)?salutations"
    r"(?:\s+distinguées)?|(?:bien\s+)?amicalement|bonne\s+(?:journée|soirée|fin\s+de\s+journée)"
    r"|merci(?:\s+(?:d['’]avance|par\s+avance|beaucoup|bien))?"
    r"|(?:met\s+)?(?:vriendelijke|hartelijke|beste)\s+groet(?:en)?|groet(?:en|jes)?|(?:alvast\s+)?bedankt"
    r"|dank\s+(?:je|u)\s+wel"
    r"|(?:reciba\s+)?(?:un\s+)?(?:cordial\s+)?saludos?(?:\s+cordiales)?|atentamente|cordialmente"
    r"|(?:muchas\s+)?gracias(?:\s+de\s+antemano)?|un\s+abrazo"
    r"|(?:cordiali\s+|distinti\s+|tanti\s+)?saluti|un\s+(?:cordiale\s+)?saluto|grazie(?:\s+mille)?|buona\s+giornata")
# abbreviations only as a line of their own: "LG Monitor" at the end of a post is not a sign-off
_ABBREVIATED_CLOSINGS = r"mfg|lg|vg|mvg"
_ANY_CLOSING = rf"(?:{CLOSINGS})|{CLOSINGS_INTL}|{_ABBREVIATED_CLOSINGS}"
# the other languages' patterns run only where one of these is in the (lower-cased) text: they are slower
_INTL_CLOSING_HINTS = ("grü", "grue", "gruß", "gruss", "dank", "cordial", "salut", "bien", "amicalement", "bonne",
                       "merci", "groet", "bedankt", "salud", "atentamente", "gracias", "abrazo", "grazie", "buona",
                       "\nmfg", "\nmvg", "\nlg", "\nvg")  # the abbreviations only on a line of their own
_CLOSING_LINE = re.compile(rf"^[ \t]*(?:{CLOSINGS})[ \t]*[,.!]*[ \t]*$", re.M | re.I)
# a bilingual sign-off counts as one: "Mit freundlichen Grüßen / Kind regards"
_CLOSING_LINE_INTL = re.compile(
    rf"^[ \t]*(?:{_ANY_CLOSING})(?:[ \t]*[,.!]?[ \t]*/[ \t]*(?:{_ANY_CLOSING}))?[ \t]*[,.!]*[ \t]*$", re.M | re.I)
_NAME_END = (r"[ \t]*[,.!-]*[ \t]*\n?[ \t]*(?:[A-ZÀ-ÖØ-Þ][\w'’.-]*|[a-z][a-z0-9_]{2,}\d[a-z0-9_]*)"
             r"(?:[ \t]+[A-ZÀ-ÖØ-Þ][\w'’.-]*){0,2}[ \t]*[.!]?\s*\Z")
# the closing word in any case, the name after it capitalised (or a lowercase user name)
_CLOSING_WITH_NAME_END = re.compile(rf"(?:^|(?<=[\s.!?,]))(?i:{CLOSINGS}){_NAME_END}")
_CLOSING_WITH_NAME_END_INTL = re.compile(rf"(?:^|(?<=[\s.!?,]))(?i:{CLOSINGS}|{CLOSINGS_INTL}){_NAME_END}")


# what follows "Regards," in a signature: a name, a title, a company, a phone number, a URL;
# a sentence, a "P.S.", an "Edit:" or a screenshot after it is content
_NOT_SIGNATURE = re.compile(r"(?i)^(?:p\.?\s?s\b|edit|update|fyi|note\b|btw)|\[image\b|[:?]$")


def _signature_line(line: str) -> bool:
    return len(line) <= 60 and len(line.split()) <= 6 and not _NOT_SIGNATURE.search(line)


# contact lines of a company signature: phone, mail, web, legal form, commercial register, VAT number
_CONTACT = re.compile(
    r"(?i)\b(?:tel|phone|fax|mobil\w*|mobile|cell|t[ée]l[ée]?phone|telefo(?:on|no)|tel[ée]fono|cellulare|m[óo]vil"
    r"|portable|e-?mail|courriel|web|gmbh|ag|kg|sarl|sas|b\.?v|n\.v|s\.l|s\.a|s\.p\.a|s\.r\.l|ltd|inc|llc|hrb|hra"
    r"|amtsgericht|registergericht|ust-?id\w*|siret|siren|kvk|btw|cif|nif|p\.?\s?iva|partita iva)\b"
    r"|www\.|https?://|\+\d[\d ()/.-]{6,}|[\w.+-]+@[\w-]+\.\w")


def _signature_block(tail: list[str]) -> bool:
    """A closing's tail that is a signature: a few short lines, or a longer company block with contact lines."""
    if len(tail) <= 6 and all(map(_signature_line, tail)):
        return True
    return (len(tail) <= 15 and sum(1 for line in tail if _CONTACT.search(line)) >= 2
            and all(len(line) <= 100 and len(line.split()) <= 12 and not _NOT_SIGNATURE.search(line)
                    for line in tail))


def strip_signature(text: str) -> str:
    """Remove a "-- " signature, disclaimers, and a closing block ("Kind regards,\\nName\\nTitle"
    or "Regards, Name" at the very end). Never removes the whole message."""
    m = _SIG_DELIM.search(text)
    if m and text[: m.start()].strip():
        text = text[: m.start()]
    lower = text.lower()
    if any(n in lower for n in ("confidential", "disclaimer", "received this", "registered in", "vertraulich",
                                "confidentiel", "vertrouwelijk", "bestemd", "confidencial", "riservat",
                                "confidenzial")):
        text = _DISCLAIMER.sub("", text)
    intl = any(h in lower for h in _INTL_CLOSING_HINTS)
    closings = list((_CLOSING_LINE_INTL if intl else _CLOSING_LINE).finditer(text))
    if closings:
        last = closings[-1]
        tail = [line.strip() for line in text[last.end():].splitlines() if line.strip()]
        if _signature_block(tail) and text[: last.start()].strip():
            return text[: last.start()].rstrip()
    offset = max(0, len(text) - 100)  # the pattern is anchored at the end: search only the tail
    m = (_CLOSING_WITH_NAME_END_INTL if intl else _CLOSING_WITH_NAME_END).search(text, offset)
    if m and text[: m.start()].strip():
        text = text[: m.start()].rstrip()
    return text


# --- greetings ------------------------------------------------------------------------

# who is greeted: names, "all", "team", a linked profile "**[Tom Baker](http://...)**"; not the
# words a sentence starts with ("Hi I attached the log.", "Hello Now I am getting ...")
_ADDRESSEE = (r"(?:\**@?\**\[[^\]\n]{1,80}\]\([^)\s]{1,300}\)(?:[ \t]*\*\*)?|(?:mr|mrs|ms|dr|prof)\.|&|\*\*"
              r"|\**(?!(?:i|im|i'm|i've|i'll|i'd|we|you|u|it|is|am|are|was|can|could|would|will|please|pls|plz"
              r"|kindly|thanks?|thx|here|this|that|me|your|not|no|yes|do|does|did|have|has|had|just|now|need|want"
              r"|what|how|when|where|why|any|anyone|anybody|somebody|someone|in|on|for|with|the)\b)"
              r"[^\W\d_][^\W_]*(?:[-'’/][^\W_]+)*['’]?\**)")
_GREETING = re.compile(
    r"\A\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening|day)|greetings|morning|afternoon)\b"
    rf"(?:(?:[ \t]+{_ADDRESSEE}){{0,6}}[ \t]*[,!:.-]?[ \t]*\n"  # "Hi Tom,\n", "Hello all\n"
    # "Hi all,I" (the scrape lost the line break), "Hi - I"
    rf"|(?:[ \t]+{_ADDRESSEE}){{0,4}}(?:[ \t]*(?:[,!:]|\.(?!\d))[ \t]*|[ \t]+[-–]+[ \t]*)(?=\S))",
    re.I,
)


# German, French, Dutch, Spanish, Italian salutations ("Sehr geehrte Damen und Herren,", "Bonjour Madame,",
# "Beste Jan,", "Estimado Sr. García:", "Buongiorno,"): a line of its own that ends in "," or "!" after the
# addressee (":" in Spanish); "Hallo ich habe ein Problem" is a sentence and stays
_GREETING_INTL = re.compile(
    r"\A\s*(?:(?P<es>hola|estimad[oa]s?|buen(?:os|as)\s+(?:días|tardes|noches))|hallo|guten\s+(?:tag|morgen|abend)"
    r"|sehr\s+geehrte[rs]?|liebe[rs]?|moin|servus|bonjour|bonsoir|salut|ch[eè]re?s?|madame|monsieur|hoi|beste"
    r"|geachte|goede(?:morgen|middag|navond)|goedendag|buongiorno|buonasera|gentil[ei]|egregi[oa]|ciao|salve)(?!\w)"
    rf"(?:(?:[ \t]*,?[ \t]+(?:(?:sr|sra|srta|dra|sig|sig\.ra|mme|dhr|mevr)\.|{_ADDRESSEE})){{1,6}}"
    r"[ \t]*(?:[,!]|(?(es):|(?!)))|[ \t]*(?:[,!]|(?(es):|(?!)))?)[ \t]*\n",
    re.I,
)


def strip_greeting(text: str) -> str:
    """Remove an opening greeting line ("Hi Tom,", "Dear Support,", "Hello all!", and the same in
    German, French, Dutch, Spanish and Italian: "Sehr geehrte Damen und Herren,", "Bonjour,")."""
    m = _GREETING.match(text) or _GREETING_INTL.match(text)
    if m and text[m.end():].strip():
        return text[m.end():]
    return text


# --- white space ----------------------------------------------------------------------

_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_INNER_SPACE = re.compile(r"(?<=\S)(?: (?=[ \t\u00a0\u2007\u202f])|[\t\u00a0\u2007\u202f])[ \t\u00a0\u2007\u202f]*")
_TRAILING = re.compile(r"[ \t]+$", re.M)
_BLANK_LINES = re.compile(r"\n{3,}")


def normalise_whitespace(text: str) -> str:
    """Unify line endings, drop zero-width characters, collapse runs of spaces inside lines
    (leading indentation of code is kept) and of blank lines, strip the ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH.sub("", text).replace("\u00a0", " ")
    text = _INNER_SPACE.sub(" ", text)  # (a single space is left as it is: the same text, 5x fewer replacements)
    text = _TRAILING.sub("", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def clean_text(text: str | None) -> str:
    """All cleaning rules in order; returns "" for empty input."""
    if not text:
        return ""
    text = fix_encoding(text)
    text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = strip_images(text)
    text = strip_quoted(text)
    text = strip_boilerplate(text)
    text = strip_signature(text)
    text = strip_greeting(text)
    return normalise_whitespace(text)
