"""The conversation of a SYNTHETIC ticket: agent e-mails, customer replies, notes and the resolution."""
from __future__ import annotations

import re
from datetime import timedelta

from casebase.sample.base import Ticket, dmy, office_hours
from casebase.sample.people import DESK, DESK_DOMAIN
from casebase.sample.phrases import (
    ASKS, CONFIRMS, DETAILS, DUP_NOTES, FAILS, LATER, NOTES, PHONE_ASKS, REFUSE, SECRET_NOTES,
)
from casebase.sample.text import TextMixin

_UNRESOLVED_ENDINGS = (  # how unresolved conversations stop, after the agent's first question: (weight, steps)
    (35, ("chase", "closed")), (10, ("closed",)), (10, ()), (15, ("details", "fix1", "later")),
    (12, ("details", "workaround", "refuse", "devnote")), (10, ("details", "fix1", "fail", "escalate")),
    (8, ("details", "thirdparty")))


class HistoryMixin(TextMixin):
    """The ticket history: plan the steps of the conversation, then write each activity."""

    def agent_mail(self, t: Ticket, body: str) -> str:
        r, (_, first, last, title) = self.r, t.agent
        greet = r.choice(("Hi", "Hello", "Dear", "Hi")) + f" {self.name(t.contact[0])},"
        sign = r.choice(("Kind regards", "Regards", "Many thanks", "Thanks", "Best regards"))
        if r.random() < .5:
            desk = self.plant("phones", f"01632 960{sum(map(ord, last)) % 900 + 100}")
            mail = self.plant("emails", f"{first.lower()}.{last.lower()}@{DESK_DOMAIN}")
            sig = f"{sign}\n\n{self.name(first, last)}\n{title}\n{DESK}\nT: {desk} | E: {mail}"
        else:
            sig = f"{sign}\n{self.name(first)}\n{DESK} Support"
        return f"{greet}\n\n{body}\n\n{sig}"

    def customer_msg(self, t: Ticket, body: str, prev) -> tuple[str, str]:
        r, c = self.r, t.contact
        if r.random() < .25:
            return "Web portal update", ("This is an automated message from the support portal.\n\n"
                                         f"Ticket {t.disp} has been updated by {self.name(c[0], c[1])}.\n"
                                         f"DESCRIPTION: {body}")
        greet = r.choice(("Hi {agent},", "Hi {agent}", "Hello {agent},", "Hi,", "", "Morning {agent},"))
        text = (self.fmt(t, greet) + "\n\n" if greet else "") + body + "\n\n" + self.signature(t, r.random() < .3)
        if r.random() < .08:
            text = f"TICKET RECEIVED: RE: [{t.disp}] {t.subject}\n\n" + text
        if prev is not None and prev[2] != "Phone call" and r.random() < .55:
            when, text_prev, a = prev[0], prev[1], t.agent
            if r.random() < .5:
                quoted = "\n".join("> " + ln if ln else ">" for ln in text_prev.split("\n")[:10])
                text += f"\n\nOn {dmy(when)}, {self.name(a[1], a[2])} wrote:\n{quoted}"
            else:
                text += (f"\n\n-----Original Message-----\nFrom: {self.name(a[1], a[2])} <support@{DESK_DOMAIN}>\n"
                         f"Sent: {when:%d %B %Y %H:%M}\nTo: {self.name(c[0], c[1])} <{self.plant('emails', c[5])}>\n"
                         f"Subject: RE: [Ticket {t.disp}] {t.subject}\n\n{text_prev}")
        return "Customer e-mail", text

    def fix_text(self, t: Ticket, sol) -> str:
        r = self.r
        cause, steps = self.fmt(t, sol[1]), self.fmt(t, sol[2])
        if r.random() < .45:
            sentences = [s.strip() for s in re.split(r"(?<=\.)\s+(?=[A-Z])", steps) if s.strip()]
            if len(sentences) > 1:
                steps = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, 1))
        parts = [r.choice(("Thanks for the information.", "Thanks for sending that over.", "I've had a look at this.",
                           "Thanks for your patience.", ""))]
        if cause and r.random() < .7:
            parts.append(("It looks like " + cause[0].lower() + cause[1:]) if cause[1:2].islower() else cause)
        lead = r.choice(("Please try the following:", "Could you try this:", "To fix it:", "Steps:"))
        parts.append(f"{lead}\n\n{steps}")
        parts.append(r.choice(("Let me know how you get on.", "Give me a shout if you need a hand.",
                               "If that doesn't sort it I can connect remotely.", "")))
        return " ".join(p for p in parts[:-1] if p) + ("\n\n" + parts[-1] if parts[-1] else "")

    def solution_text(self, t: Ticket, sol) -> str:
        r = self.r
        cause, fix = self.fmt(t, sol[1]), self.fmt(t, sol[2])
        style = r.randrange(4) if cause else r.choice((2, 2, 3))
        text = (f"{cause} {fix}", f"Cause: {cause}\nFix: {fix}", fix,
                f"Issue: {t.subject}\n{cause}\nResolution: {fix}")[style]
        text = text.replace("\n\n", "\n")  # empty cause
        return text + r.choice(("", "", " Customer confirmed working.", "\nClosing ticket.",
                                " Confirmed fixed by customer."))

    def plan(self, t: Ticket) -> list[str]:
        r, steps = self.r, []
        if r.random() < .25:
            steps.append("initial")
        if t.orig is not None and r.random() < .6:
            steps.append("dupnote")
        if t.resolved:
            x = r.random()
            if x < .07:
                return steps + ["resolve"]
            if x > .35:
                steps += ["ask"] + (["details"] if r.random() < .85 else [])
                if r.random() < .2:
                    steps.append("note")
            if len(t.arch.solutions) > 1 and r.random() < .18:
                steps += ["fix1", "fail"] + (["note"] if r.random() < .4 else [])
            steps.append("fix")
            if r.random() < .5:
                steps.append("confirm")
            steps.append("resolve")
        else:
            weights, endings = zip(*_UNRESOLVED_ENDINGS)
            steps += ["ask", *r.choices(endings, weights)[0]]
        while len(steps) > 8:
            steps.remove(next(s for s in ("initial", "dupnote", "note", "confirm") if s in steps))
        return steps

    def history(self, t: Ticket) -> list[tuple]:
        r, a, sols = self.r, t.arch, t.arch.solutions
        cur = t.when
        speed = {1: 20, 2: 90, 3: 300, 4: 600, 5: 900}[t.urg]  # mean agent response, minutes
        acts, prev_mail = [], None
        first_sol = r.choice([s for s in sols if s is not t.sol] or sols)
        for step in self.plan(t):
            agent = step not in ("initial", "details", "fail", "confirm", "later", "refuse")
            gap = r.expovariate(1 / (speed if agent else 240)) + r.uniform(2, 15)
            if step in ("chase", "closed"):  # waited days for an answer that never came
                gap += r.uniform(2, 7) * 1440
            cur += timedelta(minutes=gap)
            if agent and r.random() < .97:  # agents work office hours
                cur = office_hours(cur, r)
            uid = t.agent[0]
            if step == "initial":  # the e-mail that opened the ticket
                cur, kind, uid = t.when + timedelta(seconds=r.randint(5, 90)), "Customer e-mail", t.contact[5]
                text = f"TICKET RECEIVED: {t.subject}\n\n{t.problem}" if r.random() < .6 else t.problem
                if t.problem.startswith("This is an automated"):
                    kind = "Web portal update"
            elif step == "dupnote":
                kind, text = "Internal note", self.fmt(t, r.choice(DUP_NOTES))
            elif step == "ask":
                if r.random() < .7:
                    body = self.fmt(t, r.choice(a.asks if a.asks and r.random() < .5 else ASKS))
                    kind, text = "E-mail to customer", self.agent_mail(t, body)
                else:
                    kind, text = "Phone call", self.fmt(t, r.choice(PHONE_ASKS))
            elif step in ("details", "fail", "confirm", "later", "refuse"):
                if step == "details":
                    pool = [self.fmt(t, s) for s in r.sample(DETAILS, 2)]
                    if a.extras and r.random() < .6:
                        pool.insert(1, self.fmt(t, r.choice(a.extras)))
                    body = " ".join(pool)
                else:
                    body = self.fmt(t, r.choice({"fail": FAILS, "confirm": CONFIRMS, "later": LATER,
                                                 "refuse": REFUSE}[step]))
                if r.random() < .1:
                    body = self.typo(body)
                kind, text = self.customer_msg(t, body, prev_mail)
                uid = t.contact[5]
            elif step in ("fix1", "fix", "workaround"):
                sol = t.sol if step == "fix" and t.sol else first_sol
                if step == "workaround":
                    body = (f"This looks like a known issue in {t.acct['ver']} which is due to be fixed in a future "
                            f"update. In the meantime the workaround is:\n\n{self.fmt(t, sol[2])}")
                    kind, text = "E-mail to customer", self.agent_mail(t, body)
                elif r.random() < .8:
                    kind, text = "E-mail to customer", self.agent_mail(t, self.fix_text(t, sol))
                else:
                    kind = "Phone call"
                    text = f"Spoke to {self.name(t.contact[0])} and talked them through the fix: {self.fmt(t, sol[2])}"
            elif step == "note":
                pool = SECRET_NOTES if a.secrets and r.random() < .5 else NOTES
                kind, text = "Internal note", self.fmt(t, r.choice(pool))
            elif step == "chase":
                kind, text = "E-mail to customer", self.agent_mail(t, r.choice((
                    "Just following up on my e-mail below - are you still having this problem?",
                    "I haven't heard back from you on this one. Is it still an issue?",
                    "Chasing this up - please let me know if you still need help, otherwise I'll close the ticket.")))
            elif step == "closed":
                if r.random() < .4:
                    kind, uid = "Internal note", "ADMIN"
                    text = "Ticket auto-closed after 14 days with no response from customer."
                else:
                    kind, text = "Internal note", r.choice(("Closed - no response from customer after two chasers.",
                                                            "No response. Closing.", "closed - no response"))
            elif step == "devnote":
                kind = "Internal note"
                text = (f"Logged with development as defect DEV-{r.randrange(10000, 99999)}. "
                        "Customer to be updated when a fix is available.")
            elif step == "escalate":
                kind = "Internal note"
                text = self.fmt(t, "Escalated to second line ({agent2}). Awaiting their findings.")
            elif step == "thirdparty":
                kind = "Internal note"
                text = "Referred to the customer's IT provider to check the server - awaiting their update."
            else:  # resolve
                kind = "Resolution"
                uid = "ADMIN" if r.random() < .1 else uid
                prefix = r.choice(("", "", "Customer confirmed resolved. ", "RESOLUTION: ", "Resolved on the phone. "))
                text = (prefix if not t.solution.startswith("Issue:") else "") + t.solution
            acts.append((cur, kind, uid, text))
            if kind == "E-mail to customer":
                prev_mail = (cur, text, kind)
        if t.resolved:
            t.completed = cur
        return acts
