//! A relay node's parts on fresh storage, shared by the relay's in-memory tests: the database
//! (SQLite in a temporary directory, or PostgreSQL), the spool and the intake between them.

use hikyaku_relay::Intake;
use hikyaku_spool::Spool;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{SealingKey, Store};

pub struct Relay {
    pub store: Store,
    pub spool: Spool,
    pub intake: Intake,
    _data: tempfile::TempDir,
    _postgres: Option<PostgresTestDatabase>,
}

impl Relay {
    pub async fn sqlite() -> Relay {
        let data = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", data.path().join("hikyaku.db").display());
        Relay::open(&url, data, None).await
    }

    pub async fn postgres() -> Option<Relay> {
        let database = PostgresTestDatabase::create().await?;
        let url = database.url().to_string();
        Some(Relay::open(&url, tempfile::tempdir().unwrap(), Some(database)).await)
    }

    async fn open(
        url: &str,
        data: tempfile::TempDir,
        postgres: Option<PostgresTestDatabase>,
    ) -> Relay {
        let store = Store::connect(url, SealingKey::generate()).await.unwrap();
        let (spool, _) = Spool::open(&data.path().join("spool"), 1 << 30).unwrap();
        let intake = Intake::start(spool.clone(), store.clone(), "node-a".into(), None);
        Relay {
            store,
            spool,
            intake,
            _data: data,
            _postgres: postgres,
        }
    }
}
