//! The store against real databases: every test body runs once on SQLite (a file in a temp
//! directory) and once on PostgreSQL (a fresh database on the server of `TEST_DATABASE_URL`).

mod common;

use common::{Fixture, accepted, new_contract, on_both_backends};
use hikyaku_model::{ContractState, CustomerId, EventKind, MessageId, RecipientState, Timestamp};
use hikyaku_store::{
    AcceptedMessage, Outcome, QueueFilter, RecipientOutcome, SealingKey, Store, StoreError,
};
use ipnet::IpNet;
use std::collections::HashSet;
use std::net::IpAddr;

on_both_backends!(
    contract_lifecycle,
    allowed_ip_ranges_match_the_longest_prefix,
    ranges_of_different_contracts_never_overlap,
    a_terminated_contracts_ranges_stop_counting,
    smtp_credentials,
    record_accepted_is_one_idempotent_transaction,
    an_unspooled_acceptance_is_withdrawn_without_a_trace,
    large_batches_and_recovery_lookups,
    concurrent_batches_all_land,
    queue_listing_and_showing,
    addresses_are_sealed_at_rest,
    message_facts_are_the_contracts_own,
    a_wrong_key_opens_nothing,
    ping_answers_until_closed,
);

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The contract the relay would take a connection from `address` for.
async fn owner_of(store: &Store, address: &str) -> Option<CustomerId> {
    store
        .contract_for_ip(ip(address))
        .await
        .unwrap()
        .map(|contract| contract.customer_id)
}

async fn contract_lifecycle(f: Fixture) {
    let store = &f.store;
    let created = store
        .create_contract("  Example Corp ", "standard")
        .await
        .unwrap();
    assert_eq!(created.state, ContractState::Trial);
    assert_eq!(created.name, "Example Corp");
    assert_eq!(created.plan, "standard");
    assert_eq!(created.last_used_at, None);
    let id = created.customer_id.clone();
    assert_eq!(store.contract(&id).await.unwrap(), Some(created.clone()));

    let other = store.create_contract("Other", "large").await.unwrap();
    assert_ne!(other.customer_id, id);
    let all: Vec<CustomerId> = store
        .contracts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.customer_id)
        .collect();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&id) && all.contains(&other.customer_id));

    for state in [
        ContractState::Active,
        ContractState::Suspended,
        ContractState::Active,
    ] {
        let changed = store.set_contract_state(&id, state).await.unwrap();
        assert_eq!(changed.state, state);
        assert_eq!(store.contract(&id).await.unwrap().unwrap().state, state);
    }
    let terminated = store
        .set_contract_state(&id, ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(terminated.state, ContractState::Terminated);
    let err = store
        .set_contract_state(&id, ContractState::Active)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractTerminated(_)), "{err}");
    // Terminating twice is harmless.
    store
        .set_contract_state(&id, ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(
        store.contract(&id).await.unwrap().unwrap().state,
        ContractState::Terminated
    );

    let unknown: CustomerId = "cnothere1".parse().unwrap();
    assert_eq!(store.contract(&unknown).await.unwrap(), None);
    let err = store
        .set_contract_state(&unknown, ContractState::Active)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
    assert!(!err.is_transient());

    // Recording accepted mail keeps `last_used_at` current, never moving it backwards.
    let touch = |at: i64| accepted(&other.customer_id, at, "app@o.example", &["r@x.example"]);
    store.record_accepted(&[touch(5_000)]).await.unwrap();
    store.record_accepted(&[touch(4_000)]).await.unwrap();
    let touched = store.contract(&other.customer_id).await.unwrap().unwrap();
    assert_eq!(
        touched.last_used_at,
        Some(Timestamp(5_000)),
        "never moves backwards"
    );
    store
        .record_accepted(&[touch(6_000), touch(5_500)])
        .await
        .unwrap();
    let touched = store.contract(&other.customer_id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(Timestamp(6_000)));

    assert!(matches!(
        store.create_contract("  ", "standard").await,
        Err(StoreError::Invalid { .. })
    ));
}

