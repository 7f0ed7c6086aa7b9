//! Who may use the console and the API: a contract's console users and API keys, and the
//! operator's keys.
//!
//! A console user logs in with the contract's customer ID, an e-mail address and a password. The
//! address is sealed like every address and found through a keyed look-up hash; the password is
//! kept only as an argon2id hash, and a login for a user that does not exist costs the same
//! argon2 work as a wrong password. An API key is a random secret shown once (`hk_…` for a
//! contract, `hko_…` for the operator) and kept only as its SHA-256. A contract has at most
//! [`MAX_CREDENTIALS_PER_CONTRACT`] users and keys together.
//!
//! Every query of a contract's users and keys names the contract, so one contract never sees,
//! removes or authenticates as another's. Nothing is cached: a revoked key or a removed user is
//! refused from the next request on.

use crate::credentials::{blocking, check_password, hash_password, password_matches};
use crate::error::is_unique_violation;
use crate::queue::corrupt;
use crate::{Store, StoreError, check_suppression_address};
use hikyaku_model::{ApiCaller, CustomerId, Role, Timestamp};
use sha2::{Digest, Sha256};

/// Console users and API keys of one contract, together: the 511th is refused with
/// [`StoreError::TooManyCredentials`].
pub const MAX_CREDENTIALS_PER_CONTRACT: usize = 510;

/// What a contract's API keys start with.
pub const API_KEY_PREFIX: &str = "hk_";
/// What the operator's keys start with; distinct from [`API_KEY_PREFIX`], so a key says which
/// table to look in and an operator key cannot be mistaken for a contract's.
pub const OPERATOR_KEY_PREFIX: &str = "hko_";

/// Letters and digits only, so a double click selects a whole key in a terminal or a browser.
const KEY_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// 32 characters of 62: about 190 bits, far beyond guessing.
const KEY_SECRET_LEN: usize = 32;
/// How many characters of the secret the listings show after the key's prefix: enough to tell
/// a contract's keys apart, few enough (about 36 bits) to leave the rest unguessable.
const DISPLAY_SECRET_CHARS: usize = 6;
const MAX_KEY_NAME_LEN: usize = 100;

/// A contract's console user (never the password or its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub user_id: String,
    pub customer_id: CustomerId,
    /// As it was given (look-ups ignore case).
    pub email: String,
    pub role: Role,
    /// Whether the user sees e-mail addresses in clear (otherwise masked).
    pub see_addresses: bool,
    pub created_at: Timestamp,
}

impl ConsoleUser {
    /// Who the user's requests act for.
    pub fn caller(&self) -> ApiCaller {
        ApiCaller::Contract {
            customer_id: self.customer_id.clone(),
            key_id: self.user_id.clone(),
            role: self.role,
            see_addresses: self.see_addresses,
        }
    }
}

/// A console user to add to a contract.
#[derive(Debug, Clone, Copy)]
pub struct NewConsoleUser<'a> {
    pub email: &'a str,
    /// 8 to 1024 bytes; see [`crate::generate_password`] for one chosen by the platform.
    pub password: &'a str,
    pub role: Role,
    pub see_addresses: bool,
}

/// A contract's API key as listings show it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub key_id: String,
    pub customer_id: CustomerId,
    pub name: String,
    /// The key's first characters (`hk_a8Fk2q`), to tell keys apart.
    pub prefix: String,
    pub role: Role,
    pub see_addresses: bool,
    pub created_at: Timestamp,
}

/// An API key to create for a contract.
#[derive(Debug, Clone, Copy)]
pub struct NewApiKey<'a> {
    /// What the key is for (`billing export`), 1 to 100 characters.
    pub name: &'a str,
    pub role: Role,
    pub see_addresses: bool,
}

/// One of the operator's keys as listings show it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKey {
    pub key_id: String,
    pub name: String,
    /// The key's first characters (`hko_a8Fk2q`).
    pub prefix: String,
    pub created_at: Timestamp,
}

/// One page of a listing in ID order: ask again with `after` set to the last ID of each page
/// until a page comes back short or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdPage {
    /// Start after this ID; `None` starts at the first.
    pub after: Option<String>,
    /// At most this many; `None` for all.
    pub limit: Option<u32>,
}

impl IdPage {
    fn after(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }

