"""Phone numbers with Google's libphonenumber (``phonenumbers``): a digit sequence written as a
phone number is redacted when it is a valid number in one of the region hints
("06 12 34 56 78" in France, "0049 (0)89 123 456", "+31 6 12345678", "089/12345678").

Numbers written without separators ("4500012345") are document numbers far more often than
phone numbers in support text: they count only after a phone cue ("Tel.", "mobile", "Handy").
Versions, dates and numbers in a version or document context are never phone numbers.
"""

from __future__ import annotations

import re

import phonenumbers

from casebase.ingest.redact.rules import NOT_PLACEHOLDER, UNSPENT

DEFAULT_REGIONS = ("GB", "US", "DE", "FR", "NL", "BE", "IE", "AT", "CH", "ES", "IT", "LU")
# a run of digit groups with phone separators, optionally international
CANDIDATE = re.compile(r"(?<![\w+.,/:-])(?:\+|\b00)?\(?\d[\d ()./-]{5,22}\d(?![\w/-]|[.,:]\w)")
CUE = re.compile(r"(?i)(?:" + NOT_PLACEHOLDER + r"\b(?:tel|tél|phone|telephone|téléphone|telefon|telefoon|teléfono|telefono|mobile?|mob|cell"
                 r"|handy|portable|mobiel|móvil|cellulare|fax|ph|direct(?: line)?|call(?: me)?(?: on| at)?|ring|rufnummer"
                 r"|durchwahl|appeler|joindre|bellen|whatsapp|sms|hotline|zentrale|standard)\b\.?)(?:" + UNSPENT + r"[^\n\d+]){0,20}$")
NOT_CONTEXT = re.compile(r"(?i)(?:\b(?:version|ver|v|release|build|patch|sp|ebf|kernel|level|rev|note|notes|kb|sap note"
                         r"|order|po|invoice|doc(?:ument)?|ticket|incident|case|item|material|batch|serial|id|no|nr|ref"
                         r"|account|acct|iban|port|error|code|line|row|amount|total|eur|usd|gbp|chf)\b\.?|#|€|\$|£)"
                         r"[\s:#.=-]*$")
DATEISH = re.compile(r"(?:\d{1,2}\.? )?(?:(?:19|20)\d\d[./ -](?:0?[1-9]|1[0-2])[./ -]\d\d?"
                     r"|\d\d?[./-]\d\d?[./-](?:19|20)?\d\d)(?![\d.-]*\d[./-]\d)")


def _valid(raw: str, regions: tuple[str, ...]) -> bool:
    for region in regions:
        try:
            n = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(n):
            return True
    return False


def find(text: str, regions: tuple[str, ...] = DEFAULT_REGIONS):
    """Spans of phone numbers in ``text``."""
    for m in CANDIDATE.finditer(text):
        raw = m.group(0).rstrip(" ./-(").strip()
        if raw.count("(") != raw.count(")"):
            raw = raw.lstrip("(")  # "(959403181": an opening parenthesis, not an area code
        digits = sum(c.isdigit() for c in raw)
        if not 8 <= digits <= 15 or DATEISH.match(raw):
            continue
        before = text[max(0, m.start() - 30): m.start()]
        if NOT_CONTEXT.search(before):
            continue  # "PO 4500012345", "version 10.0.19045", even after "phone" earlier in the sentence
        cued = CUE.search(before) is not None
        if re.search(r"(?:^|\s)\d(?:\s\d){1,}\s", raw) or "/" in raw and not raw.startswith(("0", "+")) and not cued:
            continue  # "2 0 2 0 12287" (a dump's columns), "8459 / 8460", "4407/4409" (two numbers; 089/1234567 is one)
        separated = any(c in raw for c in " ()/-.") or raw.startswith("+")
        if not (separated or cued):
            continue
        if raw.count(".") >= 2 and not re.fullmatch(r"\d{2}(?:\.\d{2}){3,4}", raw) and not cued:
            continue  # dotted like a version (2023.1.17.4563), not a French 01.42.68.53.00
        if _valid(raw, regions):
            start = m.start() + m.group(0).index(raw)
            yield start, start + len(raw)
