//! Test support for this crate and the crates above it: a fresh PostgreSQL database per test,
//! so that tests against the shared server run in parallel without seeing each other.
//!
//! The server comes from `TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`).
//! Without it a test skips with a note, except under `CI=true`, where skipping would hide a
//! missing database behind a green run.

use sqlx::Connection;

pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A database created for one test and dropped (forcibly, even with connections left open)
/// when this value is dropped, including when the test panics.
pub struct PostgresTestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresTestDatabase {
    /// Creates `hk_<random>` on the server of `TEST_DATABASE_URL`. Returns `None`, after
    /// printing why, when the variable is unset outside CI; panics when it is unset under CI.
    pub async fn create() -> Option<PostgresTestDatabase> {
        let Ok(admin_url) = std::env::var(TEST_DATABASE_URL) else {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!in_ci, "{TEST_DATABASE_URL} must be set under CI=true");
            eprintln!("skipping the PostgreSQL half of this test: {TEST_DATABASE_URL} is not set");
            return None;
        };
        let name = format!("hk_{:016x}", rand::random::<u64>());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {TEST_DATABASE_URL}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(PostgresTestDatabase {
            admin_url,
            name,
            url,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PostgresTestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside or outside a runtime, possibly while unwinding: a thread with its
        // own runtime works in every case, and nothing here may panic.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop the test database {}: {e}", self.name),
            Err(_) => eprintln!(
                "could not drop the test database {}: the dropper panicked",
                self.name
            ),
        }
    }
}

/// `url` with its database (the path) replaced by `database`, query parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Writes `events` send-log events for `customer` through the intake's own writer
/// (`record_accepted`, one recipient a message), spread evenly over the `days` before now:
/// 1,000 distinct recipients over 50 domains (`user{n % 1000}@d{n % 50}.example`), in batches
/// of 500. `progress` is told the number written after each 100,000. What the send-log and
/// console benchmarks fill their store with.
#[cfg(any(test, feature = "test-util"))]
pub async fn fill_send_log(
    store: &crate::Store,
    customer: &hikyaku_model::CustomerId,
    events: usize,
    days: i64,
    mut progress: impl FnMut(usize),
) -> Result<(), crate::StoreError> {
    use hikyaku_model::{Envelope, MessageId, Timestamp};
    const DAY: i64 = 86_400_000;
    let start = Timestamp::now().as_millis() - days * DAY;
    let step = (days * DAY / i64::try_from(events.max(1)).unwrap_or(i64::MAX)).max(1);
    let mut written = 0;
    while written < events {
        let batch: Vec<crate::AcceptedMessage> = (written..events.min(written + 500))
            .map(|n| {
                let at = Timestamp(start + i64::try_from(n).unwrap_or(i64::MAX) * step);
                crate::AcceptedMessage {
                    id: MessageId::new(at),
                    customer_id: customer.clone(),
                    envelope: Envelope {
                        mail_from: "notifications@sender.example".into(),
                        recipients: vec![format!("user{}@d{}.example", n % 1000, n % 50)],
                    },
                    size: 4096,
                    received_at: at,
                    source_ip: "192.0.2.10".into(),
                    node: "node-a".into(),
                    tags: Vec::new(),
                    metadata: Default::default(),
                    subject: None,
                }
            })
            .collect();
        written += batch.len();
        store.record_accepted(&batch).await?;
        if written % 100_000 == 0 {
            progress(written);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/hk_1",
            ),
            ("postgres://127.0.0.1", "postgres://127.0.0.1/hk_1"),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/hk_1?sslmode=disable",
            ),
        ] {
            assert_eq!(with_database(url, "hk_1"), expected);
        }
    }
}
