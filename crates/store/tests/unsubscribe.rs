//! One-click unsubscribe on both backends: the per-contract setting, and a recipient's use of
//! the link — on the suppression list with reason `unsubscribed`, one `unsubscribed` event with
//! its webhook outbox row however often the link is used, contracts kept apart, the address
//! sealed at rest.

mod common;

use common::{Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{EventDetails, EventKind, MessageId, Timestamp, UnsubscribeMethod};
use hikyaku_store::suppression_policy::SuppressionSource;
use hikyaku_store::{
    EventQuery, Granularity, StoreError, UNSUBSCRIBED_REASON, UnsubscribeRecord,
    UnsubscribeSettings, Unsubscription, WebhookEvent,
};

on_both_backends!(
    settings_are_kept_per_contract,
    an_unsubscription_suppresses_once_and_records_one_event,
    unsubscriptions_stay_within_their_contract,
    unsubscribed_addresses_are_sealed_at_rest,
);

async fn settings_are_kept_per_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    assert_eq!(
        store.unsubscribe_settings(&a).await.unwrap(),
        UnsubscribeSettings::default()
    );
    let news = UnsubscribeSettings {
        enabled: true,
        tags: vec!["newsletter".into(), "promo".into(), "newsletter".into()],
    };
    store.set_unsubscribe_settings(&a, &news).await.unwrap();
    assert_eq!(
        store.unsubscribe_settings(&a).await.unwrap(),
        UnsubscribeSettings {
            enabled: true,
            tags: vec!["newsletter".into(), "promo".into()],
        }
    );
    assert!(!store.unsubscribe_settings(&b).await.unwrap().enabled);
    // Replaced as a whole: no tags now means every message.
    let every = UnsubscribeSettings {
        enabled: true,
        tags: Vec::new(),
    };
    store.set_unsubscribe_settings(&a, &every).await.unwrap();
    assert_eq!(store.unsubscribe_settings(&a).await.unwrap(), every);
    let off = UnsubscribeSettings::default();
    store.set_unsubscribe_settings(&a, &off).await.unwrap();
    assert_eq!(store.unsubscribe_settings(&a).await.unwrap(), off);

    let nobody = "cnobody22".parse().unwrap();
    assert!(matches!(
        store.set_unsubscribe_settings(&nobody, &every).await,
        Err(StoreError::ContractNotFound(_))
    ));
    assert!(matches!(
        store.unsubscribe_settings(&nobody).await,
        Err(StoreError::ContractNotFound(_))
    ));
    let empty_tag = UnsubscribeSettings {
        enabled: true,
        tags: vec![String::new()],
    };
    assert!(
        store
            .set_unsubscribe_settings(&a, &empty_tag)
            .await
            .is_err()
    );
}

