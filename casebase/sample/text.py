"""Customer-written text of the SYNTHETIC sample: paraphrases, typos, greetings, signatures, problem texts."""
from __future__ import annotations

import re
from datetime import timedelta

from casebase.sample.archetypes import ARCHETYPES
from casebase.sample.base import GenBase, Ticket, dmy
from casebase.sample.phrases import CLOSERS, DISCLAIMERS, GREETINGS, IMPACT, OPENERS, REOPEN_LINES, SIGNOFFS, TRIED

_MISSPELL = (("receive", "recieve"), ("separate", "seperate"), ("definitely", "definately"), ("the ", "teh "),
             ("which", "whcih"), ("because", "becuase"), ("already", "allready"))
_SYNONYMS = {  # applied to customer templates at import time (outside existing [..] groups)
    "can't": "can't|cannot|can not|cant", "won't": "won't|will not|wont", "doesn't": "doesn't|does not|doesnt",
    "isn't": "isn't|is not", "haven't": "haven't|have not", "I've": "I've|I have", "We've": "We've|We have",
    "we've": "we've|we have", "It's": "It's|It is", "it's": "it's|it is", "this morning": "this morning|today",
    "PC": "PC|machine|computer", "Can you": "Can you|Could you|Please can you", "keeps": "keeps|continues to",
    "the software": "the software|the system|{product}", "says": "says|comes up with|shows", "fine": "fine|OK|ok",
    "e-mail": "e-mail|email", "Is there a way": "Is there a way|Is it possible", "I think": "I think|I believe",
    "urgently": "urgently|asap|as soon as possible",
}
_SYN_RE = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(_SYNONYMS, key=len, reverse=True)) + r")\b")


def _synonymise(template: str) -> str:
    """Turn known phrases into ``[a|b]`` alternatives, leaving existing groups and {slots} alone."""
    parts = re.split(r"(\[[^\]]*\]|\{[^}]*\})", template)
    return "".join(p if p[:1] in "[{" else _SYN_RE.sub(lambda m: f"[{_SYNONYMS[m.group(1)]}]", p) for p in parts)


_CUSTOMER_TEXT = {a.key: (tuple(map(_synonymise, a.problems)), tuple(map(_synonymise, a.extras))) for a in ARCHETYPES}


