//! From a recipient domain to an open connection: resolution into a site, trying its hosts and
//! addresses in order, TLS policy, and turning client results into what the engine records.
//!
//! TLS per host: a destination rule's `tls` is the operator's word and wins; without one, a
//! host's DANE records (see [`Dane`]) make TLS mandatory and, with usable records, the
//! certificate must match them; otherwise TLS is opportunistic.
//!
//! The engine sees two seams: a [`Resolve`]r (DNS and static routes in production) and a
//! [`Dispatch`]er that opens a [`Session`] to a site (the SMTP client in production), so that
//! its tests script destinations in memory.

use crate::classify::{Refusal, is_throttling};
use crate::client::{
    Client, Connection as ClientConnection, ConnectionError, DaneMismatch, EnhancedStatus,
    RecipientOutcome, Reply, TlsMode,
};
use crate::resolve::{Dane, Destination, MxResolver, ResolveError};
use crate::sts::{MtaSts, SitePolicy, enforce_failure};
use async_trait::async_trait;
use hikyaku_config::TlsPolicy;
use hikyaku_model::{Reason, Remote};
use std::net::SocketAddr;
use std::sync::Arc;

/// The hosts a domain's mail goes to, in the order to try them. Domains whose destinations are
/// the same hosts on the same ports share a site (its `id`), and with it their connections;
/// the same host on another port is another site (two smarthosts on one address are two
/// servers).
#[derive(Debug)]
pub struct SiteTarget {
    pub id: Arc<str>,
    pub hosts: Vec<HostTarget>,
    /// The recipient domain's MTA-STS policy, when one applies to these connections.
    pub mta_sts: Option<Arc<SitePolicy>>,
}

#[derive(Debug)]
pub struct HostTarget {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    pub dane: Dane,
}

/// Why a domain or site could not be used now, as the send log records it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The reply to record; `refusal.stage` is `None` before any connection (DNS, routing).
    pub refusal: Refusal,
    pub permanent: bool,
    /// The destination asked us to slow down (421 at greeting, 4.7.x).
    pub throttled: bool,
    /// The server that failed, when there was one.
    pub remote: Option<Remote>,
    /// A reason known better than the reply can tell (the resolver's, for a DNS failure).
    pub reason: Option<Reason>,
}

/// One transaction's result for the engine: per recipient `Ok(reply)` when accepted, `Err(reply)`
/// when not, in the order the recipients were given.
pub struct Attempt {
    pub per_recipient: Vec<Result<Reply, Refusal>>,
    pub throttled: bool,
    pub remote: Remote,
}

/// Finds the destinations of a recipient domain, most preferred first.
#[async_trait]
pub trait Resolve: Send + Sync + 'static {
    async fn resolve(&self, domain: &str) -> Result<Vec<Destination>, ResolveError>;
}

#[async_trait]
impl Resolve for MxResolver {
    async fn resolve(&self, domain: &str) -> Result<Vec<Destination>, ResolveError> {
        MxResolver::resolve(self, domain).await
    }
}

/// Opens a connection to a site: to its first host that answers. `policy` is a destination
/// rule's TLS policy; `None` when no rule sets one, and each host's own ([`Dane`]) applies.
#[async_trait]
pub trait Dispatch: Send + Sync + 'static {
    async fn connect(
        &self,
        site: &SiteTarget,
        policy: Option<TlsPolicy>,
    ) -> Result<Box<dyn Session>, Failure>;
}

/// An open connection, as the engine uses it: transactions, one after the other.
#[async_trait]
pub trait Session: Send {
    async fn send(&mut self, mail_from: &str, recipients: &[String], message: &[u8]) -> Attempt;
    /// Whether another transaction may follow on this connection.
    fn is_reusable(&mut self) -> bool;
    async fn quit(self: Box<Self>);
}

/// Resolution plus connections: everything the engine reaches outside this node.
#[derive(Clone)]
pub struct Transport {
    resolver: Arc<dyn Resolve>,
    dispatcher: Arc<dyn Dispatch>,
    mta_sts: Option<Arc<MtaSts>>,
}

