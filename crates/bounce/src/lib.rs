//! The bounce analyser: the raw bytes of a message that came back in, for every recipient it
//! reports on out: address, enhanced status code, SMTP reply code, reason (in Sisimai's
//! vocabulary), action, the remote server's words, the remote MTA, hard or soft; and what kind
//! of message it was (a bounce, a feedback report, an auto-reply, or none of these).
//!
//! It owns the reading of delivery status notifications (RFC 3464, lenient about the malformed
//! ones), feedback reports (RFC 5965), auto-replies (RFC 3834), the non-standard bounces of
//! common MTAs and mail services, and the naming of reasons (also for a synchronous SMTP reply,
//! [`reason_of_reply`]). It must stay synchronous and free of I/O, never panic, and take
//! bounded time and memory on any input: it reads mail that strangers send. What to do with a
//! bounce (events, suppression) belongs to its callers.
//!
//! Layers: [`mime`] flattens the message; [`dsn`], [`feedback`] and [`autoreply`] read the
//! standard formats; [`mta`] the non-standard ones and the text parts that complete a DSN;
//! [`classify`] names the reason from the facts, with the phrase tables of [`phrases`].

mod address;
mod autoreply;
mod classify;
mod dsn;
mod feedback;
mod html;
mod mime;
mod mta;
mod phrases;
mod reason;
mod rhost;
pub mod score;
mod ses;
mod status;
mod text;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use classify::reason_of_reply;
pub use reason::Reason;

use aho_corasick::{AhoCorasick, MatchKind};
use hikyaku_model::named_enum;

/// What the analyser made of a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Analysis {
    pub kind: MessageKind,
    /// One record per recipient the message reports on (empty for [`MessageKind::NotBounce`]).
    pub records: Vec<Record>,
}

/// The kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A delivery failure (or delay, or a delivery report) for one or more recipients.
    Bounce,
    /// A feedback report (RFC 5965): the recipient complained; records have reason `feedback`.
    Feedback,
    /// An automatic reply (RFC 3834, vacation): not a bounce; records have reason `vacation`.
    AutoReply,
    /// None of these.
    NotBounce,
}

/// What a report says about one recipient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Record {
    pub recipient: String,
    /// Enhanced status code (`5.1.1`); a pseudo code `5.0.9xx` when the bounce had none.
    pub status: Option<String>,
    /// SMTP reply code (`550`).
    pub reply_code: Option<String>,
    pub reason: Reason,
    pub action: Option<Action>,
    /// The remote server's words (or the reporting MTA's), on one line.
    pub diagnostic: String,
    pub remote_mta: Option<String>,
    /// The SMTP command the remote server refused, when known.
    pub command: Option<SmtpCommand>,
    /// Whether sending to this address again is pointless (see [`Reason::is_hard`]).
    pub hard: bool,
    /// For feedback reports: the `Feedback-Type` (`abuse`, `auth-failure`, …).
    pub feedback_type: Option<String>,
}

named_enum! {
    /// The RFC 3464 action of a recipient.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Action: "DSN action" {
        Failed = "failed",
        Delayed = "delayed",
        Delivered = "delivered",
        Relayed = "relayed",
        Expanded = "expanded",
    }
}

impl Action {
    /// The action in an `Action:` field, including the misspellings seen in the wild.
    pub(crate) fn parse(value: &str) -> Option<Action> {
        let v = value.trim().to_ascii_lowercase();
        let word = v
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("");
        Some(match word {
            "failed" | "failure" | "fail" => Action::Failed,
            "delayed" | "delay" | "expired" => Action::Delayed,
            "delivered" | "deliverable" => Action::Delivered,
            "relayed" => Action::Relayed,
            "expanded" => Action::Expanded,
            _ => return None,
        })
    }
}

named_enum! {
    /// The SMTP command a remote server answered with the failure (`Connect` is the greeting).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SmtpCommand: "SMTP command" {
        Connect = "CONN",
        Helo = "HELO",
        Ehlo = "EHLO",
        StartTls = "STARTTLS",
        Auth = "AUTH",
        Mail = "MAIL",
        Rcpt = "RCPT",
        Data = "DATA",
    }
}

