//! The read side over the send log, end to end: events written by the store's own writer paths
//! for two contracts, read back over HTTP through the search, a message's history, the bounce
//! list, the statistics and the usage, on SQLite and PostgreSQL.

mod common;

use common::{Backend, Server, accept, accept_with_metadata, attempt, on_both_backends, reply};
use hikyaku_model::{CustomerId, EventDetails, MessageId, Reason, Role, Timestamp};
use hikyaku_store::{NewSuppression, SuppressionSource};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn at(ms: i64) -> String {
    Timestamp(ms).to_string()
}

struct World {
    server: Server,
    a: CustomerId,
    b: CustomerId,
    /// A's admin key, which may see addresses.
    a_admin: String,
    /// A's viewer key, which may not.
    a_viewer: String,
    b_admin: String,
    m1: MessageId,
    m2: MessageId,
    m3: MessageId,
}

/// A: m1 to four recipients (one on the list, one delivered, one refused, one deferred then
/// bounced), m2 to seven delivered ones. B: m3 to two, one of them an address A sent to too.
async fn world(backend: Backend) -> Option<World> {
    let server = Server::start(
        backend,
        "[api]\nburst = 100000\nrequests_per_second = 100000\n\
         [plans.standard]\nmonthly_volume = 3\n",
    )
    .await?;
    let (a, a_admin) = server.contract_with_key("a", Role::Admin, true).await;
    let a_viewer = server.key_for(&a, Role::Viewer, false);
    let (b, b_admin) = server.contract_with_key("b", Role::Admin, true).await;
    let store = &server.store;
    store
        .add_suppressions(
            &a,
            &[NewSuppression {
                address: "x@listed.example",
                source: SuppressionSource::Manual,
                reason: Some("asked to stop"),
                message_id: None,
            }],
            Timestamp(T0),
        )
        .await
        .unwrap();
    let m1 = accept_with_metadata(
        store,
        &a,
        T0 + 1_000,
        "app@a.example",
        &[
            "ok@dom.example",
            "bounce@dom.example",
            "x@listed.example",
            "later@other.example",
        ],
        &["welcome"],
        &[
            ("contact", "ok@dom.example"),
            ("note", "cc hanako@else.example"),
        ],
    )
    .await;
    attempt(
        store,
        m1,
        0,
        T0 + MINUTE,
        EventDetails::Delivered {
            exchange: reply(250, "2.0.0 queued as 123"),
        },
    )
    .await;
    attempt(
        store,
        m1,
        1,
        T0 + MINUTE + 1,
        EventDetails::Bounced {
            exchange: reply(550, "5.1.1 <Bounce@Dom.example>: no such user"),
            reason: Reason::UserUnknown,
            hard: true,
        },
    )
    .await;
    attempt(
        store,
        m1,
        3,
        T0 + MINUTE + 2,
        EventDetails::Deferred {
            exchange: reply(452, "4.2.2 mailbox full"),
            reason: Some(Reason::MailboxFull),
        },
    )
    .await;
    attempt(
        store,
        m1,
        3,
        T0 + 2 * HOUR,
        EventDetails::Bounced {
            exchange: reply(552, "5.2.2 mailbox full"),
            reason: Reason::MailboxFull,
            hard: false,
        },
    )
    .await;
    let many: Vec<String> = (0..7).map(|i| format!("p{i}@dom.example")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let m2 = accept(
        store,
        &a,
        T0 + 3 * HOUR,
        "app@a.example",
        &many,
        &["to:p0@dom.example"],
    )
    .await;
    for i in 0..7 {
        attempt(
            store,
            m2,
            i,
            T0 + 3 * HOUR + MINUTE + i64::from(i),
            EventDetails::Delivered {
                exchange: reply(250, "ok"),
            },
        )
        .await;
    }
    let m3 = accept(
        store,
        &b,
        T0 + 30 * MINUTE,
        "app@b.example",
        &["ok@dom.example", "z@b-only.example"],
        &["welcome"],
    )
    .await;
    for i in 0..2 {
        attempt(
            store,
            m3,
            i,
            T0 + 31 * MINUTE,
            EventDetails::Delivered {
                exchange: reply(250, "ok"),
            },
        )
        .await;
    }
    Some(World {
        server,
        a,
        b,
        a_admin,
        a_viewer,
        b_admin,
        m1,
        m2,
        m3,
    })
}

impl World {
    async fn ok(&self, path: &str, key: &str) -> Value {
        let r = self.server.get(path, key).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.json()
    }

    async fn refused(&self, path: &str, key: &str) -> (u16, String, Option<String>) {
        let r = self.server.get(path, key).await;
        let code = r.error_code();
        let field = r.json()["error"]["field"].as_str().map(str::to_string);
        (r.status, code, field)
    }

    /// Every event of a search, page by page, with the number of pages.
    async fn all_pages(&self, path: &str, key: &str, limit: u32) -> (Vec<Value>, usize) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut events = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}{sep}limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page = self.ok(&url, key).await;
            pages += 1;
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= limit as usize);
            events.extend(data.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(data.len(), limit as usize, "only a full page has a next");
                    cursor = Some(c.to_string());
                }
                None => break,
            }
            assert!(pages < 100, "paging does not end");
        }
        (events, pages)
    }

    async fn count(&self, query: &str) -> usize {
        let page = self
            .ok(&format!("/api/v1/events?limit=1000&{query}"), &self.a_admin)
            .await;
        assert!(page["next_cursor"].is_null());
        let data = page["data"].as_array().unwrap();
        for e in data {
            assert_eq!(e["customer_id"], self.a.as_str(), "{query}: {e}");
        }
        data.len()
    }
}

