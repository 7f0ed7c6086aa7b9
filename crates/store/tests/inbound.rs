//! Inbound routes, the inbound post queue and its attempt log against real databases: every
//! test body runs once on SQLite and once on PostgreSQL.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{EventKind, Timestamp};
use hikyaku_store::{
    EventQuery, InboundAttempt, InboundLogFilter, InboundNext, InboundRoute, InboundState,
    MAX_INBOUND_MESSAGE_SIZE, NewInboundPost, StoreError,
};
use std::time::Duration;

on_both_backends!(
    routes_are_added_listed_and_removed,
    the_most_specific_route_wins,
    enqueue_records_the_post_and_its_event_once,
    claims_lease_posts_to_one_poster,
    attempts_are_logged_and_final_posts_lose_their_message,
    removing_a_route_drops_its_queue,
    inbound_data_is_sealed_at_rest,
);

fn post<'a>(route: &'a InboundRoute, message: &'a [u8], at: i64) -> NewInboundPost<'a> {
    NewInboundPost {
        route,
        mail_from: "Sender@Example.org",
        recipient: "Support@Example.COM",
        message,
        received_at: Timestamp(at),
    }
}

fn attempt(at: i64, status: Option<u16>, error: Option<&str>) -> InboundAttempt {
    InboundAttempt {
        at: Timestamp(at),
        http_status: status,
        error: error.map(str::to_string),
        duration: Duration::from_millis(12),
    }
}

async fn routes_are_added_listed_and_removed(f: Fixture) {
    let store = &f.store;
    let a = new_contract(store, "A").await;
    let b = new_contract(store, "B").await;
    let (route, secret) = store
        .add_inbound_route(
            &a,
            " Support@Example.COM ",
            "https://hooks.example.com/in",
            false,
        )
        .await
        .unwrap();
    assert_eq!(route.pattern, "Support@example.com");
    assert_eq!(route.customer_id, a);
    assert_eq!(route.endpoint, "https://hooks.example.com/in");
    assert!(!route.forward_raw);
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(
        store
            .inbound_signing_secret(route.id)
            .await
            .unwrap()
            .as_deref(),
        Some(secret.as_str())
    );
    assert_eq!(
        store.inbound_route(route.id).await.unwrap(),
        Some(route.clone())
    );

    let (raw, other_secret) = store
        .add_inbound_route(&b, "*.example.net", "http://127.0.0.1:9/raw", true)
        .await
        .unwrap();
    assert!(raw.forward_raw);
    assert_ne!(secret, other_secret);

    // A pattern names one route, whatever its case and whichever contract asks.
    let err = store
        .add_inbound_route(&b, "support@EXAMPLE.com", "http://127.0.0.1:9/", false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InboundPatternTaken(_)), "{err}");
    for (pattern, endpoint) in [
        ("not a pattern", "http://127.0.0.1/"),
        ("example.org", "ftp://127.0.0.1/"),
        ("example.org", "http:///nohost"),
    ] {
        let err = store
            .add_inbound_route(&a, pattern, endpoint, false)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert!(!err.is_transient());
    }
    let unknown = "cnothere1".parse().unwrap();
    let err = store
        .add_inbound_route(&unknown, "example.org", "http://127.0.0.1/", false)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ContractNotFound(_)), "{err}");

    assert_eq!(
        store.inbound_routes(None).await.unwrap(),
        [route.clone(), raw.clone()]
    );
    assert_eq!(
        store.inbound_routes(Some(&b)).await.unwrap(),
        std::slice::from_ref(&raw)
    );

    assert_eq!(store.remove_inbound_route(route.id).await.unwrap(), route);
    let err = store.remove_inbound_route(route.id).await.unwrap_err();
    assert!(matches!(err, StoreError::InboundRouteNotFound(_)), "{err}");
    assert_eq!(store.inbound_route(route.id).await.unwrap(), None);
    assert_eq!(store.inbound_signing_secret(route.id).await.unwrap(), None);
    assert_eq!(store.inbound_routes(None).await.unwrap(), [raw]);
    // The pattern is free again.
    store
        .add_inbound_route(&b, "support@example.com", "http://127.0.0.1:9/", false)
        .await
        .unwrap();
}

