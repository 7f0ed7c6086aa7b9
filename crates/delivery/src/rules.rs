//! Per-destination send control: which rule governs a destination, and its limits.
//!
//! A rule matches a recipient domain (the domain itself and its subdomains), an MX host name
//! (`mx:` prefix, `*.` wildcard for any subdomain), or everything (`*`). The first matching rule
//! in configuration order wins. Destinations that match the same rule share its limits: a
//! `docomo.ne.jp` rule with `max_connections = 2` means two connections to docomo in total on
//! this node, however many of its domains or MX hosts are involved.

use hikyaku_config::{DestinationRule, Rate, TlsPolicy};
use std::sync::Arc;
use std::time::Duration;

/// Limits when no rule says otherwise: generous enough for large receivers, polite enough not
/// to be taken for a flood (Postfix's default per-destination concurrency is 20).
pub const DEFAULT_MAX_CONNECTIONS: usize = 20;
pub const DEFAULT_MAX_MESSAGES_PER_CONNECTION: usize = 100;
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

/// The effective limits of one destination group.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_connections: usize,
    pub max_messages_per_connection: usize,
    pub max_rate: Option<Rate>,
    /// A rule's TLS policy; `None` when no rule sets one, so each host's own applies
    /// (DANE, else opportunistic).
    pub tls: Option<TlsPolicy>,
    /// First pause after a 421 or throttling reply; doubles while the destination keeps
    /// refusing, up to [`MAX_BACKOFF`].
    pub backoff: Duration,
}

pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_messages_per_connection: DEFAULT_MAX_MESSAGES_PER_CONNECTION,
            max_rate: None,
            tls: None,
            backoff: DEFAULT_BACKOFF,
        }
    }
}

/// What a destination's queue is keyed by: a rule shared by many domains, or one site (its
/// hosts with their ports, see `transport::site_of`) when no specific rule matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    Rule(usize),
    Site(Arc<str>),
}

#[derive(Debug, Clone)]
enum Pattern {
    Everything,
    Domain(String),
    MxHost { suffix: String, wildcard: bool },
}

impl Pattern {
    fn parse(text: &str) -> Pattern {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if text == "*" {
            Pattern::Everything
        } else if let Some(host) = text.strip_prefix("mx:") {
            match host.strip_prefix("*.") {
                Some(suffix) => Pattern::MxHost {
                    suffix: suffix.to_string(),
                    wildcard: true,
                },
                None => Pattern::MxHost {
                    suffix: host.to_string(),
                    wildcard: false,
                },
            }
        } else {
            Pattern::Domain(text.trim_start_matches('.').to_string())
        }
    }
}

fn is_same_or_subdomain(name: &str, parent: &str) -> bool {
    name == parent
        || (name.len() > parent.len()
            && name.ends_with(parent)
            && name.as_bytes()[name.len() - parent.len() - 1] == b'.')
}

/// The configured rules, ready for matching.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: Vec<(Pattern, Limits)>,
    /// Each rule's `match` as configured, naming its group in metrics and logs.
    labels: Vec<String>,
    default: Limits,
}

/// How metrics and logs name the group of destinations no rule matches.
pub const DEFAULT_GROUP_LABEL: &str = "*";

impl Rules {
    pub fn new(config: &[DestinationRule]) -> Rules {
        let apply = |rule: &DestinationRule, base: &Limits| Limits {
            max_connections: rule.max_connections.unwrap_or(base.max_connections),
            max_messages_per_connection: rule
                .max_messages_per_connection
                .unwrap_or(base.max_messages_per_connection),
            max_rate: rule.max_rate.or(base.max_rate),
            tls: rule.tls.or(base.tls),
            backoff: rule.backoff.map(|d| d.as_std()).unwrap_or(base.backoff),
        };
        // `*` sets the defaults, wherever it stands; every other rule inherits what it leaves out.
        let default = config
            .iter()
            .filter(|rule| matches!(Pattern::parse(&rule.matches), Pattern::Everything))
            .fold(Limits::default(), |base, rule| apply(rule, &base));
        let specific: Vec<(Pattern, &DestinationRule)> = config
            .iter()
            .map(|rule| (Pattern::parse(&rule.matches), rule))
            .filter(|(pattern, _)| !matches!(pattern, Pattern::Everything))
            .collect();
        let labels = specific
            .iter()
            .map(|(_, rule)| rule.matches.trim().to_string())
            .collect();
        let rules = specific
            .into_iter()
            .map(|(pattern, rule)| (pattern, apply(rule, &default)))
            .collect();
        Rules {
            rules,
            labels,
            default,
        }
    }

    /// The group and limits of a destination: the first rule matching the domain or one of its
    /// MX hosts, else the default limits for this site (`site`, its identity) alone.
    pub fn classify(&self, domain: &str, mx_hosts: &[&str], site: &str) -> (GroupKey, &Limits) {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        for (index, (pattern, limits)) in self.rules.iter().enumerate() {
            let hit = match pattern {
                Pattern::Everything => true,
                Pattern::Domain(parent) => is_same_or_subdomain(&domain, parent),
                Pattern::MxHost { suffix, wildcard } => mx_hosts.iter().any(|host| {
                    let host = host.trim_end_matches('.').to_ascii_lowercase();
                    if *wildcard {
                        host.len() > suffix.len() && is_same_or_subdomain(&host, suffix)
                    } else {
                        host == *suffix
                    }
                }),
            };
            if hit {
                return (GroupKey::Rule(index), limits);
            }
        }
        (GroupKey::Site(site.into()), &self.default)
    }

