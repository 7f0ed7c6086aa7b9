//! The mailbox simulator: what a recipient on the simulator domain answers, decided here from
//! its local part, so that customers test their handling of bounces, complaints and retries
//! without sending real mail. Pure: the engine turns an [`Answer`] into the same outcome (send
//! log, statistics, webhook outbox) a real reply makes; nothing here resolves or connects.
//!
//! Choices a real mailbox would leave open:
//! - `mailboxfull@` answers `552 5.2.2` at RCPT, as Gmail does for an account out of storage: a
//!   bounce with reason `mailboxfull`, soft (not hard).
//! - `ooto@` is delivered; the error server records nothing for an auto-reply, so neither does
//!   the simulator (the mail log notes it).
//! - Only `suppressed@` puts its address on the contract's suppression list (as a hard bounce
//!   does); `bounce@`, `mailboxfull@` and `complaint@` leave the list alone, so that a test can
//!   be run again and get the same events.

use crate::classify::Refusal;
use crate::client::{EnhancedStatus, Reply, Stage};

/// Attempts that `defer@` answers with a temporary failure before it accepts.
pub(crate) const DEFERRALS: u32 = 2;

/// A simulated mailbox, named by the local part of its address (before any `+tag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mailbox {
    Delivered,
    Bounce,
    Full,
    Complaint,
    OutOfOffice,
    Suppressed,
    Defer,
}

/// What happens after the reply to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FollowUp {
    Nothing,
    /// The recipient reports the message as spam (an ARF report, as the error server takes it).
    Complaint,
    /// The recipient's auto-reply: recorded as nothing, as the error server records one.
    AutoReply,
}

/// The simulated mailbox's answer to one attempt.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub result: Result<Reply, Refusal>,
    pub follow_up: FollowUp,
    /// Whether the outcome may change the contract's suppression list, as a real one would.
    pub lists: bool,
}

impl Mailbox {
    /// The mailbox of `address` (on the simulator domain); `Delivered` for any local part the
    /// simulator does not know. Case and a `+tag` do not matter.
    pub(crate) fn of(address: &str) -> Mailbox {
        let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
        let local = local.trim_start_matches('<').trim_matches('"');
        let base = local.split_once('+').map_or(local, |(base, _)| base);
        match base.to_ascii_lowercase().as_str() {
            "bounce" => Mailbox::Bounce,
            "mailboxfull" => Mailbox::Full,
            "complaint" => Mailbox::Complaint,
            "ooto" => Mailbox::OutOfOffice,
            "suppressed" => Mailbox::Suppressed,
            "defer" => Mailbox::Defer,
            _ => Mailbox::Delivered,
        }
    }

    /// The answer to the `attempt`-th attempt (1 for the first).
    pub(crate) fn answer(self, attempt: u32) -> Answer {
        let accepted = |follow_up| Answer {
            result: Ok(Reply::new(
                250,
                EnhancedStatus::new(2, 0, 0),
                "Ok: delivered to the mailbox simulator",
            )),
            follow_up,
            lists: false,
        };
        let refused = |code, status: EnhancedStatus, text: &str, lists| Answer {
            result: Err(Refusal {
                reply: Reply::new(code, status, text),
                stage: Some(Stage::RcptTo),
                local: false,
            }),
            follow_up: FollowUp::Nothing,
            lists,
        };
        match self {
            Mailbox::Delivered => accepted(FollowUp::Nothing),
            Mailbox::Complaint => accepted(FollowUp::Complaint),
            Mailbox::OutOfOffice => accepted(FollowUp::AutoReply),
            Mailbox::Bounce => refused(
                550,
                EnhancedStatus::new(5, 1, 1),
                "simulated: the email account that you tried to reach does not exist (user unknown)",
                false,
            ),
            Mailbox::Suppressed => refused(
                550,
                EnhancedStatus::new(5, 1, 1),
                "simulated: user unknown; the address goes on the suppression list",
                true,
            ),
            Mailbox::Full => refused(
                552,
                EnhancedStatus::new(5, 2, 2),
                "simulated: the recipient's mailbox is full (over quota)",
                false,
            ),
            Mailbox::Defer if attempt <= DEFERRALS => refused(
                451,
                EnhancedStatus::new(4, 3, 0),
                "simulated: temporary failure, try again later",
                false,
            ),
            Mailbox::Defer => accepted(FollowUp::Nothing),
        }
    }
}