fn identity(e: &Value) -> String {
    format!(
        "{} {} {} {}",
        e["time"], e["kind"], e["message_id"], e["recipient"]
    )
}

async fn the_search_finds_by_every_filter_and_pages_once(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    // m1: 4 accepted, 1 suppressed, 1 delivered, 1 deferred, 2 bounced; m2: 7 + 7.
    let everything = w.ok("/api/v1/events?limit=1000", &w.a_admin).await;
    let everything = everything["data"].as_array().unwrap().clone();
    assert_eq!(everything.len(), 23);
    let times: Vec<Timestamp> = everything
        .iter()
        .map(|e| e["time"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let m1 = w.m1.to_string();
    let m3 = w.m3.to_string();
    let table: Vec<(String, usize)> = vec![
        ("recipient=OK%40dom.example".into(), 2),
        ("recipient=z%40b-only.example".into(), 0),
        ("recipient_domain=DOM.example".into(), 18),
        ("recipient_domain=b-only.example".into(), 0),
        ("sender=APP%40a.example".into(), 23),
        ("sender=app%40b.example".into(), 0),
        (format!("message_id={m1}"), 9),
        (format!("message_id={m3}"), 0),
        ("kind=bounced".into(), 2),
        ("kind=bounced,delivered".into(), 10),
        ("kind=bounced&kind=delivered".into(), 10),
        ("kind=suppressed".into(), 1),
        ("reason=userunknown".into(), 1),
        ("reason=mailboxfull".into(), 2),
        ("kind=bounced&reason=mailboxfull".into(), 1),
        ("tag=welcome".into(), 9),
        ("tag=nope".into(), 0),
        (format!("since={}", at(T0 + 3 * HOUR)), 14),
        (format!("until={}", at(T0 + 3 * HOUR)), 9),
        (
            format!("since={}&until={}", at(T0 + MINUTE), at(T0 + MINUTE + 2)),
            2,
        ),
        (
            format!("since=2026-11-25T09:00:00%2B09:00&message_id={m1}"),
            9,
        ),
    ];
    for (query, expected) in &table {
        assert_eq!(w.count(query).await, *expected, "{query}");
    }
    // B sees its own, never A's, with the same filters.
    let b = w
        .ok("/api/v1/events?recipient=ok%40dom.example", &w.b_admin)
        .await;
    let b = b["data"].as_array().unwrap();
    assert_eq!(b.len(), 2);
    assert!(b.iter().all(|e| e["customer_id"] == w.b.as_str()));
    let b = w
        .ok(&format!("/api/v1/events?message_id={m1}"), &w.b_admin)
        .await;
    assert_eq!(b["data"], serde_json::json!([]));

    // Pages of 4: every event exactly once, in the same order as one page.
    let (paged, pages) = w.all_pages("/api/v1/events", &w.a_admin, 4).await;
    assert_eq!(pages, 6);
    assert_eq!(
        paged.iter().map(identity).collect::<Vec<_>>(),
        everything.iter().map(identity).collect::<Vec<_>>()
    );
    let distinct: HashSet<String> = paged.iter().map(identity).collect();
    assert_eq!(distinct.len(), 23);
    // A page that ends exactly at the end says so: no empty page to fetch.
    let (_, pages) = w.all_pages("/api/v1/events", &w.a_admin, 23).await;
    assert_eq!(pages, 1);
    let (filtered, pages) = w
        .all_pages("/api/v1/events?kind=delivered", &w.a_admin, 3)
        .await;
    assert_eq!((filtered.len(), pages), (8, 3));

    // Events recorded while a client pages do not shift what it is shown.
    let first = w.ok("/api/v1/events?limit=5", &w.a_admin).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    accept(
        &w.server.store,
        &w.a,
        T0 + 5 * HOUR,
        "app@a.example",
        &["new@dom.example"],
        &[],
    )
    .await;
    let rest = w
        .ok(
            &format!("/api/v1/events?limit=1000&cursor={cursor}"),
            &w.a_admin,
        )
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 18);

    // Hostile and wrong parameters are refused, naming the parameter.
    let bounces_cursor = {
        let page = w.ok("/api/v1/bounces?limit=1", &w.a_admin).await;
        page["next_cursor"].as_str().unwrap().to_string()
    };
    let refusals = [
        ("kind=nope", 400, "invalid_query", "kind"),
        ("kind=bounced,", 200, "", ""),
        ("reason=nope", 400, "invalid_query", "reason"),
        ("message_id=xyz", 400, "invalid_query", "message_id"),
        ("since=yesterday", 400, "invalid_query", "since"),
        ("until=2026-13-01", 400, "invalid_query", "until"),
        (
            "since=2026-11-26&until=2026-11-25",
            422,
            "invalid_field",
            "until",
        ),
        ("customer_id=x", 400, "invalid_query", "customer_id"),
        ("tag=a&tag=b", 400, "invalid_query", "tag"),
        ("limit=0", 400, "invalid_query", "limit"),
        ("limit=1001", 400, "invalid_query", "limit"),
        ("limit=-1", 400, "invalid_query", "limit"),
        ("cursor=%00%01", 400, "invalid_cursor", "cursor"),
        ("cursor=AQg", 400, "invalid_cursor", "cursor"),
    ];
    let long = format!("recipient={}%40dom.example", "x".repeat(8000));
    let hostile = [
        ("recipient=%FF%FE%00", 200, "", ""),
        ("kind=,,,", 200, "", ""),
        ("sender=&tag=", 200, "", ""),
        (long.as_str(), 200, "", ""),
        ("kind=bounced%00", 400, "invalid_query", "kind"),
        (
            "since=2026-11-25T00:00:00Z&since=2026-11-26",
            400,
            "invalid_query",
            "since",
        ),
        ("reason=UserUnknown", 400, "invalid_query", "reason"),
    ];
    for (query, status, code, field) in refusals.into_iter().chain(hostile) {
        let r = w
            .server
            .get(&format!("/api/v1/events?{query}"), &w.a_admin)
            .await;
        assert_eq!(r.status, status, "{query}: {}", r.text());
        if status != 200 {
            assert_eq!(r.error_code(), code, "{query}");
            assert_eq!(r.json()["error"]["field"], field, "{query}");
        }
    }
    let (status, code, _) = w
        .refused(
            &format!("/api/v1/events?cursor={bounces_cursor}"),
            &w.a_admin,
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "invalid_cursor"));
    // A billing key reads usage, not the log.
    let billing = w.server.key_for(&w.a, Role::Billing, true);
    let (status, code, _) = w.refused("/api/v1/events", &billing).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
}

