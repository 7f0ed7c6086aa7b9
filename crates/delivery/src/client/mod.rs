//! The outbound SMTP client: one connection to one remote MX at a time, driven by the engine.
//!
//! It connects to an address the engine resolved, greets, negotiates STARTTLS as the
//! [`TlsMode`] asks, and carries transactions (several recipients each, several per connection,
//! pipelined when the server allows). It decides nothing about retries or routing: it reports,
//! per recipient, what the server said ([`RecipientOutcome`], blamed on the recipient or the
//! message), or that the connection failed ([`ConnectionError`], the host's fault). Every read
//! and write is bounded in time and every reply in size.
//!
//! The protocol pieces without I/O ([`parse_reply`], [`Extensions::from_ehlo`],
//! [`encode_data`]) are public so they can be tested and fuzzed from raw bytes.

mod connection;
mod dane;
mod data;
mod error;
mod extensions;
mod outcome;
mod reply;
mod tls;

pub use connection::{Connection, PeerInfo};
pub use dane::{DaneMatch, DaneMismatch, DaneRecords, Tlsa, TlsaRequirement};
pub use data::{encode_data, has_eight_bit, has_eight_bit_headers};
pub use error::{ConnectionError, Stage};
pub use extensions::Extensions;
pub use outcome::{Blame, NotSent, RecipientOutcome, TransactionResult};
pub use reply::asks_to_slow_down;
pub use reply::{
    EnhancedStatus, MAX_LINE_LEN, MAX_REPLY_LEN, MAX_REPLY_LINES, Reply, ReplyError, Severity,
    parse_reply,
};
pub use tls::{TlsInfo, TlsMode, TlsSetupError};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long each step may take. RFC 5321 §4.5.3.2 gives the minimum a client should wait; we
/// follow it except where noted on the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect. 30 s (Postfix's `smtp_connect_timeout`; the RFC sets none): a live host
    /// answers in milliseconds, and a dead one should give way to the next MX soon.
    pub connect: Duration,
    /// The 220 greeting: 5 min.
    pub greeting: Duration,
    /// EHLO or HELO: 5 min (as MAIL).
    pub ehlo: Duration,
    /// The STARTTLS reply, and the TLS handshake: 5 min (Postfix's `smtp_starttls_timeout`).
    pub starttls: Duration,
    /// MAIL FROM (and, pipelined, the whole command group's write): 5 min.
    pub mail_from: Duration,
    /// Each RCPT TO: 5 min.
    pub rcpt_to: Duration,
    /// The 354 to DATA: 2 min.
    pub data: Duration,
    /// Each write of a piece of the body: 3 min.
    pub data_block: Duration,
    /// The reply to the final dot: 10 min. Never shorter: giving up here while the server is
    /// still accepting is how duplicates happen.
    pub end_of_data: Duration,
    /// RSET: 20 s (Postfix's `smtp_rset_timeout`; the RFC sets none): it only puts a connection
    /// back in step for reuse, and one that is that slow is not worth reusing.
    pub rset: Duration,
    /// QUIT: 5 s (the RFC sets none): the mail is already delivered, waiting only holds a
    /// connection slot of the destination.
    pub quit: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            connect: Duration::from_secs(30),
            greeting: minutes(5),
            ehlo: minutes(5),
            starttls: minutes(5),
            mail_from: minutes(5),
            rcpt_to: minutes(5),
            data: minutes(2),
            data_block: minutes(3),
            end_of_data: minutes(10),
            rset: Duration::from_secs(20),
            quit: Duration::from_secs(5),
        }
    }
}

impl Timeouts {
    /// Every step bounded by the same time (tests).
    pub fn all(limit: Duration) -> Timeouts {
        Timeouts {
            connect: limit,
            greeting: limit,
            ehlo: limit,
            starttls: limit,
            mail_from: limit,
            rcpt_to: limit,
            data: limit,
            data_block: limit,
            end_of_data: limit,
            rset: limit,
            quit: limit,
        }
    }
}

/// What every connection of a node shares.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Our name in EHLO/HELO (the node's public host name).
    pub helo_name: String,
    pub timeouts: Timeouts,
    /// Trusted roots for [`TlsMode::Required`] with `verify`; `None` means the Mozilla roots
    /// shipped in `webpki-roots`.
    pub root_store: Option<Arc<rustls::RootCertStore>>,
    /// The local address to connect from (an egress IP); `None` lets the OS choose.
    pub source_address: Option<IpAddr>,
}

impl ClientConfig {
    pub fn new(helo_name: impl Into<String>) -> ClientConfig {
        ClientConfig {
            helo_name: helo_name.into(),
            timeouts: Timeouts::default(),
            root_store: None,
            source_address: None,
        }
    }
}

/// The configuration could not become a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientConfigError {
    #[error("HELO name {0:?} is not a host name")]
    HeloName(String),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
}

/// Opens connections. Cheap to clone: the TLS configurations are built once and shared by every
/// worker.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) config: ClientConfig,
    pub(crate) tls: tls::TlsConnectors,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, ClientConfigError> {
        let name = &config.helo_name;
        let valid = !name.is_empty()
            && name.len() <= 255
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.[]:_".contains(&b));
        if !valid {
            return Err(ClientConfigError::HeloName(name.clone()));
        }
        let tls = tls::TlsConnectors::new(config.root_store.clone())?;
        Ok(Client {
            inner: Arc::new(ClientInner { config, tls }),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Connects to `addr`, reads the greeting, says EHLO (HELO if refused), and starts TLS as
    /// `tls` asks. `mx_host` is the MX name the address came from: SNI, the certificate check,
    /// and the send log use it.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        mx_host: &str,
        tls: TlsMode,
    ) -> Result<Connection, ConnectionError> {
        Connection::open(&self.inner, addr, mx_host, tls).await
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
