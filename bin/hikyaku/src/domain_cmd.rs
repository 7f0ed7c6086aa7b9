//! `hikyaku domain`: sender domains and their DKIM keys (add, list, show, verify, remove,
//! rotate-key, remove-key, and add-service for the platform's own service domain), on the store
//! directly like the other operator commands. Running relays pick a change up within a minute
//! (their per-contract cache lives that long). `domain verify` reads DNS through the resolver
//! of `[delivery] resolver`.

use crate::admin::{Output, Table, field, require_contract};
use anyhow::{Context, bail};
use hikyaku_api::v1::{GeneratedKey, generate_keys, shown_sender_domain};
use hikyaku_api_types as api;
use hikyaku_config::{Config, ResolverSetting};
use hikyaku_delivery::resolve::{MxResolver, ResolverMode, ResolverOptions};
use hikyaku_dkim::{DomainAlgorithm, public_key_of_record};
use hikyaku_dns_records::{DnsServer, Lookup, RecordData, RecordType};
use hikyaku_model::{CustomerId, DkimKeyState};
use hikyaku_store::{NewDkimKey, SenderDomain, Store};

/// Whose domains a command works on: a contract's, or (`service`) the platform's own.
#[derive(Debug, Clone)]
pub enum Owner {
    Contract(CustomerId),
    Service,
}

impl std::str::FromStr for Owner {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "service" {
            return Ok(Owner::Service);
        }
        s.parse()
            .map(Owner::Contract)
            .map_err(|e: hikyaku_model::InvalidCustomerId| {
                format!("{e}; or `service` for the platform's service domain")
            })
    }
}

impl Owner {
    fn customer(&self) -> Option<&CustomerId> {
        match self {
            Owner::Contract(id) => Some(id),
            Owner::Service => None,
        }
    }
}

#[derive(clap::Subcommand)]
pub enum DomainCommand {
    /// Register a sender domain for a contract: its key is generated (sealed at rest) and the
    /// DNS record to publish is printed. The relay signs the contract's mail from this domain
    /// (and from any name below it) from then on.
    Add {
        /// The contract's customer ID.
        customer_id: CustomerId,
        /// The domain of the From addresses, e.g. example.com (in ASCII; an internationalised
        /// name in its xn-- form).
        domain: String,
        /// rsa-2048 (the default), rsa-1024 (for DNS hosts that cannot hold a longer record),
        /// ed25519, or dual (RSA-2048 and Ed25519 signatures on every message, RFC 8463).
        #[arg(long, default_value = "rsa-2048")]
        algorithm: DomainAlgorithm,
        /// The selector (`hkYYYYMM` by default; dual adds `r` and `e`).
        #[arg(long)]
        selector: Option<String>,
    },
    /// Give the platform's own service domain (`service_domain` in the configuration) a key:
    /// it signs the mail of contracts whose From domain is not registered (their policy
    /// `sign-as-service`, the default).
    AddService {
        /// As for `domain add`.
        #[arg(long, default_value = "rsa-2048")]
        algorithm: DomainAlgorithm,
        /// The selector (`hkYYYYMM` by default).
        #[arg(long)]
        selector: Option<String>,
    },
    /// List the sender domains of a contract (or `service`).
    List {
        /// The contract's customer ID, or `service`.
        owner: Owner,
    },
    /// Show a domain with its keys and the records to publish.
    Show {
        /// The contract's customer ID, or `service`.
        owner: Owner,
        /// The sender domain.
        domain: String,
    },
    /// Look the domain's key records up in DNS and say, for each, whether it is published
    /// with our key. When a rotation is pending and all its records are seen, the new keys
    /// become active (the old ones are retired, kept until `domain remove-key`).
    Verify {
        /// The contract's customer ID, or `service`.
        owner: Owner,
        /// The sender domain.
        domain: String,
    },
    /// Remove a sender domain with all its keys: its mail is then treated as from an
    /// unregistered domain.
    Remove {
        /// The contract's customer ID, or `service`.
        owner: Owner,
        /// The sender domain.
        domain: String,
    },
    /// Start a key rotation: a new key under a new selector, pending until `domain verify`
    /// sees its record in DNS. The current key signs until then.
    RotateKey {
        /// The contract's customer ID, or `service`.
        owner: Owner,
        /// The sender domain.
        domain: String,
        /// The new selector (`hkYYYYMM`, made unique, by default).
        #[arg(long)]
        selector: Option<String>,
    },
    /// Remove a retired (or pending) key; the active key cannot be removed.
    RemoveKey {
        /// The contract's customer ID, or `service`.
        owner: Owner,
        /// The sender domain.
        domain: String,
        /// The selector of the key to remove.
        selector: String,
    },
}

