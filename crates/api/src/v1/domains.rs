//! The contract's sender domains: their DKIM keys (generated here, the private half sealed in
//! the store and never shown), the TXT records to publish, and the check of those records and
//! of the domain's SPF and DMARC against the platform's DNS server. The same store calls and
//! the same check as `hikyaku domain` and `hikyaku dns check --contract`.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, ApiPath, Failures};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hikyaku_api_types::{
    DkimKey, DnsFinding, DomainDnsCheck, NewSenderDomain, SenderDomain, SenderDomainList,
};
use hikyaku_config::Config;
use hikyaku_dkim::{DomainAlgorithm, KeyAlgorithm, KeyError, PrivateKey, dns_txt};
use hikyaku_dns_records::{
    BounceDomain, ContractDomains, DnsServer, Platform, RelayHost, Status, check_contract,
};
use hikyaku_model::{DkimKeyState, Timestamp};
use hikyaku_store::{NewDkimKey, StoreError};
use std::net::SocketAddr;

/// What the DNS check needs of the configuration: the platform's hosts and names, and the
/// server to ask. `None` when the configuration does not describe them (no relay nodes).
#[derive(Debug, Clone)]
pub(crate) struct DnsSetting {
    platform: Option<Platform>,
    resolver: Option<SocketAddr>,
}

impl DnsSetting {
    /// As `hikyaku dns check` reads it: the platform, and `dns.resolver` (never the system's).
    pub(crate) fn of(config: &Config) -> DnsSetting {
        DnsSetting {
            platform: dns_platform(config).ok(),
            resolver: config.dns.resolver,
        }
    }
}

/// The platform as the configuration describes it, for the records to publish and their
/// check (here and in `hikyaku dns`): `[[dns.relay_node]]`, the names built from
/// `service_domain` and the bounce domain, without the service domain's DKIM keys (they are
/// in the store). The error says what is missing, as the operator configures it.
pub fn dns_platform(config: &Config) -> Result<Platform, &'static str> {
    let service = config.service_domain.as_deref();
    let dns = &config.dns;
    if dns.relay_node.is_empty() {
        return Err(
            "no relay nodes are configured: list each one as [[dns.relay_node]] with \
                    its name and addresses",
        );
    }
    // Validation makes sure these exist once relay nodes are listed.
    let smtp_host = dns
        .smtp_host(service)
        .ok_or("dns.smtp_host (or service_domain) is not set")?;
    let spf_name = dns
        .spf_name(service)
        .ok_or("dns.spf_name (or service_domain) is not set")?;
    let bounce_mx = dns.bounce_mx(service).unwrap_or_else(|| smtp_host.clone());
    Ok(Platform {
        service_domain: config.service_domain.clone(),
        relay_nodes: dns
            .relay_node
            .iter()
            .map(|node| RelayHost {
                name: node.name.clone(),
                addresses: node.addresses.clone(),
            })
            .collect(),
        smtp_host,
        spf_name,
        bounce: config.bounce.domain.as_ref().map(|domain| BounceDomain {
            domain: domain.clone(),
            mx: bounce_mx,
        }),
        service_keys: Vec::new(),
    })
}

/// The TXT record a stored key publishes (`v=DKIM1; k=…; p=…`), for the API, the CLI and both
/// DNS checks alike. A key whose algorithm is none this build knows has no record: one made
/// without its `k=` would claim RSA, so an Ed25519 key's record would be wrong where it is
/// published, and such a key cannot sign here either.
pub fn key_record(key: &hikyaku_store::DkimKey) -> Result<String, KeyError> {
    Ok(dns_txt(key.algorithm.parse()?, &key.public_key))
}

/// A stored sender domain as the API (and `hikyaku domain --json`) shows it: each key with the
/// TXT record to publish and its name.
pub fn shown_sender_domain(d: &hikyaku_store::SenderDomain) -> Result<SenderDomain, KeyError> {
    let keys = d
        .keys
        .iter()
        .map(|k| {
            Ok(DkimKey {
                selector: k.selector.clone(),
                algorithm: k.algorithm.clone(),
                state: k.state.as_str().to_string(),
                record_name: format!("{}._domainkey.{}", k.selector, d.domain),
                record: key_record(k)?,
                created_at: k.created_at.into(),
                activated_at: k.activated_at.map(Into::into),
            })
        })
        .collect::<Result<_, KeyError>>()?;
    Ok(SenderDomain {
        domain: d.domain.clone(),
        customer_id: d.customer_id.clone(),
        algorithm: d.algorithm.clone(),
        created_at: d.created_at.into(),
        keys,
    })
}

