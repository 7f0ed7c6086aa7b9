//! Group commit of directory fsyncs.
//!
//! A rename is durable only once its directory is fsync'd, and on ext4 each directory fsync
//! costs a journal flush (about 0.15 ms here) even when another one has just happened. One
//! thread therefore takes every request that is waiting, fsyncs each distinct directory once,
//! and answers them all: under load, many commits share one flush.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

#[derive(Debug)]
pub(crate) struct Syncer {
    requests: mpsc::Sender<Request>,
    counters: Arc<Counters>,
}

/// How well group commit is doing: `directory_syncs` well below `commits` means sharing.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub directory_syncs: AtomicU64,
}

#[derive(Debug)]
struct Request {
    dir: PathBuf,
    done: oneshot::Sender<io::Result<()>>,
}

impl Syncer {
    pub fn start() -> io::Result<Syncer> {
        let (requests, incoming) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        // The thread ends when the last sender, held by the spool, is dropped.
        std::thread::Builder::new()
            .name("spool-syncer".into())
            .spawn(move || run(&incoming, &thread_counters))?;
        Ok(Syncer { requests, counters })
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Resolves once `dir` has been fsync'd after this call was made. `None`: the thread is gone.
    pub fn sync(&self, dir: PathBuf) -> Option<oneshot::Receiver<io::Result<()>>> {
        let (done, receiver) = oneshot::channel();
        self.requests.send(Request { dir, done }).ok()?;
        Some(receiver)
    }
}

fn run(incoming: &mpsc::Receiver<Request>, counters: &Counters) {
    while let Ok(first) = incoming.recv() {
        let batch: Vec<Request> = std::iter::once(first).chain(incoming.try_iter()).collect();
        let mut outcomes: BTreeMap<PathBuf, Result<(), (io::ErrorKind, String)>> = BTreeMap::new();
        for request in &batch {
            if !outcomes.contains_key(&request.dir) {
                let outcome = File::open(&request.dir).and_then(|dir| dir.sync_all());
                counters.directory_syncs.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = &outcome {
                    tracing::error!(dir = %request.dir.display(), error = %e, "spool directory fsync failed");
                }
                outcomes.insert(
                    request.dir.clone(),
                    outcome.map_err(|e| (e.kind(), e.to_string())),
                );
            }
        }
        counters
            .commits
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for request in batch {
            let outcome = match &outcomes[&request.dir] {
                Ok(()) => Ok(()),
                Err((kind, text)) => Err(io::Error::new(*kind, text.clone())),
            };
            // A commit whose caller went away has nothing to be told.
            let _ = request.done.send(outcome);
        }
    }
}
