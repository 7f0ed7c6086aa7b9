//! A real HTTP listener on 127.0.0.1 serving the whole router over a real store (SQLite in a
//! temp directory, or a fresh PostgreSQL database), keys in memory, and a plain HTTP/1.1 client
//! over TCP, so tests see exactly the bytes a client would.

#![allow(dead_code)]

use hikyaku_api::v1::ApiState;
use hikyaku_api::v1::access::{Authenticator, KeyTable};
use hikyaku_model::{ApiCaller, CustomerId, Role};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{SealingKey, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Each named `async fn(Backend)` of the calling test file as two tests, `sqlite::NAME` and
/// `postgres::NAME` (the latter a no-op where `TEST_DATABASE_URL` is unset).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })+
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_both_backends;

pub enum Backend {
    Sqlite,
    Postgres,
}

/// The test's keys in memory, then the real key store (`hk_…`, `hko_…`).
struct TableThenStore {
    table: Arc<KeyTable>,
    store: Store,
}

#[async_trait::async_trait]
impl Authenticator for TableThenStore {
    async fn authenticate(
        &self,
        presented: &str,
    ) -> Result<Option<ApiCaller>, hikyaku_store::StoreError> {
        match self.table.authenticate(presented).await? {
            Some(caller) => Ok(Some(caller)),
            None => self.store.authenticate(presented).await,
        }
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    /// The spool the API's sends are written to (nothing delivers from it).
    pub spool: hikyaku_spool::Spool,
    pub keys: Arc<KeyTable>,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresTestDatabase>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// `None` when PostgreSQL is asked for and `TEST_DATABASE_URL` is unset (outside CI).
    pub async fn start(backend: Backend, config_toml: &str) -> Option<Server> {
        let dir = tempfile::tempdir().unwrap();
        let (url, postgres) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("hikyaku.db").display()),
                None,
            ),
            Backend::Postgres => {
                let database = PostgresTestDatabase::create().await?;
                (database.url().to_string(), Some(database))
            }
        };
        let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
        let config = hikyaku_config::Config::from_toml(config_toml).unwrap();
        let keys = Arc::new(KeyTable::default());
        let (spool, _) = hikyaku_spool::Spool::open(&dir.path().join("spool"), 1 << 30).unwrap();
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let (_, draining) = tokio::sync::watch::channel(false);
        // Sending goes into a real intake over the spool; nothing delivers it.
        let intake =
            hikyaku_relay::Intake::start(spool.clone(), store.clone(), "test-node".into(), None);
        let sending = hikyaku_api::v1::send::Sending {
            composer: hikyaku_compose::Composer::new("api.hikyaku.test", 1 << 20),
            submitter: hikyaku_relay::Submitter::new(
                store.clone(),
                intake,
                hikyaku_relay::SubmitPolicy {
                    hostname: "api.hikyaku.test".into(),
                    max_message_size: 1 << 20,
                    max_recipients: 100,
                },
                hikyaku_relay::UnsubscribeStage::new(store.clone(), None),
            ),
        };
        let api = ApiState::new(
            store.clone(),
            Arc::new(TableThenStore {
                table: keys.clone(),
                store: store.clone(),
            }),
            &config,
        )
        .with_sending(sending);
        let app = hikyaku_api::router(
            hikyaku_api::HttpState {
                store: store.clone(),
                spool: spool.clone(),
                metrics,
                draining,
            },
            api,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Some(Server {
            addr,
            store,
            spool,
            keys,
            _dir: dir,
            _postgres: postgres,
            task,
        })
    }

    /// A contract and a key for it with `role`; returns the contract's ID and the key.
    pub async fn contract_with_key(
        &self,
        name: &str,
        role: Role,
        see: bool,
    ) -> (CustomerId, String) {
        let contract = self.store.create_contract(name, "standard").await.unwrap();
        let key = self.key_for(&contract.customer_id, role, see);
        (contract.customer_id, key)
    }

    pub fn key_for(&self, customer_id: &CustomerId, role: Role, see_addresses: bool) -> String {
        let key = format!("hk_test_{:032x}", rand_u128());
        self.keys.insert(
            &key,
            ApiCaller::Contract {
                customer_id: customer_id.clone(),
                key_id: key.clone(),
                role,
                see_addresses,
            },
        );
        key
    }

    pub fn operator_key(&self) -> String {
        let key = format!("hk_op_{:032x}", rand_u128());
        self.keys.insert(
            &key,
            ApiCaller::Operator {
                key_id: key.clone(),
            },
        );
        key
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.call("GET", path, Some(key), None, b"").await
    }

    pub async fn post_json(&self, path: &str, key: &str, body: &serde_json::Value) -> Reply {
        self.send_json("POST", path, key, body).await
    }

    pub async fn patch_json(&self, path: &str, key: &str, body: &serde_json::Value) -> Reply {
        self.send_json("PATCH", path, key, body).await
    }

    async fn send_json(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> Reply {
        self.call(
            method,
            path,
            Some(key),
            Some("application/json"),
            body.to_string().as_bytes(),
        )
        .await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        self.call("DELETE", path, Some(key), None, b"").await
    }

    /// A JSON POST whose body is sent in chunks of 100 bytes, with no declared length.
    pub async fn call_chunked(&self, path: &str, key: &str, body: &[u8]) -> Reply {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Authorization: Bearer {key}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            self.addr
        )
        .into_bytes();
        for chunk in body.chunks(100) {
            request.extend(format!("{:x}\r\n", chunk.len()).bytes());
            request.extend_from_slice(chunk);
            request.extend(b"\r\n");
        }
        request.extend(b"0\r\n\r\n");
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let _ = stream.write_all(&request).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        Reply::parse(&raw)
    }

    /// One request on its own connection with these header fields, answered in full.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        Reply::parse(&raw)
    }

    /// One request on its own connection, answered in full.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(key) = key {
            head.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // A server may refuse a large body before reading it all, and close.
        let _ = stream.write_all(body).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        Reply::parse(&raw)
    }
}

