//! The database of Hikyaku: contracts, their allowed IP ranges and SMTP credentials, the queue
//! of accepted messages with their recipients' states, the event log (send log), and the
//! operator's retry/delete commands on their way to the delivery engine; on SQLite (embedded,
//! the default) or PostgreSQL (shared by several nodes), with embedded migrations for each.
//!
//! It owns the line between plaintext and sealed data: every e-mail address (and every text that
//! may quote one, such as a remote server's reply) is sealed with XChaCha20-Poly1305 under the
//! operator's [`SealingKey`] before it reaches a table, and found again through a keyed hash.
//! Callers only ever see plain `String`s. It must not hold policy (who may relay, retry
//! schedules, what a state change means for delivery): it stores and finds, nothing more.
//!
//! # The delivery engine's side
//!
//! 1. On start: [`Store::pending_messages`] page by page into its in-memory schedule.
//! 2. After attempts: [`Store::record_outcomes`] with a batch of outcomes (group commit); the
//!    messages it returns are complete, so their spool files can go.
//! 3. About once a second, from the start on: [`Store::take_queue_commands`] for its node.
//!    `Retry`: make the message's scheduled recipients due now (nothing to do if it holds no
//!    such message). `Delete`: drop the message from the schedule and remove its spool file once
//!    no attempt of it is in flight, whether or not the schedule held it: commands issued while
//!    the engine was down wait for it, and a message deleted then has no other way to lose its
//!    spool file. A command issued while step 1 ran is both in the rows read and in a later
//!    take; both actions are idempotent.
//!
//! A spool file whose message is known to the queue ([`Store::known_message_ids`]) but is not
//! among the pending work is complete (a crash came between step 2 and the removal): it can go.
//!
//! [`Store::retry_message`] and [`Store::delete_message`] (the operator's CLI, later the API)
//! change the rows and queue the command for the message's node in one transaction, so the
//! engine never sees a command before its change. An attempt that was in flight when the operator
//! deleted its message still gets its event (it did happen), but no longer changes the
//! recipient's state.
//!
//! # Suppression lists
//!
//! Each contract's list of addresses not to send to (the `suppression` module):
//! [`Store::add_suppressions`], [`Store::suppressions`], [`Store::record_bounces`] for the
//! error server. [`Store::record_accepted`] consults it (a listed recipient is recorded as
//! `suppressed`, never queued) and [`Store::record_outcomes`] adds synchronous hard bounces.
//! Large imports run as jobs (the `suppression_import` module): [`Store::create_suppression_import`]
//! keeps the file, [`Store::record_suppression_import_batch`] goes through it a batch at a time.
//!
//! # Bounce domains
//!
//! A contract's own domain for its VERP return paths (the `bounce_domains` module):
//! [`Store::set_bounce_domain`], [`Store::clear_bounce_domain`], [`Store::bounce_domain`] for
//! delivery, [`Store::bounce_domain_holder`] and [`Store::bounce_domains`] for the error server.
//!
//! # Console users and API keys
//!
//! Who may use the console and the API (the `access` module): [`Store::create_console_user`],
//! [`Store::verify_console_login`], [`Store::create_api_key`], [`Store::authenticate_api_key`]
//! and the operator's keys; at most [`MAX_CREDENTIALS_PER_CONTRACT`] users and keys a contract.
//!
//! # The send log
//!
//! Every event goes through one writer (the `events` module), which also keeps, in the same
//! transaction, the statistics counters ([`Store::stats`]), the usage ([`Store::usage`], per
//! month of a zone) and the webhook outbox, which the webhook sender reads
//! ([`Store::claim_webhook_endpoints`], [`Store::next_webhook_batch`],
//! [`Store::finish_webhook_attempt`]). [`Store::search_events`] pages through the log newest
//! first.
//!
//! # The data's lifecycle
//!
//! [`Store::purge_report_data`] deletes report data past its retention in short batches (the
//! tables are listed in [`REPORT_TABLES`]; usage stays); [`Store::delete_contract_data`]
//! removes a terminated contract's every row, leaving a tombstone; [`Store::trial_scan`]
//! finds idle trial contracts to warn and suspend.
//!
//! # One-click unsubscribe
//!
//! A contract's setting for `List-Unsubscribe` ([`Store::unsubscribe_settings`],
//! [`Store::set_unsubscribe_settings`]) and a recipient's use of the link
//! ([`Store::record_unsubscribe`]: the suppression list and an `unsubscribed` event), in the
//! `unsubscribe` module; the links' tokens are sealed with [`UnsubscribeKey`].
//!
//! # Key rotation
//!
//! Sealed values go through a keyring (the `keyring` module): key 0 from the key file, and the
//! data keys a rotation adds. [`Store::start_key_rotation`] makes a new key,
//! [`Store::reseal_step`] (one batch; [`Store::run_key_rotation`] loops it on one node at a
//! time) re-seals every column of [`SEALED_TABLES`] and finally retires the old key,
//! [`Store::refresh_keyring`] reloads the keys a node holds, [`Store::key_status`] reports.
//!
//! # Idempotency keys
//!
//! The HTTP API's `Idempotency-Key`: [`Store::idempotency_begin`], [`Store::idempotency_finish`],
//! [`Store::idempotency_release`], [`Store::purge_idempotency`] (the `idempotency` module).
//!
//! # S/MIME certificates
//!
//! A contract's signing certificates with their keys, sealed (the `smime` module):
//! [`Store::add_smime_certificate`], [`Store::smime_certificates`],
//! [`Store::smime_signing_certificates`] for the relay, [`Store::smime_certificates_expiring`]
//! for the expiry report, [`Store::remove_smime_certificate`].
//!
//! # Sender domains and DKIM keys
//!
//! The domains that sign a contract's mail and the platform's own (the `sender_domains`
//! module): [`Store::add_sender_domain`], [`Store::sender_domains`], the rotation
//! ([`Store::add_pending_dkim_keys`], [`Store::activate_pending_dkim_keys`],
//! [`Store::remove_dkim_key`]), [`Store::active_dkim_keys`] for the relay, and the contract's
//! policy for unregistered From domains ([`Store::unregistered_from`]). Private keys are sealed.
//!
//! # Contract notices
//!
//! What happened to a contract rather than to a message (the `notices` module):
//! [`Store::record_notice`] (once per contract, kind and key), [`Store::list_notices`], and the
//! mail to the contract's admins: [`Store::claim_notices_to_mail`] with a lease,
//! [`Store::finish_notice_mail`], sent as [`Store::notice_sender_contract`].
//!
//! # Inbound parse
//!
//! Routes, the queue of received mail for their endpoints and the attempt log: see the
//! `inbound` module ([`Store::inbound_route_for`], [`Store::enqueue_inbound`],
//! [`Store::claim_due_inbound_posts`], [`Store::record_inbound_attempt`]).
//!
//! # MTA-STS policies
//!
//! The policies delivery fetched, kept across restarts until they expire (the `mta_sts`
//! module): [`Store::save_mta_sts_policy`], [`Store::mta_sts_policy`].
//!
//! # Two pools, not the `Any` driver
//!
//! [`Store`] holds an enum of a native [`sqlx::SqlitePool`] or [`sqlx::PgPool`], and each method's
//! body is expanded once per backend by the `with_pool!` macro, with one shared query text
//! (SQLite understands PostgreSQL's `$1` placeholders). We chose this over `sqlx::Any` because:
//! - the SQLite connection needs native options that `Any` cannot carry (its options are only a
//!   URL): WAL, `synchronous=FULL`, the busy timeout, create-if-missing;
//! - `Any` needs a process-wide driver registry (`install_default_drivers`), a global we avoid;
//! - the hot path (`record_accepted`) binds and decodes native types directly instead of going
//!   through `AnyValue` copies, and backend-specific SQL stays possible where it ever pays.
//!
//! The price is that each query is type-checked twice, which the macro makes invisible.
//!
//! # Durability
//!
//! A committed transaction is durable on both backends (SQLite: WAL with `synchronous=FULL`;
//! PostgreSQL: its default `synchronous_commit`). The relay depends on it: it answers `250` only
//! after the spool file is fsync'd *and* the queue record is committed, and on start it removes
//! spool files that have no record (they were never acknowledged). With `synchronous=NORMAL` a
//! power cut could drop a recorded, acknowledged message's row, and that clean-up would then
//! delete its spool file. The cost is one WAL fsync per transaction, which the relay's group
//! commit (many messages per transaction) makes small.

