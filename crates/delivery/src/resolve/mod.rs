//! MX resolution: which hosts, at which addresses, a recipient domain's mail goes to, and in
//! what order to try them (RFC 5321 section 5.1).
//!
//! Static routes are checked first. Otherwise, depending on the mode, DNS is asked (the
//! system's name servers from `/etc/resolv.conf`, or one given server), or the domain has no
//! route. From DNS:
//! - MX records by ascending preference, equal preferences shuffled on every resolution;
//! - no MX records: the domain's own addresses, as an implicit MX of preference 0;
//! - a null MX (RFC 7505) bounces with "domain does not accept mail", NXDOMAIN as an unknown
//!   host, SERVFAIL and timeouts defer;
//! - each MX host's A then AAAA addresses (AAAA only when IPv6 is enabled); a host without
//!   addresses is skipped; an exchange that is a CNAME is followed and one that is an IP
//!   address is used as such, as sendmail and Exim do (both break RFC 5321's letter, both
//!   are met in the wild);
//! - at most [`ResolverOptions::max_mx_hosts`] hosts and
//!   [`ResolverOptions::max_addresses`] addresses in all;
//! - every address on [`ResolverOptions::smtp_port`] (25 unless configured), as are routes
//!   that name no port.
//!
//! With DANE on ([`ResolverOptions::dane`], only with one given server, which the operator
//! trusts to validate DNSSEC), the MX lookup asks for DNSSEC, and when the resolver vouches for
//! the MX RRset (the AD bit), each MX host's TLSA records (`_25._tcp.<host>`, the port being the
//! SMTP port) are looked up the same way; what they ask of TLS is the host's [`Dane`].
//!
//! Answers come from hickory's cache while their TTL lasts, so a changed record is seen when
//! the old one expires; negative answers (no such name, no such record) are cached for the
//! SOA's negative TTL but never longer than [`ResolverOptions::max_negative_ttl`]. Failures
//! (SERVFAIL, timeouts) are not cached.

mod domain;
mod error;
mod order;
mod route;
mod secure;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::lookup::Lookup;
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

pub use error::{ResolveError, ResolverConfigError};
pub use route::{SMTP_PORT, StaticRoute};

use domain::MailDomain;
use order::{ExchangeHost, Exchanger, MxPlan};
use route::{RouteHost, RouteTable, RouteTarget};
use secure::{SecureAnswer, SecureDns};

use crate::client::{DaneRecords, Tlsa, TlsaRequirement};

/// Where the resolver looks domains up (`[delivery] resolver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolverMode {
    /// The name servers of `/etc/resolv.conf`.
    System,
    /// One DNS server, over UDP with TCP for truncated answers.
    Server(SocketAddr),
    /// Static routes only: a domain without a route has nowhere to go.
    Static,
}

/// Tuning of the resolver; the defaults suit delivery to the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverOptions {
    /// Look up AAAA records and deliver over IPv6 (after IPv4). Off for hosts without a
    /// working IPv6 route, where every v6 attempt would cost a connect timeout.
    pub ipv6: bool,
    /// How long one DNS query may take before it is retried or given up.
    pub timeout: Duration,
    /// How many times a query is sent before the lookup fails temporarily.
    pub attempts: usize,
    /// At most this many MX hosts are tried (the most preferred).
    pub max_mx_hosts: usize,
    /// At most this many addresses are tried in all, across the hosts.
    pub max_addresses: usize,
    /// Negative answers are cached for the SOA's negative TTL, but never longer than this, so a
    /// domain that has just published its records is not refused for long.
    pub max_negative_ttl: Duration,
    /// The port of every address found in DNS (MX hosts, implicit MX, address literals) and
    /// of routes that name none: 25 on the internet. Tests move it, since servers on
    /// 127.0.0.1 cannot all have port 25 (Postfix's `smtp_tcp_port`, KumoMTA's `smtp_port`).
    pub smtp_port: u16,
    /// DANE (RFC 7672): trust the resolver's AD bit on MX and TLSA answers. Only with
    /// [`ResolverMode::Server`], a resolver the operator knows to validate DNSSEC.
    pub dane: bool,
}

impl Default for ResolverOptions {
    fn default() -> Self {
        ResolverOptions {
            ipv6: true,
            timeout: Duration::from_secs(5),
            attempts: 2,
            max_mx_hosts: 10,
            max_addresses: 10,
            max_negative_ttl: Duration::from_secs(60),
            smtp_port: SMTP_PORT,
            dane: false,
        }
    }
}

