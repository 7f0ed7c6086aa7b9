//! The seam between the checks and DNS: one question, the records of that type, or a failure.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType as WireType};
use hickory_resolver::{Resolver, TokioResolver};

/// The record types the platform's records use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Ptr,
    Txt,
    Mx,
    Cname,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Ptr => "PTR",
            RecordType::Txt => "TXT",
            RecordType::Mx => "MX",
            RecordType::Cname => "CNAME",
        }
    }

    fn wire(self) -> WireType {
        match self {
            RecordType::A => WireType::A,
            RecordType::Aaaa => WireType::AAAA,
            RecordType::Ptr => WireType::PTR,
            RecordType::Txt => WireType::TXT,
            RecordType::Mx => WireType::MX,
            RecordType::Cname => WireType::CNAME,
        }
    }
}

/// One record's data. Names are kept without the trailing dot, in lower case; a TXT record is
/// its character-strings joined, as SPF, DKIM and DMARC read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ptr(String),
    Txt(String),
    Mx { preference: u16, exchange: String },
    Cname(String),
}

impl RecordData {
    /// An A or AAAA record for the address.
    pub fn address(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => RecordData::A(v4),
            IpAddr::V6(v6) => RecordData::Aaaa(v6),
        }
    }

    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Ptr(_) => RecordType::Ptr,
            RecordData::Txt(_) => RecordType::Txt,
            RecordData::Mx { .. } => RecordType::Mx,
            RecordData::Cname(_) => RecordType::Cname,
        }
    }

    /// The data as a person reads it: a TXT record whole, names without the trailing dot.
    pub fn value(&self) -> String {
        match self {
            RecordData::A(ip) => ip.to_string(),
            RecordData::Aaaa(ip) => ip.to_string(),
            RecordData::Ptr(name) | RecordData::Cname(name) => name.clone(),
            RecordData::Txt(text) => text.clone(),
            RecordData::Mx {
                preference,
                exchange,
            } => format!("{preference} {exchange}"),
        }
    }

    /// The data as a zone file writes it: absolute names, a TXT record as quoted strings of at
    /// most 255 octets each (the longest a DNS character-string can be).
    pub fn zone_value(&self) -> String {
        match self {
            RecordData::Ptr(name) | RecordData::Cname(name) => format!("{name}."),
            RecordData::Mx {
                preference,
                exchange,
            } => format!("{preference} {exchange}."),
            RecordData::Txt(text) => character_strings(text)
                .iter()
                .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.value(),
        }
    }

    /// The address of an A or AAAA record.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            RecordData::A(v4) => Some(IpAddr::V4(*v4)),
            RecordData::Aaaa(v6) => Some(IpAddr::V6(*v6)),
            _ => None,
        }
    }
}

