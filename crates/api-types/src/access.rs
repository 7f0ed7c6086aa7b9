//! Console users and API keys, as the API's users endpoints and the CLI's `user` /
//! `api-key` / `operator-key` commands show them. A secret (a generated password, a key) appears
//! in exactly one answer, the one that created it.

use crate::Time;
use hikyaku_model::{CustomerId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A contract's console user. Never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// The user's ID (`u…`), for removing them and in logs.
    #[schema(example = "u019aeb3c2d10k7mq2x")]
    pub id: String,
    #[schema(value_type = String, example = "c8kd2mxq7p")]
    pub customer_id: CustomerId,
    /// The login name, as it was given (logins ignore case).
    #[schema(example = "taro@example.jp")]
    pub email: String,
    #[schema(value_type = String, example = "admin")]
    pub role: Role,
    /// Whether the user sees e-mail addresses in clear; otherwise they are masked
    /// (`t***@example.jp`).
    pub see_addresses: bool,
    pub created_at: Time,
}

/// The answer to creating a console user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewUser {
    #[serde(flatten)]
    pub user: User,
    /// The password the platform generated, in this answer only (it is stored as a hash);
    /// `null` when the password was given.
    pub password: Option<String>,
}

/// A contract's API key as listings show it. Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// The key's ID (`k…`), for revoking it and in logs.
    #[schema(example = "k019aeb3c2d10m2p9ht")]
    pub id: String,
    #[schema(value_type = String, example = "c8kd2mxq7p")]
    pub customer_id: CustomerId,
    /// What the key is for.
    #[schema(example = "order system")]
    pub name: String,
    /// The key's first characters, to tell keys apart.
    #[schema(example = "hk_a8Fk2q")]
    pub prefix: String,
    #[schema(value_type = String, example = "sender")]
    pub role: Role,
    /// Whether answers to this key show e-mail addresses in clear.
    pub see_addresses: bool,
    pub created_at: Time,
}

/// The answer to creating an API key: the key, in this answer only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The whole key (`hk_` and 32 letters and digits), to send with each API request. Only
    /// its hash is stored; it cannot be shown again.
    #[schema(example = "hk_a8Fk2qZ0bWc4Rt7yLm3nPq5sVx9uGh1J")]
    pub key: String,
    #[serde(flatten)]
    pub api_key: ApiKey,
}

/// One of the operator's keys as listings show it. Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorKey {
    /// The key's ID (`o…`).
    #[schema(example = "o019aeb3c2d10x4k8fr")]
    pub id: String,
    #[schema(example = "ops laptop")]
    pub name: String,
    /// The key's first characters.
    #[schema(example = "hko_Q2w9Lx")]
    pub prefix: String,
    pub created_at: Time,
}

/// The answer to creating an operator key: the key, in this answer only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedOperatorKey {
    /// The whole key (`hko_` and 32 letters and digits). It cannot be shown again.
    #[schema(example = "hko_Q2w9LxZ0bWc4Rt7yLm3nPq5sVx9uGh1J")]
    pub key: String,
    #[serde(flatten)]
    pub operator_key: OperatorKey,
}

/// A page of a contract's console users, in ID order (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<User>,
}

/// A page of a contract's API keys, in ID order (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

/// A page of the operator's keys, in ID order (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperatorKeyList {
    pub operator_keys: Vec<OperatorKey>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_model::Timestamp;

    fn api_key() -> ApiKey {
        ApiKey {
            id: "k019aeb3c2d10m2p9ht".into(),
            customer_id: "c8kd2mxq7p".parse().unwrap(),
            name: "order system".into(),
            prefix: "hk_a8Fk2q".into(),
            role: Role::Sender,
            see_addresses: false,
            created_at: Time(Timestamp(1_764_041_520_123)),
        }
    }

    #[test]
    fn a_created_key_is_the_listing_plus_the_key() {
        let created = CreatedApiKey {
            key: "hk_a8Fk2qZ0bWc4Rt7yLm3nPq5sVx9uGh1J".into(),
            api_key: api_key(),
        };
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "key": "hk_a8Fk2qZ0bWc4Rt7yLm3nPq5sVx9uGh1J",
                "id": "k019aeb3c2d10m2p9ht",
                "customer_id": "c8kd2mxq7p",
                "name": "order system",
                "prefix": "hk_a8Fk2q",
                "role": "sender",
                "see_addresses": false,
                "created_at": "2025-11-25T03:32:00.123Z",
            })
        );
        assert_eq!(
            serde_json::from_value::<CreatedApiKey>(json).unwrap(),
            created
        );
        // A listing never has a `key`.
        let listed = serde_json::to_value(api_key()).unwrap();
        assert!(listed.get("key").is_none());
    }

    #[test]
    fn the_schema_of_a_created_key_has_the_key_and_the_listing() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_string(&CreatedApiKey::schema()).unwrap();
        for part in ["\"required\":[\"key\"]", "#/components/schemas/ApiKey"] {
            assert!(schema.contains(part), "{part} in {schema}");
        }
        let listed = serde_json::to_string(&ApiKey::schema()).unwrap();
        for field in ["\"prefix\"", "\"see_addresses\"", "\"created_at\""] {
            assert!(listed.contains(field), "{field} in {listed}");
        }
        assert!(!listed.contains("\"key\""), "{listed}");
    }

    #[test]
    fn hostile_shapes_are_refused() {
        let mut json = serde_json::to_value(api_key()).unwrap();
        json["role"] = "root".into();
        assert!(serde_json::from_value::<ApiKey>(json.clone()).is_err());
        json["role"] = "sender".into();
        json["customer_id"] = "../etc".into();
        assert!(serde_json::from_value::<ApiKey>(json).is_err());
    }
}
