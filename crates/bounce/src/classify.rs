//! The reason of one failed recipient from everything known about it: the diagnostic text,
//! the enhanced status code, the reply code, the action, the SMTP command that failed, and a
//! recogniser's own verdict. Where they disagree, the precedence is Sisimai's (go-sisimai
//! `reason/find.go` and the `ProbesInto` of each reason), because the corpus and the operators
//! expect its answers:
//!
//! 1. a recogniser's verdict stands unless it is one of the weak reasons (see
//!    `Verdict::is_weak`);
//! 2. a `2.x.x` status means delivered;
//! 3. for SMTP diagnostics, the reasons of [`FIRST`] are probed in order, each by its status
//!    code or its phrases (with the command and the status code as guards);
//! 4. otherwise the status code's own reason, the phrases of [`SECOND`] when the code says
//!    little, and the class of the code (`X.6` content, `X.7` security);
//! 5. otherwise `expired` for delayed mail, `onhold` when there is text, else `undefined`.

use crate::phrases::says;
use crate::reason::{Reason, Verdict};
use crate::status::reason_of_status;
use crate::{Action, SmtpCommand};

/// What the classifier looks at.
#[derive(Debug, Default, Clone)]
pub(crate) struct Facts<'a> {
    pub status: Option<&'a str>,
    pub reply_code: Option<&'a str>,
    /// Lower case.
    pub diagnostic: &'a str,
    /// Upper case: `SMTP`, `X-UNIX`, `X-POSTFIX`, …
    pub diagnostic_type: Option<&'a str>,
    pub action: Option<Action>,
    pub command: Option<SmtpCommand>,
    pub hint: Option<Reason>,
    /// What the mail service that refused the message means by its reply (see [`crate::rhost`]).
    pub service_verdict: Option<Reason>,
}

/// Probed in this order for an SMTP diagnostic, each by code or phrase.
const FIRST: [Reason; 19] = [
    Reason::MailboxFull,
    Reason::MesgTooBig,
    Reason::ExceedLimit,
    Reason::Suspend,
    Reason::HasMoved,
    Reason::NoRelaying,
    Reason::AuthFailure,
    Reason::UserUnknown,
    Reason::Filtered,
    Reason::RequirePtr,
    Reason::NotCompliantRfc,
    Reason::BadReputation,
    Reason::ContentError,
    Reason::Rejected,
    Reason::HostUnknown,
    Reason::SpamDetected,
    Reason::Speeding,
    Reason::TooManyConn,
    Reason::Blocked,
];

/// Matched by phrase, in this order, when the status code says little.
const SECOND: [Reason; 19] = [
    Reason::MailboxFull,
    Reason::AuthFailure,
    Reason::BadReputation,
    Reason::Speeding,
    Reason::SpamDetected,
    Reason::VirusDetected,
    Reason::PolicyViolation,
    Reason::NoRelaying,
    Reason::SystemError,
    Reason::NetworkError,
    Reason::Suspend,
    Reason::ContentError,
    Reason::SystemFull,
    Reason::NotAccept,
    Reason::Expired,
    Reason::FailedStartTls,
    Reason::SecurityError,
    Reason::Suppressed,
    Reason::MailerError,
];