impl Transport {
    /// DNS (or static routes) and the SMTP client.
    pub fn new(resolver: MxResolver, client: Client) -> Transport {
        Transport::with(Arc::new(resolver), Arc::new(SmtpDispatcher { client }))
    }

    /// Any resolver and dispatcher (tests script both).
    pub fn with(resolver: Arc<dyn Resolve>, dispatcher: Arc<dyn Dispatch>) -> Transport {
        Transport {
            resolver,
            dispatcher,
            mta_sts: None,
        }
    }

    /// Applies recipient domains' MTA-STS policies to their sites.
    pub fn with_mta_sts(self, mta_sts: MtaSts) -> Transport {
        Transport {
            mta_sts: Some(Arc::new(mta_sts)),
            ..self
        }
    }

    pub async fn resolve(&self, domain: &str) -> Result<Arc<SiteTarget>, Failure> {
        let destinations = self
            .resolver
            .resolve(domain)
            .await
            .map_err(|error| resolve_failure(&error))?;
        // A domain whose MX hosts have DNSSEC-authenticated TLSA records is DANE's: RFC 8461
        // section 2 has senders that do both prefer DANE, so its policy is not even looked up.
        let dane = destinations.iter().any(|d| d.dane != Dane::NotApplicable);
        match &self.mta_sts {
            Some(mta_sts) if !dane => mta_sts.apply(domain, &destinations).await.map(Arc::new),
            _ => Ok(Arc::new(site_of(&destinations))),
        }
    }

    pub async fn connect(
        &self,
        site: &SiteTarget,
        policy: Option<TlsPolicy>,
    ) -> Result<Box<dyn Session>, Failure> {
        self.dispatcher.connect(site, policy).await
    }
}

/// The SMTP client as a [`Dispatch`]er.
struct SmtpDispatcher {
    client: Client,
}

#[async_trait]
impl Dispatch for SmtpDispatcher {
    /// Connects to the first host of the site that answers, in MX order. With opportunistic
    /// TLS, a host whose TLS handshake fails is tried once more in plain text, as Postfix and
    /// KumoMTA do: a broken TLS stack must not stop the mail. A host whose TLS is mandatory
    /// (a rule, DANE, or an enforced MTA-STS policy) never gets a plain-text retry; a failure
    /// under DANE or MTA-STS is said in its name.
    async fn connect(
        &self,
        site: &SiteTarget,
        policy: Option<TlsPolicy>,
    ) -> Result<Box<dyn Session>, Failure> {
        let sts = site.mta_sts.as_deref();
        let mut last: Option<Failure> = None;
        // Of several hosts failing, the one the policy refused says most.
        let mut refused_by_policy: Option<Failure> = None;
        for host in &site.hosts {
            let mode = match tls_mode(policy, &host.dane, sts) {
                Ok(mode) => mode,
                Err(detail) => {
                    tracing::debug!(host = %host.name, %detail, "DANE: host skipped");
                    last = Some(dane_failure(&host.name, None, &detail));
                    continue;
                }
            };
            for &addr in &host.addrs {
                let mut result = self.client.connect(addr, &host.name, mode.clone()).await;
                if mode == TlsMode::Opportunistic
                    && matches!(&result, Err(e) if e.is_tls_handshake_failure())
                {
                    if let Some(sts) = sts {
                        sts.report_testing(&host.name, None);
                    }
                    result = self
                        .client
                        .connect(addr, &host.name, TlsMode::Disabled)
                        .await;
                }
                match result {
                    Ok(inner) => {
                        if let Some(sts) = sts {
                            if sts.enforced() {
                                tracing::debug!(domain = %sts.domain, host = %host.name, "MTA-STS policy enforced: TLS verified");
                            } else {
                                sts.report_testing(&host.name, inner.peer().tls.as_ref());
                            }
                        }
                        return Ok(Box::new(SmtpSession { inner }));
                    }
                    Err(error) => {
                        tracing::debug!(host = %host.name, %addr, %error, "connection failed; trying the next address");
                        if let Some(failure) = sts
                            .filter(|sts| sts.enforced())
                            .and_then(|sts| enforce_failure(sts, &host.name, addr, &error))
                        {
                            refused_by_policy = Some(failure);
                        }
                        let stop = error.is_throttling();
                        last = Some(match &mode {
                            TlsMode::Dane(_) if is_tls_failure(&error) => {
                                let detail = match DaneMismatch::of(&error) {
                                    Some(mismatch) => mismatch.to_string(),
                                    None => error.to_string(),
                                };
                                dane_failure(&host.name, Some(addr), &detail)
                            }
                            _ => connection_failure(&host.name, addr, &error),
                        });
                        // A host that says "not now" speaks for its destination: don't
                        // hammer its siblings in the same breath.
                        if stop {
                            break;
                        }
                    }
                }
            }
        }
        if let Some(failure) = refused_by_policy {
            return Err(failure);
        }
        Err(last.unwrap_or_else(|| Failure {
            refusal: Refusal::local(Reply::new(
                451,
                EnhancedStatus::new(4, 4, 4),
                "no address to connect to",
            )),
            permanent: false,
            throttled: false,
            remote: None,
            reason: None,
        }))
    }
}

