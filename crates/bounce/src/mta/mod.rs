//! The human-readable side of bounces: the text that every MTA writes, with or without a DSN
//! beside it. With a DSN, the text completes it (the SMTP command, a diagnostic the DSN left
//! out); without one, the text is all there is, and the recipients and their diagnostics are
//! read from it.
//!
//! The generic reader here understands the common shape of bounce texts (a recipient address,
//! then the server's words up to a blank line) that Postfix, Exim, qmail, Sendmail and most
//! services share. MTA-specific recognisers, picked by headers and body markers (never by file
//! names), come first where the generic reading is wrong.

mod recognisers;

pub(crate) use recognisers::{own_sentences, preempt};

use crate::mime::Mail;
use crate::{Finding, SmtpCommand, address, text};
use aho_corasick::{AhoCorasick, MatchKind};
use std::sync::OnceLock;

/// Lines that start the returned message in bounces that carry it inline.
const ORIGINAL_MARKERS: &[&str] = &[
    "content-type: message/rfc822",
    "content-type: text/rfc822-headers",
    "------ this is a copy of the message, including all the headers.",
    "--- below this line is a copy of the message.",
    "----- original message -----",
    "----- the following is a copy of the message",
    "------ original message ------",
    "--- the header of the original message is following. ---",
    "   ----- unsent message follows -----",
    "----- unsent message follows -----",
    "----- original message follows -----",
    "------ the original message follows ------",
    "--------original message--------",
    "original message headers",
    "--- original message follows",
    "--- the message follows",
    "message headers follow.",
    "------ a copy of the message",
    "original message follows.",
    "------- returned message --------",
    "original mail as follows:",
    "---- start of returned message ----",
];

/// Header fields whose addresses are never the failed recipient (the bounce's own headers
/// or the returned message's, when they stand in the text).
const NOT_RECIPIENT_FIELDS: &[&str] = &[
    "message-id",
    "references",
    "in-reply-to",
    "from",
    "sender",
    "return-path",
    "reply-to",
    "received",
    "date",
    "subject",
    "envelope-from",
    "errors-to",
    "list-id",
    "list-unsubscribe",
];

/// A report about more recipients than this is cut short (the rest are not read).
pub(crate) const MAX_RECIPIENTS: usize = 500;

/// Complete `findings` (from a DSN) with what the text says, or find them in the text.
/// `orphans` are the DSN's recipient blocks that name no address.
pub(crate) fn complete(mail: &Mail, findings: &mut Vec<Finding>, orphans: &[Finding]) {
    let region = report_region(mail);
    let lower = region.to_ascii_lowercase();
    findings.truncate(MAX_RECIPIENTS);
    let from_text = findings.is_empty();
    if findings.is_empty() {
        *findings = recognisers::run(mail, region).unwrap_or_else(|| {
            // A message that says in no way that it reports on a delivery (a person's reply
            // to the bounce address, a forwarded letter) names addresses that failed nothing.
            if !says_it_reports(mail, &lower) {
                return Vec::new();
            }
            let mut found = generic(mail, region, &lower);
            // A DSN whose blocks name a file or a pipe instead of the address: its fields
            // belong to the recipients of the text, one block each.
            if orphans.len() == found.len() {
                for (f, o) in found.iter_mut().zip(orphans) {
                    f.status = f.status.take().or_else(|| o.status.clone());
                    f.action = f.action.or(o.action);
                    f.remote_mta = f.remote_mta.take().or_else(|| o.remote_mta.clone());
                    if f.diagnostic.is_empty() {
                        f.diagnostic = o.diagnostic.clone();
                        f.diagnostic_type = o.diagnostic_type.clone();
                    }
                }
            }
            recognisers::refine(mail, &mut found);
            if found.is_empty() {
                found.extend(addressed_by_original(mail, region));
            }
            found
        });
        // A Sendmail notice without its report: the transcript gives what it gives the
        // report's records (the session's replies, the command, Sendmail's own status line
        // "550 5.1.1 <a@b>... User unknown"), so the text alone reads as the report does.
        if is_sendmail(mail) && !findings.is_empty() {
            sendmail(region, findings);
        }
    } else {
        for f in findings.iter_mut() {
            if let Some(block) = block_for(region, &lower, &f.recipient) {
                if f.command.is_none() {
                    f.command = SmtpCommand::find(&block);
                }
                if f.diagnostic.is_empty() {
                    f.diagnostic = block;
                }
            }
            if f.command.is_none() {
                f.command = SmtpCommand::find(&f.diagnostic);
            }
        }
        if is_sendmail(mail) {
            sendmail(region, findings);
        }
        // Postfix's own errors (`X-Postfix; connect to …`, `unknown user`) are read as SMTP
        // diagnostics in its bounces, as the reference's Postfix module does.
        if mail.subject().trim() == "Undelivered Mail Returned to Sender"
            && mail.header("x-aol-ip").is_none()
        {
            for f in findings
                .iter_mut()
                .filter(|f| f.diagnostic_type.as_deref() == Some("X-POSTFIX"))
            {
                f.diagnostic_type = Some("SMTP".to_string());
            }
        }
        // A lone recipient's words begin with the report's lead-in, as the reference reads
        // every RFC 3464 report with one recipient ("Your message could not be delivered
        // because …" often says more than the Diagnostic-Code). Sendmail, Exim and Postfix
        // bounces are read by their own modules there: only an empty diagnostic is filled.
        let own_module = is_sendmail(mail)
            || recognisers::is_exim(mail)
            || mail.subject().trim() == "Undelivered Mail Returned to Sender";
        if let [f] = findings.as_mut_slice()
            && (f.diagnostic.trim().is_empty() || !own_module)
        {
            let lead = lead_in(region);
            f.diagnostic = if lead
                .to_ascii_lowercase()
                .contains(&f.diagnostic.trim().to_ascii_lowercase())
            {
                lead
            } else {
                format!("{lead} {}", f.diagnostic).trim().to_string()
            };
            if f.command.is_none() {
                f.command = SmtpCommand::find(&f.diagnostic);
            }
        }
        // Sendmail's transcript ("... while talking to mx: >>> RCPT To:<a@b> <<< 550 ...")
        // names the command once for the whole report.
        if let Some(command) = transcript_command(region) {
            for f in findings.iter_mut().filter(|f| f.command.is_none()) {
                f.command = Some(command);
            }
        }
    }
    if recognisers::is_exim(mail) {
        recognisers::exim(findings);
    }
    recognisers::interscan(mail, findings);
    recognisers::own_sentences(mail, findings);
    recognisers::ezweb(mail, region, findings);
    recognisers::gmail(mail, region, findings);
    recognisers::fml(mail, findings);
    fill_recipients(mail, findings);
    // A notice without a DSN that warns of a delay: its recipients are still queued.
    if from_text && is_delay_warning(&lower) {
        for f in findings.iter_mut().filter(|f| f.action.is_none()) {
            f.action = Some(crate::Action::Delayed);
        }
    }
}

