//! What providers and MTAs document that they print, read back as bounces: one table per
//! provider or MTA, each row citing where its text is published. These are written from the
//! documentation, not from corpus files, so they test whether the analyser's rules generalise
//! to texts it was not fitted to.
//!
//! Every row is wrapped twice, as the two layouts a bounce most often has: an RFC 3464 report
//! (`Status:` and `Diagnostic-Code:` fields) and a plain-text notice without one (Postfix's
//! "host … said: … (in reply to … command)"). Both must give exactly one record, for the
//! recipient, with the row's reason.

use hikyaku_bounce::{Reason, analyse};

/// One documented reply: the recipient it was for, the command it answered (`None` for a
/// local delivery agent's text or an MTA's own), the reply code, the enhanced status code and
/// the text, and the reason it means.
struct Row {
    recipient: &'static str,
    command: Option<&'static str>,
    code: &'static str,
    status: &'static str,
    text: &'static str,
    reason: Reason,
}

const fn row(
    recipient: &'static str,
    command: Option<&'static str>,
    code: &'static str,
    status: &'static str,
    text: &'static str,
    reason: Reason,
) -> Row {
    Row {
        recipient,
        command,
        code,
        status,
        text,
        reason,
    }
}

const RCPT: Option<&str> = Some("RCPT TO");
const MAIL: Option<&str> = Some("MAIL FROM");
const DATA: Option<&str> = Some("end of DATA");
const CONNECT: Option<&str> = None;

/// The row as an RFC 3464 report from a Postfix-like reporting MTA; `remote` is the host that
/// replied.
fn as_dsn(r: &Row, remote: &str) -> String {
    let action = if r.status.starts_with('4') && r.reason == Reason::Expired {
        "delayed"
    } else {
        "failed"
    };
    let diagnostic = if r.code.is_empty() {
        format!("Diagnostic-Code: x-unix; {}", r.text)
    } else {
        format!("Diagnostic-Code: smtp; {} {} {}", r.code, r.status, r.text)
    };
    format!(
        "From: MAILER-DAEMON@relay.example.net (Mail Delivery System)\n\
         To: sender@example.com\n\
         Subject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\n\
         \n\
         --B1\n\
         Content-Type: text/plain\n\
         \n\
         This is the mail system at host relay.example.net.\n\
         \n\
         I'm sorry to have to inform you that your message could not\n\
         be delivered to one or more recipients.\n\
         \n\
         --B1\n\
         Content-Type: message/delivery-status\n\
         \n\
         Reporting-MTA: dns; relay.example.net\n\
         \n\
         Final-Recipient: rfc822; {rcpt}\n\
         Original-Recipient: rfc822; {rcpt}\n\
         Action: {action}\n\
         Status: {status}\n\
         Remote-MTA: dns; {remote}\n\
         {diagnostic}\n\
         \n\
         --B1\n\
         Content-Type: message/rfc822\n\
         \n\
         Received: from app.example.com (app.example.com [192.0.2.10])\n\
         \tby relay.example.net (Postfix) with ESMTP id 4A1B2C3D\n\
         \tfor <{rcpt}>; Mon, 7 Dec 2026 00:00:00 +0000 (UTC)\n\
         From: sender@example.com\n\
         To: {rcpt}\n\
         Subject: hello\n\
         \n\
         hello\n\
         --B1--\n",
        rcpt = r.recipient,
        status = r.status,
    )
}

/// The row as a plain notice without a report, the way Postfix words one.
fn as_text(r: &Row, remote: &str) -> String {
    let said = match (r.code.is_empty(), r.command) {
        (true, _) => format!("<{}>: {}", r.recipient, r.text),
        (false, Some(command)) => format!(
            "<{}>: host {remote}[192.0.2.25] said: {} {} {} (in reply to {command}\n    command)",
            r.recipient, r.code, r.status, r.text
        ),
        (false, None) => format!(
            "<{}>: host {remote}[192.0.2.25] refused to talk to me: {} {} {}",
            r.recipient, r.code, r.status, r.text
        ),
    };
    hikyaku_bounce::testing::postfix_text_notice(&said)
}

/// qmail's bounce (qmail-send.c): no report, the recipient on a line of its own, the reason
/// below it with its status code in `(#5.x.y)`.
fn as_qmail(r: &Row) -> String {
    format!(
        "From: MAILER-DAEMON@relay.example.net\n\
         To: sender@example.com\n\
         Subject: failure notice\n\
         \n\
         Hi. This is the qmail-send program at relay.example.net.\n\
         I'm afraid I wasn't able to deliver your message to the following addresses.\n\
         This is a permanent error; I've given up. Sorry it didn't work out.\n\
         \n\
         <{}>:\n\
         {}\n\
         \n\
         --- Below this line is a copy of the message.\n\
         \n\
         Return-Path: <sender@example.com>\n\
         To: {}\n\
         Subject: hello\n\
         \n\
         hello\n",
        r.recipient, r.text, r.recipient
    )
}

/// The layouts a table's rows are wrapped in.
#[derive(Clone, Copy)]
enum Layouts {
    /// An RFC 3464 report and a Postfix-worded notice; a row without a reply code (the MTA's
    /// own text, which it writes into its report) in the report only.
    Both,
    /// A Postfix-worded notice only: what needs the command it names.
    Text,
    /// An RFC 3464 report only, whose text names no command: what the report alone says.
    Dsn,
    /// qmail's own notice.
    Qmail,
    /// An MTA's own notice, in the layout the function writes: for sentences the MTA prints
    /// itself, which only its own notice carries.
    Own(Layout),
}

/// A function that writes a row as an MTA's own notice.
type Layout = fn(&Row) -> String;

/// Runs every row in its layouts (`remote` is the host that replied); all failures are listed
/// before the test fails.
fn check(table: &str, remote: &str, layouts: Layouts, rows: &[Row]) {
    let wrong = wrong_rows(table, remote, layouts, rows);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The rows that do not read as one record for their recipient with their reason, one line
/// each.
fn wrong_rows(table: &str, remote: &str, layouts: Layouts, rows: &[Row]) -> Vec<String> {
    let mut wrong = Vec::new();
    for r in rows {
        let raws = match layouts {
            Layouts::Both if r.code.is_empty() => vec![("dsn", as_dsn(r, remote))],
            Layouts::Both => vec![("dsn", as_dsn(r, remote)), ("text", as_text(r, remote))],
            Layouts::Text => vec![("text", as_text(r, remote))],
            Layouts::Dsn => vec![("dsn", as_dsn(r, remote))],
            Layouts::Qmail => vec![("qmail", as_qmail(r))],
            Layouts::Own(layout) => vec![("own", layout(r))],
        };
        for (layout, raw) in raws {
            let analysis = analyse(raw.as_bytes());
            let got: Vec<_> = analysis
                .records
                .iter()
                .map(|rec| (rec.recipient.as_str(), rec.reason))
                .collect();
            if got != [(r.recipient, r.reason)] {
                wrong.push(format!(
                    "{table} {layout}: {} {} {:?}: want {}, got {:?}",
                    r.code,
                    r.status,
                    r.text,
                    r.reason.as_str(),
                    got.iter()
                        .map(|(a, b)| format!("{a} {}", b.as_str()))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    wrong
}

#[test]
fn microsoft_exchange_online() {
    use Reason::*;
    // All rows: learn.microsoft.com, "Email non-delivery reports and SMTP errors in Exchange
    // Online" (troubleshoot/exchange/email-delivery/ndr/non-delivery-reports-in-exchange-online)
    // and the per-code pages it links ("Fix email delivery issues for error code 5.x.y").
    const U: &str = "user@contoso.example";
    check(
        "exchange-online",
        "contoso-example.mail.protection.outlook.com",
        Layouts::Both,
        &[
            // 5.1.10: the recipient is not found in the directory.
            row(
                U,
                RCPT,
                "550",
                "5.1.10",
                "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                UserUnknown,
            ),
            // 5.1.1: bad destination mailbox address.
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "RESOLVER.ADR.RecipNotFound; not found",
                UserUnknown,
            ),
            // 5.2.2: the recipient's mailbox is full.
            row(
                U,
                DATA,
                "554",
                "5.2.2",
                "mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
                MailboxFull,
            ),
            // 5.4.1: Directory-Based Edge Blocking refuses an address that does not exist.
            row(
                U,
                RCPT,
                "550",
                "5.4.1",
                "Recipient address rejected: Access denied. AS(201806281)",
                UserUnknown,
            ),
            // 5.7.1: the sending IP is on a block list.
            row(
                U,
                CONNECT,
                "550",
                "5.7.1",
                "Service unavailable, Client host [192.0.2.1] blocked using Spamhaus",
                Blocked,
            ),
            // 5.7.606-649: banned sending IP.
            row(
                U,
                MAIL,
                "550",
                "5.7.606",
                "Access denied, banned sending IP [192.0.2.1]",
                Blocked,
            ),
            // 5.7.509: DMARC reject.
            row(
                U,
                DATA,
                "550",
                "5.7.509",
                "Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject",
                AuthFailure,
            ),
            // 5.7.23: SPF violation.
            row(
                U,
                DATA,
                "550",
                "5.7.23",
                "The message was rejected because of Sender Policy Framework violation",
                AuthFailure,
            ),
            // 5.6.11: bare line feeds.
            row(
                U,
                DATA,
                "554",
                "5.6.11",
                "SMTPSEND.BareLinefeedsAreIllegal; message contains bare linefeeds",
                ContentError,
            ),
            // 5.4.14: a mail loop.
            row(
                U,
                DATA,
                "554",
                "5.4.14",
                "Hop count exceeded - possible mail loop ATTR34",
                NetworkError,
            ),
            // 4.4.7: the message expired in the queue.
            row(U, RCPT, "451", "4.4.7", "Message expired", Expired),
            // 5.3.4: message too big for the recipient's limit.
            row(
                U,
                DATA,
                "552",
                "5.3.4",
                "Requested action not taken; message size exceeds fixed maximum message size",
                MesgTooBig,
            ),
            // 5.1.8: the sender is banned as a source of spam.
            row(
                U,
                MAIL,
                "550",
                "5.1.8",
                "Access denied, bad outbound sender",
                Rejected,
            ),
            // 5.7.700-749: a tenant sending too much, banned for a while ("speeding").
            row(
                U,
                CONNECT,
                "550",
                "5.7.708",
                "Service unavailable. Access denied, traffic not accepted from this IP",
                Speeding,
            ),
        ],
    );
}

#[test]
fn gmail() {
    use Reason::*;
    // All rows: support.google.com/a/answer/3726730, "Gmail SMTP errors and codes".
    const U: &str = "someone@gmail.com";
    check(
        "gmail",
        "gmail-smtp-in.l.google.com",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. - gsmtp",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.2.1",
                "The email account that you tried to reach is disabled. - gsmtp",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "452",
                "4.2.2",
                "The email account that you tried to reach is over quota. Please direct the recipient to this article. - gsmtp",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "The recipient's inbox is out of storage space. Please direct the recipient to this article. - gsmtp",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "552",
                "5.3.4",
                "Your message exceeded Google's message size limits. - gsmtp",
                MesgTooBig,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.26",
                "This message does not have authentication information or fails to pass authentication checks (SPF or DKIM). - gsmtp",
                AuthFailure,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.25",
                "The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP. - gsmtp",
                RequirePtr,
            ),
            // Read as Sisimai's Google table reads it (the labels operators compare with follow
            // it): the address, not the host, is what cannot be found.
            row(
                U,
                RCPT,
                "553",
                "5.1.2",
                "We weren't able to find the recipient domain. Please check for any spelling errors, and make sure you didn't enter any spaces, periods, or other punctuation after the recipient's email address. - gsmtp",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.0",
                "Mail relay denied. - gsmtp",
                NoRelaying,
            ),
            // X.2.1 is "mailbox disabled" in RFC 3463, but Gmail also says it of a recipient
            // who receives too fast: the words, not the code, tell the two apart.
            row(
                U,
                RCPT,
                "450",
                "4.2.1",
                "The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. If the user is able to receive mail at that time, your message will be delivered. - gsmtp",
                Speeding,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.2.1",
                "The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time. - gsmtp",
                Speeding,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.2.1",
                "The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. - gsmtp",
                Speeding,
            ),
            // The receiving system's own trouble (X.3.0), at any command.
            row(
                U,
                DATA,
                "421",
                "4.3.0",
                "Temporary System Problem. Try again later. - gsmtp",
                SystemError,
            ),
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Mail server temporarily rejected message. - gsmtp",
                SystemError,
            ),
        ],
    );
}

/// Gmail's replies as they reach a sender through a relay in front of Gmail: the host that
/// replied is not Google's, so only the words and codes can say what Gmail meant.
#[test]
fn gmail_relayed() {
    use Reason::*;
    // All rows: support.google.com/a/answer/3726730, "Gmail SMTP errors and codes".
    const U: &str = "someone@example.org";
    check(
        "gmail relayed",
        "smarthost.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.2.1",
                "The email account that you tried to reach is disabled. - gsmtp",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "421",
                "4.7.0",
                "Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily blocked. - gsmtp",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "421",
                "4.7.0",
                "TLS required for RCPT domain, closing connection. - gsmtp",
                FailedStartTls,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "The recipient's inbox is out of storage space. Please direct the recipient to this article. - gsmtp",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "421",
                "4.3.0",
                "Temporary System Problem. Try again later. - gsmtp",
                SystemError,
            ),
        ],
    );
}

#[test]
fn yahoo() {
    use Reason::*;
    // All rows: senders.yahooinc.com/smtp-error-codes, "SMTP Error Codes".
    const U: &str = "someone@yahoo.com";
    check(
        "yahoo",
        "mta6.am0.yahoodns.net",
        Layouts::Both,
        &[
            row(
                U,
                DATA,
                "554",
                "5.0.0",
                "delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1001.mail.gq1.yahoo.com",
                UserUnknown,
            ),
            row(
                U,
                DATA,
                "554",
                "5.0.0",
                "delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1001.mail.gq1.yahoo.com",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "552",
                "5.0.0",
                "1 Requested mail action aborted, mailbox not found",
                UserUnknown,
            ),
            row(
                U,
                MAIL,
                "553",
                "5.7.2",
                "[TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
                Rejected,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.9",
                "This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.",
                AuthFailure,
            ),
            row(
                U,
                DATA,
                "554",
                "5.7.9",
                "Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes",
                PolicyViolation,
            ),
        ],
    );
}

#[test]
fn apple_icloud() {
    use Reason::*;
    // All rows: support.apple.com/en-us/102322, "If your email to an iCloud Mail address is
    // rejected or bounced" (iCloud mail server error messages).
    const U: &str = "someone@icloud.com";
    check(
        "icloud",
        "mx01.mail.icloud.com",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<someone@icloud.com>: user does not exist",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "552",
                "5.2.2",
                "<someone@icloud.com>: user is over quota",
                MailboxFull,
            ),
            row(
                U,
                CONNECT,
                "550",
                "5.7.0",
                "Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=192.0.2.1",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.6",
                "recipient no longer on server: someone@icloud.com",
                HasMoved,
            ),
        ],
    );
}

#[test]
fn postfix() {
    use Reason::*;
    // Postfix's own texts: postconf(5) (smtpd restrictions, "unknown_local_recipient_reject_code"),
    // smtp(8), local(8), virtual(8) and the source's bounce templates (postfix.org).
    const U: &str = "user@example.org";
    check(
        "postfix",
        "mx1.example.org",
        Layouts::Both,
        &[
            // postconf(5) local_recipient_maps.
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<user@example.org>: Recipient address rejected: User unknown in local recipient table",
                UserUnknown,
            ),
            // postconf(5) virtual_mailbox_maps.
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<user@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
                UserUnknown,
            ),
            // postconf(5) reject_unauth_destination.
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "<user@example.org>: Relay access denied",
                NoRelaying,
            ),
            // postconf(5) reject_unknown_client_hostname.
            row(
                U,
                RCPT,
                "450",
                "4.7.1",
                "Client host rejected: cannot find your hostname, [192.0.2.1]",
                RequirePtr,
            ),
            // postconf(5) reject_rbl_client.
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
                Blocked,
            ),
            // postconf(5) message_size_limit.
            row(
                U,
                DATA,
                "552",
                "5.3.4",
                "Message size exceeds fixed limit",
                MesgTooBig,
            ),
            // postconf(5) reject_unknown_recipient_domain.
            row(
                U,
                RCPT,
                "450",
                "4.1.2",
                "<user@example.org>: Recipient address rejected: Domain not found",
                HostUnknown,
            ),
            // postconf(5) reject_unknown_sender_domain.
            row(
                U,
                MAIL,
                "550",
                "5.1.8",
                "<sender@example.com>: Sender address rejected: Domain not found",
                Rejected,
            ),
            // local(8): a mail loop (Delivered-To: seen before).
            row(
                U,
                None,
                "",
                "5.4.6",
                "mail forwarding loop for user@example.org",
                NetworkError,
            ),
            // smtp(8): the MX points back at the sender's own machine, a configuration error.
            row(
                U,
                None,
                "",
                "5.4.6",
                "mail for example.org loops back to myself",
                SystemError,
            ),
            // local(8): the mailbox file could not be written (file size limit).
            row(
                U,
                None,
                "",
                "5.2.2",
                "cannot update mailbox /var/mail/user for user user. error writing message: File too large",
                MailboxFull,
            ),
            // local(8): no such user.
            row(U, None, "", "5.1.1", "unknown user: \"user\"", UserUnknown),
            // smtpd(8): the queue file could not be written after the data.
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Error: queue file write error",
                SystemError,
            ),
            // smtpd(8) below queue_minfree: no room for the message.
            row(
                U,
                MAIL,
                "452",
                "4.3.1",
                "Insufficient system storage",
                SystemFull,
            ),
            // smtpd(8): a restriction it cannot evaluate (a typo in main.cf).
            row(
                U,
                RCPT,
                "451",
                "4.3.5",
                "Server configuration error",
                SystemError,
            ),
            // postconf(5) reject_sender_login_mismatch.
            row(
                U,
                MAIL,
                "553",
                "5.7.1",
                "<sender@example.com>: Sender address rejected: not logged in",
                Rejected,
            ),
            // smtp(8): the name server failed for now (Postfix's 4.4.3); the network, not the
            // address, is at fault.
            row(
                U,
                None,
                "",
                "4.4.3",
                "Host or domain name not found. Name service error for name=example.org type=MX: Host not found, try again",
                NetworkError,
            ),
            // smtp(8): the connection broke or the server fell silent (Postfix's 4.4.2).
            row(
                U,
                None,
                "",
                "4.4.2",
                "lost connection with mx1.example.org[192.0.2.25] while receiving the initial server greeting",
                NetworkError,
            ),
            row(
                U,
                None,
                "",
                "4.4.2",
                "conversation with mx1.example.org[192.0.2.25] timed out while receiving the initial server greeting",
                NetworkError,
            ),
            // smtp(8): no route to the server (Postfix's 4.4.1).
            row(
                U,
                None,
                "",
                "4.4.1",
                "connect to mx1.example.org[192.0.2.25]:25: No route to host",
                NetworkError,
            ),
            // smtp(8): no such host (the name server says so for good).
            row(
                U,
                None,
                "",
                "5.4.4",
                "Host or domain name not found. Name service error for name=example.org type=A: Host not found",
                HostUnknown,
            ),
        ],
    );
}

