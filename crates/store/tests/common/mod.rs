//! The fixture every store test uses: one body, run once on SQLite (a file in a temp directory)
//! and once on PostgreSQL (a fresh database on the server of `TEST_DATABASE_URL`).

// Each test binary uses only a part of it.
#![allow(dead_code, unused_macros, unused_imports)]

use hikyaku_model::{
    CustomerId, Envelope, EventDetails, EventSource, Exchange, MessageId, Reason, Timestamp,
};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{AcceptedMessage, Outcome, SealingKey, Store};

/// The least details an outcome of this kind can have.
#[allow(dead_code)]
pub fn bare_details(outcome: Outcome) -> EventDetails {
    let exchange = Exchange::by(EventSource::Smtp);
    match outcome {
        Outcome::Delivered => EventDetails::Delivered { exchange },
        Outcome::Deferred { .. } => EventDetails::Deferred {
            exchange,
            reason: None,
        },
        Outcome::Bounced => EventDetails::Bounced {
            exchange,
            reason: Reason::Undefined,
            hard: false,
        },
        Outcome::Expired => EventDetails::Expired { exchange },
        Outcome::Suppressed => EventDetails::Suppressed {
            source: EventSource::SuppressionList,
            note: None,
        },
    }
}

enum Database {
    Sqlite(tempfile::TempDir),
    Postgres(PostgresTestDatabase),
}

pub struct Fixture {
    pub store: Store,
    pub url: String,
    pub key: [u8; 32],
    database: Database,
}

impl Fixture {
    pub async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("hikyaku.db").display());
        Fixture::open(url, Database::Sqlite(dir)).await
    }

    pub async fn postgres() -> Option<Fixture> {
        let database = PostgresTestDatabase::create().await?;
        Some(Fixture::open(database.url().to_string(), Database::Postgres(database)).await)
    }

    async fn open(url: String, database: Database) -> Fixture {
        let key: [u8; 32] = rand::random();
        let store = Store::connect(&url, SealingKey::from_bytes(key))
            .await
            .unwrap();
        Fixture {
            store,
            url,
            key,
            database,
        }
    }

    /// Every byte the database holds for the queue and the send log, as a person with access
    /// to the database (or its files) would see it.
    pub async fn raw_bytes(&self) -> Vec<u8> {
        self.raw_bytes_of(&[
            "messages",
            "message_recipients",
            "events",
            "contracts",
            "queue_commands",
        ])
        .await
    }

    /// Like [`Fixture::raw_bytes`]; on PostgreSQL, of these tables (each must have rows). On
    /// SQLite every file of the database is read, whatever the tables.
    pub async fn raw_bytes_of(&self, tables: &[&str]) -> Vec<u8> {
        match &self.database {
            Database::Sqlite(dir) => {
                self.store.close().await;
                let mut bytes = Vec::new();
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
                }
                assert!(
                    bytes.len() > 4096,
                    "the database files are where we think they are"
                );
                bytes
            }
            Database::Postgres(database) => {
                let pool = sqlx::PgPool::connect(database.url()).await.unwrap();
                let mut bytes = Vec::new();
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT t::text FROM {table} t"
                    )))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                    assert!(!rows.is_empty(), "{table} has rows");
                    for row in rows {
                        bytes.extend(row.into_bytes());
                    }
                }
                pool.close().await;
                bytes
            }
        }
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Fixture::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(fixture) = super::Fixture::postgres().await {
                    super::$name(fixture).await;
                }
            }
        }
    )*};
}

pub(crate) use on_both_backends;

pub async fn new_contract(store: &Store, name: &str) -> CustomerId {
    store
        .create_contract(name, "standard")
        .await
        .unwrap()
        .customer_id
}

/// A message of one contract, accepted at `at` (ms) on `node-a`.
pub fn accepted(customer: &CustomerId, at: i64, from: &str, to: &[&str]) -> AcceptedMessage {
    AcceptedMessage {
        id: MessageId::new(Timestamp(at)),
        customer_id: customer.clone(),
        envelope: Envelope {
            mail_from: from.to_string(),
            recipients: to.iter().map(|r| r.to_string()).collect(),
        },
        size: 1234,
        received_at: Timestamp(at),
        source_ip: "192.0.2.10".into(),
        node: "node-a".into(),
        tags: Vec::new(),
        metadata: Default::default(),
        subject: None,
    }
}

/// A database migrated only up to an earlier schema, reached without the store (which would
/// migrate it the rest of the way): for tests of what a migration does to the rows it finds.
pub enum EarlierSchema {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl EarlierSchema {
    /// Applies the backend's migrations up to and including the one numbered `through`
    /// ("0001"), from a copy of its migrations directory that holds only those.
    pub async fn create(url: &str, backend: &str, through: &str) -> EarlierSchema {
        let earlier = tempfile::tempdir().unwrap();
        let source = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(&source).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name
                .get(..through.len())
                .is_some_and(|number| number <= through)
            {
                std::fs::copy(entry.path(), earlier.path().join(&name)).unwrap();
            }
        }
        let migrator = sqlx::migrate::Migrator::new(earlier.path()).await.unwrap();
        let database = EarlierSchema::connect(url, backend).await;
        match &database {
            EarlierSchema::Sqlite(pool) => migrator.run(pool).await,
            EarlierSchema::Postgres(pool) => migrator.run(pool).await,
        }
        .unwrap();
        database
    }

    pub async fn connect(url: &str, backend: &str) -> EarlierSchema {
        if backend == "sqlite" {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
                .await
                .unwrap();
            EarlierSchema::Sqlite(pool)
        } else {
            EarlierSchema::Postgres(sqlx::PgPool::connect(url).await.unwrap())
        }
    }

    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self {
            EarlierSchema::Sqlite(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
            EarlierSchema::Postgres(pool) => sqlx::raw_sql(sql).execute(pool).await.map(drop),
        }
        .unwrap()
    }

    pub async fn close(&self) {
        match self {
            EarlierSchema::Sqlite(pool) => pool.close().await,
            EarlierSchema::Postgres(pool) => pool.close().await,
        }
    }
}
