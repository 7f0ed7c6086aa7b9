//! The HTTP listener as `hikyaku serve` builds it (health, the REST API under /api/v1 and the
//! console at /) over a real store (SQLite in a temp directory, or a fresh PostgreSQL
//! database), on 127.0.0.1, and a browser-like client over TCP that keeps cookies and reads
//! the CSRF token out of each page, so tests see exactly the bytes a browser would.

#![allow(dead_code)]

use hikyaku_api::v1::ApiState;
use hikyaku_model::{CustomerId, Role, Timestamp};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{NewConsoleUser, SealingKey, Store};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresTestDatabase>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Both stores, for the tests that run their body on each in turn.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

pub const PASSWORD: &str = "correct horse battery";

impl Server {
    /// `None` when PostgreSQL is asked for and `TEST_DATABASE_URL` is unset (outside CI).
    pub async fn start(backend: Backend) -> Option<Server> {
        Self::start_with(backend, "[api]\nburst = 100000\nrequests_per_second = 100000\n[plans.standard]\nmonthly_volume = 1000\n").await
    }

    pub async fn start_with(backend: Backend, config_toml: &str) -> Option<Server> {
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
        let (spool, _) = hikyaku_spool::Spool::open(&dir.path().join("spool"), 1 << 30).unwrap();
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let (_, draining) = tokio::sync::watch::channel(false);
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
        let api =
            ApiState::new(store.clone(), Arc::new(store.clone()), &config).with_sending(sending);
        // Wired as `hikyaku serve` wires it.
        let console =
            hikyaku_console::ConsoleState::new(store.clone(), hikyaku_api::v1::router(api.clone()))
                .with_upload_limit(config.api.max_body_bytes.0);
        let app = hikyaku_api::router(
            hikyaku_api::HttpState {
                store: store.clone(),
                spool,
                metrics,
                draining,
            },
            api,
        )
        .merge(hikyaku_console::router(console));
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
            _dir: dir,
            _postgres: postgres,
            task,
        })
    }

    /// A contract and a console user of it with `role`.
    pub async fn contract_with_user(
        &self,
        name: &str,
        email: &str,
        role: Role,
        see_addresses: bool,
    ) -> (CustomerId, String) {
        let contract = self.store.create_contract(name, "standard").await.unwrap();
        let user = self
            .user(&contract.customer_id, email, role, see_addresses)
            .await;
        (contract.customer_id, user)
    }

    /// A console user of `customer`; returns the user's ID.
    pub async fn user(
        &self,
        customer: &CustomerId,
        email: &str,
        role: Role,
        see_addresses: bool,
    ) -> String {
        self.store
            .create_console_user(
                customer,
                &NewConsoleUser {
                    email,
                    password: PASSWORD,
                    role,
                    see_addresses,
                },
            )
            .await
            .unwrap()
            .user_id
    }

    /// Contract `a` with the user taro@a.example of `role`, and contract `b` whose admin is
    /// ken@b.example: the tenant whose pages a test reads, and the one whose data must never
    /// show in them.
    pub async fn two_contracts(&self, role: Role, see_addresses: bool) -> (CustomerId, CustomerId) {
        let (a, _) = self
            .contract_with_user("a", "taro@a.example", role, see_addresses)
            .await;
        let (b, _) = self
            .contract_with_user("b", "ken@b.example", Role::Admin, true)
            .await;
        (a, b)
    }

    /// A browser logged in as `email` of `customer`, on the dashboard.
    pub async fn logged_in(&self, customer: &CustomerId, email: &str) -> Browser {
        let mut browser = self.browser();
        let reply = browser.log_in(customer, email).await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(reply.header("location"), Some("/"));
        browser
    }

    /// A browser logged in to the operator area as a new operator user `email`.
    pub async fn operator_logged_in(&self, email: &str) -> Browser {
        self.store
            .create_operator_user(email, PASSWORD)
            .await
            .unwrap();
        let mut browser = self.browser();
        let page = browser.get("/operator/login").await;
        assert_eq!(page.status, 200, "{}", page.text());
        let csrf = page.csrf();
        let reply = browser
            .post(
                "/operator/login",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(reply.header("location"), Some("/operator"));
        browser
    }

    pub fn browser(&self) -> Browser {
        Browser {
            addr: self.addr,
            cookies: BTreeMap::new(),
            accept_language: None,
        }
    }
}

