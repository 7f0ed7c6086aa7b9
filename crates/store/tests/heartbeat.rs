//! A serving node's heartbeat loop on both backends: while it runs, the node's last heartbeat
//! keeps advancing and the node counts as healthy; stopped cleanly, it is unhealthy at once;
//! killed, it beats no more and goes stale after three missed periods.

mod common;

use common::{Fixture, on_both_backends};
use hikyaku_model::Timestamp;
use hikyaku_store::{NodeStatus, Store};
use std::time::Duration;

on_both_backends!(a_running_node_beats_and_a_stopped_one_goes_stale);

/// Short, so the test sees several beats; long enough that a slow write on a busy machine does
/// not miss three in a row.
const PERIOD: Duration = Duration::from_millis(200);

async fn node(store: &Store, name: &str) -> Option<NodeStatus> {
    let nodes = store.nodes().await.unwrap();
    nodes.into_iter().find(|n| n.node == name)
}

/// The node's status once `ready` holds of it, polled for a few seconds at most.
async fn node_once(store: &Store, name: &str, ready: impl Fn(&NodeStatus) -> bool) -> NodeStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = node(store, name).await.filter(|s| ready(s)) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: not as expected in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_running_node_beats_and_a_stopped_one_goes_stale(f: Fixture) {
    let store = f.store.clone();
    let listeners = vec!["smtp 127.0.0.1:2525".to_string()];
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let store = store.clone();
        async move {
            let stop = async {
                let _ = stop_rx.await;
            };
            store
                .run_node_heartbeat("node-a", "1.2.3", &listeners, PERIOD, stop)
                .await
        }
    });

    // The first beat comes at once, and says what the node is.
    let first = node_once(&store, "node-a", |_| true).await;
    assert_eq!(first.version, "1.2.3");
    assert_eq!(first.listeners, ["smtp 127.0.0.1:2525"]);
    assert!(first.last_seen >= first.started_at);

    // It goes on beating: the last heartbeat advances, the start stays.
    let later = node_once(&store, "node-a", |s| s.last_seen > first.last_seen).await;
    let again = node_once(&store, "node-a", |s| s.last_seen > later.last_seen).await;
    assert_eq!(later.started_at, first.started_at);
    assert_eq!(again.started_at, first.started_at);
    assert!(again.healthy(Timestamp::now(), PERIOD), "a running node");

    // Stopped cleanly, it says so: unhealthy at once, whatever its last heartbeat.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the loop ends when told to stop")
        .unwrap();
    let stopped = node(&store, "node-a").await.unwrap();
    assert!(stopped.stopped_at.is_some(), "{stopped:?}");
    assert!(
        !stopped.healthy(stopped.last_seen, PERIOD),
        "a node that said it stopped is not healthy"
    );

    // Started again, its first beat clears the mark.
    let (restart_tx, restart_rx) = tokio::sync::oneshot::channel::<()>();
    let restarted = tokio::spawn({
        let store = store.clone();
        async move {
            let stop = async {
                let _ = restart_rx.await;
            };
            store
                .run_node_heartbeat("node-a", "1.2.4", &[], PERIOD, stop)
                .await
        }
    });
    let back = node_once(&store, "node-a", |s| s.version == "1.2.4").await;
    assert_eq!(back.stopped_at, None);
    assert!(back.healthy(back.last_seen, PERIOD));

    // Killed (its loop never told to stop), it beats no more and, three periods on, counts as
    // gone.
    restarted.abort();
    let _ = restarted.await;
    drop(restart_tx);
    let last = node(&store, "node-a").await.unwrap();
    tokio::time::sleep(PERIOD * 4).await;
    let killed = node(&store, "node-a").await.unwrap();
    assert_eq!(
        killed.last_seen, last.last_seen,
        "a killed node beats no more"
    );
    assert_eq!(killed.stopped_at, None, "a killed node says nothing");
    assert!(
        !killed.healthy(Timestamp::now(), PERIOD),
        "three missed beats make a node stale"
    );
    // The line is three periods exactly.
    let edge = killed.last_seen.saturating_add(PERIOD * 3);
    assert!(killed.healthy(edge, PERIOD));
    assert!(!killed.healthy(Timestamp(edge.as_millis() + 1), PERIOD));
}
