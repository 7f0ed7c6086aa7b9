//! What signs the contract's mail: sender domains with their DKIM records and the DNS check,
//! and S/MIME certificates.

use super::{
    Change, DoneQuery, Fields, Frame, Menu, Outcome, Secret, SettingsTexts, change, may, render,
    unexpected,
};
use crate::bridge;
use crate::pages::Chrome;
use crate::{ConsoleState, Viewer};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use hikyaku_api_types::{
    CertificateExpiry, DomainDnsCheck, SenderDomainList, SmimeCertificateList,
};
use serde_json::json;

pub struct KeyRow {
    pub selector: String,
    pub algorithm: String,
    pub state: &'static str,
    pub record_name: String,
    pub record: String,
}

pub struct DomainRow {
    pub domain: String,
    pub algorithm: String,
    pub keys: Vec<KeyRow>,
}

pub struct FindingRow {
    pub status: &'static str,
    /// `right`, `missing`, … for the row's class.
    pub status_code: String,
    pub purpose: String,
    pub record_type: String,
    pub name: String,
    pub detail: String,
    pub fix: String,
}

pub struct CheckShown {
    pub domain: String,
    pub findings: Vec<FindingRow>,
}

#[derive(Template)]
#[template(path = "settings/domains.html")]
struct DomainsPage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    algorithms: Vec<(&'static str, &'static str)>,
    domains: Vec<DomainRow>,
    check: Option<CheckShown>,
}

fn dns_status(s: &'static SettingsTexts, status: &str) -> &'static str {
    match status {
        "right" => s.dns_right,
        "missing" => s.dns_missing,
        "wrong" => s.dns_wrong,
        _ => s.dns_unchecked,
    }
}

async fn domains_page(
    state: &ConsoleState,
    viewer: &Viewer,
    outcome: Outcome,
    check: Option<DomainDnsCheck>,
) -> Response {
    let mut f = Frame::new(viewer, |s| s.domains_title, "/settings/sender-domains").with(outcome);
    let t = f.c.t;
    let s = f.s;
    let list: Option<SenderDomainList> = f.read(state, viewer, "/settings/sender-domains").await;
    let domains = list.map_or(Vec::new(), |l| {
        l.domains
            .into_iter()
            .map(|d| DomainRow {
                domain: d.domain,
                algorithm: d.algorithm,
                keys: d
                    .keys
                    .into_iter()
                    .map(|k| KeyRow {
                        state: match k.state.as_str() {
                            "active" => t.dkim_active,
                            "pending" => t.dkim_pending,
                            _ => t.dkim_retired,
                        },
                        selector: k.selector,
                        algorithm: k.algorithm,
                        record_name: k.record_name,
                        record: k.record,
                    })
                    .collect(),
            })
            .collect()
    });
    let check = check.map(|found| CheckShown {
        domain: found.domain,
        findings: found
            .findings
            .into_iter()
            .map(|finding| FindingRow {
                status: dns_status(s, &finding.status),
                status_code: finding.status,
                purpose: finding.purpose,
                record_type: finding.record_type,
                name: finding.name,
                detail: finding.detail,
                fix: finding.fix.unwrap_or_default(),
            })
            .collect(),
    });
    show!(
        f,
        DomainsPage {
            can_write: may(viewer, Method::POST, "/settings/sender-domains"),
            algorithms: vec![
                ("rsa-2048", s.algorithm_rsa2048),
                ("rsa-1024", s.algorithm_rsa1024),
                ("ed25519", s.algorithm_ed25519),
                ("dual", s.algorithm_dual),
            ],
            domains,
            check,
        }
    )
}

pub async fn domains(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    domains_page(&state, &viewer, outcome, None).await
}

pub async fn domain_add(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let body = json!({
        "domain": fields.trimmed("domain"),
        "algorithm": fields.trimmed("algorithm"),
    });
    change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/settings/sender-domains",
        Some(body),
    )
    .await
    .redirect_or("/settings/sender-domains?done=added", |o| {
        domains_page(&state, &viewer, o, None)
    })
    .await
}

pub async fn domain_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/settings/sender-domains/{}",
        bridge::encode(fields.trimmed("domain"))
    );
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/sender-domains?done=removed", |o| {
            domains_page(&state, &viewer, o, None)
        })
        .await
}

