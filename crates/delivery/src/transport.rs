//! From a recipient domain to an open connection: resolution into a site, trying its hosts and
//! addresses in order, TLS policy, and turning client results into what the engine records.

use crate::classify::{Refusal, is_throttling};
use crate::client::{
    Client, Connection as ClientConnection, ConnectionError, EnhancedStatus, RecipientOutcome,
    Reply, Stage, TlsMode,
};
use crate::resolve::{Destination, MxResolver, ResolveError};
use hikyaku_config::TlsPolicy;
use hikyaku_model::SendLogFields;
use std::net::SocketAddr;
use std::sync::Arc;

/// The hosts a domain's mail goes to, in the order to try them. Domains whose MX hosts are the
/// same share a site (its `id`), and with it their connections.
#[derive(Debug)]
pub struct SiteTarget {
    pub id: Arc<str>,
    pub hosts: Vec<HostTarget>,
}

#[derive(Debug)]
pub struct HostTarget {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
}

/// Why a domain or site could not be used now, as the send log records it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reply: Reply,
    /// Where in the session it failed; `None` before any connection (DNS, routing).
    pub stage: Option<Stage>,
    pub permanent: bool,
    /// The destination asked us to slow down (421 at greeting, 4.7.x).
    pub throttled: bool,
    pub details: SendLogFields,
}

/// One transaction's result for the engine: per recipient `Ok(reply)` when accepted, `Err(reply)`
/// when not, in the order the recipients were given.
pub struct Attempt {
    pub per_recipient: Vec<Result<Reply, Refusal>>,
    pub throttled: bool,
    pub details: SendLogFields,
}

/// Resolution plus the SMTP client.
#[derive(Clone)]
pub struct Transport {
    resolver: MxResolver,
    client: Client,
}

impl Transport {
    pub fn new(resolver: MxResolver, client: Client) -> Transport {
        Transport { resolver, client }
    }

    pub async fn resolve(&self, domain: &str) -> Result<Arc<SiteTarget>, Failure> {
        match self.resolver.resolve(domain).await {
            Ok(destinations) => Ok(Arc::new(site_of(&destinations))),
            Err(error) => Err(resolve_failure(&error)),
        }
    }

    /// Connects to the first host of the site that answers, in MX order. With opportunistic
    /// TLS, a host whose TLS handshake fails is tried once more in plain text, as Postfix and
    /// KumoMTA do: a broken TLS stack must not stop the mail.
    pub async fn connect(
        &self,
        site: &SiteTarget,
        policy: TlsPolicy,
    ) -> Result<Connection, Failure> {
        let mode = match policy {
            TlsPolicy::Opportunistic => TlsMode::Opportunistic,
            TlsPolicy::Required => TlsMode::Required { verify: true },
            TlsPolicy::RequiredNoverify => TlsMode::Required { verify: false },
            TlsPolicy::Disabled => TlsMode::Disabled,
        };
        let mut last: Option<(String, SocketAddr, ConnectionError)> = None;
        for host in &site.hosts {
            for &addr in &host.addrs {
                let mut result = self.client.connect(addr, &host.name, mode).await;
                if mode == TlsMode::Opportunistic
                    && matches!(&result, Err(e) if e.is_tls_handshake_failure())
                {
                    result = self
                        .client
                        .connect(addr, &host.name, TlsMode::Disabled)
                        .await;
                }
                match result {
                    Ok(inner) => return Ok(Connection { inner }),
                    Err(error) => {
                        tracing::debug!(host = %host.name, %addr, %error, "connection failed; trying the next address");
                        let stop = error.is_throttling();
                        last = Some((host.name.clone(), addr, error));
                        // A host that says "not now" speaks for its destination: don't
                        // hammer its siblings in the same breath.
                        if stop {
                            break;
                        }
                    }
                }
            }
        }
        Err(match last {
            Some((host, addr, error)) => connection_failure(&host, addr, &error),
            None => Failure {
                reply: Reply::local(
                    451,
                    EnhancedStatus::new(4, 4, 4),
                    "no address to connect to",
                ),
                stage: None,
                permanent: false,
                throttled: false,
                details: SendLogFields::default(),
            },
        })
    }
}