/// One host to try for a domain: an MX host (or the domain itself, or a route's host) and its
/// addresses in the order to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The MX host's name in lower-case A-labels, or the IP address an MX or route names.
    pub mx_host: String,
    /// The MX preference; 0 for an implicit MX, a route or an address literal.
    pub preference: u16,
    /// Addresses on [`ResolverOptions::smtp_port`], or on the route's port.
    pub addrs: Vec<SocketAddr>,
    /// What DNSSEC-authenticated TLSA records ask of TLS to this host.
    pub dane: Dane,
}

/// What a host's DNSSEC-authenticated TLSA records say about TLS to it (RFC 7672 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Dane {
    /// Nothing: DANE off, a route, an MX or TLSA answer the resolver did not authenticate, or
    /// no TLSA records. TLS stays opportunistic.
    #[default]
    NotApplicable,
    /// Authenticated TLSA records, none usable for SMTP: TLS is mandatory, without
    /// authentication.
    EncryptOnly,
    /// Usable authenticated records: TLS is mandatory and the certificate must match one.
    Authenticate(Arc<DaneRecords>),
    /// The MX RRset is authenticated but the host's TLSA lookup failed: an attacker could be
    /// hiding the records, so the host is not used until the lookup succeeds.
    Unavailable(String),
}

/// Resolves recipient domains into the destinations to try, in order. Cheap to clone; clones
/// share one DNS cache.
#[derive(Clone)]
pub struct MxResolver {
    inner: Arc<Inner>,
}

struct Inner {
    routes: RouteTable,
    /// `None` in static mode: no DNS at all.
    dns: Option<TokioResolver>,
    /// With DANE on: the configured server, asked for DNSSEC.
    secure: Option<SecureDns>,
    options: ResolverOptions,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxResolver")
            .field("routes", &self.inner.routes)
            .field("dns", &self.inner.dns.is_some())
            .field("options", &self.inner.options)
            .finish()
    }
}

impl MxResolver {
    /// Builds a resolver. Fails on a malformed route, two routes for one pattern, a route to a
    /// host name in static mode (there is no DNS to resolve it), SMTP port 0, or, in system
    /// mode, an unreadable `/etc/resolv.conf`.
    pub fn new(
        mode: ResolverMode,
        routes: &[StaticRoute],
        options: ResolverOptions,
    ) -> Result<MxResolver, ResolverConfigError> {
        if options.smtp_port == 0 {
            return Err(ResolverConfigError::SmtpPort);
        }
        let routes = RouteTable::new(routes, options.smtp_port)?;
        let mut secure = None;
        let builder = match mode {
            ResolverMode::Static => {
                if let Some(named) = routes
                    .targets()
                    .find(|target| matches!(target.host, RouteHost::Name { .. }))
                {
                    return Err(ResolverConfigError::RouteHost {
                        host: named.display_host(),
                        reason: "static mode has no DNS: give an IP address".to_owned(),
                    });
                }
                None
            }
            ResolverMode::System => Some(
                TokioResolver::builder_tokio()
                    .map_err(|e| ResolverConfigError::System(e.to_string()))?,
            ),
            ResolverMode::Server(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                if options.dane {
                    let mut opts = ResolverOpts::default();
                    tune(&mut opts, &options);
                    secure = Some(
                        SecureDns::new(server.clone(), opts)
                            .map_err(|e| ResolverConfigError::Resolver(e.to_string()))?,
                    );
                }
                let config = ResolverConfig::from_parts(None, vec![], vec![server]);
                Some(Resolver::builder_with_config(
                    config,
                    TokioRuntimeProvider::default(),
                ))
            }
        };
        if options.dane && secure.is_none() {
            return Err(ResolverConfigError::Dane);
        }
        let dns = builder
            .map(|mut builder| {
                tune(builder.options_mut(), &options);
                builder
                    .build()
                    .map_err(|e| ResolverConfigError::Resolver(e.to_string()))
            })
            .transpose()?;
        Ok(MxResolver {
            inner: Arc::new(Inner {
                routes,
                dns,
                secure,
                options,
            }),
        })
    }