    fn limit(&self) -> i64 {
        self.limit.map_or(i64::MAX, i64::from)
    }
}

/// A new ID: the creation time in hexadecimal milliseconds (so IDs sort by age and listings in
/// ID order read oldest first), then random characters so that IDs made in the same
/// millisecond differ.
fn new_id(kind: &str) -> String {
    const TAIL: &[u8] = b"23456789abcdfghjkmnpqrstvwxyz";
    let tail: String = (0..6)
        .map(|_| TAIL[rand::random_range(0..TAIL.len())] as char)
        .collect();
    format!("{kind}{:011x}{tail}", Timestamp::now().as_millis().max(0))
}

/// A fresh key: `prefix` and 32 random letters and digits.
fn new_secret(prefix: &str) -> String {
    let secret: String = (0..KEY_SECRET_LEN)
        .map(|_| KEY_ALPHABET[rand::random_range(0..KEY_ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{secret}")
}

fn display_prefix(key: &str, prefix: &str) -> String {
    key[..prefix.len() + DISPLAY_SECRET_CHARS].to_string()
}

/// What the database keeps of a key. A plain SHA-256, not argon2: the key is 190 random bits,
/// so no dictionary or brute force can invert its hash, and a slow hash would be paid on every
/// API request (argon2's tens of milliseconds of CPU would cap a node at a few dozen requests
/// per second per core). Unkeyed, so keys outlive a change of the sealing key.
fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Whether `presented` has the shape of a key made under `prefix`: garbage is turned away
/// without a database round trip.
fn well_formed(presented: &str, prefix: &str) -> bool {
    presented.strip_prefix(prefix).is_some_and(|secret| {
        secret.len() == KEY_SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn check_key_name(name: &str) -> Result<&str, StoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_KEY_NAME_LEN {
        return Err(StoreError::invalid(
            "key name",
            "must be 1 to 100 characters long",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            "key name",
            "must not contain control characters",
        ));
    }
    Ok(name)
}

fn parse_role(role: &str) -> Result<Role, StoreError> {
    role.parse().map_err(|e| corrupt("role", e))
}

pub(crate) fn parse_customer(id: &str) -> Result<CustomerId, StoreError> {
    id.parse().map_err(|e| corrupt("customer_id", e))
}

/// Whether removing a console user may leave the contract without an admin user: the
/// operator may (and adds another with the CLI); the contract's own people may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAnAdmin {
    Yes,
    No,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: String,
    customer_id: String,
    email_sealed: Vec<u8>,
    role: String,
    see_addresses: bool,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

const USER_COLUMNS: &str = "user_id, customer_id, email_sealed, role, see_addresses, created_at";

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    key_id: String,
    customer_id: String,
    name: String,
    prefix: String,
    role: String,
    see_addresses: bool,
    created_at: i64,
}

impl ApiKeyRow {
    fn into_key(self) -> Result<ApiKey, StoreError> {
        Ok(ApiKey {
            key_id: self.key_id,
            customer_id: parse_customer(&self.customer_id)?,
            name: self.name,
            prefix: self.prefix,
            role: parse_role(&self.role)?,
            see_addresses: self.see_addresses,
            created_at: Timestamp(self.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct OperatorKeyRow {
    key_id: String,
    name: String,
    prefix: String,
    created_at: i64,
}

impl OperatorKeyRow {
    fn into_key(self) -> OperatorKey {
        OperatorKey {
            key_id: self.key_id,
            name: self.name,
            prefix: self.prefix,
            created_at: Timestamp(self.created_at),
        }
    }
}

/// Claims one of the contract's [`MAX_CREDENTIALS_PER_CONTRACT`] places inside the transaction
/// `$tx`, before the caller inserts the user or key. Evaluates to `Result<(), StoreError>`.
///
/// The first statement writes the contract's row (to itself), which serialises every claim for
/// one contract until its transaction ends: on PostgreSQL it takes the row's lock, so a second
/// creator waits and then counts the first one's row; on SQLite it makes the transaction the
/// database's one writer from its first statement on, across processes too, so the count is
/// never read from a snapshot another writer has since moved past. Counting then inserting
/// without it would let two creators at 509 both pass.
macro_rules! claim_credential_place {
    ($tx:expr, $customer:expr) => {
        async {
            let customer: &CustomerId = $customer;
            let state: Option<String> = sqlx::query_scalar(
                "UPDATE contracts SET state = state WHERE customer_id = $1 RETURNING state",
            )
            .bind(customer.as_str())
            .fetch_optional(&mut *$tx)
            .await?;
            match state.as_deref() {
                None => return Err(StoreError::ContractNotFound(customer.clone())),
                Some("terminated") => return Err(StoreError::ContractTerminated(customer.clone())),
                Some(_) => {}
            }
            let count: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM console_users WHERE customer_id = $1) \
                      + (SELECT COUNT(*) FROM api_keys WHERE customer_id = $1)",
            )
            .bind(customer.as_str())
            .fetch_one(&mut *$tx)
            .await?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_CREDENTIALS_PER_CONTRACT {
                return Err(StoreError::TooManyCredentials {
                    customer_id: customer.clone(),
                    limit: MAX_CREDENTIALS_PER_CONTRACT,
                });
            }
            Ok::<(), StoreError>(())
        }
    };
}

impl Store {
    /// The keyed hash by which a console user's e-mail address is found, apart from the
    /// address hashes of mail (a label of its own), ignoring case.
    fn email_hash(&self, email: &str) -> Vec<u8> {
        self.key.keyed_digest(
            b"hikyaku/console-user-email/v1",
            &[email.trim().to_lowercase().as_bytes()],
        )
    }

    fn user_from_row(&self, row: UserRow) -> Result<ConsoleUser, StoreError> {
        Ok(ConsoleUser {
            user_id: row.user_id,
            customer_id: parse_customer(&row.customer_id)?,
            email: self.key.open_string(&row.email_sealed)?,
            role: parse_role(&row.role)?,
            see_addresses: row.see_addresses,
            created_at: Timestamp(row.created_at),
        })
    }

    /// Adds a console user to the contract. Refused: a malformed address or password, an
    /// address (in any case) the contract already has a user for, a terminated or unknown
    /// contract, and a contract with [`MAX_CREDENTIALS_PER_CONTRACT`] users and keys already.
    pub async fn create_console_user(
        &self,
        customer: &CustomerId,
        new: &NewConsoleUser<'_>,
    ) -> Result<ConsoleUser, StoreError> {
        let email = check_suppression_address(new.email)
            .map_err(|reason| StoreError::invalid("e-mail address", reason))?;
        check_password(new.password)?;
        let password = new.password.to_owned();
        let phc = blocking(move || hash_password(&password)).await?;
        let user = ConsoleUser {
            user_id: new_id("u"),
            customer_id: customer.clone(),
            email: email.to_string(),
            role: new.role,
            see_addresses: new.see_addresses,
            created_at: Timestamp::now(),
        };
        let email_hash = self.email_hash(email);
        let email_sealed = self.key.seal_str(email);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            claim_credential_place!(tx, customer).await?;
            let inserted = sqlx::query(
                "INSERT INTO console_users (user_id, customer_id, email_hash, email_sealed, \
                 password_hash, role, see_addresses, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&user.user_id)
            .bind(customer.as_str())
            .bind(email_hash.as_slice())
            .bind(email_sealed.as_slice())
            .bind(&phc)
            .bind(user.role.as_str())
            .bind(user.see_addresses)
            .bind(user.created_at.as_millis())
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::EmailTaken(customer.clone()));
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
        });
        Ok(user)
    }

    /// One page of the contract's console users, in ID order (oldest first).
    pub async fn console_users(
        &self,
        customer: &CustomerId,
        page: &IdPage,
    ) -> Result<Vec<ConsoleUser>, StoreError> {
        let rows: Vec<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {USER_COLUMNS} FROM console_users \
                 WHERE customer_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3"
            )))
            .bind(customer.as_str())
            .bind(page.after())
            .bind(page.limit())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| self.user_from_row(row))
            .collect()
    }

    /// The contract's console user with this ID, unless the contract is terminated: what a
    /// console session checks on each request, so that a removed user is refused at once.
    pub async fn console_user(
        &self,
        customer: &CustomerId,
        user_id: &str,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let row: Option<UserRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT u.user_id, u.customer_id, u.email_sealed, u.role, u.see_addresses, \
                 u.created_at \
                 FROM console_users u JOIN contracts c ON c.customer_id = u.customer_id \
                 WHERE u.customer_id = $1 AND u.user_id = $2 AND c.state <> 'terminated'",
            )
            .bind(customer.as_str())
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(|row| self.user_from_row(row)).transpose()
    }

    /// Removes the contract's console user named by ID or by e-mail address (in any case).
    /// Returns the user removed, or `None` if the contract has no such user. Their next
    /// request is refused (the API keeps no sessions of its own in the store). With
    /// [`KeepAnAdmin::Yes`] the contract's last admin user is not removed
    /// ([`StoreError::LastAdmin`]): nobody left could manage its users from the console.
    pub async fn remove_console_user(
        &self,
        customer: &CustomerId,
        id_or_email: &str,
        keep_an_admin: KeepAnAdmin,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let id_or_email = id_or_email.trim();
        // An ID never holds an `@`, so the two never name different users.
        let email_hash = self.email_hash(id_or_email);
        let _turn = self.write_turn().await;
        let row: Option<UserRow> = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // The contract's row is the lock two concurrent removals of its last two admins
            // queue on, so that they cannot both see the other one still there.
            sqlx::query("UPDATE contracts SET state = state WHERE customer_id = $1")
                .bind(customer.as_str())
                .execute(&mut *tx)
                .await?;
            let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "DELETE FROM console_users \
                 WHERE customer_id = $1 AND (user_id = $2 OR email_hash = $3) \
                 RETURNING {USER_COLUMNS}"
            )))
            .bind(customer.as_str())
            .bind(id_or_email)
            .bind(email_hash.as_slice())
            .fetch_optional(&mut *tx)
            .await?;
            if keep_an_admin == KeepAnAdmin::Yes
                && row.as_ref().is_some_and(|r| r.role == Role::Admin.as_str())
            {
                let admins_left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM console_users WHERE customer_id = $1 AND role = $2",
                )
                .bind(customer.as_str())
                .bind(Role::Admin.as_str())
                .fetch_one(&mut *tx)
                .await?;
                if admins_left == 0 {
                    return Err(StoreError::LastAdmin(customer.clone()));
                }
            }
            tx.commit().await?;
            row
        });
        row.map(|row| self.user_from_row(row)).transpose()
    }

    /// The contract's user with this e-mail address (in any case) if the password is theirs
    /// and the contract is not terminated. An unknown address (or contract) costs the same
    /// argon2 work as a wrong password, so timing does not tell which users exist.
    pub async fn verify_console_login(
        &self,
        customer: &CustomerId,
        email: &str,
        password: &str,
    ) -> Result<Option<ConsoleUser>, StoreError> {
        let email_hash = self.email_hash(email);
        let row: Option<LoginRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT u.user_id, u.customer_id, u.email_sealed, u.role, u.see_addresses, \
                 u.created_at, u.password_hash \
                 FROM console_users u JOIN contracts c ON c.customer_id = u.customer_id \
                 WHERE u.customer_id = $1 AND u.email_hash = $2 AND c.state <> 'terminated'",
            )
            .bind(customer.as_str())
            .bind(email_hash.as_slice())
            .fetch_optional(pool)
            .await?
        });
        let phc = match &row {
            Some(row) => row.password_hash.clone(),
            None => self.dummy_hash().await?,
        };
        let password = password.to_owned();
        let matches = blocking(move || password_matches(&phc, &password)).await?;
        match row {
            Some(row) if matches => self.user_from_row(row.user).map(Some),
            _ => Ok(None),
        }
    }

    /// Creates an API key for the contract. Returns it with its secret (`hk_…`), which exists
    /// nowhere else afterwards: show it once. Refused like [`Store::create_console_user`]
    /// when the contract is unknown, terminated or full.
    pub async fn create_api_key(
        &self,
        customer: &CustomerId,
        new: &NewApiKey<'_>,
    ) -> Result<(ApiKey, String), StoreError> {
        let name = check_key_name(new.name)?;
        let secret = new_secret(API_KEY_PREFIX);
        let key = ApiKey {
            key_id: new_id("k"),
            customer_id: customer.clone(),
            name: name.to_string(),
            prefix: display_prefix(&secret, API_KEY_PREFIX),
            role: new.role,
            see_addresses: new.see_addresses,
            created_at: Timestamp::now(),
        };
        let hash = key_hash(&secret);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            claim_credential_place!(tx, customer).await?;
            sqlx::query(
                "INSERT INTO api_keys (key_id, customer_id, key_hash, prefix, name, role, \
                 see_addresses, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&key.key_id)
            .bind(customer.as_str())
            .bind(hash.as_slice())
            .bind(&key.prefix)
            .bind(&key.name)
            .bind(key.role.as_str())
            .bind(key.see_addresses)
            .bind(key.created_at.as_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok((key, secret))
    }

    /// One page of the contract's API keys, in ID order (oldest first).
    pub async fn api_keys(
        &self,
        customer: &CustomerId,
        page: &IdPage,
    ) -> Result<Vec<ApiKey>, StoreError> {
        let rows: Vec<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT key_id, customer_id, name, prefix, role, see_addresses, created_at \
                 FROM api_keys WHERE customer_id = $1 AND key_id > $2 ORDER BY key_id LIMIT $3",
            )
            .bind(customer.as_str())
            .bind(page.after())
            .bind(page.limit())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ApiKeyRow::into_key).collect()
    }

    /// The contract's API key with this ID (never the secret).
    pub async fn api_key(
        &self,
        customer: &CustomerId,
        key_id: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT key_id, customer_id, name, prefix, role, see_addresses, created_at \
                 FROM api_keys WHERE customer_id = $1 AND key_id = $2",
            )
            .bind(customer.as_str())
            .bind(key_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(ApiKeyRow::into_key).transpose()
    }

    /// Revokes (deletes) the contract's key. Returns it, or `None` if the contract has no such
    /// key. The very next request with it is refused.
    pub async fn revoke_api_key(
        &self,
        customer: &CustomerId,
        key_id: &str,
    ) -> Result<Option<ApiKey>, StoreError> {
        let _turn = self.write_turn().await;
        let row: Option<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "DELETE FROM api_keys WHERE customer_id = $1 AND key_id = $2 \
                 RETURNING key_id, customer_id, name, prefix, role, see_addresses, created_at",
            )
            .bind(customer.as_str())
            .bind(key_id.trim())
            .fetch_optional(pool)
            .await?
        });
        row.map(ApiKeyRow::into_key).transpose()
    }

    /// Creates one of the operator's keys. Returns it with its secret (`hko_…`): show it once.
    pub async fn create_operator_key(
        &self,
        name: &str,
    ) -> Result<(OperatorKey, String), StoreError> {
        let name = check_key_name(name)?;
        let secret = new_secret(OPERATOR_KEY_PREFIX);
        let key = OperatorKey {
            key_id: new_id("o"),
            name: name.to_string(),
            prefix: display_prefix(&secret, OPERATOR_KEY_PREFIX),
            created_at: Timestamp::now(),
        };
        let hash = key_hash(&secret);
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO operator_keys (key_id, key_hash, prefix, name, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&key.key_id)
            .bind(hash.as_slice())
            .bind(&key.prefix)
            .bind(&key.name)
            .bind(key.created_at.as_millis())
            .execute(pool)
            .await?;
        });
        Ok((key, secret))
    }

    /// One page of the operator's keys, in ID order (oldest first).
    pub async fn operator_keys(&self, page: &IdPage) -> Result<Vec<OperatorKey>, StoreError> {
        let rows: Vec<OperatorKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT key_id, name, prefix, created_at FROM operator_keys \
                 WHERE key_id > $1 ORDER BY key_id LIMIT $2",
            )
            .bind(page.after())
            .bind(page.limit())
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(OperatorKeyRow::into_key).collect())
    }

    /// Revokes (deletes) an operator key. Returns it, or `None` if there is no such key.
    pub async fn revoke_operator_key(
        &self,
        key_id: &str,
    ) -> Result<Option<OperatorKey>, StoreError> {
        let _turn = self.write_turn().await;
        let row: Option<OperatorKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "DELETE FROM operator_keys WHERE key_id = $1 \
                 RETURNING key_id, name, prefix, created_at",
            )
            .bind(key_id.trim())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(OperatorKeyRow::into_key))
    }

    /// Who a request presenting `presented` (the whole key, `hk_…` or `hko_…`) acts for: one
    /// indexed look-up of the key's hash, on every request. `None` for anything but a current
    /// key: malformed, unknown, revoked, or a key of a terminated contract. A suspended
    /// contract's keys still authenticate; what they may then do is the caller's policy.
    pub async fn authenticate_api_key(
        &self,
        presented: &str,
    ) -> Result<Option<ApiCaller>, StoreError> {
        if well_formed(presented, OPERATOR_KEY_PREFIX) {
            let hash = key_hash(presented);
            let key_id: Option<String> = with_pool!(self, pool => {
                sqlx::query_scalar("SELECT key_id FROM operator_keys WHERE key_hash = $1")
                    .bind(hash.as_slice())
                    .fetch_optional(pool)
                    .await?
            });
            return Ok(key_id.map(|key_id| ApiCaller::Operator { key_id }));
        }
        if !well_formed(presented, API_KEY_PREFIX) {
            return Ok(None);
        }
        let hash = key_hash(presented);
        let row: Option<(String, String, String, bool)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT k.key_id, k.customer_id, k.role, k.see_addresses \
                 FROM api_keys k JOIN contracts c ON c.customer_id = k.customer_id \
                 WHERE k.key_hash = $1 AND c.state <> 'terminated'",
            )
            .bind(hash.as_slice())
            .fetch_optional(pool)
            .await?
        });
        row.map(|(key_id, customer_id, role, see_addresses)| {
            Ok(ApiCaller::Contract {
                customer_id: parse_customer(&customer_id)?,
                key_id,
                role: parse_role(&role)?,
                see_addresses,
            })
        })
        .transpose()
    }
}