/// Whether a notice's text (lower-cased) warns that delivery is late and goes on, in the
/// words MTAs and filtering services use for it ("has not yet been delivered", "delivery
/// attempts will continue", "THIS IS A WARNING MESSAGE ONLY", "you do not need to resend"),
/// and says nowhere that the MTA gave up.
fn is_delay_warning(lower: &str) -> bool {
    DELAY.iter().any(|p| lower.contains(p)) && !FINAL.iter().any(|p| lower.contains(p))
}

/// Sentences that say delivery is late and goes on (see [`is_delay_warning`]).
const DELAY: &[&str] = &[
    "has not yet been delivered",
    "have not yet been delivered",
    "delivery attempts will continue",
    "this is a warning only",
    "warning message only",
    "this is just a warning",
    "will continue to attempt delivery",
    "will continue to try to deliver",
    "do not need to resend",
    "no need to resend",
    "do not resend your original message",
    "is still awaiting delivery",
    "has been postponed",
    "has been delayed",
];

/// Sentences that say the MTA gave up (see [`is_delay_warning`]).
const FINAL: &[&str] = &[
    "permanent error",
    "permanent fatal",
    "permanently",
    "given up",
    "gave up",
    "giving up",
    "will not be retried",
    "not going to try again",
    "no further attempts",
];

/// Whether a message without a DSN is a mail system's report on a delivery, so that the
/// addresses in its text may be failed recipients. An error server also receives people's
/// replies, list posts, newsletters, notifications, invitations and DMARC reports, whose
/// subjects and texts say "delivered", "failed", "report", "error" or "loop" as often as a
/// notice does: such words alone made their addresses bounces. So the author decides first:
/// a mail system (a mailer daemon, a postmaster, a delivery system, fml's own notices) or
/// `From: <>`, the null sender RFC 5321 (4.5.5) gives notifications. Any other author's
/// message must be neither a reply/forward nor a list post, name delivery trouble in its
/// subject, and carry the mark of an MTA's answer in its text: a status, a reply code or
/// words that say a message was not delivered (Exchange's notices come from a service
/// account, "Microsoft Outlook", with "Undeliverable:" and the remote server's reply). A
/// message a program sent (`Auto-Submitted`) needs only the MTA's answer in its text.
pub(crate) fn says_it_reports(mail: &Mail, lower: &str) -> bool {
    const AUTHORS: &[&str] = &[
        "daemon",
        "postmaster",
        "mail delivery",
        "delivery system",
        "delivery subsystem",
        "delivery status",
        "mailer",
        "mail system",
        "administrator",
        "bounce",
        "virus",
        "gateway",
    ];
    const SUBJECTS: &[&str] = &[
        "deliver",
        "fail",
        "return",
        "bounce",
        "reject",
        "error",
        "warning",
        "delay",
        "unable",
        "notif",
        "notice",
        "problem",
        "unknown",
        "invalid",
        "quota",
        "report",
        "blocked",
        "not sent",
        "could not",
        "undeliv",
        "non remis",
        "zustell",
        "entreg",
        "consegn",
        // Japanese: notice, delivery, non-delivery, error, returned.
        "お知らせ",
        "配信",
        "不達",
        "エラー",
        "返送",
    ];
    // Sentences that say a message did not arrive, as MTAs and services word it.
    const NOT_DELIVERED: &[&str] = &[
        "could not be delivered",
        "couldn't be delivered",
        "could not deliver",
        "was not delivered",
        "were not delivered",
        "not been delivered",
        "undeliverable",
        "delivery has failed",
        "delivery failed",
        "delivery to the following",
        "failed permanently",
        "permanent error",
        "permanent failure",
        "returned to sender",
        "no such user",
        "user unknown",
        "unknown user",
        "does not exist",
        "did not reach",
        "mailbox unavailable",
        "mailbox is full",
        "over quota",
        "unable to deliver",
        "cannot be delivered",
        "can not be delivered",
        "can't be delivered",
        "message not delivered",
        // The MTAs' own lead-ins and markers: Exim's, Sendmail's, Postfix's, qmail's, and the
        // returned message's heading many notices share.
        "by mail delivery software",
        "transcript of session follows",
        "unsent message follows",
        "this is the mail system at host",
        "this is the qmail-send program",
        "delivery status notification",
        "original message follows",
        // Japanese carriers' and providers' notices may hold no English word at all: could
        // not (be delivered), cannot, failed, addressee unknown, non-delivery, error.
        "できませんでした",
        "できません",
        "失敗",
        "宛先不明",
        "不達",
        "エラー",
    ];
    let from = mail.from().to_ascii_lowercase();
    // No `From:` at all is no sign: a headerless fragment says nothing of its author. Nor is
    // `Return-Path: <>`: stored mail carries whatever the last delivery wrote there.
    let null_sender = from.trim_end().ends_with("<>");
    // fml's refusals of a post name no delivery at all ("NOT MEMBER article from …"); its
    // header signs say what they are. Other list managers' mail (welcomes, hold notices)
    // is read like any program's below.
    if null_sender || AUTHORS.iter().any(|w| from.contains(w)) || recognisers::is_fml(mail) {
        return true;
    }
    let answered = || {
        NOT_DELIVERED.iter().any(|w| lower.contains(w))
            || DELAY.iter().any(|w| lower.contains(w))
            || crate::status::find_status(lower, b"45").is_some()
            || crate::status::find_reply_code(lower, Some(b'5')).is_some()
            || crate::status::find_reply_code(lower, Some(b'4')).is_some()
    };
    let subject = mail.subject().trim().to_lowercase();
    // A message a program sent (RFC 3834 `Auto-Submitted`) that quotes an MTA's answer or is
    // titled as a delivery notice (Google Groups' "Delivery Status Notification (Failure)"
    // says only that the group "may not exist").
    if mail
        .header("auto-submitted")
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"))
    {
        return answered() || is_notice_subject(&subject);
    }
    // A reply or forward ("Re: your order has been delivered") and a list post are people's.
    const PERSONS: &[&str] = &[
        "re:", "fw:", "fwd:", "aw:", "wg:", "sv:", "vs:", "antw:", "tr:",
    ];
    if PERSONS.iter().any(|p| subject.starts_with(p))
        || mail.header("list-id").is_some()
        || mail.header("list-post").is_some()
    {
        return false;
    }
    // A notice titled as one that returns the message after its own marker ("Original
    // message follows.", "--- Below this line is a copy of the message."): iMail's "User
    // mailbox exceeds allowed size: a@b" says it in no words of the lists above.
    let returns_message = !mail.body[mail.report_end.min(mail.body.len())..]
        .trim()
        .is_empty();
    // Or titled as one whose text holds a server's words for a reason ("The user(s) account
    // is disabled." is all au's notice says in English).
    let gives_reason = || {
        crate::Reason::ALL
            .iter()
            .any(|&r| r != crate::Reason::Vacation && crate::phrases::says(r, lower))
    };
    SUBJECTS.iter().any(|w| subject.contains(w)) && answered()
        || is_notice_subject(&subject) && (returns_message || gives_reason())
}

