//! MTA-STS (RFC 8461) for sending: whether a recipient domain asks that its mail go only to
//! named MX hosts over TLS with a verified certificate, and what that means for a site.
//!
//! It owns the policy's life: the `_mta-sts` TXT lookup through the delivery resolver's DNS,
//! the HTTPS fetch of the policy file, and a per-domain cache that keeps a policy until its
//! `max_age` ends — across a changed TXT id whose new policy cannot be fetched, and across a TXT
//! record that disappears, so that an attacker who can block the fetch or strip the record
//! cannot turn enforcement off (trust on first use, RFC 8461 sections 5.1 and 10). The cache is
//! in memory, written through to the store when there is one ([`MtaSts::with_store`]) and read
//! back from it at the first use after a start, so that a restart does not open the window
//! again. A cached policy used in the last tenth of its `max_age` is fetched again in the
//! background (one fetch at a time per domain), so a domain mail keeps going to never sees its
//! policy lapse.
//!
//! It decides nothing about connections itself: [`MtaSts::apply`] narrows a domain's
//! destinations to the policy's MX hosts and marks the site ([`SitePolicy`]); the transport's
//! dispatcher then asks for verified TLS and words its failures with [`enforce_failure`].
//! A destination whose rule sets `tls`, or that a static route sends elsewhere, is the
//! operator's and is left alone. DANE, where it applies, is meant to take precedence over all
//! of this (RFC 8461 section 2); it is not in this module.

mod fetch;
mod policy;
#[cfg(test)]
mod refresh_tests;

pub use fetch::{FetchError, PolicyFetcher};
pub use policy::{
    MAX_MAX_AGE, MAX_POLICY_BYTES, Mode, MxPattern, Policy, PolicyError, RecordError, StsRecord,
    parse_policy, parse_record,
};

use crate::classify::Refusal;
use crate::client::{ConnectionError, EnhancedStatus, Reply, TlsInfo};
use crate::clock::{Clock, SystemClock};
use crate::resolve::{Destination, MxResolver};
use crate::rules::Rules;
use crate::transport::{Failure, SiteTarget, site_of};
use hickory_resolver::TokioResolver;
use hikyaku_model::Remote;
use hikyaku_store::{Store, StoredStsPolicy};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Tuning; the defaults suit the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsOptions {
    /// The port of `https://mta-sts.<domain>/`: 443. Tests move it, since a server on
    /// 127.0.0.1 cannot take 443 (as `smtp_port` is moved for MX hosts).
    pub https_port: u16,
    /// Limit on one policy fetch, from the address lookup to the last byte.
    pub fetch_timeout: Duration,
    /// After a failed fetch, how long the same policy id is not fetched again (each dispatch
    /// of mail to the domain would otherwise try it).
    pub retry_failed_fetch: Duration,
}

impl Default for StsOptions {
    fn default() -> StsOptions {
        StsOptions {
            https_port: 443,
            fetch_timeout: Duration::from_secs(30),
            retry_failed_fetch: Duration::from_secs(300),
        }
    }
}

/// What a policy asks of the connections to one site (carried by the [`SiteTarget`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePolicy {
    /// The recipient domain whose policy it is.
    pub domain: String,
    /// The TXT record's id of the policy.
    pub id: String,
    /// [`Mode::Enforce`] or [`Mode::Testing`] (a `none` policy marks no site).
    pub mode: Mode,
}

impl SitePolicy {
    pub fn enforced(&self) -> bool {
        self.mode == Mode::Enforce
    }

    /// Testing mode: what a session that enforcing would have refused is logged (there are no
    /// TLSRPT reports to send it to).
    pub fn report_testing(&self, host: &str, tls: Option<&TlsInfo>) {
        let problem = match tls {
            None => "the session is not encrypted",
            Some(tls) if !tls.verified => {
                "the certificate is not trusted or does not name the host"
            }
            Some(_) => return,
        };
        tracing::warn!(
            domain = %self.domain,
            policy = %self.id,
            host,
            "MTA-STS policy in testing mode: enforcing it would refuse this MX host: {problem}"
        );
    }
}

/// The policy service: lookups, fetches and the cache. Cheap to share behind an `Arc`.
pub struct MtaSts {
    resolver: MxResolver,
    dns: TokioResolver,
    rules: Rules,
    policies: Arc<Policies>,
}

