//! MTA-STS end to end over real sockets: the test DNS server publishes `_mta-sts.example.test`
//! and the MX, a real HTTPS server serves the policy with a certificate from its own test CA,
//! and the scripted sink MX receives the mail, with or without STARTTLS, with a certificate
//! that does or does not name the MX host. The transport is the production one (the MX
//! resolver on that DNS server, the SMTP client, the policy service) with test trust anchors.

use hikyaku_config::{DestinationRule, TlsPolicy};
use hikyaku_delivery::client::{Client, ClientConfig, Timeouts};
use hikyaku_delivery::resolve::{MxResolver, ResolverMode, ResolverOptions};
use hikyaku_delivery::sts::{MtaSts, StsOptions};
use hikyaku_delivery::{Failure, Rules, Transport};
use hikyaku_store::{SealingKey, Store};
use hikyaku_testkit::{HttpsAnswer, HttpsServer, Sink, TestDns};
use std::sync::Arc;
use std::time::Duration;

const DOMAIN: &str = "example.test";
const MESSAGE: &[u8] = b"From: a@sender.test\r\nSubject: sts\r\n\r\nHello.\r\n";

fn enforce(mx: &str) -> String {
    format!("version: STSv1\r\nmode: enforce\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

struct World {
    dns: TestDns,
    https: HttpsServer,
    sink: Sink,
}

impl World {
    /// `example.test`: MX `mx.example.test` at 127.0.0.1 (the sink's port), the policy host
    /// `mta-sts.example.test` at 127.0.0.1 serving `policy`, and the TXT record `id=1` when
    /// `txt`. Every record has TTL 0, so a change is seen at once.
    async fn new(sink: Sink, policy: &str, txt: bool) -> World {
        let dns = TestDns::start().await.unwrap();
        let https = HttpsServer::start(&["mta-sts.example.test"], HttpsAnswer::text(policy))
            .await
            .unwrap();
        dns.set_negative_ttl(0).await;
        dns.ttl(0)
            .mx(DOMAIN, 10, "mx.example.test")
            .await
            .a("mx.example.test", "127.0.0.1")
            .await
            .a("mta-sts.example.test", "127.0.0.1")
            .await;
        if txt {
            dns.ttl(0)
                .txt("_mta-sts.example.test", "v=STSv1; id=1;")
                .await;
        }
        World { dns, https, sink }
    }

    /// [`World::new`] with an `enforce` policy naming `mx` and the TXT record.
    async fn enforcing(sink: Sink, mx: &str) -> World {
        World::new(sink, &enforce(mx), true).await
    }

    /// A new node's transport (an empty policy cache), trusting the sink's and the policy
    /// host's CAs, with these destination rules.
    fn transport(&self, rules: &[DestinationRule]) -> Transport {
        self.transport_with(rules, false)
    }

    /// [`World::transport`], with DANE on or off (the test DNS server plays the validating
    /// resolver).
    fn transport_with(&self, rules: &[DestinationRule], dane: bool) -> Transport {
        self.node(rules, dane, None)
    }

    /// A node's transport, with its policies kept in `store` when given.
    fn node(&self, rules: &[DestinationRule], dane: bool, store: Option<Store>) -> Transport {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.https.ca_certificate().clone()).unwrap();
        if let Some(ca) = self.sink.ca_certificate() {
            roots.add(ca.clone()).unwrap();
        }
        let roots = Arc::new(roots);
        let options = ResolverOptions {
            ipv6: false,
            timeout: Duration::from_secs(2),
            attempts: 1,
            smtp_port: self.sink.addr().port(),
            dane,
            ..ResolverOptions::default()
        };
        let resolver =
            MxResolver::new(ResolverMode::Server(self.dns.addr()), &[], options).unwrap();
        let client = Client::new(ClientConfig {
            timeouts: Timeouts::all(Duration::from_secs(10)),
            root_store: Some(Arc::clone(&roots)),
            ..ClientConfig::new("relay.hikyaku.test")
        })
        .unwrap();
        let sts = MtaSts::new(
            &resolver,
            Some(roots),
            Rules::new(rules),
            StsOptions {
                https_port: self.https.addr().port(),
                fetch_timeout: Duration::from_secs(5),
                ..StsOptions::default()
            },
        )
        .unwrap()
        .expect("DNS mode has MTA-STS");
        let sts = match store {
            Some(store) => sts.with_store(store),
            None => sts,
        };
        Transport::new(resolver, client).with_mta_sts(sts)
    }

    /// One message, sent by a node without rules that has cached no policy yet.
    async fn send_from_a_new_node(&self) -> Sent {
        send(&self.transport(&[])).await
    }

    async fn set_txt(&self, text: &str) {
        self.dns.remove("_mta-sts.example.test").await;
        self.dns.ttl(0).txt("_mta-sts.example.test", text).await;
    }

    async fn set_mx(&self, host: &str) {
        self.dns.remove(DOMAIN).await;
        self.dns
            .ttl(0)
            .mx(DOMAIN, 10, host)
            .await
            .a(host, "127.0.0.1")
            .await;
    }
}

/// How one message to `user@example.test` went: delivered (over TLS or not), or the failure
/// the engine would record.
#[derive(Debug)]
enum Sent {
    Delivered { tls: bool },
    Failed(Failure),
}

/// Sends as the engine does for a destination no rule sets the TLS of.
async fn send(transport: &Transport) -> Sent {
    let site = match transport.resolve(DOMAIN).await {
        Ok(site) => site,
        Err(failure) => return Sent::Failed(failure),
    };
    let mut session = match transport.connect(&site, None).await {
        Ok(session) => session,
        Err(failure) => return Sent::Failed(failure),
    };
    let attempt = session
        .send("a@sender.test", &["user@example.test".to_string()], MESSAGE)
        .await;
    session.quit().await;
    assert!(
        attempt.per_recipient[0].is_ok(),
        "{:?}",
        attempt.per_recipient[0].as_ref().err()
    );
    Sent::Delivered {
        tls: attempt.remote.tls == Some(true),
    }
}

/// The failure's code, enhanced status and text; it must be temporary.
fn deferred(sent: Sent) -> (u16, String, String) {
    let Sent::Failed(failure) = sent else {
        panic!("expected a failure, got {sent:?}");
    };
    assert!(!failure.permanent, "{failure:?}");
    let reply = failure.refusal.reply;
    (
        reply.code,
        reply.enhanced.map(|e| e.to_string()).unwrap_or_default(),
        reply.text,
    )
}

async fn tls_sink(names: &[&str]) -> Sink {
    Sink::builder()
        .starttls()
        .tls_names(names)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn enforce_with_verified_tls_delivers() {
    let world = World::enforcing(tls_sink(&["mx.example.test"]).await, "mx.example.test").await;
    let transport = world.transport(&[]);
    let sent = send(&transport).await;
    assert!(matches!(sent, Sent::Delivered { tls: true }), "{sent:?}");
    assert!(world.sink.received()[0].tls);
    let requests = world.https.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].line, "GET /.well-known/mta-sts.txt HTTP/1.1");
    assert_eq!(
        requests[0].host.as_deref(),
        Some(format!("mta-sts.example.test:{}", world.https.addr().port()).as_str())
    );
    // Wildcards name one label.
    world
        .https
        .set_answer(HttpsAnswer::text(&enforce("*.example.test")));
    world.set_txt("v=STSv1; id=2").await;
    let sent = send(&transport).await;
    assert!(matches!(sent, Sent::Delivered { tls: true }), "{sent:?}");
    assert_eq!(world.https.requests().len(), 2);
}

