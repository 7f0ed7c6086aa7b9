use crate::Timestamp;
use crate::named_enum;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A contract's customer ID: what the operator, the console and the API call a tenant.
///
/// Lowercase letters and digits, 3 to 32 characters, so that it is safe in URLs, file names,
/// SMTP user names and VERP local parts alike. New IDs are `c` followed by 9 random characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a customer ID (3-32 lowercase letters and digits): {0:?}")]
pub struct InvalidCustomerId(pub String);

impl CustomerId {
    pub fn generate() -> Self {
        // No vowels but 'a': IDs never spell words by accident. No 0/o, 1/l confusion.
        const ALPHABET: &[u8] = b"23456789abcdfghjkmnpqrstvwxyz";
        let tail: String = (0..9)
            .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
            .collect();
        CustomerId(format!("c{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CustomerId {
    type Err = InvalidCustomerId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (3..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(CustomerId(s.to_string()))
        } else {
            Err(InvalidCustomerId(s.to_string()))
        }
    }
}

impl TryFrom<String> for CustomerId {
    type Error = InvalidCustomerId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<CustomerId> for String {
    fn from(id: CustomerId) -> String {
        id.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

named_enum! {
    /// Where a contract stands. Only `Trial` and `Active` contracts may send.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ContractState: "contract state" {
        Trial = "trial",
        Active = "active",
        Suspended = "suspended",
        Terminated = "terminated",
    }
}

impl ContractState {
    pub fn may_send(self) -> bool {
        matches!(self, Self::Trial | Self::Active)
    }
}

/// A tenant of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub customer_id: CustomerId,
    pub name: String,
    pub plan: String,
    pub state: ContractState,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid() {
        for _ in 0..100 {
            let id = CustomerId::generate();
            assert_eq!(id.as_str().parse::<CustomerId>().unwrap(), id);
            assert_eq!(id.as_str().len(), 10);
        }
    }

    #[test]
    fn customer_id_rules() {
        for good in ["abc", "c7f3k2m9q", "0123456789abcdefghijklmnopqrstuv"] {
            assert!(good.parse::<CustomerId>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "ab",
            "ABC",
            "a-b",
            "a b",
            "é12",
            "0123456789abcdefghijklmnopqrstuvw",
        ] {
            assert!(bad.parse::<CustomerId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn states_round_trip() {
        for state in ContractState::ALL {
            assert_eq!(state.as_str().parse::<ContractState>().unwrap(), state);
        }
        assert!("paused".parse::<ContractState>().is_err());
        assert!(ContractState::Trial.may_send() && ContractState::Active.may_send());
        assert!(!ContractState::Suspended.may_send() && !ContractState::Terminated.may_send());
    }
}