pub(crate) fn reason(f: &Facts<'_>) -> Reason {
    if let Some(hint) = f.hint
        && !hint.is_weak()
    {
        return hint;
    }
    if let Some(r) = local_delivery_agent(f).or(f.service_verdict)
        && r.is_explicit()
    {
        return r;
    }
    if f.status.is_some_and(|s| s.starts_with("2.")) {
        return Reason::Delivered;
    }
    let smtp = f.diagnostic_type.is_none_or(|t| t == "SMTP");
    if smtp && let Some(r) = FIRST.into_iter().find(|&r| probe(r, f)) {
        return r;
    }
    if let Some(r) = fallback(f) {
        return r;
    }
    if f.action == Some(Action::Delayed) {
        return Reason::Expired;
    }
    if says(Reason::Vacation, f.diagnostic) {
        return Reason::Vacation;
    }
    // A final report ("failed") of a temporary status: the MTA retried until it gave up, and
    // nothing above names why the tries failed. That is an expiry (Postfix keeps the last
    // temporary reply's `4.x.x` with `Action: failed` at the end of the queue lifetime).
    // So is a final report whose status says nothing (the MTA's catch-all `5.0.0`, which
    // Courier and Exim write for every failure) over a temporary reply: the last try was
    // answered "try again later", and the MTA stopped trying.
    let says_nothing = f.status.is_none_or(|s| s.ends_with(".0.0"));
    if f.action == Some(Action::Failed)
        && (f.status.is_some_and(|s| s.starts_with('4'))
            || (says_nothing && f.reply_code.is_some_and(|c| c.starts_with('4'))))
    {
        return Reason::Expired;
    }
    if !f.diagnostic.is_empty() {
        return Reason::OnHold;
    }
    Reason::Undefined
}

/// The words of local delivery agents (Dovecot, mail.local, procmail, maildrop, vpopmail,
/// vmailmgr): each names its own errors, whatever the status code says. Only for failures in
/// or after the delivery itself (no SMTP command before DATA).
fn local_delivery_agent(f: &Facts<'_>) -> Option<Reason> {
    use Reason::*;
    /// An agent's marks in the text, and its sentences.
    type Agent = (&'static [&'static str], &'static [(&'static str, Reason)]);
    const AGENTS: &[Agent] = &[
        (
            &["your message to <", "> was automatically rejected:"],
            &[
                ("not enough disk space", MailboxFull),
                ("quota exceeded", MailboxFull),
                ("mailbox doesn't exist: ", UserUnknown),
            ],
        ),
        (
            &["mail.local: "],
            &[
                ("disc quota exceeded", MailboxFull),
                ("mailbox full or quota exceeded", MailboxFull),
                ("temporary file write error", SystemError),
                (": invalid mailbox path", UserUnknown),
                (": unknown user:", UserUnknown),
                (": user missing home directory", UserUnknown),
                (": user unknown", UserUnknown),
            ],
        ),
        (
            &["procmail: ", "/procmail "],
            &[
                ("quota exceeded while writing", MailboxFull),
                ("user over quota", MailboxFull),
                ("service unavailable", SystemError),
                ("no space left to finish writing", SystemFull),
            ],
        ),
        (
            &["maildrop: "],
            &[
                ("maildir over quota.", MailboxFull),
                ("cannot find system user", UserUnknown),
                ("invalid user specified.", UserUnknown),
            ],
        ),
        (
            &["vdelivermail: "],
            &[
                ("user does not exist, but will deliver to ", Filtered),
                ("domain is over quota", MailboxFull),
                ("user is over quota", MailboxFull),
                ("account is locked email bounced", Suspend),
                ("sorry, no mailbox here by that name.", UserUnknown),
            ],
        ),
        (
            &["vdeliver: "],
            &[
                ("delivery failed due to system quota violation", MailboxFull),
                ("invalid or unknown base user or domain", UserUnknown),
                ("invalid or unknown virtual user", UserUnknown),
                ("user name does not refer to a virtual user", UserUnknown),
            ],
        ),
    ];
    if f.diagnostic.is_empty() || f.command.is_some_and(|c| c != SmtpCommand::Data) {
        return None;
    }
    let (_, sentences) = AGENTS
        .iter()
        .find(|(marks, _)| marks.iter().any(|m| f.diagnostic.contains(m)))?;
    Some(
        sentences
            .iter()
            .find(|(p, _)| f.diagnostic.contains(p))
            .map_or(MailerError, |(_, r)| *r),
    )
}

