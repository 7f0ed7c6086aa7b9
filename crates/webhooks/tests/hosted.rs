//! The hosted service's event webhook, read by a receiver we did not write (Python's `json` and
//! `urllib.parse`, `FormReceiver`): accepted, delivered, bounced and unsubscribed events reach a
//! JSON endpoint (with an `api_key`, whose first attempt of each request fails) and a
//! form-encoded one as `{api_key, server_composition, event_type, event}` requests of one event
//! type each, with the hosted API's records, retried under the same `webhook-id` with the same
//! body, every request in the attempt log. On SQLite and PostgreSQL.

use hikyaku_model::{
    CustomerId, EnhancedStatus, Envelope, EventDetails, EventKind, EventSource, Exchange,
    MessageId, Reason, Remote, Timestamp, UnsubscribeMethod,
};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{
    AcceptedMessage, Outcome, RecipientOutcome, SealingKey, SoftBouncePolicy, Store,
    SuppressionEffect, Unsubscription, WebhookFormat, WebhookOutcome,
};
use hikyaku_testkit::FormReceiver;
use hikyaku_webhooks::{EndpointOptions, Sender, WebhookSettings};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_formats_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hikyaku.db").display());
    hosted_formats(Store::connect(&url, SealingKey::generate()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_formats_on_postgres() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    hosted_formats(
        Store::connect(database.url(), SealingKey::generate())
            .await
            .unwrap(),
    )
    .await;
}

fn settings() -> WebhookSettings {
    WebhookSettings {
        batch_window: Duration::from_millis(300),
        poll_interval: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        backoff: hikyaku_http_post::Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(300),
        },
        allow_private_endpoints: true,
        // Not the default Tokyo: the records must follow the zone the sender is given.
        records_offset_minutes: -300,
        ..WebhookSettings::default()
    }
}

async fn accept(store: &Store, customer: &CustomerId, recipients: &[&str]) -> MessageId {
    let now = Timestamp::now();
    let id = MessageId::new(now);
    let message = AcceptedMessage {
        id,
        customer_id: customer.clone(),
        envelope: Envelope {
            mail_from: "shop@sender.example".into(),
            recipients: recipients.iter().map(|r| r.to_string()).collect(),
        },
        size: 100,
        received_at: now,
        source_ip: "192.0.2.1".into(),
        node: "node-a".into(),
        tags: Vec::new(),
        metadata: [("api_data".to_string(), "order-42".to_string())].into(),
        subject: Some("ご注文 #42".into()),
    };
    store.record_accepted(&[message]).await.unwrap();
    id
}

fn exchange(code: u16, status: &str, text: &str) -> Exchange {
    Exchange {
        remote: Some(Remote {
            host: "mx.rcpt.example".into(),
            ip: Some("192.0.2.25".parse().unwrap()),
            port: Some(25),
            tls: Some(true),
        }),
        code: Some(code),
        status: Some(status.parse::<EnhancedStatus>().unwrap()),
        text: Some(text.into()),
        ..Exchange::by(EventSource::Smtp)
    }
}

/// Every request the receiver answered 200 at `path`, by `webhook-id`, as a receiver that
/// dedupes keeps them. An ID may be answered 200 more than once (a batch's later request failed,
/// and the batch was sent again): with the same body each time.
fn delivered(received: &[Value], path: &str) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for entry in received.iter().filter(|e| e["path"] == path) {
        assert!(entry.get("error").is_none(), "{entry:#?}");
        if entry["status"] == 200 {
            let id = entry["id"].as_str().unwrap().to_string();
            if let Some(first) = out.get(&id) {
                assert_eq!(first["fields"], entry["fields"], "{id} sent again changed");
            } else {
                out.insert(id, entry.clone());
            }
        }
    }
    out
}

/// The records of each event type across the requests, with each request checked to carry
/// one event type under its own name.
fn records_by_type(
    requests: &BTreeMap<String, Value>,
    event_of: impl Fn(&Value) -> Value,
) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (id, entry) in requests {
        let fields = &entry["fields"];
        let event_type = fields["event_type"].as_str().unwrap().to_string();
        assert!(
            id.ends_with(&format!("-{event_type}")),
            "{id} names its type"
        );
        let event = event_of(&fields["event"]);
        let object = event.as_object().unwrap();
        assert_eq!(
            object.keys().collect::<Vec<_>>(),
            [&event_type],
            "one event type per request: {event}"
        );
        let records = object[&event_type].as_array().unwrap().iter().cloned();
        out.entry(event_type).or_default().extend(records);
    }
    out
}

fn field<'a>(records: &'a [Value], to: &str, status: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["to"] == to && r["status"] == status)
        .unwrap_or_else(|| panic!("no {status} record for {to} in {records:#?}"))
}