mod error;
mod keyring;
mod sealing;

pub use error::StoreError;
#[cfg(any(test, feature = "test-util"))]
pub use keyring::opens_with;
pub use keyring::sealing_key_id;
pub use sealing::SealingKey;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Runs `$body` with `$pool` bound to the native pool of whichever backend the store uses. The
/// body is expanded once per backend, so the same query text is checked against both drivers.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}

/// The widths of the counters' time buckets (UTC), in milliseconds.
pub(crate) const MINUTE_MS: i64 = 60_000;
pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 86_400_000;

mod access;
mod availability;
mod bounce_domains;
mod console;
mod contracts;
mod credentials;
mod delivery;
mod events;
mod idempotency;
mod inbound;
mod ip_ranges;
mod key_rotation;
mod mta_sts;
mod notices;
mod operator;
mod quality;
mod queue;
mod reputation;
mod send_log;
mod sender_domains;
mod sessions;
mod smime;
mod stats;
mod suppression;
mod suppression_import;
pub mod suppression_policy;
pub mod testing;
mod unsubscribe;
mod unsubscribe_token;
mod usage;
mod webhooks;
// The data's lifecycle: retention, contract deletion, trial expiry.
mod contract_end;
#[cfg(any(test, feature = "test-util"))]
mod readable_dump;
mod retention;
mod trial;