#[test]
fn exim() {
    use Reason::*;
    // Exim's texts from its specification (exim.org/exim-html-current/doc/html/spec_html):
    // routers ("Unrouteable address"), the appendfile transport's quota, ACL defaults.
    const U: &str = "user@example.org";
    check(
        "exim",
        "mx1.example.org",
        Layouts::Both,
        &[
            // The spec's "Unrouteable address" for a domain no router accepts.
            row(U, RCPT, "550", "5.1.2", "Unrouteable address", HostUnknown),
            // appendfile quota, "mailbox is full".
            row(
                U,
                None,
                "",
                "5.2.2",
                "mailbox is full (MTA-imposed quota exceeded while writing to file /var/mail/user)",
                MailboxFull,
            ),
            // acl_smtp_rcpt's default refusal of relaying.
            row(U, RCPT, "550", "5.7.1", "relay not permitted", NoRelaying),
            // dnslists: "rejected because <ip> is in a black list at <list>".
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "rejected because 192.0.2.1 is in a black list at zen.spamhaus.org",
                Blocked,
            ),
            // received_headers_max.
            row(
                U,
                DATA,
                "550",
                "5.4.6",
                "Too many \"Received\" headers - suspected mail loop",
                NetworkError,
            ),
            // message_size_limit.
            row(
                U,
                DATA,
                "552",
                "5.3.4",
                "Message size exceeds maximum permitted",
                MesgTooBig,
            ),
            // sender verification.
            row(U, MAIL, "550", "5.1.8", "Sender verify failed", Rejected),
            // A transient fault of the receiving Exim (a lookup or a file it could not read).
            row(
                U,
                RCPT,
                "451",
                "4.3.0",
                "Temporary local problem - please try later",
                SystemError,
            ),
        ],
    );
}

#[test]
fn sendmail() {
    use Reason::*;
    // Sendmail 8's texts: the Installation and Operation Guide (op.me) and its source
    // (parseaddr.c, deliver.c, queue.c, srvrsmtp.c).
    const U: &str = "user@example.org";
    check(
        "sendmail",
        "mx1.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<user@example.org>... User unknown",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "<user@example.org>... Relaying denied",
                NoRelaying,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "<user@example.org>... Mailbox full",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "554",
                "5.4.6",
                "Too many hops 26 (25 max): from <sender@example.com> via relay.example.net, to <user@example.org>",
                NetworkError,
            ),
            row(
                U,
                MAIL,
                "452",
                "4.4.5",
                "Insufficient disk space; try again later",
                SystemFull,
            ),
            // parseaddr.c/srvrsmtp.c: the sender's domain has no DNS record.
            row(
                U,
                MAIL,
                "553",
                "5.1.8",
                "<sender@example.com>... Domain of sender address sender@example.com does not exist",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "451",
                "4.1.8",
                "Domain of sender address sender@example.com does not resolve",
                Rejected,
            ),
            // The user has moved (the "user not local" reply of a redirect).
            row(
                U,
                RCPT,
                "551",
                "5.1.6",
                "<user@example.org>... User not local; please try <user@example.net>",
                HasMoved,
            ),
            // deliver.c: the MX points back at this host.
            row(
                U,
                None,
                "",
                "5.3.5",
                "config error: mail loops back to me (MX problem?)",
                SystemError,
            ),
        ],
    );
}

#[test]
fn qmail() {
    use Reason::*;
    // qmail 1.03's qmail-remote.c / qmail-local.c / qmail-send.c texts, with their status codes.
    const U: &str = "user@example.org";
    check(
        "qmail",
        "mx1.example.org",
        Layouts::Qmail,
        &[
            row(
                U,
                None,
                "",
                "5.1.1",
                "Sorry, no mailbox here by that name. (#5.1.1)",
                UserUnknown,
            ),
            row(
                U,
                None,
                "",
                "5.1.2",
                "Sorry, I couldn't find any host named example.org. (#5.1.2)",
                HostUnknown,
            ),
            row(
                U,
                None,
                "",
                "5.4.6",
                "This message is looping: it already has my Delivered-To line. (#5.4.6)",
                NetworkError,
            ),
            // qmail-remote.c: "Giving up on <host>." follows a permanent refusal of every
            // recipient ('D'), not an expiry; the remote's reply names the reason.
            row(
                U,
                RCPT,
                "",
                "5.7.1",
                "192.0.2.25 does not like recipient.\nRemote host said: 550 5.7.1 <user@example.org>: Recipient address rejected: Policy violation\nGiving up on 192.0.2.25.",
                PolicyViolation,
            ),
            row(
                U,
                RCPT,
                "",
                "5.7.0",
                "192.0.2.25 does not like recipient.\nRemote host said: 550 5.7.0 <user@example.org>: Recipient address rejected: Access refused\nGiving up on 192.0.2.25.",
                SecurityError,
            ),
        ],
    );
}

#[test]
fn rfc_replies() {
    use Reason::*;
    // The standard replies and codes, as an MTA without words of its own sends them.
    const U: &str = "user@example.org";
    check(
        "rfc",
        "mx1.example.org",
        Layouts::Both,
        &[
            // RFC 7504 §3: a host that accepts no mail answers 521 at the greeting.
            row(
                U,
                CONNECT,
                "521",
                "5.3.2",
                "mx1.example.org does not accept mail",
                NotAccept,
            ),
            // RFC 7504 §3: 556 for a domain that accepts no mail (RFC 7505 null MX).
            row(
                U,
                RCPT,
                "556",
                "5.1.10",
                "Recipient address has null MX",
                NotAccept,
            ),
            // RFC 3463 X.2.1: mailbox disabled, not accepting messages.
            row(
                U,
                RCPT,
                "550",
                "5.2.1",
                "<user@example.org>... Mailbox disabled for this recipient",
                Suspend,
            ),
            // RFC 3463 X.2.1, the temporary form: the mailbox is disabled for now.
            row(
                U,
                RCPT,
                "450",
                "4.2.1",
                "<user@example.org>: Mailbox disabled, not accepting messages",
                Suspend,
            ),
            // RFC 3463 X.2.2: mailbox full.
            row(U, RCPT, "452", "4.2.2", "Mailbox full", MailboxFull),
            // RFC 3463 X.4.6: routing loop detected.
            row(
                U,
                DATA,
                "554",
                "5.4.6",
                "Routing loop detected",
                NetworkError,
            ),
            // RFC 5321 §4.2.3: 451 "Requested action aborted: local error in processing".
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Requested action aborted: local error in processing",
                SystemError,
            ),
            // RFC 3463 X.1.8: bad sender's system address.
            row(
                U,
                MAIL,
                "553",
                "5.1.8",
                "Bad sender's system address",
                Rejected,
            ),
        ],
    );
    check(
        "rfc, the command named",
        "mx1.example.org",
        Layouts::Text,
        &[
            // RFC 5321 §3.3: a permanent refusal of MAIL FROM, in words of its own, refuses
            // the sender (a report without the transcript cannot tell, and stays open).
            row(U, MAIL, "550", "5.0.0", "Sender not welcome here", Rejected),
            // A reply without an enhanced code (Postfix then reports 5.0.0): Sendmail's,
            // Postfix's and Exim's recipient checks say "User unknown" at RCPT (op guide,
            // local_recipient_maps, Exim's "Unrouteable address"), so the command makes it an
            // unknown user, as the oracles' 027 show for Postfix, Exim and Sendmail.
            row(U, RCPT, "550", "5.0.0", "User unknown", UserUnknown),
            // RFC 5321 3.4: 551 names the address the user moved to.
            row(
                U,
                RCPT,
                "551",
                "5.0.0",
                "User not local; please try <user@example.net>",
                HasMoved,
            ),
            // RFC 5321 4.2.3's own texts, from a server that sends no enhanced codes.
            row(
                U,
                RCPT,
                "452",
                "4.0.0",
                "Requested action not taken: insufficient system storage",
                SystemFull,
            ),
            row(
                U,
                DATA,
                "451",
                "4.0.0",
                "Requested action aborted: local error in processing",
                SystemError,
            ),
            // RFC 4954 6: 530 at MAIL FROM, the server wants the client to authenticate.
            row(
                U,
                MAIL,
                "530",
                "5.7.0",
                "Authentication required",
                SecurityError,
            ),
            // The same words after the data are a filter's verdict: au (KDDI) and docomo
            // refuse a sender their user filters out with an unknown-user reply then.
            row(U, DATA, "550", "5.0.0", "User unknown", Filtered),
        ],
    );
    check(
        "rfc, no command named",
        "mx1.example.org",
        Layouts::Dsn,
        &[
            // Without the command, the words alone cannot tell the two apart; the reference
            // (Sisimai: unknown user only where the refusal came at RCPT, `filtered` for the
            // words elsewhere) reads them as the filter's, and so do the labels compared with.
            row(U, None, "550", "5.0.0", "User unknown", Filtered),
            // A code that says it wins over the command's absence.
            row(U, None, "550", "5.1.1", "User unknown", UserUnknown),
        ],
    );
}

#[test]
fn account_states() {
    use Reason::*;
    // Closed and disabled accounts in the words hosting software documents: cPanel/Exim
    // ("The mail server has been configured to reject messages"), Zimbra ("account is
    // inactive"), Microsoft 365 ("mailbox is disabled"), Dovecot LDA quota (doc.dovecot.org,
    // "Quota exceeded (mailbox for user is full)").
    const U: &str = "user@example.org";
    check(
        "accounts",
        "mx1.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.0.0",
                "Sorry, this account has been disabled",
                Suspend,
            ),
            row(U, RCPT, "550", "5.0.0", "Account is inactive", Suspend),
            row(
                U,
                RCPT,
                "550",
                "5.0.0",
                "The recipient's mailbox is disabled",
                Suspend,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "<user@example.org> Quota exceeded (mailbox for user is full)",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "452",
                "4.0.0",
                "The recipient's inbox is full",
                MailboxFull,
            ),
        ],
    );
}

/// Words a service documents in its own replies, which no other reason could be meant by, as
/// they reach a sender through a relay in front of that service (a host that is not the
/// service's own): only the general tables can read them then.
#[test]
fn service_words_relayed() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "service words relayed",
        "gateway.example.org",
        Layouts::Both,
        &[
            // Gmail (support.google.com/a/answer/3726730): the sender's own account, not the
            // recipient's, is disabled or unknown to the Workspace domain.
            row(
                U,
                MAIL,
                "550",
                "5.7.0",
                "Mail sending denied. This error occurs if the sender account is disabled or not registered within your Google Workspace domain. - gsmtp",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.0",
                "Mail sending denied. This error occurs if the sender account is disabled or not registered within your Google Workspace domain. - gsmtp",
                Rejected,
            ),
            // Gmail: a sender's daily quota is a sending rate, not the recipient's storage.
            row(
                U,
                MAIL,
                "550",
                "5.4.5",
                "Daily user sending limit exceeded. - gsmtp",
                Speeding,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.4.5",
                "Daily sending quota exceeded. - gsmtp",
                Speeding,
            ),
            // Exchange Online (learn.microsoft.com, NDR 4.4.312/5.4.312): the DNS lookup of
            // the destination failed.
            row(
                U,
                RCPT,
                "451",
                "4.4.312",
                "DNS query failed. The error was: DNS query failed with error: ServerFailure",
                NetworkError,
            ),
            // Exchange Online (NDR page, 451 4.7.500-699 and 4.7.0): the receiving servers'
            // own trouble, "try again later".
            row(
                U,
                DATA,
                "451",
                "4.7.0",
                "Temporary server error. Please try again later. PRX4 NextHop: relay",
                SystemError,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.7.500",
                "Server busy. Please try again later from [192.0.2.1]. (S77719)",
                SystemError,
            ),
            // Mimecast (community.mimecast.com, "Mimecast SMTP Error Codes").
            row(U, DATA, "554", "5.4.6", "Mail loop detected", NetworkError),
            row(U, DATA, "554", "", "Mail loop detected", NetworkError),
            row(
                U,
                RCPT,
                "451",
                "",
                "Account inbounds disabled - https://community.mimecast.com/docs/DOC-1369#451",
                NotAccept,
            ),
            // GoDaddy (godaddy.com, "Email bounce back error codes"): the account's storage.
            row(U, RCPT, "552", "", "Account storage limit", MailboxFull),
            // Yahoo (senders.yahooinc.com/smtp-error-codes): the sender's domain does not
            // resolve.
            row(
                U,
                MAIL,
                "451",
                "",
                "Message temporarily deferred due to unresolvable RFC.5321 from domain",
                Rejected,
            ),
            // Gmail's documented 421 texts in a class the status table reads otherwise.
            row(
                U,
                RCPT,
                "421",
                "4.7.0",
                "Temporary System Problem. Try again later. - gsmtp",
                SystemError,
            ),
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Multiple destination domains per transaction is unsupported. Please try again. - gsmtp",
                SystemError,
            ),
            // Gmail: a mail loop, in its words.
            row(
                U,
                DATA,
                "554",
                "5.4.6",
                "Message exceeded 50 hops, this may indicate a mail loop. - gsmtp",
                NetworkError,
            ),
            // Gmail's reply to a client's AUTH.
            row(
                U,
                MAIL,
                "535",
                "5.7.8",
                "Username and Password not accepted. - gsmtp",
                SecurityError,
            ),
            // Yahoo: a sender that authenticates with neither.
            row(
                U,
                DATA,
                "550",
                "5.7.9",
                "This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.",
                AuthFailure,
            ),
            // Tencent (service.mail.qq.com): SPF and DMARC refusals.
            row(U, DATA, "550", "5.7.1", "SPF check failed", AuthFailure),
            row(U, DATA, "550", "5.7.1", "DMARC check failed", AuthFailure),
            // Exchange Online: RFC 3463 X.3.2's words, and 5.2.14's forwarding address.
            row(
                U,
                RCPT,
                "550",
                "",
                "System not accepting network messages",
                NotAccept,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.2.14",
                "Misconfigured forwarding address",
                SystemError,
            ),
            // Exchange Online 5.7.124/5.7.133: a restricted group refuses the sender.
            row(
                U,
                RCPT,
                "550",
                "5.7.124",
                "Sender not in allowed-senders list",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.133",
                "RESOLVER.RST.SenderNotAuthenticatedForGroup; authentication required; Delivery restriction check failed as sender not authenticated for group",
                Rejected,
            ),
            // Exchange Online 5.1.0: the sender is refused, under the status of an address.
            row(U, RCPT, "550", "5.1.0", "Sender denied", Rejected),
            // Symantec MessageLabs ("Email error codes"): the sender is on a block list.
            row(
                U,
                MAIL,
                "553",
                "",
                "Your email address has been blocked",
                Rejected,
            ),
            // Mimecast: an envelope sender blocked by policy.
            row(
                U,
                RCPT,
                "550",
                "",
                "Envelope rejected - block policy for envelope from address",
                Rejected,
            ),
            // GoDaddy: the recipient's account is disabled.
            row(U, RCPT, "550", "", "Account disabled", Suspend),
            // Cox (cox.com, "Email error codes"): the receiving service is down for now.
            row(
                U,
                RCPT,
                "421",
                "",
                "esmtp server temporarily not available",
                SystemError,
            ),
        ],
    );
}