/// A TXT value cut into DNS character-strings of at most 255 octets, at character boundaries:
/// how the zone snippet prints it and how the built-in responder serves it.
pub fn character_strings(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > 255 {
        let mut cut = 255;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    parts.push(rest);
    parts
}

/// Why a question got no answer: the server failed or could not be reached. "No such name"
/// and "no such record" are not failures: they are an empty answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// Asks DNS one question. Implementations must not follow CNAMEs for a CNAME question; for
/// other types, the records of that type (after any CNAME chain the server follows).
pub trait Lookup: Sync {
    fn lookup(
        &self,
        name: &str,
        record_type: RecordType,
    ) -> impl Future<Output = Result<Vec<RecordData>, LookupError>> + Send;
}

/// Answers from memory: what a test zone holds. Names compare without case.
#[derive(Debug, Default, Clone)]
pub struct StaticZone {
    records: HashMap<(String, RecordType), Vec<RecordData>>,
    failing: HashSet<String>,
}

impl StaticZone {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record at `name`.
    pub fn add(&mut self, name: &str, data: RecordData) -> &mut Self {
        self.records
            .entry((crate::bare(name), data.record_type()))
            .or_default()
            .push(data);
        self
    }

    /// Adds a TXT record.
    pub fn txt(&mut self, name: &str, text: &str) -> &mut Self {
        self.add(name, RecordData::Txt(text.to_owned()))
    }

    /// Removes the records of one type at `name`.
    pub fn remove(&mut self, name: &str, record_type: RecordType) -> &mut Self {
        self.records.remove(&(crate::bare(name), record_type));
        self
    }

    /// Makes every question about `name` fail, as a server answering SERVFAIL does.
    pub fn fail(&mut self, name: &str) -> &mut Self {
        self.failing.insert(crate::bare(name));
        self
    }
}

impl Lookup for StaticZone {
    async fn lookup(
        &self,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<RecordData>, LookupError> {
        let name = crate::bare(name);
        if self.failing.contains(&name) {
            return Err(LookupError("SERVFAIL".into()));
        }
        Ok(self
            .records
            .get(&(name, record_type))
            .cloned()
            .unwrap_or_default())
    }
}

/// One DNS server, asked over UDP (TCP for truncated answers); never the system's resolver,
/// never `/etc/hosts`.
#[derive(Clone)]
pub struct DnsServer {
    resolver: TokioResolver,
}

impl DnsServer {
    /// A resolver asking only `server`. Its cache lives as long as this value: a check run
    /// sees each name once.
    pub fn new(server: SocketAddr) -> Result<Self, LookupError> {
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let config = ResolverConfig::from_parts(None, vec![], vec![name_server]);
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        let options = builder.options_mut();
        options.use_hosts_file = ResolveHosts::Never;
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| LookupError(format!("cannot set up the resolver: {e}")))?;
        Ok(DnsServer { resolver })
    }

    /// Questions through a resolver set up elsewhere: `domain verify` asks the delivery
    /// engine's (`[delivery] resolver`, which may be the system's), where receivers will look,
    /// with the same reading of the answers as `dns check`.
    pub fn from_resolver(resolver: TokioResolver) -> Self {
        DnsServer { resolver }
    }
}

impl DnsServer {
    /// Whether the server answers at all (its answer for the root's NS records, whatever it
    /// is): a check against a server that is down fails at once, instead of after every one
    /// of its questions has timed out.
    pub async fn probe(&self) -> Result<(), LookupError> {
        match self.resolver.lookup(Name::root(), WireType::NS).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_no_records_found() => Ok(()),
            Err(e) => Err(LookupError(e.to_string())),
        }
    }
}

impl Lookup for DnsServer {
    async fn lookup(
        &self,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<RecordData>, LookupError> {
        let mut fqdn = Name::from_utf8(name)
            .map_err(|e| LookupError(format!("{name:?} is not a DNS name: {e}")))?;
        fqdn.set_fqdn(true);
        let lookup = match self.resolver.lookup(fqdn, record_type.wire()).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(e) => return Err(LookupError(e.to_string())),
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| from_wire(&record.data))
            .filter(|data| data.record_type() == record_type)
            .collect())
    }
}

fn from_wire(data: &RData) -> Option<RecordData> {
    let name = |n: &Name| crate::bare(&n.to_ascii());
    Some(match data {
        RData::A(a) => RecordData::A(a.0),
        RData::AAAA(aaaa) => RecordData::Aaaa(aaaa.0),
        RData::PTR(ptr) => RecordData::Ptr(name(&ptr.0)),
        RData::CNAME(cname) => RecordData::Cname(name(&cname.0)),
        RData::MX(mx) => RecordData::Mx {
            preference: mx.preference,
            exchange: name(&mx.exchange),
        },
        RData::TXT(txt) => RecordData::Txt(
            txt.txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s))
                .collect(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_values_are_cut_into_character_strings_of_at_most_255_octets() {
        for (length, pieces) in [
            (0, vec![0]),
            (255, vec![255]),
            (256, vec![255, 1]),
            (600, vec![255, 255, 90]),
        ] {
            let text = "k".repeat(length);
            let cut: Vec<usize> = character_strings(&text).iter().map(|s| s.len()).collect();
            assert_eq!(cut, pieces, "{length}");
        }
        // Never inside a UTF-8 sequence.
        let text = format!("{}é", "a".repeat(254));
        assert_eq!(
            character_strings(&text)
                .iter()
                .map(|s| s.len())
                .collect::<Vec<_>>(),
            [254, 2]
        );
        assert_eq!(
            RecordData::Txt("say \"hi\"".into()).zone_value(),
            "\"say \\\"hi\\\"\""
        );
    }
}
