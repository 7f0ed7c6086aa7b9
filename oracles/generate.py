#!/usr/bin/env python3
"""Real MTAs as oracles for the bounce analyser: run inside a private network and mount
namespace (generate.sh does that), where only the loopback interface exists.

On 127.0.2.0/24 it runs a DNS server (the MTAs' resolver, through a private bind mount of
/etc/resolv.conf), a scripted SMTP peer that answers each failure class the way receiving
servers word it, and a collector that keeps the bounces. Each MTA under test (Postfix, Exim,
OpenSMTPD, Sendmail) is configured in a private directory, takes one message per scenario over
SMTP, relays it to the peer (or forwards it, or answers it with its auto-responder), and sends
its bounce to the collector. Each bounce becomes
crates/bounce/tests/golden/<mta>/NNN.eml beside NNN.json: what the analyser must read in it.

The expectation comes from the scenario (what the peer answered and why), not from the
analyser: the reason of the peer's reply, the reply code when the report carries the reply,
the report's own Status and Action fields when it has a DSN part. Where a temporary failure
ended in expiry, the expected reason is that reply's cause when the report carries the reply,
`expired` when it does not.
"""

import argparse
import email
import email.utils
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import subprocess
import sys
import threading
import time
from email.message import EmailMessage

NET = "127.0.2."
DNS_ADDR = NET + "53"
COLLECT_ADDR = NET + "100"

# name -> address of its A record; every domain below has an MX naming mx.<domain>.
HOSTS = {
    "mx.dest.test": NET + "1",
    "mx.greet554.test": NET + "2",
    "mx.greet421.test": NET + "3",
    "mx.tls.test": NET + "4",
    "mx.size.test": NET + "5",
    "mx.notls.test": NET + "6",
    "mx.sender.test": NET + "7",
    "mx.greet521.test": NET + "8",
    "mx.conns.test": NET + "9",
    # The scenarios that last until expiry each have a domain and MX host of their own: Sendmail
    # caches a host's temporary failure for the rest of a queue run and defers the next envelope
    # for that host without a try, so a shared host made its reports depend on the queue's order.
    "mx.full.test": NET + "20",
    "mx.grey.test": NET + "21",
    "mx.lookup.test": NET + "22",
    "mx.slow.test": NET + "23",
    "mx.tempfail-gmail.test": NET + "24",
    "mx.closing.test": NET + "25",
    "mx.rate.test": NET + "26",
    "mx.tempfail-warn.test": NET + "27",
    # No listener: a connection to it is refused (the kernel answers with a reset).
    "mx.refused.test": NET + "28",
    # The peer closes the connection in the middle of the session, without a reply: when the
    # RCPT command comes, or when the data has ended.
    "mx.droprcpt.test": NET + "29",
    "mx.dropdata.test": NET + "30",
    "mx.collect.test": COLLECT_ADDR,
    "mta-postfix.oracle.test": NET + "201",
    "mta-exim.oracle.test": NET + "202",
    "mta-opensmtpd.oracle.test": NET + "203",
    "mta-sendmail.oracle.test": NET + "204",
    "mta-courier.oracle.test": NET + "205",
}
# MX hosts where nothing listens on port 25.
NO_LISTENER = {"mx.refused.test"}
# A domain that says it takes no mail (RFC 7505: "MX 0 .").
NULL_MX = "nullmx.test"
MX_DOMAINS = [h[len("mx."):] for h in HOSTS if h.startswith("mx.")]

# The scenarios. `at`: when the peer answers with `reply` (rcpt: the RCPT command; data: the
# end of the data). `domain` other than dest.test: the peer's behaviour is the host's own
# (greeting, TLS, SIZE). `expires`: the failure is temporary and lasts until the MTA gives up.
# `reason`: the cause the reply names; `own`: the MTA refuses by itself (no reply to carry).
GMAIL_SPAM = ("550-5.7.1 [127.0.0.1] Our system has detected that this message is\r\n"
              "550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\r\n"
              "550-5.7.1 this message has been blocked. For more information, go to\r\n"
              "550 5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError")
GMAIL_DMARC = ("550-5.7.26 Unauthenticated email from collect.test is not accepted due to\r\n"
               "550-5.7.26 domain's DMARC policy. Please contact the administrator of\r\n"
               "550-5.7.26 collect.test domain if this was a legitimate mail. To learn about\r\n"
               "550-5.7.26 the DMARC initiative, go to\r\n"
               "550 5.7.26  https://support.google.com/mail/?p=DmarcRejection")
# Microsoft's published NDR text for a sender on a block list (Exchange Online, 5.7.1): the
# client's address goes in the brackets.
MICROSOFT_SPAMHAUS = ("550 5.7.1 Service unavailable, Client host [{client}] blocked using "
                      "Spamhaus. To request removal from this list see "
                      "https://www.spamhaus.org/query/ip/{client} (AS3130)")
# Gmail's documented refusal of a full mailbox whose owner has not signed in for a long time.
GMAIL_FULL_INACTIVE = ("552-5.2.2 The recipient's inbox is out of storage space and inactive.\r\n"
                       "552-5.2.2 Please direct the recipient to\r\n"
                       "552 5.2.2  https://support.google.com/mail/?p=OverQuotaPerm")
OUTLOOK_BLOCKLIST = ("550 5.7.1 Unfortunately, messages from [127.0.2.201] weren't sent. Please "
                     "contact your Internet service provider since part of their network is on "
                     "our block list (S3150). You can also refer your provider to "
                     "http://mail.live.com/mail/troubleshooting.aspx#errors.")