#[tokio::test]
async fn enforce_without_starttls_defers_with_the_policy_named() {
    let world = World::enforcing(Sink::start().await.unwrap(), "mx.example.test").await;
    let sent = world.send_from_a_new_node().await;
    assert_eq!(
        deferred(sent),
        (
            451,
            "4.7.4".to_string(),
            "MTA-STS policy of example.test: mx.example.test [127.0.0.1]: TLS is required but the server does not offer STARTTLS".to_string()
        )
    );
    assert!(world.sink.received().is_empty());
}

#[tokio::test]
async fn enforce_with_a_certificate_for_another_name_defers() {
    let world = World::enforcing(tls_sink(&["other.test"]).await, "mx.example.test").await;
    let (code, enhanced, text) = deferred(world.send_from_a_new_node().await);
    assert_eq!((code, enhanced.as_str()), (451, "4.7.5"));
    assert!(
        text.starts_with(
            "MTA-STS policy of example.test: mx.example.test [127.0.0.1]: TLS handshake failed"
        ),
        "{text}"
    );
    assert!(world.sink.received().is_empty());
}

#[tokio::test]
async fn enforce_without_a_matching_mx_defers() {
    let world = World::enforcing(tls_sink(&["mx.example.test"]).await, "*.elsewhere.test").await;
    let sent = world.send_from_a_new_node().await;
    assert_eq!(
        deferred(sent),
        (
            451,
            "4.7.0".to_string(),
            "MTA-STS policy of example.test: no MX host matches the policy (mx: *.elsewhere.test; MX hosts: mx.example.test)".to_string()
        )
    );
    assert_eq!(world.sink.total_connections(), 0);
}

