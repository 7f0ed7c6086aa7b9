//! The order in which delivery targets are tried (RFC 5321 section 5.1), free of I/O so the
//! rules can be checked with tables and a seeded random source.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_resolver::proto::rr::Name;
use rand::Rng;
use rand::seq::SliceRandom;

use super::Destination;

/// A mail exchanger from an MX answer, ready for its address lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exchanger {
    pub(crate) host: ExchangeHost,
    pub(crate) preference: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExchangeHost {
    Name {
        ascii: String,
        fqdn: Name,
    },
    /// An MX whose exchange is an IP address. RFC 5321 forbids it, but sendmail and Exim
    /// (with `allow_mx_to_ip`) deliver to it and some small domains rely on that.
    Ip(IpAddr),
}

impl ExchangeHost {
    pub(crate) fn display(&self) -> String {
        match self {
            ExchangeHost::Name { ascii, .. } => ascii.clone(),
            ExchangeHost::Ip(ip) => ip.to_string(),
        }
    }
}

/// What an MX answer says about a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MxPlan {
    /// RFC 7505: the only exchange is the root, "." (whatever its preference): no mail.
    NullMx,
    /// The exchangers in the order to try them, at most the cap.
    Exchangers(Vec<Exchanger>),
}

/// Orders MX records: ascending preference, equal preferences shuffled so load spreads over
/// them, duplicates dropped (keeping the most preferred), then cut to `max_hosts`.
///
/// A "." exchange next to real ones breaks RFC 7505 ("MUST NOT" mix them); the real hosts
/// are used and the "." is skipped, since it names no host to try.
pub(crate) fn plan_exchangers(
    records: &[(u16, Name)],
    max_hosts: usize,
    rng: &mut impl Rng,
) -> MxPlan {
    if !records.is_empty() && records.iter().all(|(_, exchange)| exchange.is_root()) {
        return MxPlan::NullMx;
    }
    let mut exchangers: Vec<Exchanger> = records
        .iter()
        .filter(|(_, exchange)| !exchange.is_root())
        .map(|(preference, exchange)| Exchanger {
            host: exchange_host(exchange),
            preference: *preference,
        })
        .collect();
    exchangers.sort_by_key(|exchanger| exchanger.preference);
    for run in exchangers.chunk_by_mut(|a, b| a.preference == b.preference) {
        run.shuffle(rng);
    }
    let mut seen = Vec::with_capacity(exchangers.len());
    exchangers.retain(|exchanger| {
        let fresh = !seen.contains(&exchanger.host);
        if fresh {
            seen.push(exchanger.host.clone());
        }
        fresh
    });
    exchangers.truncate(max_hosts);
    MxPlan::Exchangers(exchangers)
}

fn exchange_host(exchange: &Name) -> ExchangeHost {
    let lower = exchange.to_lowercase();
    let ascii = lower.to_ascii();
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    let unbracketed = ascii
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(ascii);
    match unbracketed.parse::<IpAddr>() {
        Ok(ip) => ExchangeHost::Ip(ip),
        Err(_) => {
            let mut fqdn = lower.clone();
            fqdn.set_fqdn(true);
            ExchangeHost::Name {
                ascii: ascii.to_owned(),
                fqdn,
            }
        }
    }
}

/// One host's addresses in the order to try them: IPv4 first (many senders have no working
/// IPv6 route, and a failed v6 connect costs a timeout), then IPv6; each family shuffled so
/// a host's addresses share the load. Duplicates and addresses no one can connect to are
/// dropped.
pub(crate) fn order_addresses(
    mut v4: Vec<Ipv4Addr>,
    mut v6: Vec<Ipv6Addr>,
    rng: &mut impl Rng,
) -> Vec<IpAddr> {
    v4.retain(|ip| !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast()));
    v6.retain(|ip| !(ip.is_unspecified() || ip.is_multicast()));
    v4.sort_unstable();
    v4.dedup();
    v6.sort_unstable();
    v6.dedup();
    v4.shuffle(rng);
    v6.shuffle(rng);
    v4.into_iter()
        .map(IpAddr::V4)
        .chain(v6.into_iter().map(IpAddr::V6))
        .collect()
}