/// Step 4 of the module comment.
fn fallback(f: &Facts<'_>) -> Option<Reason> {
    let by_status = f.status.and_then(reason_of_status);
    // An MTA's "gave up" (retry timeout, queue lifetime) over the last reply it got: the
    // reply's code names why the message could not go, the expiry only that it stopped trying.
    // So for a delay warning: its words ("could not be delivered for more than N hours") say
    // that the message is late, the reply's code why.
    if (f.hint == Some(Reason::Expired) || f.action == Some(Action::Delayed))
        && f.status.is_some_and(|s| s.starts_with('4'))
        && let Some(r) = by_status.filter(|&r| r != Reason::Expired)
    {
        return Some(r);
    }
    if let Some(hint) = f.hint
        && hint.is_explicit()
    {
        return Some(hint);
    }
    let smtp = f.diagnostic_type.is_none_or(|t| t == "SMTP");
    if by_status.is_some_and(|r| !r.is_weak()) && smtp {
        return by_status;
    }
    if let Some(r) = SECOND.into_iter().find(|&r| says(r, f.diagnostic)) {
        return Some(r);
    }
    if by_status.is_some() {
        return by_status;
    }
    if let Some(s) = f.status {
        if s.starts_with("5.6") || s.starts_with("4.6") {
            return Some(Reason::ContentError);
        }
        if s.starts_with("5.7") || s.starts_with("4.7") {
            return Some(Reason::SecurityError);
        }
    }
    if f.diagnostic_type.is_some_and(|t| t.starts_with("X-UNIX")) {
        return Some(Reason::MailerError);
    }
    // RFC 5321 4.2.1: a reply of the form x0z is about syntax (501 "Syntax error in parameters
    // or arguments", 502 "Command not implemented", 503 "Bad sequence of commands", 504
    // "Command parameter not implemented"); when nothing above named a cause, the client's
    // command was refused as such.
    if f.reply_code
        .and_then(|c| c.parse::<u16>().ok())
        .is_some_and(|c| (401..=407).contains(&c) || (501..=507).contains(&c))
    {
        return Some(Reason::SyntaxError);
    }
    if matches!(f.action, Some(Action::Delayed)) {
        return Some(Reason::Expired);
    }
    // RFC 7504: 521 (host) and 556 (domain) say the destination accepts no mail at all.
    if matches!(f.reply_code, Some("521" | "556")) {
        return Some(Reason::NotAccept);
    }
    // Refused at the greeting or at HELO: before any sender or recipient was named, so the
    // refusal is of the client itself.
    if matches!(
        f.command,
        Some(SmtpCommand::Connect | SmtpCommand::Ehlo | SmtpCommand::Helo)
    ) {
        return Some(Reason::Blocked);
    }
    // Refused for good at MAIL FROM, before any recipient was named: whatever the words, the
    // sender was refused. A temporary refusal there may still pass on the next try.
    if f.command == Some(SmtpCommand::Mail) && f.action != Some(Action::Delayed) {
        return Some(Reason::Rejected);
    }
    None
}