pub use access::{
    API_KEY_PREFIX, ApiKey, ConsoleUser, IdPage, KeepAnAdmin, MAX_CREDENTIALS_PER_CONTRACT,
    NewApiKey, NewConsoleUser, OPERATOR_KEY_PREFIX, OperatorKey,
};
pub use availability::{MONITOR_KEPT, OutageAnnouncement, OutageNotice};
pub use bounce_domains::{BounceDomain, normalize_bounce_domain};
pub use console::{ConsoleSession, ConsoleSettings};
pub use contract_end::{ContractDeletion, DeletedContract};
pub use credentials::{SmtpCredential, generate_password};
pub use delivery::{
    Outcome, PendingMessage, PendingRecipient, QueueAction, QueueChange, QueueCommand,
    RecipientOutcome,
};
pub use idempotency::{
    Begun, IDEMPOTENCY_CLAIM_LEASE, IDEMPOTENCY_WINDOW, MAX_IDEMPOTENCY_KEY_LEN,
};
pub use inbound::{
    DueInboundPost, EnqueuedInbound, InboundAttempt, InboundAttemptEntry, InboundFormat,
    InboundLogFilter, InboundNext, InboundPostSummary, InboundRoute, InboundState, MAX_API_KEY_LEN,
    MAX_INBOUND_MESSAGE_SIZE, NewInboundPost, normalize_route_pattern,
};
pub use ip_ranges::AllowedIpRange;
pub use key_rotation::{
    KeyInfo, KeyState, KeyStatus, RotationSettings, RotationStatus, RotationStep, SEALED_TABLES,
    SealedTable, StartedRotation, TableProgress,
};
pub use mta_sts::StoredStsPolicy;
pub use notices::{MAX_NOTICE_KEY_LEN, Notice};
pub use operator::{
    Inquiry, Maintenance, NODE_HEARTBEAT, NewMaintenance, NodeStatus, OperatorSession, OperatorUser,
};
pub use quality::{MAX_REPLY_CHARS, QualityDomain, QualityReply, normalise_reply};
pub use queue::{
    AcceptedMessage, MAX_SUBJECT_CHARS, MessageFacts, QueueFilter, SUPPRESSION_LIST_SOURCE,
};
#[cfg(any(test, feature = "test-util"))]
pub use readable_dump::DumpedValue;
pub use reputation::{ReputationFigures, ReputationStatus, ReputationWindow, SendingPause};
pub use retention::{PurgeCount, REPORT_TABLES, RetentionPolicy};
pub use send_log::{BounceFilter, EventCursor, EventPage, EventQuery, MessageHistory};
pub use sender_domains::{
    ActiveDkimKey, DkimKey, NewDkimKey, SenderDomain, normalize_sender_domain,
};
pub use smime::{NewSmimeCertificate, SmimeCertificate};
pub use stats::{
    DOMAIN_MINUTES_MAX_SPAN_MS, DomainCounts, Granularity, KindCounts, MAX_STATS_POINTS,
    ReasonCount, StatsPoint, recipient_domain,
};
pub use suppression::{
    BounceEvent, NewSuppression, SuppressionEntry, SuppressionFilter, SuppressionPosition,
    check_suppression_address,
};
pub use suppression_import::{
    ImportBatch, ImportRowError, ImportRowProblem, ImportWork, MAX_STORED_IMPORT_ERRORS,
    SuppressionImportJob,
};
pub use suppression_policy::{
    AddressSignal, SoftBouncePolicy, SuppressionEffect, SuppressionSource,
};
pub use trial::{TrialAction, TrialPolicy};
pub use unsubscribe::{
    UNSUBSCRIBED_REASON, UnsubscribeRecord, UnsubscribeSettings, Unsubscription,
};
pub use unsubscribe_token::{BadToken, UnsubscribeKey, UnsubscribeToken};
pub use usage::{Usage, UsageMonth};
pub use webhooks::{
    EndpointNext, FollowOn, NewWebhookEndpoint, WebhookAttempt, WebhookAttemptEntry, WebhookBatch,
    WebhookEndpoint, WebhookEndpointSettings, WebhookEvent, WebhookFormat, WebhookOutcome,
};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up with `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite allows one writer at a time, so more connections only help concurrent readers.
const SQLITE_POOL_SIZE: u32 = 4;
const POSTGRES_POOL_SIZE: u32 = 10;
/// A server that gives no connection within this time is down for our purposes: the relay
/// should answer `4xx` promptly rather than hold its client for sqlx's default 30 s.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The database, opened and migrated. Cheap to clone: the pool and the key are shared.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Key 0 from the key file and the data keys of `sealing_keys` (the `key_rotation` module).
    key: keyring::Keyring,
    credentials: Arc<credentials::DummyHash>,
    /// SQLite takes one writer at a time and makes the others wait by *sleeping* in growing
    /// steps (1, 2, 5 … 100 ms): the relay's intake and the delivery recorder would wait on
    /// each other that way. Queueing this process's writers here instead hands the lock over
    /// at once. Unused on PostgreSQL, which has row locks.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    #[cfg(any(test, feature = "test-util"))]
    faults: Arc<StoreFaults>,
}

/// A step of the intake's writes ([`Store::record_accepted`], [`Store::withdraw_accepted`])
/// that a test can make fail.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStep {
    /// The first insert: the statement fails, the transaction is rolled back by the caller.
    Insert,
    /// The `COMMIT`, as it fails on SQLite when its WAL cannot be written: the database rolls
    /// the transaction back by itself.
    Commit,
    /// Withdrawing a record whose spool file did not become durable.
    Withdraw,
}

/// Failures a test can make the database's writes of accepted messages suffer (test support
/// only): the next commits to reach a step fail there with an OS error.
#[cfg(any(test, feature = "test-util"))]
#[derive(Debug, Default)]
pub struct StoreFaults {
    armed: std::sync::Mutex<Vec<(RecordStep, i32, u32)>>,
}

#[cfg(any(test, feature = "test-util"))]
impl StoreFaults {
    /// The next `times` transactions that reach `step` fail there with `errno` (`ENOSPC` is
    /// reported as out of space, like SQLite's `SQLITE_FULL`).
    pub fn fail(&self, step: RecordStep, errno: i32, times: u32) {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((step, errno, times));
    }

    /// The error this transaction is to fail with at `step`, if one is armed.
    pub(crate) fn injected(&self, step: RecordStep) -> Option<StoreError> {
        let mut armed = self.armed.lock().unwrap_or_else(|p| p.into_inner());
        let (_, errno, times) = armed
            .iter_mut()
            .find(|(armed_step, _, times)| *armed_step == step && *times > 0)?;
        *times -= 1;
        Some(StoreError::Database(sqlx::Error::Io(
            std::io::Error::from_raw_os_error(*errno),
        )))
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH`, `postgres://...`), creating a SQLite file
    /// if it is missing, and applies the pending migrations.
    pub async fn connect(url: &str, key: SealingKey) -> Result<Store, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            let options = durable_sqlite(SqliteConnectOptions::from_str(url)?);
            prepare_sqlite_file(options.get_filename())?;
            let pool = sqlite_pool_options().connect_with(options).await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?.application_name("hikyaku");
            let pool = PgPoolOptions::new()
                .max_connections(POSTGRES_POOL_SIZE)
                .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            // Several nodes may start at once: the migrator serialises them with an advisory lock.
            POSTGRES_MIGRATIONS.run(&pool).await?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(hikyaku_model::masked_url(url)));
        };
        Store::over(backend, key).with_keyring().await
    }

    fn over(backend: Backend, key: SealingKey) -> Store {
        Store {
            backend,
            key: keyring::Keyring::new(key),
            credentials: Arc::default(),
            sqlite_writer: Arc::default(),
            #[cfg(any(test, feature = "test-util"))]
            faults: Arc::default(),
        }
    }

    /// A SQLite store at `path` whose file cannot grow beyond `pages` pages (of 4 KiB) while
    /// that limit is set: the database's own `SQLITE_FULL`, as on a full disk, for tests of what
    /// is built on the store. The limit is read at every use of a connection, so a test can
    /// fill the database, then make room again (`0` means no limit).
    #[cfg(any(test, feature = "test-util"))]
    pub async fn connect_sqlite_with_page_limit(
        path: &std::path::Path,
        key: SealingKey,
        pages: Arc<std::sync::atomic::AtomicU32>,
    ) -> Result<Store, StoreError> {
        let options = durable_sqlite(SqliteConnectOptions::new().filename(path));
        prepare_sqlite_file(path)?;
        let pool = sqlite_pool_options()
            .before_acquire(move |conn, _| {
                let pages = pages.load(std::sync::atomic::Ordering::Relaxed);
                Box::pin(async move {
                    let limit = if pages == 0 { u32::MAX } else { pages };
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "PRAGMA max_page_count = {limit}"
                    )))
                    .execute(&mut *conn)
                    .await?;
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Store::over(Backend::Sqlite(pool), key).with_keyring().await
    }

    /// Where a test arms failures of this store's commits.
    #[cfg(any(test, feature = "test-util"))]
    pub fn faults(&self) -> &StoreFaults {
        &self.faults
    }

    /// Pages in the SQLite database file (with its WAL), to set a page limit relative to it.
    #[cfg(any(test, feature = "test-util"))]
    pub async fn sqlite_page_count(&self) -> Result<u32, StoreError> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Err(StoreError::invalid("backend", "not SQLite"));
        };
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(pool)
            .await?;
        Ok(u32::try_from(pages).unwrap_or(u32::MAX))
    }

    /// This process's turn to write, on SQLite; nothing to wait for on PostgreSQL. Hold it for
    /// the whole write transaction.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite(_) => Some(self.sqlite_writer.lock().await),
            Backend::Postgres(_) => None,
        }
    }

    /// The clause a claim's `SELECT … FOR` subquery ends with: on PostgreSQL, concurrent
    /// claimers skip each other's rows instead of waiting for them; SQLite has one writer at a
    /// time (the write turn) and no row locks.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and diagnostics.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// One round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Waits for the connections to close; pending work on other clones fails afterwards.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// WAL with `synchronous=FULL` (see "Durability" above), the busy timeout, create-if-missing,
