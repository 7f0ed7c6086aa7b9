//! The data's lifecycle with an injected clock: report data past its retention goes in batches
//! while usage stays; usage is counted per calendar month of a zone, exactly across restarts
//! and writers; a terminated contract leaves nothing but its tombstone; idle trial contracts
//! are warned, then suspended.

mod common;

use common::{Fixture, accepted, bare_details, new_contract, on_both_backends};
use hikyaku_model::{ContractState, CustomerId, MessageId, Role, Timestamp};
use hikyaku_store::{
    AcceptedMessage, ContractDeletion, EventQuery, Granularity, ImportBatch, ImportRowError,
    ImportRowProblem, NewApiKey, NewConsoleUser, NewDkimKey, NewSuppression, Outcome,
    RecipientOutcome, RetentionPolicy, SealingKey, SoftBouncePolicy, Store, SuppressionEffect,
    SuppressionSource, TrialAction, TrialPolicy, UnsubscribeSettings, UsageMonth,
};
use std::time::Duration;

on_both_backends!(
    report_data_past_retention_goes_in_batches_and_usage_stays,
    finished_import_jobs_go_at_the_report_age_and_unfinished_ones_stay,
    usage_is_counted_per_month_of_the_zone_across_restarts_and_writers,
    a_deleted_contract_leaves_only_its_tombstone,
    a_deletion_cut_short_resumes_where_it_stopped,
    idle_trials_are_warned_then_suspended,
);

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const TOKYO: i32 = 540;

fn at(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_millis()
}

fn delivered(m: &AcceptedMessage, index: u32, at: i64) -> RecipientOutcome {
    RecipientOutcome {
        message_id: m.id,
        recipient_index: index,
        at: Timestamp(at),
        details: bare_details(Outcome::Delivered),
        outcome: Outcome::Delivered,
        suppression: SuppressionEffect::Nothing,
    }
}

fn policy(batch_size: u32) -> RetentionPolicy {
    RetentionPolicy {
        report_age: Duration::from_secs(40 * 86_400),
        batch_size,
        batch_pause: Duration::from_millis(1),
    }
}

fn rows_of(counts: &[hikyaku_store::PurgeCount], table: &str) -> u64 {
    counts
        .iter()
        .find(|c| c.table == table)
        .unwrap_or_else(|| panic!("{table} is purged"))
        .rows
}

async fn report_data_past_retention_goes_in_batches_and_usage_stays(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Retention").await;
    let now = at("2026-12-20T00:00:00Z");
    let old_at = now - 45 * DAY;
    let recent_at = now - DAY;
    // Three old messages of two recipients, one recent; all delivered.
    let mut old: Vec<AcceptedMessage> = (0..3)
        .map(|i| {
            accepted(
                &c,
                old_at + i,
                "app@s.example",
                &["a@x.example", "b@y.example"],
            )
        })
        .collect();
    old[0].tags = vec!["invoice".into()];
    let recent = accepted(&c, recent_at, "app@s.example", &["a@x.example"]);
    store.record_accepted(&old).await.unwrap();
    store
        .record_accepted(std::slice::from_ref(&recent))
        .await
        .unwrap();
    let mut outcomes: Vec<RecipientOutcome> = old
        .iter()
        .flat_map(|m| {
            [
                delivered(m, 0, old_at + 1000),
                delivered(m, 1, old_at + 1000),
            ]
        })
        .collect();
    outcomes.push(delivered(&recent, 0, recent_at + 1000));
    store
        .record_outcomes(&outcomes, &SoftBouncePolicy::OFF)
        .await
        .unwrap();
    // An idempotency key two days old is past its own 24-hour window.
    store
        .idempotency_begin(&c, "old-key", b"request", Timestamp(now - 2 * DAY))
        .await
        .unwrap();
    let old_month = UsageMonth::containing(Timestamp(old_at), TOKYO);
    assert_eq!(store.usage(&c, old_month, TOKYO).await.unwrap(), 6);

    // A dry run counts and changes nothing.
    let due = store
        .report_data_past_retention(Timestamp(now), &policy(2))
        .await
        .unwrap();
    assert_eq!(
        rows_of(&due, "events"),
        12,
        "3 messages × 2 recipients × 2 events"
    );
    assert_eq!(rows_of(&due, "messages"), 3);
    assert_eq!(rows_of(&due, "message_recipients"), 6);
    assert_eq!(rows_of(&due, "message_tags"), 1);
    assert_eq!(rows_of(&due, "idempotency_keys"), 1);
    assert!(rows_of(&due, "stats_minute") > 0 && rows_of(&due, "stats_hour") > 0);
    assert_eq!(
        store
            .report_data_past_retention(Timestamp(now), &policy(2))
            .await
            .unwrap(),
        due
    );

    // Batches of 2 rows: every old row goes, whatever the batch size.
    let purged = store
        .purge_report_data(Timestamp(now), &policy(2))
        .await
        .unwrap();
    assert_eq!(purged, due);
    for m in &old {
        assert!(store.queued_message(m.id).await.unwrap().is_none());
    }
    assert!(store.queued_message(recent.id).await.unwrap().is_some());
    let range =
        |from: i64, to: i64| store.stats(&c, Timestamp(from), Timestamp(to), Granularity::Hour);
    let old_stats = range(old_at - HOUR, old_at + HOUR).await.unwrap();
    assert!(old_stats.iter().all(|p| p.counts.total() == 0));
    let recent_stats = range(recent_at - HOUR, recent_at + HOUR).await.unwrap();
    assert_eq!(
        recent_stats.iter().map(|p| p.counts.total()).sum::<u64>(),
        2
    );
    assert_eq!(
        store.usage(&c, old_month, TOKYO).await.unwrap(),
        6,
        "usage stays"
    );
    let again = store
        .purge_report_data(Timestamp(now), &policy(1000))
        .await
        .unwrap();
    assert!(again.iter().all(|c| c.rows == 0), "{again:?}");
}

