//! What a listener is allowed to accept: limits, timeouts, TLS and AUTH policy.

use std::sync::Arc;
use std::time::Duration;

/// The configuration of one SMTP listener. [`ServerConfig::new`] gives the specified relay
/// defaults; change the fields that differ.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Label of this listener in metrics (`relay`, `errors`).
    pub listener: String,
    /// The name in the greeting and in the EHLO and 421 replies.
    pub hostname: String,
    /// Concurrent connections; one more gets `421 4.7.0` before the handler sees it.
    pub max_connections: usize,
    /// Largest message in octets (dot-unstuffed, CRLF counted), advertised with SIZE.
    pub max_message_size: usize,
    /// Recipients per message; the next one gets `452 4.5.3`.
    pub max_recipients: usize,
    /// Negative replies in one session before `421 4.7.0 Too many errors` closes it (0: no
    /// limit). The handler's refusals count too; `452 4.5.3 Too many recipients` does not.
    pub max_errors: u32,
    /// Idle time allowed while waiting for a command.
    pub command_timeout: Duration,
    /// Idle time allowed while receiving a message.
    pub data_timeout: Duration,
    /// STARTTLS is offered when set (build it with the aws-lc-rs provider).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub auth: AuthPolicy,
}

impl ServerConfig {
    /// 30 connections, 2 MiB messages, 1000 recipients, 20 errors, 5 min command and 10 min
    /// data timeouts, no TLS, AUTH per [`AuthPolicy::default`].
    pub fn new(hostname: impl Into<String>) -> Self {
        ServerConfig {
            listener: "relay".to_string(),
            hostname: hostname.into(),
            max_connections: 30,
            max_message_size: 2 * 1024 * 1024,
            max_recipients: 1000,
            max_errors: 20,
            command_timeout: Duration::from_secs(5 * 60),
            data_timeout: Duration::from_secs(10 * 60),
            tls: None,
            auth: AuthPolicy::default(),
        }
    }
}

/// When AUTH is offered and how failures are throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Offer AUTH PLAIN and LOGIN at all.
    pub enabled: bool,
    /// Offer AUTH without TLS to loopback peers (local development). Elsewhere AUTH needs TLS.
    pub allow_plaintext_on_loopback: bool,
    /// Failed AUTH attempts from one IP within `failure_window` before that IP gets
    /// `454 4.7.0 Too many authentication failures` (default 5).
    pub failure_limit: u32,
    /// Default 5 minutes.
    pub failure_window: Duration,
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            enabled: true,
            allow_plaintext_on_loopback: false,
            failure_limit: 5,
            failure_window: Duration::from_secs(5 * 60),
        }
    }
}
