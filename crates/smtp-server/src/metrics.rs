//! The listener's metrics, each labelled `listener` (`relay`, `errors`). Handles are registered
//! once per [`crate::Server`], so the metrics recorder must be installed before it is built.

use metrics::{Counter, Gauge, Unit, counter, describe_counter, describe_gauge, gauge};

/// Connections being served right now.
const CONNECTIONS_OPEN: &str = "hikyaku_smtp_connections_open";
/// Connections accepted from the socket, including the ones then turned away for the limit.
const CONNECTIONS_TOTAL: &str = "hikyaku_smtp_connections_total";
/// Connections answered `421 4.7.0 Too many connections` because `max_connections` were open.
const CONNECTIONS_REJECTED: &str = "hikyaku_smtp_connections_rejected_total";
/// Messages the handler answered with 2xx at the end of DATA.
const MESSAGES_ACCEPTED: &str = "hikyaku_smtp_messages_accepted_total";
/// Messages refused at the end of DATA, by `reason`: `size`, `line_length` (the engine's
/// limits) or `handler` (the handler's non-2xx answer).
const MESSAGES_REJECTED: &str = "hikyaku_smtp_messages_rejected_total";
/// Messages whose text had a bare LF or bare CR, rewritten to CRLF: which clients send
/// LF-only text.
const MESSAGES_NORMALISED: &str = "hikyaku_smtp_messages_normalised_total";
/// Octets of message text (dot-unstuffed) of the accepted messages.
const MESSAGE_BYTES: &str = "hikyaku_smtp_message_bytes_total";
/// AUTH attempts refused with `535` (wrong credentials or a foreign authorization identity).
const AUTH_FAILURES: &str = "hikyaku_smtp_auth_failures_total";
/// AUTH commands refused with `454` because the source is over its failure limit.
const AUTH_THROTTLED: &str = "hikyaku_smtp_auth_throttled_total";
/// Sessions closed with `421`, by `reason`: `idle_timeout`, `too_many_errors`, `shutdown`.
const SESSIONS_CLOSED_BY_SERVER: &str = "hikyaku_smtp_sessions_closed_by_server_total";

#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub connections_open: Gauge,
    pub connections_total: Counter,
    pub connections_rejected: Counter,
    pub messages_accepted: Counter,
    pub rejected_size: Counter,
    pub rejected_line_length: Counter,
    pub messages_normalised: Counter,
    pub rejected_by_handler: Counter,
    pub message_bytes: Counter,
    pub auth_failures: Counter,
    pub auth_throttled: Counter,
    pub closed_idle: Counter,
    pub closed_errors: Counter,
    pub closed_shutdown: Counter,
}

impl Metrics {
    pub(crate) fn new(listener: &str) -> Self {
        describe_gauge!(CONNECTIONS_OPEN, "SMTP connections being served now");
        describe_counter!(
            CONNECTIONS_TOTAL,
            "SMTP connections accepted, including those turned away"
        );
        describe_counter!(
            CONNECTIONS_REJECTED,
            "SMTP connections refused because max_connections were open"
        );
        describe_counter!(
            MESSAGES_ACCEPTED,
            "messages answered 2xx at the end of DATA"
        );
        describe_counter!(
            MESSAGES_REJECTED,
            "messages refused at the end of DATA, by reason"
        );
        describe_counter!(
            MESSAGES_NORMALISED,
            "messages whose bare LF or CR line ends were rewritten to CRLF"
        );
        describe_counter!(MESSAGE_BYTES, Unit::Bytes, "octets of accepted messages");
        describe_counter!(AUTH_FAILURES, "AUTH attempts refused with 535");
        describe_counter!(
            AUTH_THROTTLED,
            "AUTH commands refused with 454 for too many failures"
        );
        describe_counter!(
            SESSIONS_CLOSED_BY_SERVER,
            "sessions the server closed with 421, by reason"
        );
        let l = listener.to_string();
        Metrics {
            connections_open: gauge!(CONNECTIONS_OPEN, "listener" => l.clone()),
            connections_total: counter!(CONNECTIONS_TOTAL, "listener" => l.clone()),
            connections_rejected: counter!(CONNECTIONS_REJECTED, "listener" => l.clone()),
            messages_accepted: counter!(MESSAGES_ACCEPTED, "listener" => l.clone()),
            rejected_size: counter!(MESSAGES_REJECTED, "listener" => l.clone(), "reason" => "size"),
            rejected_line_length: counter!(MESSAGES_REJECTED, "listener" => l.clone(), "reason" => "line_length"),
            messages_normalised: counter!(MESSAGES_NORMALISED, "listener" => l.clone()),
            rejected_by_handler: counter!(MESSAGES_REJECTED, "listener" => l.clone(), "reason" => "handler"),
            message_bytes: counter!(MESSAGE_BYTES, "listener" => l.clone()),
            auth_failures: counter!(AUTH_FAILURES, "listener" => l.clone()),
            auth_throttled: counter!(AUTH_THROTTLED, "listener" => l.clone()),
            closed_idle: counter!(SESSIONS_CLOSED_BY_SERVER, "listener" => l.clone(), "reason" => "idle_timeout"),
            closed_errors: counter!(SESSIONS_CLOSED_BY_SERVER, "listener" => l.clone(), "reason" => "too_many_errors"),
            closed_shutdown: counter!(SESSIONS_CLOSED_BY_SERVER, "listener" => l, "reason" => "shutdown"),
        }
    }
}