# A dropped connection, as each MTA reports it at expiry: Postfix "Status: 4.4.2" (RFC 3463
# "bad connection") and "lost connection with … while sending RCPT TO"; Courier "Status: 5.0.0"
# and "Network connection shut down by the remote mail server". The others say the tries ran
# out (Sendmail 4.4.7, Exim "retry timeout exceeded", OpenSMTPD "Envelope expired").
DROPPED_BY_MTA = {"postfix": "networkerror", "courier": "networkerror"}
SCENARIOS = [
    dict(n=1, rcpt="unknown@dest.test", at="rcpt", reason="userunknown", status="5.1.1",
         reply="550 5.1.1 <unknown@dest.test>: Recipient address rejected: User unknown in virtual mailbox table",
         about="550 5.1.1 at RCPT: unknown user"),
    dict(n=2, rcpt="someone@nxdomain.test", own=True, reason="hostunknown",
         about="the domain does not exist (NXDOMAIN from the DNS server)"),
    dict(n=3, rcpt="quota@dest.test", at="rcpt", reason="mailboxfull", status="5.2.2",
         reply="552 5.2.2 <quota@dest.test>: Quota exceeded (mailbox for user is full)",
         about="552 5.2.2 at RCPT: mailbox over quota"),
    dict(n=4, rcpt="full@full.test", at="rcpt", reason="mailboxfull", status="4.2.2",
         expires=True, reply="452 4.2.2 <full@full.test>: Mailbox full",
         about="452 4.2.2 at RCPT until the message expires"),
    dict(n=5, rcpt="big@dest.test", at="data", reason="mesgtoobig", status="5.3.4",
         reply="552 5.3.4 Message size exceeds fixed maximum message size",
         about="552 5.3.4 after the data: message too big"),
    dict(n=6, rcpt="someone@size.test", at="mail", reason="mesgtoobig", status="5.3.4",
         reply="552 5.3.4 Message size exceeds fixed limit",
         about="the destination's SIZE limit (1024) is below the message's size"),
    dict(n=7, rcpt="relay@dest.test", at="rcpt", reason="norelaying", status="5.7.1",
         reply="554 5.7.1 <relay@dest.test>: Relay access denied",
         about="554 5.7.1 at RCPT: relay denied"),
    dict(n=8, rcpt="spam-gmail@dest.test", at="data", reason="spamdetected", status="5.7.1",
         reply=GMAIL_SPAM, marker="likely unsolicited mail",
         about="550 5.7.1 after the data, Gmail's documented spam wording"),
    dict(n=9, rcpt="spam-ms@dest.test", at="data", reason="spamdetected", status="5.7.1",
         reply="550 5.7.1 Message rejected as spam by Content Filtering.",
         about="550 5.7.1 after the data, Exchange's content filter wording"),
    dict(n=10, rcpt="policy-yahoo@dest.test", at="data", reason="policyviolation",
         status="5.7.9",
         reply="554 5.7.9 Message not accepted for policy reasons.  See https://senders.yahooinc.com/error-codes",
         about="554 5.7.9 after the data, Yahoo's documented policy wording"),
    dict(n=11, rcpt="someone@greet554.test", at="greeting", reason="blocked",
         reply="554 mx.greet554.test ESMTP not accepting messages from 127.0.0.1",
         marker="not accepting messages",
         about="554 in the greeting: the client's IP refused"),
    dict(n=12, rcpt="clienthost@dest.test", at="rcpt", reason="blocked", status="5.7.1",
         reply="554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied",
         about="554 5.7.1 at RCPT: client host rejected (Postfix's wording)"),
    dict(n=13, rcpt="grey@grey.test", at="rcpt", reason="blocked", status="4.7.1",
         expires=True,
         reply="450 4.7.1 <grey@grey.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/grey.test.html",
         marker="Greylisted",
         about="450 4.7.1 greylisting at RCPT until the message expires"),
    dict(n=14, rcpt="someone@greet421.test", at="greeting", reason="blocked", expires=True,
         reply="421 mx.greet421.test Service not available, closing transmission channel",
         marker="Service not available",
         about="421 in the greeting until the message expires"),
    dict(n=15, rcpt="lookup@lookup.test", at="rcpt", reason="systemerror", status="4.3.0",
         expires=True, reply="451 4.3.0 <lookup@lookup.test>: Temporary lookup failure",
         about="451 4.3.0 at RCPT until the message expires"),
    dict(n=16, rcpt="someone@tls.test", at="mail", reason="securityerror", status="5.7.0",
         reply="530 5.7.0 Must issue a STARTTLS command first",
         about="530 5.7.0 at MAIL: the server requires TLS"),
    dict(n=17, rcpt="two-a@dest.test", also="two-b@dest.test", at="rcpt",
         reason="userunknown", status="5.1.1",
         reply="550 5.1.1 <two-a@dest.test>: Recipient address rejected: User unknown",
         also_reason="mailboxfull", also_status="5.2.2",
         also_reply="552 5.2.2 <two-b@dest.test>: Mailbox full",
         about="two recipients of one message: unknown user and mailbox full"),
    dict(n=19, rcpt="unknown@dest.test", via="fwd@local.oracle.test", at="rcpt",
         reason="userunknown", status="5.1.1",
         reply="550 5.1.1 <unknown@dest.test>: Recipient address rejected: User unknown in virtual mailbox table",
         about="a forward (fwd@local.oracle.test redirected) that fails with 550 5.1.1"),
    dict(n=18, rcpt="suspended@dest.test", at="rcpt", reason="suspend", status="5.2.1",
         reply="550 5.2.1 <suspended@dest.test>: Mailbox disabled, not accepting messages",
         about="550 5.2.1 at RCPT: mailbox disabled"),
    dict(n=21, rcpt="dmarc-gmail@dest.test", at="data", reason="authfailure", status="5.7.26",
         reply=GMAIL_DMARC, marker="DMARC policy",
         about="550 5.7.26 after the data, Gmail's documented DMARC refusal"),
    dict(n=22, rcpt="blocklist-ms@dest.test", at="rcpt", reason="blocked", status="5.7.1",
         reply=OUTLOOK_BLOCKLIST, marker="on our block list",
         about="550 5.7.1 at RCPT, Outlook.com's documented block list refusal (S3150)"),
    dict(n=23, rcpt="slow@slow.test", at="rcpt", reason="mailboxfull", status="4.2.2",
         expires=True, warning=True, reply="452 4.2.2 <slow@slow.test>: Mailbox full",
         about="the delay warning of a 452 4.2.2 at RCPT, sent while the message is retried"),
    # Courier 1.0.16 knows no null MX: it reports the domain as it does a missing one ("No
    # such domain."), and nothing in its report can tell them apart.
    dict(n=24, rcpt="someone@nullmx.test", own=True, reason="notaccept",
         reason_by_mta={"courier": "hostunknown"},
         about="the domain publishes a null MX (RFC 7505): it accepts no mail"),
    dict(n=20, rcpt="away@local.oracle.test", autoreply=True, reason="vacation",
         about="an auto-reply: the MTA's own vacation responder answers the message"),
    # A remote that takes the recipient and then fails the message itself at the end of the
    # data, every time, until the message expires: 421 closes the session after the reply.
    dict(n=25, rcpt="tempfail-gmail@tempfail-gmail.test", at="data", reason="systemerror",
         status="4.3.0", expires=True,
         reply="421 4.3.0 Temporary System Problem. Try again later",
         marker="Temporary System Problem",
         about="421 4.3.0 after the data (Gmail's documented wording), closing, until the "
               "message expires"),
    dict(n=26, rcpt="closing@closing.test", at="data", reason="expired", expires=True,
         reply="421 mx.dest.test Service not available, closing transmission channel",
         marker="Service not available",
         about="a plain 421 after the data (RFC 5321's words, no enhanced code), closing, until "
               "the message expires: the reply names no cause"),
    # The words alone, without an enhanced code: only the command that was refused tells an
    # unknown mailbox (at RCPT) from a filter's verdict (after the data). OpenSMTPD's report
    # names no command ("nocode@dest.test: 550 User unknown" and a DSN with only 5.0.0; its
    # report of a refusal after the data, scenario 30, is written the same way), so the words
    # are all a reader has, and without the command they are the filter's verdict — which au
    # and docomo print after the data (the reference's convention too). That verdict is soft
    # where the truth is hard: the cost of a report that drops the command.
    dict(n=27, rcpt="nocode@dest.test", at="rcpt", reason="userunknown",
         reason_by_mta={"opensmtpd": "filtered"},
         reply="550 User unknown", marker="User unknown",
         about="550 at RCPT without an enhanced status code: \"User unknown\""),
    dict(n=28, rcpt="someone@sender.test", at="mail", reason="rejected", status="5.1.8",
         reply="553 5.1.8 <{sender}>: Sender address rejected: Domain not found",
         marker="Sender address rejected",
         about="553 5.1.8 at MAIL FROM: the sender's domain refused (Postfix's "
               "reject_unknown_sender_domain)"),
    dict(n=29, rcpt="someone@greet521.test", at="greeting", reason="notaccept", status="5.3.2",
         reply="521 5.3.2 mx.greet521.test does not accept mail", marker="does not accept mail",
         about="521 in the greeting (RFC 7504): the host accepts no mail"),
    dict(n=30, rcpt="fullafter@dest.test", at="data", reason="mailboxfull", status="5.2.2",
         reply="552 5.2.2 <fullafter@dest.test>: Mailbox full", marker="Mailbox full",
         about="552 5.2.2 after the data: the mailbox is full when the message is delivered"),
    dict(n=31, rcpt="loop@dest.test", at="data", reason="networkerror", status="5.4.6",
         reply="554 5.4.6 Too many hops 26 (25 max): from <sender@collect.test>, "
               "to <loop@dest.test>",
         marker="Too many hops",
         about="554 5.4.6 after the data: a routing loop (Sendmail's hop count wording)"),
    dict(n=32, rcpt="someone@conns.test", at="greeting", reason="toomanyconn", status="4.7.0",
         expires=True,
         reply="421 4.7.0 mx.conns.test Error: too many connections from 127.0.2.1",
         marker="too many connections",
         about="421 4.7.0 in the greeting until expiry: too many connections (Postfix's "
               "anvil wording)"),
    dict(n=33, rcpt="rate@rate.test", at="rcpt", reason="speeding", status="4.2.1",
         expires=True,
         reply="450 4.2.1 The user you are trying to contact is receiving mail too quickly. "
               "Please resend your message at a later time.",
         marker="receiving mail too quickly",
         about="450 4.2.1 at RCPT until expiry, Gmail's documented rate wording from a host "
               "that is not Google's"),
    dict(n=34, rcpt="tempfail-warn@tempfail-warn.test", at="data", reason="systemerror", status="4.3.0",
         expires=True, warning=True,
         reply="421 4.3.0 Temporary System Problem. Try again later",
         marker="Temporary System Problem",
         about="the delay warning of a 421 4.3.0 after the data, sent while the message is "
               "retried"),
    # Nothing listens at the MX: every try ends in a refused connection, until expiry. No
    # reply was ever read, so no reply's cause can be named: the report's own fields say the
    # tries ran out (Postfix 4.4.1, Sendmail and OpenSMTPD 4.4.7, Exim "retry timeout
    # exceeded"). Courier's says only 5.0.0 and the last try's failure in the C library's
    # words ("Network is down"): the cause it names is the network's.
    dict(n=35, rcpt="someone@refused.test", own=True, reason="expired", expires=True,
         reason_by_mta={"courier": "networkerror"},
         about="nothing listens at the MX: the connection is refused until the message "
               "expires"),
    # The peer closes the connection without a reply, every time, until expiry: no reply to
    # carry, so the report's own fields decide (see NOTES.md): `expired` where they say the
    # tries ran out, the network's failure where they name it instead.
    dict(n=36, rcpt="someone@droprcpt.test", own=True, reason="expired", expires=True,
         reason_by_mta=DROPPED_BY_MTA,
         about="the peer closes the connection when RCPT comes, without a reply, until the "
               "message expires"),
    dict(n=37, rcpt="someone@dropdata.test", own=True, reason="expired", expires=True,
         reason_by_mta=DROPPED_BY_MTA,
         about="the peer closes the connection when the data has ended, without a reply, "
               "until the message expires"),
    dict(n=38, rcpt="dmarc-rcpt@dest.test", at="rcpt", reason="authfailure", status="5.7.26",
         reply=GMAIL_DMARC, marker="DMARC policy",
         about="550 5.7.26 at RCPT, Gmail's documented DMARC refusal"),
    dict(n=39, rcpt="spamhaus-ms@dest.test", at="rcpt", reason="blocked", status="5.7.1",
         reply=MICROSOFT_SPAMHAUS, marker="blocked using Spamhaus",
         about="550 5.7.1 at RCPT, Microsoft's published block list wording (Spamhaus)"),
    # Status first: 5.2.2 is a full mailbox whatever else the words say ("inactive").
    dict(n=40, rcpt="full-inactive@dest.test", at="rcpt", reason="mailboxfull", status="5.2.2",
         reply=GMAIL_FULL_INACTIVE, marker="out of storage space",
         about="552 5.2.2 at RCPT, Gmail's documented wording for a full, inactive mailbox"),
]