async fn addresses_are_masked_unless_the_key_may_see_them(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let clear = w
        .server
        .get("/api/v1/events?limit=1000", &w.a_admin)
        .await
        .text();
    for address in ["bounce@dom.example", "app@a.example", "x@listed.example"] {
        assert!(
            clear.contains(address),
            "{address} in clear for see_addresses"
        );
    }
    assert!(clear.contains("<Bounce@Dom.example>: no such user"));
    assert!(clear.contains("cc hanako@else.example"));
    assert!(clear.contains("to:p0@dom.example"));

    for path in [
        "/api/v1/events?limit=1000".to_string(),
        "/api/v1/bounces".to_string(),
        format!("/api/v1/messages/{}", w.m1),
        format!("/api/v1/messages/{}", w.m2),
    ] {
        let r = w.server.get(&path, &w.a_viewer).await;
        assert_eq!(r.status, 200, "{path}");
        let text = r.text().to_ascii_lowercase();
        for local in [
            "ok@", "bounce@", "later@", "x@listed", "app@", "p0@", "p6@", "hanako@",
        ] {
            assert!(!text.contains(local), "{path} shows {local}: {text}");
        }
        assert!(text.contains("***@dom.example"), "{path}: {text}");
    }
    let masked = w
        .ok(&format!("/api/v1/messages/{}", w.m1), &w.a_viewer)
        .await;
    assert_eq!(masked["sender"], "a***@a.example");
    assert_eq!(
        masked["metadata"],
        serde_json::json!({"contact": "o***@dom.example", "note": "cc h***@else.example"})
    );
    let bounced = masked["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["reason"] == "userunknown")
        .unwrap();
    assert_eq!(bounced["recipient"], "b***@dom.example");
    assert_eq!(
        bounced["details"]["text"],
        "5.1.1 <b***@dom.example>: no such user"
    );
    let bounces = w.ok("/api/v1/bounces", &w.a_viewer).await;
    assert_eq!(bounces["data"][1]["recipient"], "b***@dom.example");
}

async fn a_message_history_is_its_contracts_alone(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let history = w
        .ok(&format!("/api/v1/messages/{}", w.m1), &w.a_admin)
        .await;
    assert_eq!(history["message_id"], w.m1.to_string());
    assert_eq!(history["customer_id"], w.a.as_str());
    assert_eq!(history["sender"], "app@a.example");
    assert_eq!(history["tags"], serde_json::json!(["welcome"]));
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 9);
    assert_eq!(kinds[0], "accepted");
    assert_eq!(kinds.iter().filter(|k| **k == "accepted").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "bounced").count(), 2);
    assert_eq!(kinds.last(), Some(&"bounced"), "in the order they happened");
    // Upper case names the same message.
    let upper = w.m1.to_string().to_ascii_uppercase();
    w.ok(&format!("/api/v1/messages/{upper}"), &w.a_admin).await;

    let other = MessageId::new(Timestamp(T0)).to_string();
    for (path, key) in [
        (format!("/api/v1/messages/{}", w.m1), &w.b_admin),
        (format!("/api/v1/messages/{}", w.m3), &w.a_admin),
        (format!("/api/v1/messages/{other}"), &w.a_admin),
        ("/api/v1/messages/not-an-id".to_string(), &w.a_admin),
        ("/api/v1/messages/%00".to_string(), &w.a_admin),
    ] {
        let r = w.server.get(&path, key).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert_eq!(r.error_code(), "not_found");
        assert!(!r.text().contains("a.example") && !r.text().contains("b.example"));
    }
    let b = w
        .ok(&format!("/api/v1/messages/{}", w.m3), &w.b_admin)
        .await;
    assert_eq!(b["events"].as_array().unwrap().len(), 4);
}