async fn hosted_formats(store: Store) {
    let Some(receiver) = FormReceiver::start() else {
        return;
    };
    let customer = store
        .create_contract("Hosted Hooks", "standard")
        .await
        .unwrap()
        .customer_id;
    let every = hikyaku_webhooks::parse_kinds_for::<&str>(None, WebhookFormat::HostedJson).unwrap();
    assert!(!every.contains(&EventKind::Inbound));
    let json_options = EndpointOptions {
        one_per_request: false,
        format: WebhookFormat::HostedJson,
        api_key: Some("receiver-key-1".into()),
    };
    let (json_id, _) = hikyaku_webhooks::add_endpoint_with(
        &store,
        &customer,
        &receiver.url("/flaky/json"),
        &every,
        &json_options,
        true,
    )
    .await
    .unwrap();
    let form_options = EndpointOptions {
        format: WebhookFormat::HostedForm,
        ..EndpointOptions::default()
    };
    let (form_id, _) = hikyaku_webhooks::add_endpoint_with(
        &store,
        &customer,
        &receiver.url("/form"),
        &every,
        &form_options,
        true,
    )
    .await
    .unwrap();
    let endpoints = store.webhook_endpoints(&customer).await.unwrap();
    assert_eq!(endpoints[0].format, WebhookFormat::HostedJson);
    assert_eq!(endpoints[0].api_key.as_deref(), Some("receiver-key-1"));
    assert_eq!(endpoints[1].format, WebhookFormat::HostedForm);
    assert_eq!(endpoints[1].api_key, None);
    let shown = hikyaku_webhooks::shown(&endpoints[0]);
    assert_eq!(
        (shown.format.as_str(), shown.api_key_set),
        ("hosted-json", true)
    );

    // Options that cannot be are refused before anything is stored.
    for (kinds, options) in [
        (
            vec![EventKind::Inbound],
            EndpointOptions {
                format: WebhookFormat::HostedJson,
                ..EndpointOptions::default()
            },
        ),
        (
            vec![EventKind::Delivered],
            EndpointOptions {
                api_key: Some("k".into()),
                ..EndpointOptions::default()
            },
        ),
        (
            vec![EventKind::Delivered],
            EndpointOptions {
                format: WebhookFormat::HostedForm,
                api_key: Some("has space".into()),
                ..EndpointOptions::default()
            },
        ),
    ] {
        let refused = hikyaku_webhooks::add_endpoint_with(
            &store,
            &customer,
            &receiver.url("/never"),
            &kinds,
            &options,
            true,
        )
        .await;
        assert!(refused.is_err(), "{options:?} for {kinds:?}");
    }
    assert_eq!(store.webhook_endpoints(&customer).await.unwrap().len(), 2);

    let sender = Sender::new(store.clone(), settings()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sender.run(async {
        let _ = stopped.await;
    }));

    let delivered_id = accept(&store, &customer, &["taro@rcpt.example"]).await;
    let bounced_id = accept(&store, &customer, &["nobody@rcpt.example"]).await;
    let now = Timestamp::now();
    let outcomes = [
        RecipientOutcome {
            message_id: delivered_id,
            recipient_index: 0,
            at: now,
            outcome: Outcome::Delivered,
            details: EventDetails::Delivered {
                exchange: exchange(250, "2.0.0", "queued as 12345"),
            },
            suppression: SuppressionEffect::Nothing,
        },
        RecipientOutcome {
            message_id: bounced_id,
            recipient_index: 0,
            at: now,
            outcome: Outcome::Bounced,
            details: EventDetails::Bounced {
                exchange: exchange(550, "5.1.1", "no such user"),
                reason: Reason::UserUnknown,
                hard: true,
            },
            suppression: SuppressionEffect::Nothing,
        },
    ];
    store
        .record_outcomes(&outcomes, &SoftBouncePolicy::OFF)
        .await
        .unwrap();
    store
        .record_unsubscribe(&Unsubscription {
            customer_id: &customer,
            message_id: delivered_id,
            address: "taro@rcpt.example",
            method: UnsubscribeMethod::OneClick,
            at: Timestamp::now(),
        })
        .await
        .unwrap();

    // Two queued, one succeeded and one failed delivery; one bounce; one block.
    let complete = |received: &[Value], path: &str, parse: &dyn Fn(&Value) -> Value| {
        let by_type = records_by_type(&delivered(received, path), parse);
        by_type.get("deliveries").map_or(0, Vec::len) == 4
            && by_type.get("bounces").map_or(0, Vec::len) == 1
            && by_type.get("blocks").map_or(0, Vec::len) == 1
    };
    let as_is = |v: &Value| v.clone();
    let from_string = |v: &Value| serde_json::from_str(v.as_str().expect("a JSON string")).unwrap();
    let received = receiver.wait_for(Duration::from_secs(60), |r| {
        complete(r, "/flaky/json", &as_is) && complete(r, "/form", &from_string)
    });
    stop.send(()).unwrap();
    running.await.unwrap();

    for (path, parse) in [
        ("/flaky/json", &as_is as &dyn Fn(&Value) -> Value),
        ("/form", &from_string),
    ] {
        let requests = delivered(&received, path);
        for entry in requests.values() {
            let fields = entry["fields"].as_object().unwrap();
            assert_eq!(fields["server_composition"], customer.as_str());
            if path == "/form" {
                assert_eq!(entry["content_type"], "application/x-www-form-urlencoded");
                assert!(fields.get("api_key").is_none(), "{entry:#?}");
                assert_eq!(fields.len(), 3, "{entry:#?}");
            } else {
                assert_eq!(entry["content_type"], "application/json");
                assert_eq!(fields["api_key"], "receiver-key-1");
                assert_eq!(fields.len(), 4, "{entry:#?}");
            }
        }
        let by_type = records_by_type(&requests, parse);
        let deliveries = &by_type["deliveries"];
        let queued = field(deliveries, "taro@rcpt.example", "queued");
        assert_eq!(queued["returnPath"], "shop@sender.example");
        assert_eq!(queued["messageId"], delivered_id.to_string());
        assert_eq!(queued["apiData"], "order-42");
        let created = queued["created"].as_str().unwrap();
        assert_eq!(created.len(), 19, "YYYY-MM-DD HH:MM:SS: {created}");
        // Five hours west of UTC, as configured: read back as UTC, it is five hours behind.
        let local: Timestamp = format!("{}T{}Z", &created[..10], &created[11..])
            .parse()
            .unwrap();
        let lag = Timestamp::now().as_millis() - local.as_millis() - 5 * 3_600_000;
        assert!((0..120_000).contains(&lag), "{created} is not UTC-5 now");
        assert_eq!(queued["sourceIp"], "192.0.2.1");
        assert_eq!(queued["subject"], "ご注文 #42");
        field(deliveries, "nobody@rcpt.example", "queued");
        let succeeded = field(deliveries, "taro@rcpt.example", "succeeded");
        assert_eq!(succeeded["senderIp"], "192.0.2.25");
        let failed = field(deliveries, "nobody@rcpt.example", "failed");
        assert_eq!(failed["reason"], "550 5.1.1 no such user");
        for record in deliveries {
            let mut keys: Vec<&String> = record.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "apiData",
                    "created",
                    "from",
                    "messageId",
                    "reason",
                    "returnPath",
                    "senderIp",
                    "sourceIp",
                    "status",
                    "subject",
                    "to"
                ]
            );
        }
        let bounce = &by_type["bounces"][0];
        assert_eq!(bounce["to"], "nobody@rcpt.example");
        assert_eq!(bounce["status"], "2", "user unknown is error status 2");
        assert_eq!(bounce["messageId"], bounced_id.to_string());
        let block = &by_type["blocks"][0];
        assert_eq!(block["email"], "taro@rcpt.example");
        assert_eq!(
            block["status"], "11",
            "an unsubscription is error status 11"
        );
        let mut keys: Vec<&String> = block.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["created", "email", "id", "occurred", "status"]);
    }

    // Each request to the flaky endpoint failed once and was sent again unchanged.
    let flaky: Vec<&Value> = received
        .iter()
        .filter(|e| e["path"] == "/flaky/json")
        .collect();
    let ids: BTreeSet<&str> = flaky.iter().map(|e| e["id"].as_str().unwrap()).collect();
    for id in &ids {
        let attempts: Vec<&&Value> = flaky.iter().filter(|e| e["id"] == *id).collect();
        assert!(attempts.len() >= 2, "{id}: {attempts:#?}");
        assert_eq!(attempts[0]["status"], 500);
        assert!(
            attempts
                .iter()
                .all(|a| a["fields"] == attempts[0]["fields"]),
            "a retry sends the same body: {attempts:#?}"
        );
    }
    let log = store
        .webhook_attempts(&customer, json_id, 100)
        .await
        .unwrap();
    assert!(
        log.iter()
            .any(|a| a.attempt.outcome == WebhookOutcome::Retry
                && a.attempt.http_status == Some(500)),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|a| a.attempt.outcome == WebhookOutcome::Delivered),
        "{log:#?}"
    );
    let form_log = store
        .webhook_attempts(&customer, form_id, 100)
        .await
        .unwrap();
    assert!(
        form_log
            .iter()
            .all(|a| a.attempt.outcome == WebhookOutcome::Delivered),
        "{form_log:#?}"
    );
}
