//! Who may use the API: the roles of a contract's users and keys, and the caller an
//! authenticated request acts as.

use crate::CustomerId;
use crate::named_enum;

named_enum! {
    /// What a contract's console user or API key may do. The names are stored and appear in
    /// the API: never rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Role: "role" {
        /// Everything, including the contract's users and keys.
        Admin = "admin",
        /// Send, read, and change settings other than users and keys.
        Sender = "sender",
        /// Read only.
        Viewer = "viewer",
        /// Usage and plan only.
        Billing = "billing",
    }
}

/// Who an authenticated API request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCaller {
    /// A contract's API key (or, through the console, one of its users).
    Contract {
        customer_id: CustomerId,
        /// The key's (or user's) ID, for logs and rate limits; never the secret.
        key_id: String,
        role: Role,
        /// Whether answers show e-mail addresses in clear; otherwise they are masked
        /// (`t***@example.jp`).
        see_addresses: bool,
    },
    /// The operator's key: the operator endpoints (contracts, plans, everyone's usage), never a
    /// contract's own data.
    Operator { key_id: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("Admin".parse::<Role>().is_err());
    }
}
