//! The engine in memory: a real store (SQLite in a temporary directory) and spool, scripted
//! destinations behind the transport seams, and a clock moved by hand, so retries, expiry,
//! back-off, routing and shutdown are tested without a binary, a socket or a wait.
//!
//! A scripted server answers each recipient by its local part: `tempfail…` → 451,
//! `unknown` → 550 5.1.1, `full` → 552 5.2.2, anything else → 250.

use super::{Engine, EngineSettings};
use crate::classify::Refusal;
use crate::client::{EnhancedStatus, Reply, Stage};
use crate::clock::{Clock, ManualClock};
use crate::resolve::{Destination, ResolveError};
use crate::rules::Rules;
use crate::transport::{Attempt, Dispatch, Failure, Resolve, Session, SiteTarget, Transport};
use async_trait::async_trait;
use hikyaku_config::TlsPolicy;
use hikyaku_model::{
    CustomerId, Envelope, Event, EventDetails, EventKind, EventSource, MessageId, Reason,
    RecipientState, Remote, Timestamp, VerpAddress, VerpKey, VerpRecipient,
};
use hikyaku_spool::{RecordedMessage, Spool, SpoolMeta, SpooledMessage};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{
    AcceptedMessage, EventQuery, NewSuppression, SUPPRESSION_LIST_SOURCE, SealingKey,
    SoftBouncePolicy, Store, SuppressionSource,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};

const MINUTE: Duration = Duration::from_secs(60);
const NODE: &str = "node-a";
const SIMULATOR: &str = "simulator.hikyaku.invalid";

/// Static destinations: a domain → one host at one address.
struct Routes(HashMap<String, (String, SocketAddr)>);

#[async_trait]
impl Resolve for Routes {
    async fn resolve(&self, domain: &str) -> Result<Vec<Destination>, ResolveError> {
        match self.0.get(domain) {
            Some((host, addr)) => Ok(vec![Destination {
                mx_host: host.clone(),
                preference: 0,
                addrs: vec![*addr],
                dane: Default::default(),
            }]),
            None => Err(ResolveError::NoRoute {
                domain: domain.to_string(),
            }),
        }
    }
}

/// What the scripted servers saw and how they behave.
#[derive(Default)]
struct Servers {
    /// Recipients each address took, in order.
    delivered: Mutex<HashMap<SocketAddr, Vec<String>>>,
    /// Every recipient offered in a transaction (`RCPT TO`), in order, whatever the answer.
    offered: Mutex<Vec<String>>,
    /// The envelope sender (`MAIL FROM`) of every transaction, in order.
    return_paths: Mutex<Vec<String>>,
    /// Connections attempted per address.
    connects: Mutex<HashMap<SocketAddr, usize>>,
    /// Addresses that answer the next connections with `421 4.7.0` (how many).
    throttling: Mutex<HashMap<SocketAddr, usize>>,
    /// When set, every transaction waits for a permit after telling `in_transaction`.
    gate: Option<Arc<Semaphore>>,
    in_transaction: Notify,
}

impl Servers {
    fn delivered_to(&self, addr: SocketAddr) -> Vec<String> {
        self.delivered
            .lock()
            .unwrap()
            .get(&addr)
            .cloned()
            .unwrap_or_default()
    }

    fn connects_to(&self, addr: SocketAddr) -> usize {
        self.connects
            .lock()
            .unwrap()
            .get(&addr)
            .copied()
            .unwrap_or(0)
    }
}

struct ScriptedDispatcher(Arc<Servers>);

#[async_trait]
impl Dispatch for ScriptedDispatcher {
    async fn connect(
        &self,
        site: &SiteTarget,
        _policy: Option<TlsPolicy>,
    ) -> Result<Box<dyn Session>, Failure> {
        let host = &site.hosts[0];
        let addr = host.addrs[0];
        *self.0.connects.lock().unwrap().entry(addr).or_default() += 1;
        let remote = Remote {
            host: host.name.clone(),
            ip: Some(addr.ip()),
            port: Some(addr.port()),
            tls: Some(false),
        };
        if let Some(left) = self.0.throttling.lock().unwrap().get_mut(&addr)
            && *left > 0
        {
            *left -= 1;
            return Err(Failure {
                refusal: Refusal {
                    reply: reply(421, "4.7.0", "too many connections, slow down"),
                    stage: Some(Stage::Greeting),
                    local: false,
                },
                permanent: false,
                throttled: true,
                remote: Some(remote),
                reason: None,
            });
        }
        Ok(Box::new(ScriptedSession {
            servers: Arc::clone(&self.0),
            addr,
            remote,
        }))
    }
}