    /// The destinations for a recipient domain, most preferred first. Never empty on success.
    pub async fn resolve(&self, domain: &str) -> Result<Vec<Destination>, ResolveError> {
        let parsed = MailDomain::parse(domain).map_err(|reason| ResolveError::InvalidDomain {
            domain: domain.to_owned(),
            reason,
        })?;
        if let Some(target) = self.inner.routes.find(&parsed.route_key()) {
            return self.inner.route_destination(domain, target).await;
        }
        let Some(dns) = &self.inner.dns else {
            return Err(ResolveError::NoRoute {
                domain: domain.to_owned(),
            });
        };
        match parsed {
            MailDomain::Literal(ip) => {
                let addrs = usable_literal(ip, self.inner.options.ipv6);
                if addrs.is_empty() {
                    return Err(ResolveError::NoAddress {
                        domain: domain.to_owned(),
                        hosts: vec![ip.to_string()],
                    });
                }
                Ok(vec![Destination {
                    mx_host: ip.to_string(),
                    preference: 0,
                    addrs: addrs
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, self.inner.options.smtp_port))
                        .collect(),
                    dane: Dane::NotApplicable,
                }])
            }
            MailDomain::Name { fqdn, .. } => self.inner.resolve_mx(domain, dns, fqdn).await,
        }
    }
}

impl MxResolver {
    /// The DNS resolver behind this one (`None` in static mode: no DNS at all), for questions
    /// other than routing mail: `domain verify` reads DKIM records through it (as
    /// `hikyaku_dns_records::DnsServer::from_resolver`), where receivers will look. Static
    /// routes play no part: they route mail, they publish no records.
    pub fn dns(&self) -> Option<TokioResolver> {
        self.inner.dns.clone()
    }

    /// The name under which a recipient domain may publish a transport security policy
    /// (MTA-STS): its lower-case A-labels, when mail to it goes where its DNS says. `None` for
    /// an address literal (no domain to ask), a domain a static route sends elsewhere (the
    /// operator's word), or in static mode (no DNS to ask).
    pub fn policy_domain(&self, domain: &str) -> Option<String> {
        self.inner.dns.as_ref()?;
        let parsed = MailDomain::parse(domain).ok()?;
        if self.inner.routes.find(&parsed.route_key()).is_some() {
            return None;
        }
        match parsed {
            MailDomain::Name { ascii, .. } => Some(ascii),
            MailDomain::Literal(_) => None,
        }
    }
}

/// Our settings over hickory's defaults, and over resolv.conf's: its timeout and attempts are
/// for interactive programs, and a mail queue wants the same patience on every node.
fn tune(opts: &mut ResolverOpts, options: &ResolverOptions) {
    opts.timeout = options.timeout;
    opts.attempts = options.attempts;
    opts.negative_max_ttl = Some(options.max_negative_ttl);
    // /etc/hosts is for this machine's programs, not for other domains' mail servers.
    opts.use_hosts_file = ResolveHosts::Never;
    opts.preserve_intermediates = false;
}

/// The addresses one exchanger turned out to have, and whether a lookup failed on the way.
struct HostLookup {
    addrs: Vec<IpAddr>,
    failure: Option<String>,
}

impl Inner {
    async fn route_destination(
        &self,
        domain: &str,
        target: &RouteTarget,
    ) -> Result<Vec<Destination>, ResolveError> {
        let addrs = match (&target.host, &self.dns) {
            (RouteHost::Ip(ip), _) => vec![*ip],
            // MxResolver::new refuses named routes in static mode.
            (RouteHost::Name { .. }, None) => {
                return Err(ResolveError::NoRoute {
                    domain: domain.to_owned(),
                });
            }
            (RouteHost::Name { fqdn, .. }, Some(dns)) => {
                let found = host_addresses(dns, fqdn, self.options.ipv6).await;
                if found.addrs.is_empty() {
                    // The route is the operator's; a host that does not resolve is a fault
                    // to fix, not a reason to bounce the customer's mail.
                    return Err(ResolveError::Temporary {
                        domain: domain.to_owned(),
                        detail: format!(
                            "route host {} has no address{}",
                            target.display_host(),
                            found.failure.map(|f| format!(": {f}")).unwrap_or_default()
                        ),
                    });
                }
                found.addrs
            }
        };
        Ok(vec![Destination {
            mx_host: target.display_host(),
            preference: 0,
            addrs: addrs
                .into_iter()
                .map(|ip| SocketAddr::new(ip, target.port))
                .collect(),
            dane: Dane::NotApplicable,
        }])
    }