/// The reasons the held-out set found too rarely (suspend, systemerror, networkerror,
/// mailboxfull, rejected, notaccept), in the words MTAs, delivery agents and services document
/// that they print. Each row names its source.
#[test]
fn under_found_reasons() {
    use Reason::*;
    const U: &str = "user@example.org";
    check(
        "under-found",
        "mx1.example.org",
        Layouts::Both,
        &[
            // --- suspend ---
            // cPanel's Exim with "Receiving Incoming Mail: Suspend" (cPanel docs, "How to
            // modify the email behaviors of suspended accounts"; the bounce hosts show).
            row(
                U,
                RCPT,
                "550",
                "5.0.0",
                "Mail to user@example.org has been suspended",
                Suspend,
            ),
            // RFC 3463 X.2.1 in Exchange's words (NDR 5.2.1): the mailbox is disabled.
            row(
                U,
                RCPT,
                "550",
                "5.2.1",
                "The recipient's mailbox is disabled",
                Suspend,
            ),
            // Yahoo (senders.yahooinc.com/smtp-error-codes, 554.30).
            row(
                U,
                DATA,
                "554",
                "5.0.0",
                "delivery error: dd Sorry, your message to user@example.org cannot be delivered. This mailbox is disabled (554.30)",
                Suspend,
            ),
            // --- systemerror ---
            // Exim FAQ Q0301 and the spec (dnslookup router, self): a configuration error
            // that would send the message back to this host.
            row(
                U,
                None,
                "",
                "5.0.0",
                "lowest numbered MX record points to local host",
                SystemError,
            ),
            row(
                U,
                None,
                "",
                "5.0.0",
                "remote host address is the local host",
                SystemError,
            ),
            // RFC 3463 X.3.5 "System incorrectly configured", Exchange NDR 5.3.5.
            row(
                U,
                DATA,
                "554",
                "5.3.5",
                "System incorrectly configured",
                SystemError,
            ),
            // Dovecot LMTP (doc.dovecot.org; its lmtp-client "Temporary internal error").
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "<user@example.org> Temporary internal error",
                SystemError,
            ),
            // Gmail (support.google.com/a/answer/3726730).
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Mail server temporarily rejected message. - gsmtp",
                SystemError,
            ),
            // --- networkerror ---
            // qmail-smtpd.c: a sender listed in control/badmailfrom.
            row(
                U,
                MAIL,
                "553",
                "5.7.1",
                "sorry, your envelope sender is in my badmailfrom list (#5.7.1)",
                Rejected,
            ),
            // OpenSMTPD's own errors (smtpd/mta.c) in a report it did not word itself.
            row(
                U,
                None,
                "",
                "4.4.1",
                "Network error on destination MXs",
                NetworkError,
            ),
            row(
                U,
                None,
                "",
                "4.4.3",
                "Temporary failure in MX lookup",
                NetworkError,
            ),
            row(U, DATA, "500", "5.4.6", "Loop detected", NetworkError),
            // qmail-remote.c: the connection broke after it was made.
            row(
                U,
                DATA,
                "",
                "4.4.2",
                "Connected to 192.0.2.25 but connection died. (#4.4.2)",
                NetworkError,
            ),
            // Exim's smtp transport: the server closed the connection instead of replying.
            row(
                U,
                None,
                "",
                "4.4.2",
                "Remote host mx1.example.org [192.0.2.25] closed connection in response to end of data",
                NetworkError,
            ),
            // RFC 3463 X.4.6 in Exchange's words (NDR 5.4.6).
            row(
                U,
                DATA,
                "554",
                "5.4.6",
                "Routing loop detected",
                NetworkError,
            ),
            // --- mailboxfull ---
            // GNU Mailutils mda (its manual, "Mailbox Quotas").
            row(
                U,
                DATA,
                "550",
                "",
                "user: message would exceed maximum mailbox size for this recipient",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "550",
                "",
                "user: mailbox quota exceeded for this recipient",
                MailboxFull,
            ),
            // Cyrus lmtpd and Zimbra: "Over quota".
            row(U, DATA, "452", "4.2.2", "Over quota", MailboxFull),
            // A reply without an enhanced code: the recipient's quota was exceeded.
            row(
                U,
                RCPT,
                "552",
                "",
                "Recipient has exceeded their quota",
                MailboxFull,
            ),
            // qmail with the vpopmail/quota patches (vdelivermail).
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "The users mailfolder is over the allowed quota (size). (#5.2.2)",
                MailboxFull,
            ),
            // Exchange's NDR text for 5.2.2.
            row(
                U,
                DATA,
                "554",
                "",
                "The recipient's mailbox is full and can't accept messages now",
                MailboxFull,
            ),
            // --- rejected ---
            // postconf(5) reject_unlisted_sender: the sender, not the recipient, is unknown
            // (Postfix answers X.1.0 for the sender, X.1.1 for a recipient).
            row(
                U,
                RCPT,
                "550",
                "5.1.0",
                "<sender@example.com>: Sender address rejected: User unknown in local recipient table",
                Rejected,
            ),
            // postconf(5) reject_unknown_sender_domain with its temporary code.
            row(
                U,
                RCPT,
                "450",
                "4.1.8",
                "<sender@example.com>: Sender address rejected: Domain not found",
                Rejected,
            ),
            // Sendmail (srvrsmtp.c): a sender without a domain.
            row(
                U,
                MAIL,
                "553",
                "5.5.4",
                "<sender>... Domain name required for sender address sender",
                Rejected,
            ),
            // Exim's sender verification (its spec, "verify = sender").
            row(
                U,
                RCPT,
                "550",
                "",
                "Verification failed for <sender@example.com> Unrouteable address Sender verify failed",
                Rejected,
            ),
            // --- notaccept ---
            // RFC 5321 3.1: a host that offers no mail service says so in its greeting.
            row(U, CONNECT, "554", "", "No SMTP service here", NotAccept),
            // Exim (its spec, "dnslookup router"; the oracles' null MX): RFC 7505's null MX.
            row(
                U,
                None,
                "",
                "5.0.0",
                "an MX or SRV record indicated no SMTP service",
                NotAccept,
            ),
            // RFC 7505 as Google Workspace words it.
            row(
                U,
                RCPT,
                "550",
                "5.1.10",
                "The domain example.org has a null MX record and does not accept email",
                NotAccept,
            ),
        ],
    );
}

/// RFC 3463's own descriptions of its status codes, as a server words a refusal with them and
/// no enhanced code (Postfix's access(5) with a text of the operator's: "Recipient address
/// rejected: <text>"): the words must say what the code would have.
#[test]
fn rfc3463_descriptions_without_their_code() {
    use Reason::*;
    const U: &str = "user@example.org";
    let refused = |code, words: &'static str, reason| row(U, RCPT, code, "", words, reason);
    check(
        "rfc3463 words",
        "mx1.example.org",
        Layouts::Both,
        &[
            // X.1.7, X.1.8: the sender's address.
            refused(
                "553",
                "<user@example.org>: Recipient address rejected: Bad sender's mailbox address syntax",
                Rejected,
            ),
            refused(
                "553",
                "<user@example.org>: Recipient address rejected: Bad sender's system address",
                Rejected,
            ),
            // A refusal of the recipient whose words say the sender was refused.
            refused(
                "550",
                "<user@example.org>: Recipient address rejected: Sender rejected",
                Rejected,
            ),
            // X.2.1, X.2.2.
            refused(
                "550",
                "<user@example.org>: Recipient address rejected: Mailbox disabled, not accepting messages",
                Suspend,
            ),
            refused(
                "552",
                "<user@example.org>: Recipient address rejected: Mailbox full",
                MailboxFull,
            ),
            // X.3.2, X.3.5.
            refused(
                "554",
                "<user@example.org>: Recipient address rejected: System not accepting network messages",
                NotAccept,
            ),
            refused(
                "451",
                "<user@example.org>: Recipient address rejected: System incorrectly configured",
                SystemError,
            ),
            // X.4.2, X.4.3, X.4.6.
            refused(
                "451",
                "<user@example.org>: Recipient address rejected: Bad connection",
                NetworkError,
            ),
            refused(
                "451",
                "<user@example.org>: Recipient address rejected: Directory server failure",
                SystemError,
            ),
            refused(
                "554",
                "<user@example.org>: Recipient address rejected: Routing loop detected",
                NetworkError,
            ),
            // The failures by their plain names.
            refused(
                "554",
                "<user@example.org>: Recipient address rejected: Network error",
                NetworkError,
            ),
            refused(
                "554",
                "<user@example.org>: Recipient address rejected: Internal system error",
                SystemError,
            ),
            refused(
                "550",
                "<user@example.org>: Recipient address rejected: Account suspended",
                Suspend,
            ),
        ],
    );
}

/// RFC 5321 4.2.1: replies of the form x0z are about syntax. In its own words (4.2.2) and
/// without an enhanced code, at the command they answer, a refusal names no other cause.
#[test]
fn rfc5321_syntax_replies() {
    use Reason::*;
    const U: &str = "user@example.org";
    check(
        "rfc5321 x0z",
        "mx1.example.org",
        Layouts::Text,
        &[
            row(
                U,
                MAIL,
                "501",
                "",
                "Syntax error in parameters or arguments",
                SyntaxError,
            ),
            row(U, RCPT, "502", "", "Command not implemented", SyntaxError),
            row(U, DATA, "503", "", "Bad sequence of commands", SyntaxError),
            row(
                U,
                MAIL,
                "504",
                "",
                "Command parameter not implemented",
                SyntaxError,
            ),
        ],
    );
}

// The notices MTAs write themselves, for the sentences Sisimai's lhost modules (go-sisimai
// `lhost/via-*.go`) map to reasons. Each layout follows the sample the module documents in its
// comments; the returned message, where a layout has one, was sent to `r.recipient`.

/// The returned message's header, as a notice appends it.
fn returned(r: &Row) -> String {
    format!(
        "Return-Path: <sender@example.com>\n\
         Message-ID: <original-1@example.com>\n\
         From: sender@example.com\n\
         To: {}\n\
         Subject: hello\n\
         Date: Mon, 7 Dec 2026 00:00:00 +0000\n\
         \n\
         hello\n",
        r.recipient
    )
}

