//! `[dns.responder]`: the built-in authoritative DNS server of the service zone, which answers
//! the SMTP host name with the healthy relay nodes. Off until `listen` names an address.

use crate::{DnsConfig, Duration, is_domain_name};
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsResponderConfig {
    /// Where it answers, UDP and TCP on each address; empty (the default): it does not run.
    pub listen: Vec<SocketAddr>,
    /// The host names of the zone's nameservers: the NS records at the apex (the parent zone
    /// delegates to the same names), the first also the SOA's primary.
    pub nameservers: Vec<String>,
    /// How long resolvers may keep the SMTP host name's addresses.
    pub smtp_host_ttl: Duration,
    /// How long resolvers may keep every other record.
    pub ttl: Duration,
    /// How long resolvers may remember that a name or record does not exist.
    pub negative_ttl: Duration,
    /// UDP responses per second to one client network (below); 0: not limited.
    pub rate_limit: u32,
    /// Of the UDP responses over the limit, the first and every this many after it is sent
    /// empty with TC (the client asks over TCP), the others dropped; 0: all dropped.
    pub rate_limit_slip: u32,
    /// The prefix length that makes an IPv4 client's network for the rate limit.
    pub rate_limit_ipv4_prefix: u8,
    /// The prefix length that makes an IPv6 client's network for the rate limit.
    pub rate_limit_ipv6_prefix: u8,
    /// TCP connections open at once; the next is closed as soon as it is accepted.
    pub max_tcp_connections: usize,
    /// How long a TCP connection may take to send its next whole question.
    pub tcp_idle_timeout: Duration,
    /// Questions answered on one TCP connection before it is closed.
    pub max_tcp_queries: u32,
}

impl Default for DnsResponderConfig {
    fn default() -> Self {
        DnsResponderConfig {
            listen: Vec::new(),
            nameservers: Vec::new(),
            smtp_host_ttl: Duration::from_secs(60),
            ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(60),
            rate_limit: 20,
            rate_limit_slip: 2,
            rate_limit_ipv4_prefix: 24,
            rate_limit_ipv6_prefix: 56,
            max_tcp_connections: 100,
            tcp_idle_timeout: Duration::from_secs(10),
            max_tcp_queries: 100,
        }
    }
}

/// The longest TTL taken: a week. Longer would keep a mistake in resolvers' caches for longer
/// than anyone would wait for it to clear.
const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;

impl DnsResponderConfig {
    fn limit_problems(&self, problems: &mut Vec<String>) {
        // Past these, a setting is a typo: no resolver needs 100,000 answers a second from one
        // zone, and a prefix shorter than /8 (/16) puts unrelated clients in one budget.
        let table: [(&str, u64, std::ops::RangeInclusive<u64>); 6] = [
            ("rate_limit", u64::from(self.rate_limit), 0..=100_000),
            ("rate_limit_slip", u64::from(self.rate_limit_slip), 0..=10),
            (
                "rate_limit_ipv4_prefix",
                u64::from(self.rate_limit_ipv4_prefix),
                8..=32,
            ),
            (
                "rate_limit_ipv6_prefix",
                u64::from(self.rate_limit_ipv6_prefix),
                16..=128,
            ),
            (
                "max_tcp_connections",
                self.max_tcp_connections as u64,
                1..=100_000,
            ),
            (
                "max_tcp_queries",
                u64::from(self.max_tcp_queries),
                1..=u64::from(u32::MAX),
            ),
        ];
        for (key, value, range) in table {
            if !range.contains(&value) {
                problems.push(format!(
                    "dns.responder.{key} must be from {} to {}",
                    range.start(),
                    range.end()
                ));
            }
        }
        let idle = self.tcp_idle_timeout.as_std();
        if idle < std::time::Duration::from_secs(1) || idle > std::time::Duration::from_secs(120) {
            problems.push("dns.responder.tcp_idle_timeout must be from 1s to 2m".to_string());
        }
    }