/// Whether a subject (lower case) is how MTAs title their delivery notices ("Returned mail:
/// see transcript for details", "Delivery Status Notification (Failure)", "Mail delivery
/// failed: returning message to sender", "failure notice", "Undeliverable: …"): no vacation
/// program's nor person's, unless it is a reply or forward of one, which the callers rule out.
pub(crate) fn is_notice_subject(subject: &str) -> bool {
    const NOTICES: &[&str] = &[
        "undelivered mail",
        "undeliverable:",
        "undeliverable mail",
        "returned mail",
        "failure notice",
        "delivery status notification",
        "mail delivery failed",
        "mail delivery failure",
        "mail delivery warning",
        "non-delivery",
        "nondeliverable",
        "mail system error",
        "mail could not be delivered",
        "message not delivered",
    ];
    // Not "delivery failure", "failed delivery", "delivery notification", "could not be
    // delivered": a carrier's parcel notices say so too (and set `Auto-Submitted`); notices
    // titled so are read by their text's answer (the subject words of `says_it_reports`).
    NOTICES.iter().any(|w| subject.contains(w))
}

/// A report from the mail system that names no address (old Sendmail: "421 host (smtp)...
/// Deferred: ..."): the failed recipient is the `To:` of the message returned inline below
/// it, and the server's words are the report's lines with a reply code.
fn addressed_by_original(mail: &Mail, region: &str) -> Option<Finding> {
    let sender = mail.from().to_ascii_lowercase();
    if !(sender.contains("mailer-daemon") || sender.contains("postmaster")) {
        return None;
    }
    let words: Vec<&str> = region
        .lines()
        .map(str::trim)
        .filter(|l| {
            crate::status::find_reply_code(l, Some(b'4')).is_some()
                || crate::status::find_reply_code(l, Some(b'5')).is_some()
        })
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.len() == 3 || w.len() == 4)
        })
        .take(8)
        .collect();
    if words.is_empty() {
        return None;
    }
    let original = &mail.body[region.len()..];
    let headers = original.split_once('\n').map_or("", |(_, rest)| rest);
    let to = crate::mime::header_block(headers.trim_start_matches('\n'))
        .0
        .into_iter()
        .find(|(n, _)| n == "to")
        .and_then(|(_, v)| address::find(&v))?;
    let diagnostic = words.join(" ");
    Some(Finding {
        recipient: to,
        command: SmtpCommand::find(&diagnostic),
        diagnostic,
        ..Finding::default()
    })
}

