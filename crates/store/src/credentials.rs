use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::{Store, StoreError};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hikyaku_model::{CustomerId, Timestamp};
use serde::Serialize;

/// An SMTP AUTH user name of a contract. The password is only ever kept as an argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmtpCredential {
    pub customer_id: CustomerId,
    pub username: String,
    pub created_at: Timestamp,
}

const MAX_USERNAME_LEN: usize = 128;
const MIN_PASSWORD_LEN: usize = 8;
const MAX_PASSWORD_LEN: usize = 1024;
const GENERATED_PASSWORD_LEN: usize = 24;

/// The argon2id hash of a random password, computed on first need, that unknown user names
/// are verified against so that they cost as much time as known ones.
#[derive(Default)]
pub(crate) struct DummyHash(tokio::sync::OnceCell<String>);

/// A random password of 24 letters and digits (about 140 bits), for operators who let the
/// platform choose one.
pub fn generate_password() -> String {
    // No 0/O, 1/l/I: the password is read off a terminal and typed into a config file.
    const ALPHABET: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..GENERATED_PASSWORD_LEN)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn validate_username(username: &str) -> Result<(), StoreError> {
    let bad = |reason: &str| Err(StoreError::invalid("SMTP user name", reason));
    if username.is_empty() || username.len() > MAX_USERNAME_LEN {
        return bad("must be 1 to 128 bytes long");
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return bad("must not contain spaces or control characters");
    }
    Ok(())
}

/// The length rule every password the store hashes is held to.
pub(crate) fn check_password(password: &str) -> Result<(), StoreError> {
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&password.len()) {
        return Err(StoreError::invalid(
            "password",
            "must be 8 to 1024 bytes long",
        ));
    }
    Ok(())
}

pub(crate) fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| StoreError::PasswordHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| StoreError::PasswordHash(e.to_string()))
}

pub(crate) fn password_matches(phc: &str, password: &str) -> Result<bool, StoreError> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| StoreError::Corrupt(format!("password hash: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Argon2 takes tens of milliseconds of CPU on purpose: keep it off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::PasswordHash(format!("hashing task failed: {e}")))?
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    customer_id: String,
    username: String,
    created_at: i64,
}

impl Store {
    /// Adds an SMTP user name with its password for the contract. User names are unique across
    /// all contracts, because AUTH names the contract by the user name alone.
    pub async fn add_smtp_credential(
        &self,
        id: &CustomerId,
        username: &str,
        password: &str,
    ) -> Result<SmtpCredential, StoreError> {
        validate_username(username)?;
        check_password(password)?;
        self.require_contract(id).await?;
        let password = password.to_owned();
        let phc = blocking(move || hash_password(&password)).await?;
        let created_at = Timestamp::now();
        let inserted = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO smtp_credentials (username, customer_id, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(username)
            .bind(id.as_str())
            .bind(&phc)
            .bind(created_at.as_millis())
            .execute(pool)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(_) => Ok(SmtpCredential {
                customer_id: id.clone(),
                username: username.to_string(),
                created_at,
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::UsernameTaken(username.into())),
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::ContractNotFound(id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// The contract's user names (never the hashes), alphabetically.
    pub async fn smtp_credentials(
        &self,
        id: &CustomerId,
    ) -> Result<Vec<SmtpCredential>, StoreError> {
        let rows: Vec<CredentialRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, username, created_at FROM smtp_credentials \
                 WHERE customer_id = $1 ORDER BY username",
            )
            .bind(id.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(SmtpCredential {
                    customer_id: row.customer_id.parse().map_err(|e| {
                        StoreError::Corrupt(format!("smtp_credentials.customer_id: {e}"))
                    })?,
                    username: row.username,
                    created_at: Timestamp(row.created_at),
                })
            })
            .collect()
    }

    /// `false` if the contract has no such user name.
    pub async fn remove_smtp_credential(
        &self,
        id: &CustomerId,
        username: &str,
    ) -> Result<bool, StoreError> {
        let removed = with_pool!(self, pool => {
            sqlx::query("DELETE FROM smtp_credentials WHERE customer_id = $1 AND username = $2")
                .bind(id.as_str())
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    /// The contract the user name belongs to, if the password is right. An unknown user name
    /// costs the same argon2 work as a wrong password, so timing does not tell which user
    /// names exist.
    pub async fn verify_smtp_credential(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        let row: Option<(String, String)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, password_hash FROM smtp_credentials WHERE username = $1",
            )
            .bind(username)
            .fetch_optional(pool)
            .await?
        });
        let (customer_id, phc) = match row {
            Some((customer_id, phc)) => (Some(customer_id), phc),
            None => (None, self.dummy_hash().await?),
        };
        let password = password.to_owned();
        let matches = blocking(move || password_matches(&phc, &password)).await?;
        match customer_id {
            Some(id) if matches => {
                Ok(Some(id.parse().map_err(|e| {
                    StoreError::Corrupt(format!("smtp_credentials.customer_id: {e}"))
                })?))
            }
            _ => Ok(None),
        }
    }

    pub(crate) async fn dummy_hash(&self) -> Result<String, StoreError> {
        self.credentials
            .0
            .get_or_try_init(|| blocking(|| hash_password(&generate_password())))
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), GENERATED_PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(password_matches(&phc, "correct horse").unwrap());
        assert!(!password_matches(&phc, "correct horsE").unwrap());
        assert!(password_matches("not a hash", "x").is_err());
    }

    #[test]
    fn user_name_rules() {
        for good in ["app", "app@example.com", "APP-1_x.y", &"u".repeat(128)] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "tab\there", "nl\n", &"u".repeat(129)] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }
}