/// A message of `customer` accepted at `at` from `from` to `to`, through the store's own
/// writer, as the relay records it.
pub async fn accept(
    store: &Store,
    customer: &CustomerId,
    at: i64,
    from: &str,
    to: &[&str],
    tags: &[&str],
) -> hikyaku_model::MessageId {
    let id = hikyaku_model::MessageId::new(Timestamp(at));
    let message = hikyaku_store::AcceptedMessage {
        id,
        customer_id: customer.clone(),
        envelope: hikyaku_model::Envelope {
            mail_from: from.to_string(),
            recipients: to.iter().map(|r| r.to_string()).collect(),
        },
        size: 1234,
        received_at: Timestamp(at),
        source_ip: "192.0.2.10".into(),
        node: "node-a".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        metadata: Default::default(),
        subject: None,
    };
    store.record_accepted(&[message]).await.unwrap();
    id
}

/// The first recipient of `id` delivered at `at` by `host` over TLS.
pub async fn delivered(store: &Store, id: hikyaku_model::MessageId, at: i64, host: &str) {
    let exchange = hikyaku_model::Exchange {
        remote: Some(hikyaku_model::Remote {
            host: host.to_string(),
            ip: None,
            port: Some(25),
            tls: Some(true),
        }),
        code: Some(250),
        text: Some("2.0.0 queued as 4XyZ".into()),
        ..hikyaku_model::Exchange::by(hikyaku_model::EventSource::Smtp)
    };
    store
        .record_outcomes(
            &[hikyaku_store::RecipientOutcome {
                message_id: id,
                recipient_index: 0,
                at: Timestamp(at),
                outcome: hikyaku_store::Outcome::Delivered,
                details: hikyaku_model::EventDetails::Delivered { exchange },
                suppression: hikyaku_store::SuppressionEffect::Nothing,
            }],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of the first hidden `csrf` field of the page.
    pub fn csrf(&self) -> String {
        let text = self.text();
        let at = text
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in {} {text}", self.status));
        let rest = &text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// A browser: its cookies, its language.
pub struct Browser {
    pub addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
    pub accept_language: Option<String>,
}

impl Browser {
    pub async fn get(&mut self, path: &str) -> Reply {
        self.call("GET", path, &[], None).await
    }

    pub async fn get_htmx(&mut self, path: &str) -> Reply {
        self.call("GET", path, &[("HX-Request", "true")], None)
            .await
    }

    /// A form post, fields URL-encoded as a browser sends them.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.call("POST", path, &[], Some(body.into_bytes())).await
    }

    /// Logs in as `email` of `customer`: the login page, then its form.
    pub async fn log_in(&mut self, customer: &CustomerId, email: &str) -> Reply {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.text());
        let csrf = page.csrf();
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("customer_id", customer.as_str()),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await
    }

    /// A form post whose `Content-Length` claims `declared` bytes while only `body` is sent:
    /// a server refuses a body over its limit once it has read past the limit, and the
    /// client, not writing the rest into a connection nobody reads any more, gets the answer
    /// instead of a reset.
    pub async fn post_declaring(&mut self, path: &str, body: Vec<u8>, declared: usize) -> Reply {
        self.exchange("POST", path, &[], Some(body), Some(declared))
            .await
    }

    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        form: Option<Vec<u8>>,
    ) -> Reply {
        self.exchange(method, path, extra, form, None).await
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        extra: &[(&str, &str)],
        form: Option<Vec<u8>>,
        declared: Option<usize>,
    ) -> Reply {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !self.cookies.is_empty() {
            let cookies = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            head.push_str(&format!("Cookie: {cookies}\r\n"));
        }
        if let Some(lang) = &self.accept_language {
            head.push_str(&format!("Accept-Language: {lang}\r\n"));
        }
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = form.unwrap_or_default();
        if method == "POST" {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        head.push_str(&format!(
            "Content-Length: {}\r\n\r\n",
            declared.unwrap_or(body.len())
        ));
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        let reply = parse(&raw);
        for (name, value) in &reply.headers {
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (k, v) = pair.split_once('=').unwrap();
                if v.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        reply
    }
}

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

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Recipient `index` of `id` bounced at `at` for `reason` (hard), as the delivery engine
/// records a `550` answer.
pub async fn bounced(
    store: &Store,
    id: hikyaku_model::MessageId,
    index: u32,
    at: i64,
    reason: hikyaku_model::Reason,
) {
    let exchange = hikyaku_model::Exchange {
        code: Some(550),
        text: Some("5.1.1 no such user".into()),
        ..hikyaku_model::Exchange::by(hikyaku_model::EventSource::Smtp)
    };
    store
        .record_outcomes(
            &[hikyaku_store::RecipientOutcome {
                message_id: id,
                recipient_index: index,
                at: Timestamp(at),
                outcome: hikyaku_store::Outcome::Bounced,
                details: hikyaku_model::EventDetails::Bounced {
                    exchange,
                    reason,
                    hard: true,
                },
                suppression: hikyaku_store::SuppressionEffect::Nothing,
            }],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
}
