"""Generate a SYNTHETIC ERP helpdesk export (tickets + ticket history) for demos, tests and benchmarks.

Everything produced here is invented: the companies, people, e-mail addresses, phone numbers (Ofcom drama
ranges), IBANs and card numbers (valid check digits, made-up accounts / test-card prefixes), server addresses
(private ranges), passwords and tickets. The output imitates the shape of a SalesLogix / Infor CRM ticket export
from an ERP reseller's support desk (Sage-style products), including the mess real exports carry: greetings,
signatures, disclaimers, quoted e-mail replies, portal boilerplate, typos, recurring near-duplicate tickets,
unresolved tickets, and personal data planted in the places real tickets have it.

    tickets, history, planted = generate_frames(1500, seed=0)
    write_sample(Path("data"), fmt="csv")

``planted`` lists every personal-data string written into the texts, so redaction can be tested against it.
The generator is split by concern: :mod:`~casebase.sample.generate` (frames, ids, dates, writing),
:mod:`~casebase.sample.accounts`, :mod:`~casebase.sample.slots` and :mod:`~casebase.sample.pii` (template values and
planted personal data), :mod:`~casebase.sample.text` (customer texts: paraphrases, typos, greetings, signatures) and
:mod:`~casebase.sample.history` (the conversation). The problem archetypes live in
:mod:`casebase.sample.archetypes`, the names and phrases in :mod:`~casebase.sample.people` and
:mod:`~casebase.sample.phrases`.
"""
from __future__ import annotations

from casebase.sample.archetypes import ARCHETYPES, CATEGORIES
from casebase.sample.generate import HISTORY_COLUMNS, TICKET_COLUMNS, generate_frames, write_sample

__all__ = ["generate_frames", "write_sample", "ARCHETYPES", "CATEGORIES", "TICKET_COLUMNS", "HISTORY_COLUMNS"]
