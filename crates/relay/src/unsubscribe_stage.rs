//! The one-click unsubscribe stage (RFC 8058): for a contract that turned it on (for every
//! message, or for messages with one of its listed tags), each copy gets
//!
//! ```text
//! List-Unsubscribe: <https://PUBLIC_URL/unsubscribe/TOKEN>, <mailto:u-ID-TAG@BOUNCE_DOMAIN>
//! List-Unsubscribe-Post: List-Unsubscribe=One-Click
//! ```
//!
//! The link names its recipient, so a message to several recipients is taken in as one copy
//! per recipient, each with its own message ID and link (the handlers do that when
//! [`UnsubscribeStage::plan`] says so). The fields are added after the trace fields and the
//! S/MIME signature (they belong to the outer header, which the signature does not cover) and
//! before DKIM, which must sign them: a receiver shows the one-click button only when they are
//! covered by a valid signature.
//!
//! The mailto address is on the contract's own bounce domain if it has one, else on the
//! platform's (`bounce.domain`); without either the field carries the link alone, which is
//! all RFC 8058 needs. Without a public URL (`http.public_url` or `service_domain`) no link can
//! be made: the stage is off, and the server warns at start.
//!
//! A message that already carries `List-Unsubscribe` (the application made its own) is left
//! alone: a second field would make both invalid.
//!
//! Settings are cached per contract for [`CACHE_TTL`], as the S/MIME certificates are.

use crate::trace::has_header_field;
use hikyaku_model::{CustomerId, MessageId};
use hikyaku_store::{Store, StoreError, UnsubscribeKey, UnsubscribeSettings, UnsubscribeToken};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a contract's setting is used before it is read again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Where the links lead, under the public URL.
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe/";

/// The platform's side of the links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeLinks {
    /// The public base URL, without a trailing slash.
    pub base_url: String,
    /// The platform's bounce domain, for the mailto of contracts without their own.
    pub bounce_domain: Option<String>,
}

/// A contract's setting with the domain of its mailto addresses.
#[derive(Debug, Clone)]
struct ContractLinks {
    settings: UnsubscribeSettings,
    mailto_domain: Option<String>,
}

struct Cached {
    loaded: Instant,
    links: Arc<ContractLinks>,
}

/// The decision for one message: it gets the fields, one copy per recipient.
#[derive(Debug, Clone)]
pub struct UnsubscribePlan {
    mailto_domain: Option<String>,
}

/// The relay's unsubscribe stage, with its per-contract cache. Cheap to clone.
#[derive(Clone)]
pub struct UnsubscribeStage {
    store: Store,
    key: UnsubscribeKey,
    links: Option<Arc<UnsubscribeLinks>>,
    cache: Arc<Mutex<HashMap<CustomerId, Cached>>>,
}

/// List-Unsubscribe fields added, one per copy (a copy has one recipient).
const LINKS_ADDED: &str = "hikyaku_unsubscribe_links_total";

impl UnsubscribeStage {
    /// The stage; `links: None` turns it off (no public URL is configured).
    pub fn new(store: Store, links: Option<UnsubscribeLinks>) -> UnsubscribeStage {
        metrics::describe_counter!(
            LINKS_ADDED,
            "List-Unsubscribe fields added, one per message copy and recipient"
        );
        UnsubscribeStage {
            key: store.unsubscribe_key(),
            store,
            links: links.map(Arc::new),
            cache: Arc::default(),
        }
    }

    /// Whether `message` of `contract`, with `tags`, gets the fields (and so one copy per
    /// recipient). Fails only when the setting cannot be read: the client is then told to
    /// retry, rather than have mail go out without the link its sender turned on.
    pub async fn plan(
        &self,
        contract: &CustomerId,
        tags: &[String],
        message: &[u8],
    ) -> Result<Option<UnsubscribePlan>, StoreError> {
        if self.links.is_none() {
            return Ok(None);
        }
        let links = self.contract_links(contract).await?;
        if !links.settings.applies_to(tags) || has_header_field(message, "list-unsubscribe") {
            return Ok(None);
        }
        Ok(Some(UnsubscribePlan {
            mailto_domain: links.mailto_domain.clone(),
        }))
    }