/// and `secure_delete=FAST`: a row deleted or rewritten is zeroed in its page (which is being
/// written anyway), so deleted data (a purged send log, an ended contract) does not linger in
/// the file's free space. The contract deletion turns it fully on for its own transactions.
/// Each connection keeps up to [`SQLITE_CACHE_KIB`] of pages: SQLite's default of 2 MiB holds
/// less than one send-log search by a tag touches on a log of millions of events (thousands
/// of rows spread over the file), so every page view read them back through the kernel.
fn durable_sqlite(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .pragma("secure_delete", "FAST")
        .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
}

/// The page cache of one SQLite connection, in KiB (at most [`SQLITE_POOL_SIZE`] times this in
/// all; pages are only kept once read).
const SQLITE_CACHE_KIB: u32 = 32 * 1024;

fn sqlite_pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(SQLITE_POOL_SIZE)
        .after_release(|conn, _| Box::pin(async move { leaves_no_transaction(conn).await }))
}

/// The database holds sealed addresses but also plain metadata (and SQLite copies the file's
/// mode to its `-wal` and `-shm` files): a new database file is created readable by its owner
/// only, before SQLite would create it with the process's umask. An existing one is left as
/// the operator set it, with a warning when others may read it.
fn prepare_sqlite_file(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let in_memory =
        path.as_os_str().is_empty() || path.to_str().is_some_and(|p| p.starts_with(':'));
    if in_memory {
        return Ok(());
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(metadata) = std::fs::metadata(path)
                && metadata.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(path = %path.display(), mode = format!("{:o}", metadata.permissions().mode() & 0o777), "the database file is readable by other users; chmod 600 it (and its -wal and -shm files)");
            }
            Ok(())
        }
        // Let SQLite report a missing directory or a read-only file system in its own words.
        Err(_) => Ok(()),
    }
}

/// Whether a SQLite connection may go back to the pool: only when no transaction of ours is
/// left open on it. When a statement fails with `SQLITE_FULL` or `SQLITE_IOERR`, SQLite may
/// already have rolled the whole transaction back; sqlx's own `ROLLBACK` then fails, and sqlx
/// still counts the transaction as open. Its next `begin` on that connection would issue a
/// `SAVEPOINT` instead of `BEGIN`, and a later `ROLLBACK TO` of that savepoint leaves a real
/// transaction open under every following "commit": they would report success for rows that
/// are never written, and hold the write lock (other writers wait out the busy timeout). That
/// is how a full disk once lost a message after its `250`. Such a connection is closed instead.
async fn leaves_no_transaction(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queues its rollback; one round trip lets it run first.
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}