async fn bounces_list_failed_addresses_with_why(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let bounces = w.ok("/api/v1/bounces", &w.a_admin).await;
    let data = bounces["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["recipient"], "later@other.example");
    assert_eq!(data[0]["reason"], "mailboxfull");
    assert_eq!(data[0]["hard"], false);
    assert_eq!(data[0]["time"], at(T0 + 2 * HOUR));
    assert_eq!(data[1]["recipient"], "bounce@dom.example");
    assert_eq!(
        (&data[1]["reason"], &data[1]["hard"], &data[1]["code"]),
        (
            &Value::from("userunknown"),
            &Value::from(true),
            &Value::from(550)
        )
    );
    assert_eq!(data[1]["source"], "smtp");
    assert_eq!(data[1]["message_id"], w.m1.to_string());

    let one = w.ok("/api/v1/bounces?reason=userunknown", &w.a_admin).await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    let recent = w
        .ok(
            &format!("/api/v1/bounces?since={}", at(T0 + HOUR)),
            &w.a_admin,
        )
        .await;
    assert_eq!(recent["data"].as_array().unwrap().len(), 1);
    let early = w
        .ok(
            &format!("/api/v1/bounces?until={}", at(T0 + HOUR)),
            &w.a_admin,
        )
        .await;
    assert_eq!(early["data"][0]["reason"], "userunknown");
    let (paged, pages) = w.all_pages("/api/v1/bounces", &w.a_admin, 1).await;
    assert_eq!((paged, pages), (data.clone(), 2));
    let none = w.ok("/api/v1/bounces", &w.b_admin).await;
    assert_eq!(none["data"], serde_json::json!([]));
    let (status, code, field) = w.refused("/api/v1/bounces?reason=bogus", &w.a_admin).await;
    assert_eq!(
        (status, code.as_str(), field.as_deref()),
        (400, "invalid_query", Some("reason"))
    );
    let (status, _, _) = w.refused("/api/v1/bounces?kind=bounced", &w.a_admin).await;
    assert_eq!(status, 400);
}

const KINDS: [&str; 7] = [
    "accepted",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "suppressed",
    "complaint",
];

/// Counts by kind of the events, as the statistics name them.
fn tally<'a>(events: impl Iterator<Item = &'a Value>) -> BTreeMap<String, u64> {
    let mut counts: BTreeMap<String, u64> = KINDS.iter().map(|k| (k.to_string(), 0)).collect();
    for e in events {
        if let Some(n) = counts.get_mut(e["kind"].as_str().unwrap()) {
            *n += 1;
        }
    }
    counts
}