    async fn resolve_mx(
        &self,
        domain: &str,
        dns: &TokioResolver,
        fqdn: Name,
    ) -> Result<Vec<Destination>, ResolveError> {
        let (mx_lookup, mx_authenticated) = match &self.secure {
            Some(secure) => secure_mx(secure, &fqdn).await,
            None => (
                dns.mx_lookup(fqdn.clone())
                    .await
                    .map(|lookup| mx_records(lookup.answers().iter().map(|r| &r.data))),
                false,
            ),
        };
        let exchangers = match mx_lookup {
            Ok(records) => {
                let plan =
                    order::plan_exchangers(&records, self.options.max_mx_hosts, &mut rand::rng());
                match plan {
                    MxPlan::NullMx => {
                        return Err(ResolveError::NullMx {
                            domain: domain.to_owned(),
                        });
                    }
                    MxPlan::Exchangers(list) if list.is_empty() => implicit_mx(&fqdn),
                    MxPlan::Exchangers(list) => list,
                }
            }
            Err(e) if e.is_nx_domain() => {
                return Err(ResolveError::HostUnknown {
                    domain: domain.to_owned(),
                });
            }
            // NOERROR without MX records: the domain is its own mail host.
            Err(e) if e.is_no_records_found() => implicit_mx(&fqdn),
            Err(e) => {
                return Err(ResolveError::Temporary {
                    domain: domain.to_owned(),
                    detail: format!("MX {}: {}", ascii(&fqdn), describe(&e)),
                });
            }
        };

        let lookups = exchanger_addresses(dns, &exchangers, self.options.ipv6).await;
        let mut failures = Vec::new();
        let mut destinations = Vec::with_capacity(exchangers.len());
        for (exchanger, found) in exchangers.iter().zip(lookups) {
            if let Some(failure) = found.failure {
                failures.push(failure);
            }
            if found.addrs.is_empty() {
                tracing::debug!(domain, host = %exchanger.host.display(), "MX host has no address; skipped");
                continue;
            }
            destinations.push(Destination {
                mx_host: exchanger.host.display(),
                preference: exchanger.preference,
                addrs: found
                    .addrs
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, self.options.smtp_port))
                    .collect(),
                dane: Dane::NotApplicable,
            });
        }
        let mut destinations = order::cap_addresses(destinations, self.options.max_addresses);
        if let (Some(secure), true) = (&self.secure, mx_authenticated) {
            tlsa_of_hosts(secure, &mut destinations, self.options.smtp_port).await;
        }
        if !destinations.is_empty() {
            return Ok(destinations);
        }
        if !failures.is_empty() {
            // Some host might have an address once its name server answers again.
            return Err(ResolveError::Temporary {
                domain: domain.to_owned(),
                detail: failures.join("; "),
            });
        }
        Err(ResolveError::NoAddress {
            domain: domain.to_owned(),
            hosts: exchangers.iter().map(|e| e.host.display()).collect(),
        })
    }
}

fn mx_records<'a>(data: impl Iterator<Item = &'a RData>) -> Vec<(u16, Name)> {
    data.filter_map(|data| match data {
        RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
        _ => None,
    })
    .collect()
}

/// The MX lookup with DANE on: the records, and whether the resolver authenticated them. The
/// errors are the ones the cached lookup gives, so both paths end the same way.
async fn secure_mx(secure: &SecureDns, fqdn: &Name) -> (Result<Vec<(u16, Name)>, NetError>, bool) {
    match secure.lookup(fqdn, RecordType::MX).await {
        SecureAnswer::Records {
            records,
            authenticated,
        } => (Ok(mx_records(records.iter())), authenticated),
        SecureAnswer::NoSuchName => (
            Err(hickory_resolver::net::NoRecords::new(
                hickory_resolver::proto::op::Query::query(fqdn.clone(), RecordType::MX),
                hickory_resolver::proto::op::ResponseCode::NXDomain,
            )
            .into()),
            false,
        ),
        // No MX: the implicit MX. Whether the domain's own address records are signed is not
        // asked, so DANE does not apply to it.
        SecureAnswer::NoRecords => (Ok(Vec::new()), false),
        SecureAnswer::Failed(detail) => (Err(NetError::from(detail)), false),
    }
}

