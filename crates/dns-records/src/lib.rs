//! The DNS records Hikyaku needs published, and their check against DNS.
//!
//! Owns two things. First, what must be published, as data ([`ExpectedRecord`]) that renders
//! itself as a zone-file snippet or JSON: the relay hosts' addresses and the PTR records their
//! addresses need, the round-robin SMTP host name, the SPF record customers include, the bounce
//! domain's MX and SPF, and per sender domain its DKIM keys, the SPF `include:`, a DMARC record
//! and the custom return path. Second, the check of each of those against what a DNS server
//! answers ([`check_platform`], [`check_contract`]): one [`Finding`] per record or rule, right,
//! missing or wrong, with the fix.
//!
//! DNS is reached only through the [`Lookup`] trait: [`DnsServer`] asks one configured server
//! (never the system's resolver), [`StaticZone`] answers from memory for tests. The crate reads
//! no configuration and no store: the caller hands it a [`Platform`] and [`ContractDomains`].

mod check;
mod dkim;
mod dmarc;
mod lookup;
mod records;
mod spf;

pub use check::{Finding, Status, check_contract, check_platform};
pub use dmarc::suggested_dmarc;
pub use lookup::{
    DnsServer, Lookup, LookupError, RecordData, RecordType, StaticZone, character_strings,
};
pub use records::{ExpectedRecord, Purpose, contract_records, platform_records, render_zone};

use std::net::IpAddr;

/// The platform's side: its hosts and the names built from the service domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// The platform's own domain; mail whose From domain is not one of the contract's sender
    /// domains is DKIM-signed with it.
    pub service_domain: Option<String>,
    /// Every relay node; the order is kept in the output.
    pub relay_nodes: Vec<RelayHost>,
    /// The round-robin name listing every relay node's addresses.
    pub smtp_host: String,
    /// Where the SPF record customers include lives.
    pub spf_name: String,
    /// The platform's bounce domain (VERP return paths), with where its MX points.
    pub bounce: Option<BounceDomain>,
    /// The service domain's DKIM keys (every one still stored: pending, active and retired
    /// keys all need their record).
    pub service_keys: Vec<DkimKey>,
}

/// One relay node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayHost {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// A domain VERP return paths live on, and the host its MX names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceDomain {
    pub domain: String,
    pub mx: String,
}

impl Platform {
    /// Every relay address, in node order, each once.
    pub fn relay_addresses(&self) -> Vec<IpAddr> {
        let mut all = Vec::new();
        for ip in self.relay_nodes.iter().flat_map(|n| &n.addresses) {
            if !all.contains(ip) {
                all.push(*ip);
            }
        }
        all
    }
}

/// A contract's side: its sender domains and its own bounce domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractDomains {
    pub customer_id: String,
    pub sender_domains: Vec<SenderDomain>,
    /// The contract's custom return path domain (`contract bounce-domain set`), if any.
    pub bounce_domain: Option<String>,
}

/// A domain the contract sends From, with its DKIM keys (every one still stored: a pending key
/// must be published before it signs, a retired one verifies mail still in flight). A domain
/// without keys is signed as the service domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderDomain {
    pub domain: String,
    pub dkim_keys: Vec<DkimKey>,
}

/// One DKIM selector and the public key record (`v=DKIM1; k=rsa; p=...`) it must publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub selector: String,
    pub txt: String,
}

impl DkimKey {
    /// The record's owner name: `SELECTOR._domainkey.DOMAIN`.
    pub fn name(&self, domain: &str) -> String {
        format!("{}._domainkey.{domain}", self.selector)
    }
}

/// Whether `name` is `domain` or below it, ignoring case and a trailing dot.
pub(crate) fn within(name: &str, domain: &str) -> bool {
    let name = bare(name);
    let domain = bare(domain);
    name == domain || name.ends_with(&format!(".{domain}"))
}

/// A name in the form compared: lower case, no trailing dot.
pub(crate) fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
