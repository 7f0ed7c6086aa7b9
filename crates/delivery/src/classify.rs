//! What a remote reply means for a recipient and for its destination.

use crate::client::{Reply, Stage};
use hikyaku_bounce::SmtpCommand;
use hikyaku_model::RecipientState;

/// A failure reply and the point of the session it answered, when known.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reply: Reply,
    pub stage: Option<Stage>,
    /// The reply was made up here (no route, a refused connection, a server lacking a needed
    /// extension, an unreadable spool file), not said by a remote server: the send log and the
    /// mail log must not put our words in its mouth.
    pub local: bool,
}

impl Refusal {
    /// A refusal decided here, outside any session (a DNS answer, a local failure).
    pub fn local(reply: Reply) -> Refusal {
        Refusal {
            reply,
            stage: None,
            local: true,
        }
    }
}

/// The state a recipient moves to after this reply (before expiry is considered).
pub fn recipient_state(code: u16) -> RecipientState {
    match code {
        200..=399 => RecipientState::Delivered,
        500..=599 => RecipientState::Bounced,
        _ => RecipientState::Deferred,
    }
}

/// Whether the destination is asking us to slow down (RFC 3463 4.7.x, 421, or the usual words
/// of the throttling replies of large receivers and the Japanese carriers), so that the whole
/// destination backs off instead of only this message being retried.
pub fn is_throttling(reply: &Reply) -> bool {
    if crate::client::asks_to_slow_down(reply) {
        return true;
    }
    if !(400..500).contains(&reply.code) {
        return false;
    }
    let text = reply.text.to_ascii_lowercase();
    [
        "too many connections",
        "too many messages",
        "rate limit",
        "throttl",
        "temporarily deferred",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

/// The reason (Sisimai's vocabulary) of a refusal, read by the bounce analyser's classifier
/// from the command, the code, the enhanced status and the text together, so that a synchronous
/// refusal and the bounce mail of the same refusal get the same name.
pub fn reason(refusal: &Refusal) -> Option<hikyaku_bounce::Reason> {
    let reply = &refusal.reply;
    let enhanced = reply.enhanced.map(|status| status.to_string());
    let command = refusal.stage.and_then(|stage| match stage {
        Stage::Connect | Stage::Greeting => Some(SmtpCommand::Connect),
        Stage::Ehlo => Some(SmtpCommand::Ehlo),
        Stage::Helo => Some(SmtpCommand::Helo),
        Stage::StartTls | Stage::TlsHandshake => Some(SmtpCommand::StartTls),
        Stage::MailFrom => Some(SmtpCommand::Mail),
        Stage::RcptTo => Some(SmtpCommand::Rcpt),
        Stage::Data | Stage::Body | Stage::EndOfData => Some(SmtpCommand::Data),
        Stage::Rset | Stage::Quit => None,
    });
    hikyaku_bounce::reason_of_reply(command, reply.code, enhanced.as_deref(), &reply.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, enhanced: Option<&str>, text: &str) -> Reply {
        Reply {
            code,
            enhanced: enhanced.and_then(crate::client::EnhancedStatus::parse),
            text: text.to_string(),
        }
    }

    #[test]
    fn states_throttling_and_reasons() {
        let table = [
            (
                reply(250, Some("2.0.0"), "ok"),
                RecipientState::Delivered,
                false,
                None,
            ),
            (
                reply(550, Some("5.1.1"), "user unknown"),
                RecipientState::Bounced,
                false,
                Some("userunknown"),
            ),
            (
                reply(552, Some("5.2.2"), "mailbox full"),
                RecipientState::Bounced,
                false,
                Some("mailboxfull"),
            ),
            (
                reply(451, Some("4.3.0"), "local error"),
                RecipientState::Deferred,
                false,
                Some("systemerror"),
            ),
            (
                reply(421, Some("4.7.0"), "closing"),
                RecipientState::Deferred,
                true,
                Some("securityerror"),
            ),
            (
                reply(450, Some("4.7.1"), "slow down"),
                RecipientState::Deferred,
                true,
                Some("blocked"),
            ),
            (
                reply(450, None, "Too many connections from your IP"),
                RecipientState::Deferred,
                true,
                Some("toomanyconn"),
            ),
            (
                reply(554, Some("5.7.1"), "try again later"),
                RecipientState::Bounced,
                false,
                Some("securityerror"),
            ),
            // The text decides where the status code alone could not.
            (
                reply(
                    554,
                    Some("5.7.1"),
                    "Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
                ),
                RecipientState::Bounced,
                false,
                Some("blocked"),
            ),
            (
                reply(
                    550,
                    Some("5.7.1"),
                    "Message rejected as spam by Content Filtering",
                ),
                RecipientState::Bounced,
                false,
                Some("spamdetected"),
            ),
            (
                reply(
                    552,
                    Some("5.3.4"),
                    "Message size exceeds fixed maximum message size",
                ),
                RecipientState::Bounced,
                false,
                Some("mesgtoobig"),
            ),
            (
                reply(
                    550,
                    None,
                    "<nobody@example.net>: Recipient address rejected: User unknown in local recipient table",
                ),
                RecipientState::Bounced,
                false,
                // Without the stage, Sisimai's reading: the words alone could be a filter's.
                Some("filtered"),
            ),
            (
                reply(452, Some("4.2.2"), "Mailbox full"),
                RecipientState::Deferred,
                false,
                Some("mailboxfull"),
            ),
        ];
        let mut wrong = Vec::new();
        for (r, state, throttling, why) in table {
            assert_eq!(recipient_state(r.code), state, "{r:?}");
            assert_eq!(is_throttling(&r), throttling, "{r:?}");
            let got = reason(&Refusal::local(r.clone())).map(hikyaku_bounce::Reason::as_str);
            if got != why {
                let status = r.enhanced.map(|e| e.to_string()).unwrap_or_default();
                wrong.push(format!(
                    "{} {status} {}: {got:?}, expected {why:?}",
                    r.code, r.text
                ));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn the_stage_of_a_refusal_is_part_of_its_reason() {
        let words = reply(
            550,
            None,
            "<nobody@example.net>: Recipient address rejected: User unknown in local recipient table",
        );
        let at = |stage| {
            reason(&Refusal {
                reply: words.clone(),
                stage: Some(stage),
                local: false,
            })
            .map(hikyaku_bounce::Reason::as_str)
        };
        assert_eq!(at(Stage::RcptTo), Some("userunknown"));
        assert_eq!(at(Stage::EndOfData), Some("filtered"));
    }
}
