//! The DKIM stage: the last change to a message before it is spooled, after the trace fields
//! and the S/MIME signature, so that its signature covers the message exactly as it will be
//! sent. It signs on the way in, once: every delivery attempt, retries included, sends the
//! same signed bytes from the spool.
//!
//! Which domain signs (`d=`): the contract's sender domain that is the From address's domain
//! or the nearest parent of it (mail from `news.example.com` is signed by `example.com` when
//! only that is registered, which DMARC's relaxed alignment accepts). A From domain that is
//! none of them follows the contract's policy: `sign-as-service` signs with the platform's
//! service domain (when it has a key; otherwise the message goes unsigned, as before there
//! were sender domains), `refuse` refuses the message, naming the domain.
//!
//! Keys are cached per contract for [`CACHE_TTL`], like the S/MIME certificates: a domain
//! added, rotated or removed with the CLI reaches every running node within that time. When
//! the keys cannot be read (the database is down), the message is not taken: the client is
//! told to retry, rather than have mail go out unsigned that should be signed.

use crate::smime_stage::from_address;
use hikyaku_dkim::{KeyAlgorithm, PrivateKey, Signer, SigningKey};
use hikyaku_model::{CustomerId, UnregisteredFrom};
use hikyaku_store::{ActiveDkimKey, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a contract's keys and policy are used before they are read again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);

/// Messages signed, by `by`: `sender_domain` (the contract's own) or `service_domain`.
pub(crate) const SIGNED: &str = "hikyaku_dkim_signed_total";
/// Messages refused because their From domain is not registered (policy `refuse`).
pub(crate) const REFUSED_UNREGISTERED: &str = "hikyaku_dkim_refused_unregistered_total";

pub(crate) fn register_metrics() {
    metrics::describe_counter!(
        SIGNED,
        "messages DKIM-signed on the way in, by `by`: sender_domain or service_domain"
    );
    metrics::describe_counter!(
        REFUSED_UNREGISTERED,
        "messages refused because their From domain is not a sender domain of the contract (policy refuse)"
    );
}

/// Why the stage did not sign.
#[derive(Debug, thiserror::Error)]
pub enum DkimStageError {
    /// The contract's policy is `refuse` and the From domain (empty: the message has no From
    /// address) is none of its sender domains. The message's fault: permanent.
    #[error(
        "the From domain {domain:?} is not a registered sender domain of contract {customer}: \
         register it (and publish its DKIM record), or send from a registered domain"
    )]
    Unregistered {
        customer: CustomerId,
        domain: String,
    },
    /// The keys could not be read: retry later.
    #[error("the DKIM keys could not be read: {0}")]
    Store(#[from] hikyaku_store::StoreError),
    /// Signing failed: retry later.
    #[error("DKIM signing failed: {0}")]
    Sign(#[from] hikyaku_dkim::SignError),
}

/// A contract's (or the platform's) signers, by domain, and its policy.
struct Keys {
    policy: UnregisteredFrom,
    /// Lower-case domain → its signer (one or two keys).
    by_domain: Vec<(String, Arc<Signer>)>,
}

struct Cached {
    loaded: Instant,
    keys: Arc<Keys>,
}

/// The relay's DKIM stage, with its per-contract cache. Cheap to clone.
#[derive(Clone)]
pub struct DkimStage {
    store: Store,
    /// `None`: the platform's service domain.
    cache: Arc<Mutex<HashMap<Option<CustomerId>, Cached>>>,
}

impl DkimStage {
    pub fn new(store: Store) -> DkimStage {
        register_metrics();
        DkimStage {
            store,
            cache: Arc::default(),
        }
    }

    /// The message as it is to be spooled: with its DKIM signature(s) above it, or unchanged
    /// when nothing is to sign it; refused per the contract's policy.
    pub async fn sign(
        &self,
        contract: &CustomerId,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, DkimStageError> {
        self.sign_at(contract, message, SystemTime::now()).await
    }

    /// [`DkimStage::sign`] with the signature's time (`t=`) given.
    pub async fn sign_at(
        &self,
        contract: &CustomerId,
        message: Vec<u8>,
        now: SystemTime,
    ) -> Result<Vec<u8>, DkimStageError> {
        let unix_time = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let keys = self.keys(Some(contract)).await?;
        let from_domain = from_address(&message)
            .and_then(|a| a.rsplit_once('@').map(|(_, d)| d.to_string()))
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase());
        if let Some(signer) = from_domain.as_deref().and_then(|d| signer_for(&keys, d)) {
            metrics::counter!(SIGNED, "by" => "sender_domain").increment(1);
            return Ok(signer.sign(&message, unix_time)?);
        }
        match keys.policy {
            UnregisteredFrom::Refuse => {
                metrics::counter!(REFUSED_UNREGISTERED).increment(1);
                Err(DkimStageError::Unregistered {
                    customer: contract.clone(),
                    domain: from_domain.unwrap_or_default(),
                })
            }
            UnregisteredFrom::SignAsService => {
                let service = self.keys(None).await?;
                match service.by_domain.first() {
                    Some((_, signer)) => {
                        metrics::counter!(SIGNED, "by" => "service_domain").increment(1);
                        Ok(signer.sign(&message, unix_time)?)
                    }
                    None => Ok(message),
                }
            }
        }
    }

    async fn keys(&self, owner: Option<&CustomerId>) -> Result<Arc<Keys>, DkimStageError> {
        let key = owner.cloned();
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|c| c.loaded.elapsed() < CACHE_TTL)
        {
            return Ok(cached.keys.clone());
        }
        let policy = match owner {
            Some(customer) => self.store.unregistered_from(customer).await?,
            None => UnregisteredFrom::SignAsService,
        };
        let active = self.store.active_dkim_keys(owner).await?;
        let keys = Arc::new(Keys {
            policy,
            by_domain: signers(owner, active),
        });
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key,
            Cached {
                loaded: Instant::now(),
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }
}

/// The active keys grouped into one signer per domain (two keys for a dual domain).
fn signers(owner: Option<&CustomerId>, active: Vec<ActiveDkimKey>) -> Vec<(String, Arc<Signer>)> {
    let mut grouped: Vec<(String, Vec<SigningKey>)> = Vec::new();
    for key in active {
        let loaded = key
            .algorithm
            .parse::<KeyAlgorithm>()
            .and_then(|a| PrivateKey::from_pem(a, &key.private_key_pem));
        let private = match loaded {
            Ok(private) => private,
            // It loaded when it was made; if it no longer does, the domain's other key (or
            // the policy for unregistered domains) still serves.
            Err(error) => {
                tracing::error!(customer = ?owner.map(CustomerId::as_str), domain = %key.domain, selector = %key.selector, %error, "a DKIM key does not load");
                continue;
            }
        };
        let signing = SigningKey {
            domain: key.domain.clone(),
            selector: key.selector,
            key: private,
        };
        match grouped.iter_mut().find(|(d, _)| *d == key.domain) {
            Some((_, keys)) => keys.push(signing),
            None => grouped.push((key.domain, vec![signing])),
        }
    }
    grouped
        .into_iter()
        .map(|(domain, keys)| (domain, Arc::new(Signer::new(keys))))
        .collect()
}

/// The signer of the registered domain that is `from_domain` or its nearest parent.
fn signer_for<'k>(keys: &'k Keys, from_domain: &str) -> Option<&'k Arc<Signer>> {
    keys.by_domain
        .iter()
        .filter(|(domain, _)| covers(domain, from_domain))
        .max_by_key(|(domain, _)| domain.len())
        .map(|(_, signer)| signer)
}