    /// The copy for `recipient`, whose message ID is `copy`, with the fields added at the end
    /// of its header section.
    pub fn apply(
        &self,
        plan: &UnsubscribePlan,
        contract: &CustomerId,
        copy: MessageId,
        recipient: &str,
        message: Vec<u8>,
    ) -> Vec<u8> {
        let Some(links) = &self.links else {
            return message;
        };
        let token = self.key.seal(&UnsubscribeToken {
            customer_id: contract.clone(),
            message_id: copy,
            address: recipient.to_string(),
        });
        let mut fields = format!(
            "List-Unsubscribe: <{}{UNSUBSCRIBE_PATH}{token}>",
            links.base_url
        );
        if let Some(domain) = &plan.mailto_domain {
            // Folded: the token alone is a long line.
            fields.push_str(&format!(
                ",\r\n <mailto:{}@{domain}>",
                self.key.mailto_local_part(copy)
            ));
        }
        fields.push_str("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
        metrics::counter!(LINKS_ADDED).increment(1);
        insert_at_end_of_header(message, fields.as_bytes())
    }

    async fn contract_links(
        &self,
        contract: &CustomerId,
    ) -> Result<Arc<ContractLinks>, StoreError> {
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(contract)
            .filter(|c| c.loaded.elapsed() < CACHE_TTL)
        {
            return Ok(cached.links.clone());
        }
        let settings = match self.store.unsubscribe_settings(contract).await {
            Ok(settings) => settings,
            // The contract went while its message was in flight: the intake refuses it anyway.
            Err(StoreError::ContractNotFound(_)) => UnsubscribeSettings::default(),
            Err(error) => return Err(error),
        };
        let mailto_domain = if settings.enabled {
            match self.store.bounce_domain(contract).await? {
                Some(own) => Some(own.domain),
                None => self.links.as_ref().and_then(|l| l.bounce_domain.clone()),
            }
        } else {
            None
        };
        let links = Arc::new(ContractLinks {
            settings,
            mailto_domain,
        });
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            contract.clone(),
            Cached {
                loaded: Instant::now(),
                links: links.clone(),
            },
        );
        Ok(links)
    }
}

/// `message` with `fields` (whole CRLF-terminated lines) placed after its last header field:
/// before the blank line that ends the header section, or at the end of a message that is all
/// header. Bare-LF messages get their blank line found too.
fn insert_at_end_of_header(message: Vec<u8>, fields: &[u8]) -> Vec<u8> {
    let at = end_of_header(&message);
    let mut out = Vec::with_capacity(message.len() + fields.len() + 2);
    out.extend_from_slice(&message[..at]);
    if at > 0 && !message[..at].ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(fields);
    out.extend_from_slice(&message[at..]);
    out
}

/// Where the blank line that ends the header section starts (the end of the message when
/// there is none).
fn end_of_header(message: &[u8]) -> usize {
    let mut line_start = 0;
    while line_start < message.len() {
        let line_end = message[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(message.len(), |p| line_start + p + 1);
        let line = &message[line_start..line_end];
        if line == b"\r\n" || line == b"\n" {
            return line_start;
        }
        line_start = line_end;
    }
    message.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_go_after_the_last_header_field() {
        let f = b"L: x\r\n";
        let table: [(&[u8], &[u8]); 6] = [
            (
                b"A: 1\r\nB: 2\r\n\r\nbody\r\n",
                b"A: 1\r\nB: 2\r\nL: x\r\n\r\nbody\r\n",
            ),
            (
                b"A: 1\r\n folded\r\n\r\n\r\nbody",
                b"A: 1\r\n folded\r\nL: x\r\n\r\n\r\nbody",
            ),
            (b"A: 1\n\nbody\n", b"A: 1\nL: x\r\n\nbody\n"),
            (b"A: 1\r\n", b"A: 1\r\nL: x\r\n"),
            (b"A: 1", b"A: 1\r\nL: x\r\n"),
            (b"\r\nbody", b"L: x\r\n\r\nbody"),
        ];
        for (message, want) in table {
            assert_eq!(
                insert_at_end_of_header(message.to_vec(), f),
                want,
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
    }
}