/// Exim's failure notice (deliver.c): the address indented by two, its error by four. A row
/// whose status is temporary is Exim's delay warning instead.
fn as_exim(r: &Row) -> String {
    let (subject, lead, tail) = if r.status.starts_with('4') {
        (
            "Warning: message 1P1YNN-0003AD-Ga delayed 24 hours",
            "A message that you sent has not yet been delivered to one or more of its\n\
             recipients after more than 24 hours on the queue on relay.example.net.\n\
             \n\
             The address to which the message has not yet been delivered is:",
            "No action is required on your part. Delivery attempts will continue for\n\
             some time, and this warning may be repeated at intervals if the message\n\
             remains undelivered.\n",
        )
    } else {
        (
            "Mail delivery failed: returning message to sender",
            "A message that you sent could not be delivered to one or more of its\n\
             recipients. This is a permanent error. The following address(es) failed:",
            "",
        )
    };
    format!(
        "From: Mail Delivery System <Mailer-Daemon@relay.example.net>\n\
         To: sender@example.com\n\
         Subject: {subject}\n\
         Message-Id: <E1P1YNN-0003AD-Ga@relay.example.net>\n\
         X-Failed-Recipients: {rcpt}\n\
         \n\
         This message was created automatically by mail delivery software.\n\
         \n\
         {lead}\n\
         \n\
         \x20 {rcpt}\n\
         \x20   {text}\n\
         \n\
         {tail}\
         ------ This is a copy of the message, including all the headers. ------\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// A notice as a MIME message: `header` (its own fields, each ending in a newline), the
/// notice's `text`, the RFC 3464 `report` fields if it has a report, and the returned message.
fn multipart(header: &str, text: &str, report: Option<&str>, r: &Row) -> String {
    let (kind, report) = match report {
        Some(fields) => (
            "report; report-type=delivery-status",
            format!("--B1\nContent-Type: message/delivery-status\n\n{fields}\n\n"),
        ),
        None => ("mixed", String::new()),
    };
    format!(
        "{header}MIME-Version: 1.0\n\
         Content-Type: multipart/{kind}; boundary=\"B1\"\n\
         \n\
         --B1\n\
         Content-Type: text/plain; charset=\"utf-8\"\n\
         \n\
         {text}\n\
         \n\
         {report}\
         --B1\n\
         Content-Type: message/rfc822\n\
         \n\
         {returned}\
         --B1--\n",
        returned = returned(r),
    )
}

/// Courier's notice (courier/module.dsn): the address, its error under `<<<`, and an RFC 3464
/// report whose diagnostic is the same words (Courier's own errors have no reply code). A
/// temporary status makes it Courier's delay warning.
fn as_courier(r: &Row) -> String {
    let (subject, heading, action) = if r.status.starts_with('4') {
        (
            "WARNING: delayed mail.",
            "DELAYS IN DELIVERING YOUR MESSAGE",
            "delayed",
        )
    } else {
        (
            "NOTICE: mail delivery status.",
            "UNDELIVERABLE MAIL",
            "failed",
        )
    };
    multipart(
        &format!(
            "From: Courier mail server at relay.example.net <@>\n\
             To: sender@example.com\n\
             Subject: {subject}\n\
             Message-ID: <courier.000000006B164BAF.00001688@relay.example.net>\n"
        ),
        &format!(
            "This is a delivery status notification from relay.example.net,\n\
             running the Courier mail server, version 1.0.16.\n\
             \n\
             \x20                          {heading}\n\
             \n\
             Your message to the following recipients cannot be delivered:\n\
             \n\
             <{rcpt}>:\n\
             \x20<<< {text}",
            rcpt = r.recipient,
            text = r.text,
        ),
        Some(&format!(
            "Reporting-MTA: dns; relay.example.net\n\
             \n\
             Final-Recipient: rfc822; {rcpt}\n\
             Action: {action}\n\
             Status: {status}\n\
             Diagnostic-Code: unknown; {text}",
            rcpt = r.recipient,
            text = r.text,
            status = r.status,
        )),
        r,
    )
}

/// HCL Domino's notice: "Your message … was not delivered to: … because: …", the reason in
/// its subject too.
fn as_domino(r: &Row) -> String {
    format!(
        "From: Postmaster@relay.example.net\n\
         To: sender@example.com\n\
         Subject: DELIVERY FAILURE: {text}\n\
         \n\
         Your message\n\
         \n\
         \x20 Subject: hello\n\
         \n\
         was not delivered to:\n\
         \n\
         \x20 {rcpt}\n\
         \n\
         because:\n\
         \n\
         \x20 {text}\n",
        rcpt = r.recipient,
        text = r.text,
    )
}

/// Lotus/HCL Notes' notice: the reason and the address under "Failure Reasons".
fn as_notes(r: &Row) -> String {
    format!(
        "From: Postmaster@relay.example.net\n\
         To: sender@example.com\n\
         Subject: Undeliverable message\n\
         \n\
         ------- Failure Reasons  --------\n\
         \n\
         {text}\n\
         {rcpt}\n\
         \n\
         \n\
         ------- Returned Message --------\n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// OpenSMTPD's notice (smtpd/bounce.c): `address: error` between its lead-in and the copy.
fn as_opensmtpd(r: &Row) -> String {
    format!(
        "From: Mailer Daemon <MAILER-DAEMON@relay.example.net>\n\
         To: sender@example.com\n\
         Subject: Delivery status notification: error\n\
         \n\
         \x20   Hi!\n\
         \n\
         \x20   This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.\n\
         \n\
         \x20   An error has occurred while attempting to deliver a message for\n\
         \x20   the following list of recipients:\n\
         \n\
         {rcpt}: {text}\n\
         \n\
         \x20   Below is a copy of the original message:\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// Gmail's old text notice: the address indented under "Delivery to the following recipient
/// failed permanently" (or "has been delayed", for a temporary status), the technical details
/// after it.
fn as_gmail_text(r: &Row) -> String {
    let (subject, lead, kind) = if r.status.starts_with('4') {
        ("Delay", "has been delayed", "temporary")
    } else {
        ("Failure", "failed permanently", "permanent")
    };
    format!(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n\
         To: sender@example.com\n\
         Subject: Delivery Status Notification ({subject})\n\
         \n\
         This is an automatically generated Delivery Status Notification\n\
         \n\
         Delivery to the following recipient {lead}:\n\
         \n\
         \x20    {rcpt}\n\
         \n\
         Technical details of {kind} failure:\n\
         {text}\n\
         \n\
         \x20  ----- Original message -----\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// Google Workspace's notice of a message it would not send: "** Message not delivered **",
/// its words, and the message attached.
fn as_google_workspace(r: &Row) -> String {
    multipart(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n\
         To: sender@example.com\n\
         Subject: Delivery Status Notification (Failure)\n",
        &format!("** Message not delivered **\n\n{}", r.text),
        None,
        r,
    )
}

/// Progress iMail's notice (`X-Mailer: <SMTP32 v8.22>`): its own verdict as `words: address`;
/// a row with a reply code is the remote's response under "Body of message generated
/// response:" instead.
fn as_imail(r: &Row) -> String {
    let body = if r.code.is_empty() {
        format!("{}: {}\n", r.text, r.recipient)
    } else {
        format!(
            "undeliverable to {}\n\nBody of message generated response:\n{} {}\n",
            r.recipient, r.code, r.text
        )
    };
    format!(
        "From: \"Postmaster\" <postmaster@relay.example.net>\n\
         To: sender@example.com\n\
         Subject: Undeliverable Mail\n\
         X-Mailer: <SMTP32 v8.22>\n\
         \n\
         {body}\n\
         \n\
         Original message follows.\n\
         \n\
         {returned}",
        returned = returned(r),
    )
}

/// Oracle Communications Messaging Server's report: "Recipient address:" and "Reason:" in its
/// text, the reason again as the comment of `Status:`.
fn as_messaging_server(r: &Row) -> String {
    multipart(
        "From: Internet Mail Delivery <postmaster@relay.example.net>\n\
         To: sender@example.com\n\
         Subject: Delivery Notification: Delivery has failed\n",
        &format!(
            "This report relates to a message you sent with the following header fields:\n\
             \n\
             \x20 Message-id: <original-1@example.com>\n\
             \x20 To: {rcpt}\n\
             \x20 Subject: hello\n\
             \n\
             Your message cannot be delivered to the following recipients:\n\
             \n\
             \x20 Recipient address: {rcpt}\n\
             \x20 Reason: {text}",
            rcpt = r.recipient,
            text = r.text,
        ),
        Some(&format!(
            "Reporting-MTA: dns;relay.example.net (tcp_intranet-daemon)\n\
             \n\
             Original-recipient: rfc822;{rcpt}\n\
             Final-recipient: rfc822;{rcpt}\n\
             Action: failed\n\
             Status: {status} ({text})",
            rcpt = r.recipient,
            text = r.text,
            status = r.status,
        )),
        r,
    )
}

/// au by KDDI's notice: "Could not be delivered to: <address>", its reason indented below.
fn as_kddi(r: &Row) -> String {
    multipart(
        "From: no-reply@.dion.ne.jp\n\
         To: sender@example.com\n\
         Subject: Mail System Error - Returned Mail\n",
        &format!(
            "Your mail sent on: Mon, 7 Dec 2026 09:00:00 +0900\n\
             \x20   Could not be delivered to: <{}>\n\
             \x20   {}",
            r.recipient, r.text
        ),
        None,
        r,
    )
}

/// au EZweb's notice: its reason stated once above the recipients, and a report.
fn as_ezweb(r: &Row) -> String {
    multipart(
        "From: Mail Administrator <Postmaster@ezweb.ne.jp>\n\
         To: sender@example.com\n\
         Subject: Mail System Error - Returned Mail\n\
         Message-Id: <20261207000000.F000000@lsean.ezweb.ne.jp>\n",
        &format!("{}\n\n<{}>", r.text, r.recipient),
        Some(&format!(
            "Reporting-MTA: dns; lsean.ezweb.ne.jp\n\
             \n\
             Final-Recipient: rfc822; {}\n\
             Action: failed\n\
             Status: 5.0.0",
            r.recipient
        )),
        r,
    )
}

/// BIGLOBE's notice: the address under "The following addresses had delivery problems", the
/// reason under "Non-delivered information".
fn as_biglobe(r: &Row) -> String {
    multipart(
        "From: Mail Delivery Subsystem <postmaster@biglobe.ne.jp>\n\
         To: sender@example.com\n\
         Subject: Returned mail: Delivery failed\n",
        &format!(
            "\x20  ----- The following addresses had delivery problems -----\n\
             {}\n\
             \n\
             \x20  ----- Non-delivered information -----\n\
             {}",
            r.recipient, r.text
        ),
        None,
        r,
    )
}

/// Verizon's notice: "Error:" and the reply, then "Message details:" with the envelope.
fn as_verizon(r: &Row) -> String {
    format!(
        "From: post_master@vtext.com\n\
         To: sender@example.com\n\
         Subject: Re: hello\n\
         \n\
         Error: Invalid user address\n\
         \n\
         Error message below:\n\
         {text}\n\
         \n\
         Message details:\n\
         \x20 Subject: hello\n\
         \x20 Sent date: Mon Dec 07 00:00:00 GMT 2026\n\
         \x20 MAIL FROM: sender@example.com\n\
         \x20 RCPT TO: {rcpt}\n\
         \x20 From: sender@example.com\n",
        rcpt = r.recipient,
        text = r.text,
    )
}

/// Zoho Mail's notice (`X-ZohoMail:`): one bracketed status line per recipient.
fn as_zoho(r: &Row) -> String {
    format!(
        "From: mailer-daemon@mail.zoho.com\n\
         To: sender@example.com\n\
         Subject: Undelivered Mail Returned to Sender\n\
         X-ZohoMail: Si CHF_MF_NL SS_10 UW48 UB48 FMWL UW48 UB48 SGR3_1_09124_42\n\
         \n\
         This message was created automatically by mail delivery software.\n\
         A message that you sent could not be delivered to one or more of its recipients. This is a temporary error.\n\
         \n\
         [Status: Error, Address: <{rcpt}>, ResponseCode {code}, , {text}]\n\
         \n\
         \n\
         {returned}",
        rcpt = r.recipient,
        code = r.code,
        text = r.text,
        returned = returned(r),
    )
}

/// The DragonFly Mail Agent's notice (dma: mail.c): "There was an error delivering your mail
/// to <address>." and the error below.
fn as_dragonfly(r: &Row) -> String {
    format!(
        "Received: from MAILER-DAEMON\n\
         \tid e070f\n\
         \tby relay.example.net (DragonFly Mail Agent v0.13);\n\
         \tMon, 07 Dec 2026 00:00:00 +0000\n\
         From: MAILER-DAEMON <>\n\
         To: sender@example.com\n\
         Subject: Mail delivery failed\n\
         \n\
         This is the DragonFly Mail Agent v0.13 at relay.example.net.\n\
         \n\
         There was an error delivering your mail to <{rcpt}>.\n\
         \n\
         {text}\n\
         \n\
         Original message follows.\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// fml's refusal of a post to its list (`X-MLServer:`, an `-admin@` sender, a `.FML` message
/// ID): its words name the list's address.
fn as_fml(r: &Row) -> String {
    format!(
        "From: list-admin@lists.example.org\n\
         To: sender@example.com\n\
         Subject: Re: hello\n\
         Message-Id: <202612070000.FML12345@lists.example.org>\n\
         X-MLServer: fml [fml 4.0.3 release (20040609/4.0.3)]\n\
         \n\
         {text} <{rcpt}>.\n\
         \n\
         Original mail as follows:\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// Exchange Server 2003's notice: `address on date`, then the `MSEXCH:` line whose code in
/// parentheses (the row's `code`) is the NDR code.
fn as_exchange2003(r: &Row) -> String {
    format!(
        "From: System Administrator <postmaster@relay.example.net>\n\
         To: sender@example.com\n\
         Subject: Undeliverable: hello\n\
         X-Mailer: Internet Mail Service (5.5.2653.19)\n\
         \n\
         Your message\n\
         \n\
         \x20 To:      {rcpt}\n\
         \x20 Subject: hello\n\
         \x20 Sent:    Mon, 7 Dec 2026 00:00:00 +0000\n\
         \n\
         did not reach the following recipient(s):\n\
         \n\
         {rcpt} on Mon, 7 Dec 2026 00:00:01 +0000\n\
         \x20   The recipient name is not recognized\n\
         \x20   The MTS-ID of the original message is: c=us;a= ;p=example;l=EXCHANGE0000000000\n\
         \x20   MSEXCH:IMS:EXAMPLE:SITE:EXCHANGE 0 ({code}) {text}\n",
        rcpt = r.recipient,
        code = r.code,
        text = r.text,
    )
}

/// Exchange Server 2007's report: under "Diagnostic information for administrators" the
/// address on a line of its own, then `#reply status NDR-code; words ##`.
fn as_exchange2007(r: &Row) -> String {
    format!(
        "From: postmaster@relay.example.net\n\
         To: sender@example.com\n\
         Subject: Undeliverable: hello\n\
         Content-Language: en-US\n\
         \n\
         Delivery has failed to these recipients or groups:\n\
         \n\
         {rcpt}\n\
         The e-mail address you entered couldn't be found.\n\
         \n\
         Diagnostic information for administrators:\n\
         \n\
         Generating server: relay.example.net\n\
         \n\
         {rcpt}\n\
         #{code} {status} {text} ##\n\
         \n\
         Original message headers:\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        code = r.code,
        status = r.status,
        text = r.text,
        returned = returned(r),
    )
}

/// GMX's and 1&1's notice (the same software): the address on a line of its own, the reason
/// below it, then the returned header.
fn as_gmx(r: &Row) -> String {
    format!(
        "From: \"Mail Delivery System\" <mailer-daemon@mail.gmx.net>\n\
         To: sender@example.com\n\
         Subject: Mail delivery failed: returning message to sender\n\
         X-GMX-Antispam: 0 (Mail was not recognized as spam); Detail=V3;\n\
         X-UI-Out-Filterresults: unknown:0;\n\
         \n\
         This message was created automatically by mail delivery software.\n\
         \n\
         A message that you sent could not be delivered to one or more of\n\
         its recipients. This is a permanent error. The following address\n\
         failed:\n\
         \n\
         {rcpt}\n\
         \n\
         For the following reason:\n\
         \n\
         {text}\n\
         \n\
         --- The header of the original message is following. ---\n\
         \n\
         {returned}",
        rcpt = r.recipient,
        text = r.text,
        returned = returned(r),
    )
}

/// Exim's own sentences (exim/src: deliver.c, route.c, routers, transports, parser.c), each
/// under the failed address in Exim's notice. Source of every pair: Sisimai's lhost exim table
/// (go-sisimai `lhost/via-exim.go`, `messagesof` and `delayedfor`), which cites the line of
/// Exim's source that prints it.
#[test]
fn lhost_exim_own_sentences() {
    use Reason::*;
    const U: &str = "user@example.org";
    check(
        "lhost exim",
        "relay.example.net",
        Layouts::Own(as_exim),
        &[
            // route.c: getpwnam() found no such user.
            row(U, None, "", "", "user not found", UserUnknown),
            // transports/smtp.c: no address for any host of the domain.
            row(
                U,
                None,
                "",
                "",
                "all host address lookups failed permanently",
                HostUnknown,
            ),
            // routers/dnslookup.c.
            row(
                U,
                None,
                "",
                "",
                "all relevant MX records point to non-existent hosts",
                HostUnknown,
            ),
            // route.c: no router accepted the address.
            row(U, None, "", "", "Unrouteable address", HostUnknown),
            // transports/appendfile.c: the quota.
            row(
                U,
                None,
                "",
                "",
                "mailbox is full (quota exceeded while writing to file /var/mail/user)",
                MailboxFull,
            ),
            row(U, None, "", "", "error: quota exceeded", MailboxFull),
            // routers/dnslookup.c: a null MX (RFC 7505).
            row(
                U,
                None,
                "",
                "",
                "an MX or SRV record indicated no SMTP service",
                NotAccept,
            ),
            // transports/smtp.c.
            row(
                U,
                None,
                "",
                "",
                "no host found for existing SMTP connection",
                NotAccept,
            ),
            // parser.c: an address Exim cannot parse.
            row(
                U,
                None,
                "",
                "",
                "angle-brackets nested too deep",
                SyntaxError,
            ),
            row(
                U,
                None,
                "",
                "",
                "missing or malformed local part (expected word or \"<\")",
                SyntaxError,
            ),
            row(
                U,
                None,
                "",
                "",
                "domain missing in source-routed address",
                SyntaxError,
            ),
            row(
                U,
                None,
                "",
                "",
                "malformed address: > may not follow <user@example.org",
                SyntaxError,
            ),
            // deliver.c: a redirect to a file or pipe the router may not use.
            row(U, None, "", "", "delivery to file forbidden", SystemError),
            row(U, None, "", "", "delivery to pipe forbidden", SystemError),
            // transports/pipe.c: the user-visible text of a failed local delivery.
            row(U, None, "", "", "local delivery failed", SystemError),
            // transports/lmtp.c.
            row(
                U,
                None,
                "",
                "",
                "LMTP error after end of data: 451 4.3.0 Temporary failure",
                SystemError,
            ),
            // deliver.c: received_headers_max.
            row(
                U,
                None,
                "",
                "",
                "Too many \"Received\" headers - suspected mail loop",
                ContentError,
            ),
            // retry.c: the retry period ran out.
            row(U, None, "", "", "retry timeout exceeded", Expired),
            // transports/smtp.c.
            row(
                U,
                None,
                "",
                "",
                "retry time not reached for any host after a long failure period",
                Expired,
            ),
            row(
                U,
                None,
                "",
                "",
                "all hosts have been failing for a long time and were last tried after this message arrived",
                Expired,
            ),
            // deliver.c: the delay warning ("No action is required on your part").
            row(
                U,
                None,
                "",
                "4.0.0",
                "host mx.example.org [192.0.2.25]: Connection timed out",
                Expired,
            ),
        ],
    );
}

/// The qmail-ldap patch's own sentences (qmail-ldap-1.03-20040101.patch), which qmail's notice
/// carries and whose words mean one reason wherever they are read. Source of every pair:
/// Sisimai's lhost qmail table (go-sisimai `lhost/via-qmail.go`, `failonldap`).
const QMAIL_LDAP: &[Row] = &[
    row(
        "user@example.org",
        None,
        "",
        "",
        "The message exeeded the maximum size the user accepts. (#5.2.3)",
        Reason::ExceedLimit,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Mailaddress is administrativly disabled. (#5.2.1)",
        Reason::Suspend,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Mailaddress is administratively disabled. (#5.2.1)",
        Reason::Suspend,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Automatic homedir creator crashed. (#4.3.0)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Illegal value in LDAP attribute. (#5.3.5)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "LDAP attribute is not given but mandatory. (#5.3.5)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Timeout while performing search on LDAP server. (#4.4.3)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Too many results returned but needs to be unique. (#5.3.5)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Temporary error in automatic homedir creation. (#4.3.0)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Temporary failure in LDAP lookup. (#4.4.3)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Unable to contact LDAP server. (#4.4.3)",
        Reason::SystemError,
    ),
    row(
        "user@example.org",
        None,
        "",
        "",
        "Unable to login into LDAP server, bad credentials. (#4.4.3)",
        Reason::SystemError,
    ),
];

/// qmail's own sentences (qmail-remote.c, qmail-local.c, error_str.c) and the qmail-ldap
/// patch's, in qmail's notice. Source of every pair: Sisimai's lhost qmail table (go-sisimai
/// `lhost/via-qmail.go`, `messagesof` and `failonldap`).
#[test]
fn lhost_qmail_own_sentences() {
    use Reason::*;
    const U: &str = "user@example.org";
    check(
        "lhost qmail",
        "relay.example.net",
        Layouts::Qmail,
        &[
            row(
                U,
                None,
                "",
                "",
                "Sorry, I couldn't find any host by that name. (#4.1.2)",
                HostUnknown,
            ),
            row(
                U,
                None,
                "",
                "",
                "Unable to write new file: disk quota exceeded. (#4.3.0)",
                MailboxFull,
            ),
            row(
                U,
                None,
                "",
                "",
                "Remote host said: 552 Message size exceeds fixed maximum message size: 10485760 bytes",
                MesgTooBig,
            ),
            row(
                U,
                None,
                "",
                "",
                "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)",
                NetworkError,
            ),
            row(
                U,
                None,
                "",
                "",
                "Sorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)",
                NetworkError,
            ),
            // notqmail 1.08, for a null MX.
            row(
                U,
                None,
                "",
                "",
                "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)",
                NotAccept,
            ),
            row(
                U,
                None,
                "",
                "",
                "/var/qmail/bin/filter: bad interpreter: No such file or directory",
                SystemError,
            ),
            row(
                U,
                None,
                "",
                "",
                "Sorry, no mailbox here by that name. (#5.1.1)",
                UserUnknown,
            ),
            // qmail-send.c: the queue lifetime ran out.
            row(
                U,
                None,
                "",
                "",
                "I'm not going to try again; this message has been in the queue too long.",
                Expired,
            ),
        ],
    );
    check(
        "lhost qmail-ldap",
        "relay.example.net",
        Layouts::Qmail,
        QMAIL_LDAP,
    );
}

/// The own sentences of the MTAs Sisimai reads with a module of its own, each in its MTA's
/// notice. Source of every pair: Sisimai's lhost tables (go-sisimai `lhost/via-<mta>.go`,
/// `messagesof` or the like), which name where the MTA prints them.
#[test]
fn lhost_own_sentences() {
    use Reason::*;
    const U: &str = "user@example.org";
    let tables: &[(&str, Layout, &[Row])] = &[
        // via-courier.go (courier/module.esmtp/esmtpclient.c).
        (
            "courier",
            as_courier,
            &[
                row(U, None, "", "5.0.0", "No such domain.", HostUnknown),
                row(
                    U,
                    None,
                    "",
                    "5.0.0",
                    "This domain's DNS violates RFC 1035.",
                    SystemError,
                ),
                row(U, None, "", "4.0.0", "DNS lookup failed.", NetworkError),
            ],
        ),
        // via-domino.go.
        (
            "domino",
            as_domino,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Cannot route mail to user (user@example.org)",
                    Filtered,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Several matches found in Domino Directory for user (user@example.org)",
                    SystemError,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "User some.name (user@example.org) not listed in Domino Directory",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "User some.name (user@example.org) not listed in public Name & Address Book",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "El usuario some.name (user@example.org) no se encuentra en el Directorio de Domino",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "L'utilisateur some.name (user@example.org) non répertorié dans l'annuaire Domino",
                    UserUnknown,
                ),
            ],
        ),
        // via-notes.go.
        (
            "notes",
            as_notes,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Message has exceeded maximum hop count",
                    NetworkError,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "User not listed in public Name & Address Book",
                    UserUnknown,
                ),
            ],
        ),
        // via-opensmtpd.go (smtpd/mta.c, smtpd/queue.c).
        (
            "opensmtpd",
            as_opensmtpd,
            &[
                row(U, None, "", "", "Envelope expired", Expired),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Could not retrieve credentials",
                    SecurityError,
                ),
                row(U, None, "", "", "Invalid domain name", HostUnknown),
                row(U, None, "", "", "Domain does not exist", HostUnknown),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Address family mismatch on destination MXs",
                    NetworkError,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "All routes to destination blocked",
                    NetworkError,
                ),
                row(U, None, "", "", "bad DNS lookup error code", NetworkError),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Could not retrieve source address",
                    NetworkError,
                ),
                row(U, None, "", "", "Loop detected", NetworkError),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Network error on destination MXs",
                    NetworkError,
                ),
                row(U, None, "", "", "No valid route to remote MX", NetworkError),
                row(
                    U,
                    None,
                    "",
                    "",
                    "No valid route to destination",
                    NetworkError,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Temporary failure in MX lookup",
                    NetworkError,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Destination seem to reject all mails",
                    NotAccept,
                ),
                row(U, None, "", "", "No MX found for domain", NotAccept),
                row(U, None, "", "", "No MX found for destination", NotAccept),
            ],
        ),
        // via-gmail.go: Google's notes of where the session failed, and its own DNS errors.
        (
            "gmail",
            as_gmail_text,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 500 Remote server does not support TLS (state 6).",
                    FailedStartTls,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 535 SMTP AUTH failed with the remote server. (state 8).",
                    SystemError,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 500 Remote server does not support SMTP Authenticated Relay (state 12).",
                    NoRelaying,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 550 550 5.1.1 <user@example.org>... User Unknown (state 14).",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 550 550 5.2.2 <user@example.org>... Mailbox Full (state 14).",
                    MailboxFull,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 554 554 Error: no valid recipients (state 15).",
                    Filtered,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 550 550 <user@example.org> No such user here (state 17).",
                    Filtered,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Google tried to deliver your message, but it was rejected by the recipient domain. We recommend contacting the other email provider for further information about the cause of this error. The error that the other server returned was: 550 550 Unknown user user@example.org (state 18).",
                    Filtered,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "DNS Error: Domain name not found",
                    HostUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "DNS Error: DNS server returned answer with no data",
                    HostUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "4.0.0",
                    "DNS Error: Could not contact DNS servers",
                    Expired,
                ),
                row(
                    U,
                    None,
                    "",
                    "4.0.0",
                    "The recipient server did not accept our requests to connect. Learn more at https://support.google.com/mail/answer/7720 [mx.example.org. 192.0.2.25: timed out]",
                    Expired,
                ),
            ],
        ),
        // via-googleworkspace.go.
        (
            "google workspace",
            as_google_workspace,
            &[row(
                U,
                None,
                "",
                "",
                "Your message wasn't delivered to user@example.org because the address couldn't be found. Check for typos or unnecessary spaces and try again.",
                UserUnknown,
            )],
        ),
        // via-imailserver.go.
        (
            "imail",
            as_imail,
            &[
                row(U, None, "", "", "Unknown host", HostUnknown),
                row(U, None, "", "", "Unknown user", UserUnknown),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Invalid final delivery userid",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "User mailbox exceeds allowed size",
                    MailboxFull,
                ),
                row(
                    U,
                    None,
                    "554",
                    "",
                    "Requested action not taken: virus detected",
                    VirusDetected,
                ),
                row(
                    U,
                    None,
                    "550",
                    "",
                    "Blacklisted URL in message",
                    SpamDetected,
                ),
                row(U, None, "", "", "Delivery failed 1 attempts", Expired),
            ],
        ),
        // via-messagingserver.go.
        (
            "messaging server",
            as_messaging_server,
            &[row(
                U,
                None,
                "",
                "5.1.2",
                "Illegal host/domain name found",
                HostUnknown,
            )],
        ),
        // via-kddi.go.
        (
            "kddi",
            as_kddi,
            &[
                row(U, None, "", "", "As their mailbox is full.", MailboxFull),
                row(
                    U,
                    None,
                    "",
                    "",
                    "Due to the following SMTP relay error.",
                    NoRelaying,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "As the remote domain doesnt exist.",
                    HostUnknown,
                ),
            ],
        ),
        // via-ezweb.go.
        (
            "ezweb",
            as_ezweb,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Your message was not delivered within 0 days and 1 hours.\nRemote host is not responding.",
                    Expired,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "The user(s) account is temporarily over quota.",
                    MailboxFull,
                ),
                row(U, None, "", "", "The user(s) account is disabled.", Suspend),
                row(
                    U,
                    None,
                    "",
                    "",
                    "The user(s) account is temporarily limited.",
                    Suspend,
                ),
            ],
        ),
        // via-biglobe.go.
        (
            "biglobe",
            as_biglobe,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Mail Delivery Failed... User unknown",
                    Filtered,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "The number of messages in recipient's mailbox exceeded the local limit.",
                    MailboxFull,
                ),
            ],
        ),
        // via-verizon.go.
        (
            "verizon",
            as_verizon,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "550 - Requested action not taken: no such user here",
                    UserUnknown,
                ),
                row(U, None, "", "", "No valid recipients", UserUnknown),
            ],
        ),
        // via-zoho.go.
        (
            "zoho",
            as_zoho,
            &[row(U, None, "421", "", "Host not reachable.", Expired)],
        ),
        // via-einsundeins.go, via-gmx.go.
        (
            "gmx",
            as_gmx,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Mail size limit exceeded. For explanation visit\nhttp://postmaster.1and1.com/en/error-messages?ip=%1s",
                    MesgTooBig,
                ),
                row(U, None, "", "", "delivery retry timeout exceeded", Expired),
            ],
        ),
        // via-dragonfly.go (dma.c, net.c).
        (
            "dragonfly",
            as_dragonfly,
            &[
                row(
                    U,
                    None,
                    "",
                    "",
                    "Could not deliver for the last 432000 seconds. Giving up.",
                    Expired,
                ),
                row(
                    U,
                    None,
                    "",
                    "",
                    "DNS lookup failure: host example.org not found",
                    HostUnknown,
                ),
            ],
        ),
        // via-exchange2003.go: the NDR codes of the MSEXCH: line.
        (
            "exchange2003",
            as_exchange2003,
            &[
                row(U, None, "000C05A6", "", "Unknown Recipient", UserUnknown),
                row(U, None, "000C0595", "", "Ambiguous Recipient", Filtered),
                // The table's systemerror is one Sisimai looks at again (as it does every
                // weak reason): the words name too many recipients, and that reason stands.
                row(U, None, "00010256", "", "Too many recipients", TooManyConn),
                row(
                    U,
                    None,
                    "000D06B5",
                    "",
                    "No proxy for recipient (non-smtp mail?)",
                    SystemError,
                ),
                row(U, None, "00120270", "", "Too Many Hops", NetworkError),
                row(
                    U,
                    None,
                    "00050311",
                    "",
                    "Conversion to Internet format failed",
                    ContentError,
                ),
                row(
                    U,
                    None,
                    "000502CC",
                    "",
                    "Conversion to Internet format failed",
                    ContentError,
                ),
                row(
                    U,
                    None,
                    "000B0981",
                    "",
                    "502 Server does not support AUTH",
                    SecurityError,
                ),
            ],
        ),
        // via-exchange2007.go: the NDR codes.
        (
            "exchange2007",
            as_exchange2007,
            &[
                row(
                    U,
                    None,
                    "554",
                    "5.4.4",
                    "SMTPSEND.DNS.NonExistentDomain; nonexistent domain",
                    HostUnknown,
                ),
                // The table's networkerror is looked at again: X.4.4 names hostunknown, and
                // the words are none of the network errors Sisimai's tables know.
                row(
                    U,
                    None,
                    "554",
                    "5.4.4",
                    "SMTPSEND.DNS.MxLoopback; DNS records for the destination domain are configured in a loop",
                    HostUnknown,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.2.0",
                    "RESOLVER.ADR.BadPrimary; the primary SMTP address is invalid",
                    SystemError,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.1.1",
                    "RESOLVER.ADR.RecipNotFound; not found",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.1.1",
                    "RESOLVER.ADR.ExRecipNotFound; not found",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.5.3",
                    "RESOLVER.ADR.RecipLimit; too many recipients",
                    TooManyConn,
                ),
                // The table's systemerror is looked at again: X.1.0 with an invalid address
                // is an unknown user.
                row(
                    U,
                    None,
                    "550",
                    "5.1.0",
                    "RESOLVER.ADR.InvalidInSmtp; address invalid",
                    UserUnknown,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.1.4",
                    "RESOLVER.ADR.Ambiguous; ambiguous address",
                    SystemError,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.7.1",
                    "RESOLVER.RST.AuthRequired; authentication required",
                    SecurityError,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.7.1",
                    "RESOLVER.RST.NotAuthorized; not authorized",
                    Rejected,
                ),
                row(
                    U,
                    None,
                    "550",
                    "5.2.3",
                    "RESOLVER.RST.RecipSizeLimit; message too large for this recipient",
                    ExceedLimit,
                ),
                row(
                    U,
                    None,
                    "550",
                    "4.4.7",
                    "QUEUE.Expired; message expired",
                    Expired,
                ),
            ],
        ),
    ];
    let wrong: Vec<String> = tables
        .iter()
        .flat_map(|(name, layout, rows)| {
            wrong_rows(name, "relay.example.net", Layouts::Own(*layout), rows)
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The lists fml refuses a post to name themselves in its words. Source of every pair:
/// Sisimai's lhost fml table (go-sisimai `lhost/via-fml.go`, `errortable`).
#[test]
fn lhost_fml_own_sentences() {
    use Reason::*;
    const L: &str = "list@lists.example.org";
    check(
        "lhost fml",
        "lists.example.org",
        Layouts::Own(as_fml),
        &[
            row(
                L,
                None,
                "",
                "",
                "Your mail has an X-ML-Info: header, this header may cause mail loop",
                Rejected,
            ),
            row(
                L,
                None,
                "",
                "",
                "NOT MEMBER article from sender@example.com",
                Rejected,
            ),
            row(
                L,
                None,
                "",
                "",
                "reject mail from sender@example.com",
                Rejected,
            ),
            row(
                L,
                None,
                "",
                "",
                "reject spammers: sender@example.com",
                Rejected,
            ),
            row(
                L,
                None,
                "",
                "",
                "You are not a member of this mailing list",
                Rejected,
            ),
            row(L, None, "", "", "Duplicated Message-ID", NotCompliantRfc),
            row(
                L,
                None,
                "",
                "",
                "Security alert: sender@example.com",
                SecurityError,
            ),
            row(
                L,
                None,
                "",
                "",
                "fml has detected a loop condition so that",
                SystemError,
            ),
            row(
                L,
                None,
                "",
                "",
                "Loop Back Warning: sender@example.com",
                SystemError,
            ),
        ],
    );
}

/// The MTAs' own sentences whose words mean one reason whoever prints them, in a notice their
/// MTA's reader does not know (a plain `<address>: words` paragraph, or a remote's reply): the
/// general tables must read them. Source of every pair: Sisimai's lhost tables (go-sisimai
/// `lhost/via-<mta>.go`), named per row.
#[test]
fn lhost_sentences_without_their_notice() {
    use Reason::*;
    const U: &str = "user@example.org";
    check(
        "lhost words",
        "mx1.example.org",
        Layouts::Text,
        &[
            // via-exim.go: routers/dnslookup.c.
            row(
                U,
                None,
                "",
                "",
                "all relevant MX records point to non-existent hosts",
                HostUnknown,
            ),
            // via-qmail.go: qmail-remote.c.
            row(
                U,
                None,
                "",
                "",
                "Sorry, I couldn't find any host named example.org. (#5.1.2)",
                HostUnknown,
            ),
            row(
                U,
                None,
                "",
                "",
                "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)",
                NetworkError,
            ),
            row(
                U,
                None,
                "",
                "",
                "Sorry. Although I'm listed as a best-preference MX or A for that host, it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)",
                NetworkError,
            ),
            // via-qmail.go: qmail-local.c, and vpopmail's chkuser at RCPT.
            row(
                U,
                RCPT,
                "550",
                "",
                "sorry, no mailbox here by that name. (#5.1.1 - chkuser)",
                UserUnknown,
            ),
            // via-courier.go: esmtpclient.c.
            row(
                U,
                None,
                "",
                "",
                "This domain's DNS violates RFC 1035.",
                SystemError,
            ),
            // via-domino.go, via-notes.go: refused at RCPT (without the command, Sisimai's rule
            // reads an unknown user as a filter's refusal, as for any words of an unknown user).
            row(
                U,
                RCPT,
                "550",
                "",
                "User some.name (user@example.org) not listed in Domino Directory",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "User not listed in public Name & Address Book",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "El usuario some.name (user@example.org) no se encuentra en el Directorio de Domino",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "L'utilisateur some.name (user@example.org) non répertorié dans l'annuaire Domino",
                UserUnknown,
            ),
            row(
                U,
                None,
                "",
                "",
                "Message has exceeded maximum hop count",
                NetworkError,
            ),
            // via-opensmtpd.go: smtpd/mta.c.
            row(
                U,
                None,
                "",
                "",
                "Destination seem to reject all mails",
                NotAccept,
            ),
            // via-imailserver.go.
            row(
                U,
                RCPT,
                "550",
                "",
                "Invalid final delivery userid",
                UserUnknown,
            ),
            // via-messagingserver.go.
            row(
                U,
                None,
                "",
                "",
                "Illegal host/domain name found",
                HostUnknown,
            ),
        ],
    );
    check(
        "lhost qmail-ldap words",
        "mx1.example.org",
        Layouts::Text,
        QMAIL_LDAP,
    );
}

/// Providers that no table of ours names, in the words their postmaster pages (or the pages
/// that collect them) publish: a test of whether the general rules read texts they were not
/// written for. Replies whose documented meaning is not one reason (a domain's "filters",
/// "restricted by policy") are left out.
#[test]
fn providers_without_a_table() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "providers without a table",
        "mx.example.org",
        Layouts::Both,
        &[
            // Rackspace (smtp.codes/rackspace): its replies carry a G-code.
            row(
                U,
                CONNECT,
                "421",
                "",
                "Too many concurrent connections from this client (G2)",
                TooManyConn,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.7.1",
                "Client host 192.0.2.25 has no PTR record (G1F)",
                RequirePtr,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.2.1",
                "<someone@example.org>: Mailbox received too much email in a short period of time (G30)",
                Speeding,
            ),
            row(
                U,
                DATA,
                "450",
                "4.4.6",
                "Routing loop detected (G16)",
                NetworkError,
            ),
            // AT&T (smtp.codes/550): a refusal for the client's reverse DNS.
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "Connections not accepted from servers without a valid sender domain. ## Fix reverse DNS for 192.0.2.25",
                RequirePtr,
            ),
            // United Internet: GMX, WEB.DE, mail.com (postmaster.gmx.com/en/error-messages,
            // smtp.codes/unitedinternet). No enhanced codes; multi-line replies.
            row(
                U,
                CONNECT,
                "554",
                "",
                "gmx.net (mxgmx104) Nemesis ESMTP Service not available 554-No SMTP service 554-IP address is block listed. 554 For explanation visit https://postmaster.gmx.net/en/case?c=r0201&i=ip&v=192.0.2.25&r=1MNcgj-1ue23t3pyV",
                Blocked,
            ),
            row(
                U,
                MAIL,
                "550",
                "",
                "<sender@example.com>: Reject due to SPF policy. The originating IP of the message is not permitted by the domain owner",
                AuthFailure,
            ),
            // Zoho (smtp.codes/zoho).
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Email rejected per DMARC policy for example.com",
                AuthFailure,
            ),
            row(
                U,
                DATA,
                "552",
                "5.7.1",
                "virus Win.Test.EICAR_HDB-1 detected by Zoho Mail",
                VirusDetected,
            ),
            // Comcast (security.comcast.net, "Mail Delivery Error Messages": the non-specific
            // codes).
            row(
                U,
                CONNECT,
                "421",
                "",
                "Too many sessions opened",
                TooManyConn,
            ),
            row(
                U,
                CONNECT,
                "421",
                "",
                "Reverse DNS failure : Try again later",
                RequirePtr,
            ),
            // Older providers' quota replies (Juno, AOL, Hotmail, as a help page quotes them).
            row(
                U,
                RCPT,
                "552",
                "",
                "<someone@example.org>... Mail quota exceeded",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "552",
                "",
                "someone@example.org has a full mailbox",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "552",
                "",
                "Requested mail action aborted: exceeded storage allocation",
                MailboxFull,
            ),
            // The replies Yandex's help lists under "the recipient's mailbox is full" and
            // "considered spam" (yandex.com/support/mail/bounces/other).
            row(U, RCPT, "552", "", "Account is full", MailboxFull),
            row(
                U,
                DATA,
                "550",
                "",
                "Error writing message: Disk quota exceeded",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Sorry, message looks like SPAM to me",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Message rejected under suspicion of SPAM",
                SpamDetected,
            ),
            // A Chinese provider's reply list (Coremail-style, as a Sina blog documents it).
            row(U, RCPT, "550", "", "user is locked", Suspend),
            row(U, CONNECT, "550", "", "black ip", Blocked),
            row(
                U,
                DATA,
                "552",
                "",
                "message rejected by anti-spam engine",
                SpamDetected,
            ),
            row(U, DATA, "552", "", "looping message", NetworkError),
            row(U, DATA, "552", "", "message is too long", MesgTooBig),
            row(U, DATA, "552", "", "Virus found", VirusDetected),
            row(U, CONNECT, "554", "", "rbl deny", Blocked),
            row(U, RCPT, "553", "", "host denies relay", NoRelaying),
            row(U, MAIL, "553", "", "host denies the sender", Rejected),
            row(U, DATA, "554", "", "attachment is too long", MesgTooBig),
            // Spambrella's gateway (spambrella.com/faq/email-delivery-error-codes).
            row(
                U,
                RCPT,
                "452",
                "4.3.1",
                "Insufficient system resources",
                SystemFull,
            ),
            row(U, MAIL, "550", "5.1.0", "sender rejected", Rejected),
        ],
    );
    // Words of an unknown mailbox, which only the command they answered tells from a filter's
    // verdict (without it they read as the filter's, see `rfc_replies`): as a notice that
    // names the command.
    check(
        "providers without a table, at RCPT",
        "mx.example.org",
        Layouts::Text,
        &[
            // AT&T (smtp.codes/550): an unknown addressee under a "mailbox disabled" status.
            row(
                U,
                RCPT,
                "550",
                "5.2.1",
                "<someone@example.org>... Addressee unknown, relay=[192.0.2.25]",
                UserUnknown,
            ),
            // Barracuda (smtp.codes/550).
            row(
                U,
                RCPT,
                "550",
                "",
                "cuda_nsu 5.1.1 <someone@example.org> Recipient address rejected: User unknown",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "No such user (someone@example.org)",
                UserUnknown,
            ),
            // GMX, WEB.DE, mail.com (smtp.codes/unitedinternet).
            row(
                U,
                RCPT,
                "550",
                "",
                "<someone@example.org>: Requested action not taken: mailbox unavailable",
                UserUnknown,
            ),
        ],
    );
}