async fn allowed_ip_ranges_match_the_longest_prefix(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    // Host bits are dropped: 192.0.2.77/24 is 192.0.2.0/24.
    let added = store
        .add_allowed_ip(&a, net("192.0.2.77/24"))
        .await
        .unwrap();
    assert_eq!(added.cidr, net("192.0.2.0/24"));
    // Within one contract, ranges may nest.
    store.add_allowed_ip(&a, net("192.0.2.7/32")).await.unwrap();
    store
        .add_allowed_ip(&b, net("203.0.113.9/32"))
        .await
        .unwrap();
    store
        .add_allowed_ip(&a, net("2001:db8::/32"))
        .await
        .unwrap();
    store
        .add_allowed_ip(&b, net("2001:db9:1::/48"))
        .await
        .unwrap();

    let owner = async |address: &str| owner_of(store, address).await;
    let table = [
        ("192.0.2.0", Some(&a)),
        ("192.0.2.7", Some(&a)),
        ("192.0.2.255", Some(&a)),
        ("::ffff:192.0.2.200", Some(&a)),
        ("203.0.113.9", Some(&b)),
        ("203.0.113.10", None),
        ("192.0.3.0", None),
        ("198.51.100.1", None),
        ("2001:db8::1", Some(&a)),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Some(&a)),
        ("2001:db9:1::5", Some(&b)),
        ("2001:db9:2::1", None),
        // Same leading bytes as 192.0.2.0/24, but another family.
        ("c000:0200::1", None),
    ];
    for (address, expected) in table {
        assert_eq!(owner(address).await.as_ref(), expected, "{address}");
    }

    // Adding an existing range again is a no-op.
    let again = store.add_allowed_ip(&a, net("192.0.2.0/24")).await.unwrap();
    assert_eq!(again.created_at, added.created_at);
    let unknown: CustomerId = "cnothere1".parse().unwrap();
    let err = store
        .add_allowed_ip(&unknown, net("10.0.0.0/8"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");

    let listed: Vec<IpNet> = store
        .allowed_ips(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.cidr)
        .collect();
    assert_eq!(
        listed,
        [
            net("192.0.2.0/24"),
            net("192.0.2.7/32"),
            net("2001:db8::/32")
        ]
    );

    assert!(
        store
            .remove_allowed_ip(&a, net("192.0.2.1/24"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_allowed_ip(&a, net("192.0.2.0/24"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_allowed_ip(&a, net("203.0.113.9/32"))
            .await
            .unwrap(),
        "B's range"
    );
    assert_eq!(owner("192.0.2.5").await.as_ref(), None);
    assert_eq!(owner("192.0.2.7").await.as_ref(), Some(&a));
}

/// A source address names one contract: another contract's range that overlaps in any way is
/// refused, whichever of the two is broader, and the refusal does not name the holder.
async fn ranges_of_different_contracts_never_overlap(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store.add_allowed_ip(&a, net("192.0.2.0/24")).await.unwrap();
    store
        .add_allowed_ip(&a, net("2001:db8::/48"))
        .await
        .unwrap();
    for overlapping in [
        "192.0.2.0/24",
        "192.0.2.9/32",
        "192.0.2.128/25",
        "192.0.0.0/16",
        "0.0.0.0/0",
        "2001:db8::1/128",
        "2001:db8::/32",
    ] {
        let err = store
            .add_allowed_ip(&b, net(overlapping))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::RangeOverlaps { .. }),
            "{overlapping}: {err}"
        );
        assert!(!err.to_string().contains(a.as_str()), "{err}");
        assert!(!err.is_transient());
    }
    // Neighbours do not overlap, and nor do the families.
    for beside in [
        "192.0.1.255/32",
        "192.0.3.0/24",
        "2001:db8:1::/48",
        "::ffff:0:0/96",
    ] {
        store.add_allowed_ip(&b, net(beside)).await.unwrap();
    }
    assert!(store.allowed_ips(&b).await.unwrap().len() == 4);
}

/// A terminated contract gets no new ranges, its ranges stop letting anyone relay, and they
/// are free for another contract.
async fn a_terminated_contracts_ranges_stop_counting(f: Fixture) {
    let store = &f.store;
    let gone = new_contract(store, "Gone").await;
    let next = new_contract(store, "Next").await;
    store
        .add_allowed_ip(&gone, net("198.51.100.0/24"))
        .await
        .unwrap();
    store
        .add_allowed_ip(&gone, net("203.0.113.0/24"))
        .await
        .unwrap();
    let owner = async |address: &str| owner_of(store, address).await;
    assert_eq!(owner("198.51.100.7").await, Some(gone.clone()));
    store
        .set_contract_state(&gone, ContractState::Suspended)
        .await
        .unwrap();
    assert_eq!(
        owner("198.51.100.7").await,
        Some(gone.clone()),
        "a suspended contract is still known by its address (and refused with a reason)"
    );
    store
        .set_contract_state(&gone, ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(owner("198.51.100.7").await, None);
    assert_eq!(owner("203.0.113.7").await, None);
    let err = store
        .add_allowed_ip(&gone, net("192.0.2.0/24"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractTerminated(_)), "{err}");

    // The same range, and an overlapping one, can go to a new contract.
    store
        .add_allowed_ip(&next, net("198.51.100.0/24"))
        .await
        .unwrap();
    store
        .add_allowed_ip(&next, net("203.0.113.128/25"))
        .await
        .unwrap();
    assert_eq!(owner("198.51.100.7").await, Some(next.clone()));
    assert_eq!(owner("203.0.113.200").await, Some(next.clone()));
    assert_eq!(owner("203.0.113.7").await, None);
}

async fn smtp_credentials(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    store
        .add_smtp_credential(&a, "app@a.example", "correct horse battery")
        .await
        .unwrap();
    store
        .add_smtp_credential(&a, "batch", "another password")
        .await
        .unwrap();

    assert_eq!(
        store
            .verify_smtp_credential("app@a.example", "correct horse battery")
            .await
            .unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store
            .verify_smtp_credential("app@a.example", "correct horse")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .verify_smtp_credential("APP@A.EXAMPLE", "correct horse battery")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .verify_smtp_credential("nobody", "correct horse battery")
            .await
            .unwrap(),
        None
    );

    let err = store
        .add_smtp_credential(&b, "app@a.example", "b's own password")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UsernameTaken(_)), "{err}");
    let unknown: CustomerId = "cnothere1".parse().unwrap();
    let err = store
        .add_smtp_credential(&unknown, "fresh", "a fine password")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");
    let err = store
        .add_smtp_credential(&b, "fresh", "short")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");

    let names: Vec<String> = store
        .smtp_credentials(&a)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.username)
        .collect();
    assert_eq!(names, ["app@a.example", "batch"]);
    assert!(store.smtp_credentials(&b).await.unwrap().is_empty());

    assert!(
        !store.remove_smtp_credential(&b, "batch").await.unwrap(),
        "not B's"
    );
    assert!(store.remove_smtp_credential(&a, "batch").await.unwrap());
    assert_eq!(
        store
            .verify_smtp_credential("batch", "another password")
            .await
            .unwrap(),
        None
    );
    // The name is free again, for anyone.
    store
        .add_smtp_credential(&b, "batch", "b's own password")
        .await
        .unwrap();
    assert_eq!(
        store
            .verify_smtp_credential("batch", "b's own password")
            .await
            .unwrap(),
        Some(b.clone())
    );
}

async fn an_unspooled_acceptance_is_withdrawn_without_a_trace(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let kept = accepted(&c, 1_000, "app@sender.example", &["a@x.example"]);
    let lost = accepted(
        &c,
        2_000,
        "app@sender.example",
        &["b@x.example", "c@y.example"],
    );
    let mut elsewhere = accepted(&c, 3_000, "app@sender.example", &["d@x.example"]);
    elsewhere.node = "node-b".into();
    store
        .record_accepted(&[kept.clone(), lost.clone(), elsewhere.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.unfinished_message_ids("node-a").await.unwrap(),
        vec![kept.id, lost.id],
        "this node's unfinished messages, in ID order"
    );

    assert!(store.withdraw_accepted(lost.id).await.unwrap());
    assert!(store.queued_message(lost.id).await.unwrap().is_none());
    assert!(store.events_for_message(lost.id).await.unwrap().is_empty());
    assert!(
        !store.withdraw_accepted(lost.id).await.unwrap(),
        "gone already"
    );
    assert_eq!(
        store.unfinished_message_ids("node-a").await.unwrap(),
        vec![kept.id]
    );
    assert_eq!(
        store.unfinished_message_ids("node-b").await.unwrap(),
        vec![elsewhere.id]
    );
    // The others keep everything.
    assert_eq!(store.events_for_message(kept.id).await.unwrap().len(), 1);
    assert!(store.queued_message(elsewhere.id).await.unwrap().is_some());
    // Once every recipient is final the message is finished: no spool file is owed.
    store
        .record_outcomes(
            &[RecipientOutcome {
                message_id: kept.id,
                recipient_index: 0,
                at: Timestamp(5_000),
                outcome: Outcome::Delivered,
                details: common::bare_details(Outcome::Delivered),
                suppression: hikyaku_store::SuppressionEffect::Nothing,
            }],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    assert!(
        store
            .unfinished_message_ids("node-a")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn record_accepted_is_one_idempotent_transaction(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Sender").await;
    let m1 = accepted(
        &c,
        1_000,
        "app@sender.example",
        &["a@x.example", "b@y.example"],
    );
    let m2 = accepted(&c, 2_000, "app@sender.example", &["c@z.example"]);
    let bounce = accepted(
        &c,
        3_000,
        "",
        &["d@x.example", "e@x.example", "f@x.example"],
    );
    // The same ID again in the batch, with other recipients: skipped entirely.
    let mut m1_again = m1.clone();
    m1_again.envelope.recipients = vec!["intruder@x.example".into()];
    store
        .record_accepted(&[m1.clone(), m2.clone(), m1_again, bounce.clone()])
        .await
        .unwrap();

    let q1 = store.queued_message(m1.id).await.unwrap().unwrap();
    assert_eq!(q1.id, m1.id);
    assert_eq!(q1.customer_id, c);
    assert_eq!(q1.mail_from, "app@sender.example");
    assert_eq!((q1.size, q1.received_at), (1234, Timestamp(1_000)));
    assert_eq!(
        (q1.source_ip.as_str(), q1.node.as_str()),
        ("192.0.2.10", "node-a")
    );
    let addresses: Vec<&str> = q1.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addresses, ["a@x.example", "b@y.example"]);
    for r in &q1.recipients {
        assert_eq!(r.state, RecipientState::Queued);
        assert_eq!(r.attempts, 0);
        assert_eq!(r.next_attempt_at, Some(Timestamp(1_000)));
        assert_eq!(r.last_reply, None);
    }
    let q3 = store.queued_message(bounce.id).await.unwrap().unwrap();
    assert_eq!(q3.mail_from, "");
    assert_eq!(q3.recipients.len(), 3);

    let events = store.events_for_message(m1.id).await.unwrap();
    assert_eq!(events.len(), 2);
    for (event, to) in events.iter().zip(["a@x.example", "b@y.example"]) {
        assert_eq!(event.kind(), EventKind::Accepted);
        assert_eq!(event.at, Timestamp(1_000));
        assert_eq!(event.customer_id, c);
        assert_eq!(event.message_id, m1.id);
        assert_eq!(event.mail_from, "app@sender.example");
        assert_eq!(event.recipient, to);
        assert_eq!(event.details, hikyaku_model::EventDetails::Accepted);
    }

    // Replaying (spool recovery) changes nothing, and a new message in the batch still lands.
    let m4 = accepted(&c, 4_000, "app@sender.example", &["g@x.example"]);
    store
        .record_accepted(&[bounce.clone(), m2.clone(), m1.clone(), m4.clone()])
        .await
        .unwrap();
    assert_eq!(store.queued_message(m1.id).await.unwrap().unwrap(), q1);
    assert_eq!(store.events_for_message(m1.id).await.unwrap(), events);
    assert_eq!(store.events_for_message(bounce.id).await.unwrap().len(), 3);
    assert_eq!(
        store
            .queued_message(m4.id)
            .await
            .unwrap()
            .unwrap()
            .recipients
            .len(),
        1
    );
    store.record_accepted(&[]).await.unwrap();

    // One bad message fails the whole batch: nothing of it is recorded.
    let unknown: CustomerId = "cnothere1".parse().unwrap();
    let good = accepted(&c, 5_000, "app@sender.example", &["h@x.example"]);
    let orphan = accepted(&unknown, 5_001, "app@sender.example", &["i@x.example"]);
    let err = store
        .record_accepted(&[good.clone(), orphan])
        .await
        .unwrap_err();
    assert!(
        !err.is_transient(),
        "a constraint violation is permanent: {err}"
    );
    assert_eq!(store.queued_message(good.id).await.unwrap(), None);
    assert!(store.events_for_message(good.id).await.unwrap().is_empty());
}

async fn large_batches_and_recovery_lookups(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Bulk").await;
    let batch: Vec<AcceptedMessage> = (0..150)
        .map(|i| {
            accepted(
                &c,
                10_000 + i,
                "bulk@sender.example",
                &["r1@x.example", "r2@x.example", "r3@x.example"],
            )
        })
        .collect();
    store.record_accepted(&batch).await.unwrap();
    let listed = store.queue(QueueFilter::default()).await.unwrap();
    assert_eq!(listed.len(), 150);
    assert!(listed.iter().all(|m| m.recipients.len() == 3));
    let listed_ids: Vec<MessageId> = listed.iter().map(|m| m.id).collect();
    let mut sorted = listed_ids.clone();
    sorted.sort();
    assert_eq!(listed_ids, sorted, "oldest first");

    // 300 IDs span two look-up chunks; half are unknown.
    let mut probe: Vec<MessageId> = batch.iter().map(|m| m.id).collect();
    let strangers: Vec<MessageId> = (0..150)
        .map(|i| MessageId::new(Timestamp(20_000 + i)))
        .collect();
    probe.extend(&strangers);
    let known = store.known_message_ids(&probe).await.unwrap();
    let expected: HashSet<MessageId> = batch.iter().map(|m| m.id).collect();
    assert_eq!(known, expected);
    assert!(store.known_message_ids(&[]).await.unwrap().is_empty());
    assert!(
        store
            .known_message_ids(&strangers[..1])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn concurrent_batches_all_land(f: Fixture) {
    let c = new_contract(&f.store, "Busy").await;
    let mut tasks = Vec::new();
    for worker in 0..6i64 {
        let store = f.store.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for round in 0..10i64 {
                let batch: Vec<AcceptedMessage> = (0..20)
                    .map(|i| {
                        accepted(
                            &c,
                            1_000_000 + worker * 10_000 + round * 100 + i,
                            "s@x.example",
                            &["r@y.example"],
                        )
                    })
                    .collect();
                ids.extend(batch.iter().map(|m| m.id));
                store.record_accepted(&batch).await.unwrap();
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_eq!(all.len(), 1200);
    assert_eq!(f.store.known_message_ids(&all).await.unwrap().len(), 1200);
}

async fn queue_listing_and_showing(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let a1 = accepted(&a, 1_000, "a@a.example", &["x@x.example"]);
    let b1 = accepted(&b, 2_000, "b@b.example", &["y@y.example", "z@z.example"]);
    let a2 = accepted(&a, 3_000, "a@a.example", &["w@w.example"]);
    store
        .record_accepted(&[a2.clone(), b1.clone(), a1.clone()])
        .await
        .unwrap();

    let ids = |messages: Vec<hikyaku_model::QueuedMessage>| -> Vec<MessageId> {
        messages.into_iter().map(|m| m.id).collect()
    };
    assert_eq!(
        ids(store.queue(QueueFilter::default()).await.unwrap()),
        [a1.id, b1.id, a2.id]
    );
    let only_a = QueueFilter {
        customer: Some(a.clone()),
        ..Default::default()
    };
    assert_eq!(ids(store.queue(only_a).await.unwrap()), [a1.id, a2.id]);
    let first_two = QueueFilter {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(ids(store.queue(first_two).await.unwrap()), [a1.id, b1.id]);
    let queued_b = QueueFilter {
        customer: Some(b.clone()),
        states: vec![RecipientState::Queued],
        limit: Some(10),
    };
    let listed = store.queue(queued_b).await.unwrap();
    assert_eq!(ids(listed.clone()), [b1.id]);
    assert_eq!(listed[0].recipients.len(), 2);
    let delivered = QueueFilter {
        states: vec![RecipientState::Delivered],
        ..Default::default()
    };
    assert!(store.queue(delivered).await.unwrap().is_empty());

    // a1 delivered: it leaves the waiting messages, whichever state they wait in.
    store
        .record_outcomes(
            &[RecipientOutcome {
                message_id: a1.id,
                recipient_index: 0,
                at: Timestamp(4_000),
                outcome: Outcome::Delivered,
                details: common::bare_details(Outcome::Delivered),
                suppression: hikyaku_store::SuppressionEffect::Nothing,
            }],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    let waiting = QueueFilter {
        states: vec![RecipientState::Queued, RecipientState::Deferred],
        ..Default::default()
    };
    assert_eq!(ids(store.queue(waiting).await.unwrap()), [b1.id, a2.id]);
    let delivered = QueueFilter {
        states: vec![RecipientState::Delivered, RecipientState::Bounced],
        ..Default::default()
    };
    assert_eq!(ids(store.queue(delivered).await.unwrap()), [a1.id]);

    assert_eq!(
        store
            .queued_message(MessageId::new(Timestamp(9)))
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .events_for_message(MessageId::new(Timestamp(9)))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The source address and subject kept with each message: the subject cut to its length on a
/// character boundary, a message without one `None`, and another contract's messages (or
/// unknown IDs) not found.
async fn message_facts_are_the_contracts_own(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Facts").await;
    let other = new_contract(store, "Other").await;
    let long = AcceptedMessage {
        subject: Some("件".repeat(300)),
        ..accepted(&c, 1_000, "a@example.jp", &["b@example.jp"])
    };
    let plain = accepted(&c, 2_000, "a@example.jp", &["b@example.jp"]);
    let theirs = AcceptedMessage {
        subject: Some("theirs".into()),
        ..accepted(&other, 3_000, "x@example.jp", &["y@example.jp"])
    };
    store
        .record_accepted(&[long.clone(), plain.clone(), theirs.clone()])
        .await
        .unwrap();
    let unknown = MessageId::new(Timestamp(4_000));
    let ids = [long.id, plain.id, theirs.id, unknown, long.id];
    let facts = store.message_facts(&c, &ids).await.unwrap();
    assert_eq!(facts.len(), 2, "{facts:?}");
    let kept = facts[&long.id].subject.as_deref().unwrap();
    assert_eq!(kept.chars().count(), hikyaku_store::MAX_SUBJECT_CHARS);
    assert!(kept.chars().all(|ch| ch == '件'));
    assert_eq!(facts[&long.id].source_ip, long.source_ip);
    assert_eq!(facts[&plain.id].subject, None);
    let theirs_found = store.message_facts(&other, &ids).await.unwrap();
    assert_eq!(theirs_found.len(), 1);
    assert_eq!(theirs_found[&theirs.id].subject.as_deref(), Some("theirs"));
    // More IDs than one look-up binds.
    let many: Vec<MessageId> = (0..600)
        .map(|i| MessageId::new(Timestamp(10_000 + i)))
        .chain([plain.id])
        .collect();
    assert_eq!(store.message_facts(&c, &many).await.unwrap().len(), 1);
}

async fn addresses_are_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Private").await;
    let sender = "zq-sender-7f3@example.org";
    let recipient = "Zq-Rcpt-91a@Example.net";
    let message = AcceptedMessage {
        subject: Some("zq-subject-4d2: your order".into()),
        ..accepted(&c, 1_000, sender, &[recipient, "zq-other-55b@example.net"])
    };
    store
        .record_accepted(std::slice::from_ref(&message))
        .await
        .unwrap();

    // The look-up hash finds the recipient in the send log, whatever the case of the query.
    let found = store
        .events_for_recipient(&c, "zq-rcpt-91a@example.NET", 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].recipient, recipient);
    assert_eq!(found[0].mail_from, sender);
    assert!(
        store
            .events_for_recipient(&c, "zq-rcpt-91b@example.net", 10)
            .await
            .unwrap()
            .is_empty()
    );
    let other = new_contract(store, "Other").await;
    assert!(
        store
            .events_for_recipient(&other, recipient, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // What delivery adds: a reply that quotes the address (in the event and as the last
    // reply), and an operator command.
    store
        .record_outcomes(
            &[RecipientOutcome {
                message_id: message.id,
                recipient_index: 0,
                at: Timestamp(2_000),
                outcome: Outcome::Deferred {
                    next_attempt_at: Timestamp(60_000),
                },
                details: hikyaku_model::EventDetails::Deferred {
                    exchange: hikyaku_model::Exchange {
                        remote: Some(hikyaku_model::Remote {
                            host: "mx.example.net".into(),
                            ip: None,
                            port: None,
                            tls: None,
                        }),
                        code: Some(452),
                        text: Some(format!("<{recipient}>: mailbox full")),
                        attempt: Some(1),
                        ..hikyaku_model::Exchange::by(hikyaku_model::EventSource::Smtp)
                    },
                    reason: Some(hikyaku_model::Reason::MailboxFull),
                },
                suppression: hikyaku_store::SuppressionEffect::Nothing,
            }],
            &hikyaku_store::SoftBouncePolicy::OFF,
        )
        .await
        .unwrap();
    store
        .retry_message(message.id, Timestamp(3_000))
        .await
        .unwrap();
    let shown = store.queued_message(message.id).await.unwrap().unwrap();
    assert!(
        shown.recipients[0]
            .last_reply
            .as_deref()
            .is_some_and(|reply| reply.contains(recipient)),
        "{shown:?}"
    );

    let raw = f.raw_bytes().await;
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for needle in [
        "zq-sender-7f3",
        "Zq-Rcpt-91a",
        "zq-rcpt-91a",
        "zq-other-55b",
        "example.org",
        "zq-subject-4d2",
    ] {
        for form in [needle.to_string(), hex(needle)] {
            assert!(
                !raw.windows(form.len()).any(|w| w == form.as_bytes()),
                "{form:?} is stored in plaintext"
            );
        }
    }
    // The check can fail: data that is not sealed is found.
    let customer_id = c.to_string();
    assert!(
        raw.windows(customer_id.len())
            .any(|w| w == customer_id.as_bytes())
    );
}

async fn a_wrong_key_opens_nothing(f: Fixture) {
    let c = new_contract(&f.store, "Keyed").await;
    let message = accepted(&c, 1_000, "s@x.example", &["r@y.example"]);
    f.store
        .record_accepted(std::slice::from_ref(&message))
        .await
        .unwrap();
    f.store.close().await;

    let stranger = Store::connect(&f.url, SealingKey::generate())
        .await
        .unwrap();
    let err = stranger.queued_message(message.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Unseal), "{err}");
    assert!(!err.is_transient());
    assert!(matches!(
        stranger.events_for_message(message.id).await,
        Err(StoreError::Unseal)
    ));
    assert!(
        stranger
            .events_for_recipient(&c, "r@y.example", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // What is not sealed is still readable.
    assert_eq!(stranger.contract(&c).await.unwrap().unwrap().name, "Keyed");
    stranger.close().await;

    let owner = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    let q = owner.queued_message(message.id).await.unwrap().unwrap();
    assert_eq!(q.recipients[0].address, "r@y.example");
}

async fn ping_answers_until_closed(f: Fixture) {
    f.store.ping().await.unwrap();
    f.store.close().await;
    let err = f.store.ping().await.unwrap_err();
    assert!(
        err.is_transient(),
        "a closed pool is worth retrying elsewhere: {err}"
    );
}

#[tokio::test]
async fn unreachable_databases_are_transient_and_bad_urls_are_not() {
    // Port 1 on loopback: nothing listens there.
    let err = Store::connect(
        "postgres://postgres@127.0.0.1:1/none",
        SealingKey::generate(),
    )
    .await
    .err()
    .expect("nothing listens on port 1");
    assert!(err.is_transient(), "{err}");
    let err = Store::connect("mysql://127.0.0.1/x", SealingKey::generate())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn sqlite_files_are_created_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let key = [3u8; 32];
    let store = Store::connect(&url, SealingKey::from_bytes(key))
        .await
        .unwrap();
    let id = new_contract(&store, "Persisted").await;
    store.close().await;
    assert!(dir.path().join("fresh.db").exists());
    let reopened = Store::connect(&url, SealingKey::from_bytes(key))
        .await
        .unwrap();
    assert_eq!(
        reopened.contract(&id).await.unwrap().unwrap().name,
        "Persisted"
    );
    assert_eq!(reopened.backend_name(), "sqlite");
}