/// The cache and what fills it, shared with the background refreshes.
struct Policies {
    fetcher: PolicyFetcher,
    retry_failed_fetch: Duration,
    cache: Mutex<HashMap<String, Known>>,
    /// Where fetched policies are kept across restarts.
    store: Option<Store>,
    /// Set once the store's policies are in the cache.
    loaded: tokio::sync::OnceCell<()>,
    clock: Arc<dyn Clock>,
    /// The background refresh of each domain that has one running.
    refreshing: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

/// The part of a cached policy's `max_age` at whose end it is fetched again when used: a
/// tenth. A fraction rather than a fixed time, because `max_age` runs from minutes to a year:
/// a fixed day would refetch a policy of a day or less at every use, and would leave a year's
/// policy to lapse for a domain mailed less than daily. A tenth of a week (the usual value) is
/// about 17 hours, of a year 36 days; a domain that gets mail at least that often never loses
/// its policy, for one extra fetch per nine tenths of `max_age`.
const REFRESH_PART: u32 = 10;

/// What is known of one domain.
#[derive(Debug, Clone, Default)]
struct Known {
    policy: Option<Cached>,
    /// The id whose fetch failed last, and until when it is not tried again.
    failed: Option<(String, Instant)>,
}

#[derive(Debug, Clone)]
struct Cached {
    id: String,
    policy: Arc<Policy>,
    expires: Instant,
}

impl Cached {
    /// Whether it is in the last [`REFRESH_PART`] of its `max_age`.
    fn ends_soon(&self, now: Instant) -> bool {
        self.expires.saturating_duration_since(now) <= self.policy.max_age / REFRESH_PART
    }
}

/// Whether a cached policy that is being used should be fetched again now: it ends soon, the
/// TXT record still names it (or is gone: an attacker may have stripped it, and the policy
/// host may still answer), and its last fetch has not just failed.
fn refresh_due(known: &Known, cached: &Cached, record: Option<&StsRecord>, now: Instant) -> bool {
    let same_id = record.is_none_or(|record| record.id == cached.id);
    let failed_recently = known
        .failed
        .as_ref()
        .is_some_and(|(id, until)| *id == cached.id && *until > now);
    same_id && !failed_recently && cached.ends_soon(now)
}

/// What to do for a domain, given the cache and its TXT record.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Apply this cached policy.
    Use,
    /// Fetch the policy with this id (the cached one, if any, stays the fallback).
    Fetch(String),
    /// Deliver as without MTA-STS.
    Nothing,
}

/// The RFC's rules for a cached policy: it holds until it expires, whatever DNS says meanwhile,
/// unless the TXT record announces another id, which is then fetched.
fn next_step(known: &Known, record: Option<&StsRecord>, now: Instant) -> Step {
    let cached = known.policy.as_ref().filter(|c| c.expires > now);
    match (record, cached) {
        (Some(record), Some(cached)) if cached.id == record.id => Step::Use,
        (Some(record), cached) => {
            let failed_recently = known
                .failed
                .as_ref()
                .is_some_and(|(id, until)| *id == record.id && *until > now);
            match (failed_recently, cached) {
                (false, _) => Step::Fetch(record.id.clone()),
                (true, Some(_)) => Step::Use,
                (true, None) => Step::Nothing,
            }
        }
        (None, Some(_)) => Step::Use,
        (None, None) => Step::Nothing,
    }
}

impl MtaSts {
    /// `None` when the resolver has no DNS (static mode): there is nowhere to look policies up.
    /// `roots` are the SMTP client's trust anchors; `rules` the operator's destination rules.
    pub fn new(
        resolver: &MxResolver,
        roots: Option<Arc<rustls::RootCertStore>>,
        rules: Rules,
        options: StsOptions,
    ) -> Result<Option<MtaSts>, rustls::Error> {
        let Some(dns) = resolver.dns() else {
            return Ok(None);
        };
        let fetcher = PolicyFetcher::new(
            dns.clone(),
            roots,
            options.https_port,
            options.fetch_timeout,
        )?;
        Ok(Some(MtaSts {
            resolver: resolver.clone(),
            dns,
            rules,
            policies: Arc::new(Policies {
                fetcher,
                retry_failed_fetch: options.retry_failed_fetch,
                cache: Mutex::new(HashMap::new()),
                store: None,
                loaded: tokio::sync::OnceCell::new(),
                clock: Arc::new(SystemClock),
                refreshing: Mutex::new(HashMap::new()),
            }),
        }))
    }

    /// Keeps fetched policies in `store` and starts from those it holds (see the module's doc).
    pub fn with_store(mut self, store: Store) -> MtaSts {
        self.policies_mut().store = Some(store);
        self
    }

