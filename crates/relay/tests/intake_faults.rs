//! `250` means durable in both places, whatever the disk does: every I/O step of the intake is
//! made to fail in turn (spool write, file fsync, rename, directory fsync with `ENOSPC` and
//! `EIO`; the database's insert and commit with the same errors, a failed commit rolled back
//! by the database itself; the database's own `SQLITE_FULL` on a size-capped file) while sessions hand messages
//! over at once. After a restart and the start-up reconciliation, every acknowledged message is
//! in the spool and in the queue, and nothing else is kept.

use hikyaku_model::{CustomerId, Envelope, MessageId, Timestamp};
use hikyaku_relay::Intake;
use hikyaku_spool::{CommitStep, Faults, Spool, SpoolMeta};
use hikyaku_store::{RecordStep, SealingKey, Store};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const ENOSPC: i32 = 28;
const EIO: i32 = 5;
const NODE: &str = "node-a";
/// Sessions handing a message over at the same moment.
const SESSIONS: usize = 12;

/// Makes the next operations of one step fail with an OS error.
type ArmFault = Box<dyn Fn(i32)>;

struct Node {
    intake: Intake,
    spool: Spool,
    store: Store,
}

fn key() -> SealingKey {
    SealingKey::from_bytes([7; 32])
}

/// Opens the node's data as `hikyaku serve` does: recovery, then the two reconciliations.
async fn open(dir: &Path, faults: Faults, pages: Arc<AtomicU32>) -> Node {
    let store = Store::connect_sqlite_with_page_limit(&dir.join("hikyaku.db"), key(), pages)
        .await
        .unwrap();
    let (spool, recovery) = Spool::open_with_faults(&dir.join("spool"), u64::MAX, faults).unwrap();
    let intake = Intake::start(spool.clone(), store.clone(), NODE.to_string(), None);
    intake.discard_unrecorded(&recovery.messages).await.unwrap();
    let quarantined = spool.quarantined_ids().unwrap();
    intake
        .withdraw_unspooled(&recovery.messages, &quarantined)
        .await
        .unwrap();
    Node {
        intake,
        spool,
        store,
    }
}

/// One session's message: accepted (`250`) or refused, and whether as out of space.
async fn hand_over(
    intake: &Intake,
    customer: &CustomerId,
    n: usize,
) -> (MessageId, Result<(), bool>) {
    let received_at = Timestamp::now();
    let id = MessageId::new(received_at);
    let body = format!("Subject: {n}\r\n\r\n{}\r\n", "x".repeat(3000 + n * 37)).into_bytes();
    let meta = SpoolMeta {
        id,
        customer_id: customer.clone(),
        envelope: Envelope {
            mail_from: "app@example.com".into(),
            recipients: vec![format!("user{n}@example.jp")],
        },
        received_at,
        source_ip: "127.0.0.1".into(),
        size: body.len() as u64,
        tags: Vec::new(),
        metadata: Default::default(),
    };
    let outcome = match intake.spool().reserve(meta.size) {
        Ok(reservation) => intake.accept(meta, body, reservation).await.map(|_| ()),
        Err(e) => Err(e.into()),
    };
    (id, outcome.map_err(|e| e.is_out_of_space()))
}