/// Each host's TLSA records at `_PORT._tcp.<host>`, asked at once, when the MX RRset that named
/// the hosts was authenticated. A host named by an address has no TLSA base domain.
async fn tlsa_of_hosts(secure: &SecureDns, destinations: &mut [Destination], port: u16) {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, destination) in destinations.iter().enumerate() {
        if destination.mx_host.parse::<IpAddr>().is_ok() {
            continue;
        }
        let secure = secure.clone();
        let host = destination.mx_host.clone();
        tasks.spawn(async move { (index, host_dane(&secure, &host, port).await) });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, dane)) => destinations[index].dane = dane,
            Err(e) => tracing::error!(error = %e, "a TLSA lookup task failed"),
        }
    }
}

async fn host_dane(secure: &SecureDns, host: &str, port: u16) -> Dane {
    let owner = format!("_{port}._tcp.{host}.");
    let Ok(name) = Name::from_ascii(&owner) else {
        return Dane::NotApplicable;
    };
    match secure.lookup(&name, RecordType::TLSA).await {
        SecureAnswer::Records {
            records,
            authenticated: true,
        } => {
            let records: Vec<Tlsa> = records
                .iter()
                .filter_map(|data| match data {
                    RData::TLSA(tlsa) => Some(Tlsa {
                        usage: tlsa.cert_usage.into(),
                        selector: tlsa.selector.into(),
                        matching: tlsa.matching.into(),
                        data: tlsa.cert_data.clone(),
                    }),
                    _ => None,
                })
                .collect();
            match TlsaRequirement::of(host, &records) {
                TlsaRequirement::Authenticate(records) => Dane::Authenticate(Arc::new(records)),
                TlsaRequirement::EncryptOnly => Dane::EncryptOnly,
            }
        }
        SecureAnswer::Records { .. } | SecureAnswer::NoSuchName | SecureAnswer::NoRecords => {
            Dane::NotApplicable
        }
        SecureAnswer::Failed(detail) => {
            Dane::Unavailable(format!("TLSA {}: {detail}", owner.trim_end_matches('.')))
        }
    }
}

/// Looks up every exchanger's addresses at once: the first delivery to a domain with several
/// MX hosts should not wait for them one after another.
async fn exchanger_addresses(
    dns: &TokioResolver,
    exchangers: &[Exchanger],
    ipv6: bool,
) -> Vec<HostLookup> {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, exchanger) in exchangers.iter().enumerate() {
        let dns = dns.clone();
        let host = exchanger.host.clone();
        tasks.spawn(async move {
            let found = match host {
                ExchangeHost::Ip(ip) => HostLookup {
                    addrs: usable_literal(ip, ipv6),
                    failure: None,
                },
                ExchangeHost::Name { fqdn, .. } => host_addresses(&dns, &fqdn, ipv6).await,
            };
            (index, found)
        });
    }
    let mut results: Vec<Option<HostLookup>> = exchangers.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, found)) => results[index] = Some(found),
            Err(e) => tracing::error!(error = %e, "an address lookup task failed"),
        }
    }
    results
        .into_iter()
        .map(|found| {
            found.unwrap_or_else(|| HostLookup {
                addrs: Vec::new(),
                failure: Some("address lookup task failed".to_owned()),
            })
        })
        .collect()
}

/// An IP address given where a name was expected (an MX exchange, an address literal).
fn usable_literal(ip: IpAddr, ipv6: bool) -> Vec<IpAddr> {
    let (v4, v6) = match ip {
        IpAddr::V4(v4) => (vec![v4], vec![]),
        IpAddr::V6(v6) if ipv6 => (vec![], vec![v6]),
        IpAddr::V6(_) => (vec![], vec![]),
    };
    order::order_addresses(v4, v6, &mut rand::rng())
}