impl SmtpCommand {
    /// Commands before the message was sent: the server cannot have judged its content.
    pub(crate) fn is_before_data(self) -> bool {
        matches!(
            self,
            SmtpCommand::Connect
                | SmtpCommand::Helo
                | SmtpCommand::Ehlo
                | SmtpCommand::Mail
                | SmtpCommand::Rcpt
        )
    }

    /// The command a diagnostic text names (`in reply to RCPT TO command`, `after end of
    /// data`); the one furthest into the session when it names several.
    pub(crate) fn find(text: &str) -> Option<SmtpCommand> {
        const WORDS: [(&str, SmtpCommand); 9] = [
            ("HELO", SmtpCommand::Helo),
            ("EHLO", SmtpCommand::Ehlo),
            ("STARTTLS", SmtpCommand::StartTls),
            ("AUTH ", SmtpCommand::Auth),
            ("MAIL F", SmtpCommand::Mail),
            ("MAIL", SmtpCommand::Mail),
            ("RCPT", SmtpCommand::Rcpt),
            ("DATA", SmtpCommand::Data),
            ("end of data", SmtpCommand::Data),
        ];
        // qmail-remote's and Exim's words for where the session failed.
        const PHRASES: [(&str, SmtpCommand); 10] = [
            ("after initial connection", SmtpCommand::Connect),
            // Postfix: the greeting or the answer to HELO refused the session.
            ("refused to talk to me", SmtpCommand::Helo),
            ("greeting", SmtpCommand::Connect),
            ("but my name was rejected", SmtpCommand::Helo),
            ("does not like sender", SmtpCommand::Mail),
            ("but sender was rejected", SmtpCommand::Mail),
            ("failed after i sent the message", SmtpCommand::Data),
            ("does not like recipient", SmtpCommand::Rcpt),
            ("failed on data command", SmtpCommand::Data),
            // 1&1: "SMTP error from remote server for TEXT command" (the message text).
            ("for text command", SmtpCommand::Data),
        ];
        // Each list is one automaton, searched once (it was nineteen searches of the text,
        // for every recipient). The words: the last of the list that stands as a word
        // somewhere. Leftmost-first matches skip only occurrences that begin inside another
        // word's match, and those follow a letter of it: never words standing alone.
        static AUTOMATA: std::sync::OnceLock<(AhoCorasick, AhoCorasick)> =
            std::sync::OnceLock::new();
        let (words, phrases) = AUTOMATA.get_or_init(|| {
            let build = |patterns: Vec<&str>, case_insensitive: bool, kind: MatchKind| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(case_insensitive)
                    .match_kind(kind)
                    .build(patterns)
                    .expect("the command words build an automaton")
            };
            (
                build(
                    WORDS.iter().map(|(w, _)| *w).collect(),
                    false,
                    MatchKind::LeftmostFirst,
                ),
                build(
                    PHRASES.iter().map(|(p, _)| *p).collect(),
                    true,
                    MatchKind::Standard,
                ),
            )
        });
        let bytes = text.as_bytes();
        // Part of a word, an address or a host name (DATABASE@, MAILER-DAEMON).
        let joined = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'-' | b'_');
        // A word that ends a run of capitals ("UNDELIVERABLE MAIL", Courier's heading) is a
        // heading's, not a command in a transcript or a sentence: a command follows a prompt
        // (">>>"), a lower-case word ("in reply to", "after") or begins a line.
        let in_heading = |at: usize| {
            let head = text[..at].trim_end_matches(' ');
            head.len() < at
                && head
                    .rsplit(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .is_some_and(|w| w.len() > 1 && w.bytes().all(|b| b.is_ascii_uppercase()))
        };
        let last_word = words
            .find_iter(text)
            .filter(|m| {
                let (at, word) = (m.start(), WORDS[m.pattern().as_usize()].0);
                let before = if at == 0 { b' ' } else { bytes[at - 1] };
                let end = at + word.trim_end().len();
                let after = bytes.get(end).copied().unwrap_or(b' ');
                !(joined(before)
                    || (word.len() == 4 && after != b'_' && joined(after))
                    || (word == "MAIL" && in_heading(at)))
            })
            .map(|m| m.pattern().as_usize())
            .max();
        if let Some(n) = last_word {
            return Some(WORDS[n].1);
        }
        // The last of the phrases (in the list's order) that the text holds, in any case.
        phrases
            .find_overlapping_iter(text)
            .map(|m| m.pattern().as_usize())
            .max()
            .map(|n| PHRASES[n].1)
    }
}