class TextMixin(GenBase):
    """What customers write: the problem text, with greetings, signatures, quoted mails and typos."""

    def typo(self, s: str) -> str:
        r = self.r
        if r.random() < .3:
            a, b = r.choice(_MISSPELL)
            if a in s:
                return s.replace(a, b, 1)
        words = s.split(" ")
        for _ in range(6):
            i = r.randrange(len(words))
            w = words[i]
            if len(w) >= 5 and w.isalpha() and w.islower():
                j = r.randrange(len(w) - 1)
                op = r.random()
                words[i] = (w[:j] + w[j + 1] + w[j] + w[j + 2:] if op < .5 else
                            w[:j] + w[j + 1:] if op < .8 else w[:j + 1] + w[j:])
                break
        return " ".join(words)

    def greeting(self, t: Ticket) -> str:
        g = self.r.choice(GREETINGS)
        return self.fmt(t, g) if "{" in g else g

    def signature(self, t: Ticket, full: bool) -> str:
        r, (first, last, title, phone, mobile, email) = self.r, t.contact
        sign = r.choice(SIGNOFFS)
        style = r.randrange(6) if full else r.choice((1, 1, 4, 5))
        if style in (0, 2, 3, 5):
            self.plant("phones", phone)
        if style in (0, 2):
            self.plant("emails", email)
        if style == 0:
            return f"{sign}\n\n{self.name(first, last)}\n{title}\n{t.acct['name']}\nTel: {phone}\nEmail: {email}"
        if style == 1:
            return f"{sign}\n{self.name(first)}"
        if style == 2:
            return f"{sign}\n{self.name(first, last)} | {title} | {t.acct['name']}\nT: {phone} | E: {email}"
        if style == 3:
            mob = f"\nM: {self.plant('phones', mobile)}" if mobile else ""
            return f"{sign}\n\n{self.name(first, last)}\n{title}\nD: {phone}{mob}\n{t.acct['name']}"
        if style == 4:
            return f"{sign}\n{self.name(first)}\n\nSent from my iPhone"
        return f"{sign}\n{self.name(first, last)}\n{t.acct['name']}\n{phone}"

    def body(self, t: Ticket) -> str:
        r, (problems, extra_pool) = self.r, _CUSTOMER_TEXT[t.arch.key]
        core = self.fmt(t, problems[t.pi])
        extras = [self.fmt(t, e) for e in r.sample(extra_pool, min(len(extra_pool), r.choice((0, 1, 1, 2))))]
        parts = [core] + extras
        if extras and r.random() < .25:
            parts = [extras[0], core] + extras[1:]
        if r.random() < .3:
            parts.insert(0, self.fmt(t, r.choice(OPENERS)))
        if r.random() < .35:
            parts.append(self.fmt(t, r.choice(TRIED)))
        if r.random() < .03:
            parts.append(r.choice(("My login is [REDACTED].", "Contact number [REDACTED].", "Account ref [REDACTED].")))
        if r.random() < .5:
            parts.append(r.choice(IMPACT[t.urg]))
        parts.append(self.fmt(t, r.choice(CLOSERS)))
        parts = [p if p[-1] in ".?!)" or "assword" in p or "pwd=" in p else p + "." for p in parts if p]
        cut = r.randrange(1, len(parts) + 1) if len(parts) > 2 and r.random() < .5 else len(parts)
        text = " ".join(parts[:cut]) + ("\n\n" + " ".join(parts[cut:]) if cut < len(parts) else "")
        return self.typo(text) if r.random() < .12 else text

    def problem(self, t: Ticket) -> str:
        r, acct = self.r, t.acct
        body = self.body(t)
        if r.random() < .12:  # logged through the web portal form
            c = t.contact
            return (f"This is an automated message from the support portal.\n\nContact: {self.name(c[0], c[1])}\n"
                    f"Company: {acct['name']}\nEmail: {self.plant('emails', c[5])}\n"
                    f"Phone: {self.plant('phones', c[3])}\n"
                    f"Product: {acct['product']} {acct['ver']}\nDESCRIPTION:\n{body}")
        greet = self.greeting(t)
        text = (greet + "\n\n" if greet else "") + body + "\n\n" + self.signature(t, full=r.random() < .75)
        if r.random() < .15:
            text += "\n\n" + self.fmt(t, r.choice(DISCLAIMERS))
        q = r.random()
        if q < .10:  # a colleague's e-mail forwarded to us
            cf, cl = r.choice(acct["colleagues"])
            sent = t.when - timedelta(minutes=r.randint(5, 600))
            cemail = self.plant("emails", f"{cf.lower()}.{cl.lower()}@{acct['domain']}")
            ask = r.choice(("Can you log this with support please?", "See below - any idea?",
                            "Getting this again, can you chase the support people?"))
            text += (f"\n\n-----Original Message-----\nFrom: {self.name(cf, cl)} <{cemail}>\n"
                     f"Sent: {sent:%A %d %B %Y %H:%M}\n"
                     f"To: {self.name(t.contact[0], t.contact[1])} <{self.plant('emails', t.contact[5])}>\n"
                     f"Subject: {t.subject}\n\n{t.contact[0]},\n\n{ask} "
                     f"{self.fmt(t, _CUSTOMER_TEXT[t.arch.key][0][t.pi])}\n\n{cf}")
        elif q < .17:  # replying to an old support e-mail to raise a new problem
            a = t.agent
            old = t.when - timedelta(days=r.randint(20, 200), minutes=r.randint(0, 600))
            text += (f"\n\nOn {dmy(old)}, {self.name(a[1], a[2])} wrote:\n> Hi {t.contact[0]},\n>\n"
                     "> Your ticket has now been closed. If you need any further help please reply to this e-mail."
                     "\n>\n"
                     f"> Kind regards\n> {a[1]}")
        return text

    def reword(self, text: str) -> str:
        """A near-duplicate of an earlier ticket: same text with small edits."""
        r = self.r
        line = r.choice(REOPEN_LINES)
        head, sep, rest = text.partition("\n\n")
        if "DESCRIPTION:\n" in text:  # portal form
            text = text.replace("DESCRIPTION:\n", f"DESCRIPTION:\n{line} ", 1)
        elif sep and len(head) < 25:  # a greeting line: keep it or swap it
            greet = r.choice([g for g in GREETINGS if g and "{" not in g]) if r.random() < .5 else head
            text = f"{greet}\n\n{line} {rest}"
        else:
            text = f"{line}\n\n{text}"
        return self.typo(text) if r.random() < .4 else text