# ---------------------------------------------------------------------------- DNS server

def dns_server(stop):
    # Imported here: the `--submit` mode runs under the system's python3, which may lack it.
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdatatype
    import dns.rrset

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((DNS_ADDR, 53))
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(4096)
        except socket.timeout:
            continue
        try:
            query = dns.message.from_wire(data)
        except Exception:
            continue
        reply = dns.message.make_response(query)
        # Authoritative and recursion available: glibc takes an empty answer without these
        # bits for a lame server and fails with "try again" (Sendmail's AAAA lookups did).
        reply.flags |= dns.flags.AA | dns.flags.RA
        q = query.question[0]
        name = q.name.to_text().rstrip(".").lower()
        known = name in HOSTS or name in MX_DOMAINS or name == NULL_MX
        if q.rdtype == dns.rdatatype.MX and name == NULL_MX:
            reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "MX", "0 ."))
        elif q.rdtype == dns.rdatatype.MX and name in MX_DOMAINS:
            reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "MX", f"10 mx.{name}."))
        elif q.rdtype == dns.rdatatype.A and name in HOSTS:
            reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", HOSTS[name]))
        elif q.rdtype == dns.rdatatype.PTR and name.endswith(".2.0.127.in-addr.arpa"):
            last = name.split(".")[0]
            names = [h for h, a in HOSTS.items() if a == NET + last]
            if names:
                reply.answer.append(
                    dns.rrset.from_text(q.name, 60, "IN", "PTR", names[0] + "."))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
        elif name == "1.0.0.127.in-addr.arpa" and q.rdtype == dns.rdatatype.PTR:
            reply.answer.append(dns.rrset.from_text(q.name, 60, "IN", "PTR", "localhost."))
        elif not known:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        sock.sendto(reply.to_wire(), peer)


# ---------------------------------------------------------------------------- SMTP peer

class Collected:
    lock = threading.Lock()
    mails = {}  # envelope recipient -> [raw bytes]


def scenario(n):
    return next(s for s in SCENARIOS if s["n"] == n)


def rule_for(rcpt):
    for s in SCENARIOS:
        if s.get("at") in ("rcpt", "data") and s["rcpt"] == rcpt:
            return s.get("at"), s["reply"]
        if s.get("also") == rcpt:
            return "rcpt", s["also_reply"]
    return None, None