/// An import job of `c` created at `created`: a file of two rows, of which the first
/// (`refused`, as written) is refused; taken through its first row only, or (with `finished`)
/// to its end at that time.
async fn import_job(
    store: &Store,
    c: &CustomerId,
    refused: &str,
    listed: &str,
    created: i64,
    finished: Option<i64>,
) -> i64 {
    let file = format!("address\n{refused}\n{listed}\n");
    let job = store
        .create_suppression_import(c, file.as_bytes(), 2, Timestamp(created))
        .await
        .unwrap();
    let work = store
        .suppression_import_work(job.import_id)
        .await
        .unwrap()
        .unwrap();
    let errors = [ImportRowError {
        line: 2,
        value: refused.to_string(),
        problem: ImportRowProblem::BadAddress,
    }];
    let first = ImportBatch {
        from: 0,
        to: 1,
        entries: &[],
        errors: &errors,
        last: false,
        at: Timestamp(created),
    };
    assert!(
        store
            .record_suppression_import_batch(&work, &first)
            .await
            .unwrap()
    );
    if let Some(finished) = finished {
        let work = store
            .suppression_import_work(job.import_id)
            .await
            .unwrap()
            .unwrap();
        let entries = [NewSuppression {
            address: listed,
            source: SuppressionSource::Manual,
            reason: None,
            message_id: None,
        }];
        let last = ImportBatch {
            from: 1,
            to: 2,
            entries: &entries,
            errors: &[],
            last: true,
            at: Timestamp(finished),
        };
        assert!(
            store
                .record_suppression_import_batch(&work, &last)
                .await
                .unwrap()
        );
    }
    job.import_id
}

