//! How fast the console's pages answer over a large send log: a measurement, ignored by
//! default. It fills a store with about `HIKYAKU_BENCH_EVENTS` send-log events (default
//! 200,000; 10,000,000 for the real measure) spread over 40 days, through
//! `hikyaku_store::testing::fill_send_log_bulk` (traffic shaped like a real contract's: kinds,
//! reasons, domains, senders, tags common and rare), logs in as the contract's admin, and times each page 100 times over real HTTP on
//! 127.0.0.1, one request at a time, printing p50 / p99 / max. The time is the client's, from
//! connecting to the last byte, so it bounds the server's time from above. Target: p99 under
//! 100 ms for every page.
//!
//! `cargo test --release -p hikyaku-console --test page_speed -- --ignored --nocapture`
//! (`HIKYAKU_BENCH_BACKEND=postgres` with `TEST_DATABASE_URL` for PostgreSQL).

mod common;

use common::{Backend, Server, accept};
use hikyaku_model::{Role, Timestamp};
use std::time::{Duration, Instant};

const ROUNDS: usize = 100;

fn bench_events() -> usize {
    std::env::var("HIKYAKU_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --ignored --nocapture"]
async fn pages_over_a_large_send_log() {
    let backend = match std::env::var("HIKYAKU_BENCH_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let server = Server::start(backend)
        .await
        .expect("TEST_DATABASE_URL for PostgreSQL");
    let (customer, _) = server
        .contract_with_user("Bench", "admin@bench.example", Role::Admin, true)
        .await;
    let events = bench_events();
    let started = Instant::now();
    let fill = hikyaku_store::testing::fill_send_log_bulk(
        &server.store,
        &customer,
        events as u64,
        40,
        |messages| println!("{backend:?}: {messages} messages written"),
    )
    .await
    .unwrap();
    println!(
        "{backend:?}: {} events of {} messages written in {:.1?}; messages per tag: {:?}",
        fill.events,
        fill.messages,
        started.elapsed(),
        fill.tagged
    );
    let events = fill.events;
    let viewed = accept(
        &server.store,
        &customer,
        Timestamp::now().as_millis() - 60_000,
        "notifications@sender.example",
        &["user7@d7.example"],
        &["bench"],
    )
    .await;

    let mut browser = server.browser();
    let reply = browser.log_in(&customer, "admin@bench.example").await;
    assert_eq!(reply.status, 303, "{}", reply.text());
    let message = format!("/log/messages/{viewed}");
    let pages: [(&str, &str); 19] = [
        ("dashboard", "/"),
        ("log search, newest", "/log"),
        ("log search, recipient", "/log?recipient=user7%40d7.example"),
        ("log search, sender", "/log?sender=billing%40sender.example"),
        ("log search, tag of 1 message", "/log?tag=bench"),
        ("log search, tag 1:100,000", "/log?tag=rare"),
        ("log search, tag 1:2,000", "/log?tag=campaign-7"),
        ("log search, tag 1:50", "/log?tag=password-reset"),
        ("log search, bounced", "/log?kind=bounced"),
        ("log search, expired", "/log?kind=expired"),
        ("log search, reason", "/log?reason=hostunknown"),
        ("message view", &message),
        (
            "delivery graph, 30 days",
            "/graph?range=30d&granularity=day",
        ),
        (
            "graph data, 30 days by hour",
            "/graph/data?range=30d&granularity=hour",
        ),
        (
            "graph data, 24 h by minute",
            "/graph/data?range=24h&granularity=minute",
        ),
        ("error graph", "/errors"),
        ("error graph, 30 days", "/errors?range=30d"),
        ("suppression list", "/suppressions"),
        ("settings", "/settings"),
    ];
    println!("{backend:?}, {events} events: page, p50 / p99 / max over {ROUNDS} requests");
    for (name, path) in pages {
        let mut times = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let reply = browser.get(path).await;
            times.push(started.elapsed());
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        }
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {name:30} {:7.1} / {:7.1} / {:7.1} ms",
            ms(at(0.5)),
            ms(at(0.99)),
            ms(at(1.0))
        );
    }
}