/// The TLS a host gets: the rule's policy when there is one (the operator's word), else what
/// its DANE records ask, else what an enforced MTA-STS policy asks (DANE comes first, as RFC
/// 8461 says). `Err` when the host must not be used now.
fn tls_mode(
    policy: Option<TlsPolicy>,
    dane: &Dane,
    sts: Option<&SitePolicy>,
) -> Result<TlsMode, String> {
    Ok(match (policy, dane) {
        (Some(TlsPolicy::Opportunistic), _) => TlsMode::Opportunistic,
        (Some(TlsPolicy::Required), _) => TlsMode::Required { verify: true },
        (Some(TlsPolicy::RequiredNoverify), _) => TlsMode::Required { verify: false },
        (Some(TlsPolicy::Disabled), _) => TlsMode::Disabled,
        (None, Dane::NotApplicable) if sts.is_some_and(SitePolicy::enforced) => {
            TlsMode::Required { verify: true }
        }
        (None, Dane::NotApplicable) => TlsMode::Opportunistic,
        (None, Dane::EncryptOnly) => TlsMode::Required { verify: false },
        (None, Dane::Authenticate(records)) => TlsMode::Dane(records.clone()),
        (None, Dane::Unavailable(detail)) => return Err(detail.clone()),
    })
}

/// Failures that DANE makes the connection's: no STARTTLS, a refused STARTTLS, a certificate
/// that does not match (the handshake fails).
fn is_tls_failure(error: &ConnectionError) -> bool {
    matches!(
        error,
        ConnectionError::TlsNotOffered
            | ConnectionError::StartTlsRefused(_)
            | ConnectionError::InvalidServerName(_)
    ) || error.is_tls_handshake_failure()
}

/// A host DANE would not let us use: retried until the message expires, as a TLS failure
/// (X.7.5, "cryptographic failure").
fn dane_failure(host: &str, addr: Option<SocketAddr>, detail: &str) -> Failure {
    let place = match addr {
        Some(addr) => format!("{host} [{}]", addr.ip()),
        None => host.to_string(),
    };
    Failure {
        refusal: Refusal::local(Reply::new(
            451,
            EnhancedStatus::new(4, 7, 5),
            format!("DANE: {place}: {detail}"),
        )),
        permanent: false,
        throttled: false,
        remote: Some(Remote {
            host: host.to_string(),
            ip: addr.map(|a| a.ip()),
            port: addr.map(|a| a.port()),
            tls: Some(false),
        }),
        reason: None,
    }
}