/// Whether a sender domain covers mail from `from_domain`: the same name, or a name below it.
fn covers(domain: &str, from_domain: &str) -> bool {
    from_domain == domain
        || from_domain
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_covers_itself_and_the_names_below_it() {
        let table = [
            ("example.com", "example.com", true),
            ("example.com", "news.example.com", true),
            ("example.com", "a.b.example.com", true),
            ("example.com", "badexample.com", false),
            ("example.com", "example.com.evil.jp", false),
            ("news.example.com", "example.com", false),
            ("example.com", "com", false),
        ];
        for (domain, from, want) in table {
            assert_eq!(covers(domain, from), want, "{domain} / {from}");
        }
    }

    #[test]
    fn the_nearest_registered_parent_signs() {
        let key = |domain: &str| {
            let signer = Signer::new(vec![SigningKey {
                domain: domain.to_string(),
                selector: "s".into(),
                key: PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap(),
            }]);
            (domain.to_string(), Arc::new(signer))
        };
        let keys = Keys {
            policy: UnregisteredFrom::SignAsService,
            by_domain: vec![key("example.com"), key("mail.example.com")],
        };
        let domain_of = |from: &str| signer_for(&keys, from).map(|s| s.keys()[0].domain.clone());
        assert_eq!(
            domain_of("a.mail.example.com").as_deref(),
            Some("mail.example.com")
        );
        assert_eq!(
            domain_of("news.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(domain_of("example.com").as_deref(), Some("example.com"));
        assert_eq!(domain_of("example.net"), None);
    }
}
