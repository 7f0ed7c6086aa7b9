//! The error server's real handler in SMTP conversations held in memory: the SMTP engine's
//! session, the bounce analyser and the real store (SQLite in a temporary directory, and
//! PostgreSQL), without the binary or a socket.

use hikyaku_error_server::{ErrorServer, ErrorServerSettings};
use hikyaku_inbound_parse::{Inbound, InboundSettings};
use hikyaku_model::{
    CustomerId, Envelope, EventKind, MessageId, Timestamp, VerpAddress, VerpKey, VerpRecipient,
};
use hikyaku_smtp_server::ServerConfig;
use hikyaku_smtp_server::testing::HandlerConversation;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{AcceptedMessage, SealingKey, SoftBouncePolicy, Store};
use hikyaku_testkit::reports::delivery_status_notification;
use std::net::SocketAddr;
use std::time::Duration;

const BOUNCE_DOMAIN: &str = "bounces.test";

/// The error server's parts on a fresh database.
struct ErrorNode {
    store: Store,
    verp_key: VerpKey,
    _data: Option<tempfile::TempDir>,
    _postgres: Option<PostgresTestDatabase>,
}

impl ErrorNode {
    async fn sqlite() -> ErrorNode {
        let data = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", data.path().join("hikyaku.db").display());
        ErrorNode::open(&url, Some(data), None).await
    }

    async fn postgres() -> Option<ErrorNode> {
        let database = PostgresTestDatabase::create().await?;
        let url = database.url().to_string();
        Some(ErrorNode::open(&url, None, Some(database)).await)
    }

    async fn open(
        url: &str,
        data: Option<tempfile::TempDir>,
        postgres: Option<PostgresTestDatabase>,
    ) -> ErrorNode {
        ErrorNode {
            store: Store::connect(url, SealingKey::generate()).await.unwrap(),
            verp_key: VerpKey::new([7; 32]),
            _data: data,
            _postgres: postgres,
        }
    }

    /// A message of a new contract to `recipient`, on record as the relay leaves it.
    async fn sent_message(&self, recipient: &str) -> (CustomerId, MessageId) {
        let customer = self
            .store
            .create_contract("Bounces", "standard")
            .await
            .unwrap()
            .customer_id;
        let received_at = Timestamp::now();
        let id = MessageId::new(received_at);
        self.store
            .record_accepted(&[AcceptedMessage {
                id,
                customer_id: customer.clone(),
                envelope: Envelope {
                    mail_from: "app@example.com".into(),
                    recipients: vec![recipient.into()],
                },
                size: 1234,
                received_at,
                source_ip: "127.0.0.5".into(),
                node: "node-a".into(),
                tags: Vec::new(),
                metadata: Default::default(),
                subject: None,
            }])
            .await
            .unwrap();
        (customer, id)
    }

    /// The return path the delivery engine gave the message's first recipient.
    fn return_path(&self, message: MessageId) -> String {
        let verp = VerpAddress {
            message,
            recipient: VerpRecipient::Index(0),
        };
        self.verp_key.encode(verp, BOUNCE_DOMAIN)
    }

    /// A remote MTA connected to this node's error server, greeted with EHLO.
    async fn remote_mta(&self) -> HandlerConversation<ErrorServer> {
        let inbound = Inbound::new(self.store.clone(), InboundSettings::default()).unwrap();
        let handler = ErrorServer::new(
            self.store.clone(),
            inbound,
            ErrorServerSettings {
                bounce_domain: Some(BOUNCE_DOMAIN.into()),
                feedback_addresses: Vec::new(),
                verp_key: self.verp_key.clone(),
                hostname: "errors.test".into(),
                soft_bounces: SoftBouncePolicy {
                    limit: 5,
                    window: Duration::from_secs(7 * 86_400),
                },
            },
        );
        let mut config = ServerConfig::new("errors.test");
        config.listener = "errors".into();
        config.auth.enabled = false;
        let peer = SocketAddr::from(([127, 0, 0, 20], 40000));
        let Ok(mut mta) = HandlerConversation::connect(handler, config, peer).await else {
            panic!("the error server refused a connection");
        };
        assert_eq!(
            mta.send("EHLO mx.remote.example").await,
            ["220", "250"],
            "greeting and EHLO"
        );
        mta
    }
}

/// Runs `$body(node)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::ErrorNode::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(node) = super::ErrorNode::postgres().await {
                    super::$name(node).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    a_bounce_to_a_return_path_is_recorded_and_suppresses,
    a_forged_or_unknown_return_path_is_refused,
    return_paths_on_a_contracts_bounce_domain_are_taken_while_it_is_registered,
);

