//! SPF (RFC 7208) as far as checking a published record needs: which records at a name are SPF,
//! the DNS look-ups an evaluation costs (at most 10, or receivers give `permerror`), and which
//! addresses the record, with everything it includes, authorizes.

use std::collections::VecDeque;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::lookup::{Lookup, RecordData, RecordType};

/// The most DNS-querying terms one SPF evaluation may cost (RFC 7208 section 4.6.4).
pub(crate) const LOOKUP_LIMIT: usize = 10;

/// The most look-ups that may find nothing (no such name, or no record of the type asked)
/// before receivers give `permerror` (RFC 7208 section 4.6.4).
pub(crate) const VOID_LOOKUP_LIMIT: usize = 2;

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

/// What a querying mechanism asks DNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Querying {
    /// `a`: the domain's A and AAAA records.
    A,
    /// `mx`: its MX records.
    Mx,
    /// `exists`: its A records.
    Exists,
    /// `ptr`: the client's reverse name, unknowable here.
    Ptr,
}

/// One term of a record, as far as the check cares.
#[derive(Debug, PartialEq, Eq)]
enum Term<'a> {
    /// `include:DOMAIN`: costs a look-up, and the included record's terms count too.
    Include(&'a str),
    /// `redirect=DOMAIN`: the same, for the whole evaluation.
    Redirect(&'a str),
    /// `a`, `mx`, `ptr`, `exists`: cost a look-up each, authorize nothing we can know here.
    /// `target` is the domain asked (`None`: the record's own domain; or a macro, or `ptr`,
    /// which depend on the connecting client).
    Querying {
        kind: Querying,
        target: Option<&'a str>,
    },
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
            ("a" | "mx" | "ptr" | "exists", _) => {
                let kind = match name.as_str() {
                    "a" => Querying::A,
                    "mx" => Querying::Mx,
                    "exists" => Querying::Exists,
                    _ => Querying::Ptr,
                };
                // `a:DOMAIN/24`: the domain before any prefix length.
                let domain = argument.split('/').next().unwrap_or("");
                let target = match rest.chars().next() {
                    Some(':') if !domain.is_empty() && !domain.contains('%') => Some(domain),
                    Some(':') => Some("%"),
                    _ if kind == Querying::Exists => Some("%"),
                    _ => None,
                };
                Term::Querying { kind, target }
            }
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
    /// The names whose look-up found nothing (void look-ups), in the order asked.
    pub voids: Vec<String>,
    /// The record's own `all` term's qualifier (`+`, `-`, `~`, `?`), if it has one.
    pub all: Option<char>,
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
    evaluation.all = all_qualifier(record);
    let mut queue = VecDeque::from([(crate::bare(domain), record.to_owned())]);
    while let Some((current, record)) = queue.pop_front() {
        for term in terms(&record) {
            let target = match term {
                Term::Include(target) | Term::Redirect(target) => target,
                Term::Querying { kind, target } => {
                    evaluation.lookups += 1;
                    let asked = match target {
                        None => current.clone(),
                        Some(t) if t.contains('%') => continue,
                        Some(t) => crate::bare(t),
                    };
                    if kind != Querying::Ptr
                        && evaluation.lookups <= LOOKUP_LIMIT
                        && is_void(lookup, &asked, kind).await
                    {
                        evaluation.voids.push(asked);
                    }
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
                    [] => {
                        if txt.is_empty() {
                            evaluation.voids.push(target.clone());
                        }
                        evaluation
                            .problems
                            .push(format!("include:{target} has no SPF record"))
                    }
                    [one] => queue.push_back((target.clone(), one.to_owned())),
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

/// Whether asking for `domain`'s records of `kind` finds nothing. A failed look-up is not
/// void: it says nothing about the record.
async fn is_void(lookup: &impl Lookup, domain: &str, kind: Querying) -> bool {
    let types: &[RecordType] = match kind {
        Querying::A => &[RecordType::A, RecordType::Aaaa],
        Querying::Mx => &[RecordType::Mx],
        Querying::Exists => &[RecordType::A],
        Querying::Ptr => return false,
    };
    for record_type in types {
        match lookup.lookup(domain, *record_type).await {
            Ok(answer) if answer.is_empty() => {}
            _ => return false,
        }
    }
    true
}

/// The qualifier of the record's `all` term (`+` when it has none), if it has one.
fn all_qualifier(record: &str) -> Option<char> {
    record.split_ascii_whitespace().skip(1).find_map(|term| {
        let (qualifier, name) = match term.chars().next()? {
            q @ ('+' | '-' | '~' | '?') => (q, &term[1..]),
            _ => ('+', term),
        };
        name.eq_ignore_ascii_case("all").then_some(qualifier)
    })
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
                Term::Querying {
                    kind: Querying::A,
                    target: None
                },
                Term::Querying {
                    kind: Querying::Mx,
                    target: Some("m.example")
                },
                Term::Querying {
                    kind: Querying::Ptr,
                    target: None
                },
                Term::Querying {
                    kind: Querying::Exists,
                    target: Some("%")
                },
                Term::Other,
                Term::Redirect("r.example"),
                Term::Other,
                Term::Other,
            ]
        );
    }

    #[test]
    fn the_all_term_is_found_with_its_qualifier() {
        for (record, want) in [
            ("v=spf1 ip4:192.0.2.1 ~all", Some('~')),
            ("v=spf1 -ALL", Some('-')),
            ("v=spf1 include:x.example all", Some('+')),
            ("v=spf1 +all", Some('+')),
            ("v=spf1 ?all", Some('?')),
            ("v=spf1 redirect=x.example", None),
            ("v=spf1 include:all.example ~allx", None),
        ] {
            assert_eq!(all_qualifier(record), want, "{record}");
        }
    }

    #[tokio::test]
    async fn look_ups_that_find_nothing_are_counted() {
        let mut zone = StaticZone::new();
        zone.add("example.com", RecordData::A("192.0.2.1".parse().unwrap()))
            .add(
                "six.example",
                RecordData::Aaaa("2001:db8::1".parse().unwrap()),
            )
            .add(
                "mail.example",
                RecordData::Mx {
                    preference: 10,
                    exchange: "mx.example".into(),
                },
            )
            .txt("inc.example", "v=spf1 a mx:gone2.example ~all")
            .fail("broken.example");
        for (record, voids) in [
            ("v=spf1 a mx:mail.example a:six.example ~all", vec![]),
            // Bare `mx` asks the record's own domain, which has no MX.
            ("v=spf1 mx ~all", vec!["example.com"]),
            (
                "v=spf1 a:gone1.example include:inc.example include:nothing.example ~all",
                vec![
                    "gone1.example",
                    "nothing.example",
                    "inc.example",
                    "gone2.example",
                ],
            ),
            // Failures and macros are not void; ptr cannot be asked.
            (
                "v=spf1 a:broken.example exists:%{i}.x.example ptr ~all",
                vec![],
            ),
        ] {
            let found = evaluate(&zone, "example.com", record).await;
            assert_eq!(found.voids, voids, "{record}: {found:?}");
        }
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
