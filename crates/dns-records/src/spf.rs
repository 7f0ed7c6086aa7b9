//! SPF (RFC 7208) as far as checking a published record needs: which records at a name are SPF,
//! the DNS look-ups an evaluation costs (at most 10, or receivers give `permerror`), and which
//! addresses the record, with everything it includes, authorizes.

use std::collections::VecDeque;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::lookup::{Lookup, RecordData, RecordType};

/// The most DNS-querying terms one SPF evaluation may cost (RFC 7208 section 4.6.4).
pub(crate) const LOOKUP_LIMIT: usize = 10;

/// The platform's own record: every relay address, soft-fail for the rest.
pub(crate) fn platform_spf(addresses: &[IpAddr]) -> String {
    let mut record = "v=spf1".to_string();
    for ip in addresses {
        record += &match ip {
            IpAddr::V4(v4) => format!(" ip4:{v4}"),
            IpAddr::V6(v6) => format!(" ip6:{v6}"),
        };
    }
    record + " ~all"
}

/// The SPF records among a name's TXT records: those whose version is `v=spf1`.
pub(crate) fn spf_records(txt: &[RecordData]) -> Vec<&str> {
    txt.iter()
        .filter_map(|data| match data {
            RecordData::Txt(text) if is_spf(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn is_spf(text: &str) -> bool {
    let text = text.trim_start().as_bytes();
    text.len() >= 6
        && text[..6].eq_ignore_ascii_case(b"v=spf1")
        && text.get(6).is_none_or(|b| *b == b' ')
}

/// One term of a record, as far as the check cares.
#[derive(Debug, PartialEq, Eq)]
enum Term<'a> {
    /// `include:DOMAIN`: costs a look-up, and the included record's terms count too.
    Include(&'a str),
    /// `redirect=DOMAIN`: the same, for the whole evaluation.
    Redirect(&'a str),
    /// `a`, `mx`, `ptr`, `exists`: cost a look-up each, authorize nothing we can know here.
    Querying,
    /// `ip4:`/`ip6:` with its network.
    Network(IpNet),
    /// `all`, `exp=`, unknown modifiers, and terms that are malformed.
    Other,
}

fn terms(record: &str) -> impl Iterator<Item = Term<'_>> {
    record.split_ascii_whitespace().skip(1).map(|term| {
        let mechanism = term.trim_start_matches(['+', '-', '~', '?']);
        let name_end = mechanism.find([':', '/', '=']).unwrap_or(mechanism.len());
        let (name, rest) = mechanism.split_at(name_end);
        let name = name.to_ascii_lowercase();
        let argument = rest.get(1..).unwrap_or("");
        match (name.as_str(), rest.chars().next()) {
            ("include", Some(':')) => Term::Include(argument),
            ("redirect", Some('=')) => Term::Redirect(argument),
            ("a" | "mx" | "ptr" | "exists", _) => Term::Querying,
            ("ip4" | "ip6", Some(':')) => argument
                .parse::<IpNet>()
                .or_else(|_| argument.parse::<IpAddr>().map(IpNet::from))
                .map_or(Term::Other, Term::Network),
            _ => Term::Other,
        }
    })
}

/// What evaluating a record would meet, its includes followed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// Look-ups the evaluation costs (includes, redirects, a, mx, ptr, exists).
    pub lookups: usize,
    /// Every `ip4:`/`ip6:` network in the record and the records it includes.
    pub networks: Vec<IpNet>,
    /// Every domain included or redirected to, lower case.
    pub includes: Vec<String>,
    /// What makes receivers fail the record (an include without SPF, two records, a loop).
    pub problems: Vec<String>,
}

impl Evaluation {
    /// Whether a message from `ip` passes on the networks found (or through `include:NAME`).
    pub(crate) fn authorizes(&self, ip: IpAddr, include_name: &str) -> bool {
        let include_name = crate::bare(include_name);
        self.includes.contains(&include_name) || self.networks.iter().any(|n| n.contains(&ip))
    }
}

/// Follows `record` (published at `domain`) through its includes and redirects, counting the
/// look-ups. Includes whose target has a macro (`%{d}`) are counted but not followed.
pub(crate) async fn evaluate(lookup: &impl Lookup, domain: &str, record: &str) -> Evaluation {
    let mut evaluation = Evaluation::default();
    let mut seen = vec![crate::bare(domain)];
    let mut queue = VecDeque::from([record.to_owned()]);
    while let Some(record) = queue.pop_front() {
        for term in terms(&record) {
            let target = match term {
                Term::Include(target) | Term::Redirect(target) => target,
                Term::Querying => {
                    evaluation.lookups += 1;
                    continue;
                }
                Term::Network(network) => {
                    evaluation.networks.push(network);
                    continue;
                }
                Term::Other => continue,
            };
            evaluation.lookups += 1;
            let target = crate::bare(target);
            if target.contains('%') {
                continue;
            }
            evaluation.includes.push(target.clone());
            if seen.contains(&target) {
                evaluation.problems.push(format!(
                    "{target} is included twice (a loop, or wasted look-ups)"
                ));
                continue;
            }
            seen.push(target.clone());
            // Past the limit the answer is permerror whatever follows: stop asking.
            if evaluation.lookups > LOOKUP_LIMIT {
                continue;
            }
            match lookup.lookup(&target, RecordType::Txt).await {
                Ok(txt) => match spf_records(&txt)[..] {
                    [] => evaluation
                        .problems
                        .push(format!("include:{target} has no SPF record")),
                    [one] => queue.push_back(one.to_owned()),
                    _ => evaluation
                        .problems
                        .push(format!("include:{target} has more than one SPF record")),
                },
                Err(e) => evaluation
                    .problems
                    .push(format!("include:{target} could not be looked up ({e})")),
            }
        }
    }
    evaluation
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::StaticZone;

    #[test]
    fn the_platform_record_lists_every_address() {
        let ips: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        assert_eq!(
            platform_spf(&ips),
            "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 ~all"
        );
    }

    #[test]
    fn only_v_spf1_records_are_spf() {
        let txt: Vec<RecordData> = [
            "v=spf1 -all",
            "V=SPF1 include:x.example ~all",
            "v=spf1",
            "v=spf10 -all",
            "google-site-verification=abc",
            "v=DMARC1; p=none",
        ]
        .map(|t| RecordData::Txt(t.into()))
        .into();
        assert_eq!(
            spf_records(&txt),
            ["v=spf1 -all", "V=SPF1 include:x.example ~all", "v=spf1"]
        );
    }

    #[test]
    fn terms_are_read_by_their_name() {
        let read: Vec<Term> = terms(
            "v=spf1 +include:a.example ~ip4:192.0.2.0/24 ip6:2001:db8::1 a mx:m.example/24 \
             ptr exists:%{i}.x.example -all redirect=r.example exp=e.example ip4:nonsense",
        )
        .collect();
        assert_eq!(
            read,
            [
                Term::Include("a.example"),
                Term::Network("192.0.2.0/24".parse().unwrap()),
                Term::Network("2001:db8::1/128".parse().unwrap()),
                Term::Querying,
                Term::Querying,
                Term::Querying,
                Term::Querying,
                Term::Other,
                Term::Redirect("r.example"),
                Term::Other,
                Term::Other,
            ]
        );
    }

    #[tokio::test]
    async fn look_ups_are_counted_through_includes() {
        let mut zone = StaticZone::new();
        zone.txt("_spf.mail.example.net", "v=spf1 ip4:192.0.2.10 ~all")
            .txt(
                "spf.crm.example",
                "v=spf1 include:spf1.crm.example include:spf2.crm.example a mx ~all",
            )
            .txt("spf1.crm.example", "v=spf1 ip4:198.51.100.0/24 mx ~all")
            .txt(
                "spf2.crm.example",
                "v=spf1 a ptr exists:%{i}.x.crm.example ~all",
            )
            .txt("loop.example", "v=spf1 include:loop.example ~all");
        for (record, lookups, problems) in [
            ("v=spf1 include:_spf.mail.example.net ~all", 1, 0),
            ("v=spf1 ip4:192.0.2.10 -all", 0, 0),
            // 1 + (2 + 2) + 1 + 3
            (
                "v=spf1 include:_spf.mail.example.net include:spf.crm.example ~all",
                10,
                0,
            ),
            (
                "v=spf1 include:_spf.mail.example.net include:spf.crm.example mx ~all",
                11,
                0,
            ),
            ("v=spf1 include:nothing.example ~all", 1, 1),
            ("v=spf1 include:loop.example ~all", 2, 1),
            ("v=spf1 redirect=_spf.mail.example.net", 1, 0),
        ] {
            let found = evaluate(&zone, "example.com", record).await;
            assert_eq!(found.lookups, lookups, "{record}: {found:?}");
            assert_eq!(found.problems.len(), problems, "{record}: {found:?}");
        }
        let found = evaluate(&zone, "example.com", "v=spf1 include:spf.crm.example ~all").await;
        assert!(found.authorizes("198.51.100.7".parse().unwrap(), "_spf.mail.example.net"));
        assert!(!found.authorizes("192.0.2.10".parse().unwrap(), "_spf.mail.example.net"));
        let found = evaluate(
            &zone,
            "example.com",
            "v=spf1 include:_SPF.mail.example.net. ~all",
        )
        .await;
        assert!(found.authorizes("192.0.2.99".parse().unwrap(), "_spf.mail.example.net"));
    }
}