/// The text of a report before its DSN fields, without MIME part headers, boundaries, and
/// the banner lines (`----- Transcript of session follows -----`).
fn lead_in(region: &str) -> String {
    const DSN_FIELDS: &[&str] = &[
        "reporting-mta:",
        "received-from-mta:",
        "arrival-date:",
        "original-envelope-id:",
        "final-recipient:",
        "original-recipient:",
        "content-type: message/delivery-status",
    ];
    let mut out = String::new();
    // Prefixes compared in any case, without a lower-case copy of every line.
    let starts = |line: &str, prefix: &str| {
        line.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    for line in text::lines(region).take(200) {
        let trimmed = line.trim_start();
        if DSN_FIELDS.iter().any(|f| starts(trimmed, f)) {
            break;
        }
        let line = line.trim();
        if line.is_empty()
            || starts(trimmed, "content-")
            || line.starts_with("--")
            || line.contains("--- The follow")
            || line.contains("--- Transcript")
            || [
                "This is a MIME",
                "This is a multi",
                "This is an auto",
                "This multi-part",
            ]
            .iter()
            .any(|p| line.starts_with(p))
        {
            continue;
        }
        if out.len() > 4096 {
            break;
        }
        out.push_str(line);
        out.push(' ');
    }
    out.trim_end().to_string()
}

/// Sendmail's bounces: `Returned mail: see transcript for details` and its warnings.
fn is_sendmail(mail: &Mail) -> bool {
    let subject = mail.subject();
    (subject.starts_with("Warning: ") || subject.ends_with("see transcript for details"))
        && mail.header("x-aol-ip").is_none()
}

/// What Sendmail's transcript adds to its DSN: the remote server's replies (`<<< 550-5.7.1
/// ...`, often several lines the DSN cuts to one), the command, and its own error lines
/// (`550 5.1.2 <a@b>... Host unknown`) with their status code.
fn sendmail(region: &str, findings: &mut [Finding]) {
    let Some(start) = text::find(region, "----- Transcript of session follows -----") else {
        return;
    };
    let mut replies: Vec<&str> = Vec::new();
    let mut command = None;
    let mut own_words = String::new();
    let mut own_status = None;
    let mut in_session = false;
    let mut sessions = 0;
    let mut per_recipient = false;
    // Sendmail's own status lines inside the sessions, with the address each names.
    let mut session_status: Vec<(Option<String>, String)> = Vec::new();
    // The host of the (last) session: the remote MTA a report would name.
    let mut talked_to = "";
    for line in text::lines(&region[start..]).skip(1) {
        if line.starts_with(' ') || line.starts_with("Content-Type:") {
            if line.starts_with("Content-Type:") {
                break;
            }
            continue;
        }
        // Counted apart from `in_session`, which stays set from the first session on.
        if let Some(host) = line.strip_prefix("... while talking to ") {
            sessions += 1;
            talked_to = host.trim_end().trim_end_matches(':').trim_end_matches('.');
        }
        if let Some(sent) = line.strip_prefix(">>> ") {
            per_recipient |= sent
                .as_bytes()
                .get(..8)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"RCPT To:"));
            command = command.or_else(|| SmtpCommand::find(sent));
        } else if let Some(reply) = line.strip_prefix("<<< ") {
            if !replies.contains(&reply) {
                replies.push(reply);
            }
        } else if in_session {
            // Sendmail's own verdict inside a session ("550 5.1.1 <a@b>... User unknown",
            // "554 5.0.0 Service unavailable"): the status its report would carry.
            if let Some(status) = crate::status::find_status(line, b"542")
                && line.starts_with(['4', '5'])
                && crate::status::find_reply_code(line, None).is_some()
            {
                let named = line
                    .split_once("... ")
                    .and_then(|(head, _)| address::find(head));
                session_status.push((named, status));
            }
        } else {
            if line.starts_with("... while talking to ") {
                in_session = true;
                continue;
            }
            let status = crate::status::find_status(line, b"542");
            if line.starts_with('<')
                && let Some(at) = line.find('@')
                && line[at..].contains(">.")
                && let Some((_, words)) = line.split_once(' ')
            {
                // `<a@b>... Deferred: Name server: b.: host name lookup failure`
                own_words = format!(" {}", words.trim());
            } else if status.is_some() && crate::status::find_reply_code(line, None).is_some() {
                own_status = status;
                own_words.push(' ');
                own_words.push_str(line);
            } else if line.starts_with("Message: ") || line.starts_with("Warning: ") {
                own_words.push(' ');
                own_words.push_str(line);
            }
        }
    }
    // The replies are the session's: a lone recipient's, or every recipient's where the
    // transcript is of one session refused as a whole (at the greeting, MAIL or DATA; a
    // `RCPT To:` refusal, or a reply naming another address, is one recipient's), as when
    // several recipients at one host are refused after the data.
    let whole_session = sessions == 1 && !per_recipient && command != Some(SmtpCommand::Rcpt);
    let lone = findings.len() == 1;
    let remote_status = replies
        .iter()
        .find(|r| r.starts_with(['4', '5']))
        .is_some_and(|r| crate::status::find_status(r, b"542").is_some());
    for f in findings.iter_mut() {
        let recipient = f.recipient.to_ascii_lowercase();
        let single = lone
            || (whole_session
                && replies
                    .iter()
                    .all(|r| !r.contains('@') || r.to_ascii_lowercase().contains(&recipient)));
        let says_nothing = f.diagnostic.trim().is_empty()
            || f.diagnostic
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b' ');
        if says_nothing && !own_words.is_empty() {
            f.diagnostic = own_words.trim().to_string();
        }
        if single && !replies.is_empty() {
            f.diagnostic = format!("{} {}", replies.join(" "), f.diagnostic);
        }
        if command.is_some() || f.command.is_none() {
            f.command = command
                .or_else(|| SmtpCommand::find(&f.diagnostic))
                .or_else(|| (!replies.is_empty()).then_some(SmtpCommand::Ehlo));
        }
        if f.remote_mta.is_none() && sessions == 1 && !talked_to.is_empty() {
            f.remote_mta = Some(talked_to.to_string());
        }
        if f.status.is_none() {
            f.status = own_status.clone().or_else(|| {
                // The line naming this recipient, else an unnamed one where the line is the
                // session's only verdict; only where the remote's refusal carries no status
                // of its own, which Sendmail's report takes first ("<<< 550 5.5.0 …" is
                // 5.5.0 there, though Sendmail's own line says 5.1.1).
                if remote_status {
                    return None;
                }
                session_status
                    .iter()
                    .find(|(named, _)| {
                        named
                            .as_deref()
                            .is_some_and(|a| a.eq_ignore_ascii_case(&recipient))
                    })
                    .or_else(|| match session_status.as_slice() {
                        [(None, _)] if single => session_status.first(),
                        _ => None,
                    })
                    .map(|(_, status)| status.clone())
            });
        }
        if f.recipient.is_empty()
            && let Some(a) = address::find(&f.diagnostic)
        {
            f.recipient = a;
        }
    }
}

/// The last command sent before the first failure in an SMTP transcript (`>>> RCPT To:<…>`
/// followed by `<<< 550 …`).
fn transcript_command(region: &str) -> Option<SmtpCommand> {
    let mut last = None;
    for line in text::lines(region) {
        let line = line.trim_start();
        if let Some(sent) = line.strip_prefix(">>> ") {
            last = SmtpCommand::find(sent);
        } else if let Some(reply) = line.strip_prefix("<<< ")
            && reply.starts_with(['4', '5'])
        {
            return last;
        }
    }
    None
}

/// The part of the body that reports (before the returned message).
pub(crate) fn report_region(mail: &Mail) -> &str {
    &mail.body[..mail.report_end]
}