struct ScriptedSession {
    servers: Arc<Servers>,
    addr: SocketAddr,
    remote: Remote,
}

#[async_trait]
impl Session for ScriptedSession {
    async fn send(&mut self, mail_from: &str, recipients: &[String], _message: &[u8]) -> Attempt {
        if let Some(gate) = &self.servers.gate {
            self.servers.in_transaction.notify_one();
            gate.acquire().await.unwrap().forget();
        }
        self.servers
            .return_paths
            .lock()
            .unwrap()
            .push(mail_from.to_string());
        self.servers
            .offered
            .lock()
            .unwrap()
            .extend(recipients.iter().cloned());
        let per_recipient = recipients
            .iter()
            .map(|rcpt| {
                let local_part = rcpt.split('@').next().unwrap_or_default();
                let refused = |code, status, text| {
                    Err(Refusal {
                        reply: reply(code, status, text),
                        stage: Some(Stage::RcptTo),
                        local: false,
                    })
                };
                match local_part {
                    _ if local_part.starts_with("tempfail") => {
                        refused(451, "4.3.0", "try again later")
                    }
                    "unknown" => refused(550, "5.1.1", "user unknown"),
                    "full" => refused(552, "5.2.2", "mailbox full"),
                    _ => {
                        self.servers
                            .delivered
                            .lock()
                            .unwrap()
                            .entry(self.addr)
                            .or_default()
                            .push(rcpt.clone());
                        Ok(reply(250, "2.0.0", "queued"))
                    }
                }
            })
            .collect();
        Attempt {
            per_recipient,
            throttled: false,
            remote: self.remote.clone(),
        }
    }

    fn is_reusable(&mut self) -> bool {
        true
    }

    async fn quit(self: Box<Self>) {}
}