/// Whether `domain` (lower-case, as the engine keys its work) is the simulator's `configured`
/// domain; never with the simulator off (`None`).
pub(crate) fn is_simulated(configured: Option<&str>, domain: &str) -> bool {
    configured.is_some_and(|d| d.eq_ignore_ascii_case(domain.trim_end_matches('.')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::reason;
    use hikyaku_model::Reason;

    #[test]
    fn local_parts_name_mailboxes_with_or_without_a_tag() {
        let table = [
            ("delivered@simulator.hikyaku.invalid", Mailbox::Delivered),
            ("bounce@simulator.hikyaku.invalid", Mailbox::Bounce),
            ("Bounce+run-17@simulator.hikyaku.invalid", Mailbox::Bounce),
            ("mailboxfull@x", Mailbox::Full),
            ("complaint+a+b@x", Mailbox::Complaint),
            ("OOTO@x", Mailbox::OutOfOffice),
            ("suppressed+1@x", Mailbox::Suppressed),
            ("defer@x", Mailbox::Defer),
            ("anyone@x", Mailbox::Delivered),
            ("bouncer@x", Mailbox::Delivered),
            ("+bounce@x", Mailbox::Delivered),
            ("\"bounce\"@x", Mailbox::Bounce),
            ("", Mailbox::Delivered),
            ("@", Mailbox::Delivered),
            ("bounce", Mailbox::Bounce),
        ];
        for (address, mailbox) in table {
            assert_eq!(Mailbox::of(address), mailbox, "{address:?}");
        }
    }

    #[test]
    fn answers_read_like_real_replies() {
        // The engine's classifier must name the simulated refusals as it names real ones.
        let bounce = Mailbox::Bounce.answer(1);
        let refusal = bounce.result.as_ref().unwrap_err();
        assert_eq!(refusal.reply.code, 550);
        assert_eq!(reason(refusal), Some(Reason::UserUnknown));
        assert!(!bounce.lists);
        let full = Mailbox::Full.answer(1);
        let refusal = full.result.as_ref().unwrap_err();
        assert_eq!(refusal.reply.code, 552);
        assert_eq!(reason(refusal), Some(Reason::MailboxFull));
        let listed = Mailbox::Suppressed.answer(1);
        assert!(listed.lists && listed.result.is_err());

        let complaint = Mailbox::Complaint.answer(1);
        assert!(complaint.result.is_ok());
        assert_eq!(complaint.follow_up, FollowUp::Complaint);
        assert_eq!(
            Mailbox::OutOfOffice.answer(1).follow_up,
            FollowUp::AutoReply
        );
        assert_eq!(Mailbox::Delivered.answer(7).follow_up, FollowUp::Nothing);
    }

    #[test]
    fn defer_refuses_temporarily_then_accepts() {
        for attempt in 1..=DEFERRALS {
            let answer = Mailbox::Defer.answer(attempt);
            let refusal = answer.result.unwrap_err();
            assert_eq!(refusal.reply.code / 100, 4, "attempt {attempt}");
        }
        assert!(Mailbox::Defer.answer(DEFERRALS + 1).result.is_ok());
    }

    #[test]
    fn only_the_configured_domain_is_simulated() {
        let on = Some("simulator.hikyaku.invalid");
        assert!(is_simulated(on, "simulator.hikyaku.invalid"));
        assert!(is_simulated(on, "Simulator.Hikyaku.Invalid."));
        assert!(!is_simulated(on, "sub.simulator.hikyaku.invalid"));
        assert!(!is_simulated(on, "example.jp"));
        assert!(!is_simulated(None, "simulator.hikyaku.invalid"));
    }
}
