//! One-click unsubscribe in the relay, over the real store (SQLite and PostgreSQL), the real
//! spool and the real SMTP engine held in memory: with the contract's setting on, each
//! recipient gets a copy of its own with `List-Unsubscribe` (a sealed link naming it, a mailto)
//! and `List-Unsubscribe-Post`; with it off, for other tags, without a public URL, or when the
//! application set its own field, one copy goes out unchanged.

use hikyaku_compose::{ComposedMessage, Composer};
use hikyaku_model::{CustomerId, MessageId, Timestamp};
use hikyaku_relay::{
    RelayHandler, RelayPolicy, SubmitPolicy, Submitter, UnsubscribeLinks, UnsubscribeStage,
};
use hikyaku_smtp_server::ServerConfig;
use hikyaku_smtp_server::testing::{HandlerConversation, WireReply};
use hikyaku_spool::SpoolMeta;
use hikyaku_store::{NewSuppression, SuppressionSource, UnsubscribeSettings};
use serde_json::json;
use std::net::{IpAddr, SocketAddr};

const BASE_URL: &str = "https://mail.platform.example";
const BOUNCE_DOMAIN: &str = "bounce.platform.example";

mod support;

use support::Relay;

impl Relay {
    fn stage(&self, links: bool) -> UnsubscribeStage {
        UnsubscribeStage::new(
            self.store.clone(),
            links.then(|| UnsubscribeLinks {
                base_url: BASE_URL.into(),
                bounce_domain: Some(BOUNCE_DOMAIN.into()),
            }),
        )
    }

    /// A contract allowed to relay from 127.0.0.5, with unsubscribe `settings`.
    async fn contract(&self, settings: UnsubscribeSettings) -> CustomerId {
        let customer = self
            .store
            .create_contract("Newsletter", "standard")
            .await
            .unwrap()
            .customer_id;
        self.store
            .add_allowed_ip(&customer, "127.0.0.5/32".parse().unwrap())
            .await
            .unwrap();
        self.store
            .set_unsubscribe_settings(&customer, &settings)
            .await
            .unwrap();
        customer
    }

    /// Sends `message` to `recipients` over SMTP from 127.0.0.5; the reply to DATA.
    async fn send_smtp(&self, links: bool, recipients: &[&str], message: &str) -> WireReply {
        let handler = RelayHandler::new(
            self.store.clone(),
            self.intake.clone(),
            RelayPolicy {
                hostname: "relay.test".into(),
                max_message_size: 2 << 20,
            },
            self.stage(links),
        );
        let peer = SocketAddr::from(([127, 0, 0, 5], 40000));
        let Ok(mut client) =
            HandlerConversation::connect(handler, ServerConfig::new("relay.test"), peer).await
        else {
            panic!("the relay refused a connection");
        };
        assert_eq!(client.send("EHLO app.example.com").await, ["220", "250"]);
        assert_eq!(
            client.send("MAIL FROM:<news@shop.example>").await,
            ["250 2.1.0"]
        );
        for recipient in recipients {
            assert_eq!(
                client.send(&format!("RCPT TO:<{recipient}>")).await,
                ["250 2.1.5"]
            );
        }
        assert_eq!(client.send("DATA").await, ["354"]);
        client.send_data(message).await
    }

    /// Every spooled message, oldest ID first.
    async fn spooled(&self) -> Vec<(SpoolMeta, String)> {
        let mut all = Vec::new();
        for id in self.spool.list().await.unwrap() {
            // A copy whose every recipient is suppressed leaves the spool in the background.
            let Ok((meta, bytes)) = self.spool.read(id).await else {
                continue;
            };
            all.push((meta, String::from_utf8(bytes).unwrap()));
        }
        all.sort_by_key(|(meta, _)| meta.id);
        all
    }
}

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
    each_recipient_gets_its_own_copy_and_link,
    without_the_setting_or_a_public_url_one_copy_goes_unchanged,
    tags_choose_the_messages_of_http_sends,
);

const MESSAGE: &str =
    "From: news@shop.example\r\nTo: undisclosed-recipients:;\r\nSubject: news\r\n\r\nHello.\r\n";

fn every_message() -> UnsubscribeSettings {
    UnsubscribeSettings {
        enabled: true,
        tags: Vec::new(),
    }
}

fn reply_id(reply: &WireReply) -> MessageId {
    assert_eq!(reply.head(), "250 2.0.0", "{reply:?}");
    reply.lines[0].rsplit(' ').next().unwrap().parse().unwrap()
}