/// [`SESSIONS`] messages at once; returns the IDs acknowledged and those refused.
async fn wave(node: &Node, customer: &CustomerId) -> (Vec<MessageId>, Vec<(MessageId, bool)>) {
    let sessions: Vec<_> = (0..SESSIONS)
        .map(|n| {
            let intake = node.intake.clone();
            let customer = customer.clone();
            tokio::spawn(async move { hand_over(&intake, &customer, n).await })
        })
        .collect();
    let (mut acknowledged, mut refused) = (Vec::new(), Vec::new());
    for session in sessions {
        match session.await.unwrap() {
            (id, Ok(())) => acknowledged.push(id),
            (id, Err(out_of_space)) => refused.push((id, out_of_space)),
        }
    }
    (acknowledged, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_message_survives_any_failing_intake_step() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults::default();
    let pages = Arc::new(AtomicU32::new(0));
    let node = open(dir.path(), faults.clone(), Arc::clone(&pages)).await;
    let customer = node
        .store
        .create_contract("Faults", "standard")
        .await
        .unwrap()
        .customer_id;
    let mut acknowledged = BTreeSet::new();
    let mut attempted = BTreeSet::new();
    // Checked after the invariant, which matters more.
    let mut wrong_replies: Vec<String> = Vec::new();
    let mut take = |(acked, refused): (Vec<MessageId>, Vec<(MessageId, bool)>)| {
        attempted.extend(acked.iter().copied());
        attempted.extend(refused.iter().map(|(id, _)| *id));
        acknowledged.extend(acked);
        refused
    };

    // Every step of both halves, with both errors. A few sessions fail at the step, the others
    // go through beside them. A failed database commit is rolled back by the database itself,
    // as SQLite does when its WAL cannot be written, and the connection must not carry that
    // state into later transactions.
    let mut arms: Vec<(String, ArmFault)> = Vec::new();
    for step in CommitStep::ALL {
        let faults = faults.clone();
        arms.push((
            format!("spool {step:?}"),
            Box::new(move |errno| faults.fail(step, errno, 4)),
        ));
    }
    for step in [RecordStep::Insert, RecordStep::Commit] {
        let store = node.store.clone();
        arms.push((
            format!("database {step:?}"),
            Box::new(move |errno| store.faults().fail(step, errno, 1)),
        ));
    }
    for (step, arm) in &arms {
        for (errno, out_of_space) in [(ENOSPC, true), (EIO, false)] {
            arm(errno);
            let refused = take(wave(&node, &customer).await);
            faults.clear();
            assert!(!refused.is_empty(), "{step} errno {errno}: nothing failed");
            for (id, seen_as_full) in refused {
                if seen_as_full != out_of_space {
                    wrong_replies.push(format!("{step} errno {errno}: {id}"));
                }
            }
        }
    }

    // The spool fails and so does the first attempt to withdraw the record: the record must
    // still go while the node runs, not only at the next start.
    faults.fail(CommitStep::Write, EIO, 2);
    node.store.faults().fail(RecordStep::Withdraw, ENOSPC, 2);
    let refused: Vec<MessageId> = take(wave(&node, &customer).await)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    faults.clear();
    assert!(!refused.is_empty());
    let mut lingering = refused.len();
    for _ in 0..100 {
        lingering = node.store.known_message_ids(&refused).await.unwrap().len();
        if lingering == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        lingering, 0,
        "records of refused messages still in the queue"
    );

    // The database cannot grow: whatever statement needs a new page fails, mid-transaction,
    // while other sessions' batches squeeze into the pages that are left.
    let mut database_refusals = 0;
    for extra in [0, 1, 2, 3, 5, 8] {
        let used = node.store.sqlite_page_count().await.unwrap();
        pages.store(used + extra, Ordering::Relaxed);
        for _ in 0..2 {
            let refused = take(wave(&node, &customer).await);
            database_refusals += refused.len();
            for (id, out_of_space) in refused {
                if !out_of_space {
                    wrong_replies.push(format!("full database: {id} got 451, not 452"));
                }
            }
        }
    }
    assert!(database_refusals > 0, "the page limit never bit");
    // Room again: what is acknowledged now must be committed for real, on every connection.
    pages.store(0, Ordering::Relaxed);
    for _ in 0..3 {
        let refused = take(wave(&node, &customer).await);
        for (id, _) in refused {
            wrong_replies.push(format!("{id} refused with room to spare"));
        }
    }

    // Restart.
    let Node {
        intake,
        spool,
        store,
    } = node;
    drop(intake);
    drop(spool);
    store.close().await;
    // The committer task still holds a clone of the closed store until its channel closes.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let node = open(dir.path(), Faults::default(), Arc::new(AtomicU32::new(0))).await;

    let spooled: BTreeSet<MessageId> = node.spool.list().await.unwrap().into_iter().collect();
    let queued: BTreeSet<MessageId> = node
        .store
        .unfinished_message_ids(NODE)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let attempted: Vec<MessageId> = attempted.into_iter().collect();
    let known: BTreeSet<MessageId> = node
        .store
        .known_message_ids(&attempted)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost_from_queue: Vec<_> = acknowledged.difference(&queued).collect();
    let lost_from_spool: Vec<_> = acknowledged.difference(&spooled).collect();
    assert!(
        lost_from_queue.is_empty() && lost_from_spool.is_empty(),
        "acknowledged but lost: {} from the queue {lost_from_queue:?}, {} from the spool {lost_from_spool:?} (of {})",
        lost_from_queue.len(),
        lost_from_spool.len(),
        acknowledged.len()
    );
    assert_eq!(
        spooled, acknowledged,
        "the spool keeps only acknowledged mail"
    );
    assert_eq!(
        queued, acknowledged,
        "the queue holds only acknowledged mail"
    );
    assert_eq!(
        known, acknowledged,
        "no record of a refused message is kept"
    );
    for id in &acknowledged {
        let message = node.store.queued_message(*id).await.unwrap().unwrap();
        assert_eq!(message.recipients.len(), 1, "{id} recorded once");
    }
    assert!(wrong_replies.is_empty(), "{wrong_replies:#?}");
}