async fn a_bounce_to_a_return_path_is_recorded_and_suppresses(node: ErrorNode) {
    let (customer, id) = node.sent_message("gone@example.jp").await;
    let mut mta = node.remote_mta().await;
    assert_eq!(mta.send("MAIL FROM:<>").await, ["250 2.1.0"]);
    let rcpt = format!("RCPT TO:<{}>", node.return_path(id));
    assert_eq!(mta.send(&rcpt).await, ["250 2.1.5"]);
    assert_eq!(mta.send("DATA").await, ["354"]);
    let bounce =
        delivery_status_notification("gone@example.jp", "5.1.1", "550 5.1.1 User unknown", None);
    let reply = mta.send_data(&bounce).await;
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");

    // What 250 promised: the report's meaning is committed.
    let events = node.store.events_for_message(id).await.unwrap();
    let bounced: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == EventKind::Bounced)
        .collect();
    assert_eq!(bounced.len(), 1, "{events:?}");
    assert_eq!(bounced[0].recipient, "gone@example.jp");
    assert_eq!(
        bounced[0].details.reason().map(|r| r.as_str()),
        Some("userunknown")
    );
    let entry = node
        .store
        .suppression(&customer, "gone@example.jp")
        .await
        .unwrap();
    assert!(entry.is_some_and(|e| e.message_id == Some(id)));
    assert_eq!(mta.send("QUIT").await, ["221 2.0.0"]);
}

async fn a_forged_or_unknown_return_path_is_refused(node: ErrorNode) {
    let (customer, id) = node.sent_message("gone@example.jp").await;
    let genuine = node.return_path(id);
    // The same message and index under a tag the key did not make.
    let (local, domain) = genuine.rsplit_once('@').unwrap();
    let last = local.chars().last().unwrap();
    let forged = format!(
        "{}{}@{domain}",
        &local[..local.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    let mut mta = node.remote_mta().await;
    assert_eq!(mta.send("MAIL FROM:<>").await, ["250 2.1.0"]);
    for stranger in [
        forged.as_str(),
        "postmaster@bounces.test",
        "someone@example.org",
    ] {
        assert_eq!(
            mta.send(&format!("RCPT TO:<{stranger}>")).await,
            ["550 5.1.1"],
            "{stranger}"
        );
    }
    assert_eq!(mta.send("DATA").await, ["503 5.5.1"]);
    assert_eq!(mta.send("QUIT").await, ["221 2.0.0"]);

    let events = node.store.events_for_message(id).await.unwrap();
    assert!(
        events.iter().all(|e| e.kind() == EventKind::Accepted),
        "{events:?}"
    );
    assert!(
        node.store
            .suppression(&customer, "gone@example.jp")
            .await
            .unwrap()
            .is_none()
    );
}

async fn return_paths_on_a_contracts_bounce_domain_are_taken_while_it_is_registered(
    node: ErrorNode,
) {
    let (customer, id) = node.sent_message("gone@example.jp").await;
    node.store
        .set_bounce_domain(&customer, "bounce.customer.example")
        .await
        .unwrap();
    let verp = VerpAddress {
        message: id,
        recipient: VerpRecipient::Index(0),
    };
    let on_theirs = node.verp_key.encode(verp, "bounce.customer.example");
    // A genuine tag on a domain nobody registered proves nothing about where it was sent.
    let on_nobodys = node.verp_key.encode(verp, "bounce.unregistered.example");

    let mut mta = node.remote_mta().await;
    assert_eq!(mta.send("MAIL FROM:<>").await, ["250 2.1.0"]);
    assert_eq!(
        mta.send(&format!("RCPT TO:<{on_nobodys}>")).await,
        ["550 5.1.1"]
    );
    assert_eq!(
        mta.send(&format!("RCPT TO:<{}>", on_theirs.to_uppercase()))
            .await,
        ["250 2.1.5"],
        "case folded by a remote MTA"
    );
    assert_eq!(mta.send("DATA").await, ["354"]);
    let bounce =
        delivery_status_notification("gone@example.jp", "5.1.1", "550 5.1.1 User unknown", None);
    assert_eq!(mta.send_data(&bounce).await.head(), "250 2.0.0");
    let events = node.store.events_for_message(id).await.unwrap();
    let bounced: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == EventKind::Bounced)
        .collect();
    assert_eq!(bounced.len(), 1, "{events:?}");
    assert_eq!(bounced[0].recipient, "gone@example.jp");
    assert_eq!(bounced[0].customer_id, customer);

    // Cleared, the domain takes nothing more, at once.
    node.store.clear_bounce_domain(&customer).await.unwrap();
    assert_eq!(mta.send("MAIL FROM:<>").await, ["250 2.1.0"]);
    assert_eq!(
        mta.send(&format!("RCPT TO:<{on_theirs}>")).await,
        ["550 5.1.1"]
    );
    assert_eq!(mta.send("QUIT").await, ["221 2.0.0"]);
}
