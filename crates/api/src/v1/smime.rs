//! The contract's S/MIME signing certificates: install (PEM or PKCS#12, read by the same
//! loader as `hikyaku smime install`), list with their expiry, remove. The private key is
//! sealed in the store and never answered.

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, ApiPath, Failures, id_in_path};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use hikyaku_api_types::{
    CertificateExpiry, NewSmimeCertificate, SmimeCertificate, SmimeCertificateList,
};
use hikyaku_model::Timestamp;
use hikyaku_smime::Signer;
use hikyaku_store::StoreError;

/// A certificate as the caller may see it: its addresses masked for a caller without the
/// address flag, in the subject too (`emailAddress=` names one).
fn shown(
    caller: &ContractCaller,
    c: &hikyaku_store::SmimeCertificate,
    now: Timestamp,
) -> SmimeCertificate {
    let mut subject = c.subject.clone();
    if !caller.see_addresses {
        for address in &c.addresses {
            subject = replace_ignoring_case(&subject, address, &caller.show(address));
        }
    }
    SmimeCertificate {
        id: c.id,
        customer_id: c.customer_id.clone(),
        subject,
        addresses: c.addresses.iter().map(|a| caller.show(a)).collect(),
        only_domains: c.only_domains.clone(),
        not_before: c.not_before.into(),
        not_after: c.not_after.into(),
        expiry: CertificateExpiry::at(c.not_before, c.not_after, now),
        created_at: c.created_at.into(),
    }
}

/// `text` with every occurrence of `what` (ASCII case ignored) replaced by `with`.
fn replace_ignoring_case(text: &str, what: &str, with: &str) -> String {
    if what.is_empty() {
        return text.to_string();
    }
    let lower = text.to_ascii_lowercase();
    let needle = what.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + found]);
        out.push_str(with);
        at += found + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// The contract's certificates, oldest first, with their expiry (`expires_soon` within 30
/// days).
#[utoipa::path(
    get,
    path = "/settings/smime-certificates",
    tag = "settings",
    responses((status = 200, body = SmimeCertificateList), Failures)
)]
pub async fn list(
    State(state): State<ApiState>,
    caller: ContractCaller,
) -> Result<Json<SmimeCertificateList>, ApiError> {
    let now = Timestamp::now();
    let certificates = state
        .store()
        .smime_certificates(&caller.customer_id)
        .await?;
    Ok(Json(SmimeCertificateList {
        certificates: certificates
            .iter()
            .map(|c| shown(&caller, c, now))
            .collect(),
    }))
}

/// Installs a signing certificate with its private key: mail whose From address it names is
/// signed from then on (within a minute on running relays). RSA of 2048 bits or more, or
/// ECDSA P-256; the key must match the certificate, which must name an e-mail address.
#[utoipa::path(
    post,
    path = "/settings/smime-certificates",
    tag = "settings",
    request_body = NewSmimeCertificate,
    responses((status = 201, body = SmimeCertificate), Failures)
)]
pub async fn install(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<NewSmimeCertificate>,
) -> Result<(StatusCode, Json<SmimeCertificate>), ApiError> {
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let signer = match (
        present(&new.certificate_pem),
        present(&new.key_pem),
        present(&new.pkcs12_base64),
    ) {
        (true, true, false) => Signer::from_pem(
            new.certificate_pem.unwrap_or_default().as_bytes(),
            new.key_pem.unwrap_or_default().as_bytes(),
        )
        .map_err(|e| ApiError::invalid("certificate_pem", e.to_string()))?,
        (false, false, true) => {
            let text: String = new
                .pkcs12_base64
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| ApiError::invalid("pkcs12_base64", "not base64"))?;
            Signer::from_pkcs12(&der, new.password.as_deref().unwrap_or(""))
                .map_err(|e| ApiError::invalid("pkcs12_base64", e.to_string()))?
        }
        (_, false, false) => {
            return Err(ApiError::invalid(
                "key_pem",
                "give certificate_pem and key_pem, or pkcs12_base64 with its password",
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "certificate_pem",
                "give certificate_pem and key_pem, or pkcs12_base64 with its password",
            ));
        }
    };
    super::settings::changeable(&state, &caller).await?;
    let info = signer.certificate();
    let installed = state
        .store()
        .add_smime_certificate(
            &caller.customer_id,
            &hikyaku_store::NewSmimeCertificate {
                subject: &info.subject,
                chain_pem: &signer.chain_pem(),
                key_pem: signer.key_pem(),
                addresses: &info.addresses,
                not_before: info.not_before.into(),
                not_after: info.not_after.into(),
                only_domains: &new.only_domains,
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Invalid { what, reason } => {
                let field = if what.contains("domain") {
                    "only_domains"
                } else {
                    "certificate_pem"
                };
                ApiError::invalid(field, format!("invalid {what}: {reason}"))
            }
            e => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(shown(&caller, &installed, Timestamp::now())),
    ))
}

/// Removes a certificate: mail is no longer signed with it (within a minute on running
/// relays).
#[utoipa::path(
    delete,
    path = "/settings/smime-certificates/{certificate_id}",
    tag = "settings",
    params(("certificate_id" = i64, Path, description = "The certificate's ID")),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found("S/MIME certificate");
    let id: i64 = id_in_path(id.trim(), "S/MIME certificate")?;
    if state
        .store()
        .remove_smime_certificate(&caller.customer_id, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_a_subject_are_replaced_whatever_their_case() {
        assert_eq!(
            replace_ignoring_case(
                "EMAIL=Info@Example.jp,CN=x",
                "info@example.jp",
                "i***@example.jp"
            ),
            "EMAIL=i***@example.jp,CN=x"
        );
        assert_eq!(replace_ignoring_case("CN=x", "a@b", "z"), "CN=x");
    }
}
