//! The HTTP API's way into the relay, over the real store (SQLite in a temporary directory, and
//! PostgreSQL) and the real spool: a composed message is spooled with its tags and metadata,
//! queued with its events, suppressed recipients are reported, and a contract that may not
//! send, an oversized message, too many recipients and a full spool are refused with nothing
//! kept.

use hikyaku_compose::{ComposedMessage, Composer};
use hikyaku_model::{ContractState, CustomerId, EventKind, MessageId, RecipientState, Timestamp};
use hikyaku_relay::{Intake, SubmitError, SubmitPolicy, Submitter};
use hikyaku_spool::Spool;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{NewSuppression, SealingKey, Store, SuppressionSource};
use serde_json::json;
use std::net::IpAddr;

struct Relay {
    store: Store,
    spool: Spool,
    intake: Intake,
    _data: tempfile::TempDir,
    _postgres: Option<PostgresTestDatabase>,
}

const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

impl Relay {
    async fn sqlite() -> Relay {
        let data = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", data.path().join("hikyaku.db").display());
        Relay::open(&url, data, None, 1 << 30).await
    }

    async fn postgres() -> Option<Relay> {
        let database = PostgresTestDatabase::create().await?;
        let url = database.url().to_string();
        Some(Relay::open(&url, tempfile::tempdir().unwrap(), Some(database), 1 << 30).await)
    }

    async fn open(
        url: &str,
        data: tempfile::TempDir,
        postgres: Option<PostgresTestDatabase>,
        spool_limit: u64,
    ) -> Relay {
        let store = Store::connect(url, SealingKey::generate()).await.unwrap();
        let (spool, _) = Spool::open(&data.path().join("spool"), spool_limit).unwrap();
        let intake = Intake::start(spool.clone(), store.clone(), "node-a".into(), None);
        Relay {
            store,
            spool,
            intake,
            _data: data,
            _postgres: postgres,
        }
    }

    fn submitter(&self, max_message_size: u64, max_recipients: usize) -> Submitter {
        Submitter::new(
            self.store.clone(),
            self.intake.clone(),
            SubmitPolicy {
                hostname: "mx1.hikyaku.example".into(),
                max_message_size,
                max_recipients,
            },
            hikyaku_relay::UnsubscribeStage::new(self.store.clone(), None),
        )
    }

    async fn contract(&self) -> CustomerId {
        self.store
            .create_contract("HTTP sender", "standard")
            .await
            .unwrap()
            .customer_id
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
    a_message_is_spooled_queued_and_logged,
    suppressed_recipients_are_reported_and_not_queued,
    a_contract_that_may_not_send_is_refused,
    a_contract_paused_by_the_reputation_guard_gets_429_until_resumed,
    limits_are_the_relays,
    a_batch_goes_in_together_and_fails_alone,
);

fn composed(to: &[&str]) -> ComposedMessage {
    let request = serde_json::from_value(json!({
        "from": {"name": "Shop", "address": "shop@example.com"},
        "to": to,
        "bcc": "archive@example.com",
        "subject": "ご注文ありがとうございます",
        "text": "Thank you.",
        "tags": ["order", "jp:web"],
        "metadata": {"order_id": "A-1"},
    }))
    .unwrap();
    let at = Timestamp::now();
    Composer::new("mx1.hikyaku.example", 2 << 20)
        .compose(&request, MessageId::new(at), at)
        .unwrap()
}

async fn a_message_is_spooled_queued_and_logged(relay: Relay) {
    let customer = relay.contract().await;
    let message = composed(&["taro@example.jp", "hanako@example.jp"]);
    let id = message.id;
    let outcome = relay
        .submitter(1 << 20, 100)
        .submit(&customer, CLIENT, message.clone())
        .await
        .unwrap();
    assert_eq!(outcome.id, id);
    assert_eq!(
        outcome.accepted,
        [
            "taro@example.jp",
            "hanako@example.jp",
            "archive@example.com"
        ]
    );
    assert!(outcome.suppressed.is_empty());

    let (meta, body) = relay.spool.read(id).await.unwrap();
    assert_eq!(meta.customer_id, customer);
    assert_eq!(meta.envelope, message.envelope);
    assert_eq!(meta.source_ip, "192.0.2.7");
    assert_eq!(meta.tags, ["order", "jp:web"]);
    assert_eq!(meta.metadata["order_id"], "A-1");
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("Received: from [192.0.2.7] ([192.0.2.7])\r\n\tby mx1.hikyaku.example (Hikyaku)\r\n\twith HTTP id "), "{text}");
    assert!(text.contains(&format!("X-Hikyaku-Message-Id: {id}\r\n")));
    assert!(text.ends_with(std::str::from_utf8(&message.message).unwrap()));
    assert_eq!(
        text.matches("Message-ID:").count(),
        1,
        "the composer's Message-ID is kept, not doubled"
    );