    /// The name of a group in metrics and logs: its rule's `match`, or
    /// [`DEFAULT_GROUP_LABEL`] for the sites no rule matches (one label for them all, so the
    /// number of series stays the number of rules, however many sites mail goes to).
    pub fn label(&self, key: &GroupKey) -> &str {
        match key {
            GroupKey::Rule(index) => &self.labels[*index],
            GroupKey::Site(_) => DEFAULT_GROUP_LABEL,
        }
    }

    /// Every label [`Rules::label`] can give.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels
            .iter()
            .map(String::as_str)
            .chain([DEFAULT_GROUP_LABEL])
    }

    /// The limits of a group returned by [`Rules::classify`].
    pub fn limits(&self, key: &GroupKey) -> &Limits {
        match key {
            GroupKey::Rule(index) => &self.rules[*index].1,
            GroupKey::Site(_) => &self.default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The identity of the site a destination resolved to; a rule-less destination is its own
    /// group under it.
    const SITE: &str = "mx.example.jp:25";

    fn rule(matches: &str, connections: usize) -> DestinationRule {
        DestinationRule {
            matches: matches.to_string(),
            max_connections: Some(connections),
            max_messages_per_connection: None,
            max_rate: None,
            tls: None,
            backoff: None,
        }
    }

    #[test]
    fn first_matching_rule_wins_and_groups_its_destinations() {
        let rules = Rules::new(&[
            rule("docomo.ne.jp", 2),
            rule("mx:*.ezweb.ne.jp", 3),
            rule("mx:mx.softbank.jp", 4),
            rule("*", 7),
        ]);
        let table: [(&str, &[&str], GroupKey, usize); 8] = [
            (
                "docomo.ne.jp",
                &["mfsmax.docomo.ne.jp"],
                GroupKey::Rule(0),
                2,
            ),
            ("DOCOMO.NE.JP.", &[], GroupKey::Rule(0), 2),
            ("sub.docomo.ne.jp", &[], GroupKey::Rule(0), 2),
            (
                "notdocomo.ne.jp",
                &["mx.notdocomo.ne.jp"],
                GroupKey::Site(SITE.into()),
                7,
            ),
            ("au.com", &["lsean.ezweb.ne.jp"], GroupKey::Rule(1), 3),
            (
                "ezweb.ne.jp",
                &["ezweb.ne.jp"],
                GroupKey::Site(SITE.into()),
                7,
            ),
            ("i.softbank.jp", &["MX.SoftBank.jp."], GroupKey::Rule(2), 4),
            (
                "example.jp",
                &["b.example.jp", "a.example.jp", "a.example.jp"],
                GroupKey::Site(SITE.into()),
                7,
            ),
        ];
        for (domain, mx, key, connections) in table {
            let (got, limits) = rules.classify(domain, mx, SITE);
            assert_eq!(
                (got.clone(), limits.max_connections),
                (key, connections),
                "{domain} {mx:?}"
            );
            assert_eq!(rules.limits(&got).max_connections, connections);
        }
    }

    #[test]
    fn the_default_rule_fills_in_what_others_leave_out() {
        let mut star = rule("*", 5);
        star.max_messages_per_connection = Some(9);
        let rules = Rules::new(&[rule("example.jp", 1), star]);
        let (_, limits) = rules.classify("example.jp", &[], SITE);
        assert_eq!(
            (limits.max_connections, limits.max_messages_per_connection),
            (1, 9)
        );
        let (_, limits) = rules.classify("other.jp", &[], SITE);
        assert_eq!(
            (limits.max_connections, limits.max_messages_per_connection),
            (5, 9)
        );
        let none = Rules::new(&[]);
        assert_eq!(none.classify("x.jp", &[], SITE).1, &Limits::default());
    }

    #[test]
    fn a_tls_setting_is_known_as_the_operators() {
        let mut pinned = rule("pinned.jp", 1);
        pinned.tls = Some(TlsPolicy::Opportunistic);
        let rules = Rules::new(&[pinned, rule("free.jp", 1)]);
        let configured = |rules: &Rules, domain| rules.classify(domain, &[], SITE).1.tls.is_some();
        assert!(configured(&rules, "pinned.jp"));
        assert!(!configured(&rules, "free.jp"));
        assert!(!configured(&rules, "other.jp"));
        // The default rule's setting covers every rule that leaves `tls` out.
        let mut star = rule("*", 5);
        star.tls = Some(TlsPolicy::Required);
        let rules = Rules::new(&[rule("free.jp", 1), star]);
        assert!(configured(&rules, "free.jp"));
        assert!(configured(&rules, "other.jp"));
    }
}