/// What a recogniser found about one recipient, before the reason is named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Finding {
    pub recipient: String,
    pub status: Option<String>,
    pub reply_code: Option<String>,
    pub diagnostic: String,
    /// Upper case (`SMTP`, `X-UNIX`).
    pub diagnostic_type: Option<String>,
    pub action: Option<Action>,
    pub remote_mta: Option<String>,
    pub command: Option<SmtpCommand>,
    /// A recogniser's own verdict (see [`classify`]).
    pub hint: Option<Reason>,
    pub feedback_type: Option<String>,
}

/// Analyse one message. Never panics; time and memory are bounded by the input's first few
/// megabytes (the rest is not read).
pub fn analyse(raw: &[u8]) -> Analysis {
    let messages = mbox_messages(raw);
    if messages.len() > 1 {
        let mut kind = MessageKind::NotBounce;
        let mut records = Vec::new();
        for message in messages {
            let analysis = analyse_one(message);
            if kind == MessageKind::NotBounce {
                kind = analysis.kind;
            }
            records.extend(analysis.records);
        }
        return Analysis { kind, records };
    }
    analyse_one(raw)
}

/// The messages of an mbox file (each opened by a `From sender date` line followed by a
/// header field), or the input alone. At most [`MAX_MBOX_MESSAGES`] are read.
fn mbox_messages(raw: &[u8]) -> Vec<&[u8]> {
    if !raw.starts_with(b"From ") {
        return vec![raw];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while let Some(pos) = raw[at..].windows(6).position(|w| w == b"\nFrom ") {
        let next = at + pos + 1;
        at = next;
        let Some(line_end) = raw[next..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let separator = &raw[next..next + line_end];
        let second = &raw[next + line_end + 1..];
        let name_end = second.iter().position(|&b| b == b':').unwrap_or(0);
        let is_header = name_end > 0 && second[..name_end].iter().all(|b| b.is_ascii_graphic());
        let words = separator
            .split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .count();
        if is_header && words >= 4 {
            out.push(&raw[start..next]);
            start = next;
            if out.len() + 1 >= MAX_MBOX_MESSAGES {
                break;
            }
        }
    }
    out.push(&raw[start..]);
    out
}

/// Messages read from one mbox input.
const MAX_MBOX_MESSAGES: usize = 32;

fn analyse_one(raw: &[u8]) -> Analysis {
    analyse_message(raw, true)
}

/// One message; `nested`: whether a bounce attached to it may be read in its place (once).
fn analyse_message(raw: &[u8], nested: bool) -> Analysis {
    // An mbox separator (`From sender date`) is no header field: the message starts after it.
    let raw = match raw.strip_prefix(b"From ") {
        Some(rest) => rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw, |at| &rest[at + 1..]),
        None => raw,
    };
    let mail = mime::Mail::parse(raw);
    if let Some(findings) = feedback::findings(&mail) {
        return Analysis {
            kind: MessageKind::Feedback,
            records: findings
                .into_iter()
                .map(|f| finish(f, &Origin::default()))
                .collect(),
        };
    }
    match ses::findings(&mail) {
        Some(ses::Notification::Complaint(findings)) => {
            return Analysis {
                kind: MessageKind::Feedback,
                records: findings
                    .into_iter()
                    .map(|f| finish(f, &Origin::default()))
                    .collect(),
            };
        }
        Some(ses::Notification::Bounce(findings)) => {
            return Analysis {
                kind: MessageKind::Bounce,
                records: findings
                    .into_iter()
                    .map(|f| finish(f, &Origin::default()))
                    .collect(),
            };
        }
        None => {}
    }
    let mut from_text = false;
    let (findings, envelope) = match mta::preempt(&mail) {
        Some(mut findings) => {
            // The MTA's own text is read in place of its report, but a recipient only the
            // report names (it has more blocks than the text has recipients) failed all the
            // same: a report's blocks are its list of recipients.
            let (reported, _) = dsn::findings(&mail);
            if reported.len() > findings.len() {
                let named = |r: &str| findings.iter().any(|f| f.recipient.eq_ignore_ascii_case(r));
                let missing: Vec<_> = reported
                    .into_iter()
                    .filter(|r| !named(&r.recipient))
                    .collect();
                findings.extend(missing);
            }
            (findings, dsn::Envelope::default())
        }
        None => {
            let (mut findings, envelope) = dsn::findings(&mail);
            from_text = findings.is_empty();
            mta::complete(&mail, &mut findings, &envelope.orphans);
            (findings, envelope)
        }
    };
    let origin = Origin::of(&mail, envelope.reporting_mta);
    // Addresses in the text of an auto-reply ("from now on: a@b") are no failed recipients:
    // without a status or a reply code anywhere, the reply itself is the message.
    let says_nothing = |f: &Finding| {
        f.status.is_none()
            && f.hint.is_none()
            && status::find_status(&f.diagnostic, b"542").is_none()
            && status::find_reply_code(&f.diagnostic, None).is_none()
    };
    if from_text
        && findings.iter().all(says_nothing)
        && let Some(found) = autoreply::findings(&mail)
    {
        return Analysis {
            kind: MessageKind::AutoReply,
            records: found.into_iter().map(|f| finish(f, &origin)).collect(),
        };
    }
    if findings.is_empty() {
        if let Some(findings) = autoreply::findings(&mail) {
            return Analysis {
                kind: MessageKind::AutoReply,
                records: findings.into_iter().map(|f| finish(f, &origin)).collect(),
            };
        }
        // A report that names no address and carries the bounce as an attached message
        // (forwarded by a gateway): the attached message is the bounce.
        if nested
            && !mta::report_region(&mail).contains('@')
            && let Some(inner) = attached_message(raw)
        {
            let analysis = analyse_message(inner, false);
            if analysis.kind == MessageKind::Bounce {
                return analysis;
            }
        }
        if let Some(finding) = returned_recipient(&mail) {
            return Analysis {
                kind: MessageKind::Bounce,
                records: vec![finish(finding, &origin)],
            };
        }
        return Analysis {
            kind: MessageKind::NotBounce,
            records: Vec::new(),
        };
    }
    Analysis {
        kind: MessageKind::Bounce,
        records: findings.into_iter().map(|f| finish(f, &origin)).collect(),
    }
}

/// A delivery-failure notice that names its recipient in no form the readers know (Domino's
/// Notes names, Exchange 2003's "'A User' on <date>", a display name only) but returns the
/// message it could not deliver: when that message was for one address alone, that address
/// is the recipient, and the notice's words are its diagnostic. Only for a notice that says
/// what it is (its subject, or a mailer daemon as its author) and carries the message.
fn returned_recipient(mail: &mime::Mail) -> Option<Finding> {
    const SUBJECTS: &[&str] = &[
        "undeliver",
        "delivery fail",
        "delivery status notification",
        "failure",
        "failed",
        "not delivered",
        "could not be delivered",
        "returned mail",
        "non-deliver",
        "nondeliver",
    ];
    const AUTHORS: &[&str] = &["mailer-daemon", "postmaster", "mail delivery"];
    let subject = mail.subject().to_ascii_lowercase();
    let from = mail.from().to_ascii_lowercase();
    let notice =
        SUBJECTS.iter().any(|w| subject.contains(w)) || AUTHORS.iter().any(|w| from.contains(w));
    let returned = &mail.body[mail.report_end.min(mail.body.len())..];
    // A person who forwards a message as an attachment ("payment failed, see attached") writes
    // no notice: the same test of author and words as for any text-only report.
    if !notice
        || returned.trim().is_empty()
        || !mta::says_it_reports(mail, &mta::report_region(mail).to_ascii_lowercase())
    {
        return None;
    }
    let fields = match mail.original_at {
        Some(_) => mail.original_headers(),
        // After the notice's own marker line ("------ This is a copy of the message …"), the
        // first block of header fields.
        None => text::lines_inclusive(returned)
            .take(8)
            .scan(0, |at, line| {
                let start = *at;
                *at += line.len();
                Some(start)
            })
            .map(|start| mime::header_block(&returned[start..]).0)
            .find(|fields| fields.len() >= 2)?,
    };
    // A message a mailing list sent on (RFC 2369/2919 `List-*` fields, Mailman's
    // `X-BeenThere`) is addressed to the list: its `To:` is no subscriber's address.
    if fields.iter().any(|(name, _)| {
        let name = name.to_ascii_lowercase();
        name.starts_with("list-") || name == "x-beenthere"
    }) {
        return None;
    }
    let addressed: Vec<&str> = fields
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("to") || name.eq_ignore_ascii_case("cc"))
        .map(|(_, value)| value.as_str())
        .collect();
    // A mailbox written with an `@` that is no address (`user@#example.org`, the domain
    // malformed) is still one of the message's recipients, and may be the one that failed:
    // the message was then not for one readable address alone.
    if addressed
        .iter()
        .flat_map(|value| value.split(','))
        .any(|entry| entry.contains('@') && address::find(entry).is_none())
    {
        return None;
    }
    let to: Vec<String> = addressed
        .iter()
        .flat_map(|value| address::find_all(value))
        .collect();
    let own: Vec<String> = ["from", "to", "reply-to", "sender"]
        .iter()
        .filter_map(|h| mail.header(h))
        .flat_map(address::find_all)
        .map(|a| a.to_ascii_lowercase())
        .collect();
    let [recipient] = to.as_slice() else {
        return None;
    };
    if own.contains(&recipient.to_ascii_lowercase()) {
        return None;
    }
    // The notice's words, without the MIME fields of its parts.
    let words: String = text::lines(mta::report_region(mail))
        .filter(|line| !line.to_ascii_lowercase().starts_with("content-"))
        .flat_map(str::split_whitespace)
        .take(200)
        .collect::<Vec<_>>()
        .join(" ");
    let mut found = [Finding {
        recipient: recipient.clone(),
        command: SmtpCommand::find(&words),
        diagnostic: words,
        ..Finding::default()
    }];
    // The MTA's own sentences name the reason as they do when the recipient is found.
    mta::own_sentences(mail, &mut found);
    let [finding] = found;
    Some(finding)
}

