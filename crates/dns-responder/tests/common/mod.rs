//! The platform the responder tests serve, and the zone sources they serve it from.

// Each test binary uses only a part of it.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, Query};
use hickory_server::proto::rr::{Name, RecordType};
use hikyaku_dns_records::{BounceDomain, DkimKey, Platform, RelayHost};
use hikyaku_dns_responder::{Responder, ResponderSettings, SourceError, ZoneSettings, ZoneSource};
use hikyaku_model::Timestamp;
use hikyaku_store::{NodeStatus, Store};

pub const APEX: &str = "example.net";

/// A DKIM record too long for a 512-octet answer (about the size of an RSA-4096 key's), so
/// that a UDP answer without EDNS must be cut.
pub fn long_key() -> String {
    format!(
        "v=DKIM1; k=rsa; p={}",
        "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8A".repeat(22)
    )
}

/// Two relay nodes in the zone; addresses from the documentation ranges (they are only listed,
/// nothing connects to them).
pub fn platform() -> Platform {
    Platform {
        service_domain: Some(APEX.into()),
        relay_nodes: vec![
            RelayHost {
                name: "relay1.example.net".into(),
                addresses: vec!["192.0.2.1".parse().unwrap()],
            },
            RelayHost {
                name: "relay2.example.net".into(),
                addresses: vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()],
            },
        ],
        smtp_host: "smtp.example.net".into(),
        spf_name: "_spf.example.net".into(),
        bounce: Some(BounceDomain {
            domain: "bounce.example.net".into(),
            mx: "smtp.example.net".into(),
        }),
        service_keys: vec![DkimKey {
            selector: "hks1".into(),
            txt: long_key(),
        }],
    }
}

pub fn zone_settings() -> ZoneSettings {
    ZoneSettings {
        apex: APEX.into(),
        nameservers: vec!["relay1.example.net".into(), "relay2.example.net".into()],
        smtp_host_ttl: 60,
        ttl: 3600,
        negative_ttl: 60,
    }
}

/// The responder on 127.0.0.1 (an ephemeral port, UDP and TCP) with this heartbeat period,
/// without its UDP rate limit: these tests ask one address many questions in a row (`dig`
/// polling, thousands of mutated packets), which the limit would rightly hold back.
/// `tests/limits.rs` tests the limits.
pub async fn start(source: Arc<dyn ZoneSource>, period: Duration) -> Responder {
    start_with(source, |settings| {
        settings.heartbeat_period = period;
        settings.rate_limit.responses_per_second = 0;
    })
    .await
}

/// The responder on 127.0.0.1 with its default settings, changed by `adjust`.
pub async fn start_with(
    source: Arc<dyn ZoneSource>,
    adjust: impl FnOnce(&mut ResponderSettings),
) -> Responder {
    let mut settings =
        ResponderSettings::new(zone_settings(), vec!["127.0.0.1:0".parse().unwrap()]);
    adjust(&mut settings);
    Responder::start(settings, source).await.unwrap()
}

/// The platform as configured, the heartbeats from a real store.
pub struct StoreSource {
    pub store: Store,
    pub platform: Platform,
}

#[async_trait::async_trait]
impl ZoneSource for StoreSource {
    async fn platform(&self) -> Result<Platform, SourceError> {
        Ok(self.platform.clone())
    }

    async fn heartbeats(&self) -> Result<Vec<NodeStatus>, SourceError> {
        Ok(self.store.nodes().await?)
    }
}

/// Heartbeats a test sets directly, for tests about the wire rather than the store.
pub struct FixedSource {
    pub platform: Platform,
    pub heartbeats: Mutex<Vec<NodeStatus>>,
}

#[async_trait::async_trait]
impl ZoneSource for FixedSource {
    async fn platform(&self) -> Result<Platform, SourceError> {
        Ok(self.platform.clone())
    }

    async fn heartbeats(&self) -> Result<Vec<NodeStatus>, SourceError> {
        Ok(self.heartbeats.lock().unwrap().clone())
    }
}

/// The platform with relay1's heartbeat fresh for an hour (however slow the test machine is).
pub fn fresh_source() -> Arc<FixedSource> {
    let beat = NodeStatus {
        node: "relay1".into(),
        version: "0.1.0".into(),
        listeners: Vec::new(),
        queue_size: 0,
        started_at: Timestamp::now(),
        last_seen: Timestamp(Timestamp::now().as_millis() + 3_600_000),
        stopped_at: None,
    };
    Arc::new(FixedSource {
        platform: platform(),
        heartbeats: Mutex::new(vec![beat]),
    })
}

/// A question's bytes, with EDNS offering `edns` octets if given.
pub fn query(name: &str, record_type: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::query();
    message.metadata.id = 0x4b1d;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        message.edns = Some(e);
    }
    message.to_vec().unwrap()
}
