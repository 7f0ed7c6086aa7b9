use hikyaku_model::{CustomerId, MessageId};
use std::path::PathBuf;

/// What went wrong in the store. [`StoreError::is_transient`] tells whether trying again later
/// can succeed (the relay then answers `4xx`) or the request itself is at fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?} (expected sqlite:... or postgres://...)")]
    UnsupportedUrl(String),
    #[error("no contract with customer ID {0}")]
    ContractNotFound(CustomerId),
    #[error("contract {0} is terminated: it can no longer change")]
    ContractTerminated(CustomerId),
    #[error("the SMTP user name {0:?} is already taken")]
    UsernameTaken(String),
    /// Which contract holds the other range is not said: it is another tenant's business.
    #[error(
        "the IP range {cidr} overlaps a range allowed for another contract (a source address \
         may name one contract only)"
    )]
    RangeOverlaps { cidr: String },
    /// Which contract holds it is not said: it is another tenant's business.
    #[error(
        "the bounce domain {0} is already another contract's (a domain may serve one contract only)"
    )]
    BounceDomainTaken(String),
    /// Which contract holds it is not said: it is another tenant's business.
    #[error("the sender domain {0} is already registered (a domain signs for one contract only)")]
    SenderDomainTaken(String),
    #[error("no message {0} in the queue")]
    MessageNotFound(MessageId),
    #[error("message {0} has no recipient left to deliver: every one is already final")]
    NothingPending(MessageId),
    #[error("the inbound route pattern {0:?} is already taken")]
    InboundPatternTaken(String),
    #[error("no inbound route with ID {0}")]
    InboundRouteNotFound(i64),
    /// The contract's console users and API keys together are at their limit.
    #[error(
        "contract {customer_id} already has {limit} console users and API keys together, the \
         most a contract may have: remove one first"
    )]
    TooManyCredentials {
        customer_id: CustomerId,
        limit: usize,
    },
    /// The address is not repeated: the error may reach a log.
    #[error("contract {0} already has a console user with this e-mail address")]
    EmailTaken(CustomerId),
    #[error("contract {0} would have no admin user left")]
    LastAdmin(CustomerId),
    #[error("invalid {what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("a sealed value could not be opened: wrong sealing key or damaged data")]
    Unseal,
    #[error("unexpected data in the database: {0}")]
    Corrupt(String),
    #[error("sealing key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
}

impl StoreError {
    /// Whether the same call may succeed later without any change to its input: the database
    /// was unreachable, busy or out of space. Constraint violations, missing rows, bad input and
    /// a wrong key are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => sqlx_error_is_transient(e),
            StoreError::Migration(sqlx::migrate::MigrateError::Execute(e)) => {
                sqlx_error_is_transient(e)
            }
            StoreError::Migration(_) => false,
            StoreError::UnsupportedUrl(_)
            | StoreError::ContractNotFound(_)
            | StoreError::ContractTerminated(_)
            | StoreError::UsernameTaken(_)
            | StoreError::RangeOverlaps { .. }
            | StoreError::BounceDomainTaken(_)
            | StoreError::SenderDomainTaken(_)
            | StoreError::MessageNotFound(_)
            | StoreError::NothingPending(_)
            | StoreError::InboundPatternTaken(_)
            | StoreError::InboundRouteNotFound(_)
            | StoreError::TooManyCredentials { .. }
            | StoreError::EmailTaken(_)
            | StoreError::LastAdmin(_)
            | StoreError::Invalid { .. }
            | StoreError::Unseal
            | StoreError::Corrupt(_)
            | StoreError::KeyFile { .. }
            | StoreError::PasswordHash(_) => false,
        }
    }

    /// Whether the failure is a lack of disk space (SQLite's `SQLITE_FULL`, PostgreSQL's
    /// `disk_full`, or the file system's): the relay's `452 4.3.1` rather than `451 4.3.0`.
    pub fn is_out_of_space(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(io) => matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ),
            sqlx::Error::Database(db) => match db.code() {
                Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
                    code.parse::<i32>().is_ok_and(|c| c & 0xff == 13)
                }
                Some(code) => code == "53100",
                None => false,
            },
            _ => false,
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

fn sqlx_error_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => database_error_is_transient(db.as_ref()),
        sqlx::Error::Configuration(_)
        | sqlx::Error::InvalidArgument(_)
        | sqlx::Error::RowNotFound
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::AnyDriverError(_)
        | sqlx::Error::Migrate(_)
        | sqlx::Error::InvalidSavePointStatement
        | sqlx::Error::ConfigFile(_) => false,
        // sqlx::Error is non-exhaustive: an unknown failure is not worth a retry storm.
        _ => false,
    }
}

fn database_error_is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else { return false };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes: the primary code is the low byte.
        const BUSY: i32 = 5;
        const LOCKED: i32 = 6;
        const IOERR: i32 = 10;
        const FULL: i32 = 13;
        return code
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, BUSY | LOCKED | IOERR | FULL));
    }
    // SQLSTATE: 08 connection exception, 40 transaction rollback (serialization failure,
    // deadlock), 53 insufficient resources, 57P0x operator intervention (shutdown, restart).
    code.starts_with("08")
        || code.starts_with("40")
        || code.starts_with("53")
        || code.starts_with("57P0")
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    database_error_kind(e) == Some(sqlx::error::ErrorKind::UniqueViolation)
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    database_error_kind(e) == Some(sqlx::error::ErrorKind::ForeignKeyViolation)
}

fn database_error_kind(e: &sqlx::Error) -> Option<sqlx::error::ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}
