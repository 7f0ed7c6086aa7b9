//! Hostile receivers: one that never answers, one that answers byte by byte, one that
//! redirects, one that answers 10 MB, and names and addresses that lead to this machine. Each
//! attempt ends within its deadline, no endpoint gets two requests at once, and meanwhile
//! another contract's endpoint keeps getting its events. One that keeps failing is disabled,
//! with a notice for its contract's admins. Real TCP on 127.0.0.1, names from the
//! test DNS server.

use hikyaku_model::{CustomerId, Envelope, EventKind, MessageId, Timestamp};
use hikyaku_store::{AcceptedMessage, SealingKey, Store, WebhookOutcome};
use hikyaku_testkit::TestDns;
use hikyaku_webhooks::{DnsSource, HickoryResolve, Sender, WebhookSettings};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
const TEN_MB: usize = 10 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Answers,
    NeverAnswers,
    ByteByByte,
    Redirects,
    TenMegabytes,
}

/// A request's path and body.
type Request = (String, Vec<u8>);

/// A receiver on 127.0.0.1 that behaves as told and counts what happens to it.
#[derive(Clone)]
struct Receiver {
    port: u16,
    /// Every request's path and body.
    requests: Arc<Mutex<Vec<Request>>>,
    connections: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
    /// The most body bytes one connection managed to write.
    body_bytes_written: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            port: listener.local_addr().unwrap().port(),
            requests: Arc::default(),
            connections: Arc::default(),
            open: Arc::default(),
            most_open: Arc::default(),
            body_bytes_written: Arc::default(),
        };
        let r = receiver.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let r = r.clone();
                tokio::spawn(async move {
                    r.connections.fetch_add(1, Ordering::SeqCst);
                    let now_open = r.open.fetch_add(1, Ordering::SeqCst) + 1;
                    r.most_open.fetch_max(now_open, Ordering::SeqCst);
                    r.serve(stream, behaviour).await;
                    r.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        receiver
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn events(&self) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| {
                let json: serde_json::Value = serde_json::from_slice(body).unwrap();
                json["data"].as_array().unwrap().len()
            })
            .sum()
    }

    async fn serve(&self, mut stream: TcpStream, behaviour: Behaviour) {
        let Some((path, body)) = read_request(&mut stream).await else {
            return;
        };
        self.requests.lock().unwrap().push((path, body));
        match behaviour {
            Behaviour::Answers => {
                let _ = stream
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
            }
            Behaviour::NeverAnswers => {
                // Holds the connection until the client gives up on it.
                let mut byte = [0u8; 1];
                while matches!(stream.read(&mut byte).await, Ok(n) if n > 0) {}
            }
            Behaviour::ByteByByte => {
                // Until the client hangs up (which a write notices only later).
                let (mut reader, mut writer) = stream.split();
                let trickle = async {
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
                        if writer.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                };
                let mut byte = [0u8; 1];
                tokio::select! {
                    _ = trickle => {}
                    _ = async { while matches!(reader.read(&mut byte).await, Ok(n) if n > 0) {} } => {}
                }
            }
            Behaviour::Redirects => {
                let stolen = format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}/stolen\r\nContent-Length: 0\r\n\r\n",
                    self.port
                );
                let _ = stream.write_all(stolen.as_bytes()).await;
            }
            Behaviour::TenMegabytes => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {TEN_MB}\r\n\r\n");
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let mut written = 0;
                while written < TEN_MB {
                    match stream.write(&chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => written += n,
                    }
                }
                self.body_bytes_written.fetch_max(written, Ordering::SeqCst);
            }
        }
    }
}

/// The request's path and body (by its Content-Length); `None` when the client went away.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    Some((path, data[head_end..head_end + length].to_vec()))
}

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hikyaku.db").display());
    let store = Store::connect(&url, SealingKey::generate()).await.unwrap();
    (store, dir)
}

async fn accept(store: &Store, customer: &CustomerId, n: usize) {
    let now = Timestamp::now();
    let batch: Vec<AcceptedMessage> = (0..n)
        .map(|_| AcceptedMessage {
            id: MessageId::new(now),
            customer_id: customer.clone(),
            envelope: Envelope {
                mail_from: "app@sender.example".into(),
                recipients: vec!["to@rcpt.example".into()],
            },
            size: 100,
            received_at: now,
            source_ip: "192.0.2.1".into(),
            node: "node-a".into(),
            tags: Vec::new(),
            metadata: Default::default(),
            subject: None,
        })
        .collect();
    store.record_accepted(&batch).await.unwrap();
}