fn site_of(destinations: &[Destination]) -> SiteTarget {
    let mut names: Vec<&str> = destinations.iter().map(|d| d.mx_host.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    SiteTarget {
        id: names.join(",").into(),
        hosts: destinations
            .iter()
            .map(|d| HostTarget {
                name: d.mx_host.clone(),
                addrs: d.addrs.clone(),
            })
            .collect(),
    }
}

fn resolve_failure(error: &ResolveError) -> Failure {
    let permanent = error.is_permanent();
    let enhanced = EnhancedStatus::parse(error.enhanced_status());
    let code = if permanent { 550 } else { 451 };
    let text = error.to_string();
    Failure {
        reply: Reply {
            code,
            enhanced,
            text,
        },
        stage: None,
        permanent,
        throttled: false,
        details: SendLogFields {
            reason: Some(error.reason().to_string()),
            ..SendLogFields::default()
        },
    }
}

fn connection_failure(host: &str, addr: SocketAddr, error: &ConnectionError) -> Failure {
    let reply = match error.reply() {
        // A 5xx greeting or HELO refusal is still the host's problem today, not the
        // recipient's: retry later rather than bounce (as Postfix does for greetings).
        Some(reply) if reply.code >= 500 => Reply {
            code: 451,
            enhanced: Some(EnhancedStatus::new(4, 4, 0)),
            text: format!("{host} refused the session: {reply}"),
        },
        Some(reply) => reply.clone(),
        None => Reply::local(
            451,
            EnhancedStatus::new(4, 4, 1),
            format!("{host} [{}]: {error}", addr.ip()),
        ),
    };
    let throttled = error.is_throttling() || is_throttling(&reply);
    Failure {
        details: SendLogFields {
            remote_host: Some(host.to_string()),
            remote_ip: Some(addr.ip().to_string()),
            tls: Some(false),
            ..SendLogFields::default()
        },
        reply,
        stage: Some(error.stage()),
        permanent: false,
        throttled,
    }
}

/// An open connection, as the engine uses it.
pub struct Connection {
    inner: ClientConnection,
}

impl Connection {
    pub async fn send(
        &mut self,
        mail_from: &str,
        recipients: &[String],
        message: &[u8],
    ) -> Attempt {
        let peer = self.inner.peer().clone();
        let details = SendLogFields {
            remote_host: Some(peer.host.clone()),
            remote_ip: Some(peer.addr.ip().to_string()),
            tls: Some(peer.tls.is_some()),
            ..SendLogFields::default()
        };
        match self.inner.send(mail_from, recipients, message).await {
            Ok(result) => {
                let throttled = result
                    .recipients
                    .iter()
                    .any(|o| !o.is_accepted() && is_throttling(o.reply()));
                let per_recipient = result
                    .recipients
                    .into_iter()
                    .map(|outcome| match outcome {
                        RecipientOutcome::Accepted(reply) => Ok(reply),
                        other => Err(Refusal {
                            reply: other.reply().clone(),
                            stage: other.stage(),
                        }),
                    })
                    .collect();
                Attempt {
                    per_recipient,
                    throttled,
                    details,
                }
            }
            Err(error) => {
                let reply = match error.reply() {
                    Some(reply) if reply.code >= 400 && reply.code < 500 => reply.clone(),
                    Some(reply) => Reply {
                        code: 451,
                        enhanced: Some(EnhancedStatus::new(4, 4, 2)),
                        text: format!("connection failed: {reply}"),
                    },
                    None => {
                        let text = if error.may_have_delivered() {
                            format!(
                                "{error} (the message may have been delivered; it will be sent again)"
                            )
                        } else {
                            error.to_string()
                        };
                        Reply::local(451, EnhancedStatus::new(4, 4, 2), text)
                    }
                };
                let throttled = error.is_throttling();
                let refusal = Refusal {
                    reply,
                    stage: Some(error.stage()),
                };
                Attempt {
                    per_recipient: recipients.iter().map(|_| Err(refusal.clone())).collect(),
                    throttled,
                    details,
                }
            }
        }
    }

    pub fn is_reusable(&mut self) -> bool {
        self.inner.is_reusable()
    }

    pub async fn quit(self) {
        self.inner.quit().await;
    }
}