fn reply(code: u16, status: &str, text: &str) -> Reply {
    Reply {
        code,
        enhanced: EnhancedStatus::parse(status),
        text: text.to_string(),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// An engine on a real store and spool with scripted destinations.
struct Harness {
    engine: Option<Engine>,
    store: Store,
    spool: Spool,
    clock: Arc<ManualClock>,
    servers: Arc<Servers>,
    to_engine: mpsc::UnboundedSender<RecordedMessage>,
    customer: CustomerId,
    /// The database, for a test to take SQLite's write lock.
    url: String,
    _dir: tempfile::TempDir,
    _postgres: Option<PostgresTestDatabase>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Setup {
    backend: Backend,
    routes: Vec<(&'static str, &'static str, &'static str)>,
    lifetime: Duration,
    retry_intervals: Vec<Duration>,
    gate: Option<Arc<Semaphore>>,
    soft_bounces: SoftBouncePolicy,
    /// The platform's bounce domain.
    bounce_domain: Option<&'static str>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            backend: Backend::Sqlite,
            routes: vec![("a.test", "127.0.0.1", "127.0.0.1:3541")],
            lifetime: Duration::from_secs(3600),
            retry_intervals: vec![10 * MINUTE],
            gate: None,
            soft_bounces: SoftBouncePolicy::OFF,
            bounce_domain: None,
        }
    }
}

impl Harness {
    /// The default setup on `backend`.
    async fn on(backend: Backend) -> Option<Harness> {
        Harness::start(Setup {
            backend,
            ..Setup::default()
        })
        .await
    }

    /// `None` when the setup wants PostgreSQL and no test server is configured.
    async fn start(setup: Setup) -> Option<Harness> {
        let dir = tempfile::tempdir().unwrap();
        let postgres = match setup.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PostgresTestDatabase::create().await?),
        };
        let url = match &postgres {
            Some(database) => database.url().to_string(),
            None => format!("sqlite://{}", dir.path().join("hikyaku.db").display()),
        };
        let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
        let customer = store
            .create_contract("engine test", "standard")
            .await
            .unwrap()
            .customer_id;
        let (spool, _) = Spool::open(&dir.path().join("spool"), 1 << 30).unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        let servers = Arc::new(Servers {
            gate: setup.gate,
            ..Servers::default()
        });
        let routes = setup
            .routes
            .iter()
            .map(|(domain, host, at)| (domain.to_string(), (host.to_string(), addr(at))))
            .collect();
        let transport = Transport::with(
            Arc::new(Routes(routes)),
            Arc::new(ScriptedDispatcher(Arc::clone(&servers))),
        );
        let settings = EngineSettings {
            node: NODE.to_string(),
            lifetime: setup.lifetime,
            retry_intervals: setup.retry_intervals,
            rules: Rules::new(&[]),
            bounce_domain: setup.bounce_domain.map(str::to_string),
            verp_key: VerpKey::new([7; 32]),
            max_unrecorded_outcomes: 1000,
            soft_bounces: setup.soft_bounces,
            simulator_domain: Some(SIMULATOR.to_string()),
        };
        let (to_engine, accepted) = mpsc::unbounded_channel();
        let engine = Engine::start_with_clock(
            settings,
            store.clone(),
            spool.clone(),
            transport,
            accepted,
            Arc::clone(&clock) as Arc<dyn Clock>,
        )
        .await
        .unwrap();
        Some(Harness {
            engine: Some(engine),
            store,
            spool,
            clock,
            servers,
            to_engine,
            customer,
            url,
            _dir: dir,
            _postgres: postgres,
        })
    }

    /// Queues a message as the relay would: spool, store, then the engine.
    async fn send(&self, to: &[&str]) -> MessageId {
        let now = self.clock.now();
        let id = MessageId::new(now);
        let body = b"Subject: test\r\n\r\nhello\r\n".to_vec();
        let envelope = Envelope {
            mail_from: "app@sender.test".to_string(),
            recipients: to.iter().map(|r| r.to_string()).collect(),
        };
        let meta = SpoolMeta {
            id,
            customer_id: self.customer.clone(),
            envelope: envelope.clone(),
            received_at: now,
            source_ip: "127.0.0.9".to_string(),
            size: body.len() as u64,
            tags: Vec::new(),
            metadata: Default::default(),
        };
        let reservation = self.spool.reserve(meta.size).unwrap();
        self.spool
            .commit(reservation, &meta, body.clone())
            .await
            .unwrap();
        self.store
            .record_accepted(&[AcceptedMessage {
                id,
                customer_id: self.customer.clone(),
                envelope,
                size: meta.size,
                received_at: now,
                source_ip: meta.source_ip.clone(),
                node: NODE.to_string(),
                tags: Vec::new(),
                metadata: Default::default(),
                subject: None,
            }])
            .await
            .unwrap();
        self.to_engine
            .send(RecordedMessage {
                message: SpooledMessage {
                    meta,
                    body: body.into(),
                },
                suppressed: Vec::new(),
            })
            .unwrap();
        id
    }

    /// The message's send-log entries after `accepted`, oldest first.
    async fn attempts(&self, id: MessageId) -> Vec<Event> {
        let mut events = self
            .store
            .search_events(&EventQuery {
                message_id: Some(id),
                ..EventQuery::default()
            })
            .await
            .unwrap()
            .events;
        events.retain(|e| e.kind() != EventKind::Accepted);
        events.reverse();
        events
    }

    /// Waits (in real time, for the engine's tasks and the database) until the message has
    /// `count` attempts recorded.
    async fn wait_for_attempts(&self, id: MessageId, count: usize) -> Vec<Event> {
        for _ in 0..1000 {
            let events = self.attempts(id).await;
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{id}: {count} attempts expected, got {:#?}",
            self.attempts(id).await
        );
    }

    async fn state(&self, id: MessageId) -> RecipientState {
        self.store
            .queued_message(id)
            .await
            .unwrap()
            .unwrap()
            .recipients[0]
            .state
    }

    async fn shutdown(&mut self) {
        let engine = self.engine.take().unwrap();
        engine.shutdown(Duration::from_secs(30)).await;
    }
}

/// Runs a test body on SQLite and on PostgreSQL (when `TEST_DATABASE_URL` names a server).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    two_servers_on_one_host_are_two_destinations,
    a_temporary_failure_is_retried_after_its_interval_until_the_message_expires,
    a_user_unknown_bounces_hard_at_once,
    a_throttling_destination_gets_no_connection_until_its_back_off_ends,
    a_domain_without_a_route_bounces_as_our_refusal,
    an_unreadable_message_is_bounced_as_our_refusal_not_the_servers,
    an_address_listed_while_its_message_waits_is_not_sent,
    soft_bounces_at_delivery_count_as_the_error_servers_do,
    return_paths_move_to_the_contracts_bounce_domain_within_the_refresh_time,
    the_mailbox_simulator_answers_by_local_part_without_a_connection,
    the_simulators_defer_mailbox_is_retried_then_delivered,
);