/// Where the report ends in `body` (see [`report_region`]): computed once per message by
/// [`Mail::parse`], since the passes ask for the region ten times a message.
pub(crate) fn report_end(body: &str, original_at: Option<usize>) -> usize {
    // The earliest of the markers, in one pass without a lower-cased copy.
    static MARKERS: OnceLock<AhoCorasick> = OnceLock::new();
    let markers = MARKERS.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(ORIGINAL_MARKERS)
            .expect("the markers build an automaton")
    });
    let end = original_at.unwrap_or(body.len());
    let end = markers.find(&body[..end]).map_or(end, |m| m.start());
    returned_header_at(&body[..end]).unwrap_or(end)
}

/// Where a returned message's header begins in a notice that marks it with no words of its own
/// (HCL Domino's and some gateways' notices append the message after a blank line): a paragraph
/// that opens with `Received: from` or `Return-Path:`, the fields a transport puts on top of a
/// message (RFC 5321 4.4), which no MTA's own sentences begin with. Without this, the returned
/// header's `To:`, `Cc:` and its body's addresses were read as failed recipients.
fn returned_header_at(body: &str) -> Option<usize> {
    ["\n\nReceived: from ", "\n\nReturn-Path: "]
        .into_iter()
        .filter_map(|field| text::find(body, field).map(|at| at + 2))
        .min()
}

/// The text about `recipient` in the report: from the line that names it to the next blank
/// line (with the indented lines after it).
fn block_for(region: &str, lower: &str, recipient: &str) -> Option<String> {
    let needle = recipient.to_ascii_lowercase();
    if needle.is_empty() {
        return None;
    }
    let mut from = 0;
    while let Some(at) = text::find(&lower[from..], &needle) {
        let at = from + at;
        from = at + needle.len();
        let line_start = region[..at].rfind('\n').map_or(0, |p| p + 1);
        let line = text::lines(&region[line_start..]).next().unwrap_or("");
        // The DSN's own fields name the recipient too; the words are elsewhere.
        let field = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if matches!(
            field.as_str(),
            "final-recipient"
                | "original-recipient"
                | "x-actual-recipient"
                | "to"
                | "x-failed-recipients"
        ) {
            continue;
        }
        let block = paragraph(&region[line_start..]);
        return Some(block);
    }
    None
}

/// The first paragraph of `text`: up to a blank line, at most 40 lines.
fn paragraph(text: &str) -> String {
    let mut out = String::new();
    for (n, line) in text::lines(text).enumerate() {
        // A returned message's header block after the words is not theirs.
        if n > 0
            && (line.trim().is_empty()
                || opens_recipient_block(line)
                || line.starts_with("Received: from "))
        {
            break;
        }
        if n >= 40 {
            break;
        }
        out.push_str(line.trim());
        out.push(' ');
    }
    out.trim_end().to_string()
}

/// Whether `line` starts a recipient's block (`<a@b>:`, `"a@b":`, `a@b Invalid …`), as
/// Postfix, qmail, GMX and Zoho write them one after another without blank lines.
fn opens_recipient_block(line: &str) -> bool {
    if line.starts_with([' ', '\t']) {
        return false;
    }
    let first = line.split_whitespace().next().unwrap_or("");
    let word = first.trim_matches(|c: char| matches!(c, '<' | '>' | '"' | ':' | ','));
    address::is_address(word)
}

/// Addresses that are the mail system's own, never a failed recipient.
fn is_system_address(a: &str) -> bool {
    let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
    matches!(
        local.as_str(),
        "postmaster"
            | "mailer-daemon"
            | "mailer_daemon"
            | "root"
            | "abuse"
            | "noreply"
            | "no-reply"
    )
}

/// Recipients and their words from the text alone.
fn generic(mail: &Mail, region: &str, lower: &str) -> Vec<Finding> {
    let mut own: Vec<String> = ["from", "to", "return-path", "reply-to", "sender"]
        .iter()
        .filter_map(|h| mail.header(h))
        .flat_map(address::find_all)
        .map(|a| a.to_ascii_lowercase())
        .collect();
    // The envelope sender a transcript names in its MAIL command (RFC 5321 "MAIL FROM:<…>";
    // Exim's "after MAIL FROM:<…>", Sendmail's ">>> MAIL From:<…>") is where the bounce went,
    // never a failed recipient, though a VERP sender differs from the bounce's `To:`.
    own.extend(senders_in_mail_commands(lower));
    let mut out: Vec<Finding> = Vec::new();
    // Addresses named only as the one a failed recipient came from: kept aside, and read only
    // when the text names no other (Sendmail's "(expanded from: <a@b>)" under a pipe).
    let mut origins: Vec<Finding> = Vec::new();
    let failed_header: Vec<String> = mail
        .header("x-failed-recipients")
        .map(address::find_all)
        .unwrap_or_default();
    // Each candidate costs a scan of the region: a text naming thousands of addresses is
    // read for its first few thousand.
    for candidate in address::find_all(region)
        .into_iter()
        .take(4 * MAX_RECIPIENTS)
    {
        if out.len() >= MAX_RECIPIENTS {
            break;
        }
        if own.contains(&candidate.to_ascii_lowercase()) || is_system_address(&candidate) {
            continue;
        }
        if out
            .iter()
            .any(|f| f.recipient.eq_ignore_ascii_case(&candidate))
        {
            continue;
        }
        if named_by_header_line(region, lower, &candidate)
            || named_as_sender(lower, &candidate)
            || named_as_refused_sender(lower, &candidate)
            || named_as_envelope_sender(lower, &candidate)
            || named_as_contact(lower, &candidate)
        {
            continue;
        }
        let Some(words) = words_for(region, lower, &candidate) else {
            continue;
        };
        let finding = Finding {
            command: SmtpCommand::find(&words),
            diagnostic: words,
            recipient: candidate,
            ..Finding::default()
        };
        if named_as_origin(lower, &finding.recipient) {
            origins.push(finding);
        } else {
            out.push(finding);
        }
    }
    if out.is_empty() {
        out = origins;
    }
    // Exim's X-Failed-Recipients names the failed addresses; it wins over other addresses in
    // the text, unless it names none of them (then it holds an alias the text rewrote).
    let listed = |f: &Finding| {
        failed_header
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&f.recipient))
    };
    if !failed_header.is_empty() && (out.is_empty() || out.iter().any(listed)) {
        out.retain(listed);
        for a in failed_header {
            if !out.iter().any(|f| f.recipient.eq_ignore_ascii_case(&a)) {
                let words = words_for(region, lower, &a).unwrap_or_default();
                out.push(Finding {
                    command: SmtpCommand::find(&words),
                    diagnostic: words,
                    recipient: a,
                    ..Finding::default()
                });
            }
        }
    }
    out
}