class Peer(socketserver.StreamRequestHandler):
    timeout = 60

    def send(self, text):
        self.wfile.write((text + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        here = self.request.getsockname()[0]
        try:
            self.session(here)
        except (ConnectionError, socket.timeout, OSError):
            pass

    def session(self, here):
        name = [h for h, a in HOSTS.items() if a == here][0]
        if here == HOSTS["mx.greet554.test"]:
            self.send(scenario(11)["reply"])
            while True:
                line = self.rfile.readline()
                if not line or line.upper().startswith(b"QUIT"):
                    self.send("221 2.0.0 Bye")
                    return
                self.send("503 5.5.1 Sorry, no service here")
        if here == HOSTS["mx.greet421.test"]:
            self.send(scenario(14)["reply"])
            return
        if here == HOSTS["mx.conns.test"]:
            self.send(scenario(32)["reply"])
            return
        if here == HOSTS["mx.greet521.test"]:
            # RFC 7504: 521 in place of the greeting, then the channel closes.
            self.send(scenario(29)["reply"])
            return
        self.send(f"220 {name} ESMTP scripted peer")
        rcpts, data_rules, sender = [], [], None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                caps = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"]
                caps.append("SIZE 1024" if here == HOSTS["mx.size.test"] else "SIZE 10240000")
                if verb == "HELO":
                    self.send(f"250 {name}")
                else:
                    lines = [name] + caps
                    for l in lines[:-1]:
                        self.send("250-" + l)
                    self.send("250 " + lines[-1])
            elif verb == "MAIL":
                if here == HOSTS["mx.tls.test"]:
                    self.send(scenario(16)["reply"])
                    continue
                if here == HOSTS["mx.sender.test"]:
                    m = re.search(r"<([^>]*)>", cmd)
                    self.send(scenario(28)["reply"].format(sender=m.group(1) if m else ""))
                    continue
                m = re.search(r"SIZE=(\d+)", cmd, re.I)
                if here == HOSTS["mx.size.test"] and m and int(m.group(1)) > 1024:
                    self.send(scenario(6)["reply"])
                    continue
                sender = cmd
                rcpts, data_rules = [], []
                self.send("250 2.1.0 Ok")
            elif verb == "RCPT":
                if here == HOSTS["mx.droprcpt.test"]:
                    return
                m = re.search(r"<([^>]*)>", cmd)
                rcpt = m.group(1).lower() if m else ""
                at, reply = rule_for(rcpt)
                if at == "rcpt":
                    self.send(reply.replace("{client}", self.client_address[0]))
                    continue
                if at == "data":
                    data_rules.append(reply)
                rcpts.append(rcpt)
                self.send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self.send("554 5.5.1 Error: no valid recipients")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                raw = bytearray()
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    raw += l
                if here == HOSTS["mx.dropdata.test"]:
                    return
                if data_rules:
                    self.send(data_rules[0])
                    # 421: the server closes the channel after its reply (RFC 5321 3.8).
                    if data_rules[0].startswith("421"):
                        return
                    continue
                if here == COLLECT_ADDR:
                    with Collected.lock:
                        for r in rcpts:
                            Collected.mails.setdefault(r, []).append(bytes(raw))
                self.send("250 2.0.0 Ok: queued")
            elif verb == "RSET":
                rcpts, data_rules = [], []
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def start_peers():
    servers = []
    for host, addr in HOSTS.items():
        if host.startswith("mx.") and host not in NO_LISTENER:
            s = Server((addr, 25), Peer)
            threading.Thread(target=s.serve_forever, daemon=True).start()
            servers.append(s)
    return servers


# ---------------------------------------------------------------------------- the MTAs

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


class Postfix:
    name = "postfix"
    addr = HOSTS["mta-postfix.oracle.test"]

    def __init__(self, work, cache):
        self.dir = os.path.join(work, "postfix")
        self.vacation = Vacation(work, cache)

    def start(self):
        d = self.dir
        os.makedirs(d, exist_ok=True)
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        shutil.chown(os.path.join(d, "data"), "postfix", "postfix")
        main = f"""
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = mta-postfix.oracle.test
mydomain = oracle.test
myorigin = $myhostname
mydestination =
inet_interfaces = {self.addr}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
maximal_queue_lifetime = 20s
delay_warning_time = 6s
bounce_queue_lifetime = 20s
queue_run_delay = 3s
minimal_backoff_time = 3s
maximal_backoff_time = 6s
smtp_connect_timeout = 5s
smtp_tls_security_level = may
notify_classes =
virtual_alias_domains = local.oracle.test
virtual_alias_maps = texthash:{d}/virtual
transport_maps = texthash:{d}/transport
vacation_destination_recipient_limit = 1
"""
        with open(os.path.join(d, "main.cf"), "w") as f:
            f.write(main)
        # The forward is a virtual alias; the auto-reply a pipe to Sendmail's vacation(1), the
        # way Postfix sites run it, reached through a domain of its own.
        with open(os.path.join(d, "virtual"), "w") as f:
            f.write("fwd@local.oracle.test unknown@dest.test\n"
                    "away@local.oracle.test away@vacation.oracle.test\n")
        with open(os.path.join(d, "transport"), "w") as f:
            f.write("vacation.oracle.test vacation:\n")
        services = [
            f"{self.addr}:25 inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
            "vacation unix - n n - - pipe flags=Fq user=nobody argv="
            + " ".join(self.vacation.command()),
        ]
        with open(os.path.join(d, "master.cf"), "w") as f:
            f.write("\n".join(services) + "\n")
        run(["postfix", "-c", d, "start"])

    def stop(self):
        subprocess.run(["postfix", "-c", self.dir, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def log(self):
        try:
            return open(os.path.join(self.dir, "maillog"), errors="replace").read()
        except OSError:
            return ""


class Unpacked:
    """An MTA run from its unpacked .deb (in <cache>/root) as a child of the generator, its
    files in <work>/<name>."""

    logfile = "log"

    def __init__(self, work, cache):
        self.dir = os.path.join(work, self.name)
        self.root = os.path.join(cache, "root")
        self.proc = None

    def env(self):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.path.join(self.root, "usr/lib/x86_64-linux-gnu")
        return env

    def stop(self):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            return open(os.path.join(self.dir, self.logfile), errors="replace").read()
        except OSError:
            return ""


class Exim(Unpacked):
    """Debian's exim4-daemon-light, unpacked (not installed) into the cache: run with -C and a
    configuration of its own, as root, its spool and logs in the work directory."""

    name = "exim"
    addr = HOSTS["mta-exim.oracle.test"]
    logfile = "log/mainlog"

    def start(self):
        d = self.dir
        for sub in ("spool", "log"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
            shutil.chown(os.path.join(d, sub), "Debian-exim", "Debian-exim")
        conf = f"""
primary_hostname = mta-exim.oracle.test
exim_path = {self.root}/usr/sbin/exim4
keep_environment = LD_LIBRARY_PATH
qualify_domain = oracle.test
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
pid_file_path = {d}/exim.pid
local_interfaces = {self.addr}
daemon_smtp_ports = 25
acl_smtp_rcpt = acl_check_rcpt
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
delay_warning = 6s
timeout_frozen_after = 2m
ignore_bounce_errors_after = 0s
domainlist local_domains = local.oracle.test

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.0/8
  deny

begin routers
forward:
  driver = redirect
  domains = +local_domains
  local_parts = fwd
  data = unknown@dest.test

vacation:
  driver = accept
  domains = +local_domains
  local_parts = away
  transport = vacation_reply
  unseen = false

dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  self = send
  no_more

begin transports
remote_smtp:
  driver = smtp
  allow_localhost
  connect_timeout = 5s

# -C costs Exim its root privilege: the responder runs as Exim's own user.
vacation_reply:
  driver = autoreply
  user = Debian-exim
  group = Debian-exim
  from = "$local_part@$domain"
  to = $sender_address
  subject = "Out of office (was: $h_subject:)"
  headers = "Auto-Submitted: auto-replied"
  text = "I am away until Monday and will read your message when I am back."

begin retry
*   *   F,15s,3s

begin rewrite
"""
        self.conf = os.path.join(d, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            [os.path.join(self.root, "usr/sbin/exim4"), "-C", self.conf, "-bdf", "-q3s"],
            env=self.env(), stderr=open(os.path.join(d, "log", "stderr"), "w"))



class Vacation:
    """Sendmail's vacation(1) (from the unpacked sendmail-bin), the auto-responder that Postfix,
    Sendmail and OpenSMTPD sites run from a pipe: it answers away@local.oracle.test's mail
    through /usr/sbin/sendmail, which in the namespace submits to the MTA under test."""

    def __init__(self, work, cache):
        self.dir = os.path.join(work, "vacation")
        self.bin = os.path.join(cache, "root", "usr/libexec/sendmail/vacation.sendmail")

    def prepare(self):
        # Anew for each MTA: vacation refuses to initialise a database in a directory that the
        # previous run handed to nobody.
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "away.msg"), "w") as f:
            f.write("From: away@local.oracle.test\n"
                    "Subject: Out of office\n\n"
                    "I am away until Monday and will read your message when I am back.\n")
        db = os.path.join(self.dir, "away.db")
        run(self.command()[:-1] + ["-i", "away"])
        # The MDAs run it as nobody, and it keeps its database here.
        for path in (self.dir, db, os.path.join(self.dir, "away.msg")):
            shutil.chown(path, "nobody", "nogroup")

    def command(self, sender=None):
        """The vacation command line; `sender`: the envelope sender when the MDA gives no
        `From ` line (vacation reads the sender from it)."""
        argv = [self.bin, "-U", "-j", "-f", os.path.join(self.dir, "away.db"),
                "-m", os.path.join(self.dir, "away.msg")]
        if sender:
            argv += ["-s", sender]
        return argv + ["away"]


def set_hostname(name):
    """The MTAs that take their name from the system (OpenSMTPD, Sendmail) see this one: the
    generator runs in a UTS namespace of its own."""
    socket.sethostname(name)


def mount_private(*dirs):
    """Empty private directories over system paths that an MTA's paths are compiled into, in
    this mount namespace only."""
    for d in dirs:
        run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", d])


def unmount(*dirs):
    for d in dirs:
        subprocess.run(["umount", "-l", d], stderr=subprocess.DEVNULL)


def select_submitter(work, addr):
    """/usr/sbin/sendmail (a bind mount, see generate.sh) hands mail to `addr` over SMTP."""
    with open(os.path.join(work, "submit-to"), "w") as f:
        f.write(addr + "\n")


class OpenSMTPD(Unpacked):
    """Debian's opensmtpd, unpacked. Its spool (/var/spool/smtpd), its chroot
    (/var/lib/opensmtpd/empty) and control socket (/run/smtpd.sock) are compiled in: tmpfs
    mounts in the namespace give it private ones."""

    name = "opensmtpd"
    addr = HOSTS["mta-opensmtpd.oracle.test"]
    private = ("/var/spool", "/var/lib", "/run", "/usr/libexec")

    def __init__(self, work, cache):
        super().__init__(work, cache)
        self.vacation = Vacation(work, cache)

    def start(self):
        d = self.dir
        os.makedirs(d, exist_ok=True)
        set_hostname("mta-opensmtpd.oracle.test")
        mount_private(*self.private)
        os.makedirs("/var/lib/opensmtpd/empty")
        # Its MDA wrapper (mail.mda runs the `mda` command) is looked up there.
        os.symlink(os.path.join(self.root, "usr/libexec/opensmtpd"), "/usr/libexec/opensmtpd")
        os.makedirs("/var/spool/smtpd", mode=0o711)
        with open(os.path.join(d, "aliases"), "w") as f:
            f.write("fwd: unknown@dest.test\n")
        vacation = " ".join(self.vacation.command("%{sender}"))
        conf = f"""
queue ttl 20s
bounce warn-interval 6s
listen on {self.addr} port 25 hostname mta-opensmtpd.oracle.test
table aliases file:{d}/aliases
action "local" forward-only alias <aliases>
action "vacation" mda "{vacation}" user nobody
action "relay" relay helo mta-opensmtpd.oracle.test
match from any for domain "local.oracle.test" rcpt-to "away@local.oracle.test" action "vacation"
match from any for domain "local.oracle.test" action "local"
match from any for any action "relay"
"""
        self.conf = os.path.join(d, "smtpd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.logf = open(os.path.join(d, "log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(self.root, "usr/sbin/smtpd"), "-d", "-f", self.conf],
            stdout=self.logf, stderr=subprocess.STDOUT)

    def tick(self):
        """OpenSMTPD retries after minutes: ask it to try again now (expiry is checked then)."""
        subprocess.run([os.path.join(self.root, "usr/sbin/smtpctl"), "schedule", "all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        super().stop()
        unmount(*self.private)



class Sendmail(Unpacked):
    """Debian's sendmail-bin 8.17, unpacked, its sendmail.cf built with the unpacked
    sendmail-cf and m4 from a .mc of its own (queue, aliases, pid file in the work directory)."""

    name = "sendmail"
    addr = HOSTS["mta-sendmail.oracle.test"]

    def __init__(self, work, cache):
        super().__init__(work, cache)
        self.bin = os.path.join(self.root, "usr/libexec/sendmail/sendmail")
        self.vacation = Vacation(work, cache)

    def start(self):
        d = self.dir
        os.makedirs(os.path.join(d, "mqueue"), mode=0o700, exist_ok=True)
        set_hostname("mta-sendmail.oracle.test")
        cf = os.path.join(self.root, "usr/share/sendmail/cf")
        mc = f"""divert(-1)
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
VERSIONID(`hikyaku oracle')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `mta-sendmail.oracle.test')dnl
define(`QUEUE_DIR', `{d}/mqueue')dnl
define(`ALIAS_FILE', `{d}/aliases')dnl
define(`STATUS_FILE', `{d}/statistics')dnl
define(`confPID_FILE', `{d}/sendmail.pid')dnl
define(`HELP_FILE', `{d}/helpfile')dnl
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl
define(`confCW_FILE', `{d}/local-host-names')dnl
define(`confSERVICE_SWITCH_FILE', `{d}/service.switch')dnl
define(`confHOSTS_FILE', `/etc/hosts')dnl
define(`confTO_QUEUERETURN', `20s')dnl
define(`confTO_QUEUEWARN', `6s')dnl
define(`confMIN_QUEUE_AGE', `0')dnl
define(`confTO_CONNECT', `5s')dnl
define(`confDONT_PROBE_INTERFACES', `true')dnl
define(`confDEF_USER_ID', `65534:65534')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
define(`confLOG_LEVEL', `12')dnl
DAEMON_OPTIONS(`Family=inet, Name=MTA, Addr={self.addr}, Port=25')dnl
FEATURE(`use_cw_file')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`accept_unqualified_senders')dnl
FEATURE(`no_default_msa')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
"""
        with open(os.path.join(d, "oracle.mc"), "w") as f:
            f.write(mc)
        self.conf = os.path.join(d, "sendmail.cf")
        with open(self.conf, "w") as f:
            run([os.path.join(self.root, "usr/bin/m4"), os.path.join(d, "oracle.mc")], stdout=f)
        with open(os.path.join(d, "local-host-names"), "w") as f:
            f.write("local.oracle.test\nmta-sendmail.oracle.test\n")
        with open(os.path.join(d, "service.switch"), "w") as f:
            f.write("hosts dns files\naliases files\n")
        open(os.path.join(d, "helpfile"), "w").close()
        vacation = " ".join(self.vacation.command())
        with open(os.path.join(d, "aliases"), "w") as f:
            f.write(f'fwd: unknown@dest.test\naway: "|{vacation}"\n'
                    "postmaster: root\nMAILER-DAEMON: postmaster\n")
        run([self.bin, "-C", self.conf, "-bi"], env=self.env(), stdout=subprocess.DEVNULL)
        self.logf = open(os.path.join(d, "log"), "w")
        self.proc = subprocess.Popen([self.bin, "-C", self.conf, "-bD", "-q3s"], env=self.env(),
                                     stdout=self.logf, stderr=subprocess.STDOUT)


class Courier(Unpacked):
    """Debian's courier-mta, unpacked. Its paths are compiled in (/usr/lib/courier, /etc/courier,
    /var/lib/courier, /run/courier): in the namespace an overlay puts the unpacked /usr over the
    host's (read-only), a second one over /etc takes its configuration (writes go to the work
    directory), and tmpfs mounts give it a private spool and run directory. It takes mail with
    its own esmtpd (couriertcpd) and delivers with its esmtp module. Its auto-responder is
    mailbot (from maildrop), run by a program alias; the reply goes out through Courier's own
    sendmail."""

    name = "courier"
    addr = HOSTS["mta-courier.oracle.test"]
    private = ("/var/lib", "/run")

    def start(self):
        d = self.dir
        up, work = os.path.join(d, "etc-upper"), os.path.join(d, "etc-work")
        os.makedirs(up, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        set_hostname("mta-courier.oracle.test")
        # The namespace's passwd, group and resolv.conf are bind mounts that the /etc overlay
        # hides: copied into it first.
        keep = {f: open(os.path.join("/etc", f)).read() for f in ("passwd", "group", "resolv.conf")}
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={self.root}/usr:/usr", "/usr"])
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir=/etc,upperdir={up},workdir={work}", "/etc"])
        for f, text in keep.items():
            with open(os.path.join("/etc", f), "w") as out:
                out.write(text)
        mount_private(*self.private)
        shutil.copytree(os.path.join(self.root, "etc/courier"), "/etc/courier",
                        dirs_exist_ok=True)
        shutil.copytree(os.path.join(self.root, "var/lib/courier"), "/var/lib/courier")
        for top, dirs, files in os.walk("/var/lib/courier"):
            for p in [top] + [os.path.join(top, x) for x in dirs + files]:
                shutil.chown(p, "courier", "courier")
        os.chmod("/var/lib/courier/tmp", 0o770)
        os.makedirs("/run/courier")
        shutil.chown("/run/courier", "root", "courier")
        os.chmod("/run/courier", 0o775)
        conf = {
            "me": "mta-courier.oracle.test",
            "defaultdomain": "oracle.test",
            # The default domain is local: makealiases turns a program alias into a local
            # address there (".xalias/…"@oracle.test), delivered by the aliasdir's .courier file.
            "locals": "localhost\noracle.test",
            # Expiry after 20 s, a warning after 6 s, a retry every 3 s (Courier counts
            # seconds as well as weeks).
            "queuetime": "20s",
            "warntime": "6s",
            "retryalpha": "3s",
            "retrybeta": "3",
            "retrygamma": "3s",
            "retrymaxdelta": "1",
            "esmtptimeoutconnect": "5",
            # Courier refuses a connection whose two ends have one address ("mail loops back
            # to myself"), which a peer on the loopback interface gets unless the source is set.
            "ipout": self.addr,
            # Courier refuses to deliver to an MX on a loopback address ("mail loops back to
            # myself"), except through a static route: each peer's domain is routed to its MX
            # host by name (still resolved by the DNS server); the unknown domain and the null MX
            # are left to the MX lookup.
            "esmtproutes": "\n".join(f"{dom}: mx.{dom}" for dom in MX_DOMAINS),
            "aliases/system": "fwd@local.oracle.test: unknown@dest.test\n"
                              "away@local.oracle.test: | /etc/courier/away.sh",
            # mailbot answers the envelope sender (Courier gives it in $SENDER), as vacation(1)
            # does; by default it would write to the From: address.
            "away.sh": "#!/bin/sh\nexec /usr/bin/mailbot -t /etc/courier/away.txt"
                       " -A 'From: away@local.oracle.test' /usr/sbin/sendmail -f '' \"$SENDER\"\n",
            "away.txt": "I am away until Monday and will read your message when I am back.",
            "smtpaccess/default": "127\tallow,RELAYCLIENT",
        }
        for name, text in conf.items():
            with open(os.path.join("/etc/courier", name), "w") as f:
                f.write(text + "\n")
        os.chmod("/etc/courier/away.sh", 0o755)
        esmtpd = open("/etc/courier/esmtpd").read()
        for key, value in (("PORT", f"{self.addr}.25"), ("BOFHCHECKDNS", "0"), ("TARPIT", "0"),
                           ("TCPDOPTS", '"-nodnslookup -noidentlookup"')):
            esmtpd = re.sub(rf"^{key}=.*$", f"{key}={value}", esmtpd, flags=re.M)
        with open("/etc/courier/esmtpd", "w") as f:
            f.write(esmtpd)
        # makedat is an alternative (update-alternatives) that the unpacked package lacks.
        makedat = os.path.join(self.root, "usr/bin/makedat")
        if not os.path.lexists(makedat):
            os.symlink("makedat.courier", makedat)
        run(["/usr/sbin/makesmtpaccess"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run(["/usr/sbin/makealiases"])
        run(["/usr/sbin/courier", "start"])
        run(["/usr/sbin/esmtpd", "start"])

    def stop(self):
        subprocess.run(["/usr/sbin/esmtpd", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["/usr/sbin/courier", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        time.sleep(1)
        # A delivery under way when courierd stops (a bounce to the collector) outlives it;
        # ended here, so that no Courier process keeps the namespace alive after the run.
        ours = os.readlink("/proc/self/ns/net")
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                same_net = os.readlink(f"/proc/{pid}/ns/net") == ours
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                continue
            if same_net and "courier" in exe and int(pid) != os.getpid():
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
        unmount(*self.private)
        unmount("/etc", "/usr")

    def log(self):
        return subprocess.run(["/usr/bin/mailq"], capture_output=True, text=True).stdout


MTAS = {"postfix": Postfix, "exim": Exim, "opensmtpd": OpenSMTPD, "sendmail": Sendmail,
        "courier": Courier}


# ---------------------------------------------------------------------------- driving

def message(s, mta):
    msg = EmailMessage()
    msg["From"] = f"Oracle Sender <sender-{mta}-{s['n']:03d}@collect.test>"
    msg["To"] = s["rcpt"]
    msg["Subject"] = f"oracle {mta} {s['n']:03d}"
    msg["Message-ID"] = f"<oracle-{mta}-{s['n']:03d}@collect.test>"
    msg["Date"] = "Sun, 06 Dec 2026 12:00:00 +0000"
    body = "This message tests how a bounce reads.\n"
    if s["n"] == 6:
        body += "padding " * 300 + "\n"
    msg.set_content(body)
    return msg


def inject(mta, s):
    sender = f"bounce-{mta.name}-{s['n']:03d}@collect.test"
    rcpts = [s.get("via", s["rcpt"])] + ([s["also"]] if s.get("also") else [])
    with smtplib.SMTP(mta.addr, 25, timeout=30) as c:
        c.send_message(message(s, mta.name), from_addr=sender, to_addrs=rcpts)
    return sender


def dsn_block(raw, recipient):
    """The DSN block of `recipient` (RFC 3464), if the report has one."""
    text = raw.decode("latin-1").replace("\r\n", "\n")
    for block in re.split(r"\n\s*\n", text):
        if re.search(r"^Final-Recipient:.*" + re.escape(recipient), block, re.I | re.M):
            return block
    return None


def dsn_field(raw, recipient, field):
    """The first word of `field` in the DSN block of `recipient`, if the report has one."""
    block = dsn_block(raw, recipient)
    m = block and re.search(r"^" + field + r":\s*(\S+)", block, re.I | re.M)
    return m.group(1) if m else None


# The analyser's pseudo status of a reason it gives without a status code from the report.
PSEUDO = {"notaccept": "932", "hostunknown": "912", "userunknown": "911", "expired": "947",
          "filtered": "910", "blocked": "971", "mesgtoobig": "934", "systemerror": "920",
          "securityerror": "970"}
HARD = {"userunknown", "hostunknown", "hasmoved"}
# MTAs whose own notice is read rather than their DSN (as the analyser's reference does): the
# DSN of OpenSMTPD 6.8 says no more than "X.0.0", or "4.4.7" with "Action: delayed" at expiry.
READS_NOTICE = {"opensmtpd"}


def expected_record(raw, s, rcpt, reason, status, reply, mta, named=False):
    """`named`: the reason is what this MTA's report names (`reason_by_mta`), carried or not."""
    text = raw.decode("latin-1")
    flat = " ".join(text.split())
    own_status = None
    marker = s.get("marker") if rcpt in (s["rcpt"], s.get("via")) else None
    carried = False
    code = None
    if reply:
        first = reply.split("\r\n")[-1]
        words = marker or first.split(" ", 2)[-1][:40]
        carried = words.lower() in flat.lower()
        code = reply[:3] if carried and reply[:3] in flat else None
    else:
        # The MTA's own refusal: a reply code only where its DSN writes one as SMTP's
        # (Sendmail: "Diagnostic-Code: SMTP; 550 Host unknown").
        m = re.search(r"^Diagnostic-Code:\s*smtp;\s*([245]\d\d)\b(?:[ -]([245]\.\d{1,3}\.\d{1,3})\b)?",
                      dsn_block(raw, rcpt) or "", re.I | re.M)
        code = m.group(1) if m else None
        own_status = m.group(2) if m else None
    dsn_status = None if mta in READS_NOTICE else dsn_field(raw, rcpt, "Status")
    # The MTA gave up on a temporary failure (the scenario's own, or a 5xx greeting it retried);
    # a delay warning is the report of a message still queued.
    expired = not s.get("warning") and (bool(s.get("expires")) or bool(
        re.search(r"envelope expired|retry timeout exceeded|could not be delivered for", flat,
                  re.I)))
    # Nothing names the cause: `expired`, which is also what a delay that the report does not
    # explain is read as (the reference's convention for "Action: delayed"). An MTA's own
    # refusal can end so too: OpenSMTPD 6.8 knows no null MX and retries until expiry.
    if (expired or s.get("warning")) and not carried and not named:
        reason = "expired"
    # A DSN's "X.0.0" (Exim writes it for every SMTP failure), "X.4.7" (expired: Sendmail) or
    # "X.5.0" (Sendmail's protocol failure at the greeting) says less than the reply it carries;
    # so does a status of the other class than the reply's (Postfix retries a 5xx greeting and
    # reports "4.x.x"): the reply's own enhanced code is the status then.
    says_little = bool(dsn_status) and (
        dsn_status[1:] in (".0.0", ".4.7", ".5.0")
        or bool(reply and status and dsn_status[0] != status[0] == reply[0]))
    if dsn_status and not (says_little and carried and status and status in flat):
        status = dsn_status
    elif not (carried and status and status in flat):
        status = None
    # The MTA's own words, written in its DSN as an SMTP reply with an enhanced code (Sendmail's
    # "421 4.4.1 Connection reset by …" under "Status: 4.4.7"), say more than a catch-all
    # status in the same way a carried reply does, whoever wrote them.
    if own_status and status == dsn_status and dsn_status[1:] in (".0.0", ".4.7", ".5.0") \
            and own_status[0] == dsn_status[0]:
        status = own_status
    if status is None:
        temporary = bool(s.get("expires")) and reason != "expired"
        status = ("4" if temporary else "5") + ".0." + PSEUDO.get(reason, "900")
    # The analyser keeps a reply code only of the status code's class: a 554 greeting that
    # ended in expiry reports 4.x.x, and the 554 is then no code of that failure.
    if code and code[0] != status[0]:
        code = None
    action = (dsn_field(raw, rcpt, "Action") or "failed").lower()
    # A report of a message the MTA gave up on is a failure, whatever its Action says.
    if expired and action == "delayed":
        action = "failed"
    hard = reason in HARD or (reason == "notaccept" and status.startswith("5"))
    return {"recipient": rcpt, "status": status, "reply_code": code, "reason": reason,
            "action": action, "hard": hard}


def write_golden(out, mta, s, raw):
    d = os.path.join(out, mta)
    os.makedirs(d, exist_ok=True)
    stem = os.path.join(d, f"{s['n']:03d}")
    with open(stem + ".eml", "wb") as f:
        f.write(raw.replace(b"\r\n", b"\n"))
    raw = raw.replace(b"\r\n", b"\n")
    # A forward's failure: the report names the address the message was sent to when its DSN
    # says so (Exim's Final-Recipient is the address before the redirect).
    rcpt = s["rcpt"]
    via = s.get("via")
    if via and re.search(rb"^Final-Recipient:.*" + re.escape(via.encode()), raw, re.I | re.M):
        rcpt = via
    if s.get("autoreply"):
        # An auto-reply is no bounce: one record naming the responder (its From:), no codes.
        sender = email.utils.parseaddr(email.message_from_bytes(raw).get("From", ""))[1]
        records = [{"recipient": sender.lower(), "status": None, "reply_code": None,
                    "reason": "vacation", "action": None, "hard": False}]
    else:
        named = mta in s.get("reason_by_mta", {})
        reason = s["reason_by_mta"][mta] if named else s["reason"]
        records = [expected_record(raw, s, rcpt, reason, s.get("status"), s.get("reply"), mta,
                                   named)]
    if s.get("also"):
        records.append(expected_record(raw, s, s["also"], s["also_reason"], s["also_status"],
                                       s["also_reply"], mta))
    # In the order the report names them (OpenSMTPD's order varies from run to run): its DSN's
    # order, or its notice's for an MTA whose notice is read.
    body = raw.split(b"\n\n", 1)[-1].lower()

    def named_at(r):
        a = r["recipient"].encode()
        m = mta not in READS_NOTICE and re.search(rb"^final-recipient:.*" + re.escape(a), body,
                                                   re.M)
        return m.start() if m else body.find(a)

    records.sort(key=named_at)
    doc = {"about": f"{mta}: {s['about']}", "generated_by": "oracles/generate.sh",
           "records": records}
    with open(stem + ".json", "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")


def is_warning(raw):
    """A delay warning: its DSN says "Action: delayed" and the message is still queued
    (OpenSMTPD's expiry report also says "delayed", with "Envelope expired")."""
    text = raw.decode("latin-1")
    return bool(re.search(r"^Action:\s*delayed", text, re.I | re.M)) and not re.search(
        r"envelope expired", text, re.I)


def chosen(mails, s):
    """The report a scenario is about: the first delay warning for a `warning` scenario, else
    the last report that is no warning (the MTAs warn about every message that lasts)."""
    if s.get("warning"):
        return next((m for m in mails if is_warning(m)), None)
    final = [m for m in mails if not is_warning(m)]
    return final[-1] if final else None


def submit(argv):
    """`sendmail [-oi] [-f sender] [--] rcpt...` for the auto-responders: the message on
    standard input goes over SMTP to the MTA under test (the address in <work>/submit-to)."""
    here = os.path.dirname(os.path.abspath(__file__))
    addr = open(os.path.join(here, "submit-to")).read().strip()
    sender, rcpts, i = "", [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            rcpts += argv[i + 1:]
            break
        if a in ("-f", "-r", "-F") and i + 1 < len(argv):
            if a != "-F":
                sender = argv[i + 1]
            i += 2
            continue
        if a.startswith("-f") and len(a) > 2:
            sender = a[2:]
        elif not a.startswith("-"):
            rcpts.append(a)
        i += 1
    # SMTP's line ends (Sendmail refuses a bare LF).
    data = re.sub(rb"\r?\n", b"\r\n", sys.stdin.buffer.read())
    with smtplib.SMTP(addr, 25, timeout=30) as c:
        c.sendmail(sender, rcpts, data)


def changed_expectations(out):
    """The committed expectations that a new run changed, ignoring the order of records (which
    follows the report, and OpenSMTPD's varies from run to run)."""
    listed = subprocess.run(["git", "diff", "--name-only", "--", out], capture_output=True,
                            text=True, check=True).stdout.split()
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, check=True).stdout.strip()
    changed = []
    for path in (p for p in listed if p.endswith(".json")):
        old = json.loads(subprocess.run(["git", "show", "HEAD:" + path], capture_output=True,
                                        text=True, check=True).stdout)
        new = json.load(open(os.path.join(top, path)))
        key = lambda r: r["recipient"]  # noqa: E731
        if sorted(old["records"], key=key) != sorted(new["records"], key=key):
            changed.append(path)
    return changed


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--submit":
        return submit(sys.argv[2:])
    if len(sys.argv) > 2 and sys.argv[1] == "--changed-expectations":
        changed = changed_expectations(sys.argv[2])
        for path in changed:
            print(f"expectation changed: {path}", file=sys.stderr)
        sys.exit(1 if changed else 0)
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", default="/tmp")
    ap.add_argument("--mta", default="postfix")
    ap.add_argument("--cache", default="")
    ap.add_argument("--wait", type=int, default=150)
    ap.add_argument("--only", default="",
                    help="comma-separated scenario numbers: run (or rewrite) only these")
    ap.add_argument("--expect-only", action="store_true",
                    help="rewrite the .json of the bounces already there; run no MTA")
    args = ap.parse_args()
    only = {int(n) for n in args.only.split(",") if n}
    scenarios = [s for s in SCENARIOS if not only or s["n"] in only]
    if args.expect_only:
        for name in args.mta.split(","):
            for s in scenarios:
                eml = os.path.join(args.out, name, f"{s['n']:03d}.eml")
                if os.path.exists(eml):
                    write_golden(args.out, name, s, open(eml, "rb").read())
        return
    run(["ip", "link", "set", "lo", "up"])
    # Each host its own address on the loopback interface (MTAs bind to listed interfaces).
    for addr in sorted(set(HOSTS.values()) | {DNS_ADDR}):
        run(["ip", "addr", "add", addr + "/32", "dev", "lo"])
    stop = threading.Event()
    threading.Thread(target=dns_server, args=(stop,), daemon=True).start()
    start_peers()
    # A scenario that gave no bounce leaves its committed one in place, which would then pass
    # unseen: the run fails instead.
    missing = 0
    for name in args.mta.split(","):
        mta = MTAS[name](args.work, args.cache)
        select_submitter(args.work, mta.addr)
        if hasattr(mta, "vacation"):
            mta.vacation.prepare()
        mta.start()
        time.sleep(2)
        senders = {}
        try:
            for s in scenarios:
                if s.get("only", name) == name and s["n"] not in getattr(mta, "skips", ()):
                    try:
                        senders[inject(mta, s)] = s
                    except (smtplib.SMTPException, OSError) as e:
                        print(f"{name} {s['n']:03d}: not accepted: {e}", file=sys.stderr)
                        missing += 1
            deadline = time.time() + args.wait
            while time.time() < deadline:
                with Collected.lock:
                    if all(chosen(Collected.mails.get(k, []), s) for k, s in senders.items()):
                        break
                if hasattr(mta, "tick"):
                    mta.tick()
                time.sleep(1)
            time.sleep(3)
        finally:
            mta.stop()
        got = 0
        for sender, s in senders.items():
            mail = chosen(Collected.mails.get(sender, []), s)
            if not mail:
                print(f"{name} {s['n']:03d}: no bounce ({s['about']})", file=sys.stderr)
                missing += 1
                continue
            write_golden(args.out, name, s, mail)
            got += 1
        print(f"{name}: {got} of {len(senders)} bounces written", file=sys.stderr)
        if got == 0:
            print(mta.log()[-4000:], file=sys.stderr)
    stop.set()
    if missing:
        sys.exit(f"{missing} scenario(s) gave no bounce")


if __name__ == "__main__":
    main()