/// The site of a domain's destinations. Its identity is every host with the ports it is
/// reached on (`mx1.example.jp:25,mx2.example.jp:25`, `127.0.0.1:3541`), whatever the order of
/// equal MX preferences. Addresses stay out of it: a name's addresses rotate (round-robin DNS,
/// the cap on addresses tried), and one server must stay one destination; an address literal
/// or a route to an address is its own host name, address included.
pub fn site_of(destinations: &[Destination]) -> SiteTarget {
    let mut names: Vec<String> = destinations
        .iter()
        .flat_map(|d| {
            let mut ports: Vec<u16> = d.addrs.iter().map(SocketAddr::port).collect();
            ports.sort_unstable();
            ports.dedup();
            let host = d.mx_host.trim_end_matches('.').to_ascii_lowercase();
            // A connection made under one TLS requirement must not carry mail that needs
            // another: the same host with and without DANE is two sites.
            let tls = match d.dane {
                Dane::NotApplicable => "",
                Dane::EncryptOnly => "+tls",
                Dane::Authenticate(_) => "+dane",
                Dane::Unavailable(_) => "+dane-unavailable",
            };
            ports.into_iter().map(move |port| match host.contains(':') {
                true => format!("[{host}]:{port}{tls}"),
                false => format!("{host}:{port}{tls}"),
            })
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    SiteTarget {
        mta_sts: None,
        id: names.join(",").into(),
        hosts: destinations
            .iter()
            .map(|d| HostTarget {
                name: d.mx_host.clone(),
                addrs: d.addrs.clone(),
                dane: d.dane.clone(),
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
        refusal: Refusal::local(Reply {
            code,
            enhanced,
            text,
        }),
        permanent,
        throttled: false,
        remote: None,
        reason: Some(error.reason()),
    }
}

fn connection_failure(host: &str, addr: SocketAddr, error: &ConnectionError) -> Failure {
    let remote = error.reply().is_some();
    let reply = match error.reply() {
        // A 5xx greeting or HELO refusal is still the host's problem today, not the
        // recipient's: retry later rather than bounce (as Postfix does for greetings).
        Some(reply) if reply.code >= 500 => Reply {
            code: 451,
            enhanced: Some(EnhancedStatus::new(4, 4, 0)),
            text: format!("{host} refused the session: {reply}"),
        },
        Some(reply) => reply.clone(),
        None => Reply::new(
            451,
            EnhancedStatus::new(4, 4, 1),
            format!("{host} [{}]: {error}", addr.ip()),
        ),
    };
    let throttled = error.is_throttling() || is_throttling(&reply);
    Failure {
        remote: Some(Remote {
            host: host.to_string(),
            ip: Some(addr.ip()),
            port: Some(addr.port()),
            tls: Some(false),
        }),
        reason: None,
        refusal: Refusal {
            reply,
            stage: Some(error.stage()),
            local: !remote,
        },
        permanent: false,
        throttled,
    }
}

/// An open SMTP connection.
struct SmtpSession {
    inner: ClientConnection,
}

#[async_trait]
impl Session for SmtpSession {
    async fn send(&mut self, mail_from: &str, recipients: &[String], message: &[u8]) -> Attempt {
        let peer = self.inner.peer().clone();
        let remote = peer.remote();
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
                            local: !other.is_remote(),
                        }),
                    })
                    .collect();
                Attempt {
                    per_recipient,
                    throttled,
                    remote,
                }
            }
            Err(error) => {
                let said_by_server = error.reply().is_some();
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
                        Reply::new(451, EnhancedStatus::new(4, 4, 2), text)
                    }
                };
                let throttled = error.is_throttling();
                let refusal = Refusal {
                    reply,
                    stage: Some(error.stage()),
                    local: !said_by_server,
                };
                Attempt {
                    per_recipient: recipients.iter().map(|_| Err(refusal.clone())).collect(),
                    throttled,
                    remote,
                }
            }
        }
    }

    fn is_reusable(&mut self) -> bool {
        self.inner.is_reusable()
    }

    async fn quit(self: Box<Self>) {
        self.inner.quit().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(host: &str, addrs: &[&str]) -> Destination {
        Destination {
            mx_host: host.to_string(),
            preference: 10,
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            dane: Dane::NotApplicable,
        }
    }

    #[test]
    fn a_site_is_its_hosts_with_their_ports() {
        let table: [(&[Destination], &str); 5] = [
            // Two smarthosts on one address are two sites.
            (
                &[destination("127.0.0.1", &["127.0.0.1:3541"])],
                "127.0.0.1:3541",
            ),
            (
                &[destination("127.0.0.1", &["127.0.0.1:3542"])],
                "127.0.0.1:3542",
            ),
            // Equal preferences come shuffled; the site stays one.
            (
                &[
                    destination("MX2.example.jp.", &["192.0.2.2:25"]),
                    destination("mx1.example.jp", &["192.0.2.1:25", "192.0.2.3:25"]),
                ],
                "mx1.example.jp:25,mx2.example.jp:25",
            ),
            // A name's addresses are not part of it: round-robin DNS rotates them.
            (
                &[destination("mx1.example.jp", &["192.0.2.9:25"])],
                "mx1.example.jp:25",
            ),
            (&[destination("::1", &["[::1]:2525"])], "[::1]:2525"),
        ];
        for (destinations, id) in table {
            assert_eq!(&*site_of(destinations).id, id, "{destinations:?}");
        }
    }

    #[test]
    fn a_rule_wins_over_dane_and_dane_over_the_default() {
        let records = match crate::client::TlsaRequirement::of(
            "mx.example.jp",
            &[crate::client::Tlsa {
                usage: 3,
                selector: 1,
                matching: 1,
                data: vec![7; 32],
            }],
        ) {
            crate::client::TlsaRequirement::Authenticate(records) => Arc::new(records),
            other => panic!("{other:?}"),
        };
        let authenticate = Dane::Authenticate(records.clone());
        let unavailable = Dane::Unavailable("TLSA _25._tcp.mx.example.jp: SERVFAIL".into());
        let enforce = SitePolicy {
            domain: "example.jp".into(),
            id: "20261207".into(),
            mode: crate::sts::Mode::Enforce,
        };
        let testing = SitePolicy {
            mode: crate::sts::Mode::Testing,
            ..enforce.clone()
        };
        let table = [
            (None, &Dane::NotApplicable, None, Ok(TlsMode::Opportunistic)),
            // An enforced MTA-STS policy makes TLS mandatory and verified; DANE comes first; a
            // testing policy changes nothing; a rule wins over both.
            (
                None,
                &Dane::NotApplicable,
                Some(&enforce),
                Ok(TlsMode::Required { verify: true }),
            ),
            (
                None,
                &Dane::NotApplicable,
                Some(&testing),
                Ok(TlsMode::Opportunistic),
            ),
            (
                None,
                &Dane::EncryptOnly,
                Some(&enforce),
                Ok(TlsMode::Required { verify: false }),
            ),
            (
                Some(TlsPolicy::Opportunistic),
                &Dane::NotApplicable,
                Some(&enforce),
                Ok(TlsMode::Opportunistic),
            ),
            (
                None,
                &Dane::EncryptOnly,
                None,
                Ok(TlsMode::Required { verify: false }),
            ),
            (
                None,
                &authenticate,
                Some(&enforce),
                Ok(TlsMode::Dane(records)),
            ),
            (
                None,
                &unavailable,
                None,
                Err("TLSA _25._tcp.mx.example.jp: SERVFAIL".to_string()),
            ),
            (
                Some(TlsPolicy::Disabled),
                &authenticate,
                None,
                Ok(TlsMode::Disabled),
            ),
            (
                Some(TlsPolicy::Opportunistic),
                &unavailable,
                None,
                Ok(TlsMode::Opportunistic),
            ),
            (
                Some(TlsPolicy::Required),
                &Dane::EncryptOnly,
                None,
                Ok(TlsMode::Required { verify: true }),
            ),
        ];
        for (policy, dane, sts, expected) in table {
            assert_eq!(
                tls_mode(policy, dane, sts),
                expected,
                "{policy:?} {dane:?} {sts:?}"
            );
        }
    }
}