/// The words about `recipient`: its block, and when that only names the recipient ("delivery
/// to the following recipient failed: <a@b>"), the paragraphs after it.
fn words_for(region: &str, lower: &str, recipient: &str) -> Option<String> {
    let block = block_for(region, lower, recipient)?;
    if !says_nothing(&block) {
        return Some(block);
    }
    let next = following(region, lower, recipient);
    Some(if block.len() <= recipient.len() + 4 {
        next.trim().to_string()
    } else {
        format!("{block} {next}").trim().to_string()
    })
}

/// Whether every line of `region` that names `address` is a header field that never names a
/// failed recipient (Message-ID, From, …), or the address is part of a longer token.
fn named_by_header_line(region: &str, lower: &str, address: &str) -> bool {
    let needle = address.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = text::find(&lower[from..], &needle) {
        let at = from + at;
        from = at + needle.len();
        let mut line_start = lower[..at].rfind('\n').map_or(0, |p| p + 1);
        // A header field quoted indented ("  Message-id: <…>" under "the following header
        // fields:") is a field of its own, not the fold of the line above.
        if let Some((name, _)) = lower[line_start..at].trim_start().split_once(':')
            && NOT_RECIPIENT_FIELDS.contains(&name)
        {
            continue;
        }
        // A folded header line (`    for <a@b>; date` under `Received:`) belongs to the
        // field it continues.
        let mut end = at;
        while lower[line_start..].starts_with([' ', '\t']) && line_start > 0 {
            let previous = lower[..line_start - 1].rfind('\n').map_or(0, |p| p + 1);
            end = line_start - 1;
            line_start = previous;
        }
        let field = lower[line_start..end]
            .split(':')
            .next()
            .unwrap_or("")
            .trim();
        let is_field =
            region[line_start..end].contains(':') && !field.is_empty() && !field.contains(' ');
        if !(is_field && (NOT_RECIPIENT_FIELDS.contains(&field) || field.starts_with("x-"))) {
            return false;
        }
    }
    true
}

/// Whether every mention of `address` is the sender in Sendmail's lead-in ("The original
/// message was received at <date>" then "from <address>"), which many MTAs copy.
fn named_as_sender(lower: &str, address: &str) -> bool {
    const LEAD: &str = "original message was received at ";
    every_mention(lower, address, |at, line_start| {
        let line = &lower[line_start..at];
        let previous = lower[..line_start.saturating_sub(1)]
            .rsplit('\n')
            .next()
            .unwrap_or("");
        line.contains(LEAD) || (line.trim_start().starts_with("from ") && previous.contains(LEAD))
    })
}

/// Whether every mention of `address` is the one a reply refuses as the sender: Postfix's
/// smtpd names it at the head of the reply, "<a@b>: Sender address rejected: …" (smtpd_check.c),
/// which a notice quotes under the failed recipient. With VERP or a forwarder's rewritten
/// return path, that sender is not the bounce's `To:`.
fn named_as_refused_sender(lower: &str, address: &str) -> bool {
    every_mention(lower, address, |at, _| {
        let after = lower[at + address.len()..].trim_start_matches(['>', ':', ' ']);
        after.starts_with("sender address rejected")
    })
}

/// Whether every mention of `address` is the sender of an envelope a reply names as "from
/// <a@b>, to <c@d>" (Postfix's "Too many hops" reply to a mail loop): the other is
/// the recipient.
fn named_as_envelope_sender(lower: &str, address: &str) -> bool {
    every_mention(lower, address, |at, _| {
        let before = lower[..at].strip_suffix('<').unwrap_or(&lower[..at]);
        let after = lower[at + address.len()..].trim_start_matches('>');
        let after = after.strip_prefix(',').unwrap_or(after).trim_start();
        before.ends_with("from ")
            && after
                .strip_prefix("to")
                .is_some_and(|r| r.starts_with([' ', '\t', '\r', '\n', '<']))
    })
}

/// The addresses named right after "mail from:" in `lower`.
fn senders_in_mail_commands(lower: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text::find(&lower[from..], "mail from:") {
        let start = from + at + "mail from:".len();
        from = start;
        let rest = lower[start..].trim_start_matches([' ', '<']);
        let word = rest
            .split(|c: char| c.is_whitespace() || c == '>')
            .next()
            .unwrap_or("");
        if address::is_address(word) {
            out.push(word.to_string());
        }
    }
    out
}

/// Whether `address` occurs in `lower` and `is_such` holds for every occurrence, given its
/// offset and the offset of the start of its line.
fn every_mention(lower: &str, address: &str, is_such: impl Fn(usize, usize) -> bool) -> bool {
    let needle = address.to_ascii_lowercase();
    let mut from = 0;
    let mut seen = false;
    while let Some(at) = text::find(&lower[from..], &needle) {
        let at = from + at;
        from = at + needle.len();
        let line_start = lower[..at].rfind('\n').map_or(0, |p| p + 1);
        if !is_such(at, line_start) {
            return false;
        }
        seen = true;
    }
    seen
}

/// Whether every mention of `address` is one to write to ("For further assistance, please
/// contact <support@…>", "<support@…>へご連絡ください"), as Postfix's templates and many
/// providers' footers say.
fn named_as_contact(lower: &str, address: &str) -> bool {
    // Not "send mail to" alone: "could not send mail to <a@b>" names the failed recipient.
    // RFC 5321's 551 names the address the user moved to: one to write to, not a recipient.
    const LEADS: &[&str] = &[
        "please contact",
        "please send mail to",
        "contact us at",
        "user not local; please try",
    ];
    // Japanese puts the verb after the address: "<a@b>へご連絡ください".
    const TAILS: &[&str] = &["ご連絡", "お問い合わせ", "問い合わせ"];
    every_mention(lower, address, |at, line_start| {
        // The verb may wrap onto the next line.
        let line_end = lower[at..]
            .match_indices('\n')
            .nth(1)
            .map_or(lower.len(), |(p, _)| at + p);
        LEADS.iter().any(|l| lower[line_start..at].contains(l))
            || TAILS.iter().any(|t| lower[at..line_end].contains(t))
    })
}

