"""Gazetteers of first and last names, frozen into ``casebase/data/`` so that what gets
redacted does not change with a library release ("Called Sophie, no answer", "escalated to
Dev Ramsay", "<PERSON> Müller").

The names come from Faker's person providers (every locale written in Latin script; MIT
licence, see ``casebase/data/NAMES_LICENSE``), written once by

    .venv/bin/python -m casebase.ingest.redact.gazetteer --freeze   # needs `pip install faker`

and read from the frozen files at run time; their sha256 goes into the ingest manifest.
A name that is also a plain word of the corpus being ingested ("Will", "May", "Can") is
ambiguous: ``drop_ambiguous`` drops it, decided on the data itself.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
FIRST_FILE, LAST_FILE = DATA / "names_first.txt", DATA / "names_last.txt"

# Products and technical names that are also people's names: never a name in support text.
PRODUCTS = frozenset("""
Sage Crystal Pegasus Opera Dynamics Oracle Jasper Sherlock Julia Ruby Hana Maven Jenkins Ansible Watson Kafka
Pandas Django Flask Spring Hibernate Apache Tomcat Jetty Nginx Docker Kubernetes Helm Terraform Vault Consul
Excel Word Outlook Teams Azure Windows Linux Ubuntu Debian Redhat Android Safari Chrome Firefox Edge Office
SharePoint OneDrive PowerShell Navision Business Central Xero Quickbooks Datev Lexware Sap Abap Fiori Basis
Salesforce Zendesk Freshdesk Jira Confluence Slack Zoom Citrix Vmware Hyper Veeam Acronis Symantec Sophos Kaspersky
""".split())
# First names that are far more often a place, a month or a plain word in ERP support text.
NOT_NAMES = frozenset("""
chase mar sep sept del india georgia virginia carolina sydney florence austin chelsea devon
kent jordan nova earl faith hunter mason carter amber jade angel misty sandy penny ray gene iris ivy holly
dale glen dean jan feb apr jun jul aug oct nov dec mon tue wed thu fri sat sun august june april
london paris berlin madrid dublin milan vienna lincoln chester york essex
france china kenya chad israel italia africa america asia europa germany spain holland mac
""".split()) | {p.lower() for p in PRODUCTS}
# a name: a capital letter, then letters (any script), with inner apostrophes or hyphens
NAME_TOKEN = re.compile(r"[^\W\d_][^\W\d_]*(?:['’-][^\W\d_]+)*")
_LOWER_WORD = re.compile(r"(?<![\w@./-])[^\W\d_][^\W\d_'’-]{2,}(?![\w@/-]|\.\w)")


def _is_name(n: str) -> bool:
    return (len(n) >= 3 and NAME_TOKEN.fullmatch(n) is not None and n[0].isupper()
            and all(ord(c) < 0x250 or c in "'’-" or 0x1E00 <= ord(c) <= 0x1EFF for c in n))  # Latin scripts


def _read(path: Path) -> frozenset[str]:
    return frozenset(line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))


@cache
def first_names() -> frozenset[str]:
    """Frozen first names less the ones that are common words (``COMMON_WORDS``, ``NOT_NAMES``)."""
    from casebase.ingest.redact.rules import COMMON_WORDS

    return frozenset(n for n in _read(FIRST_FILE) if n.lower() not in COMMON_WORDS and n.lower() not in NOT_NAMES)


@cache
def all_first_names() -> frozenset[str]:
    """Every frozen first name, plain words included: only used beside a name already found."""
    return _read(FIRST_FILE)


@cache
def last_names() -> frozenset[str]:
    from casebase.ingest.redact.rules import COMMON_WORDS

    return frozenset(n for n in _read(LAST_FILE) if n.lower() not in COMMON_WORDS and n.lower() not in NOT_NAMES)


def files() -> dict[str, dict[str, str]]:
    """The frozen files and their hashes, for the manifest."""
    from casebase.workspace import file_sha256

    return {p.name: {"sha256": file_sha256(p), "source": "Faker person providers (MIT)"}
            for p in (FIRST_FILE, LAST_FILE)}


def lowercase_counts(texts: Iterable[str]) -> tuple[Counter, Counter]:
    """How often each word is written in lower case and capitalised in ``texts`` (outside
    e-mail addresses, paths and code names): a word the corpus writes in lower case is a
    plain word there, not a name."""
    # one search over the texts joined by line breaks: no word spans one, and the pattern's look-arounds treat it
    # as they treat a text's start and end
    every = Counter(_LOWER_WORD.findall("\n".join(texts)))
    lower: Counter = Counter()
    upper: Counter = Counter()
    for w, n in every.items():  # each distinct word once
        if w[0].isupper():
            upper[w] = n
        elif w.islower():
            lower[w] = n
    return lower, upper


def drop_ambiguous(names: Iterable[str], texts: Iterable[str] = (), min_count: int = 3,
                   share: float = 0.25, counts: tuple[Counter, Counter] | None = None) -> frozenset[str]:
    """The names that are not plain words of ``texts``: a name is dropped when its lower-case
    form occurs at least ``min_count`` times and at least ``share`` times as often as the
    capitalised form ("will" vs "Will")."""
    lower, upper = counts if counts is not None else lowercase_counts(texts)
    return frozenset(n for n in names
                     if not (lower[n.lower()] >= min_count and lower[n.lower()] >= share * upper[n]))


def freeze() -> None:
    """Write the gazetteer files from the installed Faker (a maintainer's step, not a run-time one)."""
    import importlib
    import pkgutil

    import faker
    import faker.providers.person as person

    first: set[str] = set()
    last: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        for attr in dir(provider):
            out = first if "first_names" in attr else last if "last_names" in attr else None
            values = getattr(provider, attr, ())
            if out is None or not isinstance(values, (dict, list, tuple, set, frozenset)):
                continue
            out.update(v for v in (values.keys() if isinstance(values, dict) else values)
                       if isinstance(v, str) and _is_name(v))
    head = (f"# {{}} from Faker {faker.VERSION} person providers, every Latin-script locale (MIT licence,\n"
            "# casebase/data/NAMES_LICENSE). Regenerate: python -m casebase.ingest.redact.gazetteer --freeze\n")
    FIRST_FILE.write_text(head.format("First names") + "\n".join(sorted(first)) + "\n", encoding="utf-8")
    LAST_FILE.write_text(head.format("Last names") + "\n".join(sorted(last)) + "\n", encoding="utf-8")
    print(f"wrote {len(first)} first names to {FIRST_FILE}, {len(last)} last names to {LAST_FILE}")


if __name__ == "__main__":
    if "--freeze" in sys.argv:
        freeze()
    else:
        print(__doc__)