pub async fn run(
    cmd: DomainCommand,
    store: &Store,
    config: &Config,
    json: bool,
) -> anyhow::Result<()> {
    let out = Output { json };
    match cmd {
        DomainCommand::Add {
            customer_id,
            domain,
            algorithm,
            selector,
        } => {
            require_contract(store, &customer_id).await?;
            if config.service_domain.as_deref().is_some_and(|s| {
                s.trim_end_matches('.')
                    .eq_ignore_ascii_case(domain.trim_end_matches('.'))
            }) {
                bail!(
                    "{domain} is the platform's service domain: give it a key with `domain add-service`"
                );
            }
            let added = add(store, Some(&customer_id), &domain, algorithm, selector).await?;
            print_domain(out, &added, true)
        }
        DomainCommand::AddService {
            algorithm,
            selector,
        } => {
            let Some(domain) = config.service_domain.clone() else {
                bail!(
                    "no service_domain in the configuration: set it to the platform's own domain first"
                );
            };
            let added = add(store, None, &domain, algorithm, selector).await?;
            print_domain(out, &added, true)
        }
        DomainCommand::List { owner } => {
            check_owner(store, &owner).await?;
            let domains = store.sender_domains(owner.customer()).await?;
            let shown = domains
                .iter()
                .map(shown_sender_domain)
                .collect::<Result<Vec<_>, _>>()?;
            out.print(
                &api::SenderDomainList {
                    domains: shown.clone(),
                },
                || {
                    let mut table =
                        Table::new(["DOMAIN", "ALGORITHM", "ACTIVE", "PENDING", "RETIRED"]);
                    for d in &shown {
                        let selectors = |state: &str| {
                            let list: Vec<&str> = d
                                .keys
                                .iter()
                                .filter(|k| k.state == state)
                                .map(|k| k.selector.as_str())
                                .collect();
                            if list.is_empty() {
                                "-".to_string()
                            } else {
                                list.join(",")
                            }
                        };
                        table.row([
                            d.domain.clone(),
                            d.algorithm.clone(),
                            selectors("active"),
                            selectors("pending"),
                            selectors("retired"),
                        ]);
                    }
                    table.render("no sender domains")
                },
            )
        }
        DomainCommand::Show { owner, domain } => {
            let found = find(store, &owner, &domain).await?;
            print_domain(out, &found, false)
        }
        DomainCommand::Verify { owner, domain } => {
            let found = find(store, &owner, &domain).await?;
            let resolver = resolver(config)?;
            let verification = verify(store, &resolver, &found).await?;
            out.print(&verification, || {
                let mut text = field("domain", &verification.domain);
                for check in &verification.checks {
                    text += &format!(
                        "  {} ({}): {}\n",
                        check.record_name, check.state, check.detail
                    );
                }
                if verification.switched {
                    text += "the new key is active now; the old one is retired (remove it later with `domain remove-key`)\n";
                }
                text
            })
        }
        DomainCommand::Remove { owner, domain } => {
            check_owner(store, &owner).await?;
            if !store
                .remove_sender_domain(owner.customer(), &domain)
                .await?
            {
                bail!("{} has no sender domain {domain}", owner_text(&owner));
            }
            out.print(&serde_json::json!({ "removed": domain }), || {
                format!("removed sender domain {domain} of {}\n", owner_text(&owner))
            })
        }
        DomainCommand::RotateKey {
            owner,
            domain,
            selector,
        } => {
            let found = find(store, &owner, &domain).await?;
            let algorithm: DomainAlgorithm = found
                .algorithm
                .parse()
                .with_context(|| format!("sender domain {}", found.domain))?;
            let used: Vec<&str> = found.keys.iter().map(|k| k.selector.as_str()).collect();
            let keys = generate_keys(algorithm, selector.as_deref(), &used)?;
            let new: Vec<NewDkimKey> = keys.iter().map(GeneratedKey::as_new).collect();
            store.add_pending_dkim_keys(found.id, &new).await?;
            let after = find(store, &owner, &domain).await?;
            print_domain(out, &after, true)
        }
        DomainCommand::RemoveKey {
            owner,
            domain,
            selector,
        } => {
            let found = find(store, &owner, &domain).await?;
            if !store.remove_dkim_key(found.id, &selector).await? {
                bail!("{} has no key with selector {selector}", found.domain);
            }
            out.print(
                &serde_json::json!({ "domain": found.domain, "removed_selector": selector }),
                || format!("removed key {selector} of {}\n", found.domain),
            )
        }
    }
}