/// Lets the engine's tasks run what the last change made ready.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}

async fn two_servers_on_one_host_are_two_destinations(backend: Backend) {
    let Some(mut h) = Harness::start(Setup {
        backend,
        routes: vec![
            ("a.test", "127.0.0.1", "127.0.0.1:3541"),
            ("other.test", "127.0.0.1", "127.0.0.1:3542"),
        ],
        ..Setup::default()
    })
    .await
    else {
        return;
    };
    let first = h.send(&["ok@a.test"]).await;
    h.wait_for_attempts(first, 1).await;
    // The connection to :3541 stays open for more work (the clock stands still, so it never
    // idles out): it must not take other.test's mail.
    let second = h.send(&["ok@other.test"]).await;
    let events = h.wait_for_attempts(second, 1).await;
    assert_eq!(
        h.servers.delivered_to(addr("127.0.0.1:3541")),
        ["ok@a.test"]
    );
    assert_eq!(
        h.servers.delivered_to(addr("127.0.0.1:3542")),
        ["ok@other.test"]
    );
    let details = &events[0].details;
    assert_eq!(events[0].kind(), EventKind::Delivered);
    assert_eq!(
        (
            details
                .exchange()
                .and_then(|x| x.remote.as_ref())
                .map(|r| r.host.as_str()),
            details
                .exchange()
                .and_then(|x| x.remote.as_ref())
                .and_then(|r| r.port)
        ),
        (Some("127.0.0.1"), Some(3542))
    );
    assert_eq!(details.source().map(EventSource::as_str), Some("smtp"));
    h.shutdown().await;
}