async fn finished_import_jobs_go_at_the_report_age_and_unfinished_ones_stay(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Imports").await;
    let now = at("2026-12-20T00:00:00Z");
    // Made long ago: one finished long ago, one finished yesterday, one never finished.
    let old = import_job(
        store,
        &c,
        "old-bad",
        "old@x.example",
        now - 60 * DAY,
        Some(now - 45 * DAY),
    )
    .await;
    let recent = import_job(
        store,
        &c,
        "recent-bad",
        "recent@x.example",
        now - 60 * DAY,
        Some(now - DAY),
    )
    .await;
    let stuck = import_job(
        store,
        &c,
        "stuck-bad",
        "stuck@x.example",
        now - 60 * DAY,
        None,
    )
    .await;

    let due = store
        .report_data_past_retention(Timestamp(now), &policy(1))
        .await
        .unwrap();
    assert_eq!(rows_of(&due, "suppression_imports"), 1);
    assert_eq!(rows_of(&due, "suppression_import_errors"), 1);
    let purged = store
        .purge_report_data(Timestamp(now), &policy(1))
        .await
        .unwrap();
    assert_eq!(purged, due);

    assert!(store.suppression_import(&c, old).await.unwrap().is_none());
    assert!(
        store
            .suppression_import_errors(&c, old)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        found(store, "old-bad").await.is_empty(),
        "its refused row is gone"
    );
    for (id, refused) in [(recent, "recent-bad"), (stuck, "stuck-bad")] {
        assert!(store.suppression_import(&c, id).await.unwrap().is_some());
        let errors = store.suppression_import_errors(&c, id).await.unwrap();
        assert_eq!(errors.len(), 1, "{refused}");
        assert_eq!(errors[0].value, refused);
    }
    // The unfinished job keeps its file, and a node can still finish it.
    let work = store.suppression_import_work(stuck).await.unwrap().unwrap();
    assert_eq!(work.done_rows, 1);
    assert!(String::from_utf8_lossy(&work.upload).contains("stuck@x.example"));
    // What the jobs listed is the suppression list's, not the job's: it stays.
    assert_eq!(store.suppression_count(&c).await.unwrap(), 2);
    // Far in the future the finished job goes too; the unfinished one still waits.
    let later = now + 400 * DAY;
    store
        .purge_report_data(Timestamp(later), &policy(1000))
        .await
        .unwrap();
    assert!(
        store
            .suppression_import(&c, recent)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.suppression_import(&c, stuck).await.unwrap().is_some());
}

async fn usage_is_counted_per_month_of_the_zone_across_restarts_and_writers(f: Fixture) {
    let store = &f.store;
    let c = new_contract(store, "Usage").await;
    store
        .add_suppressions(
            &c,
            &[NewSuppression {
                address: "listed@x.example",
                source: SuppressionSource::Manual,
                reason: None,
                message_id: None,
            }],
            Timestamp(at("2026-10-01T00:00:00Z")),
        )
        .await
        .unwrap();
    // Tokyo's November is 2026-10-31T15:00Z to 2026-11-30T15:00Z.
    let messages = [
        ("2026-10-31T14:59:59.999Z", vec!["a@x.example"]), // October in Tokyo
        (
            "2026-10-31T15:00:00Z",
            vec!["a@x.example", "listed@x.example"],
        ), // November; one suppressed
        (
            "2026-11-30T14:59:59.999Z",
            vec!["a@x.example", "b@x.example"],
        ), // November
        ("2026-11-30T15:00:00Z", vec!["a@x.example"]),     // December in Tokyo, November in UTC
    ];
    let batch: Vec<AcceptedMessage> = messages
        .iter()
        .map(|(when, to)| accepted(&c, at(when), "app@s.example", to))
        .collect();
    store.record_accepted(&batch).await.unwrap();
    let month = |m: &str| m.parse::<UsageMonth>().unwrap();
    let count = |store: Store, m: &'static str, zone: i32| {
        let c = c.clone();
        async move { store.usage(&c, month(m), zone).await.unwrap() }
    };
    assert_eq!(count(store.clone(), "2026-10", TOKYO).await, 1);
    assert_eq!(count(store.clone(), "2026-11", TOKYO).await, 3);
    assert_eq!(count(store.clone(), "2026-12", TOKYO).await, 1);
    assert_eq!(count(store.clone(), "2026-10", 0).await, 2);
    assert_eq!(count(store.clone(), "2026-11", 0).await, 3);

    // Another writer on the same database (a second node, or this one after a restart)
    // adds to the same counts: none is kept in memory.
    let second = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    let late_november = at("2026-11-15T00:00:00Z");
    let (one, two): (Vec<AcceptedMessage>, Vec<AcceptedMessage>) = (0..40)
        .map(|i| accepted(&c, late_november + i, "app@s.example", &["n@x.example"]))
        .partition(|m| m.received_at.as_millis() % 2 == 0);
    tokio::join!(
        async {
            for m in &one {
                store
                    .record_accepted(std::slice::from_ref(m))
                    .await
                    .unwrap();
            }
        },
        async {
            for m in &two {
                second
                    .record_accepted(std::slice::from_ref(m))
                    .await
                    .unwrap();
            }
        }
    );
    second.close().await;
    let reopened = Store::connect(&f.url, SealingKey::from_bytes(f.key))
        .await
        .unwrap();
    assert_eq!(count(reopened.clone(), "2026-11", TOKYO).await, 43);
    let all = reopened
        .usage_of_all(month("2026-11"), TOKYO)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((&all[0].customer_id, all[0].sent), (&c, 43));
    reopened.close().await;
}

