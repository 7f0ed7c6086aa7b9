//! The responder's metrics: what its abuse limits held back. Handles are registered when a
//! [`crate::Responder`] starts, so the metrics recorder must be installed before.

use metrics::{Counter, counter, describe_counter};

/// UDP responses over a client network's rate limit, by `action`: `slipped` (sent empty with
/// TC, so the client asks over TCP) or `dropped` (not sent).
const RESPONSES_LIMITED: &str = "hikyaku_dns_responses_limited_total";
/// TCP connections closed by the responder, by `reason`: `max_connections` (closed as soon as
/// accepted, that many being open), `idle_timeout` (no whole question within the timeout),
/// `max_queries` (the connection's number of questions answered).
const TCP_CLOSED: &str = "hikyaku_dns_tcp_connections_closed_total";

#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub slipped: Counter,
    pub dropped: Counter,
    pub tcp_over_max_connections: Counter,
    pub tcp_idle: Counter,
    pub tcp_max_queries: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        describe_counter!(
            RESPONSES_LIMITED,
            "UDP responses over a client network's rate limit, by action (slipped, dropped)"
        );
        describe_counter!(
            TCP_CLOSED,
            "TCP connections the DNS responder closed, by reason"
        );
        Metrics {
            slipped: counter!(RESPONSES_LIMITED, "action" => "slipped"),
            dropped: counter!(RESPONSES_LIMITED, "action" => "dropped"),
            tcp_over_max_connections: counter!(TCP_CLOSED, "reason" => "max_connections"),
            tcp_idle: counter!(TCP_CLOSED, "reason" => "idle_timeout"),
            tcp_max_queries: counter!(TCP_CLOSED, "reason" => "max_queries"),
        }
    }
}