async fn return_paths_move_to_the_contracts_bounce_domain_within_the_refresh_time(
    backend: Backend,
) {
    let Some(mut h) = Harness::start(Setup {
        backend,
        bounce_domain: Some("bounce.platform.test"),
        ..Setup::default()
    })
    .await
    else {
        return;
    };
    let key = VerpKey::new([7; 32]);
    // Sends one message and returns the return path it went out with, checking that it is a
    // genuine VERP address of that message.
    async fn return_path_of_next(h: &Harness, key: &VerpKey) -> String {
        let id = h.send(&["ok@a.test"]).await;
        h.wait_for_attempts(id, 1).await;
        let path = h
            .servers
            .return_paths
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(
            key.decode(&path),
            Some(VerpAddress {
                message: id,
                recipient: VerpRecipient::Index(0)
            }),
            "{path}"
        );
        path
    }
    let path = return_path_of_next(&h, &key).await;
    assert!(path.ends_with("@bounce.platform.test"), "{path}");

    h.store
        .set_bounce_domain(&h.customer, "Bounce.Customer.Example")
        .await
        .unwrap();
    let path = return_path_of_next(&h, &key).await;
    assert!(
        path.ends_with("@bounce.platform.test"),
        "read once a minute, not per message: {path}"
    );
    h.clock.advance(Duration::from_secs(61));
    let path = return_path_of_next(&h, &key).await;
    assert!(path.ends_with("@bounce.customer.example"), "{path}");

    // Another contract's messages keep the platform's domain.
    let other = h
        .store
        .create_contract("other", "standard")
        .await
        .unwrap()
        .customer_id;
    let mine = std::mem::replace(&mut h.customer, other);
    let path = return_path_of_next(&h, &key).await;
    assert!(path.ends_with("@bounce.platform.test"), "{path}");
    h.customer = mine;

    h.store.clear_bounce_domain(&h.customer).await.unwrap();
    h.clock.advance(Duration::from_secs(61));
    let path = return_path_of_next(&h, &key).await;
    assert!(path.ends_with("@bounce.platform.test"), "{path}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_graceful_stop_records_the_outcome_of_the_transaction_in_flight() {
    let gate = Arc::new(Semaphore::new(0));
    let mut h = Harness::start(Setup {
        gate: Some(Arc::clone(&gate)),
        ..Setup::default()
    })
    .await
    .expect("SQLite is always there");
    let id = h.send(&["ok@a.test"]).await;
    h.servers.in_transaction.notified().await;
    // The database is busy (another node's write, say) while the stop begins: the outcome
    // cannot be committed at once.
    let other_writer = sqlx::SqlitePool::connect(&h.url).await.unwrap();
    let mut lock = other_writer.acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let engine = h.engine.take().unwrap();
    let stopping = tokio::spawn(engine.shutdown(Duration::from_secs(30)));
    settle().await;
    // The server answers only once the stop has begun.
    gate.add_permits(1);
    settle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("COMMIT").execute(&mut *lock).await.unwrap();
    stopping.await.unwrap();
    assert_eq!(
        h.servers.delivered_to(addr("127.0.0.1:3541")),
        ["ok@a.test"]
    );
    assert_eq!(
        h.state(id).await,
        RecipientState::Delivered,
        "the delivery made during the stop is recorded, so it is not sent again"
    );
}

async fn a_temporary_failure_is_retried_after_its_interval_until_the_message_expires(
    backend: Backend,
) {
    let Some(h) = Harness::start(Setup {
        backend,
        lifetime: 25 * MINUTE,
        retry_intervals: vec![10 * MINUTE],
        ..Setup::default()
    })
    .await
    else {
        return;
    };
    let id = h.send(&["tempfail@a.test"]).await;
    let events = h.wait_for_attempts(id, 1).await;
    assert_eq!(events[0].kind(), EventKind::Deferred);
    assert_eq!(
        events[0].details.exchange().and_then(|x| x.attempt),
        Some(1)
    );
    // Nothing happens before the interval is over…
    h.clock.advance(8 * MINUTE);
    settle().await;
    assert_eq!(h.attempts(id).await.len(), 1);
    // …and the retry comes once it is (±10 %).
    h.clock.advance(4 * MINUTE);
    let events = h.wait_for_attempts(id, 2).await;
    assert_eq!(events[1].kind(), EventKind::Deferred);
    assert_eq!(
        events[1].details.exchange().and_then(|x| x.attempt),
        Some(2)
    );
    // The last retry is at the expiry, and its 4xx ends the message as expired.
    h.clock.advance(15 * MINUTE);
    let events = h.wait_for_attempts(id, 3).await;
    assert_eq!(events[2].kind(), EventKind::Expired);
    assert_eq!(
        events[2].details.reason().map(Reason::as_str),
        Some("expired")
    );
    assert_eq!(
        events[2].details.exchange().and_then(|x| x.code),
        Some(451),
        "a fresh answer"
    );
    assert_eq!(h.state(id).await, RecipientState::Expired);
}

async fn a_user_unknown_bounces_hard_at_once(backend: Backend) {
    let Some(h) = Harness::on(backend).await else {
        return;
    };
    let id = h.send(&["unknown@a.test"]).await;
    let events = h.wait_for_attempts(id, 1).await;
    assert_eq!(events[0].kind(), EventKind::Bounced);
    assert_eq!(
        events[0].details.reason().map(Reason::as_str),
        Some("userunknown")
    );
    assert_eq!(events[0].details.hard(), Some(true));
    assert_eq!(
        events[0].details.source().map(EventSource::as_str),
        Some("smtp")
    );
    assert_eq!(h.state(id).await, RecipientState::Bounced);
}

async fn a_throttling_destination_gets_no_connection_until_its_back_off_ends(backend: Backend) {
    let Some(h) = Harness::on(backend).await else {
        return;
    };
    let server = addr("127.0.0.1:3541");
    h.servers.throttling.lock().unwrap().insert(server, 1);
    let first = h.send(&["ok@a.test"]).await;
    let events = h.wait_for_attempts(first, 1).await;
    assert_eq!(events[0].kind(), EventKind::Deferred);
    assert_eq!(events[0].details.exchange().and_then(|x| x.code), Some(421));
    assert_eq!(
        events[0].details.source().map(EventSource::as_str),
        Some("smtp")
    );
    // New mail for the destination waits out the pause (60 s by default) without connecting.
    let second = h.send(&["ok@a.test"]).await;
    settle().await;
    h.clock.advance(Duration::from_secs(30));
    settle().await;
    assert_eq!(h.servers.connects_to(server), 1);
    assert!(h.attempts(second).await.is_empty());
    h.clock.advance(Duration::from_secs(31));
    let events = h.wait_for_attempts(second, 1).await;
    assert_eq!(events[0].kind(), EventKind::Delivered);
    assert_eq!(h.servers.connects_to(server), 2);
}

async fn a_domain_without_a_route_bounces_as_our_refusal(backend: Backend) {
    let Some(h) = Harness::on(backend).await else {
        return;
    };
    let id = h.send(&["ok@nowhere.test"]).await;
    let events = h.wait_for_attempts(id, 1).await;
    let details = &events[0].details;
    assert_eq!(events[0].kind(), EventKind::Bounced);
    assert_eq!(details.source().map(EventSource::as_str), Some("local"));
    assert_eq!(details.exchange().and_then(|x| x.remote.as_ref()), None);
    assert_eq!(details.reason().map(Reason::as_str), Some("hostunknown"));
}

async fn an_unreadable_message_is_bounced_as_our_refusal_not_the_servers(backend: Backend) {
    let Some(h) = Harness::on(backend).await else {
        return;
    };
    let id = h.send(&["tempfail@a.test"]).await;
    h.wait_for_attempts(id, 1).await;
    // The retry reads the spool (the bytes left memory after the first attempt).
    h.spool.remove(id).await.unwrap();
    h.clock.advance(12 * MINUTE);
    let events = h.wait_for_attempts(id, 2).await;
    let details = &events[1].details;
    assert_eq!(events[1].kind(), EventKind::Bounced);
    assert_eq!(details.source().map(EventSource::as_str), Some("local"));
    assert_eq!(
        details.exchange().and_then(|x| x.remote.as_ref()),
        None,
        "no remote server said it"
    );
    assert_eq!(details.exchange().and_then(|x| x.code), Some(554));
}

/// Lists `address` on `customer`'s suppression list by hand.
async fn list(store: &Store, customer: &CustomerId, address: &str, note: &str) {
    store
        .add_suppressions(
            customer,
            &[NewSuppression {
                address,
                source: SuppressionSource::Manual,
                reason: Some(note),
                message_id: None,
            }],
            Timestamp(1),
        )
        .await
        .unwrap();
}

async fn an_address_listed_while_its_message_waits_is_not_sent(backend: Backend) {
    let Some(h) = Harness::on(backend).await else {
        return;
    };
    let id = h.send(&["tempfail@a.test", "tempfail2@a.test"]).await;
    h.wait_for_attempts(id, 2).await;
    // Listed while deferred, in another case; another contract's entry for the second
    // recipient is not this contract's.
    list(&h.store, &h.customer, "TEMPFAIL@A.test", "asked to stop").await;
    let other = h
        .store
        .create_contract("other", "standard")
        .await
        .unwrap()
        .customer_id;
    list(&h.store, &other, "tempfail2@a.test", "not ours").await;
    h.servers.offered.lock().unwrap().clear();
    h.clock.advance(12 * MINUTE);
    let events = h.wait_for_attempts(id, 4).await;
    assert_eq!(
        *h.servers.offered.lock().unwrap(),
        ["tempfail2@a.test"],
        "the listed address is not offered to the server"
    );
    let suppressed: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind() == EventKind::Suppressed)
        .collect();
    let [suppressed] = suppressed.as_slice() else {
        panic!("one suppressed event expected: {events:#?}")
    };
    assert_eq!(suppressed.recipient, "tempfail@a.test");
    assert_eq!(
        suppressed.details,
        EventDetails::Suppressed {
            source: SUPPRESSION_LIST_SOURCE,
            note: Some("asked to stop".to_string())
        }
    );
    let queued = h.store.queued_message(id).await.unwrap().unwrap();
    assert_eq!(queued.recipients[0].state, RecipientState::Suppressed);
    assert_eq!(queued.recipients[0].attempts, 1, "no attempt was made");
    assert!(
        queued.recipients[0]
            .last_reply
            .as_deref()
            .is_some_and(|r| r.starts_with("451")),
        "the last reply stays the server's: {queued:?}"
    );
    assert_eq!(queued.recipients[1].state, RecipientState::Deferred);
    assert!(h.spool.read(id).await.is_ok(), "a recipient still waits");

    // Once the last waiting recipient is listed too, the message is done and leaves the spool.
    list(&h.store, &h.customer, "tempfail2@a.test", "asked to stop").await;
    h.clock.advance(12 * MINUTE);
    h.wait_for_attempts(id, 5).await;
    let queued = h.store.queued_message(id).await.unwrap().unwrap();
    assert!(
        queued
            .recipients
            .iter()
            .all(|r| r.state == RecipientState::Suppressed)
    );
    for _ in 0..1000 {
        if h.spool.read(id).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the finished message is still in the spool");
}

async fn soft_bounces_at_delivery_count_as_the_error_servers_do(backend: Backend) {
    let Some(h) = Harness::start(Setup {
        backend,
        soft_bounces: SoftBouncePolicy {
            limit: 2,
            window: Duration::from_secs(86_400),
        },
        ..Setup::default()
    })
    .await
    else {
        return;
    };
    let first = h.send(&["full@a.test"]).await;
    let events = h.wait_for_attempts(first, 1).await;
    assert_eq!(events[0].kind(), EventKind::Bounced);
    assert_eq!(events[0].details.hard(), Some(false));
    assert_eq!(
        h.store
            .suppression(&h.customer, "full@a.test")
            .await
            .unwrap(),
        None,
        "one soft bounce is below the limit"
    );
    let second = h.send(&["full@a.test"]).await;
    h.wait_for_attempts(second, 1).await;
    let entry = h
        .store
        .suppression(&h.customer, "full@a.test")
        .await
        .unwrap()
        .expect("the second soft bounce within the window lists the address");
    assert_eq!(entry.source, SuppressionSource::SoftBounces);
    assert_eq!(entry.message_id, Some(second));
}

async fn the_mailbox_simulator_answers_by_local_part_without_a_connection(backend: Backend) {
    let Some(mut h) = Harness::on(backend).await else {
        return;
    };
    let at = |local: &str| format!("{local}@{SIMULATOR}");
    let mailboxes = [
        "delivered",
        "bounce+run1",
        "mailboxfull",
        "complaint",
        "ooto",
        "suppressed",
        "whoever",
    ];
    let recipients: Vec<String> = mailboxes.iter().map(|l| at(l)).collect();
    let refs: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let id = h.send(&refs).await;
    // One event per recipient, and the complaint after complaint@'s delivery.
    let events = h.wait_for_attempts(id, mailboxes.len() + 1).await;
    let of = |address: &str| -> Vec<&Event> {
        events.iter().filter(|e| e.recipient == address).collect()
    };
    let delivered = of(&at("delivered"));
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].kind(), EventKind::Delivered);
    let exchange = delivered[0].details.exchange().unwrap();
    assert_eq!(exchange.code, Some(250));
    assert_eq!(
        exchange.remote.as_ref().map(|r| r.host.as_str()),
        Some(SIMULATOR)
    );

    let bounce = of(&at("bounce+run1"));
    assert_eq!(bounce[0].kind(), EventKind::Bounced);
    assert_eq!(bounce[0].details.reason(), Some(Reason::UserUnknown));
    assert_eq!(bounce[0].details.hard(), Some(true));
    let full = of(&at("mailboxfull"));
    assert_eq!(full[0].kind(), EventKind::Bounced);
    assert_eq!(full[0].details.reason(), Some(Reason::MailboxFull));
    assert_eq!(full[0].details.hard(), Some(false));
    let complaint = of(&at("complaint"));
    assert_eq!(
        complaint.iter().map(|e| e.kind()).collect::<Vec<_>>(),
        [EventKind::Delivered, EventKind::Complaint]
    );
    assert_eq!(
        complaint[1].details.source().map(EventSource::as_str),
        Some("report")
    );
    assert_eq!(of(&at("ooto"))[0].kind(), EventKind::Delivered);
    assert_eq!(of(&at("ooto")).len(), 1, "an auto-reply is no event");
    assert_eq!(of(&at("suppressed"))[0].kind(), EventKind::Bounced);
    assert_eq!(of(&at("whoever"))[0].kind(), EventKind::Delivered);

    // Only suppressed@ went on the list; the next message to it is suppressed, bounce@ bounces
    // again.
    for (local, listed) in [
        ("suppressed", true),
        ("bounce+run1", false),
        ("complaint", false),
    ] {
        let entry = h.store.suppression(&h.customer, &at(local)).await.unwrap();
        assert_eq!(entry.is_some(), listed, "{local}");
    }
    let again = h.send(&[&at("suppressed"), &at("bounce+run1")]).await;
    let events = h.wait_for_attempts(again, 2).await;
    let kinds: HashMap<String, EventKind> = events
        .iter()
        .map(|e| (e.recipient.clone(), e.kind()))
        .collect();
    assert_eq!(kinds[&at("suppressed")], EventKind::Suppressed);
    assert_eq!(kinds[&at("bounce+run1")], EventKind::Bounced);

    assert!(
        h.servers.connects.lock().unwrap().is_empty(),
        "the simulator never connects"
    );
    h.shutdown().await;
}