/// Everything a contract can have, with the texts that must be gone after its deletion.
struct Furnished {
    id: CustomerId,
    needles: Vec<String>,
    pending: MessageId,
}

async fn furnish(store: &Store, name: &str, prefix: &str) -> Furnished {
    let id = new_contract(store, name).await;
    let address = |local: &str| format!("{local}@{prefix}-rcpt.example");
    let (to, listed, user) = (address("to"), address("listed"), address("admin"));
    let from = format!("app@{prefix}-sender.example");
    let username = format!("{prefix}-smtp-user");
    let domain = format!("{prefix}-sender.example");
    let public_key = format!("{prefix}PUBLICKEYbase64");
    let private_key =
        format!("-----BEGIN PRIVATE KEY-----\n{prefix}SECRET\n-----END PRIVATE KEY-----\n");
    store
        .add_allowed_ip(
            &id,
            if prefix == "gone" {
                "192.0.2.0/24"
            } else {
                "198.51.100.0/24"
            }
            .parse()
            .unwrap(),
        )
        .await
        .unwrap();
    store
        .add_smtp_credential(&id, &username, "a long enough password")
        .await
        .unwrap();
    store
        .add_sender_domain(
            Some(&id),
            &domain,
            "ed25519",
            &[NewDkimKey {
                selector: "s1",
                algorithm: "ed25519",
                public_key: &public_key,
                private_key_pem: &private_key,
            }],
        )
        .await
        .unwrap();
    store
        .set_bounce_domain(&id, &format!("{prefix}-bounce.example"))
        .await
        .unwrap();
    store
        .create_console_user(
            &id,
            &NewConsoleUser {
                email: &user,
                password: "a long enough password",
                role: Role::Admin,
                see_addresses: true,
            },
        )
        .await
        .unwrap();
    let (_, api_key) = store
        .create_api_key(
            &id,
            &NewApiKey {
                name: "deploy",
                role: Role::Sender,
                see_addresses: false,
            },
        )
        .await
        .unwrap();
    let (_, route_secret) = store
        .add_inbound_route(
            &id,
            &format!("in@{prefix}-inbound.example"),
            "https://hooks.example/in",
            false,
        )
        .await
        .unwrap();
    store
        .add_webhook_endpoint(
            &id,
            "https://hooks.example/events",
            "whsec_secret",
            &[hikyaku_model::EventKind::Delivered],
            Timestamp::now(),
        )
        .await
        .unwrap();
    store
        .set_unsubscribe_settings(
            &id,
            &UnsubscribeSettings {
                enabled: true,
                tags: vec![],
            },
        )
        .await
        .unwrap();
    store
        .add_suppressions(
            &id,
            &[NewSuppression {
                address: &listed,
                source: SuppressionSource::Manual,
                reason: Some("asked to stop"),
                message_id: None,
            }],
            Timestamp::now(),
        )
        .await
        .unwrap();
    store
        .idempotency_begin(&id, "send-1", b"request", Timestamp::now())
        .await
        .unwrap();
    let now = Timestamp::now().as_millis();
    let mut done = accepted(&id, now - 1000, &from, &[&to, &listed]);
    done.tags = vec!["welcome".into()];
    let pending = accepted(&id, now, &from, &[&to]);
    store
        .record_accepted(&[done.clone(), pending.clone()])
        .await
        .unwrap();
    store
        .record_outcomes(&[delivered(&done, 0, now)], &SoftBouncePolicy::OFF)
        .await
        .unwrap();
    // An import job halfway: its refused row kept, its sealed file still waiting.
    let refused = format!("{prefix}-refused-row");
    let waiting = format!("waiting@{prefix}-import.example");
    import_job(store, &id, &refused, &waiting, now, None).await;
    Furnished {
        needles: vec![
            id.to_string(),
            to,
            listed,
            user,
            from,
            username,
            domain,
            public_key,
            format!("{prefix}SECRET"),
            api_key[..9].to_string(),
            route_secret,
            format!("{prefix}-bounce.example"),
            format!("{prefix}-inbound.example"),
            refused,
            waiting,
        ],
        id,
        pending: pending.id,
    }
}