/// A domain whose signed MX has TLSA records is DANE's (RFC 8461 section 2): its MTA-STS policy,
/// which names another MX and would defer, is not even fetched, and the certificate is checked
/// against the records.
#[tokio::test]
async fn dane_comes_before_the_policy() {
    let sink = tls_sink(&["mx.example.test"]).await;
    let leaf = sink.leaf_certificate().unwrap().clone();
    let world = World::enforcing(sink, "*.elsewhere.test").await;
    world.dns.signed(DOMAIN);
    let tlsa = format!("_{}._tcp.mx.example.test", world.sink.addr().port());
    // DANE-EE, the whole certificate (selector 0, matching 0).
    world.dns.tlsa(&tlsa, 3, 0, 0, leaf.as_ref()).await;
    let sent = send(&world.transport_with(&[], true)).await;
    assert!(matches!(sent, Sent::Delivered { tls: true }), "{sent:?}");
    assert!(world.https.requests().is_empty(), "the policy was fetched");
    // Without DANE the same domain is MTA-STS's, and its policy defers.
    let sent = send(&world.transport_with(&[], false)).await;
    assert_eq!(deferred(sent).1, "4.7.0");
}

#[tokio::test]
async fn testing_mode_delivers_as_without_a_policy() {
    let policy = "version: STSv1\nmode: testing\nmx: *.elsewhere.test\nmax_age: 600\n";
    let world = World::new(Sink::start().await.unwrap(), policy, true).await;
    let sent = world.send_from_a_new_node().await;
    assert!(matches!(sent, Sent::Delivered { tls: false }), "{sent:?}");
    assert_eq!(world.https.requests().len(), 1);
}

#[tokio::test]
async fn without_a_txt_record_delivery_is_as_before() {
    let world = World::new(
        Sink::start().await.unwrap(),
        &enforce("mx.example.test"),
        false,
    )
    .await;
    let sent = world.send_from_a_new_node().await;
    assert!(matches!(sent, Sent::Delivered { tls: false }), "{sent:?}");
    assert!(world.https.requests().is_empty());
}

#[tokio::test]
async fn a_rule_that_sets_tls_wins_over_the_policy() {
    let world = World::enforcing(Sink::start().await.unwrap(), "mx.example.test").await;
    let rule = DestinationRule {
        matches: DOMAIN.into(),
        max_connections: None,
        max_messages_per_connection: None,
        max_rate: None,
        tls: Some(TlsPolicy::Opportunistic),
        backoff: None,
    };
    let sent = send(&world.transport(std::slice::from_ref(&rule))).await;
    assert!(matches!(sent, Sent::Delivered { tls: false }), "{sent:?}");
    assert!(world.https.requests().is_empty());
    // The same rule without `tls` leaves the policy in force.
    let rule = DestinationRule { tls: None, ..rule };
    let sent = send(&world.transport(&[rule])).await;
    assert_eq!(deferred(sent).1, "4.7.4");
}

#[tokio::test]
async fn a_cached_policy_holds_when_the_fetch_fails_and_a_new_id_is_fetched() {
    let world = World::enforcing(tls_sink(&["mx.example.test"]).await, "mx.example.test").await;
    let transport = world.transport(&[]);
    assert!(matches!(
        send(&transport).await,
        Sent::Delivered { tls: true }
    ));
    // Same id: the cached policy, no fetch.
    assert!(matches!(
        send(&transport).await,
        Sent::Delivered { tls: true }
    ));
    assert_eq!(world.https.requests().len(), 1);

    // A new id whose policy cannot be fetched, and an MX the cached policy does not name (an
    // attacker's): the cached policy still refuses it.
    world.set_mx("mx.attacker.test").await;
    world.set_txt("v=STSv1; id=2").await;
    world.https.set_answer(HttpsAnswer {
        status: 500,
        ..HttpsAnswer::text("down")
    });
    let (_, enhanced, text) = deferred(send(&transport).await);
    assert_eq!(enhanced, "4.7.0");
    assert!(text.contains("mx: mx.example.test"), "{text}");
    assert_eq!(world.https.requests().len(), 2);
    // The TXT record gone: the cached policy still holds.
    world.dns.remove("_mta-sts.example.test").await;
    assert_eq!(deferred(send(&transport).await).1, "4.7.0");
    // A node that never saw the policy has nothing to enforce.
    let sent = world.send_from_a_new_node().await;
    assert!(matches!(sent, Sent::Delivered { tls: true }), "{sent:?}");

    // A new id with a policy that can be fetched replaces the cached one at once.
    world
        .https
        .set_answer(HttpsAnswer::text(&enforce("mx.attacker.test")));
    world.set_txt("v=STSv1; id=3").await;
    // (It names a host whose certificate it is not: refused for that, not for the MX.)
    let (_, enhanced, text) = deferred(send(&transport).await);
    assert_eq!(enhanced, "4.7.5", "{text}");
    assert_eq!(world.https.requests().len(), 3);
}

