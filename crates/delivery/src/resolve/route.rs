//! Static routes: `[[delivery.route]]` entries that send a domain to a fixed host, checked
//! before DNS.
//!
//! A route's `domain` is one of
//! - `example.jp`: that domain only (not its subdomains);
//! - `.example.jp`: every subdomain of example.jp, not example.jp itself (Postfix's
//!   transport-table convention; list both to cover both);
//! - `*`: every domain.
//!
//! The most specific route wins whatever the order in the file: the exact domain, then the
//! longest matching `.suffix`, then `*`.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_resolver::proto::rr::Name;

use super::domain::MailDomain;
use super::error::ResolverConfigError;

/// The SMTP port MX hosts and routes without a port of their own are reached on, unless
/// [`super::ResolverOptions::smtp_port`] says otherwise.
pub const SMTP_PORT: u16 = 25;

/// One `[[delivery.route]]` entry as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// `example.jp`, `.example.jp` (subdomains) or `*` (everything).
    pub domain: String,
    /// `host`, `host:port`, `ip:port` or `[v6]:port`; without a port, the resolver's SMTP port
    /// (25 unless configured).
    pub host: String,
}

/// Where a route sends mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteTarget {
    pub(crate) host: RouteHost,
    pub(crate) port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RouteHost {
    Ip(IpAddr),
    /// A host name, resolved through the configured DNS (never in static mode).
    Name {
        ascii: String,
        fqdn: Name,
    },
}

impl RouteTarget {
    /// The name the send log shows for this destination.
    pub(crate) fn display_host(&self) -> String {
        match &self.host {
            RouteHost::Ip(ip) => ip.to_string(),
            RouteHost::Name { ascii, .. } => ascii.clone(),
        }
    }

    /// Parses a route's host; `default_port` is used when it names none.
    pub(crate) fn parse(host: &str, default_port: u16) -> Result<RouteTarget, ResolverConfigError> {
        let fail = |reason: &str| ResolverConfigError::RouteHost {
            host: host.to_owned(),
            reason: reason.to_owned(),
        };
        let (host_part, port) = split_host_port(host).map_err(|reason| fail(&reason))?;
        let port = port.unwrap_or(default_port);
        if port == 0 {
            return Err(fail("port 0"));
        }
        let target_host = match host_part {
            HostPart::Ip(ip) => RouteHost::Ip(ip),
            HostPart::Name(name) => match MailDomain::parse(name) {
                Ok(MailDomain::Name { ascii, fqdn }) => RouteHost::Name { ascii, fqdn },
                Ok(MailDomain::Literal(ip)) => RouteHost::Ip(ip),
                Err(reason) => return Err(fail(&reason)),
            },
        };
        Ok(RouteTarget {
            host: target_host,
            port,
        })
    }
}

enum HostPart<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

/// The host and, when the text names one, the port.
fn split_host_port(text: &str) -> Result<(HostPart<'_>, Option<u16>), String> {
    if text.is_empty() {
        return Err("empty".to_owned());
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or("unterminated [")?;
        let ip = inner
            .parse::<IpAddr>()
            .map_err(|e| format!("[{inner}]: {e}"))?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':').ok_or("junk after ]")?)?),
        };
        return Ok((HostPart::Ip(ip), port));
    }
    // A bare IPv6 address has colons of its own: it takes the default port.
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((HostPart::Ip(ip), None));
    }
    match text.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => {
            Err("an IPv6 address with a port is written [v6]:port".to_owned())
        }
        Some((host, port)) => {
            let port = Some(parse_port(port)?);
            match host.parse::<IpAddr>() {
                Ok(ip) => Ok((HostPart::Ip(ip), port)),
                Err(_) => Ok((HostPart::Name(host), port)),
            }
        }
        None => Ok((HostPart::Name(text), None)),
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .map_err(|e| format!("port {text:?}: {e}"))
}

/// The configured routes, indexed for the most-specific-wins lookup.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteTable {
    exact: HashMap<String, RouteTarget>,
    /// Keyed by the parent domain without its leading dot.
    subdomains: HashMap<String, RouteTarget>,
    every: Option<RouteTarget>,
}

impl RouteTable {
    /// Indexes the routes; a route without a port goes to `default_port`.
    pub(crate) fn new(
        routes: &[StaticRoute],
        default_port: u16,
    ) -> Result<RouteTable, ResolverConfigError> {
        let mut table = RouteTable::default();
        for route in routes {
            let target = RouteTarget::parse(&route.host, default_port)?;
            let pattern = route.domain.trim();
            let duplicate = || ResolverConfigError::DuplicateRoute {
                pattern: route.domain.clone(),
            };
            let domain_error = |reason: String| ResolverConfigError::RouteDomain {
                domain: route.domain.clone(),
                reason,
            };
            if pattern == "*" {
                if table.every.replace(target).is_some() {
                    return Err(duplicate());
                }
            } else if let Some(parent) = pattern.strip_prefix('.') {
                let key = MailDomain::parse(parent).map_err(domain_error)?.route_key();
                if table.subdomains.insert(key, target).is_some() {
                    return Err(duplicate());
                }
            } else {
                let key = MailDomain::parse(pattern)
                    .map_err(domain_error)?
                    .route_key();
                if table.exact.insert(key, target).is_some() {
                    return Err(duplicate());
                }
            }
        }
        Ok(table)
    }

    /// Every route target, to check them against the resolver mode.
    pub(crate) fn targets(&self) -> impl Iterator<Item = &RouteTarget> {
        self.exact
            .values()
            .chain(self.subdomains.values())
            .chain(self.every.iter())
    }

