use crate::named_enum;

named_enum! {
    /// Why a message did not reach a recipient, in Sisimai's words (go-sisimai `reason/lib.go`),
    /// so that our records compare with the reference implementation and with what operators
    /// already know. Declared in alphabetical order of the names.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Reason: "bounce reason" {
        AuthFailure = "authfailure",
        BadReputation = "badreputation",
        Blocked = "blocked",
        ContentError = "contenterror",
        Delivered = "delivered",
        ExceedLimit = "exceedlimit",
        Expired = "expired",
        FailedStartTls = "failedstarttls",
        Feedback = "feedback",
        Filtered = "filtered",
        HasMoved = "hasmoved",
        HostUnknown = "hostunknown",
        MailboxFull = "mailboxfull",
        MailerError = "mailererror",
        MesgTooBig = "mesgtoobig",
        NetworkError = "networkerror",
        NoRelaying = "norelaying",
        NotAccept = "notaccept",
        NotCompliantRfc = "notcompliantrfc",
        OnHold = "onhold",
        PolicyViolation = "policyviolation",
        Rejected = "rejected",
        RequirePtr = "requireptr",
        SecurityError = "securityerror",
        SpamDetected = "spamdetected",
        Speeding = "speeding",
        Suppressed = "suppressed",
        Suspend = "suspend",
        SyntaxError = "syntaxerror",
        SystemError = "systemerror",
        SystemFull = "systemfull",
        TooManyConn = "toomanyconn",
        Undefined = "undefined",
        UserUnknown = "userunknown",
        Vacation = "vacation",
        VirusDetected = "virusdetected",
    }
}

impl Reason {
    /// Whether the address itself is bad, so that sending to it again is pointless: the
    /// recipient or its domain does not exist or moved, or the domain takes no mail at all
    /// (a permanent `notaccept`). Everything else may pass another day.
    pub fn is_hard(self, permanent: bool) -> bool {
        match self {
            Reason::UserUnknown | Reason::HostUnknown | Reason::HasMoved => true,
            Reason::NotAccept => permanent,
            _ => false,
        }
    }

    /// Whether a record with this reason is a failure at all (not a delivery report, a
    /// complaint or an auto-reply).
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            Reason::Delivered | Reason::Feedback | Reason::Vacation
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_sorted() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        let names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(Reason::ALL.len(), 36);
        for bad in ["nosuchreason", "", "UserUnknown", "user unknown"] {
            assert!(bad.parse::<Reason>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hard_bounces() {
        let table = [
            (Reason::UserUnknown, true, true),
            (Reason::HostUnknown, false, true),
            (Reason::HasMoved, true, true),
            (Reason::NotAccept, true, true),
            (Reason::NotAccept, false, false),
            (Reason::MailboxFull, true, false),
            (Reason::Blocked, true, false),
            (Reason::Feedback, true, false),
        ];
        for (reason, permanent, hard) in table {
            assert_eq!(reason.is_hard(permanent), hard, "{reason} {permanent}");
        }
    }
}