/// Whether the facts point at `reason` by its code or its phrases (step 3).
fn probe(reason: Reason, f: &Facts<'_>) -> bool {
    use Reason::*;
    if f.hint == Some(reason) {
        return true;
    }
    let by_status = f.status.and_then(reason_of_status);
    let text = f.diagnostic;
    let before_data = f.command.is_some_and(SmtpCommand::is_before_data);
    match reason {
        MesgTooBig => {
            if by_status == Some(MesgTooBig) {
                return true;
            }
            if by_status == Some(ExceedLimit) || f.status == Some("5.2.3") {
                return false;
            }
            says(MesgTooBig, text)
        }
        Suspend => f.reply_code == Some("525") || says(Suspend, text),
        HasMoved | NotCompliantRfc | BadReputation | Speeding => says(reason, text),
        NoRelaying => {
            !matches!(
                f.command,
                Some(SmtpCommand::Connect | SmtpCommand::Ehlo | SmtpCommand::Helo)
            ) && says(NoRelaying, text)
        }
        UserUnknown => {
            if by_status == Some(UserUnknown) {
                ![
                    NoRelaying,
                    Blocked,
                    MailboxFull,
                    HasMoved,
                    Rejected,
                    NotAccept,
                ]
                .into_iter()
                .any(|r| says(r, text))
            } else {
                f.command == Some(SmtpCommand::Rcpt) && says(UserUnknown, text)
            }
        }
        Filtered => {
            if by_status == Some(Filtered) {
                says(UserUnknown, text) || says(Filtered, text)
            } else {
                !before_data
                    && !names_the_sender(text)
                    && (says(Filtered, text) || says(UserUnknown, text))
            }
        }
        ContentError => {
            !probe(SpamDetected, f) && (by_status == Some(ContentError) || says(ContentError, text))
        }
        Rejected => {
            if by_status == Some(Rejected) || names_the_sender(text) {
                return true;
            }
            match f.command {
                Some(SmtpCommand::Mail) => says(Rejected, text),
                Some(SmtpCommand::Data) if by_status != Some(UserUnknown) => says(Rejected, text),
                _ => {
                    by_status.is_none_or(|r| matches!(r, SecurityError | SystemError))
                        && says(Rejected, text)
                }
            }
        }
        HostUnknown => {
            if by_status == Some(HostUnknown) {
                !says(NetworkError, text)
            } else {
                says(HostUnknown, text)
            }
        }
        // RFC 5321's own 421 words ("service not available, closing transmission channel")
        // are what a server says whenever it closes the channel, at any command. At the
        // greeting that refuses the client; after the data, which the client was let through
        // to send, it says only that the server is going away.
        Blocked => {
            by_status == Some(Blocked)
                || (says(Blocked, text)
                    && !(f.command == Some(SmtpCommand::Data) && closes_the_channel(f)))
        }
        SpamDetected => {
            if f.status.is_none() {
                return false;
            }
            by_status == Some(SpamDetected)
                || (!before_data && says(SpamDetected, text))
                || spam_after_data(f)
        }
        _ => by_status == Some(reason) || says(reason, text),
    }
}

/// Whether the reply says in so many words that the sender's address was refused: Postfix's
/// "Sender address rejected: …" (its smtpd restrictions, postconf(5)) comes with whatever
/// code the restriction has, an unknown-user `5.1.0` or a `4.1.8` alike, and with words of
/// the recipient's kind ("User unknown in local recipient table" for reject_unlisted_sender);
/// so do Exchange's "Sender denied" (5.1.0), Exim's "Sender verify failed" (hMailServer's
/// "Sender verification failed"), Sendmail's "Domain of sender address … does not exist", a
/// gateway's "550 5.1.0 sender rejected" (Spambrella), a Coremail-style "553 host denies the
/// sender", Coremail's "sender is rejected" and "Fake sender", a relay service's "Sender
/// domain does not exist", RFC 7505's "550 5.7.27 Sender address has null MX" (the sender's
/// domain accepts no mail, so no reply could reach it) and a Czech provider's "550 5.1.1 <a@b>
/// sender is blacklisted" (the recipient's own list of refused senders); maddy's "Domain in
/// MAIL FROM has null MX record" (5.7.27) and qmail chkuser's "can't find a valid MX for sender
/// domain" (answered to RCPT TO, under 5.1.1 in its older strings).
fn names_the_sender(text: &str) -> bool {
    const SENDER: &[&str] = &[
        "sender address rejected",
        "sender rejected",
        "denies the sender",
        "sender domain does not exist",
        "sender is rejected",
        "fake sender",
        "sender denied",
        "sender verify failed",
        "sender verification failed",
        "sender address has null mx",
        "sender is blacklisted",
        "domain of sender address ",
        "domain in mail from ",
        "for sender domain",
    ];
    SENDER.iter().any(|p| text.contains(p))
}

/// A 421 in RFC 5321's own words: the server closes the transmission channel.
fn closes_the_channel(f: &Facts<'_>) -> bool {
    f.reply_code == Some("421")
        && f.diagnostic
            .contains("service not available, closing transmission channel")
}

