"""Attack template families: per category at least three families of distinct wording.

A *template family* is the unit of hold-out: evaluation can train on some families and test
on the others, so a detector that memorised one phrasing is caught out. Every campaign uses
exactly one family (recorded as ``template_family`` in the campaigns table).
Fields as in :mod:`graphdet.synth.text_safe`, plus ``brand`` and ``lure_host`` for phishing.
"""

# ruff: noqa: E501  (template sentences read better unbroken)
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ATTACK_SLOTS", "FAMILIES", "TemplateFamily"]


@dataclass(frozen=True)
class TemplateFamily:
    id: str
    subjects: tuple[str, ...]
    bodies: tuple[str, ...]


ATTACK_SLOTS: dict[str, tuple[str, ...]] = {
    "sig_mobile": ("Sent from my iPhone", "Sent from my mobile device", "Sent from Outlook for Android", ""),
    "avail": ("Are you available?", "Are you at your desk?", "Do you have a minute?", "Are you around?"),
    "discreet": (
        "Please keep this between us for now.",
        "Keep this confidential until it is announced.",
        "Don't mention this to anyone yet.",
        "I'd appreciate your discretion.",
    ),
    "busy": (
        "I'm in meetings all day and can't take calls.",
        "I'm boarding a flight shortly.",
        "I'm at a conference and can only email.",
        "I'm tied up with the board all afternoon.",
    ),
    "gift_ask": (
        "I need you to buy {n_cards} gift cards of $100 each for a client appreciation surprise.",
        "Can you pick up {n_cards} Apple gift cards ($200 each) for staff rewards today?",
        "I want to surprise the team with gift cards - please get {n_cards} of them.",
    ),
    "gift_next": (
        "Scratch the back and send me photos of the codes.",
        "Email me the card numbers and PINs once you have them.",
        "Reply with the codes as soon as you can, I'll reimburse you.",
    ),
    "n_cards": ("5", "6", "8", "10", "12"),
    "wire_ask": (
        "I need a wire transfer of {amount} processed today for an acquisition we're closing.",
        "Please process an urgent payment of {amount} to a new supplier before the cut-off.",
        "We have to settle an outstanding payment of {amount} today to avoid penalties.",
    ),
    "wire_next": (
        "I'll send the beneficiary details once you confirm.",
        "Reply to confirm and I'll forward the bank details.",
        "Let me know the earliest you can get this out and I'll share the account.",
    ),
    "payroll_ask": (
        "I've changed banks and need my salary paid into the new account from this cycle.",
        "Please update my direct deposit before the next payroll run.",
        "My old account is being closed; can you switch my payroll to a new bank?",
    ),
    "payroll_next": (
        "What details do you need from me?",
        "I can send the new account number now.",
        "Let me know what form to fill in, I'm travelling this week.",
    ),
    "vf_bank": (
        "Due to an ongoing audit our usual account is temporarily frozen. Please remit all outstanding invoices to our new bank account below.",
        "We have updated our banking partner. Kindly update your vendor records and use the new account for invoice {inv_no}.",
        "Please be advised our remittance details have changed with immediate effect. Payments to the old account will be returned.",
    ),
    "vf_overdue": (
        "Our accounts show invoice {inv_no} for {amount} remains unpaid. Please settle it today to avoid a late fee and suspension of service.",
        "Invoice {inv_no} ({amount}) is now 30 days overdue. Kindly process payment urgently.",
        "Final notice: invoice {inv_no} amounting to {amount} must be paid by {due}.",
    ),
    "vf_confirm": (
        "Please confirm once the change has been made.",
        "Reply to this email to confirm receipt.",
        "Send us the remittance advice once paid.",
        "Do not call the old number, it is no longer in service.",
    ),
    "acct": (
        "Account name: {sender_org} Ltd\nIBAN: GB{iban}\nSWIFT: NWBKGB2L",
        "Bank: First Continental\nAccount: {iban}\nRouting: 026009593",
        "Beneficiary: {sender_org}\nAccount no.: {iban}\nSort code: 40-12-76",
    ),
    "cred_quota": (
        "Your mailbox has exceeded its storage quota. Incoming mail will be held until you verify your account.",
        "Your mailbox is almost full (98%). Validate your account to keep receiving messages.",
        "We detected unusual storage activity. Confirm your password to avoid suspension.",
    ),
    "cred_doc": (
        "{sender_name} has shared a secure document with you via {brand}.",
        "You have received an encrypted file from {brand}. Sign in to view it.",
        "A payment remittance document has been shared with you for review.",
    ),
    "cred_pwd": (
        "Your password expires today. Keep your current password by confirming it below.",
        "Urgent: your password will expire in 24 hours. Re-validate your credentials now.",
        "Our records show your password must be updated immediately to keep access.",
    ),
    "cred_voice": (
        "You have a new voicemail (0:47) from an external caller.",
        "Missed call: a voice message is waiting in your inbox portal.",
        "New audio message received. Listen online before it is deleted.",
    ),
    "cred_cta": (
        "Click below to sign in.",
        "Use the secure link below.",
        "Access it here:",
        "Verify now using the button below.",
    ),
    "mal_inv": (
        "Please see the attached invoice and confirm payment.",
        "Attached is the overdue invoice, please process.",
        "Kindly find the invoice attached for your urgent attention.",
    ),
    "mal_ship": (
        "Your parcel could not be delivered. The shipping label is attached.",
        "Shipment notice: please print the attached delivery form.",
        "Customs documents for your delivery are attached.",
    ),
    "mal_scan": (
        "A new scanned document has been sent to you. See attachment.",
        "Fax received (3 pages). The document is attached.",
        "Scan from office printer attached.",
    ),
    "mal_cv": (
        "Please find my CV attached for the open position.",
        "Attached is my resume, I look forward to hearing from you.",
        "I am applying for the role advertised, my application is attached.",
    ),
    "spam_pharma": (
        "Cheap meds online, no prescription needed!",
        "Save 80% on pharmacy orders this week only.",
        "Top quality pills, discreet shipping worldwide.",
    ),
    "spam_seo": (
        "We can get your website to page 1 of Google in 30 days.",
        "Your website is missing out on traffic. Let us fix your SEO.",
        "I noticed some errors on your site; our team can help boost your ranking.",
    ),
    "spam_crypto": (
        "Turn $250 into $10,000 with our automated trading platform.",
        "Exclusive crypto opportunity - guaranteed returns.",
        "Early access to the next big token. Act now!",
    ),
    "spam_lottery": (
        "Congratulations! Your email has won $1,500,000 in our annual draw.",
        "You are our lucky winner. Claim your prize by replying with your details.",
        "Final notice: unclaimed payment of $850,000 in your name.",
    ),
    "spam_close": (
        "Reply STOP to unsubscribe.",
        "Limited time offer.",
        "Contact us today.",
        "Act now, urgent!",
    ),
    "lat_body": (
        "I've shared a document with you - please review before our meeting.",
        "Please see the updated payment schedule in the shared folder.",
        "HR has posted the new salary review. Sign in with your company password to view it.",
        "Can you take a look at this proposal and let me know your thoughts?",
    ),
}