impl Store {
    /// The contract an API key stands for when a program presents it as SMTP AUTH credentials,
    /// as the hosted service lets its API users send by SMTP with the same pair: the user name
    /// is the key's name (its hosted `api_user`), the password its secret, and the key's role
    /// must allow sending (`admin`, `sender`). `None` for anything else, including passwords
    /// that are not keys at all (those are SMTP credentials' business).
    pub async fn verify_api_key_as_smtp(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<CustomerId>, StoreError> {
        let Some(ApiCaller::Contract {
            customer_id,
            key_id,
            role,
            ..
        }) = self.authenticate_api_key(password).await?
        else {
            return Ok(None);
        };
        if !matches!(role, Role::Admin | Role::Sender) {
            return Ok(None);
        }
        let key = self.api_key(&customer_id, &key_id).await?;
        Ok(key.filter(|k| k.name == username).map(|_| customer_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_recognised_by_shape() {
        let a = new_secret(API_KEY_PREFIX);
        let b = new_secret(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + KEY_SECRET_LEN);
        assert!(well_formed(&a, API_KEY_PREFIX));
        assert!(!well_formed(&a, OPERATOR_KEY_PREFIX));
        let o = new_secret(OPERATOR_KEY_PREFIX);
        assert!(well_formed(&o, OPERATOR_KEY_PREFIX));
        assert!(!well_formed(&o, API_KEY_PREFIX));
        for bad in [
            "",
            "hk_",
            "hk_short",
            &format!("{a}x"),
            &a[..a.len() - 1],
            &format!("hk_{}", "é".repeat(16)),
            &format!("hk_{}-", &a[3..a.len() - 1]),
            &format!(" {a}"),
            &a.to_uppercase().replacen("HK_", "HK-", 1),
        ] {
            assert!(!well_formed(bad, API_KEY_PREFIX), "{bad:?}");
        }
        assert_eq!(display_prefix(&a, API_KEY_PREFIX), a[..9]);
        assert_eq!(key_hash(&a).len(), 32);
        assert_ne!(key_hash(&a), key_hash(&b));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let first = new_id("k");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id("k");
        assert!(first < second, "{first} {second}");
        assert!(first.starts_with('k') && !first.contains('@'));
    }

    #[test]
    fn key_names_are_trimmed_and_bounded() {
        assert_eq!(check_key_name("  deploy bot ").unwrap(), "deploy bot");
        assert!(check_key_name("   ").is_err());
        assert!(check_key_name(&"n".repeat(101)).is_err());
        assert!(check_key_name("a\nb").is_err());
        assert!(check_key_name(&"名".repeat(100)).is_ok());
    }
}