    let queued = relay.store.queued_message(id).await.unwrap().unwrap();
    assert_eq!(queued.customer_id, customer);
    assert_eq!(queued.mail_from, "shop@example.com");
    assert_eq!(queued.recipients.len(), 3);
    assert!(
        queued
            .recipients
            .iter()
            .all(|r| r.state == RecipientState::Queued)
    );
    let events = relay.store.events_for_message(id).await.unwrap();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events.iter().all(|e| e.kind() == EventKind::Accepted));
    // The request's tags and metadata reach the send log through the spool's record.
    for event in &events {
        assert_eq!(event.tags, ["jp:web", "order"], "{event:?}"); // read back in order
        assert_eq!(event.metadata["order_id"], "A-1", "{event:?}");
    }
}

async fn suppressed_recipients_are_reported_and_not_queued(relay: Relay) {
    let customer = relay.contract().await;
    relay
        .store
        .add_suppressions(
            &customer,
            &[NewSuppression {
                address: "Hanako@Example.jp",
                source: SuppressionSource::Manual,
                reason: None,
                message_id: None,
            }],
            Timestamp::now(),
        )
        .await
        .unwrap();
    let message = composed(&["taro@example.jp", "hanako@example.jp"]);
    let outcome = relay
        .submitter(1 << 20, 100)
        .submit(&customer, CLIENT, message.clone())
        .await
        .unwrap();
    assert_eq!(outcome.accepted, ["taro@example.jp", "archive@example.com"]);
    assert_eq!(outcome.suppressed, ["hanako@example.jp"]);
    let queued = relay
        .store
        .queued_message(message.id)
        .await
        .unwrap()
        .unwrap();
    let hanako = queued
        .recipients
        .iter()
        .find(|r| r.address == "hanako@example.jp")
        .unwrap();
    assert_eq!(hanako.state, RecipientState::Suppressed);

    // Another contract's list is not this one's.
    let other = relay.contract().await;
    let outcome = relay
        .submitter(1 << 20, 100)
        .submit(&other, CLIENT, composed(&["hanako@example.jp"]))
        .await
        .unwrap();
    assert!(outcome.suppressed.is_empty());
}

async fn a_contract_that_may_not_send_is_refused(relay: Relay) {
    let customer = relay.contract().await;
    let submitter = relay.submitter(1 << 20, 100);
    for (state, expected) in [
        (ContractState::Suspended, "is suspended"),
        (ContractState::Terminated, "is terminated"),
    ] {
        relay
            .store
            .set_contract_state(&customer, state)
            .await
            .unwrap();
        let error = submitter
            .submit(&customer, CLIENT, composed(&["taro@example.jp"]))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, SubmitError::ContractRefused { state: s, .. } if *s == state),
            "{error:?}"
        );
        assert_eq!(error.http_status(), 403);
        assert_eq!(error.retry_after(), None);
        assert!(error.to_string().contains(expected), "{error}");
    }
    let unknown: CustomerId = "cnobody22".parse().unwrap();
    let error = submitter
        .submit(&unknown, CLIENT, composed(&["taro@example.jp"]))
        .await
        .unwrap_err();
    assert!(matches!(error, SubmitError::ContractMissing(_)));
    assert!(relay.spool.list().await.unwrap().is_empty());
}

