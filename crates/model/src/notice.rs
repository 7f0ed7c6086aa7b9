//! Contract notices: things that happen to a contract rather than to one message (a
//! certificate running out, an endpoint disabled, a trial ending), which the contract's
//! administrators are told about by mail.

use crate::named_enum;

named_enum! {
    /// What a contract notice is about. The names are stored and printed (CLI, API): never
    /// rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum NoticeKind: "notice kind" {
        /// An S/MIME certificate of the contract ends within 30 days.
        SmimeCertificateExpiring = "smime_certificate_expiring",
        /// An S/MIME certificate of the contract has ended: its mail goes out unsigned.
        SmimeCertificateExpired = "smime_certificate_expired",
        /// A webhook endpoint failed for so long that it was disabled.
        WebhookEndpointDisabled = "webhook_endpoint_disabled",
        /// The contract's trial ends soon.
        TrialExpiring = "trial_expiring",
        /// The trial ended and the contract was suspended.
        TrialSuspended = "trial_suspended",
        /// Bounce or complaint rates are high enough to endanger the platform's reputation.
        ReputationWarning = "reputation_warning",
        /// The contract's sending was paused.
        SendingPaused = "sending_paused",
        /// The operator announced a maintenance of the platform.
        Maintenance = "maintenance",
        /// One of the contract's users sent the operator an inquiry: mailed to the operator's
        /// address, not to the contract's admins.
        Inquiry = "inquiry",
        /// The monitor found minutes in which no node answered (outside announced
        /// maintenance): told as soon as it has gone on for a while (`ongoing: true`, its
        /// start), or, first seen when already over, with its start, end and length.
        Outage = "outage",
        /// An outage told as going on is over: its start, end and length.
        OutageResolved = "outage_resolved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_stored_ones() {
        let names: Vec<&str> = NoticeKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "smime_certificate_expiring",
                "smime_certificate_expired",
                "webhook_endpoint_disabled",
                "trial_expiring",
                "trial_suspended",
                "reputation_warning",
                "sending_paused",
                "maintenance",
                "inquiry",
                "outage",
                "outage_resolved",
            ]
        );
        for kind in NoticeKind::ALL {
            assert_eq!(kind.as_str().parse::<NoticeKind>().unwrap(), kind);
        }
        assert!("SmimeCertificateExpired".parse::<NoticeKind>().is_err());
    }
}
