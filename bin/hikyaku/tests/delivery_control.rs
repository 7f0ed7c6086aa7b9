//! Per-destination send control and operator control, end to end: the real `hikyaku serve`
//! with a static route to a scripted MX on 127.0.0.1 that throttles, answers slowly or offers
//! STARTTLS, and `hikyaku queue retry|delete` acting on a running node.

mod delivery_support;

use delivery_support::{
    delivered_by, event, kind, kinds, metric, outcome, route_everything, scrape_metrics, search,
    send, send_each, spool_file, start, wait_for_events, wait_for_kind, wait_for_log, wait_until,
};
use hikyaku_testkit::{HikyakuProcess, Sink};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A node routing every domain to `sink`, with these destination rules (a TOML array).
fn start_routed(sink: &Sink, rules: &str) -> HikyakuProcess {
    let (node, _) = start(|b| {
        route_everything(b, &sink.addr().to_string());
        if !rules.is_empty() {
            b.set("delivery", "destination", rules);
        }
    });
    node
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Records, from a thread polling every 5 ms, the wall-clock time (ms) at which the sink's
/// n-th connection was first seen: never before it was accepted, at most a poll after. Stops
/// when the returned flag is set.
fn watch_connections(sink: &Arc<Sink>) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<i64>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let sink = Arc::clone(sink);
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !stopped.load(Ordering::SeqCst) {
            let total = sink.total_connections();
            let now = now_ms();
            while (seen.len() as u64) < total {
                seen.push(now);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        seen
    });
    (stop, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_says_421_is_backed_off_and_recovers_by_itself() {
    // Three messages per connection, then "421 4.7.0 Too many messages" at the next MAIL.
    let sink = Arc::new(
        Sink::builder()
            .messages_per_connection(3)
            .start()
            .await
            .unwrap(),
    );
    let node = start_routed(
        &sink,
        r#"[{ match = "*", max_connections = 1, backoff = "2s" }]"#,
    );
    let (stop, watcher) = watch_connections(&sink);
    // Four messages: three on the first connection, a 421 for the fourth, which goes on a
    // second connection once the pause is over.
    let recipients: Vec<String> = (0..4).map(|i| format!("user{i}@example.jp")).collect();
    let ids = send_each(&node, &recipients).await;

    let delivered = wait_for_kind(&node, "delivered", ids.len());
    stop.store(true, Ordering::SeqCst);
    let connections = watcher.join().unwrap();
    assert_eq!(sink.received().len(), ids.len(), "each message once");

    let deferred = search(&node, &["--outcome", "deferred"]);
    assert!(!deferred.is_empty(), "the sink never said 421");
    for d in &deferred {
        let attempt = d["details"]["attempt"].clone();
        assert_eq!(
            outcome(d),
            json!([
                "deferred",
                421,
                "4.7.0",
                "securityerror",
                "127.0.0.1",
                "127.0.0.1",
                false,
                attempt
            ])
        );
        assert!(
            d["details"]["text"]
                .as_str()
                .unwrap()
                .contains("Too many messages"),
            "{d:#?}"
        );
    }
    for d in &delivered {
        let id = d["message_id"].as_str().unwrap();
        let tries = deferred.iter().filter(|e| e["message_id"] == id).count();
        assert_eq!(
            outcome(d),
            delivered_by("127.0.0.1", "127.0.0.1", false, tries as u64 + 1)
        );
    }

    // Every connection after the first was opened because a back-off ended: none while it
    // lasted (2 s from the 421), and promptly after it (the retries were due after 1 s).
    assert_eq!(
        connections.len(),
        deferred.len() + 1,
        "connections seen at {connections:?}, deferrals {deferred:#?}"
    );
    // The n-th 421 ended connection n; connection n + 1 must wait for the back-off.
    let mut throttled: Vec<i64> = deferred
        .iter()
        .map(|d| {
            let at = d["time"].as_str().expect("an RFC 3339 time");
            at.parse::<hikyaku_model::Timestamp>().unwrap().as_millis()
        })
        .collect();
    throttled.sort_unstable();
    for (n, at) in throttled.iter().enumerate() {
        let pause = connections[n + 1] - at;
        assert!(
            (1980..4000).contains(&pause),
            "connection {} came {pause} ms after the 421 (back-off 2 s): connections at \
             {connections:?}, 421s at {throttled:?}",
            n + 2
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_spaces_messages_across_connections() {
    let sink = Sink::start().await.unwrap();
    // 4 per second, a burst of one second's worth; up to 20 connections share the limit.
    let node = start_routed(&sink, r#"[{ match = "*", max_rate = "240/min" }]"#);
    let recipients: Vec<String> = (0..10).map(|i| format!("rated{i}@example.jp")).collect();
    // Arrival times are taken when the test sees them, which can be late (the test is busy
    // sending, or the machine is loaded) but never early: so only "not before" bounds hold.
    let start = Instant::now();
    send_each(&node, &recipients).await;

    let mut arrivals = Vec::new();
    for n in 1..=recipients.len() {
        sink.wait_for(n, Duration::from_secs(20)).await.unwrap();
        arrivals.push(Instant::now());
    }
    // 4 at once (the burst), then one every 250 ms: the tenth cannot come before 1.5 s, the
    // sixth not before 0.5 s.
    let tenth = arrivals[9] - start;
    assert!(
        tenth >= Duration::from_millis(1450) && tenth < Duration::from_secs(10),
        "10 messages at 240/min took {tenth:?}"
    );
    let sixth = arrivals[5] - start;
    assert!(
        sixth >= Duration::from_millis(450),
        "6 messages at 240/min within {sixth:?}"
    );
    assert!(
        sink.total_connections() >= 2,
        "one connection only: the limit was not shared"
    );
    let delivered = wait_for_kind(&node, "delivered", recipients.len());
    for d in &delivered {
        assert_eq!(
            outcome(d),
            delivered_by("127.0.0.1", "127.0.0.1", false, 1),
            "waiting for the rate is not a failed attempt"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_holds_between_connections() {
    let sink = Sink::start().await.unwrap();
    // One message a second; each connection carries one message and closes, so nothing of the
    // destination stays open between the two.
    let node = start_routed(
        &sink,
        r#"[{ match = "*", max_rate = "60/min", max_messages_per_connection = 1 }]"#,
    );
    send(&node, &["first@example.jp"]).await;
    sink.wait_for(1, Duration::from_secs(20)).await.unwrap();
    let first = Instant::now();
    wait_until(
        "the first connection to close",
        Duration::from_secs(5),
        || sink.current_connections() == 0,
    );
    send(&node, &["second@example.jp"]).await;
    sink.wait_for(2, Duration::from_secs(20)).await.unwrap();
    let gap = first.elapsed();
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_secs(5),
        "the second message came {gap:?} after the first at 60/min"
    );
    for d in wait_for_kind(&node, "delivered", 2) {
        assert_eq!(
            outcome(&d),
            delivered_by("127.0.0.1", "127.0.0.1", false, 1)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_replies_are_waited_for() {
    let sink = Sink::start().await.unwrap();
    let node = start_routed(&sink, "");
    let slow_rcpt = send(&node, &["slow-800@example.jp"]).await;
    let slow_data = send(&node, &["data-slow-800@example.jp"]).await;
    for id in [&slow_rcpt, &slow_data] {
        let events = wait_for_events(&node, id, "delivered", 1);
        assert_eq!(kinds(&events), ["accepted", "delivered"], "{events:#?}");
        assert_eq!(
            outcome(&events[1]),
            delivered_by("127.0.0.1", "127.0.0.1", false, 1)
        );
        let delay = events[1]["details"]["delay_ms"].as_i64().unwrap();
        assert!(delay >= 800, "delivered {delay} ms after acceptance");
    }
    assert_eq!(sink.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_is_used_when_offered() {
    let sink = Sink::builder().starttls().start().await.unwrap();
    let node = start_routed(&sink, "");
    let id = send(&node, &["user@example.jp"]).await;
    let delivered = event(&node, &id, "delivered");
    assert_eq!(
        outcome(&delivered),
        delivered_by("127.0.0.1", "127.0.0.1", true, 1)
    );
    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].tls, "the message came in plain text");
    assert!(sink.violations().is_empty(), "{:?}", sink.violations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_tls_never_falls_back_to_plain_text() {
    let sink = Sink::start().await.unwrap();
    let node = start_routed(
        &sink,
        r#"[{ match = "*", tls = "required", backoff = "1s" }]"#,
    );
    let id = send(&node, &["user@example.jp"]).await;

    // Two attempts, both refused by us before any MAIL FROM.
    let events = wait_for_events(&node, &id, "deferred", 2);
    for (i, deferred) in events.iter().filter(|e| kind(e) == "deferred").enumerate() {
        assert_eq!(
            outcome(deferred),
            json!([
                "deferred",
                451,
                "4.4.1",
                "failedstarttls",
                "127.0.0.1",
                "127.0.0.1",
                false,
                i + 1
            ])
        );
        assert!(
            deferred["details"]["text"]
                .as_str()
                .unwrap()
                .contains("TLS is required but the server does not offer STARTTLS"),
            "{deferred:#?}"
        );
    }
    assert!(sink.received().is_empty());
    let commands: Vec<String> = sink.commands().into_iter().map(|c| c.line).collect();
    assert!(sink.total_connections() >= 2, "{commands:?}");
    assert!(
        commands
            .iter()
            .all(|c| c.starts_with("EHLO ") || c == "QUIT"),
        "more than EHLO in plain text: {commands:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_retry_and_delete_deferred_messages() {
    let sink = Sink::start().await.unwrap();
    let (node, _) = start(|b| {
        route_everything(b, &sink.addr().to_string());
        // No retry by itself within the test: what happens is the operator's doing.
        b.set("delivery", "retry_intervals", "[\"1h\"]");
    });
    let retried = send(&node, &["tempfail-then-ok@example.jp"]).await;
    let deleted = send(&node, &["tempfail@example.jp"]).await;
    for id in [&retried, &deleted] {
        let deferred = event(&node, id, "deferred");
        assert_eq!(
            outcome(&deferred),
            json!([
                "deferred",
                451,
                "4.3.0",
                "systemerror",
                "127.0.0.1",
                "127.0.0.1",
                false,
                1
            ])
        );
    }

    let out = node
        .cli_ok(&["queue", "retry", &retried, "--json"])
        .unwrap();
    let change: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        change["recipients"],
        json!(["tempfail-then-ok@example.jp"]),
        "{out}"
    );
    let asked = Instant::now();
    let events = wait_for_events(&node, &retried, "delivered", 1);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the retry took {:?}",
        asked.elapsed()
    );
    assert_eq!(kinds(&events), ["accepted", "deferred", "delivered"]);
    assert_eq!(
        outcome(&events[2]),
        delivered_by("127.0.0.1", "127.0.0.1", false, 2)
    );

    let spooled = spool_file(node.data_dir(), &deleted).expect("a deferred message is spooled");
    let out = node
        .cli_ok(&["queue", "delete", &deleted, "--json"])
        .unwrap();
    let change: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        change["recipients"],
        json!(["tempfail@example.jp"]),
        "{out}"
    );
    let events = wait_for_log(&node, &deleted, "deleted", |events| {
        events.last().is_some_and(|e| kind(e) == "deleted")
    });
    assert_eq!(kinds(&events), ["accepted", "deferred", "deleted"]);
    assert_eq!(events[2]["recipient"], "tempfail@example.jp");
    assert_eq!(
        outcome(&events[2]),
        json!(["deleted", null, null, null, null, null, null, null]),
        "an operator's deletion, not a delivery attempt"
    );
    wait_until("the spool file to go", Duration::from_secs(10), || {
        !spooled.exists()
    });
    let attempts = sink
        .commands()
        .iter()
        .filter(|c| c.line.contains("RCPT TO:<tempfail@"))
        .count();
    assert_eq!(attempts, 1, "a deleted message was tried again");
}

/// Another process holding the SQLite write lock (Python's sqlite3 module, a client we did not
/// write) until dropped: the node's database is "away" for writes meanwhile.
struct DatabaseWriteLock(std::process::Child);

impl DatabaseWriteLock {
    fn take(db: &std::path::Path) -> Option<DatabaseWriteLock> {
        use std::io::BufRead;
        let python = hikyaku_testkit::tool("python3")?;
        let mut child = std::process::Command::new(python)
            .args([
                "-c",
                "import sqlite3, sys\n\
                 c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
                 c.execute('BEGIN IMMEDIATE')\n\
                 print('locked', flush=True)\n\
                 sys.stdin.read()\n",
            ])
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        Some(DatabaseWriteLock(child))
    }
}

impl Drop for DatabaseWriteLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// While the database cannot take outcomes, no more than `max_unrecorded_outcomes` attempts are
/// made (each one a delivery a crash would repeat); when it is back, delivery resumes and every
/// message arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_pauses_while_outcomes_cannot_be_recorded() {
    const LIMIT: usize = 5;
    const MESSAGES: usize = 30;
    let sink = Sink::start().await.unwrap();
    let (node, _) = start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("delivery", "retry_intervals", "[\"5s\"]");
        b.set("delivery", "max_unrecorded_outcomes", &LIMIT.to_string());
        b.set(
            "delivery",
            "destination",
            r#"[{ match = "*", max_connections = 1 }]"#,
        );
    });
    // Every first attempt is deferred (and recorded); the retries come 5 s later.
    let recipients: Vec<String> = (0..MESSAGES)
        .map(|i| format!("tempfail-then-ok+{i}@example.jp"))
        .collect();
    send_each(&node, &recipients).await;
    wait_for_kind(&node, "deferred", MESSAGES);
    let Some(lock) = DatabaseWriteLock::take(&node.data_dir().join("hikyaku.db")) else {
        return;
    };
    wait_until("the retries to start", Duration::from_secs(30), || {
        !sink.received().is_empty()
    });
    // Give the engine time to overrun the limit, were it not holding back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let while_away = sink.received().len();
    assert!(
        (1..=LIMIT).contains(&while_away),
        "{while_away} deliveries while the database was away (limit {LIMIT})"
    );
    drop(lock);
    wait_for_kind(&node, "delivered", MESSAGES);
    let mut addresses: Vec<String> = sink
        .received()
        .iter()
        .flat_map(|m| m.recipients.clone())
        .collect();
    addresses.sort();
    addresses.dedup();
    assert_eq!(sink.received().len(), MESSAGES, "each message exactly once");
    assert_eq!(addresses.len(), MESSAGES);
}

/// Two smarthosts on one address, told apart by their port: each gets only its own mail, even
/// while a connection to the other is open and idle, and the send log and the mail log say
/// which port took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_smarthosts_on_one_address_each_get_their_own_mail() {
    let everything = Sink::start().await.unwrap();
    let other = Sink::start().await.unwrap();
    let (node, _) = start(|b| {
        b.set("delivery", "resolver", "\"static\"");
        b.set(
            "delivery",
            "route",
            &format!(
                "[{{ domain = \"*\", host = \"{}\" }}, {{ domain = \"other.test\", host = \"{}\" }}]",
                everything.addr(),
                other.addr()
            ),
        );
    });
    let first = send(&node, &["a@example.jp"]).await;
    event(&node, &first, "delivered");
    // The connection to the first smarthost now waits a few seconds for more work.
    let second = send(&node, &["b@other.test"]).await;
    let delivered = event(&node, &second, "delivered");
    let recipients = |sink: &Sink| -> Vec<String> {
        sink.received()
            .into_iter()
            .flat_map(|m| m.recipients)
            .collect()
    };
    assert_eq!(recipients(&everything), ["a@example.jp"], "{}", node.log());
    assert_eq!(recipients(&other), ["b@other.test"], "{}", node.log());
    assert_eq!(delivered["details"]["remote"]["host"], "127.0.0.1");
    assert_eq!(delivered["details"]["remote"]["port"], other.addr().port());
    assert_eq!(delivered["details"]["source"], "smtp");
    let table = node
        .cli_ok(&["log", "search", "--message-id", &second])
        .unwrap();
    assert!(table.contains("PORT"), "{table}");
    assert!(table.contains(&other.addr().port().to_string()), "{table}");
    // The mail log: one line per attempt, naming the destination with its port.
    let mail_log = node.log();
    let line = mail_log
        .lines()
        .find(|l| l.contains("delivery attempt") && l.contains(&second))
        .unwrap_or_else(|| panic!("no attempt line for {second}:\n{mail_log}"));
    assert!(
        line.contains(&format!("destination={}", other.addr())) && line.contains("delivered"),
        "{line}"
    );
}

/// `/metrics` has the delivery figures: every outcome and reason at zero from the start, each
/// rule's connections and back-offs, the queue; and counts what happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_metrics_are_there_from_the_start_and_count_outcomes() {
    let sink = Sink::start().await.unwrap();
    let node = start_routed(&sink, r#"[{ match = "example.jp", max_connections = 2 }]"#);
    let page = scrape_metrics(&node);
    let outcomes = "hikyaku_delivery_outcomes_total";
    assert!(
        page.contains(&format!("# TYPE {outcomes} counter")),
        "{page}"
    );
    for labels in [
        ["outcome=\"delivered\"", "reason=\"none\""],
        ["outcome=\"bounced\"", "reason=\"userunknown\""],
        ["outcome=\"deferred\"", "reason=\"toomanyconn\""],
        ["outcome=\"expired\"", "reason=\"expired\""],
        ["outcome=\"suppressed\"", "reason=\"manual\""],
    ] {
        assert_eq!(
            metric(&page, outcomes, &labels),
            Some(0.0),
            "{labels:?}\n{page}"
        );
    }
    for destination in ["destination=\"example.jp\"", "destination=\"*\""] {
        for name in ["hikyaku_delivery_connections", "hikyaku_delivery_backoffs"] {
            assert_eq!(
                metric(&page, name, &[destination]),
                Some(0.0),
                "{name}\n{page}"
            );
        }
    }
    assert_eq!(
        metric(&page, "hikyaku_delivery_queue_messages", &[]),
        Some(0.0)
    );
    assert_eq!(
        metric(&page, "hikyaku_delivery_queue_oldest_age_seconds", &[]),
        Some(0.0)
    );

    let id = send(&node, &["one@example.jp"]).await;
    event(&node, &id, "delivered");
    let delivered = ["outcome=\"delivered\"", "reason=\"none\""];
    wait_until("the delivery counted", Duration::from_secs(10), || {
        metric(&scrape_metrics(&node), outcomes, &delivered) == Some(1.0)
    });
    // The idle connection the delivery left is counted under its rule.
    let page = scrape_metrics(&node);
    let connections = metric(
        &page,
        "hikyaku_delivery_connections",
        &["destination=\"example.jp\""],
    );
    assert!(matches!(connections, Some(0.0 | 1.0)), "{page}");
}

/// A refusal this node makes by itself (here: the message is over the size the server
/// advertises, so it is never offered) is recorded and logged as ours, not as the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_made_here_is_recorded_as_ours() {
    let sink = Sink::builder().size_limit(10).start().await.unwrap();
    let node = start_routed(&sink, "");
    let id = send(&node, &["big@example.jp"]).await;
    let bounced = event(&node, &id, "bounced");
    assert_eq!(bounced["details"]["source"], "local", "{bounced:#}");
    assert_eq!(bounced["details"]["code"], 552);
    assert_eq!(
        bounced["details"]["remote"]["port"],
        sink.addr().port(),
        "the server it concerned"
    );
    assert!(sink.received().is_empty());
    let mail_log = node.log();
    let line = mail_log
        .lines()
        .find(|l| l.contains("delivery attempt") && l.contains(&id))
        .unwrap_or_else(|| panic!("no attempt line for {id}:\n{mail_log}"));
    assert!(line.contains("said=\"local\""), "{line}");
}

/// SIGTERM while the remote is still reading a message: the stop waits for its reply and
/// commits the outcome, so the next start does not send the message again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_during_a_delivery_records_it_and_sends_nothing_twice() {
    let sink = Sink::start().await.unwrap();
    let node = start_routed(&sink, "");
    let id = send(&node, &["data-slow-1500@example.jp"]).await;
    wait_until("the message on the wire", Duration::from_secs(30), || {
        sink.commands().iter().any(|c| c.line.starts_with("DATA"))
    });
    let (status, prepared) = node.terminate(Duration::from_secs(60)).unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(sink.received().len(), 1);
    let out = prepared
        .cli_ok(&["log", "search", "--message-id", &id, "--json"])
        .unwrap();
    assert!(out.contains("\"delivered\""), "{out}");
    let node = prepared.start().unwrap();
    // The restarted node has nothing to send: the outcome was committed before the exit.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sink.received().len(), 1, "{}", node.log());
}
