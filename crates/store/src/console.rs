//! The console's sessions and each console user's own settings (language, time zone, TOTP).
//!
//! Sessions are kept as the operator's are (the `sessions` module); a console session also
//! names its contract, and a session of a removed user or of a terminated contract finds
//! nothing. The TOTP secret is
//! sealed like every secret; a code's 30-second step is recorded when it is accepted, so the
//! same code (or an older one) is refused afterwards.

use crate::access::parse_customer;
use crate::sessions::{SessionArea, SessionUser};
use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Timestamp};

/// A session as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub customer_id: CustomerId,
    pub user_id: String,
    /// The password was right but the user's TOTP code is still to come: no page yet.
    pub second_factor_pending: bool,
    pub expires_at: Timestamp,
}

/// A console user's own settings; `None` where the user chose nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// `ja` or `en`.
    pub language: Option<String>,
    /// As the user gave it (`Asia/Tokyo`, `+09:00`).
    pub time_zone: Option<String>,
    /// The TOTP secret's raw bytes: the user has a second factor.
    pub totp_secret: Option<Vec<u8>>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    customer_id: String,
    user_id: String,
    second_factor_pending: bool,
    expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    language: Option<String>,
    time_zone: Option<String>,
    totp_sealed: Option<Vec<u8>>,
}

impl Store {
    /// Records a new session of the contract's user, and forgets sessions that have expired.
    pub async fn create_console_session(
        &self,
        customer: &CustomerId,
        user_id: &str,
        token_hash: &[u8],
        second_factor_pending: bool,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let user = SessionUser::Console { customer, user_id };
        self.create_session(user, token_hash, second_factor_pending, expires_at)
            .await
    }

    /// The session whose token hashes to `token_hash`, if it has not expired by `now`. Whether
    /// its user and contract still stand is [`Store::console_user`]'s to say.
    pub async fn console_session(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row: Option<SessionRow> = self
            .find_session(SessionArea::Console, token_hash, now)
            .await?;
        row.map(|row| {
            Ok(ConsoleSession {
                customer_id: parse_customer(&row.customer_id)?,
                user_id: row.user_id,
                second_factor_pending: row.second_factor_pending,
                expires_at: Timestamp(row.expires_at),
            })
        })
        .transpose()
    }

    /// Ends the session (logout, or the half-session a TOTP code has replaced).
    pub async fn delete_console_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.delete_session(SessionArea::Console, token_hash).await
    }

    /// The user's settings (all `None` when they chose nothing).
    pub async fn console_settings(
        &self,
        customer: &CustomerId,
        user_id: &str,
    ) -> Result<ConsoleSettings, StoreError> {
        let row: Option<SettingsRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT language, time_zone, totp_sealed FROM console_user_settings \
                 WHERE customer_id = $1 AND user_id = $2",
            )
            .bind(customer.as_str())
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else {
            return Ok(ConsoleSettings::default());
        };
        Ok(ConsoleSettings {
            language: row.language,
            time_zone: row.time_zone,
            totp_secret: row
                .totp_sealed
                .map(|sealed| self.key.open(&sealed))
                .transpose()?,
        })
    }

    /// Sets one of the user's settings; `column` is one of ours, never the caller's text.
    async fn set_console_setting(
        &self,
        customer: &CustomerId,
        user_id: &str,
        column: &'static str,
        value: Option<Vec<u8>>,
        text: Option<&str>,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            // Only a user of this contract gets a row: another contract's user ID finds none.
            sqlx::query(
                "INSERT INTO console_user_settings (user_id, customer_id) \
                 SELECT user_id, customer_id FROM console_users \
                 WHERE customer_id = $1 AND user_id = $2 \
                 ON CONFLICT (user_id) DO NOTHING",
            )
            .bind(customer.as_str())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            let sql = match column {
                "totp_sealed" => {
                    "UPDATE console_user_settings SET totp_sealed = $3, totp_last_step = NULL \
                     WHERE customer_id = $1 AND user_id = $2"
                }
                "language" => {
                    "UPDATE console_user_settings SET language = $3 \
                     WHERE customer_id = $1 AND user_id = $2"
                }
                _ => {
                    "UPDATE console_user_settings SET time_zone = $3 \
                     WHERE customer_id = $1 AND user_id = $2"
                }
            };
            let query = sqlx::query(sql).bind(customer.as_str()).bind(user_id);
            let query = if column == "totp_sealed" {
                query.bind(value)
            } else {
                query.bind(text.map(str::to_owned))
            };
            query.execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user's language (`ja`, `en`), or `None` to follow the browser.
    pub async fn set_console_language(
        &self,
        customer: &CustomerId,
        user_id: &str,
        language: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_console_setting(customer, user_id, "language", None, language)
            .await
    }

    /// The user's time zone as they wrote it, or `None` for Asia/Tokyo.
    pub async fn set_console_time_zone(
        &self,
        customer: &CustomerId,
        user_id: &str,
        time_zone: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_console_setting(customer, user_id, "time_zone", None, time_zone)
            .await
    }

    /// Gives the user a TOTP second factor with this secret, or takes it away (`None`).
    pub async fn set_console_totp(
        &self,
        customer: &CustomerId,
        user_id: &str,
        secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let sealed = secret.map(|s| self.key.seal(s));
        self.set_console_setting(customer, user_id, "totp_sealed", sealed, None)
            .await
    }

    /// Takes a TOTP code's 30-second `step` for the user: `false` when a code of this step or a
    /// later one was taken already (a replayed or older code).
    pub async fn take_totp_step(
        &self,
        customer: &CustomerId,
        user_id: &str,
        step: i64,
    ) -> Result<bool, StoreError> {
        let _turn = self.write_turn().await;
        let taken = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE console_user_settings SET totp_last_step = $3 \
                 WHERE customer_id = $1 AND user_id = $2 \
                 AND (totp_last_step IS NULL OR totp_last_step < $3)",
            )
            .bind(customer.as_str())
            .bind(user_id)
            .bind(step)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(taken == 1)
    }
}