/// Mail gateways' and relay services' own refusals, as their support pages list them.
#[test]
fn gateways_without_a_table() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "gateways without a table",
        "mx.example.org",
        Layouts::Both,
        &[
            // Hornetsecurity/antispameurope ("Workspace classification codes",
            // support.everycloud.com).
            row(
                U,
                MAIL,
                "450",
                "4.1.8",
                "Sender address rejected: Domain not found",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "504",
                "5.5.2",
                "Sender address rejected: need fully-qualified address",
                Rejected,
            ),
            // A relay service's refusals (iridis mailRelay, "response codes").
            row(
                U,
                RCPT,
                "550",
                "",
                "RPT-VFY Recipient domain does not exist",
                HostUnknown,
            ),
            row(
                U,
                MAIL,
                "550",
                "",
                "SND-VFY Sender domain does not exist",
                Rejected,
            ),
            row(
                U,
                DATA,
                "550",
                "",
                "MSG-RFC Your message does not conform to RFC2822 standard",
                NotCompliantRfc,
            ),
            row(U, RCPT, "550", "", "Relay Prohibited", NoRelaying),
            row(
                U,
                MAIL,
                "451",
                "",
                "HST-RTE Hourly send rate exceeded, retry later.",
                Speeding,
            ),
        ],
    );
    check(
        "gateways without a table, at RCPT",
        "mx.example.org",
        Layouts::Text,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "Recipient address rejected: undeliverable address",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "unknown domain or unknown recipient (LDAP check)",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "RPT-VFY Recipient does not exist",
                UserUnknown,
            ),
        ],
    );
}

