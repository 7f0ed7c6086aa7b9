//! What a remote reply means for a recipient and for its destination.

use crate::client::Reply;
use hikyaku_model::RecipientState;

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
    if reply.is_throttling() {
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

/// An interim reason name (Sisimai's vocabulary) from the enhanced status code alone. The bounce
/// analyser (issue 4) replaces this with a classifier that also reads the text.
pub fn reason(reply: &Reply) -> Option<&'static str> {
    if reply.code < 400 {
        return None;
    }
    let status = reply.enhanced?;
    let rest = format!("{}.{}", status.subject, status.detail);
    Some(match rest.as_str() {
        "1.1" | "1.0" | "1.6" => "userunknown",
        "1.2" => "hostunknown",
        "1.10" => "notaccept",
        "2.1" => "suspend",
        "2.2" => "mailboxfull",
        "2.3" | "3.4" => "mesgtoobig",
        "4.1" | "4.2" | "4.7" | "4.0" => "networkerror",
        "7.1" => "rejected",
        "7.0" => "blocked",
        _ if rest.starts_with("7.") => "securityerror",
        _ => "undefined",
    })
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
                Some("undefined"),
            ),
            (
                reply(421, Some("4.7.0"), "closing"),
                RecipientState::Deferred,
                true,
                Some("blocked"),
            ),
            (
                reply(450, Some("4.7.1"), "slow down"),
                RecipientState::Deferred,
                true,
                Some("rejected"),
            ),
            (
                reply(450, None, "Too many connections from your IP"),
                RecipientState::Deferred,
                true,
                None,
            ),
            (
                reply(554, Some("5.7.1"), "try again later"),
                RecipientState::Bounced,
                false,
                Some("rejected"),
            ),
        ];
        for (r, state, throttling, why) in table {
            assert_eq!(recipient_state(r.code), state, "{r:?}");
            assert_eq!(is_throttling(&r), throttling, "{r:?}");
            assert_eq!(reason(&r), why, "{r:?}");
        }
    }
}