    /// Time from `clock` (tests move it by hand).
    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: Arc<dyn Clock>) -> MtaSts {
        self.policies_mut().clock = clock;
        self
    }

    /// The `with_` methods run before anything else holds the policies.
    fn policies_mut(&mut self) -> &mut Policies {
        Arc::get_mut(&mut self.policies).expect("configured before it is shared")
    }

    /// The site for a domain's destinations under its policy. Without one (or in mode `none`,
    /// or for a destination the operator has pinned) the site is as without MTA-STS. In
    /// testing mode it is too, marked so that the dispatcher logs what enforcing would refuse.
    /// Enforced, only the MX hosts the policy names remain, and none is a temporary failure.
    pub async fn apply(
        &self,
        domain: &str,
        destinations: &[Destination],
    ) -> Result<SiteTarget, Failure> {
        let site = site_of(destinations);
        let Some(policy_domain) = self.resolver.policy_domain(domain) else {
            return Ok(site);
        };
        let hosts: Vec<&str> = destinations.iter().map(|d| d.mx_host.as_str()).collect();
        if self
            .rules
            .classify(domain, &hosts, &site.id)
            .1
            .tls
            .is_some()
        {
            return Ok(site);
        }
        let Some((id, policy)) = self.policy(&policy_domain).await else {
            return Ok(site);
        };
        let mark = SitePolicy {
            domain: policy_domain.clone(),
            id,
            mode: policy.mode,
        };
        let allowed: Vec<Destination> = destinations
            .iter()
            .filter(|d| policy.allows(&d.mx_host))
            .cloned()
            .collect();
        match policy.mode {
            Mode::None => Ok(site),
            Mode::Testing => {
                if allowed.len() < destinations.len() {
                    let refused: Vec<&str> = hosts
                        .iter()
                        .copied()
                        .filter(|h| !policy.allows(h))
                        .collect();
                    tracing::warn!(
                        domain = %policy_domain,
                        policy = %mark.id,
                        mx = %policy.mx_list(),
                        "MTA-STS policy in testing mode: enforcing it would refuse MX hosts {refused:?}"
                    );
                }
                Ok(SiteTarget {
                    mta_sts: Some(Arc::new(mark)),
                    ..site
                })
            }
            Mode::Enforce if allowed.is_empty() => Err(local_failure(
                EnhancedStatus::new(4, 7, 0),
                format!(
                    "MTA-STS policy of {policy_domain}: no MX host matches the policy (mx: {}; MX hosts: {})",
                    policy.mx_list(),
                    hosts.join(", ")
                ),
            )),
            Mode::Enforce => {
                let narrowed = site_of(&allowed);
                Ok(SiteTarget {
                    // Sessions to these hosts differ from opportunistic ones: never shared.
                    id: format!("{}+mta-sts", narrowed.id).into(),
                    hosts: narrowed.hosts,
                    mta_sts: Some(Arc::new(mark)),
                })
            }
        }
    }

    /// The policy in force for a domain now, with its id, following the cache rules.
    async fn policy(&self, domain: &str) -> Option<(String, Arc<Policy>)> {
        let record = self.record(domain).await;
        let policies = &self.policies;
        let known = policies.known(domain).await;
        let now = policies.clock.instant();
        let id = match next_step(&known, record.as_ref(), now) {
            Step::Nothing => return None,
            Step::Use => {
                let cached = known.policy.as_ref()?;
                if refresh_due(&known, cached, record.as_ref(), now) {
                    policies.refresh(domain, &cached.id);
                }
                return Some((cached.id.clone(), Arc::clone(&cached.policy)));
            }
            Step::Fetch(id) => id,
        };
        let fallback = known.policy.filter(|c| c.expires > now);
        match policies
            .fetch(domain, &id, fallback.as_ref().map(|c| c.id.as_str()))
            .await
        {
            Some(policy) => Some((id, policy)),
            None => fallback.map(|c| (c.id, c.policy)),
        }
    }

    /// Waits for the background refreshes running now.
    #[cfg(test)]
    pub(crate) async fn refreshes_done(&self) {
        let running: Vec<_> = {
            let mut refreshing = self.policies.refreshing.lock().unwrap();
            refreshing.drain().map(|(_, task)| task).collect()
        };
        for task in running {
            let _ = task.await;
        }
    }

    /// The domain's valid STS record; `None` for none, an invalid one, or a failed lookup (a
    /// cached policy then still applies).
    async fn record(&self, domain: &str) -> Option<StsRecord> {
        let name = format!("_mta-sts.{domain}.");
        let lookup = match self.dns.txt_lookup(name).await {
            Ok(lookup) => lookup,
            Err(error) => {
                if !error.is_no_records_found() && !error.is_nx_domain() {
                    tracing::debug!(domain, %error, "MTA-STS TXT lookup failed");
                }
                return None;
            }
        };
        let texts: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                hickory_resolver::proto::rr::RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        match parse_record(&texts) {
            Ok(record) => Some(record),
            Err(RecordError::None) => None,
            Err(error) => {
                tracing::info!(domain, %error, "MTA-STS TXT record ignored");
                None
            }
        }
    }
}