async fn the_most_specific_route_wins(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "C").await;
    let mut ids = std::collections::HashMap::new();
    for pattern in [
        "sales@example.com",
        "example.com",
        "*.example.com",
        "*.deep.example.com",
        "*.jp",
    ] {
        let (route, _) = store
            .add_inbound_route(&c, pattern, "http://127.0.0.1:9/", false)
            .await
            .unwrap();
        ids.insert(pattern, route.id);
    }
    for (recipient, expected) in [
        ("sales@example.com", Some("sales@example.com")),
        ("SALES@Example.COM", Some("sales@example.com")),
        ("other@example.com", Some("example.com")),
        ("sales@sub.example.com", Some("*.example.com")),
        ("x@a.b.example.com", Some("*.example.com")),
        ("x@a.deep.example.com", Some("*.deep.example.com")),
        ("x@deep.example.com", Some("*.example.com")),
        ("x@example.co.jp", Some("*.jp")),
        ("x@jp", None),
        ("x@example.org", None),
        ("x@notexample.com", None),
        ("postmaster", None),
        ("", None),
        ("@", None),
    ] {
        let found = store.inbound_route_for(recipient).await.unwrap();
        assert_eq!(
            found.map(|r| r.id),
            expected.map(|p| ids[p]),
            "{recipient:?}"
        );
    }
}

async fn enqueue_records_the_post_and_its_event_once(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "C").await;
    let (route, _) = store
        .add_inbound_route(&c, "example.com", "http://127.0.0.1:9/", false)
        .await
        .unwrap();
    let message = b"Subject: hello\r\n\r\nbody\r\n".to_vec();
    let first = store
        .enqueue_inbound(post(&route, &message, 10_000))
        .await
        .unwrap();
    assert!(first.new);
    assert_eq!(first.message_id.timestamp(), Timestamp(10_000));
    // The same mail again (an error server replaying its spool) is recognised.
    let again = store
        .enqueue_inbound(post(&route, &message, 10_000))
        .await
        .unwrap();
    assert_eq!(again.post_id, first.post_id);
    assert_eq!(again.message_id, first.message_id);
    assert!(!again.new);
    // Another mail, even with the same bytes at another time, is another post.
    let second = store
        .enqueue_inbound(post(&route, &message, 10_001))
        .await
        .unwrap();
    assert!(second.new);
    assert_ne!(second.post_id, first.post_id);

    let posts = store.inbound_posts(Some(route.id)).await.unwrap();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].post_id, first.post_id);
    assert_eq!(posts[0].mail_from, "Sender@Example.org");
    assert_eq!(posts[0].recipient, "Support@Example.COM");
    assert_eq!(posts[0].size, message.len() as u64);
    assert_eq!(posts[0].state, InboundState::Pending);
    assert_eq!(posts[0].attempts, 0);
    assert_eq!(posts[0].next_attempt_at, Some(Timestamp(10_000)));

    let events = store
        .search_events(&EventQuery {
            customer: Some(c.clone()),
            kinds: vec![EventKind::Inbound],
            ..EventQuery::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(
        events.len(),
        2,
        "one inbound event per mail, none for the replay"
    );
    let event = events
        .iter()
        .find(|e| e.message_id == first.message_id)
        .unwrap();
    assert_eq!(event.at, Timestamp(10_000));
    assert_eq!(event.mail_from, "Sender@Example.org");
    assert_eq!(event.recipient, "Support@Example.COM");

    let too_big = vec![b'x'; MAX_INBOUND_MESSAGE_SIZE + 1];
    let err = store
        .enqueue_inbound(post(&route, &too_big, 10_002))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
    let largest = vec![b'x'; MAX_INBOUND_MESSAGE_SIZE];
    store
        .enqueue_inbound(post(&route, &largest, 10_003))
        .await
        .unwrap();

    // A route removed in the meantime is an error, not a post without a route.
    store.remove_inbound_route(route.id).await.unwrap();
    let err = store
        .enqueue_inbound(post(&route, &message, 10_004))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InboundRouteNotFound(_)), "{err}");
}

