//! The suppression policy: what one thing learnt about an address does to its contract's
//! suppression list, whichever path learnt it (a bounce mail or feedback report at the error
//! server, a synchronous refusal at delivery, the operator, an unsubscribe). Pure decisions,
//! no I/O; [`Store::record_bounces`](crate::Store::record_bounces) and
//! [`Store::record_outcomes`](crate::Store::record_outcomes) apply them in the transaction
//! that records the event, through one statement sequence.

use hikyaku_model::{EventKind, named_enum};
use std::time::Duration;

named_enum! {
    /// Why an address is on a contract's suppression list.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum SuppressionSource: "suppression source" {
        /// A permanent failure that says the address does not exist (or moved, or its domain
        /// takes no mail): seen during delivery or in a bounce mail.
        HardBounce = "hard-bounce",
        /// The recipient reported the mail as spam (an ARF feedback report).
        Complaint = "complaint",
        /// Too many soft bounces within `suppression.soft_bounce_window`.
        SoftBounces = "soft-bounces",
        /// The operator or the contract added it (CLI, console, API, import).
        Manual = "manual",
        /// The recipient asked to receive no more (one-click unsubscribe, RFC 8058).
        Unsubscribe = "unsubscribe",
    }
}

/// Something learnt about one address of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSignal {
    /// A permanent failure: a 5xx reply at delivery or a failed record in a bounce mail.
    /// `hard` when its reason says the address itself is gone (`Reason::is_hard`: unknown
    /// user, unknown host, moved), not that this one message was refused.
    Bounce { hard: bool },
    /// A temporary failure (a 4xx reply, a delay notice), a delivery, an expiry: nothing
    /// about the address that sending again could not change.
    Other,
    /// The recipient reported the mail as spam.
    Complaint,
    /// The recipient used the one-click unsubscribe link.
    Unsubscribe,
    /// The operator or the contract listed the address.
    Manual,
}

impl AddressSignal {
    /// The signal an event of `kind` gives; `hard` is the event's hard/soft verdict (bounces
    /// only).
    pub fn of_event(kind: EventKind, hard: Option<bool>) -> Self {
        match kind {
            EventKind::Bounced => AddressSignal::Bounce {
                hard: hard == Some(true),
            },
            EventKind::Complaint => AddressSignal::Complaint,
            EventKind::Unsubscribed => AddressSignal::Unsubscribe,
            EventKind::Accepted
            | EventKind::Delivered
            | EventKind::Deferred
            | EventKind::Expired
            | EventKind::Suppressed
            | EventKind::Inbound
            | EventKind::Deleted => AddressSignal::Other,
        }
    }

    /// What the signal does to the contract's list.
    pub fn effect(self) -> SuppressionEffect {
        match self {
            AddressSignal::Bounce { hard: true } => {
                SuppressionEffect::Suppress(SuppressionSource::HardBounce)
            }
            // A full mailbox or a refused message may clear up; many of them in a short time
            // say the address is not worth sending to (see `SoftBouncePolicy`).
            AddressSignal::Bounce { hard: false } => SuppressionEffect::CountSoft,
            AddressSignal::Complaint => SuppressionEffect::Suppress(SuppressionSource::Complaint),
            AddressSignal::Unsubscribe => {
                SuppressionEffect::Suppress(SuppressionSource::Unsubscribe)
            }
            AddressSignal::Manual => SuppressionEffect::Suppress(SuppressionSource::Manual),
            AddressSignal::Other => SuppressionEffect::Nothing,
        }
    }
}

/// What a signal does to the contract's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuppressionEffect {
    /// List the address now, for this reason.
    Suppress(SuppressionSource),
    /// A soft bounce: count it, and list the address once [`SoftBouncePolicy`] says so.
    CountSoft,
    /// Only log the event.
    Nothing,
}

/// How many soft bounces of one address within how long suppress it (`[suppression]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftBouncePolicy {
    /// 0 turns the rule off (soft bounces are then not even counted).
    pub limit: u32,
    pub window: Duration,
}

impl SoftBouncePolicy {
    /// Soft bounces neither counted nor listing anyone.
    pub const OFF: SoftBouncePolicy = SoftBouncePolicy {
        limit: 0,
        window: Duration::ZERO,
    };

    /// Whether soft bounces are counted at all.
    pub fn counts(&self) -> bool {
        self.limit > 0
    }

    /// The listing, if any, once the address has `count` soft bounces within the window (the
    /// newest included).
    pub fn after(&self, count: u64) -> Option<SuppressionSource> {
        (self.counts() && count >= u64::from(self.limit)).then_some(SuppressionSource::SoftBounces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip_through_text_and_json() {
        for source in SuppressionSource::ALL {
            assert_eq!(
                source.as_str().parse::<SuppressionSource>().unwrap(),
                source
            );
            assert_eq!(source.to_string(), source.as_str());
            assert_eq!(
                serde_json::to_string(&source).unwrap(),
                format!("\"{}\"", source.as_str())
            );
        }
        assert!("bounce".parse::<SuppressionSource>().is_err());
    }

    #[test]
    fn what_each_event_does_to_the_list() {
        use SuppressionEffect::{CountSoft, Nothing, Suppress};
        use SuppressionSource::{Complaint, HardBounce};
        // Event kind, its hard/soft verdict, and the effect: the same whether a bounce mail
        // or a synchronous refusal at delivery told it.
        let table = [
            (EventKind::Bounced, Some(true), Suppress(HardBounce)),
            (EventKind::Bounced, Some(false), CountSoft),
            // A bounce whose reason could not be read is not taken as proof the address is gone.
            (EventKind::Bounced, None, CountSoft),
            (EventKind::Complaint, None, Suppress(Complaint)),
            (EventKind::Deferred, None, Nothing),
            (EventKind::Delivered, None, Nothing),
            (EventKind::Expired, None, Nothing),
            (EventKind::Suppressed, None, Nothing),
            (EventKind::Deleted, None, Nothing),
            (
                EventKind::Unsubscribed,
                None,
                Suppress(SuppressionSource::Unsubscribe),
            ),
            (EventKind::Accepted, None, Nothing),
            (EventKind::Inbound, None, Nothing),
        ];
        for (kind, hard, effect) in table {
            assert_eq!(
                AddressSignal::of_event(kind, hard).effect(),
                effect,
                "{kind:?} hard={hard:?}"
            );
        }
        assert_eq!(
            AddressSignal::Manual.effect(),
            Suppress(SuppressionSource::Manual)
        );
        assert_eq!(
            AddressSignal::Unsubscribe.effect(),
            Suppress(SuppressionSource::Unsubscribe)
        );
    }

    #[test]
    fn soft_bounces_list_an_address_at_the_limit_within_the_window() {
        let policy = SoftBouncePolicy {
            limit: 3,
            window: Duration::from_secs(3600),
        };
        let table = [
            (1, None),
            (2, None),
            (3, Some(SuppressionSource::SoftBounces)),
            (7, Some(SuppressionSource::SoftBounces)),
        ];
        for (count, listing) in table {
            assert_eq!(policy.after(count), listing, "{count} soft bounces");
        }
        let off = SoftBouncePolicy { limit: 0, ..policy };
        assert!(!off.counts());
        assert_eq!(off.after(100), None);
    }
}