async fn a_deleted_contract_leaves_only_its_tombstone(f: Fixture) {
    let store = &f.store;
    let gone = furnish(store, "Gone Corp", "gone").await;
    let kept = furnish(store, "Kept Corp", "kept").await;
    for needle in gone.needles.iter().chain(&kept.needles) {
        assert!(
            found(store, needle)
                .await
                .iter()
                .any(|t| !t.starts_with("deleted_contracts.")),
            "the dump shows {needle} before the deletion (or the test's search is blind)"
        );
    }

    let ended = store
        .set_contract_state(&gone.id, ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(ended.state, ContractState::Terminated);
    let terminated_at = store.terminated_at(&gone.id).await.unwrap().unwrap();
    let grace = Duration::from_secs(3600);
    assert!(
        store
            .contracts_due_for_deletion(terminated_at, grace)
            .await
            .unwrap()
            .is_empty(),
        "not before its grace period is over"
    );
    let later = Timestamp(terminated_at.as_millis() + HOUR);
    assert_eq!(
        store
            .contracts_due_for_deletion(later, grace)
            .await
            .unwrap(),
        std::slice::from_ref(&gone.id)
    );
    // Its queued mail is withdrawn first; the rows stay until the engine has dropped it.
    assert_eq!(
        store.delete_contract_data(&gone.id, later).await.unwrap(),
        ContractDeletion::WaitingForNodes {
            withdrawn: 1,
            nodes: vec!["node-a".into()]
        }
    );
    let commands = store.take_queue_commands("node-a").await.unwrap();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].message_id, gone.pending);
    let ContractDeletion::Deleted { rows } =
        store.delete_contract_data(&gone.id, later).await.unwrap()
    else {
        panic!("deleted once the engine dropped its mail");
    };
    assert!(rows > 20, "{rows} rows");
    let tombstone = store.deleted_contract(&gone.id).await.unwrap().unwrap();
    assert_eq!(
        (tombstone.name.as_str(), tombstone.deleted_at),
        ("Gone Corp", later)
    );
    assert!(store.contract(&gone.id).await.unwrap().is_none());
    assert!(
        store
            .contracts_due_for_deletion(later, grace)
            .await
            .unwrap()
            .is_empty()
    );

    // Its ID is left in the tombstone alone; nothing else of it anywhere, sealed or not.
    for needle in &gone.needles {
        let places = found(store, needle).await;
        let allowed: &[&str] = if *needle == gone.id.to_string() {
            &["deleted_contracts.customer_id"]
        } else {
            &[]
        };
        assert!(
            places.iter().all(|p| allowed.contains(&p.as_str())),
            "{needle} is still in {places:?}"
        );
    }
    // The other contract keeps all of its own.
    for needle in &kept.needles {
        assert!(
            !found(store, needle).await.is_empty(),
            "{needle} of the other contract"
        );
    }
    assert!(store.queued_message(kept.pending).await.unwrap().is_some());

    // On SQLite the deleted rows are not left in the file's free pages either.
    let gone_hashes: Vec<Vec<u8>> = gone.needles[1..4]
        .iter()
        .map(|a| hex(&store.address_hash_hex(a)))
        .collect();
    let plain: Vec<&String> = gone.needles[4..].iter().collect();
    if f.url.starts_with("sqlite:") {
        let raw = f.raw_bytes_of(&[]).await;
        for needle in plain {
            assert!(
                !contains(&raw, needle.as_bytes()),
                "{needle} is in the database files"
            );
        }
        for hash in gone_hashes {
            assert!(
                !contains(&raw, &hash),
                "an address hash is in the database files"
            );
        }
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where (`table.column`) the dump of the database shows `needle`: in clear, as an address's
/// look-up hash, or inside a sealed value.
/// Drives `work` through `steps` wake-ups and drops it there, unfinished (`None`), unless it
/// finished first.
async fn cut_after<F: std::future::Future>(work: F, steps: usize) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut polls = 0;
    std::future::poll_fn(|cx| {
        if polls == steps {
            return std::task::Poll::Ready(None);
        }
        polls += 1;
        work.as_mut().poll(cx).map(Some)
    })
    .await
}