async fn claims_lease_posts_to_one_poster(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "C").await;
    let (route, secret) = store
        .add_inbound_route(&c, "example.com", "http://127.0.0.1:9/p", true)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for at in [1_000, 2_000, 3_000] {
        let body = format!("Subject: {at}\r\n\r\n").into_bytes();
        ids.push(
            store
                .enqueue_inbound(post(&route, &body, at))
                .await
                .unwrap()
                .post_id,
        );
    }
    let lease = Duration::from_secs(60);
    // Not yet due.
    assert!(
        store
            .claim_due_inbound_posts(Timestamp(999), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_inbound_posts(Timestamp(5_000), lease, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let first = store
        .claim_due_inbound_posts(Timestamp(5_000), lease, 2)
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|p| p.post_id).collect::<Vec<_>>(),
        ids[..2],
        "oldest first, at most the limit"
    );
    let due = &first[0];
    assert_eq!(due.endpoint, "http://127.0.0.1:9/p");
    assert!(due.forward_raw);
    assert_eq!(due.signing_secret, secret);
    assert_eq!(due.mail_from, "Sender@Example.org");
    assert_eq!(due.recipient, "Support@Example.COM");
    assert_eq!(due.message, b"Subject: 1000\r\n\r\n");
    assert_eq!(due.received_at, Timestamp(1_000));
    assert_eq!(due.customer_id, c);
    assert_eq!(due.route_id, route.id);
    assert_eq!(due.attempts, 0);

    // A second poster gets only what the first did not claim.
    let second = store
        .claim_due_inbound_posts(Timestamp(5_000), lease, 10)
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|p| p.post_id).collect::<Vec<_>>(),
        ids[2..]
    );
    // Once the lease is over (the poster died), the posts are due again.
    assert!(
        store
            .claim_due_inbound_posts(Timestamp(64_999), lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let expired = store
        .claim_due_inbound_posts(Timestamp(65_000), lease, 10)
        .await
        .unwrap();
    assert_eq!(expired.len(), 3);

    // Concurrent claimers never share a post.
    let claims = futures_join(store, 8).await;
    let mut seen = std::collections::HashSet::new();
    for id in claims {
        assert!(seen.insert(id), "post {id} claimed twice");
    }
    assert_eq!(seen.len(), 3);
}

/// Eight claimers at once, well after every lease: together they must claim each post once.
async fn futures_join(store: &hikyaku_store::Store, claimers: usize) -> Vec<i64> {
    let mut tasks = Vec::new();
    for _ in 0..claimers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .claim_due_inbound_posts(Timestamp(1_000_000), Duration::from_secs(60), 2)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.post_id)
                .collect::<Vec<_>>()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    ids
}