async fn the_simulators_defer_mailbox_is_retried_then_delivered(backend: Backend) {
    let Some(mut h) = Harness::start(Setup {
        backend,
        retry_intervals: vec![MINUTE],
        ..Setup::default()
    })
    .await
    else {
        return;
    };
    let id = h.send(&[&format!("defer+x@{SIMULATOR}")]).await;
    for attempt in 1..=crate::simulator::DEFERRALS as usize {
        let events = h.wait_for_attempts(id, attempt).await;
        assert_eq!(events[attempt - 1].kind(), EventKind::Deferred);
        h.clock.advance(2 * MINUTE);
    }
    let events = h
        .wait_for_attempts(id, crate::simulator::DEFERRALS as usize + 1)
        .await;
    assert_eq!(events.last().unwrap().kind(), EventKind::Delivered);
    assert_eq!(h.state(id).await, RecipientState::Delivered);

    // With a lifetime shorter than the deferrals, it expires instead.
    h.shutdown().await;
    let Some(mut h) = Harness::start(Setup {
        backend: Backend::Sqlite,
        lifetime: MINUTE,
        retry_intervals: vec![MINUTE],
        ..Setup::default()
    })
    .await
    else {
        return;
    };
    let id = h.send(&[&format!("defer@{SIMULATOR}")]).await;
    h.wait_for_attempts(id, 1).await;
    h.clock.advance(2 * MINUTE);
    let events = h.wait_for_attempts(id, 2).await;
    assert_eq!(events[1].kind(), EventKind::Expired);
    h.shutdown().await;
}
