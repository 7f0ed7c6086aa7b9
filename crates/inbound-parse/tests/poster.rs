//! The poster against real HTTP endpoints on 127.0.0.1 and real databases: retries until a 2xx
//! with every attempt logged, the JSON document field by field, raw forwarding, restarts, giving
//! up, the in-flight bound and HTTPS.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hikyaku_inbound_parse::post::signature;
use hikyaku_inbound_parse::{Inbound, InboundSettings};
use hikyaku_model::{EventKind, Timestamp};
use hikyaku_store::{EventQuery, InboundLogFilter, InboundState, Store};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Database, Endpoint, on_both_backends, quick_settings, run_poster, wait_for_state};

on_both_backends!(
    fails_twice_then_accepts,
    a_raw_route_gets_the_message_as_it_came,
    a_restarted_poster_delivers_what_was_queued,
    gives_up_when_the_lifetime_is_over,
    a_post_claimed_by_a_dead_poster_is_sent_after_its_lease,
);

/// The PNG-ish attachment: every byte value once.
fn binary_attachment() -> Vec<u8> {
    (0..=255u8).collect()
}

/// A CSV in Shift_JIS ("名前,a"): must reach the endpoint as these bytes, not as UTF-8.
const SHIFT_JIS_CSV: &[u8] = &[0x96, 0xbc, 0x91, 0x4f, b',', b'a', b'\r', b'\n'];

fn test_mail() -> Vec<u8> {
    let subject = BASE64.encode("お問い合わせ");
    let name = BASE64.encode("山田");
    format!(
        "From: =?UTF-8?B?{name}?= <yamada@example.org>\r\n\
         To: Support <support@example.com>, other@example.net\r\n\
         Cc: cc@example.net\r\n\
         Reply-To: replies@example.org\r\n\
         Subject: =?UTF-8?B?{subject}?=\r\n\
         Date: Tue, 25 Nov 2025 12:34:56 +0900\r\n\
         Message-ID: <abc123@example.org>\r\n\
         X-Custom: folded\r\n \
         value\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
         \r\n\
         --outer\r\n\
         Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
         \r\n\
         --alt\r\n\
         Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Caf=E9 au lait\r\n\
         --alt\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <p>Caf\u{e9}</p>\r\n\
         --alt--\r\n\
         --outer\r\n\
         Content-Type: image/png; name=\"dot.png\"\r\n\
         Content-Disposition: attachment; filename=\"dot.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {png}\r\n\
         --outer\r\n\
         Content-Type: text/csv; charset=shift_jis; name=\"list.csv\"\r\n\
         Content-Disposition: attachment; filename=\"list.csv\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {csv}\r\n\
         --outer--\r\n",
        png = wrap76(&BASE64.encode(binary_attachment())),
        csv = BASE64.encode(SHIFT_JIS_CSV),
    )
    .into_bytes()
}

