//! Which relay nodes are healthy: the heartbeats serving nodes record in the store, matched to
//! the configured relay nodes.
//!
//! A heartbeat carries the node's `node_name`, which defaults to the machine's host name: on
//! one machine that is the full name (`relay1.mail.example.net`), on another only its first
//! label (`relay1`). So a heartbeat belongs to a relay node when its name equals the relay
//! node's full name or the first label of it, ignoring case and a trailing dot. A relay node is
//! healthy when a heartbeat of it is fresh by [`NodeStatus::healthy`] (three missed beats and
//! it is not).

use std::time::Duration;

use hikyaku_dns_records::RelayHost;
use hikyaku_model::Timestamp;
use hikyaku_store::NodeStatus;

/// Whether a heartbeat under `node_name` belongs to the relay node named `relay`.
pub fn heartbeat_of(relay: &str, node_name: &str) -> bool {
    let relay = relay.trim_end_matches('.');
    let node_name = node_name.trim_end_matches('.');
    let first_label = relay.split('.').next().unwrap_or(relay);
    !node_name.is_empty()
        && (node_name.eq_ignore_ascii_case(relay) || node_name.eq_ignore_ascii_case(first_label))
}

/// The names of the relay nodes with a fresh heartbeat at `now`, in configuration order.
pub fn healthy_relays(
    relays: &[RelayHost],
    heartbeats: &[NodeStatus],
    now: Timestamp,
    period: Duration,
) -> Vec<String> {
    relays
        .iter()
        .filter(|relay| {
            heartbeats
                .iter()
                .any(|beat| heartbeat_of(&relay.name, &beat.node) && beat.healthy(now, period))
        })
        .map(|relay| relay.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_matches_by_full_name_or_first_label_in_any_case() {
        let relay = "relay1.mail.example.net";
        for (node, matches) in [
            ("relay1.mail.example.net", true),
            ("RELAY1.Mail.Example.NET", true),
            ("relay1.mail.example.net.", true),
            ("relay1", true),
            ("Relay1", true),
            ("relay1.internal.lan", false),
            ("relay10", false),
            ("relay", false),
            ("mail.example.net", false),
            ("", false),
        ] {
            assert_eq!(heartbeat_of(relay, node), matches, "{node:?}");
        }
    }

    fn beat(node: &str, last_seen: i64) -> NodeStatus {
        NodeStatus {
            node: node.into(),
            version: "0.1.0".into(),
            listeners: Vec::new(),
            queue_size: 0,
            started_at: Timestamp(0),
            last_seen: Timestamp(last_seen),
            stopped_at: None,
        }
    }

    #[test]
    fn a_relay_is_healthy_while_one_of_its_heartbeats_is_fresh() {
        let relays: Vec<RelayHost> = ["relay1.mail.example.net", "relay2.mail.example.net"]
            .iter()
            .map(|name| RelayHost {
                name: name.to_string(),
                addresses: Vec::new(),
            })
            .collect();
        let period = Duration::from_secs(30);
        let now = Timestamp(1_000_000);
        // relay1 beat 89 s ago (fresh); relay2's short name is stale (91 s) but its full name
        // beat just now; a stranger's heartbeat names no relay.
        let beats = [
            beat("relay1", 1_000_000 - 89_000),
            beat("relay2", 1_000_000 - 91_000),
            beat("relay2.mail.example.net", 1_000_000),
            beat("stranger", 1_000_000),
        ];
        assert_eq!(
            healthy_relays(&relays, &beats, now, period),
            ["relay1.mail.example.net", "relay2.mail.example.net"]
        );
        let later = Timestamp(1_000_000 + 2_000);
        assert_eq!(
            healthy_relays(&relays, &beats, later, period),
            ["relay2.mail.example.net"]
        );
        assert!(healthy_relays(&relays, &[], now, period).is_empty());
    }
}
