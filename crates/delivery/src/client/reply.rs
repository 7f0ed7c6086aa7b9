//! SMTP replies as the client reads them. The reply, its parser and its limits are the shared
//! vocabulary's ([`hikyaku_model::smtp`]): the SMTP server renders the same type, and the
//! parser's table of raw bytes (odd and hostile servers included) is tested there. What stays
//! here is how the delivery engine reads a reply.

pub use hikyaku_model::smtp::{
    EnhancedStatus, MAX_LINE_LEN, MAX_REPLY_LEN, MAX_REPLY_LINES, Reply, ReplyError, Severity,
    parse_reply,
};

/// 421, or a transient 4.7.x ("too many connections", "rate limited"): the destination wants
/// less of us, not a later retry of this one recipient alone.
pub fn asks_to_slow_down(reply: &Reply) -> bool {
    reply.code == 421
        || (reply.code / 100 == 4
            && reply
                .enhanced
                .is_some_and(|e| e.class == 4 && e.subject == 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_down_replies() {
        let table = [
            (421, None, true),
            (421, Some((4, 3, 2)), true),
            (451, Some((4, 7, 0)), true),
            (450, Some((4, 7, 1)), true),
            (451, Some((4, 3, 0)), false),
            (450, None, false),
            (550, Some((5, 7, 1)), false),
            (250, None, false),
        ];
        for (code, enhanced, slow_down) in table {
            let reply = Reply {
                code,
                enhanced: enhanced.map(|(c, s, d)| EnhancedStatus::new(c, s, d)),
                text: String::new(),
            };
            assert_eq!(asks_to_slow_down(&reply), slow_down, "{reply}");
        }
    }
}