/// The unfolded value of the message's header field `name`, if it has one (the first).
fn field(message: &str, name: &str) -> Option<String> {
    let header = message.split("\r\n\r\n").next().unwrap();
    let unfolded = header.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// The link's token and the mailto address of a `List-Unsubscribe` value.
fn link_and_mailto(value: &str) -> (String, Option<String>) {
    let mut token = None;
    let mut mailto = None;
    for part in value.split(',') {
        let uri = part.trim().trim_start_matches('<').trim_end_matches('>');
        if let Some(t) = uri.strip_prefix(&format!("{BASE_URL}/unsubscribe/")) {
            token = Some(t.to_string());
        } else if let Some(m) = uri.strip_prefix("mailto:") {
            mailto = Some(m.to_string());
        } else {
            panic!("unexpected URI {uri:?} in {value:?}");
        }
    }
    (token.expect("a link"), mailto)
}

async fn each_recipient_gets_its_own_copy_and_link(relay: Relay) {
    let customer = relay.contract(every_message()).await;
    relay
        .store
        .add_suppressions(
            &customer,
            &[NewSuppression {
                address: "gone@example.jp",
                source: SuppressionSource::Manual,
                reason: None,
                message_id: None,
            }],
            Timestamp::now(),
        )
        .await
        .unwrap();
    let recipients = ["taro@example.jp", "Hanako@Example.net", "gone@example.jp"];
    let reply = relay.send_smtp(true, &recipients, MESSAGE).await;
    let first = reply_id(&reply);
    let spooled = relay.spooled().await;
    // The suppressed recipient's copy was complete at once and left the spool.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut spooled = spooled;
    while spooled.len() > 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        spooled = relay.spooled().await;
    }
    assert_eq!(spooled.len(), 2, "one copy per recipient still to deliver");
    // Copies made in one millisecond do not sort by ID in envelope order: by recipient, then.
    spooled.sort_by_key(|(meta, _)| {
        recipients
            .iter()
            .position(|r| meta.envelope.recipients == [*r])
            .unwrap_or(usize::MAX)
    });
    assert_eq!(spooled[0].0.id, first, "the reply names the first copy");
    let key = relay.store.unsubscribe_key();
    let mut tokens = Vec::new();
    for ((meta, text), recipient) in spooled.iter().zip(recipients) {
        assert_eq!(meta.envelope.recipients, [recipient]);
        assert_eq!(meta.envelope.mail_from, "news@shop.example");
        assert!(
            text.contains(&format!("X-Hikyaku-Message-Id: {}", meta.id)),
            "{text}"
        );
        assert!(text.contains(&format!("for <{recipient}>")), "{text}");
        assert_eq!(
            field(text, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        let value = field(text, "List-Unsubscribe").expect("List-Unsubscribe");
        let (token, mailto) = link_and_mailto(&value);
        let opened = key.open(&token).unwrap();
        assert_eq!(opened.customer_id, customer);
        assert_eq!(opened.message_id, meta.id);
        assert_eq!(opened.address, recipient);
        let mailto = mailto.expect("a mailto on the platform's bounce domain");
        let (local, domain) = mailto.split_once('@').unwrap();
        assert_eq!(domain, BOUNCE_DOMAIN);
        assert!(local.len() <= 64, "{local}");
        assert_eq!(key.open_mailto(&mailto), Some(meta.id));
        // The fields sit in the header section, above the body, once each.
        let (header, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(header.matches("List-Unsubscribe:").count(), 1);
        assert_eq!(body, "Hello.\r\n");
        tokens.push(token);
        let queued = relay.store.queued_message(meta.id).await.unwrap().unwrap();
        assert_eq!(queued.recipients.len(), 1);
        assert_eq!(queued.recipients[0].address, recipient);
    }
    assert_ne!(tokens[0], tokens[1], "unique per recipient");
    let suppressed_copy: Vec<_> = relay
        .store
        .search_events(&hikyaku_store::EventQuery {
            customer: Some(customer.clone()),
            recipient: Some("gone@example.jp".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .events;
    assert!(
        suppressed_copy
            .iter()
            .any(|e| e.kind() == hikyaku_model::EventKind::Suppressed),
        "{suppressed_copy:?}"
    );

    // The application's own field is left alone, and then one copy serves everyone.
    let own = format!("List-Unsubscribe: <https://shop.example/u/1>\r\n{MESSAGE}");
    let before = relay.spooled().await.len();
    let reply = relay
        .send_smtp(true, &["taro@example.jp", "hanako@example.net"], &own)
        .await;
    let id = reply_id(&reply);
    let (meta, text) = relay
        .spooled()
        .await
        .into_iter()
        .find(|(meta, _)| meta.id == id)
        .unwrap();
    assert_eq!(relay.spooled().await.len(), before + 1);
    assert_eq!(meta.envelope.recipients.len(), 2);
    assert_eq!(
        field(&text, "List-Unsubscribe").as_deref(),
        Some("<https://shop.example/u/1>")
    );
    assert_eq!(field(&text, "List-Unsubscribe-Post"), None);
}

async fn without_the_setting_or_a_public_url_one_copy_goes_unchanged(relay: Relay) {
    let off = relay.contract(UnsubscribeSettings::default()).await;
    let reply = relay
        .send_smtp(false, &["taro@example.jp", "hanako@example.net"], MESSAGE)
        .await;
    reply_id(&reply);
    // Settings on, but no public URL: the stage is off.
    relay
        .store
        .set_unsubscribe_settings(&off, &every_message())
        .await
        .unwrap();
    let reply = relay
        .send_smtp(false, &["taro@example.jp", "hanako@example.net"], MESSAGE)
        .await;
    reply_id(&reply);
    let spooled = relay.spooled().await;
    assert_eq!(spooled.len(), 2);
    for (meta, text) in spooled {
        assert_eq!(meta.envelope.recipients.len(), 2);
        assert_eq!(field(&text, "List-Unsubscribe"), None, "{text}");
    }
    // SMTP mail has no tags: a setting limited to tags leaves it alone.
    relay
        .store
        .set_unsubscribe_settings(
            &off,
            &UnsubscribeSettings {
                enabled: true,
                tags: vec!["newsletter".into()],
            },
        )
        .await
        .unwrap();
    // A fresh stage, so the setting is read now rather than after the cache's minute.
    let reply = relay
        .send_smtp(true, &["taro@example.jp", "hanako@example.net"], MESSAGE)
        .await;
    let id = reply_id(&reply);
    let (meta, text) = relay
        .spooled()
        .await
        .into_iter()
        .find(|(meta, _)| meta.id == id)
        .unwrap();
    assert_eq!(meta.envelope.recipients.len(), 2);
    assert_eq!(field(&text, "List-Unsubscribe"), None, "{text}");
}

fn composed(to: &[&str], tags: &[&str]) -> ComposedMessage {
    let request = serde_json::from_value(json!({
        "from": "news@shop.example",
        "to": to,
        "subject": "news",
        "text": "Hello.",
        "tags": tags,
    }))
    .unwrap();
    let at = Timestamp::now();
    Composer::new("mx1.hikyaku.example", 2 << 20)
        .compose(&request, MessageId::new(at), at)
        .unwrap()
}

async fn tags_choose_the_messages_of_http_sends(relay: Relay) {
    let customer = relay
        .contract(UnsubscribeSettings {
            enabled: true,
            tags: vec!["newsletter".into()],
        })
        .await;
    let submitter = Submitter::new(
        relay.store.clone(),
        relay.intake.clone(),
        SubmitPolicy {
            hostname: "mx1.hikyaku.example".into(),
            max_message_size: 2 << 20,
            max_recipients: 100,
        },
        relay.stage(true),
    );
    let client = IpAddr::from([192, 0, 2, 7]);
    let receipt = composed(&["taro@example.jp", "hanako@example.net"], &["receipt"]);
    let outcome = submitter.submit(&customer, client, receipt).await.unwrap();
    assert!(outcome.copies.is_empty());
    let (meta, text) = relay.spooled().await.pop().unwrap();
    assert_eq!(meta.envelope.recipients.len(), 2);
    assert_eq!(field(&text, "List-Unsubscribe"), None);

    let news = composed(
        &["taro@example.jp", "hanako@example.net"],
        &["newsletter", "jp"],
    );
    let id = news.id;
    let outcome = submitter.submit(&customer, client, news).await.unwrap();
    assert_eq!(outcome.id, id);
    assert_eq!(outcome.accepted, ["taro@example.jp", "hanako@example.net"]);
    assert_eq!(outcome.copies.len(), 2);
    assert_eq!(outcome.copies[0], (id, "taro@example.jp".to_string()));
    assert_eq!(outcome.copies[1].1, "hanako@example.net");
    let key = relay.store.unsubscribe_key();
    for (copy, recipient) in &outcome.copies {
        let (meta, bytes) = relay.spool.read(*copy).await.unwrap();
        assert_eq!(meta.envelope.recipients, std::slice::from_ref(recipient));
        assert_eq!(meta.tags, ["newsletter", "jp"]);
        let text = String::from_utf8(bytes).unwrap();
        let (token, _) = link_and_mailto(&field(&text, "List-Unsubscribe").unwrap());
        assert_eq!(key.open(&token).unwrap().address, *recipient);
        assert_eq!(key.open(&token).unwrap().message_id, *copy);
    }
}