/// NetEase (163.com, 126.com, yeah.net), whose postmaster help ("退信代码说明", help.mail.163.com)
/// explains the code in each of its refusals.
#[test]
fn netease() {
    use Reason::*;
    const U: &str = "someone@163.com";
    const SEE: &str = "163mx01,QMCowEC5pwBD3fJjHgsAAA--.4S2 1765000000, please see http://mail.163.com/help/help_spam_16.htm?ip=192.0.2.25&hostid=163mx01&time=1765000000";
    let rows: Vec<Row> = [
        ("421", CONNECT, "HL:REP", BadReputation),
        ("421", CONNECT, "HL:ICC", TooManyConn),
        ("421", CONNECT, "HL:IFC", Speeding),
        ("421", CONNECT, "HL:MEP", Blocked),
        ("450", RCPT, "DT:RBL", Blocked),
        ("450", MAIL, "WM:BLU", Rejected),
        ("450", RCPT, "RP:DRC", TooManyConn),
        ("451", MAIL, "MI:SFQ", Speeding),
        ("451", DATA, "DT:SPM", SpamDetected),
        ("554", DATA, "DT:SPM", SpamDetected),
        ("554", CONNECT, "HL:IPB", Blocked),
    ]
    .into_iter()
    .map(|(code, command, label, reason)| {
        let text: &'static str = Box::leak(format!("{label} {SEE}").into_boxed_str());
        row(U, command, code, "", text, reason)
    })
    .collect();
    check(
        "netease",
        "163mx01.mxmail.netease.com",
        Layouts::Both,
        &rows,
    );
}

/// Yandex's own refusals ("Report on non-delivery to Yandex", yandex.com/support/mail/bounces).
#[test]
fn yandex() {
    use Reason::*;
    const U: &str = "someone@yandex.ru";
    check(
        "yandex",
        "mx.yandex.ru",
        Layouts::Both,
        &[
            // The recipient's account is blocked for breaking the user agreement.
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "Policy rejection on the target address",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "552",
                "5.2.2",
                "Mailbox size limit exceeded",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "Mailbox size exceeded",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "554",
                "5.7.1",
                "Message infected by virus",
                VirusDetected,
            ),
            row(
                U,
                DATA,
                "554",
                "5.7.1",
                "[2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc 1765000000-AbCdEfGh",
                SpamDetected,
            ),
        ],
    );
    check(
        "yandex, at RCPT",
        "mx.yandex.ru",
        Layouts::Text,
        &[row(U, RCPT, "550", "5.7.1", "No such user!", UserUnknown)],
    );
}

/// Coremail (the server of many Chinese providers and companies): the refusals its support
/// pages explain ("退信提示", icoremail.vip/support); and Mail.ru's, as its help and the pages
/// that quote it print them.
#[test]
fn coremail_and_mail_ru() {
    use Reason::*;
    const U: &str = "someone@example.cn";
    check(
        "coremail",
        "mx.example.cn",
        Layouts::Both,
        &[
            row(
                U,
                CONNECT,
                "554",
                "",
                "Requested mail action not taken: Invalid IP",
                Blocked,
            ),
            row(U, CONNECT, "554", "", "IP is rejected", Blocked),
            row(
                U,
                MAIL,
                "553",
                "",
                "Requested mail action not taken: Fake sender",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "553",
                "",
                "Requested action not taken: NULL sender is not allowed",
                Rejected,
            ),
            row(U, MAIL, "553", "", "sender is rejected", Rejected),
            row(
                U,
                RCPT,
                "550",
                "",
                "Requested action not taken: Local user only",
                NoRelaying,
            ),
            row(U, RCPT, "550", "", "User suspended", Suspend),
        ],
    );
    check(
        "coremail, at RCPT",
        "mx.example.cn",
        Layouts::Text,
        &[row(U, RCPT, "550", "", "User not found", UserUnknown)],
    );
    const M: &str = "someone@mail.ru";
    check(
        "mail.ru",
        "mxs.mail.ru",
        Layouts::Both,
        &[
            row(
                M,
                DATA,
                "550",
                "5.7.1",
                "This message was not accepted due to domain owner DMARC policy (RFC 7489) https://help.mail.ru/mail-help/postmaster/dmarc",
                AuthFailure,
            ),
            row(
                M,
                DATA,
                "550",
                "",
                "spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=AbCdEf0123 or report details to abuse@corp.mail.ru. Error code: 0123456789. ID: 00000000000000000.",
                SpamDetected,
            ),
            row(
                M,
                RCPT,
                "550",
                "",
                "Message was not accepted -- invalid mailbox.  Local mailbox someone@mail.ru is unavailable: account is disabled",
                Suspend,
            ),
        ],
    );
}

/// hMailServer's documented SMTP refusals (hmailserver.com/documentation, "Error messages")
/// and Baruwa's (a MailScanner front end; a gateway's "info" page lists its refusals).
#[test]
fn hmailserver_and_baruwa() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "hmailserver and baruwa",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "",
                "Delivery is not allowed to this address.",
                NoRelaying,
            ),
            row(
                U,
                RCPT,
                "530",
                "",
                "SMTP authentication is required.",
                NoRelaying,
            ),
            row(U, MAIL, "550", "", "Sender verification failed", Rejected),
            row(
                U,
                CONNECT,
                "554",
                "",
                "The sender is in a black list rbl.baruwa.net",
                Blocked,
            ),
            row(U, RCPT, "550", "", "Relay not permitted", NoRelaying),
        ],
    );
    check(
        "baruwa, at RCPT",
        "mx.example.org",
        Layouts::Text,
        &[
            row(
                U,
                RCPT,
                "550",
                "",
                "Recipient verification failed",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "The email address does not exist",
                UserUnknown,
            ),
        ],
    );
}

/// The MTAs' own limits and failures, in the words their sources print: Postfix's smtpd
/// rate limits (anvil, smtpd.c), Exim's routing and size refusals. (Sendmail's "reply: read
/// error from <host>" under its expiry status stays `expired`: see the oracles' scenario 37.)
#[test]
fn mta_limits_and_failures() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "mta limits and failures",
        "mx.example.org",
        Layouts::Both,
        &[
            // Postfix smtpd_client_message_rate_limit and smtpd_client_new_tls_session_rate_limit.
            row(
                U,
                RCPT,
                "450",
                "4.7.1",
                "mx.example.org Error: too much mail from 192.0.2.25",
                Speeding,
            ),
            row(
                U,
                CONNECT,
                "421",
                "4.7.0",
                "mx.example.org Error: too many new TLS sessions from 192.0.2.25",
                TooManyConn,
            ),
            // Exim's router: no MX host exists; its transport's size limit.
            row(
                U,
                RCPT,
                "550",
                "",
                "all relevant MX records point to non-existent hosts",
                HostUnknown,
            ),
            row(
                U,
                DATA,
                "552",
                "",
                "message is too big (transport limit = 1048576)",
                MesgTooBig,
            ),
        ],
    );
}

/// Security gateways' refusals as their vendors' pages print them: Trend Micro (Email
/// Reputation Services FAQ, success.trendmicro.com 1097055; Deep Discovery Email Inspector's
/// "SMTP error codes"; InterScan's "Domain of forward path is not allowed", KB 1106332),
/// Cisco Secure Email (AsyncOS CLI reference, the SPF/SIDF default reject text), Proofpoint
/// (Essentials' SPF refusal, a 404andmore.com write-up of it; the PDR block with its IP-check
/// link, as suped.com quotes it), Broadcom Email Security.cloud's lists of the refusals its
/// customers meet ("Common external Spam Filtering Error Codes", KB 169925; "Outbound mail
/// returned by MAILER-DAEMON", KB 162445) and Hornetsecurity's reason codes
/// (support.everycloud.com, "Workspace reason codes").
#[test]
fn security_gateways() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "security gateways",
        "mx.example.org",
        Layouts::Both,
        &[
            // Trend Micro ERS: the client's IP is on its reputation lists.
            row(
                U,
                RCPT,
                "550",
                "",
                "Mail from 192.0.2.25 refused by rbl-plus.mail-abuse.org. Please refer to http://mail-abuse.org/rbl+ for an explanation",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "Service unavailable; Client host [192.0.2.25] blocked using Trend Micro RBL+. Please see http://www.mail-abuse.com/cgi-bin/lookup?ip_address=192.0.2.25",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "Permanent denial of connection (550) for RBL+ matches (ERS)",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.7.1",
                "Temporary denial of connection (450) for Zombie matches (ERS)",
                Blocked,
            ),
            // InterScan: the recipient's domain is not one it relays for.
            row(
                U,
                RCPT,
                "550",
                "",
                "Domain of forward path is not allowed",
                NoRelaying,
            ),
            // Cisco AsyncOS: the default SPF/SIDF reject text.
            row(
                U,
                MAIL,
                "550",
                "",
                "#5.7.1 SPF unauthorized mail is prohibited.",
                AuthFailure,
            ),
            // Proofpoint Essentials' SPF refusal; Proofpoint's Dynamic Reputation block.
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Message rejected per sender's SPF policy - OXSUS001_514",
                AuthFailure,
            ),
            row(
                U,
                CONNECT,
                "554",
                "5.7.0",
                "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.25",
                Blocked,
            ),
            // Broadcom's lists of the refusals its customers' mail meets.
            row(
                U,
                RCPT,
                "550",
                "",
                "\"5.7.0\" Mail relay denied",
                NoRelaying,
            ),
            row(
                U,
                DATA,
                "550",
                "5.7.1",
                "Message rejected as spam by Content Filtering",
                SpamDetected,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "Recipient not authorized, your IP has been found on a block list",
                Blocked,
            ),
            row(
                U,
                DATA,
                "554",
                "",
                "Rejected due to spam content",
                SpamDetected,
            ),
            row(U, MAIL, "553", "", "Envelope sender rejected", Rejected),
            row(
                U,
                MAIL,
                "551",
                "",
                "Sender is on domain's blacklist",
                Rejected,
            ),
            row(
                U,
                DATA,
                "550",
                "",
                "SPF check failed. Sender not authorized",
                AuthFailure,
            ),
            row(
                U,
                DATA,
                "554",
                "5.4.7",
                "[internal] exceeded max time without delivery",
                Expired,
            ),
            // Hornetsecurity's reason codes (the rows the gateways table does not hold). Its
            // "554 5.5.6 loop detection" and "554 5.6.4 virus email blocked" are left out: their
            // own status codes name another reason (a protocol, a content error), and the code
            // wins over words that only the fallback phrases know, as in the reference.
            row(
                U,
                CONNECT,
                "554",
                "5.5.4",
                "IP sender address with a negative reputation",
                BadReputation,
            ),
            row(
                U,
                DATA,
                "554",
                "5.5.5",
                "email rejection due to Spam",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "554",
                "5.6.2",
                "spam link signature detected",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "554",
                "5.6.3",
                "spam text signature detected",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "554",
                "5.5.3",
                "email rejected due to Content Filter Size Limit",
                MesgTooBig,
            ),
        ],
    );
    check(
        "security gateways, at RCPT",
        "mx.example.org",
        Layouts::Text,
        &[row(
            U,
            RCPT,
            "550",
            "5.1.1",
            "unknown recipient (SMTP check)",
            UserUnknown,
        )],
    );
}

/// Regional providers' own lists of their refusals: Seznam (napoveda.seznam.cz, "Uživatel
/// neexistuje"), Forpsi (support.grhosting.cz, "Email se vrátil odesílateli jako
/// nedoručitelný"), Interia (pomoc.poczta.interia.pl, "Dlaczego wiadomość nie została
/// dostarczona?"), Libero and Virgilio (aiuto.libero.it / aiuto.virgilio.it, "Messaggi di
/// errore più frequenti"), Fastmail (fastmail.help, "Why messages bounce back"), a hosting
/// provider's SPF refusal (faq.c4.cz) and Mailprotector's common bouncebacks
/// (support.mailprotector.com).
#[test]
fn regional_providers() {
    use Reason::*;
    const U: &str = "someone@example.cz";
    check(
        "regional providers",
        "mx.example.cz",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "szn; User hasn't got the service mapped",
                UserUnknown,
            ),
            // Forpsi: the recipient's own blacklist names the sender; a spam verdict; SPF.
            row(
                U,
                RCPT,
                "552",
                "5.1.1",
                "5.2.2 sorry, final recipient mailbox is full (chkuser)",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<sender@example.com> sender is blacklisted",
                Rejected,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.0",
                "0biL1i00V1cmcpM01biL4w spam detected",
                SpamDetected,
            ),
            row(
                U,
                DATA,
                "550",
                "5.1.0",
                "0bcW1i00G0jifNx01bcmHa blocked by SPF",
                AuthFailure,
            ),
            // Interia; C4's "[SPF] <ip> is not allowed to send mail from <domain>".
            row(
                U,
                DATA,
                "550",
                "5.7.0",
                "[SPF] 192.0.2.25 is not allowed to send mail from example.com",
                AuthFailure,
            ),
            // Libero and Virgilio.
            row(
                U,
                RCPT,
                "552",
                "",
                "MAILBOX FULL (User quota exceeded)",
                MailboxFull,
            ),
            row(U, RCPT, "550", "", "Relay Disabled", NoRelaying),
            // Mailprotector's example of a peer's submission-rate limit.
            row(
                U,
                MAIL,
                "421",
                "4.4.2",
                "Message submission rate for this client has exceeded the configured limit",
                Speeding,
            ),
        ],
    );
    check(
        "regional providers, at RCPT",
        "mx.example.cz",
        Layouts::Text,
        &[
            row(U, RCPT, "550", "5.1.1", "Account not found", UserUnknown),
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "Recipient address rejected: User unknown in virtual mailbox table",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "Sorry, user address unknown",
                UserUnknown,
            ),
        ],
    );
}