/// The message attached as the first `message/rfc822` part of `raw` (after that part's own
/// header block), if there is one.
fn attached_message(raw: &[u8]) -> Option<&[u8]> {
    const MARK: &[u8] = b"content-type: message/rfc822";
    let at = raw
        .windows(MARK.len())
        .position(|w| w.eq_ignore_ascii_case(MARK))?;
    let rest = &raw[at..];
    let blank = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .or_else(|| rest.windows(4).position(|w| w == b"\r\n\r\n"))?;
    let inner = &rest[blank..];
    let start = inner.iter().position(|&b| b != b'\n' && b != b'\r')?;
    Some(&inner[start..])
}

/// Where the bounce was written: the reporting MTA and the host that sent the bounce (the
/// `from` of the newest `Received:` field). Mail services are known by these too.
#[derive(Debug, Default)]
struct Origin {
    local_hosts: Vec<String>,
}

impl Origin {
    fn of(mail: &mime::Mail, reporting_mta: Option<String>) -> Origin {
        let mut local_hosts: Vec<String> = reporting_mta.into_iter().collect();
        let sender = mail
            .headers
            .iter()
            .filter(|(n, _)| n == "received")
            .find_map(|(_, v)| {
                let from = v.strip_prefix("from ")?;
                let host = from.split_whitespace().next()?;
                (host.contains('.') && host.bytes().any(|b| b.is_ascii_alphabetic()))
                    .then(|| host.to_string())
            });
        local_hosts.extend(sender);
        Origin { local_hosts }
    }
}

