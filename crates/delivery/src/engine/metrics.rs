//! The engine's figures on `/metrics`: outcomes by outcome and reason, the queue's depth and
//! oldest message, connections and back-offs by destination. Every series whose labels are
//! known at start (each outcome with each reason, each configured rule) is there from start,
//! at zero. Destinations are labelled by the rule that governs them, `*` for the rest, so the
//! number of series stays that of the rules however many sites mail goes to.

use super::Shared;
use crate::rules::Rules;
use hikyaku_model::EventKind;
use metrics::{Unit, counter, describe_counter, describe_gauge, gauge};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(super) const OUTCOMES: &str = "hikyaku_delivery_outcomes_total";
pub(super) const QUEUE_MESSAGES: &str = "hikyaku_delivery_queue_messages";
pub(super) const QUEUE_OLDEST_AGE: &str = "hikyaku_delivery_queue_oldest_age_seconds";
pub(super) const CONNECTIONS: &str = "hikyaku_delivery_connections";
pub(super) const BACKOFFS: &str = "hikyaku_delivery_backoffs";

/// The `reason` label of an outcome without one (a delivery).
const NO_REASON: &str = "none";
/// How often the gauges are brought up to date.
const GAUGE_INTERVAL: Duration = Duration::from_secs(1);

pub(super) fn describe(rules: &Rules) {
    describe_counter!(
        OUTCOMES,
        "recipients' delivery outcomes, by outcome and reason (Sisimai's names; `none` for deliveries; the list entry's source for `suppressed`)"
    );
    describe_gauge!(
        QUEUE_MESSAGES,
        "messages this node has yet to finish delivering"
    );
    describe_gauge!(
        QUEUE_OLDEST_AGE,
        Unit::Seconds,
        "age of the oldest message this node has yet to finish delivering (0 when none)"
    );
    describe_gauge!(
        CONNECTIONS,
        "open delivery connections, by destination (a rule's `match`, `*` for the rest)"
    );
    describe_gauge!(
        BACKOFFS,
        "destination groups pausing new connections after a throttling reply, by destination"
    );
    counter!(OUTCOMES, "outcome" => EventKind::Delivered.as_str(), "reason" => NO_REASON)
        .increment(0);
    counter!(OUTCOMES, "outcome" => EventKind::Expired.as_str(), "reason" => "expired")
        .increment(0);
    for source in hikyaku_store::SuppressionSource::ALL {
        counter!(OUTCOMES, "outcome" => EventKind::Suppressed.as_str(), "reason" => source.as_str())
            .increment(0);
    }
    for outcome in [EventKind::Deferred, EventKind::Bounced] {
        counter!(OUTCOMES, "outcome" => outcome.as_str(), "reason" => NO_REASON).increment(0);
        for reason in hikyaku_bounce::Reason::ALL {
            counter!(OUTCOMES, "outcome" => outcome.as_str(), "reason" => reason.as_str())
                .increment(0);
        }
    }
    gauge!(QUEUE_MESSAGES).set(0.0);
    gauge!(QUEUE_OLDEST_AGE).set(0.0);
    for label in rules.labels() {
        gauge!(CONNECTIONS, "destination" => label.to_string()).set(0.0);
        gauge!(BACKOFFS, "destination" => label.to_string()).set(0.0);
    }
}

/// Counts one recipient's outcome.
pub(super) fn outcome(kind: EventKind, reason: Option<&str>) {
    let reason = reason.unwrap_or(NO_REASON).to_string();
    counter!(OUTCOMES, "outcome" => kind.as_str(), "reason" => reason).increment(1);
}

/// Keeps the gauges up to date.
pub(super) async fn run_gauges(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(GAUGE_INTERVAL);
    loop {
        tick.tick().await;
        let now = shared.clock.now();
        let instant = shared.clock.instant();
        let mut connections: HashMap<&str, usize> = HashMap::new();
        let mut backoffs: HashMap<&str, usize> = HashMap::new();
        let rules = &shared.settings.rules;
        for label in rules.labels() {
            connections.insert(label, 0);
            backoffs.insert(label, 0);
        }
        let (queued, oldest) = {
            let core = shared.core.lock().unwrap();
            for (key, group) in &core.groups {
                let label = rules.label(key);
                *connections.entry(label).or_default() += group.connections;
                if group.backoff.blocked_until(instant).is_some() {
                    *backoffs.entry(label).or_default() += 1;
                }
            }
            let oldest = core.messages.values().map(|m| m.received_at).min();
            (core.messages.len(), oldest)
        };
        gauge!(QUEUE_MESSAGES).set(queued as f64);
        let age_ms = oldest.map_or(0, |at| (now.0 - at.0).max(0));
        gauge!(QUEUE_OLDEST_AGE).set(age_ms as f64 / 1000.0);
        for (label, count) in connections {
            gauge!(CONNECTIONS, "destination" => label.to_string()).set(count as f64);
        }
        for (label, count) in backoffs {
            gauge!(BACKOFFS, "destination" => label.to_string()).set(count as f64);
        }
    }
}