/// A and (with IPv6 on) AAAA records of one host, queried together.
async fn host_addresses(dns: &TokioResolver, fqdn: &Name, ipv6: bool) -> HostLookup {
    let v4_lookup = dns.ipv4_lookup(fqdn.clone());
    let v6_lookup = async {
        if ipv6 {
            Some(dns.ipv6_lookup(fqdn.clone()).await)
        } else {
            None
        }
    };
    let (v4_result, v6_result) = tokio::join!(v4_lookup, v6_lookup);
    let mut failures = Vec::new();
    let v4: Vec<Ipv4Addr> = records("A", v4_result, fqdn, &mut failures, |data| match data {
        RData::A(a) => Some(a.0),
        _ => None,
    });
    let v6: Vec<Ipv6Addr> = match v6_result {
        None => Vec::new(),
        Some(result) => records("AAAA", result, fqdn, &mut failures, |data| match data {
            RData::AAAA(aaaa) => Some(aaaa.0),
            _ => None,
        }),
    };
    HostLookup {
        addrs: order::order_addresses(v4, v6, &mut rand::rng()),
        failure: (!failures.is_empty()).then(|| failures.join("; ")),
    }
}

/// The records of one address lookup. "No such name" and "no such record" simply give none;
/// other failures are noted, since a later try may find addresses.
fn records<T>(
    record_type: &str,
    result: Result<Lookup, NetError>,
    fqdn: &Name,
    failures: &mut Vec<String>,
    pick: impl Fn(&RData) -> Option<T>,
) -> Vec<T> {
    match result {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|record| pick(&record.data))
            .collect(),
        Err(e) => {
            if !e.is_no_records_found() {
                failures.push(format!("{record_type} {}: {}", ascii(fqdn), describe(&e)));
            }
            Vec::new()
        }
    }
}

/// RFC 5321 section 5.1: without MX records the domain itself is the mail host.
fn implicit_mx(fqdn: &Name) -> Vec<Exchanger> {
    vec![Exchanger {
        host: ExchangeHost::Name {
            ascii: ascii(fqdn),
            fqdn: fqdn.clone(),
        },
        preference: 0,
    }]
}

fn ascii(name: &Name) -> String {
    let text = name.to_ascii();
    text.strip_suffix('.').unwrap_or(&text).to_owned()
}

fn describe(error: &NetError) -> String {
    match error {
        NetError::Timeout => "timed out".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hikyaku_testkit::TestDns;

    fn ports(destinations: &[Destination]) -> Vec<(String, Vec<String>)> {
        destinations
            .iter()
            .map(|d| {
                let addrs = d.addrs.iter().map(SocketAddr::to_string).collect();
                (d.mx_host.clone(), addrs)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_smtp_port_applies_to_dns_answers_and_portless_routes() {
        let dns = TestDns::start().await.unwrap();
        dns.mx("mx.example.jp", 10, "mx1.example.jp")
            .await
            .a("mx1.example.jp", "127.0.0.11")
            .await
            .a("implicit.example.jp", "127.0.0.12")
            .await;
        let routes = [
            StaticRoute {
                domain: "routed.example.jp".into(),
                host: "127.0.0.13".into(),
            },
            StaticRoute {
                domain: "pinned.example.jp".into(),
                host: "127.0.0.14:2600".into(),
            },
        ];
        let options = ResolverOptions {
            ipv6: false,
            timeout: Duration::from_secs(2),
            attempts: 1,
            smtp_port: 2525,
            ..ResolverOptions::default()
        };
        let resolver = MxResolver::new(ResolverMode::Server(dns.addr()), &routes, options).unwrap();
        let table = [
            ("mx.example.jp", "mx1.example.jp", "127.0.0.11:2525"),
            (
                "implicit.example.jp",
                "implicit.example.jp",
                "127.0.0.12:2525",
            ),
            ("[127.0.0.15]", "127.0.0.15", "127.0.0.15:2525"),
            ("routed.example.jp", "127.0.0.13", "127.0.0.13:2525"),
            ("pinned.example.jp", "127.0.0.14", "127.0.0.14:2600"),
        ];
        for (domain, host, addr) in table {
            let found = resolver.resolve(domain).await.unwrap();
            assert_eq!(
                ports(&found),
                [(host.to_owned(), vec![addr.to_owned()])],
                "{domain}"
            );
        }
        assert_eq!(ResolverOptions::default().smtp_port, 25);
    }

    #[test]
    fn port_zero_is_refused() {
        let options = ResolverOptions {
            smtp_port: 0,
            ..ResolverOptions::default()
        };
        let routes = [StaticRoute {
            domain: "*".into(),
            host: "127.0.0.1:2600".into(),
        }];
        assert_eq!(
            MxResolver::new(ResolverMode::Static, &routes, options).unwrap_err(),
            ResolverConfigError::SmtpPort
        );
    }
}