/// Mail server products' documented replies: FTGate ("Service Error Messages",
/// docs.ftgate.com: each reply ends in a reference code the page explains), IceWarp
/// ("Interpretation of 5xx Errors in IceWarp SMTP", docs.icewarp.com), the smtpf filtering
/// proxy ("SMTP Replies", snertsoft.com) and SmarterMail's own notice ("Common email delivery
/// errors", kb.indsoft.net).
#[test]
fn mail_server_products() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "mail server products",
        "mx.example.org",
        Layouts::Both,
        &[
            // FTGate.
            row(U, RCPT, "550", "", "Mailbox Disabled (#1.00)", Suspend),
            row(
                U,
                RCPT,
                "552",
                "",
                "Allocated mailbox storage exceeded (#1.02)",
                MailboxFull,
            ),
            row(U, DATA, "452", "", "Out of disk space (#1.03)", SystemFull),
            row(
                U,
                CONNECT,
                "421",
                "",
                "Too many connections from your address (#1.04)",
                TooManyConn,
            ),
            row(
                U,
                CONNECT,
                "451",
                "4.5.1",
                "[192.0.2.25] Max concurrent sessions (#1.04)",
                TooManyConn,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.2.1",
                "someone@example.org mailbox disabled (#3.13)",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.2.2",
                "someone@example.org mailbox full (#3.14)",
                MailboxFull,
            ),
            // IceWarp: its size limit under a syntax reply code.
            row(U, DATA, "501", "5.7.1", "Message is too long", MesgTooBig),
            // smtpf: the client, the sender, and a routed address refused by its access map.
            row(
                U,
                CONNECT,
                "550",
                "5.7.1",
                "host relay.example.net [192.0.2.25] black listed #120",
                Blocked,
            ),
            row(
                U,
                MAIL,
                "550",
                "5.7.1",
                "sender <sender@example.com> black listed #127",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "routed address relaying denied #131",
                NoRelaying,
            ),
            // SmarterMail's own words for a full mailbox and a domain over its disk allocation.
            row(U, None, "", "", "The mailbox is full", MailboxFull),
            row(
                U,
                None,
                "",
                "",
                "The domain size limit has been exceeded",
                MailboxFull,
            ),
        ],
    );
}

/// Hosting providers' lists of the replies their customers meet, and a delivery agent's own
/// words: Black Pearl Mail ("Bounce Messages", support.blackpearlmail.com), Ubiquity Hosting
/// ("Delivery Status Notification", wiki.ubiquityhosting.com) and GNU Mailutils' maidag
/// ("Mailbox Quotas", its manual). (A BigPond qmail notice, "Connected to <ip> but sender was
/// rejected. Remote host said: <ip> Defined SPAM source: bl.spamcop.net", is left out: qmail's
/// own sentence names the sender's refusal, and its reader's table says `rejected`.)
#[test]
fn hosting_providers_and_agents() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "hosting providers",
        "mx.example.org",
        Layouts::Both,
        &[
            row(U, RCPT, "452", "", "Over Quota", MailboxFull),
            row(
                U,
                DATA,
                "554",
                "",
                "delivery error: Sorry your message to someone@example.org cannot be delivered. This account has been disabled or discontinued",
                Suspend,
            ),
            row(
                U,
                DATA,
                "554",
                "",
                "delivery error: Sorry, your message to someone@example.org cannot be delivered. This account is over quota.",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "Rejected: relay.example.net listed at relays.ordb.org",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "551",
                "",
                "Requested action not taken: mailbox full",
                MailboxFull,
            ),
            row(U, CONNECT, "553", "", "bad reverse dns", RequirePtr),
            // maidag's two quota refusals, from its delivery or as an LMTP reply.
            row(
                U,
                DATA,
                "550",
                "",
                "someone: mailbox quota exceeded for this recipient",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "550",
                "",
                "someone: message would exceed maximum mailbox size for this recipient",
                MailboxFull,
            ),
        ],
    );
    check(
        "hosting providers, at RCPT",
        "mx.example.org",
        Layouts::Text,
        &[
            row(
                U,
                RCPT,
                "554",
                "",
                "delivery error: This user doesn't have a example.org account",
                UserUnknown,
            ),
            row(U, RCPT, "550", "", "No Such User Here", UserUnknown),
        ],
    );
}

/// RFC 7505 (null MX), section 4: the replies for a recipient's and for a sender's domain that
/// publishes a null MX; and the short forms of a disabled account.
#[test]
fn null_mx_and_short_account_states() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "null mx and short account states",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "556",
                "5.1.10",
                "Recipient address has null MX",
                NotAccept,
            ),
            row(
                U,
                MAIL,
                "550",
                "5.7.27",
                "Sender address has null MX",
                Rejected,
            ),
            row(U, RCPT, "550", "", "Account inactive", Suspend),
            row(U, RCPT, "550", "", "Mailbox inactive", Suspend),
            row(U, RCPT, "550", "", "This account has been locked", Suspend),
        ],
    );
}

/// What open-source MTAs and delivery agents print, read from their source code, where the
/// condition that triggers each reply is plain from the code around it: chasquid
/// (albertito/chasquid, `internal/smtpsrv/conn.go`), Stalwart (stalwartlabs/mail-server,
/// `crates/smtp/src/inbound/rcpt.rs` and `mail.rs`), maddy (foxcpp/maddy,
/// `internal/storage/imapsql/delivery.go`, `internal/check/dns/dns.go`,
/// `internal/check/dnsbl/dnsbl.go`, `internal/check/spf/spf.go`), Cyrus lmtpd
/// (cyrusimap/cyrus-imapd, `imap/lmtpengine.c`, `send_lmtp_error`) and Dovecot's LMTP
/// (dovecot/core, `src/lmtp/lmtp-recipient.c` and the quota plugin's default message).
#[test]
fn open_source_mta_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "open-source mtas",
        "mx.example.org",
        Layouts::Both,
        &[
            // chasquid: a local user that does not exist; a recipient elsewhere without
            // authentication; the data over its size limit; its Received-header loop guard; a
            // sender whose SPF record fails the client; an error looking the user up.
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "Destination address is unknown (user does not exist)",
                UserUnknown,
            ),
            row(U, RCPT, "503", "5.7.1", "Relay not allowed", NoRelaying),
            row(U, DATA, "552", "5.3.4", "Message too big", MesgTooBig),
            row(
                U,
                DATA,
                "554",
                "5.4.6",
                "Loop detected (50 hops)",
                NetworkError,
            ),
            row(
                U,
                MAIL,
                "550",
                "5.7.23",
                "SPF check failed: matched -all",
                AuthFailure,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.4.3",
                "Temporary error checking address",
                SystemError,
            ),
            // Stalwart: its directory has no such mailbox (under 5.1.2, which names a bad
            // destination system, though the words name the mailbox), a relay attempt, a
            // failed directory lookup, a client without valid reverse DNS in strict mode, a
            // declared size over the limit.
            row(U, RCPT, "550", "5.1.2", "Relay not allowed.", NoRelaying),
            row(
                U,
                RCPT,
                "451",
                "4.4.3",
                "Unable to verify address at this time.",
                SystemError,
            ),
            row(
                U,
                MAIL,
                "550",
                "5.7.25",
                "Reverse DNS validation failed.",
                RequirePtr,
            ),
            row(
                U,
                MAIL,
                "552",
                "5.3.4",
                "Message too big for system.",
                MesgTooBig,
            ),
            // maddy: its storage has no such account (under reply code 501); the client is on
            // a DNSBL; SPF fails; no or a mismatched PTR; the sender's domain has no MX or a
            // null MX.
            row(U, RCPT, "501", "5.1.1", "User does not exist", UserUnknown),
            row(
                U,
                MAIL,
                "554",
                "5.7.0",
                "Client identity is listed in the used DNSBL",
                Blocked,
            ),
            row(
                U,
                MAIL,
                "550",
                "5.7.23",
                "SPF authentication failed",
                AuthFailure,
            ),
            row(U, MAIL, "550", "5.7.25", "No PTR record found", RequirePtr),
            row(
                U,
                MAIL,
                "550",
                "5.7.25",
                "rDNS name does not match source hostname",
                RequirePtr,
            ),
            row(
                U,
                MAIL,
                "501",
                "5.7.27",
                "Domain in MAIL FROM has null MX record",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "501",
                "5.7.27",
                "Domain in MAIL FROM does not have any MX records",
                Rejected,
            ),
            // Cyrus lmtpd's replies for the IMAP errors of a delivery.
            row(U, DATA, "451", "4.3.0", "System I/O error", SystemError),
            row(
                U,
                DATA,
                "451",
                "4.3.1",
                "cannot create file: out of space",
                SystemFull,
            ),
            row(
                U,
                DATA,
                "452",
                "4.2.2",
                "Over quota SESSIONID=<cyrus-4242-1>",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "Over quota SESSIONID=<cyrus-4242-1>",
                MailboxFull,
            ),
            row(U, RCPT, "550", "5.1.1", "User unknown", UserUnknown),
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Unexpected internal error",
                SystemError,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.4.3",
                "Remote server unavailable",
                SystemError,
            ),
            row(
                U,
                DATA,
                "554",
                "5.6.0",
                "Message contains bare newlines",
                ContentError,
            ),
            // Dovecot's LMTP: no such user, a storage failure, the quota plugin's default.
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<someone@example.org> User doesn't exist: someone@example.org",
                UserUnknown,
            ),
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "<someone@example.org> Temporary internal error",
                SystemError,
            ),
            row(
                U,
                DATA,
                "552",
                "5.2.2",
                "<someone@example.org> Quota exceeded (mailbox for user is full)",
                MailboxFull,
            ),
        ],
    );
    // Stalwart's unknown mailbox comes under 5.1.2, not 5.1.1: unknown-user words read as the
    // recipient's only when the reply names the recipient command.
    check(
        "open-source mtas, at RCPT",
        "mx.example.org",
        Layouts::Text,
        &[row(
            U,
            RCPT,
            "550",
            "5.1.2",
            "Mailbox does not exist.",
            UserUnknown,
        )],
    );
}

/// Filters' and policy servers' replies, read from their source code: rspamd's reject
/// action (its proxy's milter reply), iRedMail's iRedAPD (iredmail/iRedAPD,
/// `libs/__init__.py`, `SMTP_ACTIONS`: each text as Postfix relays a policy server's REJECT
/// from its recipient restrictions), OpenSMTPD's refused sender (OpenSMTPD/OpenSMTPD,
/// `usr.sbin/smtpd/smtp_session.c`, `IMSG_SMTP_CHECK_SENDER`) and Haraka's
/// `mail_from.is_resolvable` plugin (haraka/Haraka, `plugins/mail_from.is_resolvable.js`).
#[test]
fn filter_and_policy_server_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "filters and policy servers",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                DATA,
                "554",
                "5.7.1",
                "Spam message rejected",
                SpamDetected,
            ),
            // iRedAPD's senderscore plugin: the client's Sender Score is under the threshold.
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "<someone@example.org>: Recipient address rejected: Server IP address has bad reputation. FYI: https://www.senderscore.org/lookup.php?lookup=192.0.2.25",
                BadReputation,
            ),
            // Its wblist_rdns plugin: the client's reverse DNS name is blacklisted.
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "<someone@example.org>: Recipient address rejected: Blacklisted reverse DNS name of server IP address",
                Blocked,
            ),
            // Its throttle plugin's per-message size limit.
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "<someone@example.org>: Recipient address rejected: Message size exceed (maybe caused by big attachment file)",
                MesgTooBig,
            ),
            // OpenSMTPD: its sender table refused the MAIL FROM (reply code 530, no status).
            row(U, MAIL, "530", "", "Sender rejected", Rejected),
            // Haraka: the sender's domain has no MX and no A record.
            row(U, MAIL, "550", "", "No MX for your FROM address", Rejected),
        ],
    );
    check(
        "filters and policy servers, at MAIL FROM",
        "mx.example.org",
        Layouts::Text,
        &[
            // Haraka: the sender's domain has MX records whose hosts have no address.
            row(U, MAIL, "550", "", "MX without A records", Rejected),
        ],
    );
}

/// qmail's chkuser patch (its reply strings are `#define`s in `chkuser_settings.h`, in two
/// generations: denislemire/netqmail's, with the status in qmail's `(#5.x.y - chkuser)`,
/// and sagredo-dev/qmail's, with it after the reply code). Its sender checks run at the
/// first RCPT TO, so a refused sender is the answer to a recipient command, under 5.1.1 in
/// the older strings. (The older "511 sorry, can't find a valid MX for rcpt domain (#5.1.1 -
/// chkuser)" is left out: its words mean `hostunknown` but its status says `5.1.1`, and an
/// explicit unknown-user status wins over host words; the newer string says `5.1.2`.)
#[test]
fn qmail_chkuser_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "qmail chkuser",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "511",
                "",
                "sorry, no mailbox here by that name (#5.1.1 - chkuser)",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "522",
                "",
                "sorry, recipient mailbox is full (#5.2.2 - chkuser)",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "430",
                "",
                "system temporary unavailable, try again later (#4.3.0 - chkuser)",
                SystemError,
            ),
            row(
                U,
                RCPT,
                "511",
                "",
                "sorry, can't find a valid MX for sender domain (#5.1.1 - chkuser)",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "571",
                "",
                "sorry, sender address has invalid format (#5.7.1 - chkuser)",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "553",
                "",
                "sorry, that domain isn't in my list of allowed rcpthosts (#5.5.3 - chkuser)",
                NoRelaying,
            ),
            // The newer strings.
            row(
                U,
                RCPT,
                "550",
                "5.1.8",
                "sorry, can't find a valid MX for sender domain (chkuser)",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "552",
                "5.2.2",
                "sorry, recipient mailbox is full (chkuser)",
                MailboxFull,
            ),
            row(
                U,
                RCPT,
                "553",
                "5.7.1",
                "sorry, that domain isn't in my list of allowed rcpthosts (chkuser)",
                NoRelaying,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.3.0",
                "system temporary unavailable, try again later (chkuser)",
                SystemError,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.2",
                "sorry, can't find a valid MX for rcpt domain (chkuser)",
                HostUnknown,
            ),
        ],
    );
}

/// Postfix's own refusals, as `smtpd_check.c` (and `smtpd.c`) build them from the
/// restriction that failed (postfix source, `src/smtpd/smtpd_check.c`: `reject_unknown_*`,
/// `reject_unlisted_*`, `reject_unauth_destination`, `reject_rbl_client`,
/// `reject_unknown_client_hostname`, `reject_sender_login_mismatch`; `src/smtpd/smtpd.c`:
/// the queue's free space and the size limit), and its local delivery agent's failure to
/// write a mailbox over the user's disk quota (`src/local/mailbox.c`, with the C library's
/// text for `EDQUOT`). A refused sender is named as the envelope sender, the address the
/// bounce comes back to (its `To:`).
#[test]
fn postfix_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "postfix",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                MAIL,
                "450",
                "4.1.8",
                "<sender@example.com>: Sender address rejected: Domain not found",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.1.2",
                "<someone@example.org>: Recipient address rejected: Domain not found",
                HostUnknown,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "<someone@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "<someone@example.org>: Relay access denied",
                NoRelaying,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.7.1",
                "Client host rejected: cannot find your hostname, [192.0.2.10]",
                RequirePtr,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "Client host rejected: cannot find your reverse hostname, [192.0.2.10]",
                RequirePtr,
            ),
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org",
                Blocked,
            ),
            row(
                U,
                MAIL,
                "452",
                "4.3.1",
                "Insufficient system storage",
                SystemFull,
            ),
            row(
                U,
                DATA,
                "552",
                "5.3.4",
                "Message size exceeds fixed limit",
                MesgTooBig,
            ),
            row(
                U,
                RCPT,
                "553",
                "5.7.1",
                "<sender@example.com>: Sender address rejected: not owned by user alice",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.0",
                "<sender@example.com>: Sender address rejected: User unknown in local recipient table",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.3.5",
                "Server configuration error",
                SystemError,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.3.0",
                "<someone@example.org>: Temporary lookup failure",
                SystemError,
            ),
            row(
                U,
                None,
                "",
                "5.2.2",
                "cannot update mailbox /var/mail/someone for user someone. error writing message: Disk quota exceeded",
                MailboxFull,
            ),
        ],
    );
}