/// Cuts the total number of addresses to `max`, in trying order, and drops targets left
/// without any: a domain with many MX hosts must not keep one recipient busy for hours.
pub(crate) fn cap_addresses(destinations: Vec<Destination>, max: usize) -> Vec<Destination> {
    let mut budget = max;
    destinations
        .into_iter()
        .filter_map(|mut destination| {
            destination.addrs.truncate(budget);
            budget -= destination.addrs.len();
            (!destination.addrs.is_empty()).then_some(destination)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::SocketAddr;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn hosts(plan: &MxPlan) -> Vec<(u16, String)> {
        match plan {
            MxPlan::NullMx => panic!("null MX"),
            MxPlan::Exchangers(list) => list
                .iter()
                .map(|e| (e.preference, e.host.display()))
                .collect(),
        }
    }

    #[test]
    fn exchangers_are_tried_by_ascending_preference() {
        let mut rng = StdRng::seed_from_u64(7);
        let records = [
            (30, name("mx3.example.jp.")),
            (10, name("MX1.example.jp.")),
            (20, name("mx2.example.jp.")),
            (20, name("mx1.example.jp.")),
        ];
        let plan = plan_exchangers(&records, 10, &mut rng);
        assert_eq!(
            hosts(&plan),
            [
                (10, "mx1.example.jp".to_owned()),
                (20, "mx2.example.jp".to_owned()),
                (30, "mx3.example.jp".to_owned()),
            ]
        );
    }

    #[test]
    fn equal_preferences_take_every_order() {
        let records = [
            (10, name("a.example.")),
            (10, name("b.example.")),
            (10, name("c.example.")),
            (5, name("first.example.")),
            (20, name("last.example.")),
        ];
        let mut orders = HashSet::new();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let order = hosts(&plan_exchangers(&records, 10, &mut rng));
            assert_eq!(order[0].1, "first.example");
            assert_eq!(order[4].1, "last.example");
            orders.insert(order);
        }
        assert_eq!(orders.len(), 6, "3 equal hosts have 6 orders");
    }

    #[test]
    fn null_mx_and_dot_among_real_hosts() {
        let mut rng = StdRng::seed_from_u64(2);
        assert_eq!(
            plan_exchangers(&[(0, Name::root())], 10, &mut rng),
            MxPlan::NullMx
        );
        assert_eq!(
            plan_exchangers(&[(10, Name::root())], 10, &mut rng),
            MxPlan::NullMx
        );
        let mixed = plan_exchangers(
            &[(0, Name::root()), (10, name("mx.example."))],
            10,
            &mut rng,
        );
        assert_eq!(hosts(&mixed), [(10, "mx.example".to_owned())]);
        assert_eq!(
            plan_exchangers(&[], 10, &mut rng),
            MxPlan::Exchangers(vec![])
        );
    }

    #[test]
    fn ip_exchanges_are_taken_as_addresses() {
        let mut rng = StdRng::seed_from_u64(3);
        let plan = plan_exchangers(
            &[(10, name("127.0.0.5.")), (20, name("mx.example."))],
            10,
            &mut rng,
        );
        let MxPlan::Exchangers(list) = plan else {
            panic!("null MX")
        };
        assert_eq!(list[0].host, ExchangeHost::Ip("127.0.0.5".parse().unwrap()));
        assert!(matches!(list[1].host, ExchangeHost::Name { .. }));
    }

    #[test]
    fn the_host_cap_keeps_the_most_preferred() {
        let mut rng = StdRng::seed_from_u64(4);
        let records: Vec<_> = (0..15u16)
            .rev()
            .map(|i| (i, name(&format!("mx{i}.example."))))
            .collect();
        let plan = plan_exchangers(&records, 10, &mut rng);
        let preferences: Vec<u16> = hosts(&plan).iter().map(|(p, _)| *p).collect();
        assert_eq!(preferences, (0..10).collect::<Vec<u16>>());
    }

    #[test]
    fn ipv4_comes_before_ipv6_and_junk_is_dropped() {
        let mut rng = StdRng::seed_from_u64(5);
        let v4: Vec<Ipv4Addr> = [
            "127.0.0.2",
            "0.0.0.0",
            "127.0.0.3",
            "224.0.0.1",
            "127.0.0.2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let v6: Vec<Ipv6Addr> = ["::1", "::", "ff02::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let ordered = order_addresses(v4, v6, &mut rng);
        assert_eq!(ordered.len(), 3, "{ordered:?}");
        let first_two: HashSet<IpAddr> = ordered[..2].iter().copied().collect();
        let expected: HashSet<IpAddr> = ["127.0.0.2", "127.0.0.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(first_two, expected);
        assert_eq!(ordered[2], "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_address_cap_counts_across_hosts() {
        let destination = |host: &str, count: u8| Destination {
            mx_host: host.to_owned(),
            preference: 10,
            addrs: (1..=count)
                .map(|i| SocketAddr::from(([127, 0, 0, i], 25)))
                .collect(),
            dane: super::super::Dane::NotApplicable,
        };
        let capped = cap_addresses(
            vec![
                destination("a", 4),
                destination("b", 4),
                destination("c", 4),
                destination("d", 1),
            ],
            10,
        );
        let counts: Vec<(String, usize)> = capped
            .iter()
            .map(|d| (d.mx_host.clone(), d.addrs.len()))
            .collect();
        assert_eq!(
            counts,
            [
                ("a".to_owned(), 4),
                ("b".to_owned(), 4),
                ("c".to_owned(), 2)
            ]
        );
    }
}
