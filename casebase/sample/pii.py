"""Personal data written into the SYNTHETIC sample: phone numbers, passwords, IBANs and card numbers.

Phone numbers come from the Ofcom drama ranges, IBANs and card numbers have valid check digits on made-up
accounts / test-card prefixes. Every value is recorded with :meth:`GenBase.plant` so redaction can be tested.
"""
from __future__ import annotations

from casebase.sample.base import GenBase
from casebase.sample.people import IBAN_BANKS


class PiiMixin(GenBase):
    """Phone numbers and the personal-data ``{slot}`` values."""

    def phone(self) -> str:
        r = self.r
        d3 = f"{r.randrange(1000):03d}"
        return r.choice((f"01632 960{d3}", f"+44 7700 900{d3}", f"07700 900{d3}", f"(0161) 496 0{d3}",
                         f"0161 496 0{d3}", f"0113 496 0{d3}", f"0121 496 0{d3}", f"020 7946 0{d3}",
                         f"+44 (0)20 7946 0{d3}", f"0117 496 0{d3}", f"(0131) 496 0{d3}"))

    def _s_ip(self, t): return self.plant("ips", t.acct["ip"])
    def _s_email(self, t): return self.plant("emails", t.contact[5])
    def _s_phone(self, t): return self.plant("phones", t.contact[3])

    def _s_pwd(self, t):
        r = self.r
        word = r.choice(("Summer", "Winter", "Spring", "Welcome", "Sage", "Admin", "Payroll"))
        pwd = r.choice((
            f"{word}{r.randint(2019, 2025)}{r.choice('!#$*')}",
            "".join(r.choice("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6)) + str(r.randint(10, 99)),
            f"{t.acct['abbr'].title()}{r.choice(('@', '#', '_'))}{r.randint(100, 9999)}",
            f"P@ssw0rd{r.randint(1, 99)}"))
        return self.plant("secrets", pwd)

    def _s_iban(self, t):
        r = self.r
        cc = r.choice(("GB", "GB", "GB", "IE", "DE"))
        if cc == "DE":
            bban = "".join(str(r.randrange(10)) for _ in range(18))
        else:
            bban = r.choice(IBAN_BANKS) + "".join(str(r.randrange(10)) for _ in range(14))
        num = int("".join(str(int(c, 36)) for c in bban + cc + "00"))
        iban = f"{cc}{98 - num % 97:02d}{bban}"
        if r.random() < .6:
            iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return self.plant("ibans", iban)

    def _s_card(self, t):
        r = self.r
        digits = r.choice(("411111", "400000", "424242", "555555", "510510", "222300", "401288"))
        digits += "".join(str(r.randrange(10)) for _ in range(15 - len(digits)))
        total = 0
        for i, ch in enumerate(reversed(digits)):  # check digit goes on the right: double positions 0, 2, ...
            d = int(ch) * (2 if i % 2 == 0 else 1)
            total += d - 9 if d > 9 else d
        card = digits + str((10 - total % 10) % 10)
        if r.random() < .7:
            card = " ".join(card[i:i + 4] for i in range(0, 16, 4))
        return self.plant("cards", card)