/// A stored key that [`key_record`] cannot show: the store holds what this build does not
/// know (a newer version's algorithm, or an edited row).
fn unknown_key(error: KeyError) -> ApiError {
    tracing::error!(%error, "a stored DKIM key cannot be shown");
    ApiError::internal()
}

/// A generated key with what the store keeps of it.
pub struct GeneratedKey {
    selector: String,
    algorithm: KeyAlgorithm,
    public_key: String,
    pem: String,
}

impl GeneratedKey {
    pub fn as_new(&self) -> NewDkimKey<'_> {
        NewDkimKey {
            selector: &self.selector,
            algorithm: self.algorithm.as_str(),
            public_key: &self.public_key,
            private_key_pem: &self.pem,
        }
    }
}

/// Why the keys asked for were not made.
#[derive(Debug, thiserror::Error)]
pub enum KeyGenerationError {
    #[error("selector {0:?}: use 1-60 lower-case letters, digits and hyphens")]
    MalformedSelector(String),
    #[error("{0} is already a selector of this domain")]
    SelectorTaken(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The keys of a domain of `algorithm` (a new domain's, or a rotation's), for the API and
/// `hikyaku domain` alike: under `chosen`, or by default under `hkYYYYMM` made unique against
/// `used` (`hkYYYYMMb`, `…c`); a dual domain's two keys add `r` (RSA) and `e` (Ed25519).
///
/// Only the operator chooses a selector (`hikyaku domain add|rotate-key --selector`, to keep
/// one a domain already publishes when it moves here, say); the API and the console, where a
/// contract's own people add domains, always take the default: a selector means nothing to
/// them beyond the record's name, which the answer gives.
pub fn generate_keys(
    algorithm: DomainAlgorithm,
    chosen: Option<&str>,
    used: &[&str],
) -> Result<Vec<GeneratedKey>, KeyGenerationError> {
    let base = match chosen {
        Some(selector) => {
            check_selector(selector)?;
            selector.to_string()
        }
        None => fresh_selector(algorithm, used),
    };
    let dual = algorithm.keys().len() > 1;
    algorithm
        .keys()
        .iter()
        .map(|&key_algorithm| {
            let selector = match (dual, key_algorithm) {
                (false, _) => base.clone(),
                (true, KeyAlgorithm::Ed25519) => format!("{base}e"),
                (true, _) => format!("{base}r"),
            };
            if used.contains(&selector.as_str()) {
                return Err(KeyGenerationError::SelectorTaken(selector));
            }
            let key = PrivateKey::generate(key_algorithm)?;
            Ok(GeneratedKey {
                selector,
                algorithm: key_algorithm,
                public_key: key.public_key_base64(),
                pem: key.to_pem(),
            })
        })
        .collect()
}

/// A selector is one DNS label here: letters, digits, hyphens.
fn check_selector(selector: &str) -> Result<(), KeyGenerationError> {
    let fine = !selector.is_empty()
        && selector.len() <= 60
        && !selector.starts_with('-')
        && selector
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if fine {
        Ok(())
    } else {
        Err(KeyGenerationError::MalformedSelector(selector.to_string()))
    }
}

/// `hkYYYYMM`, then `hkYYYYMMb`, `…c` while one is taken (by any key of the domain, with a
/// dual domain's `r`/`e` suffixes).
fn fresh_selector(algorithm: DomainAlgorithm, used: &[&str]) -> String {
    let now = Timestamp::now().to_string();
    let month = format!("hk{}{}", &now[0..4], &now[5..7]);
    let taken = |candidate: &str| {
        used.iter().any(|u| {
            *u == candidate
                || (algorithm.keys().len() > 1
                    && (u.strip_suffix('r') == Some(candidate)
                        || u.strip_suffix('e') == Some(candidate)))
        })
    };
    if !taken(&month) {
        return month;
    }
    ('b'..='z')
        .map(|c| format!("{month}{c}"))
        .find(|c| !taken(c))
        .unwrap_or_else(|| format!("{month}-{}", Timestamp::now().as_millis()))
}

async fn found(
    state: &ApiState,
    caller: &ContractCaller,
    domain: &str,
) -> Result<hikyaku_store::SenderDomain, ApiError> {
    state
        .store()
        .sender_domain(Some(&caller.customer_id), domain)
        .await?
        .ok_or_else(|| ApiError::not_found("sender domain"))
}

/// The contract's sender domains with their DKIM keys and the TXT records to publish, in
/// domain order.
#[utoipa::path(
    get,
    path = "/settings/sender-domains",
    tag = "settings",
    responses((status = 200, body = SenderDomainList), Failures)
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: ContractCaller,
) -> Result<Json<SenderDomainList>, ApiError> {
    let domains = state
        .store()
        .sender_domains(Some(&caller.customer_id))
        .await?;
    Ok(Json(SenderDomainList {
        domains: domains
            .iter()
            .map(shown_sender_domain)
            .collect::<Result<_, _>>()
            .map_err(unknown_key)?,
    }))
}

/// Adds a sender domain with a new DKIM key (two for `dual`), which signs the contract's mail
/// From the domain at once: publish its record (in the answer) before sending. A domain signs
/// for one contract only.
#[utoipa::path(
    post,
    path = "/settings/sender-domains",
    tag = "settings",
    request_body = NewSenderDomain,
    responses((status = 201, body = SenderDomain), Failures)
)]
pub async fn add(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewSenderDomain>,
) -> Result<(StatusCode, Json<SenderDomain>), ApiError> {
    let algorithm = match new.algorithm.as_deref().map(str::trim) {
        None | Some("") => DomainAlgorithm::Rsa2048,
        Some(name) => DomainAlgorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| {
                ApiError::invalid(
                    "algorithm",
                    "use rsa-2048, rsa-1024, ed25519 or dual (RSA-2048 and Ed25519)",
                )
            })?,
    };
    if let Err(StoreError::Invalid { what, reason }) =
        hikyaku_store::normalize_sender_domain(&new.domain)
    {
        return Err(ApiError::invalid(
            "domain",
            format!("invalid {what}: {reason}"),
        ));
    }
    super::settings::changeable(&state, &caller).await?;
    let keys = generate_keys(algorithm, None, &[]).map_err(|error| {
        tracing::error!(%error, "DKIM key generation failed");
        ApiError::internal()
    })?;
    let new_keys: Vec<NewDkimKey> = keys.iter().map(GeneratedKey::as_new).collect();
    let added = state
        .store()
        .add_sender_domain(
            Some(&caller.customer_id),
            &new.domain,
            algorithm.as_str(),
            &new_keys,
        )
        .await
        .map_err(|e| match e {
            e @ StoreError::SenderDomainTaken(_) => {
                ApiError::conflict("already_exists", e.to_string()).with_field("domain")
            }
            StoreError::Invalid { what, reason } => {
                ApiError::invalid("domain", format!("invalid {what}: {reason}"))
            }
            e => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(shown_sender_domain(&added).map_err(unknown_key)?),
    ))
}