/// Base64 in lines of 76, as MIME writes it.
fn wrap76(text: &str) -> String {
    text.as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn unix_now() -> i64 {
    Timestamp::now().as_millis() / 1000
}

async fn new_contract(store: &Store) -> hikyaku_model::CustomerId {
    store
        .create_contract("Inbound Co", "standard")
        .await
        .unwrap()
        .customer_id
}

async fn fails_twice_then_accepts(db: Database) {
    let endpoint = Endpoint::start(&[500, 500]).await;
    let store = db.open().await;
    let customer = new_contract(&store).await;
    let (_, secret) = store
        .add_inbound_route(
            &customer,
            "support@example.com",
            &endpoint.url("/hooks/in?key=1"),
            false,
        )
        .await
        .unwrap();
    let inbound = Inbound::new(store.clone(), quick_settings()).unwrap();
    let (stop, poster) = run_poster(&inbound);

    let route = store
        .inbound_route_for("Support@Example.COM")
        .await
        .unwrap()
        .expect("the route takes the address");
    let mail = test_mail();
    let received_at = Timestamp::now();
    inbound
        .enqueue(
            &route,
            "bounce-1@example.org",
            "Support@Example.COM",
            &mail,
            received_at,
        )
        .await
        .unwrap();
    wait_for_state(&store, 1, InboundState::Delivered).await;
    stop.send(()).unwrap();
    poster.await.unwrap();

    let requests = endpoint.received();
    assert_eq!(requests.len(), 3, "500, 500, then 200");
    let id = requests[0].header("x-hikyaku-id").to_string();
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(request.uri, "/hooks/in?key=1");
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(request.header("x-hikyaku-attempt"), (i + 1).to_string());
        assert_eq!(
            request.header("x-hikyaku-id"),
            id,
            "the same ID in every attempt"
        );
        let header = request.header("x-hikyaku-signature");
        assert!(
            signature::verify(&secret, header, &request.body, unix_now(), 300),
            "{header}"
        );
        assert!(!signature::verify(
            "wrong",
            header,
            &request.body,
            unix_now(),
            300
        ));
        assert_eq!(
            request.body, requests[0].body,
            "the same document every time"
        );
    }

    let document: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(document["id"], id);
    assert_eq!(document["route_id"], route.id);
    assert_eq!(document["received_at"], received_at.to_string());
    assert_eq!(
        document["envelope"],
        json!({"from": "bounce-1@example.org", "to": "Support@Example.COM"})
    );
    assert_eq!(document["subject"], "お問い合わせ");
    assert_eq!(
        document["from"],
        json!([{"name": "山田", "address": "yamada@example.org"}])
    );
    assert_eq!(
        document["to"],
        json!([
            {"name": "Support", "address": "support@example.com"},
            {"name": null, "address": "other@example.net"},
        ])
    );
    assert_eq!(
        document["cc"],
        json!([{"name": null, "address": "cc@example.net"}])
    );
    assert_eq!(
        document["reply_to"],
        json!([{"name": null, "address": "replies@example.org"}])
    );
    assert_eq!(document["date"], "2025-11-25T12:34:56+09:00");
    assert_eq!(document["message_id"], "abc123@example.org");
    assert_eq!(document["text"], "Café au lait");
    assert_eq!(document["html"], "<p>Café</p>");
    assert_eq!(document["truncated"], false);

    let headers = document["headers"].as_array().unwrap();
    let names: Vec<&str> = headers
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "From",
            "To",
            "Cc",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "X-Custom",
            "MIME-Version",
            "Content-Type",
        ]
    );
    assert_eq!(headers[7]["value"], "folded value");
    assert!(
        headers[4]["value"]
            .as_str()
            .unwrap()
            .starts_with("=?UTF-8?B?"),
        "header values stay as written"
    );

    let attachments = document["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2);
    assert_eq!(attachments[0]["filename"], "dot.png");
    assert_eq!(attachments[0]["content_type"], "image/png");
    assert_eq!(attachments[0]["size"], 256);
    assert_eq!(attachments[0]["inline"], false);
    let png = BASE64
        .decode(attachments[0]["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(png, binary_attachment());
    assert_eq!(attachments[1]["filename"], "list.csv");
    assert_eq!(attachments[1]["content_type"], "text/csv");
    assert_eq!(attachments[1]["size"], SHIFT_JIS_CSV.len());
    let csv = BASE64
        .decode(attachments[1]["content"].as_str().unwrap())
        .unwrap();
    assert_eq!(csv, SHIFT_JIS_CSV, "a text attachment keeps its bytes");

    let log = store
        .inbound_attempts(&InboundLogFilter {
            route: Some(route.id),
            ..InboundLogFilter::default()
        })
        .await
        .unwrap();
    let summary: Vec<(u32, Option<u16>, InboundState)> = log
        .iter()
        .map(|a| (a.attempt, a.http_status, a.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            (3, Some(200), InboundState::Delivered),
            (2, Some(500), InboundState::Pending),
            (1, Some(500), InboundState::Pending),
        ]
    );
    assert!(
        log.iter()
            .all(|a| a.error.is_none() && a.message_id.to_string() == id)
    );
    assert!(log[0].at >= log[1].at && log[1].at >= log[2].at);

    let events = store
        .search_events(&EventQuery {
            kinds: vec![EventKind::Inbound],
            ..EventQuery::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message_id.to_string(), id);
    assert_eq!(events[0].recipient, "Support@Example.COM");
    assert_eq!(events[0].mail_from, "bounce-1@example.org");
}

async fn a_raw_route_gets_the_message_as_it_came(db: Database) {
    let endpoint = Endpoint::start(&[]).await;
    let store = db.open().await;
    let customer = new_contract(&store).await;
    let (route, secret) = store
        .add_inbound_route(&customer, "*.example.com", &endpoint.url("/raw"), true)
        .await
        .unwrap();
    let inbound = Inbound::new(store.clone(), quick_settings()).unwrap();
    let (stop, poster) = run_poster(&inbound);
    let mail = test_mail();
    inbound
        .enqueue(
            &route,
            "",
            "anyone@mail.example.com",
            &mail,
            Timestamp::now(),
        )
        .await
        .unwrap();
    wait_for_state(&store, 1, InboundState::Delivered).await;
    stop.send(()).unwrap();
    poster.await.unwrap();

    let requests = endpoint.received();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.uri, "/raw");
    assert_eq!(request.header("content-type"), "message/rfc822");
    assert_eq!(request.body, mail, "byte for byte");
    assert_eq!(request.header("x-hikyaku-mail-from"), "");
    assert_eq!(
        request.header("x-hikyaku-rcpt-to"),
        "anyone@mail.example.com"
    );
    assert!(signature::verify(
        &secret,
        request.header("x-hikyaku-signature"),
        &request.body,
        unix_now(),
        300
    ));
}

async fn a_restarted_poster_delivers_what_was_queued(db: Database) {
    let endpoint = Endpoint::start(&[503]).await;
    let first_store = db.open().await;
    let customer = new_contract(&first_store).await;
    let (route, _) = first_store
        .add_inbound_route(&customer, "example.com", &endpoint.url("/"), false)
        .await
        .unwrap();
    // The first poster fails once and would wait seconds before its retry: it is stopped first.
    let slow_retry = InboundSettings {
        backoff: hikyaku_inbound_parse::post::Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(2),
        },
        ..quick_settings()
    };
    let first = Inbound::new(first_store.clone(), slow_retry).unwrap();
    let (stop, poster) = run_poster(&first);
    first
        .enqueue(
            &route,
            "a@example.org",
            "x@example.com",
            b"Subject: one\r\n\r\n1\r\n",
            Timestamp::now(),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while first_store
        .inbound_attempts(&InboundLogFilter::default())
        .await
        .unwrap()
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline, "no first attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    poster.await.unwrap();
    // Mail keeps coming in while no poster runs.
    first
        .enqueue(
            &route,
            "b@example.org",
            "y@example.com",
            b"Subject: two\r\n\r\n2\r\n",
            Timestamp::now(),
        )
        .await
        .unwrap();
    first_store.close().await;
    drop(first);

    // A new process: its own connection, its own poster.
    let store = db.open().await;
    let second = Inbound::new(store.clone(), quick_settings()).unwrap();
    let (stop, poster) = run_poster(&second);
    wait_for_state(&store, 2, InboundState::Delivered).await;
    stop.send(()).unwrap();
    poster.await.unwrap();

    let requests = endpoint.received();
    let subjects: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            let document: Value = serde_json::from_slice(&r.body).unwrap();
            (
                document["subject"].as_str().unwrap().to_string(),
                r.header("x-hikyaku-attempt").to_string(),
            )
        })
        .collect();
    assert_eq!(requests.len(), 3, "{subjects:?}");
    assert_eq!(subjects[0], ("one".to_string(), "1".to_string()));
    assert!(subjects.contains(&("one".to_string(), "2".to_string())));
    assert!(subjects.contains(&("two".to_string(), "1".to_string())));
    let posts = store.inbound_posts(None).await.unwrap();
    assert_eq!(posts[0].attempts, 2);
    assert_eq!(posts[1].attempts, 1);
}