_BEC_SIG = "\n\n{sender_first}\n{sig_mobile}"

FAMILIES: dict[str, tuple[TemplateFamily, ...]] = {
    "bec": (
        TemplateFamily(
            "bec.gift_card",
            ("Quick favour", "Request", "Are you available?", "Need your help"),
            ("{rcpt_first}, {avail} {busy} {gift_ask} {gift_next} {discreet}" + _BEC_SIG,),
        ),
        TemplateFamily(
            "bec.wire_urgent",
            ("Urgent payment", "Confidential - wire today", "Time-sensitive transfer", "URGENT"),
            ("{greet} {rcpt_first},\n\n{wire_ask} {busy} {discreet} {wire_next}" + _BEC_SIG,),
        ),
        TemplateFamily(
            "bec.payroll",
            ("Direct deposit update", "Payroll change", "Bank change for salary"),
            ("{greet},\n\n{payroll_ask} {payroll_next}" + _BEC_SIG,),
        ),
        TemplateFamily(
            "bec.availability",
            ("{avail}", "Quick task", "Are you in the office?"),
            ("{avail} I need you to handle an urgent payment task for me. {busy} Reply here.{sig_mobile}",),
        ),
    ),
    "vendor_fraud": (
        TemplateFamily(
            "vendor_fraud.bank_change",
            ("Updated bank details", "Change of remittance information", "Important: new account details"),
            (
                "{greet} {rcpt_first},\n\n{vf_bank}\n\n{acct}\n\n{vf_confirm}\n\n{thanks}\n{sender_name}\n{sender_org}",
            ),
        ),
        TemplateFamily(
            "vendor_fraud.overdue",
            ("Overdue invoice {inv_no}", "Final notice: invoice {inv_no}", "Payment reminder {inv_no}"),
            (
                "{greet} {rcpt_first},\n\n{vf_overdue} Please note we now use the account below.\n\n{acct}\n\n{thanks}\n{sender_name}",
            ),
        ),
        TemplateFamily(
            "vendor_fraud.remittance",
            ("Remittance update for invoice {inv_no}", "Payment instructions", "Re: invoice {inv_no}"),
            (
                "Dear {rcpt_first},\n\nFurther to our last invoice {inv_no}, kindly direct the payment of {amount} to our new account. {vf_confirm}\n\n{acct}\n\nRegards,\n{sender_name}",
            ),
        ),
    ),
    "vendor_compromise": (
        TemplateFamily(
            "vendor_compromise.bank_change",
            ("Change of bank details - {sender_org}", "Updated payment details", "New bank account"),
            ("{greet} {rcpt_first},\n\n{vf_bank}\n\n{acct}\n\n{vf_confirm}\n\n{thanks}\n{sender_name}",),
        ),
        TemplateFamily(
            "vendor_compromise.invoice_reissue",
            ("Invoice {inv_no} (corrected)", "Re-issued invoice {inv_no}", "Correction to invoice {inv_no}"),
            (
                "{greet} {rcpt_first},\n\nWe found an error on invoice {inv_no}. The corrected invoice for {amount} is attached and the payment account has changed. {vf_confirm}\n\n{acct}\n\n{sender_name}",
            ),
        ),
        TemplateFamily(
            "vendor_compromise.hold_payment",
            ("Please hold payment", "Urgent: do not pay to old account", "Payment {inv_no}"),
            (
                "{rcpt_first},\n\nPlease hold any payment to our old account - it is under review. Use the details below for invoice {inv_no} ({amount}) instead. Reply to me directly.\n\n{acct}\n\n{sender_name}",
            ),
        ),
    ),
    "credential_phishing": (
        TemplateFamily(
            "credential_phishing.quota",
            ("Mailbox storage full", "Action required: mailbox quota", "Your mailbox will be suspended"),
            ("{cred_quota} {cred_cta}\n\n{brand} Support",),
        ),
        TemplateFamily(
            "credential_phishing.shared_doc",
            ("{sender_name} shared a file with you", "Document for review", "New secure document"),
            ("{cred_doc} {cred_cta}\n\nThis link will expire in 48 hours.",),
        ),
        TemplateFamily(
            "credential_phishing.password",
            ("Password expiry notice", "Your password expires today", "Action required: verify your account"),
            ("Dear {rcpt_first},\n\n{cred_pwd} {cred_cta}\n\nIT Security Team",),
        ),
        TemplateFamily(
            "credential_phishing.voicemail",
            ("New voicemail", "Voice message received", "Missed call from +1 (415) ***-**21"),
            ("{cred_voice} {cred_cta}",),
        ),
    ),
    "lateral_phishing": (
        TemplateFamily(
            "lateral_phishing.shared_doc",
            ("Document shared with you", "Please review", "Shared: proposal"),
            ("{greet},\n\n{lat_body}\n\n{sender_first}",),
        ),
        TemplateFamily(
            "lateral_phishing.payroll",
            ("Salary review 2026", "Updated payroll schedule", "HR: action required"),
            (
                "{greet} all,\n\nHR has posted the new salary review and updated payment schedule. Sign in with your company password to view it.\n\n{sender_name}",
            ),
        ),
        TemplateFamily(
            "lateral_phishing.it",
            ("IT: mailbox migration", "Re-validate your account", "Urgent: password update required"),
            (
                "{greet},\n\nIT asked me to forward this: all staff must re-validate their password on the new portal by {due}.\n\n{sender_first}",
            ),
        ),
    ),
    "malware": (
        TemplateFamily(
            "malware.invoice",
            ("Invoice {inv_no}", "Overdue invoice attached", "Payment request {inv_no}"),
            ("{greet},\n\n{mal_inv}\n\n{thanks}\n{sender_name}",),
        ),
        TemplateFamily(
            "malware.shipping",
            ("Delivery failed", "Your shipment is on hold", "Shipping documents"),
            ("{mal_ship} Tracking ref {inv_no}.\n\nCustomer Service",),
        ),
        TemplateFamily(
            "malware.scan", ("Scanned document", "Fax message", "Scan from printer"), ("{mal_scan}",)
        ),
        TemplateFamily(
            "malware.resume",
            ("Application for open position", "My CV", "Job application"),
            ("{greet},\n\n{mal_cv}\n\n{thanks}\n{sender_name}",),
        ),
    ),
    "spam": (
        TemplateFamily(
            "spam.pharma",
            ("Best prices on meds", "Discreet pharmacy", "Save 80% today"),
            ("{spam_pharma} {spam_close}",),
        ),
        TemplateFamily(
            "spam.seo",
            ("Website ranking", "Quick question about {tenant_org}", "SEO proposal"),
            ("{greet},\n\n{spam_seo} {spam_close}",),
        ),
        TemplateFamily(
            "spam.crypto",
            ("Investment opportunity", "Make money from home", "Urgent: limited offer"),
            ("{spam_crypto} {spam_close}",),
        ),
        TemplateFamily(
            "spam.lottery",
            ("You have won!", "Claim your payment", "Winner notification"),
            ("{spam_lottery} {spam_close}",),
        ),
    ),
}