fn owner_text(owner: &Owner) -> String {
    match owner {
        Owner::Contract(id) => format!("contract {id}"),
        Owner::Service => "the platform".to_string(),
    }
}

async fn check_owner(store: &Store, owner: &Owner) -> anyhow::Result<()> {
    if let Owner::Contract(id) = owner {
        require_contract(store, id).await?;
    }
    Ok(())
}

async fn find(store: &Store, owner: &Owner, domain: &str) -> anyhow::Result<SenderDomain> {
    check_owner(store, owner).await?;
    match store.sender_domain(owner.customer(), domain).await? {
        Some(found) => Ok(found),
        None => bail!("{} has no sender domain {domain}", owner_text(owner)),
    }
}

async fn add(
    store: &Store,
    customer: Option<&CustomerId>,
    domain: &str,
    algorithm: DomainAlgorithm,
    selector: Option<String>,
) -> anyhow::Result<SenderDomain> {
    let keys = generate_keys(algorithm, selector.as_deref(), &[])?;
    let new: Vec<NewDkimKey> = keys.iter().map(GeneratedKey::as_new).collect();
    Ok(store
        .add_sender_domain(customer, domain, algorithm.as_str(), &new)
        .await?)
}

fn record_name(selector: &str, domain: &str) -> String {
    format!("{selector}._domainkey.{domain}")
}

/// A TXT value as zone-file text, as `dns records` prints it: quoted strings of at most 255
/// octets (DNS's limit for one string; a DKIM record of a 2048-bit key needs two).
pub(crate) fn zone_strings(value: &str) -> String {
    hikyaku_dns_records::RecordData::Txt(value.to_string()).zone_value()
}

fn print_domain(out: Output, d: &SenderDomain, publish_hint: bool) -> anyhow::Result<()> {
    let shown = shown_sender_domain(d).with_context(|| format!("sender domain {}", d.domain))?;
    out.print(&shown, || {
        let mut text = field("domain", &shown.domain);
        text += &field(
            "owner",
            &shown
                .customer_id
                .as_ref()
                .map_or_else(|| "the platform (service domain)".to_string(), |c| c.to_string()),
        );
        text += &field("algorithm", &shown.algorithm);
        for key in &shown.keys {
            text += &format!("key {} ({}, {})\n", key.selector, key.algorithm, key.state);
            if key.state != "retired" {
                text += &format!("  {}. IN TXT {}\n", key.record_name, zone_strings(&key.record));
            }
        }
        if publish_hint {
            if shown.keys.iter().any(|k| k.state == "pending") {
                text += "publish the pending key's TXT record, then run `hikyaku domain verify` to switch to it\n";
            } else {
                text += "publish the TXT record above in the domain's DNS; `hikyaku domain verify` checks it\n";
            }
        }
        text
    })
}