    /// The route for a domain given as its route key (see [`MailDomain::route_key`]).
    pub(crate) fn find(&self, key: &str) -> Option<&RouteTarget> {
        if let Some(target) = self.exact.get(key) {
            return Some(target);
        }
        // Address literals have no parent domains.
        if !key.starts_with('[') {
            let mut rest = key;
            while let Some((_, parent)) = rest.split_once('.') {
                if let Some(target) = self.subdomains.get(parent) {
                    return Some(target);
                }
                rest = parent;
            }
        }
        self.every.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(domain: &str, host: &str) -> StaticRoute {
        StaticRoute {
            domain: domain.to_owned(),
            host: host.to_owned(),
        }
    }

    #[test]
    fn hosts_parse_with_the_default_port() {
        let ip = |s: &str| RouteHost::Ip(s.parse().unwrap());
        let table = [
            ("127.0.0.1:2600", ip("127.0.0.1"), 2600),
            ("127.0.0.1", ip("127.0.0.1"), 25),
            ("[::1]:2525", ip("::1"), 2525),
            ("[::1]", ip("::1"), 25),
            ("::1", ip("::1"), 25),
            ("[127.0.0.2]", ip("127.0.0.2"), 25),
        ];
        for (input, host, port) in table {
            let target =
                RouteTarget::parse(input, SMTP_PORT).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(target, RouteTarget { host, port }, "{input}");
        }
        let named = RouteTarget::parse("Relay.Example.JP:587", SMTP_PORT).unwrap();
        assert_eq!(named.port, 587);
        assert_eq!(named.display_host(), "relay.example.jp");
        let named = RouteTarget::parse("リレー.jp", SMTP_PORT).unwrap();
        assert_eq!(named.port, 25);
        assert_eq!(named.display_host(), "xn--eeke2c.jp");
    }

    #[test]
    fn a_configured_smtp_port_applies_only_where_no_port_is_given() {
        let table = [
            ("127.0.0.1", 2700),
            ("[::1]", 2700),
            ("::1", 2700),
            ("relay.example.jp", 2700),
            ("127.0.0.1:25", 25),
            ("[::1]:2600", 2600),
            ("relay.example.jp:587", 587),
        ];
        for (input, port) in table {
            let target = RouteTarget::parse(input, 2700).unwrap();
            assert_eq!(target.port, port, "{input}");
        }
        let routes = RouteTable::new(&[route("*", "127.0.0.1")], 2700).unwrap();
        assert_eq!(routes.find("example.jp").map(|t| t.port), Some(2700));
    }

    #[test]
    fn malformed_hosts_are_refused() {
        let table = [
            "",
            "127.0.0.1:",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:smtp",
            "host:25:25",
            "[::1",
            "[::1]25",
            "[not-v6]:25",
            "host name:25",
            "a..b:25",
        ];
        for input in table {
            assert!(
                RouteTarget::parse(input, SMTP_PORT).is_err(),
                "{input:?} was accepted"
            );
        }
    }

    #[test]
    fn the_most_specific_route_wins() {
        let table = RouteTable::new(
            &[
                route("*", "127.0.0.1:1"),
                route(".example.jp", "127.0.0.1:2"),
                route(".sub.example.jp", "127.0.0.1:3"),
                route("example.jp", "127.0.0.1:4"),
                route("Deep.Sub.Example.JP", "127.0.0.1:5"),
                route("例え.jp", "127.0.0.1:6"),
                route("[127.0.0.9]", "127.0.0.1:7"),
            ],
            SMTP_PORT,
        )
        .unwrap();
        let port = |key: &str| table.find(key).map(|t| t.port);
        let cases = [
            ("example.jp", 4),
            ("a.example.jp", 2),
            ("a.b.example.jp", 2),
            ("sub.example.jp", 2),
            ("x.sub.example.jp", 3),
            ("deep.sub.example.jp", 5),
            ("example.com", 1),
            ("jp", 1),
            ("notexample.jp", 1),
            ("xn--r8jz45g.jp", 6),
            ("[127.0.0.9]", 7),
            ("[127.0.0.8]", 1),
        ];
        for (key, expected) in cases {
            assert_eq!(port(key), Some(expected), "{key}");
        }
    }

    #[test]
    fn without_a_star_unmatched_domains_have_no_route() {
        let table = RouteTable::new(&[route("example.jp", "127.0.0.1:4")], SMTP_PORT).unwrap();
        assert!(table.find("example.jp").is_some());
        assert!(table.find("a.example.jp").is_none());
        assert!(table.find("example.com").is_none());
        assert!(
            RouteTable::new(&[], SMTP_PORT)
                .unwrap()
                .find("example.jp")
                .is_none()
        );
    }

    #[test]
    fn duplicate_and_malformed_patterns_are_refused() {
        let duplicate = RouteTable::new(
            &[
                route("example.jp", "127.0.0.1:1"),
                route("EXAMPLE.jp.", "127.0.0.1:2"),
            ],
            SMTP_PORT,
        );
        assert!(matches!(
            duplicate,
            Err(ResolverConfigError::DuplicateRoute { .. })
        ));
        let stars = RouteTable::new(
            &[route("*", "127.0.0.1:1"), route("*", "127.0.0.1:2")],
            SMTP_PORT,
        );
        assert!(matches!(
            stars,
            Err(ResolverConfigError::DuplicateRoute { .. })
        ));
        for pattern in ["", "..example.jp", "*.example.jp", "a b"] {
            let result = RouteTable::new(&[route(pattern, "127.0.0.1:1")], SMTP_PORT);
            assert!(
                matches!(result, Err(ResolverConfigError::RouteDomain { .. })),
                "{pattern:?}: {result:?}"
            );
        }
    }
}
