//! The one way both consoles keep their login sessions: a contract's console
//! (`console_sessions`) and the operator's (`operator_sessions`) differ only in their table and
//! in that a contract's session also names its contract. Each area keeps a table of its own, so
//! a session of one is never found by the other.
//!
//! A session is found by the SHA-256 of the token in the browser's cookie, never by the token
//! itself: the caller hashes. One past its expiry finds nothing, and creating a session forgets
//! the expired ones of its area.

use crate::{Store, StoreError};
use hikyaku_model::{CustomerId, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

/// Which console's sessions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionArea {
    Console,
    Operator,
}

/// Whose new session: the user is looked up in their area's users (and, for a contract's user,
/// within that contract), so an unknown user gets no session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionUser<'a> {
    Console {
        customer: &'a CustomerId,
        user_id: &'a str,
    },
    Operator {
        user_id: &'a str,
    },
}

impl SessionArea {
    fn table(self) -> &'static str {
        match self {
            SessionArea::Console => "console_sessions",
            SessionArea::Operator => "operator_sessions",
        }
    }

    /// What a look-up reads: the columns of the area's row type.
    fn columns(self) -> &'static str {
        match self {
            SessionArea::Console => "customer_id, user_id, second_factor_pending, expires_at",
            SessionArea::Operator => "user_id, second_factor_pending, expires_at",
        }
    }

    /// Binds $1 token hash, $2 user ID, $3 pending, $4 created, $5 expires, and for a
    /// contract's user $6 its contract: the row comes from the user's own, so none is made for
    /// a user who is not there.
    fn insert_sql(self) -> &'static str {
        match self {
            SessionArea::Console => {
                "INSERT INTO console_sessions (token_hash, customer_id, user_id, \
                 second_factor_pending, created_at, expires_at) \
                 SELECT $1, u.customer_id, u.user_id, $3, $4, $5 FROM console_users u \
                 WHERE u.user_id = $2 AND u.customer_id = $6"
            }
            SessionArea::Operator => {
                "INSERT INTO operator_sessions (token_hash, user_id, second_factor_pending, \
                 created_at, expires_at) SELECT $1, user_id, $3, $4, $5 FROM operator_users \
                 WHERE user_id = $2"
            }
        }
    }
}

impl Store {
    /// Records a new session of the user, and forgets the area's expired sessions.
    pub(crate) async fn create_session(
        &self,
        user: SessionUser<'_>,
        token_hash: &[u8],
        second_factor_pending: bool,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        let (area, user_id, customer) = match user {
            SessionUser::Console { customer, user_id } => {
                (SessionArea::Console, user_id, Some(customer))
            }
            SessionUser::Operator { user_id } => (SessionArea::Operator, user_id, None),
        };
        let now = Timestamp::now();
        let forget_expired = format!("DELETE FROM {} WHERE expires_at <= $1", area.table());
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(sqlx::AssertSqlSafe(forget_expired.as_str()))
                .bind(now.as_millis())
                .execute(&mut *tx)
                .await?;
            let insert = sqlx::query(area.insert_sql())
                .bind(token_hash)
                .bind(user_id)
                .bind(second_factor_pending)
                .bind(now.as_millis())
                .bind(expires_at.as_millis());
            let insert = match customer {
                Some(customer) => insert.bind(customer.as_str()),
                None => insert,
            };
            insert.execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The area's session whose token hashes to `token_hash`, if it has not expired by `now`,
    /// as the area's row type `R` (its fields named as [`SessionArea::columns`]).
    pub(crate) async fn find_session<R>(
        &self,
        area: SessionArea,
        token_hash: &[u8],
        now: Timestamp,
    ) -> Result<Option<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let sql = format!(
            "SELECT {} FROM {} WHERE token_hash = $1 AND expires_at > $2",
            area.columns(),
            area.table()
        );
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(token_hash)
                .bind(now.as_millis())
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Ends the area's session whose token hashes to `token_hash`.
    pub(crate) async fn delete_session(
        &self,
        area: SessionArea,
        token_hash: &[u8],
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {} WHERE token_hash = $1", area.table());
        let _turn = self.write_turn().await;
        with_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(token_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
