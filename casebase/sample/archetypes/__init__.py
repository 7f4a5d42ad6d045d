"""Problem archetypes of the SYNTHETIC helpdesk sample, grouped by category into submodules.

``ARCHETYPES`` lists them in :data:`CATEGORIES` order (and, within a category, in the order they are written),
which the generator's random draws depend on: reordering them changes the sample a seed produces.
"""
from __future__ import annotations

from dataclasses import replace

from casebase.sample.archetypes import finance, operations, payroll, technical
from casebase.sample.archetypes.model import GENERIC_ERRS, OUTCOMES, URGENCY, Archetype

__all__ = ["ARCHETYPES", "CATEGORIES", "FITS", "Archetype", "URGENCY", "OUTCOMES", "GENERIC_ERRS"]

CATEGORIES: tuple[str, ...] = ("Financials", "VAT / MTD", "Bank", "Payroll", "Stock", "Reporting", "Install / Upgrade",
                               "Licensing", "CRM", "Sales Order Processing", "Purchasing", "Manufacturing", "System")

# Which solutions (left of ":") and subjects (right) suit each problem paraphrase, in order; "" = any.
FITS = {
    "fin_journal": ("01:012", "20:13", "1:12", ":012"), "fin_year_end": ("10:123", "0:023", "10:13"),
    "fin_currency": ("0:0", "1:1", "0:2"), "vat_hmrc_auth": ("0:", "1:23", "0:12"), "vat_reverse_charge": (":01", ":2", ":01"),
    "bank_feed": ("02:0123", "02:0123", "1:4"), "bank_rec": ("01:013", "0:2", "10:01"),
    "bank_payment_file": ("01:012", "10:012", "2:3"), "bank_card": ("0:012", "1:02", "1:3"),
    "pay_pension": ("1:02", "1:1", "0:3"), "pay_p60": ("0:03", "1:1", "2:2"), "pay_tax_codes": (":013", ":12", ":4"),
    "stock_negative": ("10:", "01:01", "0:01"), "stock_fifo": ("0:12", "1:03", "0:12"), "rep_designer": ("0:02", "1:1", "0:23"),
    "inst_upgrade": ("2:01", "0:23", "1:02"), "inst_sql": ("02:", "10:", "1:", ":"), "inst_migration": ("1:", "0:", "0:"),
    "lic_activation": ("0:13", "0:02", "1:03"), "lic_users": ("0:012", "1:3", "0:012"), "crm_outlook": ("01:01", "01:03", "10:2"),
    "crm_duplicates": ("0:023", "0:1", "1:0"), "sop_invoice_email": ("01:", "01:", "0:"), "sop_credit": ("0:01", "1:2", "0:3"),
    "sop_pricing": ("10:23", "0:013", "01:03"), "pop_matching": ("0:", "1:02", "10:02"), "pop_duplicate": ("0:01", "1:2", "01:0"),
    "pop_approval": ("0:2", "1:0", "2:1"), "mfg_works_order": ("0:01", "1:2", "0:1"), "mfg_mrp": ("0:0", "1:1", "01:2"),
    "sys_locked_out": ("0:03", "1:12", "0:03"), "sys_check_data": ("0:012", "10:3", "0:2"),
}
_ARCH = sorted((*finance.ARCH, *payroll.ARCH, *operations.ARCH, *technical.ARCH),
               key=lambda a: CATEGORIES.index(a.category))  # stable: keeps the written order within a category
_ARCH = [replace(a, fits=FITS.get(a.key, ())) for a in _ARCH]
for _a in _ARCH:
    assert not _a.fits or len(_a.fits) == len(_a.problems), _a.key
    assert all(int(d) < len(_a.solutions) for f in _a.fits for d in f.split(":")[0]), _a.key
    assert all(int(d) < len(_a.subjects) for f in _a.fits for d in f.split(":")[1]), _a.key

ARCHETYPES: tuple[Archetype, ...] = tuple(_ARCH)
assert CATEGORIES == tuple(dict.fromkeys(a.category for a in ARCHETYPES))