fn rand_u128() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    t ^ (u128::from(n) << 64) ^ u128::from(std::process::id())
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
        let head = std::str::from_utf8(&raw[..split]).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// Asserts the failure shape and returns its code.
    pub fn error_code(&self) -> String {
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "a failure is JSON: {} {:?} {}",
            self.status,
            self.headers,
            self.text()
        );
        let json = self.json();
        let error = &json["error"];
        assert!(error["message"].is_string(), "{json}");
        error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {json}"))
            .to_string()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
}

/// `%`-encodes a path segment.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A message of `customer` accepted at `at` (ms) from `from` to `to`, recorded through the
/// store's own writer (`record_accepted`), as the relay records it. Recipients on the
/// contract's suppression list get their `suppressed` event there.
pub async fn accept(
    store: &Store,
    customer: &CustomerId,
    at: i64,
    from: &str,
    to: &[&str],
    tags: &[&str],
) -> hikyaku_model::MessageId {
    accept_with_metadata(store, customer, at, from, to, tags, &[]).await
}

/// [`accept`] with the sender's metadata.
pub async fn accept_with_metadata(
    store: &Store,
    customer: &CustomerId,
    at: i64,
    from: &str,
    to: &[&str],
    tags: &[&str],
    metadata: &[(&str, &str)],
) -> hikyaku_model::MessageId {
    let id = hikyaku_model::MessageId::new(hikyaku_model::Timestamp(at));
    let message = hikyaku_store::AcceptedMessage {
        id,
        customer_id: customer.clone(),
        envelope: hikyaku_model::Envelope {
            mail_from: from.to_string(),
            recipients: to.iter().map(|r| r.to_string()).collect(),
        },
        size: 1234,
        received_at: hikyaku_model::Timestamp(at),
        source_ip: "192.0.2.10".into(),
        node: "node-a".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        subject: None,
    };
    store.record_accepted(&[message]).await.unwrap();
    id
}

/// The outcome of one recipient's delivery attempt, recorded through `record_outcomes`, as
/// the delivery engine records it.
pub async fn attempt(
    store: &Store,
    id: hikyaku_model::MessageId,
    recipient_index: u32,
    at: i64,
    details: hikyaku_model::EventDetails,
) {
    use hikyaku_model::EventDetails;
    use hikyaku_store::Outcome;
    let outcome = match &details {
        EventDetails::Delivered { .. } => Outcome::Delivered,
        EventDetails::Deferred { .. } => Outcome::Deferred {
            next_attempt_at: hikyaku_model::Timestamp(at + 3_600_000),
        },
        EventDetails::Bounced { .. } => Outcome::Bounced,
        EventDetails::Expired { .. } => Outcome::Expired,
        other => panic!("not an attempt's outcome: {other:?}"),
    };
    store
        .record_outcomes(
            &[hikyaku_store::RecipientOutcome {
                message_id: id,
                recipient_index,
                at: hikyaku_model::Timestamp(at),
                outcome,
                details,
                suppression: hikyaku_store::SuppressionEffect::Nothing,
            }],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
}

/// A remote server's answer to an attempt.
pub fn reply(code: u16, text: &str) -> hikyaku_model::Exchange {
    hikyaku_model::Exchange {
        code: Some(code),
        text: Some(text.to_string()),
        ..hikyaku_model::Exchange::by(hikyaku_model::EventSource::Smtp)
    }
}
