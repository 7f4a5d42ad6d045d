"""Conversation pieces (greetings, sign-offs, replies, notes) of the SYNTHETIC helpdesk sample.

Template syntax as in :mod:`casebase.sample.archetypes.model`: ``{slot}`` per-ticket values, ``[a|b]`` alternatives.
"""
from __future__ import annotations

GREETINGS = ("Hi", "Hi,", "Hello", "Hello team,", "Hi Support,", "Good morning,", "Good afternoon,", "Dear Support,",
             "Dear Sir/Madam,", "Morning all,", "Hi guys,", "Hi there,", "Hi {agent},", "Morning {agent},",
             "Hello {agent},", "Hi {agent}", "")
SIGNOFFS = ("Kind regards", "Regards", "Thanks", "Many thanks", "Cheers", "Thank you", "Best regards",
            "Thanks in advance", "Kind Regards,", "Thanks,", "Many thanks,", "Best wishes")
OPENERS = ("Hope you're well.", "Sorry to bother you again.", "I wonder if you can help.",
           "Please can you help with the following.", "We have a problem with {product}.", "Quick one for you.",
           "Hope you had a good weekend.", "Can you help please?")
TRIED = ("I've restarted my PC but it's still the same.", "We've tried logging out and back in.",
         "Nothing has changed on our side as far as I know.", "It was working fine yesterday.",
         "I've attached a screenshot.", "Screenshot attached.", "I've tried it on another PC, same thing.",
         "We're on {ver}.", "We're running {product} {ver}.", "Our IT people have had a look and say it's a software issue.")
IMPACT = {
    1: ("This is urgent as nobody can work.", "We need this sorted today please.", "URGENT please - we are completely stuck."),
    2: ("This is quite urgent for us.", "Could someone look at this today if possible?", "It's holding up month end."),
    3: ("Would be good to get this sorted this week.", "", "Can someone have a look when they get a chance?"),
    4: ("Not urgent but would be good to get it sorted.", "No great rush.", ""),
    5: ("No rush on this one.", "Whenever you get a chance.", "Low priority."),
}
CLOSERS = ("Can you help?", "Please can someone call me back on {phone}?", "Could you let me know what to do?",
           "Any ideas?", "Please advise.", "Look forward to hearing from you.", "Thanks in advance for your help.",
           "Can you give me a call?", "", "")
DISCLAIMERS = (
    "This e-mail and any attachments are confidential and intended solely for the use of the individual to whom it is "
    "addressed. If you have received this e-mail in error please notify the sender and delete it. {company} is "
    "registered in England and Wales No. {regno}.",
    "CONFIDENTIALITY NOTICE: The information in this e-mail is confidential and may be legally privileged. It is "
    "intended solely for the addressee. Access to this e-mail by anyone else is unauthorised.",
    "Please consider the environment before printing this e-mail.",
    "{company} accepts no liability for any viruses transmitted by this e-mail. Registered office: Unit {n1}, "
    "{word} Business Park.",
    "DISCLAIMER: Any views or opinions presented are solely those of the author and do not necessarily represent "
    "those of {company}.",
)
ASKS = (
    "Thanks for logging this. Could you send me a screenshot of the error and confirm the version you are on (Help > About)?",
    "Can you let me know if this affects all users or just one PC?",
    "Could you tell me when this started and whether anything changed around then (updates, new PC, password changes)?",
    "So I can look into this, please can you send a screenshot and let me know exactly which menu option you were using?",
    "Are you able to reproduce it on another machine? And can you confirm the exact wording of the message?",
    "I'd like to take a look remotely - when would be a good time today?",
)
PHONE_ASKS = (
    "Called {cfirst} to get more detail. Happens on all PCs, started {date}. They will send a screenshot.",
    "Spoke to {cfirst} on {phone} - confirmed version {ver}, only affects one user. Waiting for screenshot.",
    "Called {cfirst}, no answer. Left voicemail asking for a call back.",
    "Rang {cfirst} to discuss. Going to send over the log files.",
)
DETAILS = ("We're on {ver}.", "Version is {ver}.", "It's happening on all PCs.", "It's only on {user}'s PC.",
           "It started on {date}.", "Screenshot attached.", "Please see the attached screenshot.",
           "Log file attached.", "Nothing changed that I know of.", "IT did some Windows updates at the weekend.")
FAILS = ("Tried that but still getting the same error: {err}", "No joy I'm afraid, it's still doing it.",
         "Done that and it's still the same. Anything else we can try?", "That didn't work - still '{err}'.",
         "I followed the steps but it made no difference.")
CONFIRMS = ("That's worked, thank you!", "All sorted now, thanks for your help {agent}.",
            "Brilliant, that fixed it. You can close the ticket.", "Yes that's working now. Thanks",
            "Great stuff - all working again.", "Perfect, thanks {agent}. Much appreciated.",
            "That seems to have done the trick, thanks.", "Thanks, all good now.")
NOTES = ("Checked KB article {kb} - matches the symptoms.", "Discussed with {agent2} - agreed approach.",
         "Escalated to second line ({agent2}).", "Remote session booked for {day} at {hhmm}.",
         "Reproduced on test system with {ver}.", "Customer on support contract - OK to proceed.")
SECRET_NOTES = ("Remoted onto {server} ({ip}) with the customer's admin account, password: {pwd}",
                "Connected via Quick Assist. SQL login sa pwd={pwd} on {server}",
                "Customer's IT gave us the server login for {server} - password: {pwd}")
LATER = ("Thanks, I'll try that when {user} is back next week and let you know.",
         "OK, will give it a go tomorrow.", "Thanks - I'll pass this on to our IT company.")
REFUSE = ("That's not really acceptable, we need a proper fix rather than a workaround.",
          "We can't keep doing that every month. When will this be fixed?",
          "I'd rather not do that without speaking to our accountant first.")
DUP_NOTES = ("Same issue as ticket {orig} - see the resolution there.", "Recurring problem - previously logged as {orig}.",
             "Customer says the problem from {orig} has come back.")
REOPEN_LINES = ("This has happened again.", "Sorry, this problem is back.", "Same problem as before I'm afraid.",
                "Following on from our previous ticket - it's doing it again.", "The issue we had a few weeks ago has come back.")
