//! What the poster tests share: a scripted HTTP endpoint on 127.0.0.1, stores on SQLite and
//! PostgreSQL, and quick settings (milliseconds of back-off instead of minutes).

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hikyaku_inbound_parse::InboundSettings;
use hikyaku_inbound_parse::post::Backoff;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{InboundState, SealingKey, Store};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

#[derive(Default)]
struct Script {
    /// Statuses to answer, in order; 200 once they are used up.
    answers: VecDeque<u16>,
    received: Vec<Received>,
    /// Each request is answered after this long.
    delay: Duration,
    in_flight: usize,
    max_in_flight: usize,
}

/// An HTTP endpoint on 127.0.0.1 that answers as scripted and records what it got.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    server: Arc<tokio::task::JoinHandle<()>>,
}

impl Endpoint {
    pub async fn start(answers: &[u16]) -> Endpoint {
        Self::start_with_delay(answers, Duration::ZERO).await
    }

    pub async fn start_with_delay(answers: &[u16], delay: Duration) -> Endpoint {
        let script = Arc::new(Mutex::new(Script {
            answers: answers.iter().copied().collect(),
            delay,
            ..Script::default()
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Endpoint {
            addr,
            script,
            server: Arc::new(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.script.lock().unwrap().max_in_flight
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (status, delay) = {
        let mut script = script.lock().unwrap();
        script.received.push(Received { uri, headers, body });
        script.in_flight += 1;
        script.max_in_flight = script.max_in_flight.max(script.in_flight);
        (script.answers.pop_front().unwrap_or(200), script.delay)
    };
    tokio::time::sleep(delay).await;
    script.lock().unwrap().in_flight -= 1;
    StatusCode::from_u16(status).unwrap()
}

/// A database that lives as long as the value, with a store on it.
pub struct Database {
    pub url: String,
    pub key: [u8; 32],
    _sqlite: Option<tempfile::TempDir>,
    _postgres: Option<PostgresTestDatabase>,
}

impl Database {
    pub async fn sqlite() -> Database {
        let dir = tempfile::tempdir().unwrap();
        Database {
            url: format!("sqlite://{}", dir.path().join("hikyaku.db").display()),
            key: rand_key(),
            _sqlite: Some(dir),
            _postgres: None,
        }
    }

    pub async fn postgres() -> Option<Database> {
        let database = PostgresTestDatabase::create().await?;
        Some(Database {
            url: database.url().to_string(),
            key: rand_key(),
            _sqlite: None,
            _postgres: Some(database),
        })
    }

    /// A new connection to the database, as a restarted process would open it.
    pub async fn open(&self) -> Store {
        Store::connect(&self.url, SealingKey::from_bytes(self.key))
            .await
            .unwrap()
    }
}

fn rand_key() -> [u8; 32] {
    rand::random()
}

/// Runs `$body(database)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::support::Database::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(database) = super::support::Database::postgres().await {
                    super::$name(database).await;
                }
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// Retries after tens of milliseconds, so a test sees several attempts at once.
pub fn quick_settings() -> InboundSettings {
    InboundSettings {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        poll_interval: Duration::from_millis(50),
        request_timeout: Duration::from_secs(10),
        ..InboundSettings::default()
    }
}

/// Waits until every post of the store is in `state`. The limit is a hang guard, not a speed
/// check: the box running the tests may be loaded.
pub async fn wait_for_state(store: &Store, count: usize, state: InboundState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let posts = store.inbound_posts(None).await.unwrap();
        if posts.len() == count && posts.iter().all(|p| p.state == state) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "posts did not all become {state}: {posts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A poster running on its own task until the returned sender is dropped or sent to.
pub fn run_poster(
    inbound: &hikyaku_inbound_parse::Inbound,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let inbound = inbound.clone();
    let task = tokio::spawn(async move {
        inbound
            .run(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (stop, task)
}