async fn an_unsubscription_suppresses_once_and_records_one_event(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let hook = store
        .add_webhook_endpoint(
            &a,
            "https://hooks.example.jp/h",
            "whsec",
            &[EventKind::Unsubscribed],
            Timestamp(1_000),
        )
        .await
        .unwrap();
    let message = accepted(&a, 10_000, "news@shop.example", &["Bob@Example.jp"]);
    store
        .record_accepted(std::slice::from_ref(&message))
        .await
        .unwrap();
    let use_link = |at: i64, method| Unsubscription {
        customer_id: &a,
        message_id: message.id,
        address: "Bob@Example.jp",
        method,
        at: Timestamp(at),
    };
    assert_eq!(
        store
            .record_unsubscribe(&use_link(20_000, UnsubscribeMethod::OneClick))
            .await
            .unwrap(),
        UnsubscribeRecord {
            event_recorded: true,
            newly_listed: true,
        }
    );
    // A client that POSTs twice, or the mailto after the link: nothing more.
    for method in [UnsubscribeMethod::OneClick, UnsubscribeMethod::Mailto] {
        assert_eq!(
            store
                .record_unsubscribe(&use_link(21_000, method))
                .await
                .unwrap(),
            UnsubscribeRecord {
                event_recorded: false,
                newly_listed: false,
            }
        );
    }
    let entry = store
        .suppression(&a, "bob@example.jp")
        .await
        .unwrap()
        .expect("listed");
    assert_eq!(entry.source, SuppressionSource::Unsubscribe);
    assert_eq!(entry.reason.as_deref(), Some(UNSUBSCRIBED_REASON));
    assert_eq!(entry.message_id, Some(message.id));
    assert_eq!(entry.created_at, Timestamp(20_000));

    let events = store
        .search_events(&EventQuery {
            customer: Some(a.clone()),
            kinds: vec![EventKind::Unsubscribed],
            ..EventQuery::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.message_id, message.id);
    assert_eq!(event.recipient, "Bob@Example.jp");
    assert_eq!(
        event.mail_from, "news@shop.example",
        "taken from the message"
    );
    assert_eq!(
        event.details,
        EventDetails::Unsubscribed {
            method: UnsubscribeMethod::OneClick
        }
    );
    let outbox = store
        .next_webhook_batch(hook, 10, "msg_unsubscribed")
        .await
        .unwrap()
        .expect("the unsubscribe event waits for the endpoint");
    assert_eq!(outbox.events.len(), 1);
    assert!(
        matches!(&outbox.events[0], WebhookEvent::Logged(e) if e.kind() == EventKind::Unsubscribed),
        "{:?}",
        outbox.events
    );

    // The next message to the address is suppressed at acceptance.
    let next = accepted(&a, 40_000, "news@shop.example", &["bob@example.jp"]);
    let suppressed = store
        .record_accepted(std::slice::from_ref(&next))
        .await
        .unwrap();
    assert_eq!(
        suppressed.get(&next.id).map(Vec::as_slice),
        Some(&[0u32][..])
    );

    // An address already listed for another reason keeps that entry; the event is still
    // written (it is another message's link), once.
    let carol = accepted(&a, 50_000, "news@shop.example", &["carol@example.jp"]);
    store
        .record_accepted(std::slice::from_ref(&carol))
        .await
        .unwrap();
    store
        .add_suppressions(
            &a,
            &[hikyaku_store::NewSuppression {
                address: "carol@example.jp",
                source: SuppressionSource::Manual,
                reason: Some("asked by phone"),
                message_id: None,
            }],
            Timestamp(55_000),
        )
        .await
        .unwrap();
    let record = store
        .record_unsubscribe(&Unsubscription {
            customer_id: &a,
            message_id: carol.id,
            address: "carol@example.jp",
            method: UnsubscribeMethod::Mailto,
            at: Timestamp(60_000),
        })
        .await
        .unwrap();
    assert_eq!(
        record,
        UnsubscribeRecord {
            event_recorded: true,
            newly_listed: false,
        }
    );
    let entry = store
        .suppression(&a, "carol@example.jp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.source, SuppressionSource::Manual);

    // A message no longer on record (or never recorded on this node's database) still
    // unsubscribes; the event has no sender then.
    let gone = MessageId::new(Timestamp(70_000));
    let record = store
        .record_unsubscribe(&Unsubscription {
            customer_id: &a,
            message_id: gone,
            address: "dave@example.jp",
            method: UnsubscribeMethod::OneClick,
            at: Timestamp(70_000),
        })
        .await
        .unwrap();
    assert!(record.event_recorded && record.newly_listed);
    let history = store.message_history(&a, gone).await.unwrap();
    assert_eq!(history.map(|h| h.events.len()), Some(1));

    // The statistics count each recorded unsubscription once, in the minute it happened
    // (Bob's at 0:20; Carol's at 1:00 and Dave's at 1:10), nothing for the repeated uses.
    let series = store
        .stats(&a, Timestamp(0), Timestamp(120_000), Granularity::Minute)
        .await
        .unwrap();
    let per_minute: Vec<u64> = series.iter().map(|p| p.counts.unsubscribed).collect();
    assert_eq!(per_minute, [1, 2]);
}

async fn unsubscriptions_stay_within_their_contract(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let message = accepted(&a, 10_000, "news@a.example", &["bob@example.jp"]);
    store
        .record_accepted(std::slice::from_ref(&message))
        .await
        .unwrap();
    store
        .record_unsubscribe(&Unsubscription {
            customer_id: &a,
            message_id: message.id,
            address: "bob@example.jp",
            method: UnsubscribeMethod::OneClick,
            at: Timestamp(20_000),
        })
        .await
        .unwrap();
    assert!(
        store
            .suppression(&a, "bob@example.jp")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .suppression(&b, "bob@example.jp")
            .await
            .unwrap()
            .is_none()
    );
    let other = accepted(&b, 30_000, "news@b.example", &["bob@example.jp"]);
    let suppressed = store
        .record_accepted(std::slice::from_ref(&other))
        .await
        .unwrap();
    assert!(suppressed.get(&other.id).is_none_or(Vec::is_empty));

    let nobody = "cnobody22".parse().unwrap();
    let refused = store
        .record_unsubscribe(&Unsubscription {
            customer_id: &nobody,
            message_id: message.id,
            address: "bob@example.jp",
            method: UnsubscribeMethod::OneClick,
            at: Timestamp(40_000),
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::ContractNotFound(_))),
        "{refused:?}"
    );
    let not_an_address = store
        .record_unsubscribe(&Unsubscription {
            customer_id: &a,
            message_id: message.id,
            address: "no address",
            method: UnsubscribeMethod::OneClick,
            at: Timestamp(40_000),
        })
        .await;
    assert!(not_an_address.is_err());
}

async fn unsubscribed_addresses_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    store
        .set_unsubscribe_settings(
            &a,
            &UnsubscribeSettings {
                enabled: true,
                tags: vec!["newsletter".into()],
            },
        )
        .await
        .unwrap();
    store
        .record_unsubscribe(&Unsubscription {
            customer_id: &a,
            message_id: MessageId::new(Timestamp(10_000)),
            address: "secret-reader@hidden.example",
            method: UnsubscribeMethod::OneClick,
            at: Timestamp(10_000),
        })
        .await
        .unwrap();
    let bytes = f
        .raw_bytes_of(&["suppressions", "events", "unsubscribe_settings"])
        .await;
    // The recipient's domain is a plain search column, as for every event; the address is not.
    assert!(!bytes.windows(13).any(|w| w == b"secret-reader"));
}