/// One sender domain with its keys and records.
#[utoipa::path(
    get,
    path = "/settings/sender-domains/{domain}",
    tag = "settings",
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 200, body = SenderDomain), Failures)
)]
pub async fn show(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<SenderDomain>, ApiError> {
    let found = found(&state, &caller, &domain).await?;
    Ok(Json(shown_sender_domain(&found).map_err(unknown_key)?))
}

/// Removes a sender domain and its keys: its mail is no longer signed with them (within a
/// minute on running relays).
#[utoipa::path(
    delete,
    path = "/settings/sender-domains/{domain}",
    tag = "settings",
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(domain): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store()
        .remove_sender_domain(Some(&caller.customer_id), &domain)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("sender domain"))
    }
}

/// Asks the platform's DNS server (`dns.resolver`) for the domain's records: every DKIM key's
/// TXT record, the SPF record (which must authorise the platform's relays) and DMARC, and the
/// contract's own return path; one finding each, with the fix. When every pending key's record
/// is published, the pending keys become active (as `hikyaku domain verify` does). `409
/// dns_not_configured` when the operator has not described the platform's DNS, `503` when its
/// server does not answer.
#[utoipa::path(
    post,
    path = "/settings/sender-domains/{domain}/check",
    tag = "settings",
    params(("domain" = String, Path, description = "The domain")),
    responses((status = 200, body = DomainDnsCheck), Failures)
)]
pub async fn check(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(domain): ApiPath<String>,
) -> Result<Json<DomainDnsCheck>, ApiError> {
    let domain = found(&state, &caller, &domain).await?;
    let unavailable = |message: String| {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        error.retry_after = Some(60);
        error
    };
    let setting = &state.0.dns;
    // Not a passing failure: without the configuration no retry helps, so not a `503`.
    let (Some(platform), Some(resolver)) = (&setting.platform, setting.resolver) else {
        return Err(ApiError::conflict(
            "dns_not_configured",
            "the platform's DNS is not described here (dns.relay_node and dns.resolver): ask \
             the operator",
        ));
    };
    let dns = DnsServer::new(resolver)
        .map_err(|e| unavailable(format!("the DNS server cannot be asked: {e}")))?;
    if dns.probe().await.is_err() {
        return Err(unavailable(
            "the platform's DNS server does not answer; try again later".into(),
        ));
    }
    let bounce_domain = state
        .store()
        .bounce_domain(&caller.customer_id)
        .await?
        .map(|own| own.domain);
    let contract = ContractDomains {
        customer_id: caller.customer_id.to_string(),
        sender_domains: vec![hikyaku_dns_records::SenderDomain {
            domain: domain.domain.clone(),
            dkim_keys: domain
                .keys
                .iter()
                .map(|k| {
                    Ok(hikyaku_dns_records::DkimKey {
                        selector: k.selector.clone(),
                        txt: key_record(k)?,
                    })
                })
                .collect::<Result<_, KeyError>>()
                .map_err(unknown_key)?,
        }],
        bounce_domain,
    };
    let findings = check_contract(platform, &contract, &dns).await;
    // A pending key switches in once its record is there with our key, as `domain verify` does.
    let right = |selector: &str| {
        let name = format!("{selector}._domainkey.{}", domain.domain);
        findings
            .iter()
            .any(|f| f.name == name && f.status == Status::Right)
    };
    let pending: Vec<_> = domain.keys_in(DkimKeyState::Pending).collect();
    let switched = !pending.is_empty()
        && pending.iter().all(|k| right(&k.selector))
        && state.store().activate_pending_dkim_keys(domain.id).await? > 0;
    Ok(Json(DomainDnsCheck {
        domain: domain.domain.clone(),
        findings: findings
            .into_iter()
            .map(|f| DnsFinding {
                status: f.status.as_str().to_string(),
                purpose: f.purpose.as_str().to_string(),
                record_type: f.record_type.to_string(),
                name: f.name,
                detail: f.detail,
                fix: f.fix,
            })
            .collect(),
        switched,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_fresh_per_domain() {
        let month = fresh_selector(DomainAlgorithm::Rsa2048, &[]);
        assert!(month.starts_with("hk") && month.len() == 8, "{month}");
        let b = format!("{month}b");
        assert_eq!(fresh_selector(DomainAlgorithm::Rsa2048, &[&month]), b);
        assert_eq!(
            fresh_selector(DomainAlgorithm::Rsa2048, &[&month, &b]),
            format!("{month}c")
        );
        let r = format!("{month}r");
        assert_eq!(fresh_selector(DomainAlgorithm::Dual, &[&r]), b);
        // For a single key, `…r` belongs to nobody's scheme: the month is still free.
        assert_eq!(fresh_selector(DomainAlgorithm::Ed25519, &[&r]), month);
    }

    #[test]
    fn chosen_selectors_are_labels_not_yet_used() {
        let too_long = "x".repeat(61);
        let selectors = |algorithm, chosen, used: &[&str]| {
            generate_keys(algorithm, chosen, used)
                .map(|keys| keys.into_iter().map(|k| k.selector).collect::<Vec<_>>())
        };
        assert_eq!(
            selectors(DomainAlgorithm::Ed25519, Some("mail-2024"), &[]).unwrap(),
            ["mail-2024"]
        );
        assert_eq!(
            selectors(DomainAlgorithm::Dual, Some("s1"), &["s2r"]).unwrap(),
            ["s1r", "s1e"]
        );
        for bad in ["", "-x", "Upper", "a.b", "under_score", &too_long] {
            assert!(
                matches!(
                    selectors(DomainAlgorithm::Ed25519, Some(bad), &[]),
                    Err(KeyGenerationError::MalformedSelector(_))
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            selectors(DomainAlgorithm::Ed25519, Some("s1"), &["s1"]),
            Err(KeyGenerationError::SelectorTaken(_))
        ));
        // A dual domain's chosen name is taken when one of its suffixed forms is.
        assert!(matches!(
            selectors(DomainAlgorithm::Dual, Some("s1"), &["s1e"]),
            Err(KeyGenerationError::SelectorTaken(s)) if s == "s1e"
        ));
    }

    #[test]
    fn a_stored_key_of_an_unknown_algorithm_has_no_record() {
        let key = |algorithm: &str| hikyaku_store::DkimKey {
            id: 1,
            selector: "hk1".into(),
            algorithm: algorithm.into(),
            public_key: "AAAA".into(),
            state: DkimKeyState::Active,
            created_at: Timestamp(0),
            activated_at: Some(Timestamp(0)),
        };
        assert_eq!(
            key_record(&key("ed25519")).unwrap(),
            "v=DKIM1; k=ed25519; p=AAAA"
        );
        assert_eq!(
            key_record(&key("rsa-1024")).unwrap(),
            "v=DKIM1; k=rsa; p=AAAA"
        );
        assert!(key_record(&key("rsa-4096")).is_err());
    }
}