impl Policies {
    /// What is known of a domain. The first call after a start reads the store's policies in.
    async fn known(&self, domain: &str) -> Known {
        if let Some(store) = &self.store {
            // A failed read is tried again at the next call; meanwhile there is the memory.
            let loaded = self.loaded.get_or_try_init(|| self.load(store)).await;
            if let Err(error) = loaded {
                tracing::warn!(%error, "cannot read the stored MTA-STS policies");
            }
        }
        self.cache
            .lock()
            .unwrap()
            .get(domain)
            .cloned()
            .unwrap_or_default()
    }

    /// The store's unexpired policies into the cache, where it has none for their domains
    /// (one fetched meanwhile is newer).
    async fn load(&self, store: &Store) -> Result<(), hikyaku_store::StoreError> {
        let stored = store.mta_sts_policies(self.clock.now()).await?;
        let (now, instant) = (self.clock.now(), self.clock.instant());
        let mut cache = self.cache.lock().unwrap();
        for row in stored {
            let Some(policy) = Policy::from_parts(&row.mode, &row.mx, row.max_age) else {
                tracing::warn!(domain = %row.domain, "a stored MTA-STS policy does not parse; ignored");
                continue;
            };
            let left = u64::try_from(row.expires_at.as_millis() - now.as_millis()).unwrap_or(0);
            cache.entry(row.domain).or_insert_with(|| Known {
                policy: Some(Cached {
                    id: row.policy_id,
                    policy: Arc::new(policy),
                    expires: instant + Duration::from_millis(left),
                }),
                failed: None,
            });
        }
        Ok(())
    }

    /// Fetches the policy of `domain` for the TXT id `id` and caches (and stores) it. On
    /// failure, the id is not fetched again for a while; `using` names the cached policy that
    /// still applies, for the log.
    async fn fetch(&self, domain: &str, id: &str, using: Option<&str>) -> Option<Arc<Policy>> {
        let policy = match self.fetcher.fetch(domain).await {
            Ok(policy) => Arc::new(policy),
            Err(error) => {
                tracing::warn!(domain, id, %error, using_cached = using, "MTA-STS policy fetch failed");
                let until = self.clock.instant() + self.retry_failed_fetch;
                let mut cache = self.cache.lock().unwrap();
                cache.entry(domain.to_owned()).or_default().failed = Some((id.to_owned(), until));
                return None;
            }
        };
        tracing::info!(domain, id, mode = policy.mode.as_str(), mx = %policy.mx_list(), max_age = policy.max_age.as_secs(), "MTA-STS policy fetched");
        let cached = Cached {
            id: id.to_owned(),
            policy: Arc::clone(&policy),
            expires: self.clock.instant() + policy.max_age,
        };
        self.cache.lock().unwrap().insert(
            domain.to_owned(),
            Known {
                policy: Some(cached),
                failed: None,
            },
        );
        if let Some(store) = &self.store {
            let now = self.clock.now();
            let row = StoredStsPolicy {
                domain: domain.to_owned(),
                policy_id: id.to_owned(),
                mode: policy.mode.as_str().to_owned(),
                mx: policy.mx.iter().map(ToString::to_string).collect(),
                max_age: policy.max_age,
                fetched_at: now,
                expires_at: now.saturating_add(policy.max_age),
            };
            // Not stored, it still applies from memory; only a restart would lose it.
            if let Err(error) = store.save_mta_sts_policy(&row, now).await {
                tracing::warn!(domain, id, %error, "cannot store the MTA-STS policy");
            }
        }
        Some(policy)
    }

