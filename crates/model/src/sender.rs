//! Sender domains: the words the store, the relay and the CLI share about DKIM keys and the
//! contract's policy for mail from a domain it has not registered.

use crate::named_enum;

named_enum! {
    /// What the relay does with a contract's message whose From domain is none of its sender
    /// domains (nor below one).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum UnregisteredFrom: "unregistered-From policy" {
        /// Sign it with the platform's own domain (when one has a key), so that a newcomer's
        /// first mail still carries a valid signature.
        #[default]
        SignAsService = "sign-as-service",
        /// Refuse it (`550 5.7.1` over SMTP, `422` over the API), naming the domain.
        Refuse = "refuse",
    }
}

named_enum! {
    /// Where a DKIM key stands in its domain's rotation.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum DkimKeyState: "DKIM key state" {
        /// Signs the domain's mail.
        Active = "active",
        /// Made by a rotation and waiting for its record to be seen in DNS; signs nothing yet.
        Pending = "pending",
        /// Replaced by a newer key; kept (its record may still be needed to verify mail in
        /// flight) until the operator removes it.
        Retired = "retired",
    }
}