async fn a_contract_paused_by_the_reputation_guard_gets_429_until_resumed(relay: Relay) {
    let customer = relay.contract().await;
    let submitter = relay.submitter(1 << 20, 100);
    relay
        .store
        .pause_sending(
            &customer,
            Timestamp::now(),
            "hard-bounce rate 9.00 % is above 5 %",
            None,
        )
        .await
        .unwrap();
    let error = submitter
        .submit(&customer, CLIENT, composed(&["taro@example.jp"]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SubmitError::SendingPaused { .. }),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 429);
    assert_eq!(error.retry_after(), None, "only the operator ends a pause");
    let text = error.to_string();
    assert!(
        text.contains("reputation guard") && text.contains("hard-bounce rate 9.00 %"),
        "{text}"
    );
    assert!(relay.spool.list().await.unwrap().is_empty());

    assert!(
        relay
            .store
            .resume_sending(&customer, Timestamp::now())
            .await
            .unwrap()
    );
    submitter
        .submit(&customer, CLIENT, composed(&["taro@example.jp"]))
        .await
        .unwrap();
}

async fn limits_are_the_relays(relay: Relay) {
    let customer = relay.contract().await;
    let message = composed(&["taro@example.jp"]);
    let size = message.message.len() as u64;
    let error = relay
        .submitter(size - 1, 100)
        .submit(&customer, CLIENT, message.clone())
        .await
        .unwrap_err();
    assert!(matches!(error, SubmitError::TooLarge { .. }), "{error:?}");
    assert_eq!(error.http_status(), 413);

    let error = relay
        .submitter(1 << 20, 2)
        .submit(
            &customer,
            CLIENT,
            composed(&["a@example.jp", "b@example.jp"]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, SubmitError::TooManyRecipients { count: 3, limit: 2 }),
        "{error:?}"
    );
    assert_eq!(error.http_status(), 422);
    assert!(relay.spool.list().await.unwrap().is_empty());

    // Exactly at the limit is fine.
    relay
        .submitter(size, 100)
        .submit(&customer, CLIENT, message)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_is_a_retryable_refusal() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("hikyaku.db").display());
    let relay = Relay::open(&url, data, None, 4096).await;
    let customer = relay.contract().await;
    let submitter = relay.submitter(1 << 20, 100);
    let mut message = composed(&["taro@example.jp"]);
    message
        .message
        .extend(std::iter::repeat_n(b'x', 5000).chain(*b"\r\n"));
    let error = submitter
        .submit(&customer, CLIENT, message)
        .await
        .unwrap_err();
    assert!(matches!(error, SubmitError::OutOfSpace(_)), "{error:?}");
    assert_eq!(error.http_status(), 503);
    assert!(error.retry_after().is_some());
    assert!(relay.spool.list().await.unwrap().is_empty());
    // A message that fits still goes through.
    submitter
        .submit(&customer, CLIENT, composed(&["taro@example.jp"]))
        .await
        .unwrap();
}

async fn a_batch_goes_in_together_and_fails_alone(relay: Relay) {
    let customer = relay.contract().await;
    let batch: hikyaku_api_types::BatchSendRequest = serde_json::from_value(json!({
        "template": {"from": "shop@example.com", "subject": "Hello {{name}}", "text": "Hi {{name}}"},
        "recipients": (0..150).map(|i| json!({
            "to": format!("user{i}@example.jp"),
            "substitutions": {"name": format!("user {i}")},
        })).collect::<Vec<_>>(),
    }))
    .unwrap();
    let at = Timestamp::now();
    let mut messages: Vec<ComposedMessage> = Composer::new("mx1.hikyaku.example", 1 << 20)
        .compose_batch(&batch, at, || MessageId::new(at))
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // One message too large for the relay: refused alone.
    messages[70].message.extend(std::iter::repeat_n(b'x', 4096));
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    let results = relay
        .submitter(4096, 100)
        .submit_all(&customer, CLIENT, messages)
        .await;
    assert_eq!(results.len(), 150);
    for (i, (result, id)) in results.iter().zip(&ids).enumerate() {
        match result {
            Ok(outcome) => {
                assert_ne!(i, 70);
                assert_eq!(outcome.id, *id, "results come back in order");
                assert_eq!(outcome.accepted, [format!("user{i}@example.jp")]);
            }
            Err(error) => {
                assert_eq!(i, 70, "{error}");
                assert!(matches!(error, SubmitError::TooLarge { .. }));
            }
        }
    }
    assert_eq!(relay.spool.list().await.unwrap().len(), 149);
    let (_, body) = relay.spool.read(ids[42]).await.unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("Subject: Hello user 42\r\n"),
        "each message has its own substitutions"
    );
}