fn counts_of(point: &Value) -> BTreeMap<String, u64> {
    KINDS
        .iter()
        .map(|k| (k.to_string(), point[k].as_u64().unwrap()))
        .collect()
}

async fn statistics_equal_the_events_written(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    for (key, customer) in [(&w.a_admin, &w.a), (&w.b_admin, &w.b)] {
        let events = w.ok("/api/v1/events?limit=1000", key).await;
        let events = events["data"].as_array().unwrap().clone();
        assert!(events.iter().all(|e| e["customer_id"] == customer.as_str()));
        let range = format!("from={}&to={}", at(T0), at(T0 + 4 * HOUR));

        let hourly = w
            .ok(&format!("/api/v1/stats?{range}&granularity=hour"), key)
            .await;
        assert_eq!(hourly["granularity"], "hour");
        let points = hourly["points"].as_array().unwrap();
        assert_eq!(points.len(), 4);
        for (i, point) in points.iter().enumerate() {
            let start = T0 + i as i64 * HOUR;
            assert_eq!(point["start"], at(start));
            let expected = tally(events.iter().filter(|e| {
                let t: Timestamp = e["time"].as_str().unwrap().parse().unwrap();
                (start..start + HOUR).contains(&t.as_millis())
            }));
            assert_eq!(counts_of(point), expected, "hour {i}");
        }
        let daily = w
            .ok(&format!("/api/v1/stats?{range}&granularity=day"), key)
            .await;
        assert_eq!(daily["points"].as_array().unwrap().len(), 1);
        assert_eq!(counts_of(&daily["points"][0]), tally(events.iter()));
        let minutes = w
            .ok(
                &format!(
                    "/api/v1/stats?from={}&to={}&granularity=minute",
                    at(T0),
                    at(T0 + 2 * MINUTE)
                ),
                key,
            )
            .await;
        let points = minutes["points"].as_array().unwrap();
        assert_eq!(points.len(), 2);
        let first_minutes: Vec<Value> = events
            .iter()
            .filter(|e| {
                let t: Timestamp = e["time"].as_str().unwrap().parse().unwrap();
                t.as_millis() < T0 + MINUTE
            })
            .cloned()
            .collect();
        assert_eq!(counts_of(&points[0]), tally(first_minutes.iter()));

        // By reason: the events that have one, counted.
        let reasons = w.ok(&format!("/api/v1/stats/reasons?{range}"), key).await;
        let mut expected: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in &events {
            if let Some(reason) = e["details"]["reason"].as_str() {
                *expected
                    .entry((e["kind"].as_str().unwrap().into(), reason.into()))
                    .or_default() += 1;
            }
        }
        let got: BTreeMap<(String, String), u64> = reasons["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    (
                        r["kind"].as_str().unwrap().into(),
                        r["reason"].as_str().unwrap().into(),
                    ),
                    r["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, expected);

        // By domain: the events grouped by the recipient's domain.
        let domains = w
            .ok(&format!("/api/v1/stats/domains?{range}&limit=10"), key)
            .await;
        let mut by_domain: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in &events {
            let domain = e["recipient"].as_str().unwrap().rsplit_once('@').unwrap().1;
            by_domain
                .entry(domain.to_string())
                .or_default()
                .push(e.clone());
        }
        let data = domains["data"].as_array().unwrap();
        assert_eq!(data.len(), by_domain.len());
        for d in data {
            let events = &by_domain[d["domain"].as_str().unwrap()];
            assert_eq!(counts_of(d), tally(events.iter()), "{d}");
        }
        let totals: Vec<u64> = data.iter().map(|d| counts_of(d).values().sum()).collect();
        assert!(totals.windows(2).all(|t| t[0] >= t[1]), "most first");
        let top = w
            .ok(&format!("/api/v1/stats/domains?{range}&limit=1"), key)
            .await;
        assert_eq!(top["data"].as_array().unwrap().len(), 1);
        assert_eq!(top["data"][0], data[0]);
    }
    // A's numbers as written: hour 0 holds m1's acceptance and first attempts.
    let a = w
        .ok(
            &format!("/api/v1/stats?from={}&to={}", at(T0), at(T0 + HOUR)),
            &w.a_admin,
        )
        .await;
    assert_eq!(
        (
            &a["points"][0]["accepted"],
            &a["points"][0]["suppressed"],
            &a["points"][0]["bounced"]
        ),
        (&Value::from(4), &Value::from(1), &Value::from(1))
    );
    // The default: the last 24 hours by hour, nothing recorded there.
    let recent = w.ok("/api/v1/stats", &w.a_admin).await;
    assert_eq!(recent["granularity"], "hour");
    let points = recent["points"].as_array().unwrap();
    assert!((24..=25).contains(&points.len()), "{}", points.len());
    assert!(
        points
            .iter()
            .all(|p| counts_of(p).values().all(|n| *n == 0))
    );

    let refusals = [
        (
            format!(
                "/api/v1/stats?from={}&to={}&granularity=minute",
                at(T0),
                at(T0 + 8 * 24 * HOUR)
            ),
            "granularity",
        ),
        (
            format!(
                "/api/v1/stats?from={}&to={}",
                at(T0),
                at(T0 + 500 * 24 * HOUR)
            ),
            "from",
        ),
        (format!("/api/v1/stats?from={}&to={}", at(T0), at(T0)), "to"),
        (
            format!("/api/v1/stats/reasons?from={}&to={}", at(T0 + HOUR), at(T0)),
            "to",
        ),
        (
            format!(
                "/api/v1/stats/domains?from={}&to={}",
                at(T0 - 401 * 24 * HOUR),
                at(T0)
            ),
            "from",
        ),
    ];
    for (path, field) in refusals {
        let (status, code, got) = w.refused(&path, &w.a_admin).await;
        assert_eq!(
            (status, code.as_str(), got.as_deref()),
            (422, "invalid_field", Some(field)),
            "{path}"
        );
    }
    for path in [
        "/api/v1/stats?granularity=week",
        "/api/v1/stats?from=soon",
        "/api/v1/stats/domains?limit=0",
        "/api/v1/stats/domains?limit=1001",
        "/api/v1/stats/reasons?customer_id=x",
    ] {
        let (status, _, _) = w.refused(path, &w.a_admin).await;
        assert_eq!(status, 400, "{path}");
    }
}

async fn usage_counts_sent_against_the_plan(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    // A: 11 recipients accepted, 1 of them suppressed; the plan covers 3 → 7 over: 1 unit.
    let a = w.ok("/api/v1/usage?month=2026-11", &w.a_admin).await;
    assert_eq!(
        a,
        serde_json::json!({
            "customer_id": w.a.as_str(), "month": "2026-11", "sent": 10, "plan": "standard",
            "monthly_volume": 3, "excess_units": 1,
        })
    );
    let b = w.ok("/api/v1/usage?month=2026-11", &w.b_admin).await;
    assert_eq!(
        (&b["sent"], &b["excess_units"]),
        (&Value::from(2), &Value::from(0))
    );
    let october = w.ok("/api/v1/usage?month=2026-10", &w.a_admin).await;
    assert_eq!(october["sent"], 0);
    let now = w.ok("/api/v1/usage", &w.a_admin).await;
    assert_eq!(now["month"], Timestamp::now().to_string()[..7]);
    let billing = w.server.key_for(&w.a, Role::Billing, false);
    let viewer = w.ok("/api/v1/usage?month=2026-11", &billing).await;
    assert_eq!(viewer["sent"], 10);

    // More than a thousand over: started thousands. 1,004 more accepted for A in November.
    let many: Vec<String> = (0..1004).map(|i| format!("n{i}@bulk.example")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    accept(
        &w.server.store,
        &w.a,
        T0 + 4 * 24 * HOUR,
        "app@a.example",
        &many,
        &[],
    )
    .await;
    let a = w.ok("/api/v1/usage?month=2026-11", &w.a_admin).await;
    // 1,014 sent, 1,011 over the 3 covered: 2 units.
    assert_eq!(
        (&a["sent"], &a["excess_units"]),
        (&Value::from(1014), &Value::from(2))
    );

    for month in [
        "2026-13",
        "2026-1",
        "26-11",
        "2026-11-01",
        "2026_11",
        "2026-1a",
        "%EF%BC%92026-11",
        "",
    ] {
        let r = w
            .server
            .get(&format!("/api/v1/usage?month={month}"), &w.a_admin)
            .await;
        assert_eq!(r.status, 400, "{month:?}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], "month");
    }

    let operator = w.server.operator_key();
    let all = w
        .ok("/api/v1/operator/usage?month=2026-11", &operator)
        .await;
    assert_eq!(all["month"], "2026-11");
    let rows: BTreeMap<String, (u64, u64)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["customer_id"].as_str().unwrap().to_string(),
                (
                    u["sent"].as_u64().unwrap(),
                    u["excess_units"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(rows[w.a.as_str()], (1014, 2));
    assert_eq!(rows[w.b.as_str()], (2, 0));
    let (status, code, _) = w.refused("/api/v1/operator/usage", &w.a_admin).await;
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, _, _) = w.refused("/api/v1/usage", &operator).await;
    assert_eq!(status, 403);
}

on_both_backends!(
    the_search_finds_by_every_filter_and_pages_once,
    addresses_are_masked_unless_the_key_may_see_them,
    a_message_history_is_its_contracts_alone,
    bounces_list_failed_addresses_with_why,
    statistics_equal_the_events_written,
    usage_counts_sent_against_the_plan,
);

#[tokio::test]
async fn the_document_describes_the_search() {
    let server = Server::start(Backend::Sqlite, "").await.unwrap();
    let doc = server
        .call("GET", "/api/v1/openapi.json", None, None, b"")
        .await
        .json();
    let parameters = doc["paths"]["/events"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = parameters
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "since",
            "until",
            "recipient",
            "recipient_domain",
            "sender",
            "message_id",
            "kind",
            "reason",
            "tag",
            "limit",
            "cursor"
        ]
    );
    let kind = &parameters[6]["schema"];
    assert_eq!(kind["type"], "array", "{kind}");
    assert_eq!(kind["items"]["enum"][3], "bounced", "{kind}");
    assert_eq!(parameters[7]["schema"]["enum"][0], "authfailure");
    for path in [
        "/messages/{message_id}",
        "/bounces",
        "/stats",
        "/stats/reasons",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    let month = &doc["paths"]["/usage"]["get"]["parameters"][0];
    assert_eq!(month["name"], "month");
    assert!(month["schema"]["pattern"].is_string(), "{month}");
}
