//! The S/MIME stage: a message whose From address is named by one of its contract's installed
//! certificates is signed (`multipart/signed`, the `hikyaku-smime` crate) before it is spooled,
//! before DKIM (which then covers the signed form). The trace fields and the unsubscribe link
//! stay outside the signed part, so the copies of one message (one per recipient when each
//! gets its own link) share one signature ([`SignedOnce`]).
//!
//! Which certificate signs: one that covers the From address, is valid now, and — when it lists
//! destination domains — whose list holds every recipient's domain. The message is stored once
//! for all its recipients, so it cannot be signed for some and not others: a certificate limited
//! to some domains is used only when no recipient is outside them. Of several that qualify, the
//! one valid longest wins.
//!
//! An expired (or not yet valid) certificate is never used: the message goes out unsigned, as
//! it would without S/MIME. A signature a receiver's client shows as invalid alarms the reader
//! more than no signature, and the mail that depends on this service (password resets, orders)
//! must not stop because a certificate ran out; the expiry is reported for 30 days ahead
//! ([`report_expiring`]) so it need not come to that. When the certificates cannot be read
//! (the database is down), the message is not taken: the client is told to retry, rather
//! than have mail that should be signed go out unsigned.
//!
//! Certificates are cached per contract for [`CACHE_TTL`]: a certificate installed or removed
//! with the CLI reaches every running node within that time, with no restart and no database
//! read per message.

use crate::trace::has_header_field;
use hikyaku_model::{CustomerId, Timestamp};
use hikyaku_smime::{Signer, split_header_section};
use hikyaku_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a contract's certificates are used before they are read again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Certificates ending within this time are reported.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);
/// S/MIME signatures made: one per message and certificate, whatever the number of copies.
const SIGNED: &str = "hikyaku_smime_signed_total";
/// How often the expiry report is logged.
const REPORT_EVERY: Duration = Duration::from_secs(86_400);

struct Installed {
    id: i64,
    signer: Signer,
    only_domains: Vec<String>,
}

struct Cached {
    loaded: Instant,
    certificates: Arc<Vec<Installed>>,
}