/// A security refusal (`5.7.x`) of the message's content, in reply to the data, whose words
/// call it spam: the word alone, not a list's name (`spamhaus`, `spamcop`) or a policy's
/// (`anti-spam`). After the data the content is all that is left to refuse, so the word says
/// what no phrase table needs to spell out ("Message rejected: spam", "spam message rejected").
fn spam_after_data(f: &Facts<'_>) -> bool {
    if f.command != Some(SmtpCommand::Data) || !f.status.is_some_and(|s| s.starts_with("5.7.")) {
        return false;
    }
    let text = f.diagnostic.as_bytes();
    let mut from = 0;
    while let Some(at) = f.diagnostic[from..].find("spam") {
        let at = from + at;
        let before = at.checked_sub(1).map(|i| text[i]);
        let after = text.get(at + 4).copied();
        let word_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if !before.is_some_and(word_char) && !after.is_some_and(word_char) {
            return true;
        }
        from = at + 4;
    }
    false
}

/// The reason of a synchronous SMTP reply (what the delivery engine sees): `command` is the
/// command the reply answered when the caller knows it (a refusal at `RCPT` says something
/// else than the same words after the data), `code` the reply code, `enhanced` the enhanced
/// status code if the reply had one, `text` the reply's text. `None` for a reply that is not a
/// failure (below 400).
pub fn reason_of_reply(
    command: Option<SmtpCommand>,
    code: u16,
    enhanced: Option<&str>,
    text: &str,
) -> Option<Reason> {
    if !(400..600).contains(&code) {
        return None;
    }
    let code_text = code.to_string();
    let lower = text.to_lowercase();
    let status = enhanced
        .map(str::to_string)
        .or_else(|| crate::status::find_status(&lower, &[code_text.as_bytes()[0]]));
    let command = command.or_else(|| SmtpCommand::find(text));
    let facts = Facts {
        status: status.as_deref(),
        reply_code: Some(&code_text),
        diagnostic: &lower,
        diagnostic_type: Some("SMTP"),
        action: Some(if code < 500 {
            Action::Delayed
        } else {
            Action::Failed
        }),
        command,
        hint: None,
        service_verdict: None,
    };
    let r = reason(&facts);
    // A temporary failure without words for it is not an expiry: the message is still queued.
    Some(
        if r == Reason::Expired && code < 500 && !says(Reason::Expired, &lower) {
            Reason::OnHold
        } else {
            r
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        status: Option<&'a str>,
        diagnostic: &'a str,
        command: Option<SmtpCommand>,
    ) -> Facts<'a> {
        Facts {
            status,
            diagnostic,
            command,
            ..Facts::default()
        }
    }

    /// The word "spam" in a 5.7.x refusal after the data is a spam verdict; the same word in a
    /// list's or a policy's name, or before the data, is not.
    #[test]
    fn spam_word_after_the_data() {
        use SmtpCommand::*;
        let cases: &[(&str, Option<SmtpCommand>, &str, bool)] = &[
            (
                "5.7.1",
                Some(Data),
                "554 5.7.1 message rejected: spam",
                true,
            ),
            ("5.7.1", Some(Data), "550 5.7.1 spam message rejected", true),
            (
                "5.7.1",
                Some(Rcpt),
                "554 5.7.1 message rejected: spam",
                false,
            ),
            (
                "5.7.1",
                Some(Data),
                "554 5.7.1 blocked using zen.spamhaus.org",
                false,
            ),
            (
                "5.7.1",
                Some(Data),
                "554 5.7.1 rejected by our anti-spam policy",
                false,
            ),
            (
                "5.3.4",
                Some(Data),
                "552 5.3.4 message too big for spam scanning",
                false,
            ),
        ];
        for (status, command, text, want) in cases {
            let f = facts(Some(status), text, *command);
            assert_eq!(spam_after_data(&f), *want, "{text}");
        }
    }

    /// The MTAs' own documented words and the structure of the session, not corpus files:
    /// Postfix's access(5) default text and its smtpd "Temporary lookup failure", a refusal
    /// in the greeting (RFC 5321 4.3.1: 554 instead of 220), Exim's "retry timeout exceeded"
    /// after a temporary reply it carries.
    #[test]
    fn mta_texts_and_session_structure() {
        use SmtpCommand::*;
        let expired = |status, text| Facts {
            hint: Some(Reason::Expired),
            ..facts(status, text, Some(Rcpt))
        };
        let table: &[(Facts<'_>, Reason)] = &[
            (
                facts(
                    Some("5.7.1"),
                    "554 5.7.1 <mx.example.org[192.0.2.1]>: client host rejected: access denied",
                    Some(Rcpt),
                ),
                Reason::Blocked,
            ),
            (
                facts(
                    Some("4.7.25"),
                    "450 4.7.25 client host rejected: cannot find your hostname, [192.0.2.1]",
                    Some(Rcpt),
                ),
                Reason::RequirePtr,
            ),
            (
                facts(
                    Some("4.3.0"),
                    "451 4.3.0 <a@example.org>: temporary lookup failure",
                    Some(Rcpt),
                ),
                Reason::SystemError,
            ),
            (
                facts(
                    None,
                    "554 mx.example.org esmtp not accepting messages",
                    Some(Connect),
                ),
                Reason::Blocked,
            ),
            (
                expired(
                    Some("4.2.2"),
                    "452 4.2.2 <a@example.org>: mailbox full: retry timeout exceeded",
                ),
                Reason::MailboxFull,
            ),
            (
                expired(
                    Some("4.3.0"),
                    "451 4.3.0 temporary lookup failure: retry timeout exceeded",
                ),
                Reason::SystemError,
            ),
            // Without a reply's code the expiry is all the report says.
            (expired(None, "retry timeout exceeded"), Reason::Expired),
            // RFC 5321 3.8: a server that must shut down answers 421 in these words at any
            // command. At the greeting it refuses the client; after the data it names no cause,
            // and Postfix's final report (4.0.0, failed) of it at the end of the queue lifetime
            // is an expiry (the oracles' 026).
            (
                Facts {
                    reply_code: Some("421"),
                    action: Some(Action::Failed),
                    ..facts(
                        Some("4.0.0"),
                        "421 mx.example.org service not available, closing transmission channel",
                        Some(Connect),
                    )
                },
                Reason::Blocked,
            ),
            (
                Facts {
                    reply_code: Some("421"),
                    action: Some(Action::Failed),
                    ..facts(
                        Some("4.0.0"),
                        "421 mx.example.org service not available, closing transmission channel",
                        Some(Data),
                    )
                },
                Reason::Expired,
            ),
            // Postfix's delay warning says the message is late; the reply's code says why.
            (
                Facts {
                    action: Some(Action::Delayed),
                    ..facts(
                        Some("4.3.0"),
                        "your message could not be delivered for more than 4 hour(s). \
                         421 4.3.0 temporary system problem. try again later",
                        Some(Data),
                    )
                },
                Reason::SystemError,
            ),
            // A temporary status in a final report, words that name nothing: the MTA gave up.
            (
                Facts {
                    action: Some(Action::Failed),
                    ..facts(Some("4.0.0"), "451 something odd", Some(Rcpt))
                },
                Reason::Expired,
            ),
            // So with a catch-all `5.0.0` over the last reply, a temporary one (Courier).
            (
                Facts {
                    reply_code: Some("421"),
                    action: Some(Action::Failed),
                    ..facts(Some("5.0.0"), "421 something odd", Some(Data))
                },
                Reason::Expired,
            ),
            // Not when the status names a cause of its own, nor over a permanent reply.
            (
                Facts {
                    reply_code: Some("451"),
                    action: Some(Action::Failed),
                    ..facts(Some("5.3.9"), "451 something odd", Some(Data))
                },
                Reason::OnHold,
            ),
            (
                Facts {
                    reply_code: Some("550"),
                    action: Some(Action::Failed),
                    ..facts(Some("5.0.0"), "550 something odd", Some(Data))
                },
                Reason::OnHold,
            ),
        ];
        for (f, want) in table {
            assert_eq!(reason(f), *want, "{}", f.diagnostic);
        }
    }

    #[test]
    fn precedence_between_code_and_text() {
        use SmtpCommand::*;
        let table: &[(Facts<'_>, Reason)] = &[
            // The text names the reason although the code says filtered.
            (
                facts(Some("5.2.1"), "550 5.2.1 <a@b>... user unknown", Some(Rcpt)),
                Reason::UserUnknown,
            ),
            // Without the command the same text reads as filtered (Sisimai's precedence).
            (
                facts(Some("5.2.1"), "550 5.2.1 <a@b>... user unknown", None),
                Reason::Filtered,
            ),
            (
                facts(Some("5.1.1"), "550 5.1.1 mailbox full", Some(Rcpt)),
                Reason::MailboxFull,
            ),
            (
                facts(Some("5.1.1"), "550 5.1.1 no such user", Some(Rcpt)),
                Reason::UserUnknown,
            ),
            (
                facts(Some("5.1.1"), "550 5.1.1 relay access denied", Some(Rcpt)),
                Reason::NoRelaying,
            ),
            (
                facts(Some("5.7.1"), "554 5.7.1 rejected", None),
                Reason::SecurityError,
            ),
            (
                facts(
                    Some("5.7.1"),
                    "554 5.7.1 delivery not authorized, message refused",
                    None,
                ),
                Reason::Rejected,
            ),
            (facts(Some("4.4.7"), "", None), Reason::Expired),
            (facts(Some("5.0.0"), "", None), Reason::Undefined),
            (facts(Some("5.0.0"), "something odd", None), Reason::OnHold),
            (facts(Some("2.0.0"), "ok", None), Reason::Delivered),
            (facts(Some("5.6.9"), "", None), Reason::ContentError),
            (facts(Some("5.7.99"), "", None), Reason::SecurityError),
            (facts(None, "spam detected", None), Reason::SpamDetected),
            (
                facts(None, "the remote end said something", None),
                Reason::OnHold,
            ),
            (
                facts(Some("5.7.1"), "spam detected", Some(Data)),
                Reason::SpamDetected,
            ),
        ];
        for (f, want) in table {
            assert_eq!(reason(f), *want, "{f:?}");
        }
    }

    #[test]
    fn hints_and_their_strength() {
        let mut f = facts(Some("5.1.1"), "mailbox full", Some(SmtpCommand::Rcpt));
        f.hint = Some(Reason::Suspend);
        assert_eq!(reason(&f), Reason::Suspend);
        f.hint = Some(Reason::UserUnknown);
        assert_eq!(reason(&f), Reason::MailboxFull);
        let mut f = facts(None, "retry timeout exceeded", None);
        f.hint = Some(Reason::Expired);
        assert_eq!(reason(&f), Reason::Expired);
    }

    #[test]
    fn synchronous_replies() {
        let table: &[(u16, Option<&str>, &str, Option<Reason>)] = &[
            (250, Some("2.0.0"), "ok", None),
            (
                550,
                Some("5.1.1"),
                "<a@b>: Recipient address rejected: User unknown in virtual mailbox table",
                Some(Reason::UserUnknown),
            ),
            (
                552,
                Some("5.2.2"),
                "mailbox full",
                Some(Reason::MailboxFull),
            ),
            (
                554,
                Some("5.7.1"),
                "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
                Some(Reason::Blocked),
            ),
            (
                550,
                None,
                "5.7.26 This mail is unauthenticated",
                Some(Reason::AuthFailure),
            ),
            (
                421,
                Some("4.7.0"),
                "Too many connections",
                Some(Reason::TooManyConn),
            ),
            // X.3.0: the receiving mail system's own trouble.
            (451, Some("4.3.0"), "local error", Some(Reason::SystemError)),
            (
                550,
                Some("5.7.1"),
                "Message rejected as spam",
                Some(Reason::SpamDetected),
            ),
        ];
        for (code, enhanced, text, want) in table {
            assert_eq!(
                reason_of_reply(None, *code, *enhanced, text),
                *want,
                "{code} {text}"
            );
        }
        // The same words mean an unknown mailbox at RCPT and a filter's verdict after the data.
        let text = "<nobody@example.net>: Recipient address rejected: User unknown";
        let at = |command| reason_of_reply(Some(command), 550, None, text);
        assert_eq!(at(SmtpCommand::Rcpt), Some(Reason::UserUnknown));
        assert_eq!(at(SmtpCommand::Data), Some(Reason::Filtered));
    }
}