    /// Whether the responder runs on this node.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    pub(crate) fn problems(
        &self,
        dns: &DnsConfig,
        service_domain: Option<&str>,
        problems: &mut Vec<String>,
    ) {
        for (key, ttl) in [
            ("smtp_host_ttl", self.smtp_host_ttl),
            ("ttl", self.ttl),
            ("negative_ttl", self.negative_ttl),
        ] {
            let ttl = ttl.as_std();
            if ttl.subsec_nanos() != 0 || ttl.as_secs() == 0 || ttl.as_secs() > MAX_TTL_SECONDS {
                problems.push(format!(
                    "dns.responder.{key} must be whole seconds from 1s to 7d"
                ));
            }
        }
        self.limit_problems(problems);
        for (i, addr) in self.listen.iter().enumerate() {
            if self.listen[..i].contains(addr) && addr.port() != 0 {
                problems.push(format!("dns.responder.listen names {addr} twice"));
            }
        }
        for name in &self.nameservers {
            if !is_domain_name(name.trim_end_matches('.')) {
                problems.push(format!(
                    "dns.responder.nameservers: {name:?} is not a host name"
                ));
            }
        }
        if !self.enabled() {
            return;
        }
        let Some(zone) = service_domain.map(|d| d.trim_end_matches('.').to_ascii_lowercase())
        else {
            problems.push(
                "dns.responder.listen is set but service_domain is not: the responder serves the service domain's zone"
                    .to_string(),
            );
            return;
        };
        let within = |name: &str| {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == zone || name.ends_with(&format!(".{zone}"))
        };
        if dns.relay_node.is_empty() {
            problems.push(
                "dns.responder needs at least one [[dns.relay_node]] (the SMTP host name lists them)"
                    .to_string(),
            );
        }
        if self.nameservers.is_empty() {
            problems.push(
                "dns.responder.nameservers needs at least one name (the zone's NS records)"
                    .to_string(),
            );
        }
        if let Some(host) = dns.smtp_host(service_domain)
            && !within(&host)
        {
            problems.push(format!(
                "dns.responder: the SMTP host name {host} is outside the zone {zone} it serves"
            ));
        }
        for name in &self.nameservers {
            let is_relay = dns.relay_node.iter().any(|node| {
                node.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(name.trim_end_matches('.'))
            });
            if within(name) && !is_relay {
                problems.push(format!(
                    "dns.responder.nameservers: {name} is in the zone but is no relay node, so the zone has no address for it (name a relay node or a host outside {zone})"
                ));
            }
        }
        // Heartbeats carry a node's name, often the host's short name: two relay nodes with one
        // first label could not be told apart.
        for (i, node) in dns.relay_node.iter().enumerate() {
            let label = |name: &str| name.split('.').next().unwrap_or("").to_ascii_lowercase();
            if dns.relay_node[..i]
                .iter()
                .any(|other| label(&other.name) == label(&node.name))
            {
                problems.push(format!(
                    "dns.responder: relay nodes {:?} and another share the first label {:?}, by which heartbeats are matched to nodes",
                    node.name,
                    label(&node.name)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const BASE: &str = r#"
service_domain = "mail.example.net"
[[dns.relay_node]]
name = "relay1.mail.example.net"
addresses = ["192.0.2.10"]
[[dns.relay_node]]
name = "relay2.mail.example.net"
addresses = ["192.0.2.11"]
"#;

    #[test]
    fn the_responder_is_off_by_default_and_takes_its_keys() {
        let c = Config::from_toml(BASE).unwrap();
        assert!(!c.dns.responder.enabled());
        assert_eq!(c.dns.responder.smtp_host_ttl.as_std().as_secs(), 60);
        assert_eq!(c.dns.responder.ttl.as_std().as_secs(), 3600);
        assert_eq!(c.dns.responder.negative_ttl.as_std().as_secs(), 60);
        assert_eq!(c.dns.responder.rate_limit, 20);
        assert_eq!(c.dns.responder.rate_limit_slip, 2);
        assert_eq!(c.dns.responder.rate_limit_ipv4_prefix, 24);
        assert_eq!(c.dns.responder.rate_limit_ipv6_prefix, 56);
        assert_eq!(c.dns.responder.max_tcp_connections, 100);
        assert_eq!(c.dns.responder.tcp_idle_timeout.as_std().as_secs(), 10);
        assert_eq!(c.dns.responder.max_tcp_queries, 100);

        let c = Config::from_toml(&format!(
            "{BASE}[dns.responder]\nlisten = [\"0.0.0.0:53\", \"[::]:53\"]\n\
             nameservers = [\"relay1.mail.example.net\", \"ns.example.org\"]\n\
             smtp_host_ttl = \"30s\"\nttl = \"1d\"\nnegative_ttl = 120\n\
             rate_limit = 0\nrate_limit_slip = 0\nrate_limit_ipv4_prefix = 32\n\
             rate_limit_ipv6_prefix = 48\nmax_tcp_connections = 20\n\
             tcp_idle_timeout = \"3s\"\nmax_tcp_queries = 1\n"
        ))
        .unwrap();
        let r = &c.dns.responder;
        assert!(r.enabled());
        assert_eq!(r.listen.len(), 2);
        assert_eq!(r.nameservers, ["relay1.mail.example.net", "ns.example.org"]);
        assert_eq!(r.smtp_host_ttl.as_std().as_secs(), 30);
        assert_eq!(r.ttl.as_std().as_secs(), 86_400);
        assert_eq!(r.negative_ttl.as_std().as_secs(), 120);
        assert_eq!(r.rate_limit, 0);
        assert_eq!(r.rate_limit_slip, 0);
        assert_eq!(r.rate_limit_ipv4_prefix, 32);
        assert_eq!(r.rate_limit_ipv6_prefix, 48);
        assert_eq!(r.max_tcp_connections, 20);
        assert_eq!(r.tcp_idle_timeout.as_std().as_secs(), 3);
        assert_eq!(r.max_tcp_queries, 1);
    }

    #[test]
    fn an_unservable_responder_is_refused_with_the_reasons() {
        let on = "[dns.responder]\nlisten = [\"127.0.0.1:5300\"]\n";
        let table = [
            (
                format!("{on}nameservers = [\"ns.example.org\"]\n"),
                "service_domain is not",
            ),
            (
                format!(
                    "service_domain = \"mail.example.net\"\n{on}nameservers = [\"ns.example.org\"]\n"
                ),
                "at least one [[dns.relay_node]]",
            ),
            (format!("{BASE}{on}"), "nameservers needs at least one"),
            (
                format!("{BASE}{on}nameservers = [\"ns1.mail.example.net\"]\n"),
                "ns1.mail.example.net is in the zone but is no relay node",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns..org\"]\n"),
                "not a host name",
            ),
            (
                format!(
                    "service_domain = \"mail.example.net\"\n[dns]\nsmtp_host = \"smtp.example.org\"\n\
                     [[dns.relay_node]]\nname = \"relay1.mail.example.net\"\naddresses = [\"192.0.2.10\"]\n\
                     {on}nameservers = [\"ns.example.org\"]\n"
                ),
                "outside the zone",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nsmtp_host_ttl = 0\n"),
                "dns.responder.smtp_host_ttl must be whole seconds",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nttl = \"1500ms\"\n"),
                "dns.responder.ttl must be whole seconds",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nnegative_ttl = \"8d\"\n"),
                "dns.responder.negative_ttl must be whole seconds",
            ),
            (
                format!(
                    "{BASE}[[dns.relay_node]]\nname = \"relay1.example.org\"\naddresses = [\"192.0.2.12\"]\n{on}nameservers = [\"ns.example.org\"]\n"
                ),
                "share the first label \"relay1\"",
            ),
            (
                format!(
                    "{BASE}[dns.responder]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\nnameservers = [\"ns.example.org\"]\n"
                ),
                "names 127.0.0.1:53 twice",
            ),
            (format!("{BASE}{on}port = 53\n"), "unknown field"),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nrate_limit = 100001\n"),
                "dns.responder.rate_limit must be from 0 to 100000",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nrate_limit_slip = 11\n"),
                "dns.responder.rate_limit_slip must be from 0 to 10",
            ),
            (
                format!(
                    "{BASE}{on}nameservers = [\"ns.example.org\"]\nrate_limit_ipv4_prefix = 33\n"
                ),
                "dns.responder.rate_limit_ipv4_prefix must be from 8 to 32",
            ),
            (
                format!(
                    "{BASE}{on}nameservers = [\"ns.example.org\"]\nrate_limit_ipv4_prefix = 4\n"
                ),
                "dns.responder.rate_limit_ipv4_prefix must be from 8 to 32",
            ),
            (
                format!(
                    "{BASE}{on}nameservers = [\"ns.example.org\"]\nrate_limit_ipv6_prefix = 129\n"
                ),
                "dns.responder.rate_limit_ipv6_prefix must be from 16 to 128",
            ),
            (
                format!(
                    "{BASE}{on}nameservers = [\"ns.example.org\"]\nrate_limit_ipv6_prefix = -1\n"
                ),
                "rate_limit_ipv6_prefix",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nmax_tcp_connections = 0\n"),
                "dns.responder.max_tcp_connections must be from 1 to 100000",
            ),
            (
                format!("{BASE}{on}nameservers = [\"ns.example.org\"]\nmax_tcp_queries = 0\n"),
                "dns.responder.max_tcp_queries must be from 1",
            ),
            (
                format!(
                    "{BASE}{on}nameservers = [\"ns.example.org\"]\ntcp_idle_timeout = \"500ms\"\n"
                ),
                "dns.responder.tcp_idle_timeout must be from 1s to 2m",
            ),
            (
                format!(
                    "{BASE}{on}nameservers = [\"ns.example.org\"]\ntcp_idle_timeout = \"1h\"\n"
                ),
                "dns.responder.tcp_idle_timeout must be from 1s to 2m",
            ),
        ];
        for (toml, expected) in table {
            let error = Config::from_toml(&toml)
                .map(|_| ())
                .expect_err(&toml)
                .to_string();
            assert!(
                error.contains(expected),
                "{expected:?} not in {error:?}\n{toml}"
            );
        }
        // Nameservers in the zone that are relay nodes, and outside it, are fine.
        Config::from_toml(&format!(
            "{BASE}{on}nameservers = [\"relay1.mail.example.net\", \"ns.example.org\"]\n"
        ))
        .unwrap();
    }
}