/// Whether every mention of `address` names it as the address a failed recipient was made
/// from by a redirect: Exim's "(generated from a@b)" and "(ultimately generated from a@b)"
/// under the failed address, Postfix's "<x@y> (expanded from <a@b>)", Sendmail's
/// "(expanded from: <a@b>)". The failure is the redirected address's.
fn named_as_origin(lower: &str, address: &str) -> bool {
    every_mention(lower, address, |at, line_start| {
        let before = lower[line_start..at].trim_end_matches(['<', ' ']);
        before.ends_with("generated from")
            || before.ends_with("expanded from")
            || before.ends_with("expanded from:")
    })
}

/// Whether a block has no SMTP code and no words of a reason: only a lead-in.
fn says_nothing(block: &str) -> bool {
    crate::status::find_status(block, b"542").is_none()
        && crate::status::find_reply_code(block, None).is_none()
}

/// The paragraph after the one that names `recipient`.
fn following(region: &str, lower: &str, recipient: &str) -> String {
    let Some(at) = text::find(lower, &recipient.to_ascii_lowercase()) else {
        return String::new();
    };
    let mut rest = &region[at..];
    let mut out = String::new();
    // Up to three paragraphs, until one carries an SMTP code: the server's words.
    for _ in 0..3 {
        let Some(blank) = blank_line(rest) else {
            break;
        };
        rest = rest[blank..].trim_start_matches(['\n', ' ', '\t']);
        // The next MIME part of the flattened body, a returned message's header, or the next
        // recipient's block, is not these words.
        if rest.starts_with("Content-Type:")
            || rest.starts_with("Received: ")
            || rest.starts_with("Return-Path: ")
            || opens_recipient_block(rest)
        {
            break;
        }
        let next = paragraph(rest);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&next);
        if !says_nothing(&next) {
            break;
        }
    }
    out
}