/// The "check DNS" button: the API's check of one domain, shown above the list.
pub async fn domain_check(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/settings/sender-domains/{}/check",
        bridge::encode(fields.trimmed("domain"))
    );
    match change(&state, &viewer, &fields, Method::POST, &path, None).await {
        Change::Done(bytes) => match serde_json::from_slice::<DomainDnsCheck>(&bytes) {
            Ok(check) => {
                let outcome = Outcome {
                    notice: check
                        .switched
                        .then_some(viewer.lang.settings_texts().dns_switched),
                    ..Outcome::default()
                };
                domains_page(&state, &viewer, outcome, Some(check)).await
            }
            Err(error) => {
                domains_page(&state, &viewer, Outcome::failed(unexpected(error)), None).await
            }
        },
        Change::Failed(failure) => {
            domains_page(&state, &viewer, Outcome::failed(failure), None).await
        }
        Change::Refused(response) => response,
    }
}

// ---------------------------------------------------------------------------------------------
// S/MIME certificates

pub struct CertificateRow {
    pub id: i64,
    pub subject: String,
    pub addresses: String,
    pub only_domains: String,
    pub not_before: String,
    pub not_after: String,
    pub expiry: &'static str,
    pub warn: bool,
}

#[derive(Template)]
#[template(path = "settings/smime.html")]
struct SmimePage {
    c: Chrome,
    s: &'static SettingsTexts,
    menu: Menu,
    secret: Option<Secret>,
    can_write: bool,
    rows: Vec<CertificateRow>,
}

async fn smime_page(state: &ConsoleState, viewer: &Viewer, outcome: Outcome) -> Response {
    let mut f = Frame::new(viewer, |s| s.smime_title, "/settings/smime").with(outcome);
    let s = f.s;
    let list: Option<SmimeCertificateList> =
        f.read(state, viewer, "/settings/smime-certificates").await;
    let rows = list.map_or(Vec::new(), |l| {
        l.certificates
            .into_iter()
            .map(|cert| CertificateRow {
                id: cert.id,
                subject: cert.subject,
                addresses: cert.addresses.join(", "),
                only_domains: if cert.only_domains.is_empty() {
                    s.every_domain.to_string()
                } else {
                    cert.only_domains.join(", ")
                },
                not_before: viewer.zone.format(cert.not_before.0.as_millis()),
                not_after: viewer.zone.format(cert.not_after.0.as_millis()),
                expiry: match cert.expiry {
                    CertificateExpiry::Valid => s.expiry_valid,
                    CertificateExpiry::ExpiresSoon => s.expiry_soon,
                    CertificateExpiry::Expired => s.expiry_expired,
                    CertificateExpiry::NotYetValid => s.expiry_not_yet,
                },
                warn: cert.expiry != CertificateExpiry::Valid,
            })
            .collect()
    });
    show!(
        f,
        SmimePage {
            can_write: may(viewer, Method::POST, "/settings/smime-certificates"),
            rows,
        }
    )
}

pub async fn smime(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    Query(query): Query<DoneQuery>,
) -> Response {
    let outcome = query.outcome(viewer.lang);
    smime_page(&state, &viewer, outcome).await
}

pub async fn smime_install(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let only_domains: Vec<String> = fields
        .get("only_domains")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    let body = json!({
        "certificate_pem": fields.get("certificate_pem"),
        "key_pem": fields.get("key_pem"),
        "only_domains": only_domains,
    });
    change(
        &state,
        &viewer,
        &fields,
        Method::POST,
        "/settings/smime-certificates",
        Some(body),
    )
    .await
    .redirect_or("/settings/smime?done=added", |o| {
        smime_page(&state, &viewer, o)
    })
    .await
}

pub async fn smime_remove(
    State(state): State<ConsoleState>,
    viewer: Viewer,
    fields: Fields,
) -> Response {
    let path = format!(
        "/settings/smime-certificates/{}",
        bridge::encode(fields.trimmed("id"))
    );
    change(&state, &viewer, &fields, Method::DELETE, &path, None)
        .await
        .redirect_or("/settings/smime?done=removed", |o| {
            smime_page(&state, &viewer, o)
        })
        .await
}
