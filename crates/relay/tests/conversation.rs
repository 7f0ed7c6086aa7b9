//! The relay's real handler in SMTP conversations held in memory: the SMTP engine's session,
//! the real store (SQLite in a temporary directory, and PostgreSQL) and the real spool, without
//! the binary or a socket. What a client hears and what is then on record must agree.

use hikyaku_model::{ContractState, CustomerId, EventKind, MessageId, RecipientState};
use hikyaku_relay::{RelayHandler, RelayPolicy};
use hikyaku_smtp_server::ServerConfig;
use hikyaku_smtp_server::testing::{HandlerConversation, WireReply};
use std::net::SocketAddr;

mod support;

use support::Relay;

impl Relay {
    /// A contract allowed to relay from `cidr`.
    async fn contract_allowed_from(&self, cidr: &str) -> CustomerId {
        let contract = self
            .store
            .create_contract("Conversation", "standard")
            .await
            .unwrap();
        self.store
            .add_allowed_ip(&contract.customer_id, cidr.parse().unwrap())
            .await
            .unwrap();
        contract.customer_id
    }

    /// A client connected from `peer` to this node's relay handler, greeted with EHLO.
    async fn client(&self, peer: [u8; 4]) -> HandlerConversation<RelayHandler> {
        let handler = RelayHandler::new(
            self.store.clone(),
            self.intake.clone(),
            RelayPolicy {
                hostname: "relay.test".into(),
                max_message_size: 2 << 20,
            },
            hikyaku_relay::UnsubscribeStage::new(self.store.clone(), None),
        );
        let mut config = ServerConfig::new("relay.test");
        config.auth.allow_plaintext_on_loopback = true;
        let peer = SocketAddr::from((peer, 40000));
        let Ok(mut client) = HandlerConversation::connect(handler, config, peer).await else {
            panic!("the relay refused a connection from {peer}");
        };
        let ehlo = client.send("EHLO app.example.com").await;
        assert_eq!(ehlo, ["220", "250"], "greeting and EHLO");
        client
    }
}

const MESSAGE: &str =
    "From: app@example.com\r\nTo: user@example.jp\r\nSubject: hello\r\n\r\nHello.\r\n";

/// One transaction from `app@example.com` whose MAIL, RCPTs and DATA the relay takes; the
/// reply to the end of DATA.
async fn send_message(
    client: &mut HandlerConversation<RelayHandler>,
    recipients: &[&str],
) -> WireReply {
    assert_eq!(
        client.send("MAIL FROM:<app@example.com>").await,
        ["250 2.1.0"]
    );
    for recipient in recipients {
        let rcpt = format!("RCPT TO:<{recipient}>");
        assert_eq!(client.send(&rcpt).await, ["250 2.1.5"], "{rcpt}");
    }
    assert_eq!(client.send("DATA").await, ["354"]);
    client.send_data(MESSAGE).await
}

/// Runs `$body(relay)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Relay::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(relay) = super::Relay::postgres().await {
                    super::$name(relay).await;
                }
            }
        }
    )*};
}

on_both_backends!(
    a_stranger_is_denied_relaying,
    a_suspended_contract_is_refused,
    accepted_mail_is_spooled_and_recorded,
    an_authenticated_client_may_relay_from_anywhere,
    an_api_keys_name_and_secret_are_smtp_credentials,
);

async fn a_stranger_is_denied_relaying(relay: Relay) {
    relay.contract_allowed_from("127.0.0.5/32").await;
    let mut client = relay.client([127, 0, 0, 9]).await;
    assert_eq!(
        client.send("MAIL FROM:<app@example.com>").await,
        ["550 5.7.1"]
    );
    assert_eq!(
        client.send("RCPT TO:<user@example.jp>").await,
        ["503 5.5.1"]
    );
    assert_eq!(client.send("QUIT").await, ["221 2.0.0"]);
    assert!(relay.spool.list().await.unwrap().is_empty());
}

async fn a_suspended_contract_is_refused(relay: Relay) {
    let customer = relay.contract_allowed_from("127.0.0.5/32").await;
    let mut client = relay.client([127, 0, 0, 5]).await;
    assert_eq!(
        client.send("MAIL FROM:<app@example.com>").await,
        ["250 2.1.0"]
    );
    assert_eq!(client.send("RSET").await, ["250 2.0.0"]);

    // The state is read afresh for every message: the open connection feels it at once.
    relay
        .store
        .set_contract_state(&customer, ContractState::Suspended)
        .await
        .unwrap();
    client.feed(b"MAIL FROM:<app@example.com>\r\n").await;
    let replies = client.take_replies().unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].head(), "554 5.7.1");
    assert!(
        replies[0].lines[0].contains(customer.as_str())
            && replies[0].lines[0].contains("suspended"),
        "{replies:?}"
    );
    assert!(relay.spool.list().await.unwrap().is_empty());
}

