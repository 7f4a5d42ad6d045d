"""Per-ticket template values of the SYNTHETIC sample: one ``_s_<slot>`` method per ``{slot}``.

The personal-data slots (``{ip}``, ``{email}``, ``{phone}``, ``{pwd}``, ``{iban}``, ``{card}``) are in
:mod:`casebase.sample.pii`.
"""
from __future__ import annotations

from datetime import timedelta

from casebase.sample.archetypes import GENERIC_ERRS
from casebase.sample.base import DAYS, MONTHS, GenBase
from casebase.sample.people import AGENTS, BANKS, COMPANY_TRADES, COMPANY_WORDS, OSES, PENSIONS, REPORTS, STOCK_CODES


class SlotsMixin(GenBase):
    """``{slot}`` values, created on first use per ticket (see :class:`~casebase.sample.base.Slots`)."""

    def _s_product(self, t): return t.acct["product"]
    def _s_ver(self, t): return t.acct["ver"]
    def _s_newver(self, t): return t.acct["newver"]
    def _s_server(self, t): return t.acct["server"]
    def _s_db(self, t): return t.acct["db"]
    def _s_path(self, t): return t.acct["path"]
    def _s_company(self, t): return t.acct["name"]
    def _s_regno(self, t): return t.acct["regno"]
    def _s_err(self, t): return self.fmt(t, self.r.choice(t.arch.errs or GENERIC_ERRS))
    def _s_amount(self, t): return self.money()
    def _s_amount2(self, t): return self.money()
    def _s_n(self, t): return str(self.r.randint(2, 60))
    def _s_n1(self, t): return str(self.r.randint(2, 9))
    def _s_users(self, t): return str(self.r.randint(3, 40))
    def _s_employees(self, t): return str(self.r.choice((12, 18, 25, 40, 65, 120, 240, 480)) + self.r.randrange(9))
    def _s_date(self, t): return (t.when - timedelta(days=self.r.randint(1, 20))).strftime("%d/%m/%Y")
    def _s_month(self, t): return MONTHS[(t.when.month - 2) % 12]
    def _s_period(self, t): return f"period {(t.when.month - 5) % 12 + 1}"
    def _s_taxmonth(self, t): return f"month {(t.when.month - 4) % 12 + 1}"
    def _s_taxyear(self, t):
        y = t.when.year if (t.when.month, t.when.day) >= (4, 6) else t.when.year - 1
        return f"{y}/{(y + 1) % 100:02d}"

    def _s_qend(self, t):
        m = (t.when.month - 1) // 3 * 3
        y, m = (t.when.year - 1, 12) if m == 0 else (t.when.year, m)
        return f"{30 if m in (6, 9) else 31}/{m:02d}/{y}"

    def _s_user(self, t):
        return self.name(self.r.choice(t.acct["colleagues"])[0])

    def _s_cfirst(self, t): return self.name(t.contact[0])
    def _s_agent(self, t): return self.name(t.agent[1])

    def _s_agent2(self, t):
        a = self.r.choice(AGENTS)
        return self.name(a[1], a[2])

    def _s_cust(self, t): return f"{self.r.choice(COMPANY_WORDS)} {self.r.choice(COMPANY_TRADES)}"
    def _s_supplier(self, t): return f"{self.r.choice(COMPANY_WORDS)} {self.r.choice(COMPANY_TRADES)} Ltd"
    def _s_word(self, t): return self.r.choice(COMPANY_WORDS)
    def _s_invno(self, t): return self.r.choice(("INV-", "SI", "", "INV")) + f"{self.r.randrange(1000, 99999):05d}"
    def _s_pono(self, t): return f"PO{self.r.randrange(1000, 99999):06d}"
    def _s_wo(self, t): return f"WO-{self.r.randrange(100, 9999):05d}"
    def _s_stock(self, t): return self.r.choice(STOCK_CODES)
    def _s_bank(self, t): return self.r.choice(BANKS)
    def _s_pension(self, t): return self.r.choice(PENSIONS)
    def _s_report(self, t): return self.r.choice(REPORTS)
    def _s_os(self, t): return self.r.choice(OSES)
    def _s_kb(self, t): return str(self.r.randrange(100000, 9999999))
    def _s_day(self, t): return self.r.choice(DAYS)
    def _s_hhmm(self, t): return f"{self.r.randint(9, 16)}:{self.r.choice(('00', '30'))}"
    def _s_orig(self, t): return t.orig.disp if t.orig else t.disp