/// Turn a finding into a record: settle the status and reply codes, clean the diagnostic,
/// name the reason, and decide hard or soft.
fn finish(f: Finding, origin: &Origin) -> Record {
    let diagnostic = sweep(&f.diagnostic);
    let mut status = f.status.clone().filter(|s| !s.is_empty());
    let mut reply_code = f.reply_code.clone().filter(|c| status::is_reply_code(c));
    if !diagnostic.is_empty() {
        let in_text = status::find_status(&diagnostic, b"542");
        let class = in_text.as_deref().map(|s| s.as_bytes()[0]);
        let reply_in_text = status::find_reply_code(&diagnostic, class);
        status = match (status, in_text) {
            (Some(field), Some(text)) => Some(status::prefer(&field, &text, reply_in_text)),
            (field, text) => field.or(text),
        };
        if reply_code.is_none() {
            reply_code = reply_in_text.map(str::to_string);
        }
    }
    let lower = diagnostic.to_lowercase();
    let destination = f.recipient.rsplit_once('@').map_or("", |(_, d)| d);
    let service = rhost::service(
        destination,
        f.remote_mta
            .as_deref()
            .into_iter()
            .chain(rhost::host_names(&diagnostic)),
        origin.local_hosts.iter().map(String::as_str),
    );
    let service_verdict =
        service.and_then(|s| rhost::reason(s, status.as_deref(), reply_code.as_deref(), &lower));
    // au (KDDI) answers with the same "<address>: User unknown" whether the address does not
    // exist (at RCPT) or its owner's reception filter refused the message (after the data, as
    // the Japanese senders' documentation of au's replies says). A report whose status names
    // an unknown user (5.1.1) saw the refusal at RCPT, whatever command came last.
    let service_verdict = match (service, service_verdict, f.command) {
        (Some(rhost::Service::Kddi), Some(Reason::UserUnknown), Some(SmtpCommand::Data))
            if status.as_deref() != Some("5.1.1") =>
        {
            Some(Reason::Filtered)
        }
        (_, verdict, _) => verdict,
    };
    let facts = classify::Facts {
        service_verdict,
        status: status.as_deref(),
        reply_code: reply_code.as_deref(),
        diagnostic: &lower,
        diagnostic_type: f.diagnostic_type.as_deref(),
        action: f.action,
        command: f.command,
        hint: f.hint,
    };
    let reason = classify::reason(&facts);
    let temporary = is_temporary(status.as_deref(), reply_code.as_deref(), &lower);
    if status.is_none() && reason.is_failure() {
        status = status::pseudo_status(reason, temporary);
    }
    // A reply code of another class than the status code belongs to something else.
    if let (Some(s), Some(r)) = (&status, &reply_code)
        && s.as_bytes()[0] != r.as_bytes()[0]
    {
        reply_code =
            status::find_reply_code(&diagnostic, Some(s.as_bytes()[0])).map(str::to_string);
    }
    if matches!(reason, Reason::Feedback | Reason::Vacation) {
        reply_code = None;
    }
    let action = match reason {
        Reason::Delivered => Some(Action::Delivered),
        // A report that the MTA gave up is its final word (RFC 3464 says `failed`); a delay
        // notice says `delayed` itself.
        Reason::Expired => Some(f.action.unwrap_or(Action::Failed)),
        _ => f.action.or_else(|| {
            status
                .as_deref()
                .filter(|s| s.starts_with(['4', '5']))
                .map(|_| Action::Failed)
        }),
    };
    let permanent = status.as_deref().map_or(!temporary, |s| s.starts_with('5'));
    Record {
        recipient: f.recipient,
        status,
        reply_code,
        reason,
        action,
        diagnostic,
        remote_mta: f.remote_mta,
        command: f.command,
        hard: reason.is_hard(permanent),
        feedback_type: f.feedback_type,
    }
}

