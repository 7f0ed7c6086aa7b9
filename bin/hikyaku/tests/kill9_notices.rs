//! kill -9 while the contract-notice mailer is at work: every notice still reaches every admin
//! of its contract at least once, and every notice ends marked mailed.
//!
//! Several contracts with several admins (and a viewer, who must get nothing) have notices
//! recorded at once, as the webhook sender, the trial job or the reputation guard record them.
//! `hikyaku serve` is killed with SIGKILL each time the store shows that the mailer made
//! progress in this life — so at each kill a claimed batch is partly mailed, a notice may be
//! between the relay's spool and its `mailed_at`, and notice mail is queued or on the wire to
//! the sink MX — and restarted on the same data. A short `notices.lease` lets the notices a dead
//! node had claimed come back within the test. Run on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set.

mod delivery_support;

use delivery_support::route_everything;
use hikyaku_model::{CustomerId, NoticeKind, Timestamp};
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{SealingKey, Store};
use hikyaku_testkit::{HikyakuProcess, ProcessBuilder, Sink};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const CONTRACTS: usize = 6;
const ADMINS: usize = 3;
const NOTICES_PER_CONTRACT: usize = 6;
const KILLS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_while_mailing_notices_loses_none_sqlite() {
    notices_survive_kills(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_while_mailing_notices_loses_none_postgres() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    notices_survive_kills(Some(database)).await;
}

/// The node's own store, opened beside it (as another node sharing the database would).
async fn open_store(node: &HikyakuProcess, database: Option<&PostgresTestDatabase>) -> Store {
    let mut config =
        hikyaku_config::Config::default().with_data_dir_override(Some(node.data_dir().into()));
    config.database_url = database.map(|d| d.url().to_string());
    let key = SealingKey::load_or_create(&config.secret_key_path()).unwrap();
    Store::connect(&config.database_url(), key).await.unwrap()
}

async fn mailed(store: &Store) -> usize {
    store
        .list_notices(None, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|n| n.mailed_at.is_some())
        .count()
}

/// The (notice ID, recipient) pairs the sink has received, with how often each came.
fn received_pairs(sink: &Sink) -> BTreeMap<(i64, String), usize> {
    let mut pairs = BTreeMap::new();
    for mail in sink.received() {
        let text = String::from_utf8_lossy(&mail.data);
        // The mail's details name the notice: "  notice: 12 (webhook_endpoint_disabled)".
        let id = text.split("notice: ").skip(1).find_map(|rest| {
            let (digits, after) = rest.split_once(' ')?;
            after.starts_with('(').then(|| digits.parse::<i64>().ok())?
        });
        let Some(id) = id else {
            panic!("a mail that names no notice: {text}");
        };
        for recipient in &mail.recipients {
            *pairs.entry((id, recipient.to_lowercase())).or_insert(0) += 1;
        }
    }
    pairs
}

async fn notices_survive_kills(database: Option<PostgresTestDatabase>) {
    let sink = Sink::start().await.unwrap();
    let configure = |b: &mut ProcessBuilder| {
        route_everything(b, &sink.addr().to_string());
        b.set("notices", "poll_interval", "\"50ms\"");
        b.set("notices", "lease", "\"1s\"");
        if let Some(database) = &database {
            b.set("", "database_url", &format!("{:?}", database.url()));
        }
    };
    let (node, _) = delivery_support::start(configure);

    // The contracts, their admins (one of them behind a slow MX answer, so that deliveries are
    // in flight at the kills) and a viewer each.
    let mut admins: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in 0..CONTRACTS {
        let out = node
            .cli_ok(&[
                "contract",
                "create",
                "--name",
                &format!("Shop {c}"),
                "--json",
            ])
            .unwrap();
        let customer = serde_json::from_str::<Value>(out.trim()).unwrap()["customer_id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut list = Vec::new();
        for a in 0..ADMINS {
            let email = if a == ADMINS - 1 {
                format!("data-slow-40+admin{a}@shop{c}.example")
            } else {
                format!("admin{a}@shop{c}.example")
            };
            node.cli_ok(&["user", "add", &customer, "--email", &email])
                .unwrap();
            list.push(email);
        }
        node.cli_ok(&[
            "user",
            "add",
            &customer,
            "--email",
            &format!("viewer@shop{c}.example"),
            "--role",
            "viewer",
        ])
        .unwrap();
        admins.insert(customer, list);
    }

    // Every notice at once, as the platform's jobs record them.
    let store = open_store(&node, database.as_ref()).await;
    let mut expected: BTreeSet<(i64, String)> = BTreeSet::new();
    for (customer, list) in &admins {
        let id: CustomerId = customer.parse().unwrap();
        for n in 0..NOTICES_PER_CONTRACT {
            let notice = store
                .record_notice(
                    &id,
                    NoticeKind::WebhookEndpointDisabled,
                    &format!("{n}:1"),
                    json!({"endpoint_id": n, "url": "https://hooks.example.com/in",
                           "reason": "every request failed"}),
                    Timestamp::now(),
                )
                .await
                .unwrap()
                .expect("a new notice");
            for admin in list {
                expected.insert((notice, admin.to_lowercase()));
            }
        }
    }
    let total = CONTRACTS * NOTICES_PER_CONTRACT;

    // Kill as soon as the mailer has made progress in this life, restart, again.
    let mut node = node;
    let mut kills = 0;
    let mut done_before = 0;
    while kills < KILLS {
        let deadline = Instant::now() + Duration::from_secs(60);
        let now_done = loop {
            let done = mailed(&store).await;
            if done > done_before {
                break done;
            }
            assert!(
                Instant::now() < deadline,
                "no notice mailed in life {kills}: {done} of {total}\n{}",
                node.log()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        let prepared = node.kill9();
        kills += 1;
        let after = mailed(&store).await;
        eprintln!(
            "kill {kills}: {after} of {total} notices marked mailed, {} mails at the sink",
            sink.received().len()
        );
        if after == total {
            // Everything was marked before the kill landed: nothing in flight to test.
            node = prepared.start().expect("hikyaku serve restarts");
            break;
        }
        done_before = now_done.max(after);
        node = prepared.start().expect("hikyaku serve restarts");
    }
    assert!(kills >= 1);

    // The last life finishes the work: every admin has every notice of their contract.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = received_pairs(&sink);
        let missing: Vec<_> = expected
            .iter()
            .filter(|pair| !got.contains_key(*pair))
            .collect();
        if missing.is_empty() && mailed(&store).await == total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {kills} kills, {} of {} (notice, admin) pairs never arrived, e.g. {:?}; \
             {} of {total} notices marked mailed\n{}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)],
            mailed(&store).await,
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = received_pairs(&sink);
    // Nobody but the admins hears of a notice; duplicates are what at least once allows.
    let strangers: Vec<_> = got.keys().filter(|p| !expected.contains(*p)).collect();
    assert!(strangers.is_empty(), "mailed to non-admins: {strangers:?}");
    let duplicates: usize = got.values().map(|n| n - 1).sum();
    eprintln!(
        "{kills} kills: {} (notice, admin) pairs delivered, {duplicates} duplicate deliveries",
        expected.len()
    );
    for notice in store.list_notices(None, 10_000).await.unwrap() {
        assert!(notice.mailed_at.is_some(), "{notice:?}");
        assert_eq!(notice.mailed_to, Some(ADMINS as u32), "{notice:?}");
    }
}