async fn attempts_are_logged_and_final_posts_lose_their_message(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "C").await;
    let (route, _) = store
        .add_inbound_route(&c, "example.com", "http://127.0.0.1:9/", false)
        .await
        .unwrap();
    let (other_route, _) = store
        .add_inbound_route(&c, "example.org", "http://127.0.0.1:9/", false)
        .await
        .unwrap();
    let delivered = store
        .enqueue_inbound(post(&route, b"Subject: a\r\n\r\n", 1_000))
        .await
        .unwrap();
    let failed = store
        .enqueue_inbound(post(&other_route, b"Subject: b\r\n\r\n", 1_000))
        .await
        .unwrap();

    let next = store
        .record_inbound_attempt(
            delivered.post_id,
            &attempt(2_000, Some(500), None),
            InboundNext::RetryAt(Timestamp(3_000)),
        )
        .await
        .unwrap();
    assert_eq!(next, Some(InboundState::Pending));
    store
        .record_inbound_attempt(
            delivered.post_id,
            &attempt(3_000, None, Some("connection refused")),
            InboundNext::RetryAt(Timestamp(4_000)),
        )
        .await
        .unwrap();
    let posts = store.inbound_posts(Some(route.id)).await.unwrap();
    assert_eq!(posts[0].attempts, 2);
    assert_eq!(posts[0].next_attempt_at, Some(Timestamp(4_000)));
    // The retry is due at its time (the other post was due all along), with its attempts so
    // far and its message still there.
    let early = store
        .claim_due_inbound_posts(Timestamp(3_999), Duration::from_secs(10), 10)
        .await
        .unwrap();
    assert_eq!(
        early.iter().map(|p| p.post_id).collect::<Vec<_>>(),
        [failed.post_id]
    );
    let due = store
        .claim_due_inbound_posts(Timestamp(4_000), Duration::from_secs(1), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let retried = due.iter().find(|p| p.post_id == delivered.post_id).unwrap();
    assert_eq!(retried.attempts, 2);
    assert_eq!(retried.message, b"Subject: a\r\n\r\n");

    let state = store
        .record_inbound_attempt(
            delivered.post_id,
            &attempt(4_000, Some(204), None),
            InboundNext::Delivered,
        )
        .await
        .unwrap();
    assert_eq!(state, Some(InboundState::Delivered));
    store
        .record_inbound_attempt(
            failed.post_id,
            &attempt(4_500, Some(404), None),
            InboundNext::GiveUp,
        )
        .await
        .unwrap();
    let long_error = "é".repeat(2_000);
    // A post that is gone (route removed) records nothing and says so.
    assert_eq!(
        store
            .record_inbound_attempt(
                999_999,
                &attempt(5_000, None, Some(&long_error)),
                InboundNext::GiveUp
            )
            .await
            .unwrap(),
        None
    );

    // Final posts are never due again.
    assert!(
        store
            .claim_due_inbound_posts(Timestamp(i64::MAX / 2), Duration::from_secs(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.inbound_posts(None).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].state, InboundState::Delivered);
    assert_eq!(all[0].attempts, 3);
    assert_eq!(all[0].next_attempt_at, None);
    assert_eq!(all[1].state, InboundState::Failed);

    let log = store
        .inbound_attempts(&InboundLogFilter {
            route: Some(route.id),
            ..InboundLogFilter::default()
        })
        .await
        .unwrap();
    let summary: Vec<(u32, Option<u16>, Option<&str>, InboundState)> = log
        .iter()
        .map(|a| (a.attempt, a.http_status, a.error.as_deref(), a.outcome))
        .collect();
    assert_eq!(
        summary,
        [
            (3, Some(204), None, InboundState::Delivered),
            (2, None, Some("connection refused"), InboundState::Pending),
            (1, Some(500), None, InboundState::Pending),
        ],
        "newest first"
    );
    assert!(log.iter().all(|a| a.duration_ms == 12
        && a.message_id == delivered.message_id
        && a.route_id == route.id
        && a.customer_id == c));
    assert_eq!(log[2].at, Timestamp(2_000));

    let everything = store
        .inbound_attempts(&InboundLogFilter::default())
        .await
        .unwrap();
    assert_eq!(everything.len(), 4);
    let limited = store
        .inbound_attempts(&InboundLogFilter {
            customer: Some(c.clone()),
            post: Some(failed.post_id),
            limit: Some(1),
            ..InboundLogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].outcome, InboundState::Failed);
    assert_eq!(limited[0].http_status, Some(404));
}

async fn removing_a_route_drops_its_queue(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "C").await;
    let (route, _) = store
        .add_inbound_route(&c, "example.com", "http://127.0.0.1:9/", false)
        .await
        .unwrap();
    let queued = store
        .enqueue_inbound(post(&route, b"x", 1_000))
        .await
        .unwrap();
    store
        .record_inbound_attempt(
            queued.post_id,
            &attempt(2_000, Some(503), None),
            InboundNext::RetryAt(Timestamp(3_000)),
        )
        .await
        .unwrap();
    store.remove_inbound_route(route.id).await.unwrap();
    assert!(store.inbound_posts(None).await.unwrap().is_empty());
    assert!(
        store
            .inbound_attempts(&InboundLogFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_inbound_posts(Timestamp(10_000), Duration::from_secs(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The send log keeps the fact that the mail came in.
    let events = store
        .search_events(&EventQuery {
            kinds: vec![EventKind::Inbound],
            ..EventQuery::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(events.len(), 1);
}

async fn inbound_data_is_sealed_at_rest(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Private").await;
    let (route, secret) = store
        .add_inbound_route(&c, "zq-route-4e1@example.com", "http://127.0.0.1:9/", false)
        .await
        .unwrap();
    let message = b"From: zq-header-from-93c@example.org\r\nSubject: zq-secret-subject-11d\r\n\r\nzq-body-text-8e2\r\n";
    store
        .enqueue_inbound(NewInboundPost {
            route: &route,
            mail_from: "zq-env-from-2b7@example.org",
            recipient: "zq-route-4e1@example.com",
            message,
            received_at: Timestamp(1_000),
        })
        .await
        .unwrap();
    let raw = inbound_table_bytes(&f).await;
    for needle in [
        "zq-route-4e1",
        "zq-header-from-93c",
        "zq-secret-subject-11d",
        "zq-body-text-8e2",
        "zq-env-from-2b7",
        secret.as_str(),
    ] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is stored in the clear"
        );
    }
}

/// Every byte of the inbound tables, as someone with the database files would see them.
async fn inbound_table_bytes(f: &Fixture) -> Vec<u8> {
    if f.url.starts_with("sqlite:") {
        return f.raw_bytes().await;
    }
    let pool = sqlx::PgPool::connect(&f.url).await.unwrap();
    let mut bytes = Vec::new();
    for table in ["inbound_routes", "inbound_posts", "events"] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT t::text FROM {table} t"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(!rows.is_empty(), "{table} has rows");
        for row in rows {
            bytes.extend(row.into_bytes());
        }
    }
    pool.close().await;
    bytes
}