    /// Fetches `id`'s policy again in the background, unless a refresh of the domain runs.
    fn refresh(self: &Arc<Self>, domain: &str, id: &str) {
        let mut refreshing = self.refreshing.lock().unwrap();
        if refreshing
            .get(domain)
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let policies = Arc::clone(self);
        let (domain, id) = (domain.to_owned(), id.to_owned());
        tracing::debug!(%domain, %id, "MTA-STS policy ends soon: fetching it again");
        let task = tokio::spawn({
            let domain = domain.clone();
            async move {
                policies.fetch(&domain, &id, Some(&id)).await;
                policies.refreshing.lock().unwrap().remove(&domain);
            }
        });
        refreshing.insert(domain, task);
    }
}

/// The failure of a connection that enforcing refused: TLS not offered or refused, or a
/// certificate that does not verify for the MX host. `None` for other failures (a refused
/// connection is no policy matter).
pub fn enforce_failure(
    policy: &SitePolicy,
    host: &str,
    addr: SocketAddr,
    error: &ConnectionError,
) -> Option<Failure> {
    let enhanced = match error {
        ConnectionError::TlsNotOffered | ConnectionError::StartTlsRefused(_) => {
            EnhancedStatus::new(4, 7, 4)
        }
        ConnectionError::TlsHandshake { .. } | ConnectionError::InvalidServerName(_) => {
            EnhancedStatus::new(4, 7, 5)
        }
        _ => return None,
    };
    let mut failure = local_failure(
        enhanced,
        format!(
            "MTA-STS policy of {}: {host} [{}]: {error}",
            policy.domain,
            addr.ip()
        ),
    );
    failure.refusal.stage = Some(error.stage());
    failure.remote = Some(Remote {
        host: host.to_string(),
        ip: Some(addr.ip()),
        port: Some(addr.port()),
        tls: Some(false),
    });
    Some(failure)
}

/// A temporary failure decided here: the message is retried until its lifetime ends.
fn local_failure(enhanced: EnhancedStatus, text: String) -> Failure {
    Failure {
        refusal: Refusal::local(Reply::new(451, enhanced, text)),
        permanent: false,
        throttled: false,
        remote: None,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(id: &str, expires: Instant) -> Option<Cached> {
        Some(Cached {
            id: id.into(),
            policy: Arc::new(Policy {
                mode: Mode::Enforce,
                mx: vec![],
                max_age: Duration::from_secs(60),
            }),
            expires,
        })
    }

    #[test]
    fn cache_rules_table() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let earlier = now - Duration::from_secs(1);
        let record = |id: &str| Some(StsRecord { id: id.into() });
        let fetch = |id: &str| Step::Fetch(id.into());
        let table: Vec<(&str, Known, Option<StsRecord>, Step)> = vec![
            ("first sight", Known::default(), record("a"), fetch("a")),
            (
                "no record, nothing known",
                Known::default(),
                None,
                Step::Nothing,
            ),
            (
                "same id, unexpired",
                Known {
                    policy: cached("a", later),
                    failed: None,
                },
                record("a"),
                Step::Use,
            ),
            (
                "same id, expired: fetched again",
                Known {
                    policy: cached("a", earlier),
                    failed: None,
                },
                record("a"),
                fetch("a"),
            ),
            (
                "new id",
                Known {
                    policy: cached("a", later),
                    failed: None,
                },
                record("b"),
                fetch("b"),
            ),
            (
                "record gone: the cached policy holds",
                Known {
                    policy: cached("a", later),
                    failed: None,
                },
                None,
                Step::Use,
            ),
            (
                "record gone and policy expired",
                Known {
                    policy: cached("a", earlier),
                    failed: None,
                },
                None,
                Step::Nothing,
            ),
            (
                "new id failed a moment ago: the cached policy holds",
                Known {
                    policy: cached("a", later),
                    failed: Some(("b".into(), later)),
                },
                record("b"),
                Step::Use,
            ),
            (
                "failed a moment ago, nothing cached",
                Known {
                    policy: None,
                    failed: Some(("b".into(), later)),
                },
                record("b"),
                Step::Nothing,
            ),
            (
                "failure long ago: tried again",
                Known {
                    policy: None,
                    failed: Some(("b".into(), earlier)),
                },
                record("b"),
                fetch("b"),
            ),
            (
                "another id failed: this one is fetched",
                Known {
                    policy: None,
                    failed: Some(("b".into(), later)),
                },
                record("c"),
                fetch("c"),
            ),
        ];
        for (case, known, record, step) in table {
            assert_eq!(next_step(&known, record.as_ref(), now), step, "{case}");
        }
    }
}
