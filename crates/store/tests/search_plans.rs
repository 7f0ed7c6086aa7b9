//! Each shape of a send-log search can walk the index meant for it, in the page's order. SQLite
//! is told its index (`INDEXED BY`, which fails loudly when unusable). PostgreSQL picks its own
//! from its statistics, so a filter written so that the index no longer fits (a cast, a
//! function on a column, a column the index lacks) would make a page of the console read the
//! contract's whole history there, and no result-checking test would notice.
//!
//! Which plan PostgreSQL prefers depends on the data (on a small table a bitmap and a sort are
//! cheapest, and right), so the test does not ask what it prefers but what it can do: the plans
//! are read (`EXPLAIN`) on a connection that prices sequential scans, bitmaps and sorts out
//! (`enable_* = off`, which makes them dear, not impossible). A shape whose index cannot serve
//! it then still shows a sequential scan or a sort, and names another index or none.

mod common;

use common::{Fixture, new_contract, on_both_backends};
use hikyaku_model::{EventKind, MessageId, Reason, Timestamp};
use hikyaku_store::testing::fill_send_log_bulk;
use hikyaku_store::{EventQuery, SealingKey, Store};

on_both_backends!(every_search_shape_walks_its_index);

const DAY: i64 = 86_400_000;

/// A query shape and the indexes its plan must walk.
struct Shape {
    name: &'static str,
    query: EventQuery,
    indexes: &'static [&'static str],
    /// Whether the plan may read every matching event and sort them: only where few events
    /// match by nature (one message, one recipient: PostgreSQL may fetch those few through a
    /// bitmap and sort them, and walks the index in order once its statistics say the value is
    /// common), and for the tagged drive, which is taken only for a tag few messages carry.
    may_sort: bool,
}

async fn every_search_shape_walks_its_index(fixture: Fixture) {
    let store = &fixture.store;
    let postgres = store.backend_name() == "postgres";
    let customer = new_contract(store, "plans").await;
    // A larger neighbour, so that the contract is a small part of the table and walking the
    // whole table's time index (`events_by_time`) is never the cheaper way to its page. SQLite's
    // plans do not depend on the data (its indexes are named), so a small log does there.
    let neighbour = new_contract(store, "neighbour").await;
    let (theirs, ours) = if postgres {
        (60_000, 10_000)
    } else {
        (2_000, 2_000)
    };
    fill_send_log_bulk(store, &neighbour, theirs, 30, |_| {})
        .await
        .unwrap();
    let fill = fill_send_log_bulk(store, &customer, ours, 30, |_| {})
        .await
        .unwrap();
    assert!(
        fill.events > ours / 2,
        "the fill wrote {} events",
        fill.events
    );
    let steered;
    let planner = if postgres {
        let separator = if fixture.url.contains('?') { '&' } else { '?' };
        let off = ["seqscan", "bitmapscan", "sort", "incremental_sort"]
            .map(|what| format!("options[enable_{what}]=off"))
            .join("&");
        steered = Store::connect(
            &format!("{}{separator}{off}", fixture.url),
            SealingKey::from_bytes(fixture.key),
        )
        .await
        .unwrap();
        &steered
    } else {
        store
    };
    let few_messages_tag = fill
        .tagged
        .iter()
        .find(|(_, messages)| (1..=5_000).contains(messages))
        .map(|(tag, _)| tag.clone())
        .expect("a tag that few messages carry");
    // (A tag that many messages carry is searched along the contract's time index with a test
    // of each event's tags, the first shape's plan; making such a tag takes a log too large
    // for a test.)
    let page = |query: EventQuery| EventQuery {
        customer: Some(customer.clone()),
        limit: Some(50),
        ..query
    };
    let now = Timestamp::now().as_millis();
    let shapes = [
        Shape {
            name: "the contract's newest events",
            query: page(EventQuery::default()),
            indexes: &["events_by_customer_time"],
            may_sort: false,
        },
        Shape {
            name: "one day of the contract",
            query: page(EventQuery {
                since: Some(Timestamp(now - 3 * DAY)),
                until: Some(Timestamp(now - 2 * DAY)),
                ..EventQuery::default()
            }),
            indexes: &["events_by_customer_time"],
            may_sort: false,
        },
        Shape {
            name: "one recipient",
            query: page(EventQuery {
                recipient: Some("user42@d42.example".into()),
                ..EventQuery::default()
            }),
            indexes: &["events_by_recipient"],
            may_sort: true,
        },
        Shape {
            name: "one message",
            query: page(EventQuery {
                message_id: Some(MessageId::new(Timestamp(now - DAY))),
                ..EventQuery::default()
            }),
            indexes: &["events_by_message"],
            may_sort: true,
        },
        Shape {
            name: "one recipient domain",
            query: page(EventQuery {
                recipient_domain: Some("d17.example".into()),
                ..EventQuery::default()
            }),
            indexes: &["events_by_customer_domain"],
            may_sort: false,
        },
        Shape {
            name: "bounces",
            query: page(EventQuery {
                kinds: vec![EventKind::Bounced],
                ..EventQuery::default()
            }),
            indexes: &["events_by_customer_kind"],
            may_sort: false,
        },
        Shape {
            name: "complaints and unsubscribes",
            query: page(EventQuery {
                kinds: vec![EventKind::Complaint, EventKind::Unsubscribed],
                ..EventQuery::default()
            }),
            indexes: &["events_by_customer_kind"],
            may_sort: false,
        },
        Shape {
            name: "one reason",
            query: page(EventQuery {
                reason: Some(Reason::MailboxFull),
                ..EventQuery::default()
            }),
            indexes: &["events_by_customer_reason"],
            may_sort: false,
        },
        Shape {
            name: "bounces of one reason",
            query: page(EventQuery {
                kinds: vec![EventKind::Bounced],
                reason: Some(Reason::UserUnknown),
                ..EventQuery::default()
            }),
            indexes: &["events_by_customer_reason"],
            may_sort: false,
        },
        Shape {
            name: "a tag few messages carry",
            query: page(EventQuery {
                tag: Some(few_messages_tag),
                ..EventQuery::default()
            }),
            indexes: &["message_tags_by_tag", "events_by_message"],
            may_sort: true,
        },
    ];

    let mut wrong = Vec::new();
    for shape in &shapes {
        let plan = planner.explain_search(&shape.query).await.unwrap();
        let mut faults = Vec::new();
        for index in shape.indexes {
            if !plan.contains(index) {
                faults.push(format!("does not use {index}"));
            }
        }
        // PostgreSQL: "Seq Scan on events e"; SQLite: "SCAN e" without "USING … INDEX".
        if plan.contains("Seq Scan on events")
            || plan
                .lines()
                .any(|line| line.trim_start().starts_with("SCAN e") && !line.contains("INDEX"))
        {
            faults.push("reads the events table whole".into());
        }
        // A sort would mean every matching row is read before the first is returned.
        if !shape.may_sort
            && (plan.contains("Sort") || plan.contains("USE TEMP B-TREE FOR ORDER BY"))
        {
            faults.push("sorts what it read".into());
        }
        if !faults.is_empty() {
            wrong.push(format!(
                "{} ({}): {}\n{plan}",
                shape.name,
                store.backend_name(),
                faults.join(", ")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