async fn found(store: &Store, needle: &str) -> Vec<String> {
    let hash = store.address_hash_hex(needle);
    let mut places: Vec<String> = store
        .readable_dump()
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.readable.contains(needle) || v.readable.contains(&hash))
        .map(|v| format!("{}.{}", v.table, v.column))
        .collect();
    places.sort();
    places.dedup();
    places
}

async fn idle_trials_are_warned_then_suspended(f: Fixture) {
    let store = &f.store;
    let policy = TrialPolicy {
        idle: Duration::from_secs(90 * 86_400),
        warning: Duration::from_secs(7 * 86_400),
    };
    let idle = new_contract(store, "Idle").await;
    let busy = new_contract(store, "Busy").await;
    let caller = new_contract(store, "API caller").await;
    let paying = new_contract(store, "Paying").await;
    store
        .set_contract_state(&paying, ContractState::Active)
        .await
        .unwrap();
    let created = store
        .contract(&idle)
        .await
        .unwrap()
        .unwrap()
        .created_at
        .as_millis();
    let day = |n: i64| Timestamp(created + n * DAY + HOUR);
    // Busy sends mail on day 50; the caller calls the API on day 60.
    store
        .record_accepted(&[accepted(
            &busy,
            day(50).as_millis(),
            "a@s.example",
            &["b@x.example"],
        )])
        .await
        .unwrap();
    store.note_api_use(&caller, day(60)).await.unwrap();
    store
        .note_api_use(&caller, Timestamp(day(60).as_millis() + 60_000))
        .await
        .unwrap();
    let last_used = store.contract(&caller).await.unwrap().unwrap().last_used_at;
    assert_eq!(last_used, Some(day(60)), "an hour's calls are one write");

    let due = |now: Timestamp| {
        let store = store.clone();
        async move { store.idle_trials(now, &policy).await.unwrap() }
    };
    assert!(due(day(82)).await.is_empty(), "nothing before the warning");
    let warnings = due(day(83)).await;
    assert_eq!(
        warnings,
        [TrialAction::Warn {
            customer_id: idle.clone(),
            idle_since: Timestamp(created),
            suspend_at: Timestamp(created + 90 * DAY),
        }]
    );
    assert!(
        store
            .mark_trial_warned(&idle, Timestamp(created), day(83))
            .await
            .unwrap()
    );
    assert!(due(day(84)).await.is_empty(), "warned once");

    let at_90 = due(day(90)).await;
    assert_eq!(
        at_90,
        [TrialAction::Suspend {
            customer_id: idle.clone(),
            idle_since: Timestamp(created)
        }]
    );
    // Used in the meantime: the suspension no longer applies.
    store.note_api_use(&idle, day(90)).await.unwrap();
    assert!(
        !store
            .suspend_idle_trial(&idle, Timestamp(created))
            .await
            .unwrap()
    );
    assert_eq!(
        store.contract(&idle).await.unwrap().unwrap().state,
        ContractState::Trial
    );

    // Busy's and the caller's idle spells start at their last use.
    let later = due(day(137)).await;
    assert_eq!(
        later,
        [TrialAction::Warn {
            customer_id: busy.clone(),
            idle_since: day(50),
            suspend_at: Timestamp(day(50).as_millis() + 90 * DAY),
        }]
    );
    let last = due(day(180)).await;
    let suspend: Vec<&str> = last
        .iter()
        .filter_map(|a| match a {
            TrialAction::Suspend { customer_id, .. } => Some(customer_id.as_str()),
            TrialAction::Warn { .. } => None,
        })
        .collect();
    let mut expected = vec![idle.as_str(), busy.as_str(), caller.as_str()];
    expected.sort();
    assert_eq!(suspend, expected);
    for action in last {
        if let TrialAction::Suspend {
            customer_id,
            idle_since,
        } = action
        {
            assert!(
                store
                    .suspend_idle_trial(&customer_id, idle_since)
                    .await
                    .unwrap()
            );
            assert_eq!(
                store.contract(&customer_id).await.unwrap().unwrap().state,
                ContractState::Suspended
            );
        }
    }
    assert!(
        due(day(400)).await.is_empty(),
        "suspended and active contracts are left alone"
    );
}