/// Whether the words or codes say the failure was temporary.
fn is_temporary(status: Option<&str>, reply_code: Option<&str>, lower: &str) -> bool {
    let class = status
        .or(reply_code)
        .and_then(|c| c.as_bytes().first().copied())
        .or_else(|| status::find_status(lower, b"54").map(|s| s.as_bytes()[0]))
        .or_else(|| status::find_reply_code(lower, None).map(|s| s.as_bytes()[0]));
    match class {
        Some(b'4') => true,
        Some(_) => false,
        None => lower.contains(" temporar") || lower.contains(" persistent"),
    }
}

/// The diagnostic on one line: white space collapsed, HTML dropped, the repeated reply-code
/// prefixes of multi-line replies (`550-5.7.1 `) removed.
fn sweep(text: &str) -> String {
    let text = mime::cut(text, 8 << 10);
    let mut text = text.to_string();
    // Without a `<` there is no HTML to drop: no lower-case copy is made.
    if memchr::memchr(b'<', text.as_bytes()).is_some() {
        let lower = text.to_ascii_lowercase();
        if let (Some(a), Some(b)) = (lower.find("<html"), lower.find("</html>"))
            && a < b
        {
            text.replace_range(a..b + 7, " ");
        }
    }
    let mut out = String::with_capacity(text.len());
    // ASCII text without a vertical tab splits the same at ASCII white space, byte by byte
    // (Unicode's white space in ASCII is that and U+000B).
    let words: Box<dyn Iterator<Item = &str>> = if text.is_ascii() && !text.contains('\x0b') {
        Box::new(text.split_ascii_whitespace())
    } else {
        Box::new(text.split_whitespace())
    };
    for word in words {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    // "550-5.7.1 text 550-5.7.1 more 550 5.7.1 end" → "550 5.7.1 text more end"
    if let Some(code) = status::find_reply_code(&out, None)
        && out.contains(&format!("{code}-"))
    {
        let status_code = status::find_status(&out, &[code.as_bytes()[0]]);
        let mut cleaned = out.clone();
        for sep in ["-", " "] {
            if let Some(s) = &status_code {
                cleaned = cleaned.replace(&format!("{code}{sep}{s} "), "");
            }
            cleaned = cleaned.replace(&format!("{code}{sep}"), "");
        }
        let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
        out = match status_code {
            Some(s) => format!("{code} {s} {cleaned}"),
            None => format!("{code} {cleaned}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_in_diagnostics() {
        let table: &[(&str, Option<SmtpCommand>)] = &[
            ("(in reply to RCPT TO command)", Some(SmtpCommand::Rcpt)),
            ("in reply to end of DATA command", Some(SmtpCommand::Data)),
            (
                "SMTP error from remote mail server after end of data:",
                Some(SmtpCommand::Data),
            ),
            ("after MAIL FROM:<a@b> SIZE=1", Some(SmtpCommand::Mail)),
            (
                "SMTP error from remote mail server after initial connection:",
                Some(SmtpCommand::Connect),
            ),
            ("DATABASE@EXAMPLE.JP said no", None),
            (
                "host mx.example.net[192.0.2.1] refused to talk to me: 421 Service not available",
                Some(SmtpCommand::Helo),
            ),
            ("MAILER-DAEMON", None),
            (
                "SMTP error from remote server for TEXT command, host: mx.example.fr",
                Some(SmtpCommand::Data),
            ),
            ("User Unknown [RCPT_TO]", Some(SmtpCommand::Rcpt)),
            (
                "192.0.2.1 does not like recipient.",
                Some(SmtpCommand::Rcpt),
            ),
            (
                "(in reply to MAIL FROM command) and RCPT",
                Some(SmtpCommand::Rcpt),
            ),
            // Courier's heading; its transcript, when it has one, names the command.
            (
                "UNDELIVERABLE MAIL Your message to the following recipients cannot be \
                 delivered: <a@b>: <<< Network is down",
                None,
            ),
            (
                "UNDELIVERABLE MAIL Your message ... >>> MAIL FROM:<a@b> <<< 553 no",
                Some(SmtpCommand::Mail),
            ),
            (">>> MAIL <<< 421 later", Some(SmtpCommand::Mail)),
        ];
        for (text, want) in table {
            assert_eq!(SmtpCommand::find(text), *want, "{text}");
        }
    }

    #[test]
    fn mbox_files_hold_several_messages() {
        let one = "From MAILER-DAEMON Thu Apr 29 23:34:45 2015\nSubject: x\n\nFinal-Recipient: rfc822; a@example.jp\nAction: failed\nStatus: 5.1.1\n";
        let two = one.replace("a@example", "b@example");
        let raw = format!("{one}\n{two}");
        assert_eq!(mbox_messages(raw.as_bytes()).len(), 2);
        let analysis = analyse(raw.as_bytes());
        let recipients: Vec<_> = analysis
            .records
            .iter()
            .map(|r| r.recipient.as_str())
            .collect();
        assert_eq!(recipients, ["a@example.jp", "b@example.jp"]);
        // A "From " line in a body that is not a message separator.
        let body =
            "From x Thu Apr 29 2015\nSubject: y\n\ntext\n\nFrom the desk of nobody\nthanks\n";
        assert_eq!(mbox_messages(body.as_bytes()).len(), 1);
        assert_eq!(
            mbox_messages(b"Subject: y\n\n\nFrom a b c d\nB: c\n").len(),
            1
        );
    }

    #[test]
    fn auto_replies_naming_addresses_are_no_bounces() {
        let raw = "From MAILER-DAEMON  Mon Sep 20 19:29:27 2021\nFrom: <foo@bar.example>\nTo: a@example.com\n\
Subject: abc\nAuto-Submitted: auto-replied\n\nfrom now on\nkarl@hanz.example\n";
        let analysis = analyse(raw.as_bytes());
        assert_eq!(analysis.kind, MessageKind::AutoReply);
        assert_eq!(analysis.records[0].recipient, "foo@bar.example");
        assert_eq!(analysis.records[0].reason, Reason::Vacation);
        // With a reply code the address is a failed recipient after all.
        let bounce = raw.replace(
            "from now on\nkarl@hanz.example",
            "karl@hanz.example: 550 5.1.1 unknown user",
        );
        assert_eq!(analyse(bounce.as_bytes()).kind, MessageKind::Bounce);
    }

    #[test]
    fn a_bounce_attached_to_a_notice() {
        let raw = "From: MAILER-DAEMON@mx.example.org\nSubject: Delivery failure\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"AA\"\n\n--AA\nContent-Type: text/plain\n\nDetails attached.\n\n\
--AA\nContent-Type: message/rfc822\n\nFrom: MAILER-DAEMON@mx.example.org\nSubject: Returned mail\n\n\
Reporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; kijitora@example.net\nAction: failed\n\
Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User Unknown\n\n--AA--\n";
        let analysis = analyse(raw.as_bytes());
        assert_eq!(analysis.kind, MessageKind::Bounce);
        assert_eq!(analysis.records[0].recipient, "kijitora@example.net");
        assert_eq!(analysis.records[0].reason, Reason::UserUnknown);
        // A message attached to a message attached to a notice is not looked into.
        assert!(attached_message(b"Subject: x\n\nno attachment\n").is_none());
    }

    #[test]
    fn sweeping_multiline_replies() {
        assert_eq!(
            sweep(
                "550-5.7.1 [192.0.2.1] Our system has\n 550-5.7.1 detected spam.\n 550 5.7.1 See help"
            ),
            "550 5.7.1 [192.0.2.1] Our system has detected spam. See help"
        );
        assert_eq!(sweep("  a \n\t b "), "a b");
        // White space is Unicode's, also in ASCII text: the vertical tab separates too.
        assert_eq!(sweep("a\x0bb c"), "a b c");
        assert_eq!(sweep("a\u{3000}b\u{a0}c"), "a b c");
        assert_eq!(sweep("x <html><b>y</b></html> z"), "x z");
    }

    #[test]
    fn actions_in_the_wild() {
        assert_eq!(Action::parse("failed"), Some(Action::Failed));
        assert_eq!(Action::parse("Failure"), Some(Action::Failed));
        assert_eq!(Action::parse("delayed (retrying)"), Some(Action::Delayed));
        assert_eq!(Action::parse("nonsense"), None);
    }
}