async fn accepted_mail_is_spooled_and_recorded(relay: Relay) {
    let customer = relay.contract_allowed_from("127.0.0.0/29").await;
    let mut client = relay.client([127, 0, 0, 5]).await;
    let reply = send_message(&mut client, &["user@example.jp", "other@example.jp"]).await;
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");
    let id: MessageId = reply.lines[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("no message ID in {reply:?}: {e}"));

    // What 250 promised: the message is in the spool and on record.
    let (meta, bytes) = relay.spool.read(id).await.unwrap();
    assert_eq!(meta.customer_id, customer);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("Received: from app.example.com"), "{text}");
    assert!(
        text.contains(&format!("X-Hikyaku-Message-Id: {id}")),
        "{text}"
    );
    assert!(text.ends_with("Hello.\r\n"), "{text}");

    let queued = relay.store.queued_message(id).await.unwrap().unwrap();
    assert_eq!(queued.customer_id, customer);
    assert_eq!(queued.mail_from, "app@example.com");
    assert_eq!(queued.source_ip, "127.0.0.5");
    // The send log keeps the client's address and the subject for the hosted API's records.
    let facts = relay.store.message_facts(&customer, &[id]).await.unwrap();
    assert_eq!(facts[&id].source_ip, "127.0.0.5");
    assert_eq!(facts[&id].subject.as_deref(), Some("hello"));
    let other = relay
        .store
        .create_contract("Other", "standard")
        .await
        .unwrap()
        .customer_id;
    assert!(
        relay
            .store
            .message_facts(&other, &[id])
            .await
            .unwrap()
            .is_empty(),
        "another contract's message is not found"
    );
    let recipients: Vec<_> = queued
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.state))
        .collect();
    assert_eq!(
        recipients,
        [
            ("user@example.jp", RecipientState::Queued),
            ("other@example.jp", RecipientState::Queued)
        ]
    );
    let events = relay.store.events_for_message(id).await.unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events.iter().all(|e| e.kind() == EventKind::Accepted),
        "{events:?}"
    );
    assert_eq!(client.send("QUIT").await, ["221 2.0.0"]);
}

async fn an_authenticated_client_may_relay_from_anywhere(relay: Relay) {
    let customer = relay.contract_allowed_from("127.0.0.5/32").await;
    relay
        .store
        .add_smtp_credential(&customer, "relay-app", "correct horse battery")
        .await
        .unwrap();
    let mut client = relay.client([127, 0, 0, 9]).await;
    // base64 of "\0relay-app\0wrong password" and of the right one.
    assert_eq!(
        client
            .send("AUTH PLAIN AHJlbGF5LWFwcAB3cm9uZyBwYXNzd29yZA==")
            .await,
        ["535 5.7.8"]
    );
    assert_eq!(
        client.send("MAIL FROM:<app@example.com>").await,
        ["550 5.7.1"]
    );
    assert_eq!(
        client
            .send("AUTH PLAIN AHJlbGF5LWFwcABjb3JyZWN0IGhvcnNlIGJhdHRlcnk=")
            .await,
        ["235 2.7.0"]
    );
    let reply = send_message(&mut client, &["user@example.jp"]).await;
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");
    assert_eq!(relay.spool.list().await.unwrap().len(), 1);
}

/// The hosted service's API users send by SMTP with their `api_user` and `api_key`: here the
/// API key's name and secret, when its role may send.
async fn an_api_keys_name_and_secret_are_smtp_credentials(relay: Relay) {
    use base64::Engine;
    let customer = relay.contract_allowed_from("127.0.0.5/32").await;
    let key = |name: &'static str, role| {
        let store = relay.store.clone();
        let customer = customer.clone();
        async move {
            store
                .create_api_key(
                    &customer,
                    &hikyaku_store::NewApiKey {
                        name,
                        role,
                        see_addresses: false,
                    },
                )
                .await
                .unwrap()
                .1
        }
    };
    let sender = key("app@shop.example", hikyaku_model::Role::Sender).await;
    let viewer = key("viewer@shop.example", hikyaku_model::Role::Viewer).await;
    let plain = |user: &str, password: &str| {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        format!("AUTH PLAIN {token}")
    };
    let mut client = relay.client([127, 0, 0, 9]).await;
    assert_eq!(
        client.send(&plain("viewer@shop.example", &viewer)).await,
        ["535 5.7.8"]
    );
    assert_eq!(
        client.send(&plain("other@shop.example", &sender)).await,
        ["535 5.7.8"]
    );
    assert_eq!(
        client.send(&plain("app@shop.example", &sender)).await,
        ["235 2.7.0"]
    );
    let reply = send_message(&mut client, &["user@example.jp"]).await;
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");
    let id: MessageId = reply.lines[0].rsplit(' ').next().unwrap().parse().unwrap();
    let (meta, _) = relay.spool.read(id).await.unwrap();
    assert_eq!(meta.customer_id, customer);
}
