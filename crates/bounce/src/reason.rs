//! How the analyser weighs a reason. The names themselves are shared vocabulary
//! ([`hikyaku_model::Reason`]): the delivery engine, the store and the send log speak them too,
//! so they live in `model`; re-exported here so that `hikyaku_bounce::Reason` keeps naming them.

pub use hikyaku_model::Reason;

/// What a reason is worth as a verdict: judging that is the analyser's business, not the
/// vocabulary's, so it stays here.
pub(crate) trait Verdict {
    /// Whether the reason is a verdict of its own or only says "not sure yet": a weak reason is
    /// looked at again with the diagnostic text, as Sisimai does.
    fn is_weak(&self) -> bool;
    /// Whether the reason says anything (not `undefined` or `onhold`).
    fn is_explicit(&self) -> bool;
}

impl Verdict for Reason {
    fn is_weak(&self) -> bool {
        matches!(
            *self,
            Reason::Undefined
                | Reason::OnHold
                | Reason::SystemError
                | Reason::SecurityError
                | Reason::Expired
                | Reason::NetworkError
                | Reason::HostUnknown
                | Reason::UserUnknown
        )
    }

    fn is_explicit(&self) -> bool {
        !matches!(*self, Reason::Undefined | Reason::OnHold)
    }
}
