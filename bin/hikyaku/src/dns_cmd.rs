//! `hikyaku dns records|check`: the records to publish, from the configuration (the platform's)
//! or from the store (a contract's), and their check against the configured DNS server.

use crate::admin::{Output, require_contract};
use anyhow::{Context, bail};
use hikyaku_config::Config;
use hikyaku_dns_records::{
    ContractDomains, DkimKey, DnsServer, ExpectedRecord, Finding, Platform, SenderDomain, Status,
    check_contract, check_platform, contract_records, platform_records, render_zone,
};
use hikyaku_model::CustomerId;
use hikyaku_store::Store;
use serde::Serialize;

#[derive(clap::Subcommand)]
pub enum DnsCommand {
    /// Print the records to publish as a zone-file snippet: the platform's (relay hosts and
    /// their PTRs, the SMTP host name, the SPF record to include, the bounce domain), or with
    /// --contract the ones the customer publishes in its own zones.
    Records {
        /// The records of this contract (customer ID) instead of the platform's.
        #[arg(long, value_name = "CUSTOMER_ID")]
        contract: Option<CustomerId>,
    },
    /// Ask the configured DNS server (`dns.resolver`) for each record and say, one line each,
    /// whether it is right, missing or wrong, and the fix. Exits 1 when anything needs a fix.
    Check {
        /// Check this contract's records (customer ID) instead of the platform's.
        #[arg(long, value_name = "CUSTOMER_ID")]
        contract: Option<CustomerId>,
    },
}

/// The platform as the configuration describes it (the API's own reading of it).
pub fn platform(config: &Config) -> anyhow::Result<Platform> {
    hikyaku_api::v1::dns_platform(config).map_err(anyhow::Error::msg)
}

/// The platform with the service domain's DKIM keys from the store.
async fn platform_with_keys(config: &Config, store: &Store) -> anyhow::Result<Platform> {
    let mut platform = platform(config)?;
    if let Some(service) = &config.service_domain
        && let Some(domain) = store.sender_domain(None, service).await?
    {
        platform.service_keys = dkim_keys(&domain)?;
    }
    Ok(platform)
}

/// What the built-in DNS responder serves: the configured platform with the service domain's
/// DKIM keys, and the nodes' heartbeats, both read from the store at every refresh (a key added
/// while the node serves is published without a restart).
pub struct ServiceZone {
    pub config: Config,
    pub store: Store,
}

#[async_trait::async_trait]
impl hikyaku_dns_responder::ZoneSource for ServiceZone {
    async fn platform(&self) -> Result<Platform, hikyaku_dns_responder::SourceError> {
        Ok(platform_with_keys(&self.config, &self.store).await?)
    }

    async fn heartbeats(
        &self,
    ) -> Result<Vec<hikyaku_store::NodeStatus>, hikyaku_dns_responder::SourceError> {
        Ok(self.store.nodes().await?)
    }
}

/// The responder's settings from `[dns.responder]`, or `None` when it does not run here.
pub fn responder_settings(config: &Config) -> Option<hikyaku_dns_responder::ResponderSettings> {
    let r = &config.dns.responder;
    let apex = config.service_domain.clone()?;
    if !r.enabled() {
        return None;
    }
    // Validation took whole seconds of at most a week: they fit.
    let seconds =
        |d: hikyaku_config::Duration| u32::try_from(d.as_std().as_secs()).unwrap_or(u32::MAX);
    let zone = hikyaku_dns_responder::ZoneSettings {
        apex,
        nameservers: r.nameservers.clone(),
        smtp_host_ttl: seconds(r.smtp_host_ttl),
        ttl: seconds(r.ttl),
        negative_ttl: seconds(r.negative_ttl),
    };
    let mut settings = hikyaku_dns_responder::ResponderSettings::new(zone, r.listen.clone());
    settings.rate_limit = hikyaku_dns_responder::RateLimitSettings {
        responses_per_second: r.rate_limit,
        slip: r.rate_limit_slip,
        ipv4_prefix_len: r.rate_limit_ipv4_prefix,
        ipv6_prefix_len: r.rate_limit_ipv6_prefix,
        ..settings.rate_limit
    };
    settings.tcp = hikyaku_dns_responder::TcpLimits {
        max_connections: r.max_tcp_connections,
        idle_timeout: r.tcp_idle_timeout.as_std(),
        max_queries: r.max_tcp_queries,
    };
    Some(settings)
}

/// Every stored key of a sender domain as the record it publishes.
fn dkim_keys(domain: &hikyaku_store::SenderDomain) -> anyhow::Result<Vec<DkimKey>> {
    domain
        .keys
        .iter()
        .map(|key| {
            Ok(DkimKey {
                selector: key.selector.clone(),
                txt: hikyaku_api::v1::key_record(key).with_context(|| {
                    format!("the DKIM key {} of {}", key.selector, domain.domain)
                })?,
            })
        })
        .collect()
}