/// A node that restarts keeps the policies it fetched (in the database): with the policy host
/// out of reach and an MX the policy does not name, the restarted node still refuses it, where
/// a node that never saw the policy delivers. On SQLite, and on PostgreSQL when
/// `TEST_DATABASE_URL` names a server.
#[tokio::test]
async fn a_restarted_node_keeps_enforcing_the_stored_policy() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hikyaku.db").display());
    restarted_node_keeps_enforcing(&url).await;
}

#[tokio::test]
async fn a_restarted_node_keeps_enforcing_the_stored_policy_on_postgres() {
    if let Some(database) = hikyaku_store::testing::PostgresTestDatabase::create().await {
        restarted_node_keeps_enforcing(database.url()).await;
    }
}

async fn restarted_node_keeps_enforcing(url: &str) {
    let world = World::enforcing(tls_sink(&["mx.example.test"]).await, "mx.example.test").await;
    let key: [u8; 32] = rand::random();
    let open = || async {
        Store::connect(url, SealingKey::from_bytes(key))
            .await
            .unwrap()
    };
    let store = open().await;
    let sent = send(&world.node(&[], false, Some(store.clone()))).await;
    assert!(matches!(sent, Sent::Delivered { tls: true }), "{sent:?}");
    assert_eq!(world.https.requests().len(), 1);
    store.close().await;

    // The policy host gone, and the MX an attacker's.
    world.dns.remove("mta-sts.example.test").await;
    world.set_mx("mx.attacker.test").await;
    let restarted = world.node(&[], false, Some(open().await));
    let (_, enhanced, text) = deferred(send(&restarted).await);
    assert_eq!(enhanced, "4.7.0", "{text}");
    assert!(text.contains("mx: mx.example.test"), "{text}");
    assert_eq!(world.https.requests().len(), 1);
    // Asked again, it is the cache in memory that answers (the same).
    assert_eq!(deferred(send(&restarted).await).1, "4.7.0");
    // Without the database, a new node has nothing to enforce.
    let sent = world.send_from_a_new_node().await;
    assert!(matches!(sent, Sent::Delivered { tls: true }), "{sent:?}");
}

#[tokio::test]
async fn answers_that_are_not_a_policy_are_no_policy() {
    let world = World::new(Sink::start().await.unwrap(), "", true).await;
    let mut oversized = enforce("mx.example.test").into_bytes();
    oversized.extend(std::iter::repeat_n(b'#', 64 * 1024));
    let answers = [
        HttpsAnswer {
            status: 301,
            headers: vec![format!(
                "Location: https://mta-sts.example.test:{}/other",
                world.https.addr().port()
            )],
            ..HttpsAnswer::text(&enforce("mx.example.test"))
        },
        HttpsAnswer {
            content_type: "text/html".into(),
            ..HttpsAnswer::text(&enforce("mx.example.test"))
        },
        HttpsAnswer {
            body: oversized,
            ..HttpsAnswer::text("")
        },
        HttpsAnswer::text("<html>not a policy</html>"),
    ];
    for (index, answer) in answers.into_iter().enumerate() {
        world.https.set_answer(answer);
        let sent = world.send_from_a_new_node().await;
        assert!(
            matches!(sent, Sent::Delivered { tls: false }),
            "{index}: {sent:?}"
        );
        // One request each: the redirect is not followed.
        assert_eq!(world.https.requests().len(), index + 1);
    }
}

#[test]
fn static_mode_has_no_mta_sts() {
    let resolver = MxResolver::new(ResolverMode::Static, &[], ResolverOptions::default()).unwrap();
    let sts = MtaSts::new(&resolver, None, Rules::new(&[]), StsOptions::default()).unwrap();
    assert!(sts.is_none());
}