/// Where the first blank line after the first line of `text` starts: a line of nothing but
/// spaces and tabs is blank too, as [`paragraph`] reads it (notices that pad their paragraphs
/// with tab lines, "\t\t=09" in quoted-printable).
fn blank_line(text: &str) -> Option<usize> {
    let mut at = text.find('\n')? + 1;
    for line in text[at..].split_inclusive('\n') {
        if line.trim().is_empty() {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// Findings without an address get the returned message's recipient when there is one.
fn fill_recipients(mail: &Mail, findings: &mut Vec<Finding>) {
    if findings.iter().all(|f| !f.recipient.is_empty()) {
        return;
    }
    let original = mail.original_headers();
    let to = original
        .iter()
        .find(|(n, _)| n == "to")
        .and_then(|(_, v)| address::find(v));
    for f in findings.iter_mut().filter(|f| f.recipient.is_empty()) {
        if let Some(to) = &to {
            f.recipient = to.clone();
        }
    }
    findings.retain(|f| !f.recipient.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(recipient: &str, status: Option<&str>, diagnostic: &str) -> Vec<Finding> {
        vec![Finding {
            recipient: recipient.to_string(),
            status: status.map(str::to_string),
            diagnostic: diagnostic.to_string(),
            ..Finding::default()
        }]
    }

    #[test]
    fn the_inline_original_names_the_recipient() {
        let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@example.com>\n\
Subject: Returned mail: Cannot send message for 4 days\n\n\
   ----- Transcript of session follows -----\n\
421 example.com (smtp)... Deferred: Connection timed out during user open with example.com\n\n\
   ----- Unsent message follows -----\nReceived: by mx9.example.com; id 0\nFrom: a@example.co.jp\n\
To: kijitora@example.com\nSubject: Nyaaan\n\nbody\n";
        let mail = Mail::parse(raw.as_bytes());
        let f = addressed_by_original(&mail, report_region(&mail)).unwrap();
        assert_eq!(f.recipient, "kijitora@example.com");
        assert!(
            f.diagnostic
                .starts_with("421 example.com (smtp)... Deferred")
        );
        let person = Mail::parse(raw.replace("MAILER-DAEMON", "someone").as_bytes());
        assert!(addressed_by_original(&person, report_region(&person)).is_none());
    }

    #[test]
    fn the_sender_in_the_lead_in_is_no_recipient() {
        let region = "The original message was received at Thu, 29 Apr 2010 23:34:45 +0900 (JST)\n\
from shironeko@example.jp\n\n---The following addresses had delivery errors---\n\n\
kijitora@example.co.jp [User unknown]\nReceived: from mx.example.jp by mx.example.co.jp\nFrom: a@example.jp\n";
        let spaced = region.replace("]\nReceived", "]\n\nReceived");
        let lower = region.to_ascii_lowercase();
        assert!(named_as_sender(&lower, "shironeko@example.jp"));
        assert!(!named_as_sender(&lower, "kijitora@example.co.jp"));
        assert_eq!(
            words_for(region, &lower, "kijitora@example.co.jp").unwrap(),
            "kijitora@example.co.jp [User unknown]"
        );
        assert_eq!(
            words_for(
                &spaced,
                &spaced.to_ascii_lowercase(),
                "kijitora@example.co.jp"
            )
            .unwrap(),
            "kijitora@example.co.jp [User unknown]"
        );
    }

    #[test]
    fn a_transcript_line_of_many_byte_characters_is_read_without_a_panic() {
        let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@example.edu>\n\
Subject: Returned mail: see transcript for details\n\n\
   ----- Transcript of session follows -----\n... while talking to mx.example.edu.:\n\
>>> \u{3042}\u{3044}\u{3046}\n<<< 550 5.7.1 refused\n\n\
Reporting-MTA: dns; mx.example.edu\n\nFinal-Recipient: RFC822; a@example.edu\nAction: failed\nStatus: 5.7.1\n\n\
Final-Recipient: RFC822; b@example.edu\nAction: failed\nStatus: 5.7.1\n";
        let mail = Mail::parse(raw.as_bytes());
        let (mut found, envelope) = crate::dsn::findings(&mail);
        complete(&mail, &mut found, &envelope.orphans);
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn a_lone_recipient_without_words_takes_the_lead_in() {
        let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@example.edu>\n\
Subject: Returned mail: Service unavailable\n\n\
   ----- The following addresses had permanent fatal errors -----\n\"|exec /usr/bin/procmail\"\n\n\
   ----- Transcript of session follows -----\n554 \"|exec /usr/bin/procmail\"... Service unavailable\n\n\
Reporting-MTA: dns; mx.example.edu\n\nFinal-Recipient: RFC822; a@mx.example.edu\nAction: failed\nStatus: 5.5.0\n";
        let mail = Mail::parse(raw.as_bytes());
        let (mut found, envelope) = crate::dsn::findings(&mail);
        complete(&mail, &mut found, &envelope.orphans);
        assert_eq!(
            found[0].diagnostic,
            "\"|exec /usr/bin/procmail\" 554 \"|exec /usr/bin/procmail\"... Service unavailable"
        );
    }

    #[test]
    fn a_lone_recipients_words_begin_with_the_lead_in() {
        let raw = "From: postmaster@example.net\nSubject: Delivery failure\n\n\
Your message to a@example.net was rejected because the mailbox is full.\n\n\
Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; b@example.net\nAction: failed\n\
Status: 5.0.0\nDiagnostic-Code: smtp; 550 rejected\n";
        let mail = Mail::parse(raw.as_bytes());
        let (mut found, envelope) = crate::dsn::findings(&mail);
        complete(&mail, &mut found, &envelope.orphans);
        assert_eq!(
            found[0].diagnostic,
            "Your message to a@example.net was rejected because the mailbox is full. 550 rejected"
        );
        // Sendmail's own bounces keep their diagnostic.
        let sendmail = raw.replace(
            "Delivery failure",
            "Returned mail: see transcript for details",
        );
        let mail = Mail::parse(sendmail.as_bytes());
        let (mut found, envelope) = crate::dsn::findings(&mail);
        complete(&mail, &mut found, &envelope.orphans);
        assert_eq!(found[0].diagnostic, "550 rejected");
    }

    #[test]
    fn headers_and_contacts_name_no_recipient() {
        let region = "<a@example.co.jp>: 550 unknown user\n\nReceived: from localhost (localhost [127.0.0.1])\n\
\tby mx.example.org (Postfix) with ESMTP id 0\n\tfor <b@example.co.jp>; Thu, 29 Apr 2009 23:34:45 +0900\n\n\
For further assistance, please contact <support@example.ad.jp>\n上記で解決しない場合は<support@example.ad.jp>\nへご連絡ください。\n";
        let lower = region.to_ascii_lowercase();
        assert!(named_by_header_line(region, &lower, "b@example.co.jp"));
        assert!(!named_by_header_line(region, &lower, "a@example.co.jp"));
        assert!(named_as_contact(&lower, "support@example.ad.jp"));
        let moved = "550 5.1.6 <a@example.org>... user not local; please try <a@example.net>";
        assert!(named_as_contact(moved, "a@example.net"));
        assert!(!named_as_contact(moved, "a@example.org"));
        assert!(!named_as_contact(&lower, "a@example.co.jp"));
    }

    #[test]
    fn words_end_at_the_next_recipient() {
        let region = "Unable to deliver message to the following address(es).\n\n\
<a@example.com>:\nThis user doesn't have a example.com account (a@example.com) [0]\n\n\
<b@example.com>:\nSorry your message to b@example.com cannot be delivered. This account has been disabled or discontinued [#102].\n\n";
        let lower = region.to_ascii_lowercase();
        let words = words_for(region, &lower, "a@example.com").unwrap();
        assert_eq!(
            words,
            "<a@example.com>: This user doesn't have a example.com account (a@example.com) [0]"
        );
    }

    #[test]
    fn sendmail_transcripts_complete_the_dsn() {
        // The remote's multi-line reply replaces the DSN's cut first line; the command is the
        // transcript's.
        let region = "   ----- Transcript of session follows -----\n\
... while talking to gmail-smtp-in.l.google.com.:\n>>> DATA\n\
<<< 550-5.7.1 Unauthenticated email from example.com is not accepted due to domain's\n\
<<< 550 5.7.1 DMARC policy. Please contact the administrator\n\
554 5.0.0 Service unavailable\n";
        let mut found = one(
            "a@example.jp",
            Some("5.7.1"),
            "550-5.7.1 Unauthenticated email from example.com is not accepted due to domain's",
        );
        sendmail(region, &mut found);
        assert!(
            found[0]
                .diagnostic
                .contains("domain's 550 5.7.1 DMARC policy")
        );
        assert_eq!(found[0].command, Some(SmtpCommand::Data));

        // A DSN that lost the local part: the address and status come from Sendmail's own line.
        let region = "   ----- Transcript of session follows -----\n\
550 5.1.2 <kijitora@example.org>... Host unknown (Name server: example.org: no data known)\n";
        let mut found = one("", None, "");
        sendmail(region, &mut found);
        assert_eq!(found[0].recipient, "kijitora@example.org");
        assert_eq!(found[0].status.as_deref(), Some("5.1.2"));
        assert!(found[0].diagnostic.contains("Host unknown"));

        // A recipient's own line in place of a diagnostic of digits.
        let region = "----- Transcript of session follows -----\n\
<kijitora@example.co.jp>... Deferred: Name server: example.co.jp.: host name lookup failure\n";
        let mut found = one("kijitora@example.co.jp", Some("4.4.3"), "554");
        sendmail(region, &mut found);
        assert_eq!(
            found[0].diagnostic,
            "Deferred: Name server: example.co.jp.: host name lookup failure"
        );

        // Replies without a command were answers to the greeting or EHLO.
        let region = "   ----- Transcript of session follows -----\n\
... while talking to mx.example.org.:\n<<< 421 Too busy\n";
        let mut found = one("a@example.org", Some("4.0.0"), "421 Too busy");
        sendmail(region, &mut found);
        assert_eq!(found[0].command, Some(SmtpCommand::Ehlo));
    }
}
