//! A real process is killed with SIGKILL while it commits as fast as it can; every message it
//! acknowledged must be in the spool afterwards, whole, exactly once, and nothing half-written
//! may be visible.
//!
//! The child is this very test binary, re-run with only `writer_until_killed` selected and the
//! spool directory in an environment variable. It prints `ACK <id>` only after `commit`
//! returned, just as the relay answers `250` only then. It removes every other message again
//! (printing `REMOVED <id>`), as delivery does, so that commits also rewrite reused files when
//! the kill comes.

mod common;

use common::{body_for, entries, meta_for};
use hikyaku_model::MessageId;
use hikyaku_spool::Spool;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const CHILD_DIR_VAR: &str = "HIKYAKU_SPOOL_KILL9_DIR";
const WRITERS: usize = 48;

#[test]
#[ignore = "the child half of kill9_loses_no_acknowledged_message, which runs it"]
fn writer_until_killed() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (spool, _) = Spool::open(Path::new(&dir), u64::MAX).unwrap();
        for _ in 0..WRITERS {
            let spool = spool.clone();
            tokio::spawn(async move {
                loop {
                    let id = MessageId::generate();
                    let body = body_for(id);
                    let meta = meta_for(id, &body);
                    let reservation = spool.reserve(body.len() as u64).unwrap();
                    if let Err(e) = spool.commit(reservation, &meta, body).await {
                        // A failed task alone would not end the process: end it, so the parent sees.
                        eprintln!("commit of {id} failed: {e}");
                        std::process::exit(3);
                    }
                    println!("ACK {id}");
                    if removed_by_writer(id) {
                        if let Err(e) = spool.remove(id).await {
                            eprintln!("remove of {id} failed: {e}");
                            std::process::exit(3);
                        }
                        println!("REMOVED {id}");
                    }
                }
            });
        }
        std::future::pending::<()>().await;
    });
}

/// Kills the child if the parent's assertions fail first.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The writer removes these again after acknowledging them; one killed between the two may or
/// may not be in the spool.
fn removed_by_writer(id: MessageId) -> bool {
    id.to_string()
        .ends_with(['0', '2', '4', '6', '8', 'a', 'c', 'e', 'g'])
}

/// What the writer said before it died.
#[derive(Default)]
struct Said {
    acknowledged: Vec<MessageId>,
    removed: Vec<MessageId>,
}

impl Said {
    fn hear(&mut self, line: &str) {
        // libtest may print its own text on the same line as the first acknowledgement.
        for (word, list) in [
            ("ACK ", &mut self.acknowledged),
            ("REMOVED ", &mut self.removed),
        ] {
            if let Some(at) = line.find(word) {
                list.push(line[at + word.len()..].trim().parse().unwrap());
            }
        }
    }
}

/// Runs a writer over `dir` until it has acknowledged `wanted` messages, kills it, and returns
/// everything it acknowledged and removed (including what it printed between the count and the
/// kill).
fn run_writer_and_kill(dir: &Path, wanted: usize) -> Said {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "writer_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut said = Said::default();
    while said.acknowledged.len() < wanted {
        let line = lines
            .next()
            .expect("the writer stopped before it was killed")
            .unwrap();
        said.hear(&line);
    }
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert!(
        !status.success(),
        "the writer must die by the signal, not finish: {status}"
    );
    for line in lines {
        said.hear(&line.unwrap());
    }
    said
}

#[test]
fn kill9_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut acknowledged: BTreeSet<MessageId> = BTreeSet::new();
    let mut removed: BTreeSet<MessageId> = BTreeSet::new();
    for (round, wanted) in [300, 500, 200, 400].into_iter().enumerate() {
        let said = run_writer_and_kill(root, wanted);
        assert!(said.acknowledged.len() >= wanted, "round {round}");
        for id in said.acknowledged {
            assert!(
                acknowledged.insert(id),
                "round {round}: {id} acknowledged twice"
            );
        }
        removed.extend(said.removed);

        let (spool, recovery) = Spool::open(root, u64::MAX).unwrap();
        assert!(
            recovery.quarantined.is_empty(),
            "round {round}: a partial file was visible: {:?}",
            recovery.quarantined
        );
        assert!(entries(&root.join("corrupt")).is_empty(), "round {round}");
        assert!(
            entries(&root.join("tmp")).is_empty(),
            "round {round}: tmp not cleared"
        );
        let recovered: Vec<MessageId> = recovery.messages.iter().map(|m| m.id).collect();
        let distinct: BTreeSet<MessageId> = recovered.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            recovered.len(),
            "round {round}: a message recovered twice"
        );
        let kept: BTreeSet<MessageId> = acknowledged
            .iter()
            .copied()
            .filter(|id| !removed_by_writer(*id))
            .collect();
        let missing: Vec<&MessageId> = kept.difference(&distinct).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but lost: {missing:?}"
        );
        // The process died, the kernel did not: a finished removal stays done.
        let back: Vec<&MessageId> = removed.intersection(&distinct).collect();
        assert!(back.is_empty(), "round {round}: removed but back: {back:?}");
        assert_eq!(recovery.removed_stale, 0, "round {round}");
        assert!(
            !removed.is_empty(),
            "round {round}: nothing was removed, so no file was reused"
        );

        // Every file in the spool, acknowledged or not, must be whole: read verifies checksums.
        runtime.block_on(async {
            for meta in &recovery.messages {
                let (read_meta, body) = spool.read(meta.id).await.unwrap();
                let expected = body_for(meta.id);
                assert_eq!(read_meta, meta_for(meta.id, &expected), "round {round}");
                assert!(
                    body == expected,
                    "round {round}: {} has other bytes",
                    meta.id
                );
            }
        });
        eprintln!(
            "round {round}: {} acknowledged so far, {} in the spool, {} interrupted commits removed",
            acknowledged.len(),
            recovered.len(),
            recovery.removed_tmp
        );
    }
}