/// Java and Ruby mail servers' replies, from their source code: Apache James's SMTP hooks
/// (apache/james-project, `protocols/smtp/.../core/fastfail/ValidSenderDomainHandler.java`,
/// `DNSRBLHandler.java`, `AbstractValidRcptHandler.java`), Zimbra's LMTP server
/// (Zimbra/zm-mailbox, `store/src/java/com/zimbra/cs/lmtpserver/LmtpReply.java`) and
/// Postal's SMTP server (postalserver/postal, `app/lib/smtp_server/client.rb`). Left out:
/// Zimbra's "421 4.3.2 Service not available, closing transmission channel" (RFC 5321's own
/// words at the greeting read `blocked` by a deliberate rule, over the `notaccept` of 4.3.2)
/// and Postal's "552 Message too large (maximum size 14MB)" ("message too large" is the
/// reference's `exceedlimit`, though Postal's limit is the server's).
#[test]
fn java_and_ruby_server_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "java and ruby servers",
        "mx.example.org",
        Layouts::Both,
        &[
            // James: the sender's domain has no MX; the client is on a DNSBL and did not
            // authenticate; no such local user; an error while checking the recipient.
            row(
                U,
                MAIL,
                "501",
                "5.1.7",
                "sender <sender@example.com> contains a domain with no valid MX records",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "554",
                "5.7.1",
                "Rejected: unauthenticated e-mail from /192.0.2.10 is restricted.  Contact the postmaster for details.",
                Blocked,
            ),
            row(
                U,
                RCPT,
                "550",
                "5.1.1",
                "Unknown user: someone@example.org",
                UserUnknown,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.0.0",
                "Unexpected error for someone@example.org",
                SystemError,
            ),
            // Zimbra's LMTP: an account whose mailbox is disabled (under 4.2.1), the quota,
            // no such user, the LMTP service switched off.
            row(
                U,
                RCPT,
                "450",
                "4.2.1",
                "Mailbox disabled, not accepting messages",
                Suspend,
            ),
            row(U, DATA, "452", "4.2.2", "Over quota", MailboxFull),
            row(U, DATA, "552", "5.2.2", "Over quota", MailboxFull),
            row(U, RCPT, "550", "5.1.1", "No such user here", UserUnknown),
            // Postal: the recipient's mail server (its organisation's) is suspended; the data
            // is over the size limit; its Received-header loop guard.
            row(
                U,
                RCPT,
                "535",
                "",
                "Mail server has been suspended",
                Suspend,
            ),
            row(U, DATA, "550", "", "Loop detected", NetworkError),
        ],
    );
}

/// More of Postfix's own replies (postfix source: `src/smtpd/smtpd.c` for the queue file and
/// the size limits, `src/smtpd/smtpd_check.c` for the anvil rate limits and RFC 7505's null MX
/// on either side), qmail-smtpd's (notqmail/notqmail, `qmail-smtpd.c`: the size limit and the
/// hop count; John Simpson's combined qmail-smtpd patch, its `qmail-smtpd.c` as found in the
/// code index without its repository's name: `err_bmf`, `err_hmf`, `err_bhelo`, `err_relay`)
/// and policyd-weight's default DNSBL refusal (policyd-weight/policyd-weight,
/// `policyd-weight.conf`, `$MAXDNSBLMSG`, as Postfix relays a policy server's text from its
/// recipient restrictions).
#[test]
fn postfix_qmail_and_policy_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "postfix, qmail-smtpd and policyd-weight",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Queue file write error",
                SystemError,
            ),
            row(
                U,
                RCPT,
                "450",
                "4.7.1",
                "Error: too much mail from 192.0.2.10",
                Speeding,
            ),
            row(
                U,
                CONNECT,
                "421",
                "4.7.0",
                "Error: too many connections from 192.0.2.10",
                TooManyConn,
            ),
            row(U, DATA, "552", "5.3.4", "Message file too big", MesgTooBig),
            row(
                U,
                DATA,
                "552",
                "5.3.4",
                "Message size exceeds file system imposed limit",
                MesgTooBig,
            ),
            row(
                U,
                MAIL,
                "550",
                "5.7.27",
                "<sender@example.com>: Sender address rejected: Domain example.com does not accept mail",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "556",
                "5.1.10",
                "<someone@example.org>: Recipient address rejected: Domain example.org does not accept mail",
                NotAccept,
            ),
            // qmail-smtpd.
            row(
                U,
                DATA,
                "552",
                "",
                "sorry, that message size exceeds my databytes limit (#5.3.4)",
                MesgTooBig,
            ),
            row(
                U,
                DATA,
                "554",
                "",
                "too many hops, this message is looping (#5.4.6)",
                NetworkError,
            ),
            row(
                U,
                RCPT,
                "553",
                "",
                "sorry, your envelope sender has been denied (#5.7.1)",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "553",
                "",
                "sorry, your envelope sender domain must exist (#5.7.1)",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "553",
                "",
                "sorry, your HELO host name has been denied (#5.7.1)",
                Blocked,
            ),
            row(U, RCPT, "553", "", "we don't relay (#5.7.1)", NoRelaying),
            // policyd-weight.
            row(
                U,
                RCPT,
                "550",
                "5.7.1",
                "<someone@example.org>: Recipient address rejected: Your MTA is listed in too many DNSBLs",
                Blocked,
            ),
        ],
    );
}

/// Stalwart's own delivery into its store, as its queue records the outcome (stalwartlabs/
/// mail-server, `crates/email/src/message/delivery.rs`, `LocalDeliveryStatus`, under the codes
/// `crates/smtp/src/outbound/local.rs` gives them: 451 4.3.0 for a temporary failure, 550 and
/// the store's own code for a permanent one).
#[test]
fn stalwart_local_delivery_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "stalwart local delivery",
        "localhost",
        Layouts::Both,
        &[
            row(U, DATA, "451", "4.3.0", "Mailbox over quota.", MailboxFull),
            // The recipient's organisation (its tenant) is over its storage quota.
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Organization over quota.",
                MailboxFull,
            ),
            // The account lacks the permission to receive mail.
            row(
                U,
                DATA,
                "550",
                "5.5.0",
                "This account is not authorized to receive email.",
                Suspend,
            ),
            row(
                U,
                DATA,
                "451",
                "4.3.0",
                "Transient server failure.",
                SystemError,
            ),
            row(U, DATA, "451", "4.3.0", "Temporary I/O error.", SystemError),
            row(
                U,
                RCPT,
                "451",
                "4.3.0",
                "Address lookup failed.",
                SystemError,
            ),
        ],
    );
    check(
        "stalwart local delivery, at RCPT",
        "localhost",
        Layouts::Text,
        &[row(
            U,
            RCPT,
            "550",
            "5.5.0",
            "Mailbox not found.",
            UserUnknown,
        )],
    );
}

/// Haraka's outbound delivery, in its own report when it cannot find where to deliver
/// (haraka/Haraka, `outbound/hmail.js`, `found_mx`: each failure under haraka-dsn's
/// `addr_bad_dest_system`, 550 5.1.2). Left out: its "Domain <d> sends and receives no email
/// (NULL MX)", which comes under the same 5.1.2: the status reads `hostunknown` before any
/// words are looked at, where RFC 7505's own 5.1.10 would read `notaccept`.
#[test]
fn haraka_outbound_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "haraka outbound",
        "mx.example.org",
        Layouts::Dsn,
        &[
            row(
                U,
                None,
                "550",
                "5.1.2",
                "No Such Domain: example.org",
                HostUnknown,
            ),
            row(
                U,
                None,
                "550",
                "5.1.2",
                "Nowhere to deliver mail to for domain: example.org",
                HostUnknown,
            ),
        ],
    );
}

/// The refusals sendmail's own configuration writes (sendmail's `cf/m4/proto.m4`, as a
/// generated `sendmail.cf` carries it: `Basic_check_mail` refuses a sender whose domain does
/// not exist or is no real domain, and every ruleset answers a failed map lookup with a
/// temporary system failure) and Haraka's access plugin (haraka/haraka-plugin-access,
/// `index.js`: the default `deny_msg.mail` for a listed sender, and the refusal of a message
/// whose `From:` domain is listed).
#[test]
fn sendmail_cf_and_haraka_access_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "sendmail cf and haraka access",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                MAIL,
                "553",
                "5.1.8",
                "Domain of sender address sender@example.com does not exist",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "553",
                "5.5.4",
                "Real domain name required for sender address",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "451",
                "4.3.0",
                "Temporary system failure. Please try again later.",
                SystemError,
            ),
            row(
                U,
                MAIL,
                "550",
                "",
                "sender@example.com That sender cannot send mail here",
                Rejected,
            ),
            row(
                U,
                DATA,
                "550",
                "",
                "Email from that domain is not accepted here.",
                Rejected,
            ),
        ],
    );
    // sendmail's access map REJECT for the sender: the words name no one, the command does.
    check(
        "sendmail cf, at MAIL FROM",
        "mx.example.org",
        Layouts::Text,
        &[row(U, MAIL, "550", "5.7.1", "Access denied", Rejected)],
    );
}

/// qmail-smtpd's answers to the end of DATA when qmail-queue fails (qmail's `qmail.c`,
/// `qmail_close`, as notqmail/notqmail carries it: each exit code of the queue program has
/// its sentence, and qmail-smtpd sends it after `451`). A queue program that relays (a
/// filter in front of another server) reports that server's connection failing. (Its
/// "connection to mail server timed out (#4.4.1)" is left out: 4.4.1 reads `expired`, and the
/// status wins.)
#[test]
fn qmail_queue_failure_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    let rows: Vec<Row> = [
        ("qq temporary problem (#4.3.0)", SystemError),
        ("qq internal bug (#4.3.0)", SystemError),
        ("qq unable to read configuration (#4.3.0)", SystemError),
        ("qq trouble creating files in queue (#4.3.0)", SystemError),
        ("qq trouble in home directory (#4.3.0)", SystemError),
        ("qq timeout (#4.3.0)", SystemError),
        ("qq out of memory (#4.3.0)", SystemError),
        ("unable to exec qq (#4.3.0)", SystemError),
        (
            "communication with mail server failed (#4.4.2)",
            NetworkError,
        ),
    ]
    .into_iter()
    .map(|(text, reason)| row(U, DATA, "451", "", text, reason))
    .collect();
    check(
        "qmail-queue failures",
        "mx.example.org",
        Layouts::Both,
        &rows,
    );
}

/// Local delivery agents' own failures, as the MTA's report quotes them: sendmail's
/// mail.local, Courier's maildrop, vpopmail's vdelivermail and vmailmgr's vdeliver. Source
/// of every text: the delivery agents' table of Sisimai's predecessor Kanadzuchi
/// (`lib/Kanadzuchi/MDA.pm`, `$bMessage`), which names what each agent prints.
#[test]
fn local_delivery_agent_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "local delivery agents",
        "localhost",
        Layouts::Dsn,
        &[
            row(
                U,
                None,
                "",
                "5.0.0",
                "mail.local: Disc quota exceeded",
                MailboxFull,
            ),
            row(
                U,
                None,
                "",
                "5.0.0",
                "mail.local: Mailbox full or quota exceeded",
                MailboxFull,
            ),
            row(
                U,
                None,
                "",
                "4.0.0",
                "mail.local: Temporary file write error",
                SystemError,
            ),
            row(
                U,
                None,
                "",
                "5.0.0",
                "maildrop: maildir over quota.",
                MailboxFull,
            ),
            row(
                U,
                None,
                "",
                "5.0.0",
                "vdelivermail: domain is over quota",
                MailboxFull,
            ),
            row(
                U,
                None,
                "",
                "5.0.0",
                "vdeliver: Delivery failed due to system quota violation",
                MailboxFull,
            ),
        ],
    );
}

/// Chinese-language mail hosts' help pages, each explaining the refusals their users meet:
/// 21cn's (help.szhot.com, text_show.php?id=170, "关键字: disabled": an account disabled
/// when unpaid or for abuse), an enterprise mail host's list (emailhost.com.cn, service.html,
/// "[退信] 网络异常: rcpt handle timeout"), Seed Net's (help.url.com.tw, "信箱常見退信訊息":
/// the sender refused, a full mailbox) and a relay service's delivery log guide (wanglu.net,
/// "失败重试": the retries it makes when it cannot reach the recipient's server), and a
/// diagnosis guide (juduo.cc, "常見郵件退信": a full mailbox; a forwarding loop).
#[test]
fn chinese_hosting_help_pages() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "chinese hosting help pages",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "",
                "User someone@example.org is disabled",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "someone@example.org is now disabled with SMTP service.",
                Suspend,
            ),
            row(U, RCPT, "451", "", "rcpt handle timeout", NetworkError),
            row(
                U,
                DATA,
                "552",
                "",
                "The users mailfolder is over the allowed quota (size).",
                MailboxFull,
            ),
            row(U, MAIL, "550", "", "illegal sender.", Rejected),
            row(
                U,
                RCPT,
                "552",
                "",
                "someone@example.org is full",
                MailboxFull,
            ),
            row(
                U,
                DATA,
                "554",
                "",
                "Too many hops 27 (25 max): from <sender@example.com> via mail.example.com, to <someone@example.org>",
                NetworkError,
            ),
        ],
    );
    // The relay's own words for a connection it could not make or keep (no reply code), in
    // its notice.
    check(
        "relay delivery log",
        "mx.example.org",
        Layouts::Text,
        &[
            row(
                U,
                None,
                "",
                "4.0.0",
                "Temporary failure of hostname lookup",
                NetworkError,
            ),
            row(
                U,
                None,
                "",
                "4.0.0",
                "Read/Write error over network connection",
                NetworkError,
            ),
        ],
    );
}

/// Servers' and milters' refusals of a sender's domain and their own word for accepting no
/// mail, read from their source: Qsmtp's `fromdomain` user filter (`qsmtpd/antispam` or
/// `qsmtpd/userfilters/fromdomain.c`: a sender domain without a mail exchanger, refused at
/// RCPT), the Mail::Milter module MailDomainDotMX (`MailDomainDotMX.pm`, its documented
/// message for a sender domain that publishes a null MX), and midi-smtp-server
/// (`lib/midi-smtp-server/exceptions.rb`, `Smtpd521Exception`).
#[test]
fn sender_domain_and_no_mail_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "sender domain and no mail",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "501",
                "5.1.8",
                "Sorry, can't find a mail exchanger for sender address",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "554",
                "",
                "Mail from sender@example.com domain invalid (has dot-MX record)",
                Rejected,
            ),
            row(
                U,
                CONNECT,
                "521",
                "",
                "Service does not accept mail",
                NotAccept,
            ),
        ],
    );
}

/// The sample replies of PHPMailer-BMH's rule file (`phpmailer-bmh_rules.php`, each rule
/// with the `Diagnostic-Code:` it was written for), where the rule's category is one of ours:
/// its `inactive` rules (an account closed, expired, locked or never activated) and the
/// sender refusals among its `antispam` rules. Left out: samples whose category the words do
/// not bear out ("Recipient address no longer exists" as inactive, "is now disabled with MTA
/// service" as unknown) and those under a status that says otherwise ("Possible forgery or
/// deactivated due to abuse (#5.1.1)").
#[test]
fn bounce_handler_rule_samples() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "phpmailer-bmh samples",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "550",
                "",
                "<someone@example.org>: inactive user",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "<someone@example.org>: Recipient address rejected: Account closed due to inactivity. No forwarding information is available.",
                Suspend,
            ),
            row(
                U,
                RCPT,
                "550",
                "",
                "<someone@example.org>... User account not activated",
                Suspend,
            ),
            row(U, RCPT, "550", "", "account expired", Suspend),
            row(
                U,
                RCPT,
                "550",
                "",
                "<someone@example.org>: User status is locked.",
                Suspend,
            ),
            row(
                U,
                MAIL,
                "550",
                "",
                "Verify mailfrom failed,blocked",
                Rejected,
            ),
            row(
                U,
                MAIL,
                "554",
                "",
                "sender is rejected: 0,mx20,wKjR5bDrnoM2yNtEZVAkBg==.32467S2",
                Rejected,
            ),
        ],
    );
}

/// PHPMailer-BMH's `full` sample of qmail's notice for a user over quota, with its status in
/// qmail's parentheses: "- User disk quota exceeded. (#4.3.0)".
#[test]
fn bounce_handler_qmail_quota_sample() {
    check(
        "phpmailer-bmh qmail",
        "mx.example.org",
        Layouts::Qmail,
        &[row(
            "someone@example.org",
            None,
            "",
            "",
            "- User disk quota exceeded. (#4.3.0)",
            Reason::MailboxFull,
        )],
    );
}

/// Exim's own words for a sender it could not verify (exim `src/acl.c`, `acl_verify`: a
/// sender verification that was deferred, or whose callout was, is answered with these
/// words after `451`). Left out: its dnslookup router's "host lookup did not complete",
/// which Exim's own notices carry only in a delay warning or after "retry timeout exceeded",
/// both of which read `expired` by design.
#[test]
fn exim_sender_verify_sources() {
    use Reason::*;
    const U: &str = "someone@example.org";
    check(
        "exim sender verify",
        "mx.example.org",
        Layouts::Both,
        &[
            row(
                U,
                RCPT,
                "451",
                "",
                "Could not complete sender verify",
                Rejected,
            ),
            row(
                U,
                RCPT,
                "451",
                "",
                "Could not complete sender verify callout",
                Rejected,
            ),
        ],
    );
}

/// Dovecot's words for any failure it does not explain to the client (its documentation,
/// "Logging: Internal Errors": the real error goes to the server log, the client sees
/// `MAIL_ERRSTR_CRITICAL_MSG`), as its LMTP server answers the end of DATA with them.
#[test]
fn dovecot_internal_error_source() {
    check(
        "dovecot internal error",
        "mx.example.org",
        Layouts::Both,
        &[row(
            "someone@example.org",
            DATA,
            "451",
            "",
            "Internal error occurred. Refer to server log for more information.",
            Reason::SystemError,
        )],
    );
}