async fn gives_up_when_the_lifetime_is_over(db: Database) {
    let endpoint = Endpoint::start(&[503; 1000]).await;
    // A port nothing listens on: bound, then closed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let store = db.open().await;
    let customer = new_contract(&store).await;
    let (refusing, _) = store
        .add_inbound_route(&customer, "example.com", &endpoint.url("/"), false)
        .await
        .unwrap();
    let (unreachable, _) = store
        .add_inbound_route(
            &customer,
            "example.net",
            &format!("http://{closed}/"),
            false,
        )
        .await
        .unwrap();
    let settings = InboundSettings {
        lifetime: Duration::from_millis(600),
        ..quick_settings()
    };
    let inbound = Inbound::new(store.clone(), settings).unwrap();
    let (stop, poster) = run_poster(&inbound);
    for (route, recipient) in [
        (&refusing, "a@example.com"),
        (&unreachable, "b@example.net"),
    ] {
        inbound
            .enqueue(
                route,
                "s@example.org",
                recipient,
                b"Subject: x\r\n\r\nx\r\n",
                Timestamp::now(),
            )
            .await
            .unwrap();
    }
    wait_for_state(&store, 2, InboundState::Failed).await;
    stop.send(()).unwrap();
    poster.await.unwrap();

    for route in [&refusing, &unreachable] {
        let log = store
            .inbound_attempts(&InboundLogFilter {
                route: Some(route.id),
                ..InboundLogFilter::default()
            })
            .await
            .unwrap();
        assert!(log.len() >= 2, "retried before giving up: {log:#?}");
        assert_eq!(
            log[0].outcome,
            InboundState::Failed,
            "the last attempt gives up"
        );
        assert!(log[1..].iter().all(|a| a.outcome == InboundState::Pending));
        for attempt in &log {
            if route.id == refusing.id {
                assert_eq!(attempt.http_status, Some(503));
                assert_eq!(attempt.error, None);
            } else {
                assert_eq!(attempt.http_status, None);
                let error = attempt.error.as_deref().unwrap();
                assert!(error.starts_with("cannot connect to 127.0.0.1:"), "{error}");
            }
        }
    }
    assert_eq!(
        endpoint.received().len(),
        store
            .inbound_attempts(&InboundLogFilter {
                route: Some(refusing.id),
                ..InboundLogFilter::default()
            })
            .await
            .unwrap()
            .len(),
        "every request is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_in_flight_stay_within_the_bound() {
    let db = Database::sqlite().await;
    let endpoint = Endpoint::start_with_delay(&[], Duration::from_millis(300)).await;
    let store = db.open().await;
    let customer = new_contract(&store).await;
    let (route, _) = store
        .add_inbound_route(&customer, "example.com", &endpoint.url("/"), false)
        .await
        .unwrap();
    let inbound = Inbound::new(
        store.clone(),
        InboundSettings {
            max_in_flight: 3,
            ..quick_settings()
        },
    )
    .unwrap();
    for n in 0..9 {
        inbound
            .enqueue(
                &route,
                "s@example.org",
                &format!("r{n}@example.com"),
                format!("Subject: {n}\r\n\r\n").as_bytes(),
                Timestamp::now(),
            )
            .await
            .unwrap();
    }
    let (stop, poster) = run_poster(&inbound);
    wait_for_state(&store, 9, InboundState::Delivered).await;
    stop.send(()).unwrap();
    poster.await.unwrap();
    assert_eq!(endpoint.received().len(), 9);
    let most = endpoint.max_in_flight();
    assert!(most <= 3, "{most} requests at once");
    assert!(
        most >= 2,
        "posts go out in parallel: at most {most} at once"
    );
}

/// An HTTPS endpoint on 127.0.0.1 whose certificate a test CA issued for that address.
struct TlsEndpoint {
    addr: std::net::SocketAddr,
    ca: rustls::pki_types::CertificateDer<'static>,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl TlsEndpoint {
    async fn start() -> TlsEndpoint {
        use http_body_util::BodyExt;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "inbound test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to serve.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let seen = seen.clone();
                            async move {
                                let body = request.into_body().collect().await?.to_bytes();
                                seen.lock().unwrap().push(body.to_vec());
                                Ok::<_, hyper::Error>(hyper::Response::new(
                                    http_body_util::Empty::<bytes::Bytes>::new(),
                                ))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        TlsEndpoint {
            addr,
            ca: ca.der().clone(),
            bodies,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_endpoints_are_verified() {
    let endpoint = TlsEndpoint::start().await;
    let db = Database::sqlite().await;
    let store = db.open().await;
    let customer = new_contract(&store).await;
    let url = format!("https://{}/secure", endpoint.addr);
    let (route, _) = store
        .add_inbound_route(&customer, "example.com", &url, true)
        .await
        .unwrap();

    // With the Mozilla roots, the test CA is a stranger: the handshake fails and is logged.
    let untrusting = Inbound::new(
        store.clone(),
        InboundSettings {
            lifetime: Duration::from_millis(1),
            ..quick_settings()
        },
    )
    .unwrap();
    let (stop, poster) = run_poster(&untrusting);
    untrusting
        .enqueue(
            &route,
            "s@example.org",
            "a@example.com",
            b"Subject: a\r\n\r\na\r\n",
            Timestamp::now(),
        )
        .await
        .unwrap();
    wait_for_state(&store, 1, InboundState::Failed).await;
    stop.send(()).unwrap();
    poster.await.unwrap();
    let log = store
        .inbound_attempts(&InboundLogFilter::default())
        .await
        .unwrap();
    let error = log[0].error.as_deref().unwrap();
    assert!(error.starts_with("TLS handshake failed"), "{error}");
    assert!(endpoint.bodies.lock().unwrap().is_empty());

    // Trusting the test CA, the same endpoint takes the post.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(endpoint.ca.clone()).unwrap();
    let trusting = Inbound::new(
        store.clone(),
        InboundSettings {
            tls_roots: Some(std::sync::Arc::new(roots)),
            ..quick_settings()
        },
    )
    .unwrap();
    let (stop, poster) = run_poster(&trusting);
    let message = b"Subject: b\r\n\r\nb\r\n";
    trusting
        .enqueue(
            &route,
            "s@example.org",
            "b@example.com",
            message,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while endpoint.bodies.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing arrived over TLS"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    poster.await.unwrap();
    assert_eq!(endpoint.bodies.lock().unwrap()[0], message);
    let posts = store.inbound_posts(None).await.unwrap();
    assert_eq!(posts[1].state, InboundState::Delivered);
}

async fn a_post_claimed_by_a_dead_poster_is_sent_after_its_lease(db: Database) {
    let endpoint = Endpoint::start(&[]).await;
    let store = db.open().await;
    let customer = new_contract(&store).await;
    let (route, _) = store
        .add_inbound_route(&customer, "example.com", &endpoint.url("/"), false)
        .await
        .unwrap();
    let inbound = Inbound::new(store.clone(), quick_settings()).unwrap();
    inbound
        .enqueue(
            &route,
            "s@example.org",
            "x@example.com",
            b"Subject: z\r\n\r\nz\r\n",
            Timestamp::now(),
        )
        .await
        .unwrap();
    // Another poster claims it and dies before its POST is logged.
    let lease = Duration::from_millis(800);
    let claimed_at = std::time::Instant::now();
    let claimed = store
        .claim_due_inbound_posts(Timestamp::now(), lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    let (stop, poster) = run_poster(&inbound);
    wait_for_state(&store, 1, InboundState::Delivered).await;
    assert!(
        // Less a few milliseconds: the claim's time is kept to the millisecond.
        claimed_at.elapsed() >= lease - Duration::from_millis(5),
        "not sent while another poster held it"
    );
    stop.send(()).unwrap();
    poster.await.unwrap();
    let requests = endpoint.received();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("x-hikyaku-attempt"), "1");
}

/// The poster's counters, read from a Prometheus recorder of the test's own: every outcome is
/// there at zero before the first POST, then each attempt counts once, by its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_attempts_are_counted_by_outcome() {
    let db = Database::sqlite().await;
    let endpoint = Endpoint::start(&[500]).await;
    let store = db.open().await;
    let customer = new_contract(&store).await;
    store
        .add_inbound_route(&customer, "example.com", &endpoint.url("/"), false)
        .await
        .unwrap();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let scrape = recorder.handle();
    // The counters are registered when the poster is made, so they count into this recorder
    // from whichever thread the POSTs run on.
    let inbound = metrics::with_local_recorder(&recorder, || {
        Inbound::new(store.clone(), quick_settings()).unwrap()
    });
    let count = |outcome: &str| {
        let series = format!("hikyaku_inbound_post_attempts_total{{outcome=\"{outcome}\"}} ");
        let text = scrape.render();
        let line = text.lines().find(|l| l.starts_with(&series));
        line.map(|l| l[series.len()..].to_string())
            .unwrap_or_else(|| panic!("no {series}in\n{text}"))
    };
    assert_eq!(
        [count("delivered"), count("pending"), count("failed")],
        ["0", "0", "0"]
    );

    let route = store
        .inbound_route_for("a@example.com")
        .await
        .unwrap()
        .unwrap();
    let (stop, poster) = run_poster(&inbound);
    inbound
        .enqueue(
            &route,
            "s@example.org",
            "a@example.com",
            &test_mail(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    wait_for_state(&store, 1, InboundState::Delivered).await;
    stop.send(()).unwrap();
    poster.await.unwrap();
    assert_eq!(
        [count("delivered"), count("pending"), count("failed")],
        ["1", "1", "0"],
        "a 500, then a 200"
    );
}