/// Why the stage could not decide: the message is to be refused for now (`4xx`).
#[derive(Debug, thiserror::Error)]
pub enum SmimeStageError {
    #[error("the S/MIME certificates could not be read: {0}")]
    Store(#[from] hikyaku_store::StoreError),
    #[error("S/MIME signing failed: {0}")]
    Sign(#[from] hikyaku_smime::SignError),
}

/// The signatures made for one message's copies, by certificate, and the time they carry.
pub struct SignedOnce {
    now: SystemTime,
    signed: HashMap<i64, Arc<Vec<u8>>>,
}

impl SignedOnce {
    /// For a message signed now.
    pub fn new() -> SignedOnce {
        SignedOnce::at(SystemTime::now())
    }

    /// For a message signed as at `now` (which certificates are valid, the signing time).
    pub fn at(now: SystemTime) -> SignedOnce {
        SignedOnce {
            now,
            signed: HashMap::new(),
        }
    }
}

impl Default for SignedOnce {
    fn default() -> Self {
        SignedOnce::new()
    }
}

/// The relay's S/MIME stage, with its per-contract cache. Cheap to clone.
#[derive(Clone)]
pub struct SmimeStage {
    store: Store,
    cache: Arc<Mutex<HashMap<CustomerId, Cached>>>,
}

impl SmimeStage {
    pub fn new(store: Store) -> SmimeStage {
        metrics::describe_counter!(
            SIGNED,
            "S/MIME signatures made (one per message and certificate, shared by its copies)"
        );
        SmimeStage {
            store,
            cache: Arc::default(),
        }
    }

    /// One copy of a message, signed when a certificate of `contract` applies (see the
    /// module's rules), or `None` when it is to go out as it is. `message` is what every copy
    /// shares — without its trace fields, which are added to the result and stay outside the
    /// signed part like every field but the content ones — so `once` makes one signature per
    /// certificate for all the copies of a message (one per recipient when each gets its own
    /// unsubscribe link).
    pub async fn sign_copy(
        &self,
        contract: &CustomerId,
        recipients: &[String],
        message: &[u8],
        once: &mut SignedOnce,
    ) -> Result<Option<Arc<Vec<u8>>>, SmimeStageError> {
        let certificates = self.certificates(contract).await?;
        if certificates.is_empty() || already_signed(message) {
            return Ok(None);
        }
        let Some(from) = from_address(message) else {
            return Ok(None);
        };
        let now = once.now;
        let chosen = certificates
            .iter()
            .filter(|c| c.signer.certificate().covers(&from))
            .filter(|c| c.signer.certificate().is_valid_at(now))
            .filter(|c| applies_to(&c.only_domains, recipients))
            .max_by_key(|c| c.signer.certificate().not_after);
        match chosen {
            Some(installed) => {
                if let Some(signed) = once.signed.get(&installed.id) {
                    return Ok(Some(signed.clone()));
                }
                metrics::counter!(SIGNED).increment(1);
                let signed = Arc::new(installed.signer.sign_message(message, now)?);
                once.signed.insert(installed.id, signed.clone());
                Ok(Some(signed))
            }
            None => {
                if certificates.iter().any(|c| {
                    c.signer.certificate().covers(&from) && !c.signer.certificate().is_valid_at(now)
                }) {
                    tracing::debug!(customer = %contract, "S/MIME certificate not valid now: sent unsigned");
                }
                Ok(None)
            }
        }
    }

    async fn certificates(
        &self,
        contract: &CustomerId,
    ) -> Result<Arc<Vec<Installed>>, SmimeStageError> {
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(contract)
            .filter(|c| c.loaded.elapsed() < CACHE_TTL)
        {
            return Ok(cached.certificates.clone());
        }
        let mut loaded = Vec::new();
        for (certificate, key) in self.store.smime_signing_certificates(contract).await? {
            match Signer::from_pem(certificate.chain_pem.as_bytes(), key.as_bytes()) {
                Ok(signer) => loaded.push(Installed {
                    id: certificate.id,
                    signer,
                    only_domains: certificate.only_domains,
                }),
                // It loaded at install time; if it no longer does, the others still serve.
                Err(error) => {
                    tracing::error!(customer = %contract, id = certificate.id, %error, "an installed S/MIME certificate does not load")
                }
            }
        }
        let certificates = Arc::new(loaded);
        tracing::debug!(customer = %contract, ids = ?certificates.iter().map(|c| c.id).collect::<Vec<_>>(), "S/MIME certificates loaded");
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            contract.clone(),
            Cached {
                loaded: Instant::now(),
                certificates: certificates.clone(),
            },
        );
        Ok(certificates)
    }
}

/// Whether a certificate limited to `only_domains` (empty: no limit) may sign a message to
/// `recipients`: every recipient's domain must be listed.
fn applies_to(only_domains: &[String], recipients: &[String]) -> bool {
    only_domains.is_empty()
        || recipients.iter().all(|r| {
            let domain = r.rsplit_once('@').map_or("", |(_, d)| d);
            let domain = domain.trim_end_matches('.');
            only_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
        })
}

/// Whether the application signed or encrypted the message itself: it is left as it is.
fn already_signed(message: &[u8]) -> bool {
    let (fields, _) = split_header_section(message);
    fields.iter().any(|f| {
        let text = String::from_utf8_lossy(f).to_ascii_lowercase();
        text.starts_with("content-type")
            && (text.contains("multipart/signed")
                || text.contains("application/pkcs7-mime")
                || text.contains("application/x-pkcs7-mime")
                || text.contains("multipart/encrypted"))
    })
}

/// The address of the message's From field (its first mailbox), if it has one.
pub(crate) fn from_address(message: &[u8]) -> Option<String> {
    if !has_header_field(message, "from") {
        return None;
    }
    let (fields, _) = split_header_section(message);
    let field = fields.iter().find(|f| {
        let colon = f.iter().position(|&b| b == b':').unwrap_or(0);
        f[..colon].trim_ascii_end().eq_ignore_ascii_case(b"from")
    })?;
    let value = String::from_utf8_lossy(field);
    let value = value.split_once(':')?.1.replace(['\r', '\n'], "");
    // Comments and quoted display names may hold anything, angle brackets and at signs
    // included: neither is the address.
    let mut plain = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' if depth == 0 => quoted = !quoted,
            _ if quoted => {}
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let first = match plain.find('<') {
        Some(open) => {
            let close = plain[open..].find('>')? + open;
            plain[open + 1..close].to_string()
        }
        None => plain.split(',').next()?.to_string(),
    };
    let address = first.trim();
    address.contains('@').then(|| address.to_string())
}

/// Logs a warning for every certificate, of any contract, that has expired or ends within
/// [`EXPIRY_WARNING`]; returns how many.
pub async fn report_expiring(store: &Store) -> Result<usize, hikyaku_store::StoreError> {
    let now = Timestamp::now();
    let horizon = Timestamp(now.as_millis() + EXPIRY_WARNING.as_millis() as i64);
    let certificates = store.smime_certificates_expiring(horizon).await?;
    for c in &certificates {
        let state = if c.not_after < now {
            "has expired: mail from its addresses is sent unsigned"
        } else {
            "expires within 30 days: install a renewed certificate"
        };
        // Not the subject: it usually holds an e-mail address, and logs are not sealed.
        tracing::warn!(customer = %c.customer_id, id = c.id, not_after = %c.not_after, "S/MIME certificate {state}");
    }
    Ok(certificates.len())
}

/// Runs [`report_expiring`] now and then once a day, for as long as the process lives.
pub fn spawn_expiry_reporter(store: Store) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = report_expiring(&store).await {
                tracing::error!(%error, "the S/MIME expiry report could not be made");
            }
            tokio::time::sleep(REPORT_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_addresses_are_found() {
        let table: [(&str, Option<&str>); 9] = [
            ("From: alice@example.jp\r\n\r\n", Some("alice@example.jp")),
            (
                "From: Alice <alice@example.jp>\r\n\r\n",
                Some("alice@example.jp"),
            ),
            (
                "FROM: \"Doe, <J>\" (x <y@z>) <j@example.jp>\r\n\r\n",
                Some("j@example.jp"),
            ),
            (
                "From: =?UTF-8?B?5aSq6YOO?=\r\n <taro@example.jp>\r\n\r\n",
                Some("taro@example.jp"),
            ),
            ("From: a@x.jp, b@y.jp\r\n\r\n", Some("a@x.jp")),
            ("Subject: no from\r\n\r\nFrom: body@x.jp\r\n", None),
            ("From: undisclosed\r\n\r\n", None),
            ("From: <>\r\n\r\n", None),
            ("X-From: spoof@x.jp\r\n\r\n", None),
        ];
        for (message, want) in table {
            assert_eq!(
                from_address(message.as_bytes()).as_deref(),
                want,
                "{message:?}"
            );
        }
    }

    #[test]
    fn destination_domains_must_all_be_listed() {
        let only = vec!["example.net".to_string(), "gmail.com".to_string()];
        let r = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(applies_to(&[], &r(&["a@anything.jp"])));
        assert!(applies_to(&only, &r(&["a@Example.NET", "b@gmail.com"])));
        assert!(!applies_to(&only, &r(&["a@example.net", "b@yahoo.co.jp"])));
        assert!(!applies_to(&only, &r(&["a@sub.example.net"])));
        assert!(!applies_to(&only, &r(&["no-domain"])));
    }

    #[test]
    fn messages_signed_by_the_application_are_left_alone() {
        let table: [(&str, bool); 4] = [
            (
                "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"\r\n\r\n",
                true,
            ),
            (
                "content-type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\n",
                true,
            ),
            (
                "Content-Type: text/plain\r\n\r\nmultipart/signed\r\n",
                false,
            ),
            ("Subject: multipart/signed\r\n\r\n", false),
        ];
        for (message, want) in table {
            assert_eq!(already_signed(message.as_bytes()), want, "{message:?}");
        }
    }
}