/// The resolver of `[delivery] resolver`, read as `dns check` reads its server: DKIM records
/// are where mail's receivers look.
fn resolver(config: &Config) -> anyhow::Result<DnsServer> {
    let mode = match config.delivery.resolver {
        ResolverSetting::System => ResolverMode::System,
        ResolverSetting::Server(addr) => ResolverMode::Server(addr),
        ResolverSetting::Static => bail!(
            "delivery.resolver is \"static\": there is no DNS to verify records in (set it to \"system\" or a DNS server \"IP:PORT\")"
        ),
    };
    let routing = MxResolver::new(mode, &[], ResolverOptions::default())
        .context("cannot set up the resolver")?;
    let dns = routing
        .dns()
        .context("the delivery resolver has no DNS to ask")?;
    Ok(DnsServer::from_resolver(dns))
}

/// Looks up every active and pending key's record; switches to the pending keys when all of
/// theirs are published with our keys.
async fn verify(
    store: &Store,
    resolver: &DnsServer,
    d: &SenderDomain,
) -> anyhow::Result<api::DomainVerification> {
    let mut checks = Vec::new();
    let mut pending_published = true;
    let mut any_pending = false;
    for key in d.keys.iter().filter(|k| k.state != DkimKeyState::Retired) {
        let name = record_name(&key.selector, &d.domain);
        let (status, detail) = match resolver.lookup(&name, RecordType::Txt).await {
            Err(error) => (
                api::KeyRecordStatus::LookupFailed,
                format!("lookup failed ({error}): try again"),
            ),
            Ok(records) => {
                let dkim: Vec<String> = records
                    .iter()
                    .filter_map(|r| match r {
                        RecordData::Txt(text) if text.contains("p=") => public_key_of_record(text),
                        _ => None,
                    })
                    .collect();
                if dkim.contains(&key.public_key) {
                    (api::KeyRecordStatus::Published, "published".to_string())
                } else if dkim.is_empty() {
                    (
                        api::KeyRecordStatus::Missing,
                        "no DKIM record: publish the TXT record `domain show` prints".to_string(),
                    )
                } else {
                    (
                        api::KeyRecordStatus::Mismatch,
                        "a DKIM record is there with another key: replace it with the one `domain show` prints".to_string(),
                    )
                }
            }
        };
        if key.state == DkimKeyState::Pending {
            any_pending = true;
            pending_published &= status == api::KeyRecordStatus::Published;
        }
        checks.push(api::KeyRecordCheck {
            selector: key.selector.clone(),
            state: key.state.as_str().to_string(),
            record_name: name,
            status,
            detail,
        });
    }
    let switched =
        any_pending && pending_published && store.activate_pending_dkim_keys(d.id).await? > 0;
    Ok(api::DomainVerification {
        domain: d.domain.clone(),
        checks,
        switched,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_records_are_split_into_dns_strings() {
        let record = format!("v=DKIM1; k=rsa; p={}", "A".repeat(392));
        let text = zone_strings(&record);
        let parts: Vec<&str> = text.split("\" \"").collect();
        assert_eq!(parts.len(), 2, "{text}");
        assert_eq!(text.replace("\" \"", "").trim_matches('"'), record);
        assert_eq!(zone_strings("short"), "\"short\"");
    }

    #[test]
    fn owners_are_contracts_or_the_service() {
        assert!(matches!("service".parse::<Owner>(), Ok(Owner::Service)));
        assert!(matches!(
            "c2345abcd".parse::<Owner>(),
            Ok(Owner::Contract(_))
        ));
        let err = "Not An Id".parse::<Owner>().unwrap_err();
        assert!(err.contains("service"), "{err}");
    }
}