/// A contract's domains from the store: its sender domains with every stored DKIM key, and its
/// own bounce domain.
pub async fn gather_domains(
    store: &Store,
    customer_id: &CustomerId,
) -> anyhow::Result<ContractDomains> {
    require_contract(store, customer_id).await?;
    let bounce_domain = store
        .bounce_domain(customer_id)
        .await?
        .map(|own| own.domain);
    let mut sender_domains = Vec::new();
    for domain in store.sender_domains(Some(customer_id)).await? {
        sender_domains.push(SenderDomain {
            dkim_keys: dkim_keys(&domain)?,
            domain: domain.domain,
        });
    }
    Ok(ContractDomains {
        customer_id: customer_id.to_string(),
        sender_domains,
        bounce_domain,
    })
}

#[derive(Serialize)]
struct RecordsShown<'a> {
    /// `null`: the platform's records.
    customer_id: Option<&'a str>,
    records: &'a [ExpectedRecord],
}

#[derive(Serialize)]
struct CheckShown<'a> {
    customer_id: Option<&'a str>,
    /// The DNS server asked.
    resolver: String,
    findings: &'a [Finding],
    right: usize,
    missing: usize,
    wrong: usize,
    unchecked: usize,
}

pub async fn run(cmd: DnsCommand, config: &Config, json: bool) -> anyhow::Result<()> {
    let out = Output { json };
    // Refuse a configuration without relay nodes before creating anything.
    platform(config)?;
    let (store, _) = crate::open_store(config).await?;
    let platform = platform_with_keys(config, &store).await?;
    match cmd {
        DnsCommand::Records { contract } => {
            let (customer_id, records) = match contract {
                None => (None, platform_records(&platform)),
                Some(id) => {
                    let domains = gather_domains(&store, &id).await?;
                    (
                        Some(domains.customer_id.clone()),
                        contract_records(&platform, &domains),
                    )
                }
            };
            let shown = RecordsShown {
                customer_id: customer_id.as_deref(),
                records: &records,
            };
            out.print(&shown, || {
                records_text(customer_id.as_deref(), &platform, &records)
            })
        }
        DnsCommand::Check { contract } => {
            let Some(resolver) = config.dns.resolver else {
                bail!(
                    "dns.resolver is not set: dns check asks that DNS server (IP:PORT), never \
                     the system's resolver"
                );
            };
            let dns = DnsServer::new(resolver)?;
            dns.probe().await.with_context(|| {
                format!("the DNS server {resolver} (dns.resolver) does not answer")
            })?;
            let (customer_id, findings) = match contract {
                None => (None, check_platform(&platform, &dns).await),
                Some(id) => {
                    let domains = gather_domains(&store, &id).await?;
                    let findings = check_contract(&platform, &domains, &dns).await;
                    (Some(domains.customer_id), findings)
                }
            };
            let count = |status| findings.iter().filter(|f| f.status == status).count();
            let shown = CheckShown {
                customer_id: customer_id.as_deref(),
                resolver: resolver.to_string(),
                findings: &findings,
                right: count(Status::Right),
                missing: count(Status::Missing),
                wrong: count(Status::Wrong),
                unchecked: count(Status::Unchecked),
            };
            out.print(&shown, || check_text(&shown))?;
            let to_fix = shown.missing + shown.wrong + shown.unchecked;
            if to_fix > 0 {
                bail!(
                    "{to_fix} of {} records are missing, wrong or unchecked",
                    findings.len()
                );
            }
            Ok(())
        }
    }
}

fn records_text(
    customer_id: Option<&str>,
    platform: &Platform,
    records: &[ExpectedRecord],
) -> String {
    let head = match customer_id {
        None => format!(
            "; The platform's DNS records (SMTP host {}, SPF record {})\n",
            platform.smtp_host, platform.spf_name
        ),
        Some(id) => format!("; DNS records contract {id} publishes in its own zones\n"),
    };
    if records.is_empty() {
        return head
            + "; none: the contract has no sender domains and no bounce domain of its own\n";
    }
    head + &render_zone(records)
}

fn check_text(shown: &CheckShown) -> String {
    let mut text = String::new();
    for finding in shown.findings {
        text += &finding.line();
        text.push('\n');
    }
    text += &format!(
        "{} right, {} missing, {} wrong, {} unchecked (asked {})\n",
        shown.right, shown.missing, shown.wrong, shown.unchecked, shown.resolver
    );
    text
}