async fn a_deletion_cut_short_resumes_where_it_stopped(f: Fixture) {
    let store = &f.store;
    let gone = furnish(store, "Cut Short", "gone").await;
    // Enough send log for several batches: 3,000 recipients, 6,000 events.
    let now = Timestamp::now().as_millis();
    let many: Vec<AcceptedMessage> = (0..30)
        .map(|i| {
            let to: Vec<String> = (0..100)
                .map(|r| format!("r{r}@gone-rcpt.example"))
                .collect();
            let to: Vec<&str> = to.iter().map(String::as_str).collect();
            accepted(&gone.id, now - 10_000 + i, "app@gone-sender.example", &to)
        })
        .collect();
    store.record_accepted(&many).await.unwrap();
    store
        .set_contract_state(&gone.id, ContractState::Terminated)
        .await
        .unwrap();
    let at = Timestamp(now + HOUR);
    // The first call withdraws; the engine (here, the test) takes the commands.
    assert!(matches!(
        store.delete_contract_data(&gone.id, at).await.unwrap(),
        ContractDeletion::WaitingForNodes { .. }
    ));
    store.take_queue_commands("node-a").await.unwrap();

    // The process dies in the middle of the deletion: the work is dropped mid-transaction, as
    // a crash would leave it (the open transaction is rolled back). It is cut after a number of
    // its own steps, not after a time, so that a loaded machine cuts it at the same places.
    let send_log_left = || async {
        let query = EventQuery {
            customer: Some(gone.id.clone()),
            limit: Some(10_000),
            ..EventQuery::default()
        };
        store.search_events(&query).await.unwrap().events.len()
    };
    let send_log_before = send_log_left().await;
    let mut cut = 0;
    let mut cut_after_rows_went = false;
    let mut steps = 4;
    loop {
        let run = cut_after(store.delete_contract_data(&gone.id, at), steps).await;
        if run.is_some() {
            break;
        }
        // Never half-deleted: the contract is either still there without a tombstone, or
        // gone with its tombstone (the cut came after the last commit).
        let present = store.contract(&gone.id).await.unwrap().is_some();
        let tombstone = store.deleted_contract(&gone.id).await.unwrap().is_some();
        assert_ne!(
            present, tombstone,
            "present {present}, tombstone {tombstone}"
        );
        if tombstone {
            break;
        }
        cut += 1;
        cut_after_rows_went |= send_log_left().await < send_log_before;
        steps = steps * 3 / 2 + 1;
    }
    assert!(cut > 0, "no run was cut short: the test proves nothing");
    assert!(
        cut_after_rows_went,
        "no run was cut after part of the rows went: nothing was resumed"
    );

    // The next run finishes the work; nothing of the contract is left but its tombstone.
    let deleted = store.delete_contract_data(&gone.id, at).await;
    assert!(
        matches!(deleted, Ok(ContractDeletion::Deleted { .. })) || {
            // A cut run may have finished the deletion just before it was stopped.
            store.deleted_contract(&gone.id).await.unwrap().is_some()
        },
        "{deleted:?}"
    );
    assert!(store.deleted_contract(&gone.id).await.unwrap().is_some());
    for needle in gone
        .needles
        .iter()
        .chain([&"r7@gone-rcpt.example".to_string()])
    {
        let places = found(store, needle).await;
        let allowed: &[&str] = if *needle == gone.id.to_string() {
            &["deleted_contracts.customer_id"]
        } else {
            &[]
        };
        assert!(
            places.iter().all(|p| allowed.contains(&p.as_str())),
            "{needle} is still in {places:?}"
        );
    }
}