fn settings(allow_private: bool, dns: &TestDns) -> WebhookSettings {
    WebhookSettings {
        batch_window: Duration::from_millis(100),
        poll_interval: Duration::from_millis(50),
        request_timeout: REQUEST_TIMEOUT,
        connect_timeout: Duration::from_secs(1),
        backoff: hikyaku_http_post::Backoff {
            initial: Duration::from_millis(300),
            max: Duration::from_secs(1),
        },
        allow_private_endpoints: allow_private,
        resolver: Some(Arc::new(
            HickoryResolve::new(DnsSource::Server(dns.addr())).unwrap(),
        )),
        ..WebhookSettings::default()
    }
}

#[tokio::test]
async fn hostile_receivers_are_cut_short_and_do_not_hold_up_other_contracts() {
    let (store, _dir) = store().await;
    let dns = TestDns::start().await.unwrap();
    let hostile = store
        .create_contract("Hostile", "standard")
        .await
        .unwrap()
        .customer_id;
    let good = store
        .create_contract("Good", "standard")
        .await
        .unwrap()
        .customer_id;
    let mut hostile_endpoints = Vec::new();
    for behaviour in [
        Behaviour::NeverAnswers,
        Behaviour::ByteByByte,
        Behaviour::Redirects,
        Behaviour::TenMegabytes,
    ] {
        let receiver = Receiver::start(behaviour).await;
        // Stored directly: the URL check would refuse 127.0.0.1 only without
        // allow_private_endpoints, and this test is about the sender.
        let id = store
            .create_webhook_endpoint(
                &hostile,
                &receiver.url("/hook"),
                &hikyaku_webhooks::signing::new_secret(),
                &[EventKind::Accepted],
                behaviour == Behaviour::NeverAnswers,
                Timestamp::now(),
            )
            .await
            .unwrap();
        hostile_endpoints.push((behaviour, id, receiver));
    }
    let receiver = Receiver::start(Behaviour::Answers).await;
    store
        .create_webhook_endpoint(
            &good,
            &receiver.url("/good"),
            &hikyaku_webhooks::signing::new_secret(),
            &[EventKind::Accepted],
            false,
            Timestamp::now(),
        )
        .await
        .unwrap();

    let sender = Sender::new(store.clone(), settings(true, &dns)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sender.run(async {
        let _ = stopped.await;
    }));

    // Events for both contracts over four seconds: the good endpoint gets each round's events
    // within a couple of batch windows, while the hostile ones hold their requests open.
    let rounds = 8;
    let mut sent = 0;
    let mut slowest = Duration::ZERO;
    for _ in 0..rounds {
        accept(&store, &hostile, 3).await;
        accept(&store, &good, 5).await;
        sent += 5;
        let started = Instant::now();
        while receiver.events() < sent {
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "the good endpoint got {} of {sent} events",
                receiver.events()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    println!("slowest round to the good endpoint: {slowest:?}");
    let _ = stop.send(());
    tokio::time::timeout(REQUEST_TIMEOUT * 2, running)
        .await
        .expect("the sender stops within a request's deadline")
        .unwrap();
    assert_eq!(receiver.events(), sent, "each event once");

    for (behaviour, id, r) in &hostile_endpoints {
        let attempts = store.webhook_attempts(&hostile, *id, 100).await.unwrap();
        assert!(!attempts.is_empty(), "{behaviour:?} was tried");
        assert!(
            r.most_open.load(Ordering::SeqCst) <= 1,
            "{behaviour:?}: two requests at once"
        );
        for entry in &attempts {
            let a = &entry.attempt;
            assert!(
                a.latency_ms <= REQUEST_TIMEOUT.as_millis() as i64 + 500,
                "{behaviour:?}: an attempt took {} ms",
                a.latency_ms
            );
            match behaviour {
                Behaviour::NeverAnswers | Behaviour::ByteByByte => {
                    assert_eq!(a.http_status, None, "{behaviour:?}");
                    assert_eq!(a.outcome, WebhookOutcome::Retry);
                    assert!(
                        a.error.as_deref().unwrap().contains("no answer within"),
                        "{a:?}"
                    );
                }
                Behaviour::Redirects => {
                    assert_eq!(a.http_status, Some(302));
                    assert_eq!(a.outcome, WebhookOutcome::Retry);
                    assert!(
                        a.error
                            .as_deref()
                            .unwrap()
                            .contains("redirects are not followed")
                    );
                }
                Behaviour::TenMegabytes => {
                    assert_eq!(a.http_status, Some(200));
                    assert_eq!(a.outcome, WebhookOutcome::Delivered);
                    assert_eq!(
                        a.answer.as_deref().map(str::len),
                        Some(1024),
                        "only the first bytes are read"
                    );
                }
                Behaviour::Answers => unreachable!(),
            }
        }
        if *behaviour == Behaviour::Redirects {
            assert!(
                r.requests
                    .lock()
                    .unwrap()
                    .iter()
                    .all(|(path, _)| path == "/hook"),
                "the redirect was not followed"
            );
        }
        if *behaviour == Behaviour::TenMegabytes {
            assert!(
                r.body_bytes_written.load(Ordering::SeqCst) < TEN_MB,
                "the answer was not read to its end"
            );
        }
        if *behaviour == Behaviour::NeverAnswers {
            // Back-off: a failing endpoint is not hammered (one request at a time, and a
            // growing wait between them).
            assert!(attempts.len() <= 4, "{} attempts", attempts.len());
            // One event per request, the same request retried: one webhook-id throughout.
            let ids: std::collections::HashSet<&str> = attempts
                .iter()
                .map(|e| e.attempt.webhook_id.as_str())
                .collect();
            assert_eq!(ids.len(), 1, "{ids:?}");
        }
    }
}

#[tokio::test]
async fn names_and_addresses_of_this_machine_are_refused() {
    let (store, _dir) = store().await;
    let dns = TestDns::start().await.unwrap();
    dns.a("internal.hooks.test", "127.0.0.1").await;
    dns.aaaa("v6.hooks.test", "::1").await;
    let receiver = Receiver::start(Behaviour::Answers).await;
    let port = receiver.port;
    let customer = store
        .create_contract("Sneaky", "standard")
        .await
        .unwrap()
        .customer_id;
    let urls = [
        format!("http://internal.hooks.test:{port}/"),
        format!("http://v6.hooks.test:{port}/"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::1]:{port}/"),
    ];
    let mut ids = Vec::new();
    for url in &urls {
        // Stored directly (adding refuses plain http:// and these addresses), as a name added
        // while it resolved elsewhere would be.
        let id = store
            .create_webhook_endpoint(
                &customer,
                url,
                &hikyaku_webhooks::signing::new_secret(),
                &[EventKind::Accepted],
                true,
                Timestamp::now(),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    accept(&store, &customer, 1).await;

    let sender = Sender::new(store.clone(), settings(false, &dns)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sender.run(async {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    loop {
        let mut tried = 0;
        for id in &ids {
            if !store
                .webhook_attempts(&customer, *id, 1)
                .await
                .unwrap()
                .is_empty()
            {
                tried += 1;
            }
        }
        if tried == ids.len() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{tried} of {} tried",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    running.await.unwrap();

    assert_eq!(
        receiver.connections.load(Ordering::SeqCst),
        0,
        "nothing reached this machine"
    );
    assert!(dns.queries() >= 2, "names went to the test DNS server");
    for (url, id) in urls.iter().zip(&ids) {
        let attempts = store.webhook_attempts(&customer, *id, 10).await.unwrap();
        let a = &attempts[0].attempt;
        assert_eq!(
            (a.http_status, a.outcome),
            (None, WebhookOutcome::Retry),
            "{url}"
        );
        assert!(
            a.error.as_deref().unwrap().contains("not a public address"),
            "{url}: {a:?}"
        );
        assert!(a.latency_ms < 1000, "{url}: {} ms", a.latency_ms);
    }
}

/// An endpoint whose every request fails for `disable_after` is disabled, and its contract's
/// admins are told: one `webhook_endpoint_disabled` notice, naming the endpoint and why.
#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_disabled_and_its_admins_told() {
    let (store, _dir) = store().await;
    let dns = TestDns::start().await.unwrap();
    let customer = store
        .create_contract("Failing", "standard")
        .await
        .unwrap()
        .customer_id;
    let receiver = Receiver::start(Behaviour::Redirects).await;
    let id = store
        .create_webhook_endpoint(
            &customer,
            &receiver.url("/hook"),
            &hikyaku_webhooks::signing::new_secret(),
            &[EventKind::Accepted],
            true,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let settings = WebhookSettings {
        disable_after: Duration::from_millis(500),
        ..settings(true, &dns)
    };
    let sender = Sender::new(store.clone(), settings).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sender.run(async {
        let _ = stopped.await;
    }));
    accept(&store, &customer, 1).await;
    let started = Instant::now();
    let disabled = loop {
        let endpoint = store
            .webhook_endpoint(&customer, id)
            .await
            .unwrap()
            .unwrap();
        if let Some(disabled) = endpoint.disabled {
            break disabled;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still enabled after {:?}: {endpoint:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = stop.send(());
    running.await.unwrap();
    let notices = store.list_notices(Some(&customer), 10).await.unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].kind.as_str(), "webhook_endpoint_disabled");
    assert_eq!(notices[0].details["endpoint_id"], id);
    assert_eq!(notices[0].details["reason"], disabled.1.as_str());
    let attempts = store.webhook_attempts(&customer, id, 10).await.unwrap();
    assert!(
        attempts.len() >= 2,
        "retried before giving up: {attempts:?}"
    );
}
