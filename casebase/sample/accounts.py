"""Customer accounts (companies, contacts, servers) of the SYNTHETIC sample."""
from __future__ import annotations

import re

from casebase.sample.base import b36
from casebase.sample.people import (
    AGENTS, COMPANY_SUFFIXES, COMPANY_TRADES, COMPANY_WORDS, FIRST_NAMES, FREEMAIL, JOB_TITLES, PRODUCTS,
    SERVER_NAMES, SURNAMES,
)
from casebase.sample.pii import PiiMixin


class AccountsMixin(PiiMixin):
    """Customer accounts: company, product and version, server, contacts, account manager."""

    def company_name(self, taken: set) -> tuple[str, str]:
        r = self.r
        for attempt in range(50):
            w, trade = r.choice(COMPANY_WORDS), r.choice(COMPANY_TRADES)
            base = f"{w} {trade}" if attempt < 10 else f"{w} & {r.choice(COMPANY_WORDS)} {trade}"
            if base not in taken:
                break
        else:
            base = f"{base} {len(taken)}"
        taken.add(base)
        slug = re.sub(r"[^a-z0-9]", "", base.lower())
        domain = r.choice((f"{slug}.co.uk", f"{slug}.co.uk", f"{slug}.com", f"{slug}-uk.com"))
        suffix = r.choice(COMPANY_SUFFIXES)
        return f"{base} {'Ltd' if 'Group' in base and 'Group' in suffix else suffix}", domain

    def accounts(self, n: int) -> list[dict]:
        r, taken, out = self.r, set(), []
        base = r.randrange(36 ** 3, 36 ** 4)
        for i in range(n):
            name, domain = self.company_name(taken)
            abbr = "".join(w[0] for w in name.split() if w[0].isalpha() and w[0].isupper())[:4] or "CO"
            prod, versions, path = r.choice(PRODUCTS)
            vi = r.randrange(len(versions) - 1)
            server = r.choice(SERVER_NAMES).format(abbr=abbr)
            net = r.choice(("192.168.0", "192.168.1", "192.168.10", "192.168.100", "10.0.0", "10.1.10", "172.16.1"))
            contacts = []
            for k in range(r.choice((1, 1, 2, 2, 3, 4))):
                first, last = r.choice(FIRST_NAMES), r.choice(SURNAMES)
                if r.random() < .07:
                    email = f"{first.lower()}{last.lower()}{r.randrange(10, 99)}@{r.choice(FREEMAIL)}"
                else:
                    local = r.choice((f"{first}.{last}", f"{first}.{last}", f"{first[0]}{last}", first,
                                      f"{first}{last[0]}", "accounts" if k == 0 else f"{first}_{last}"))
                    email = f"{local.lower()}@{domain}"
                contacts.append((first, last, r.choice(JOB_TITLES), self.phone(),
                                 self.phone() if r.random() < .3 else "", email))
            out.append(dict(
                id="A6UJ9A" + b36(base + i * 7 + r.randrange(7)), name=name, abbr=abbr, product=prod,
                ver=versions[vi], newver=versions[r.randrange(vi + 1, len(versions))], server=server,
                ip=f"{net}.{r.randrange(2, 250)}", db=(f"Sage200_{abbr}Live" if prod == "Sage 200" else f"{abbr}_LIVE"),
                path=path.format(server=server, year=r.choice((2022, 2023, 2024)), n1=r.randrange(10), abbr=abbr),
                domain=domain, contacts=contacts,
                colleagues=[(r.choice(FIRST_NAMES), r.choice(SURNAMES)) for _ in range(3)],
                agent=r.choice(AGENTS), regno=f"{r.randrange(10 ** 7):08d}"))
        return out
