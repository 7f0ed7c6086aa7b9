//! The zone as data, built from the platform and the healthy nodes, and the reply to one
//! request read from it. Nothing here does I/O or reads a clock, so every answer is a table test.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_server::proto::op::{Edns, LowerQuery, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, MX, NS, SOA, TXT};
use hickory_server::proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use hikyaku_dns_records::{Platform, Purpose, RecordData, RelayHost, platform_records};

/// The largest UDP answer we send, whatever a client offers: 1232 octets fit in one IPv6
/// packet on any path (the DNS flag day 2020 figure), so an answer is never fragmented, which
/// is what lets forged fragments poison caches and what middleboxes drop.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// What the responder serves besides the platform's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneSettings {
    /// The zone's apex, the service domain.
    pub apex: String,
    /// The zone's nameservers (NS at the apex; the first is the SOA's primary).
    pub nameservers: Vec<String>,
    /// Seconds resolvers may keep the SMTP host name's addresses: short, so a node that stops
    /// leaves the clients' caches soon after it leaves the answer.
    pub smtp_host_ttl: u32,
    /// Seconds for everything else (SOA, NS and the platform's static records).
    pub ttl: u32,
    /// Seconds resolvers may remember that a name or record does not exist (the SOA minimum):
    /// short, so a record published later (a new DKIM key) is seen soon.
    pub negative_ttl: u32,
}

/// A name the zone cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {name:?} is not a DNS name: {reason}")]
pub struct ZoneError {
    what: &'static str,
    name: String,
    reason: String,
}

/// The zone at one moment: every record it answers with, by owner name.
#[derive(Debug, Clone)]
pub struct Zone {
    apex: LowerName,
    soa: SOA,
    ttl: u32,
    negative_ttl: u32,
    /// Owner name → its records, in the order they are preferred for an ANY question.
    records: BTreeMap<LowerName, Vec<Record>>,
    /// The relay nodes the SMTP host name lists; empty when it lists every node because none
    /// is healthy.
    listed_nodes: Vec<String>,
}

/// The reply to one request, before it is encoded (the server adds the question, the EDNS
/// record, and cuts what does not fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: ResponseCode,
    /// AA: set on every answer from the zone, positive or negative.
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Reply {
    /// A reply with only a response code.
    pub fn error(code: ResponseCode) -> Reply {
        Reply {
            code,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }
}

fn parse_name(what: &'static str, name: &str) -> Result<Name, ZoneError> {
    let mut parsed = Name::from_ascii(name.trim_end_matches('.')).map_err(|e| ZoneError {
        what,
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    parsed.set_fqdn(true);
    Ok(parsed.to_lowercase())
}

impl Zone {
    /// The zone with the SMTP host name listing the addresses of `healthy` relay nodes (their
    /// configured names); with none healthy it lists every node, because an empty answer for the
    /// one name clients connect to would stop all sending, while a dead node in the list only
    /// costs a client one failed connection before it tries the next address.
    pub fn build(
        settings: &ZoneSettings,
        platform: &Platform,
        healthy: &[String],
        serial: u32,
    ) -> Result<Zone, ZoneError> {
        let apex_name = parse_name("the zone", &settings.apex)?;
        let apex = LowerName::from(apex_name.clone());
        let mut nameservers = Vec::new();
        for ns in &settings.nameservers {
            nameservers.push(parse_name("the nameserver", ns)?);
        }
        let primary = nameservers
            .first()
            .cloned()
            .unwrap_or_else(|| apex_name.clone());
        let hostmaster = parse_name("the hostmaster", &format!("hostmaster.{}", settings.apex))?;
        // Refresh, retry and expire matter only to secondaries pulling the zone; this zone is
        // never transferred (each node builds it from the same configuration and store), so they
        // carry common values. The minimum is the negative-caching TTL (RFC 2308).
        let soa = SOA::new(
            primary,
            hostmaster,
            serial,
            3600,
            600,
            1_209_600,
            settings.negative_ttl,
        );

        let mut zone = Zone {
            apex: apex.clone(),
            soa: soa.clone(),
            ttl: settings.ttl,
            negative_ttl: settings.negative_ttl,
            records: BTreeMap::new(),
            listed_nodes: Vec::new(),
        };
        zone.insert(Record::from_rdata(
            apex_name.clone(),
            settings.ttl,
            RData::SOA(soa),
        ));
        for ns in nameservers {
            zone.insert(Record::from_rdata(
                apex_name.clone(),
                settings.ttl,
                RData::NS(NS(ns)),
            ));
        }

        let is_healthy = |node: &str| healthy.iter().any(|h| h.eq_ignore_ascii_case(node));
        let mut listed: Vec<&RelayHost> = platform
            .relay_nodes
            .iter()
            .filter(|n| is_healthy(&n.name))
            .collect();
        zone.listed_nodes = listed.iter().map(|n| n.name.clone()).collect();
        if listed.is_empty() {
            listed = platform.relay_nodes.iter().collect();
        }
        let listed_addresses: Vec<IpAddr> = listed
            .iter()
            .flat_map(|n| n.addresses.iter().copied())
            .collect();

        for expected in platform_records(platform) {
            let name = parse_name("a record's name", &expected.name)?;
            if !apex.zone_of(&LowerName::from(name.clone())) {
                continue;
            }
            let ttl = match expected.purpose {
                Purpose::SmtpHost => settings.smtp_host_ttl,
                _ => settings.ttl,
            };
            if expected.purpose == Purpose::SmtpHost
                && expected
                    .data
                    .ip()
                    .is_some_and(|ip| !listed_addresses.contains(&ip))
            {
                continue;
            }
            let data = match &expected.data {
                RecordData::A(v4) => RData::A(A(*v4)),
                RecordData::Aaaa(v6) => RData::AAAA(AAAA(*v6)),
                RecordData::Txt(text) => RData::TXT(TXT::new(
                    hikyaku_dns_records::character_strings(text)
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                )),
                RecordData::Mx {
                    preference,
                    exchange,
                } => RData::MX(MX::new(
                    *preference,
                    parse_name("an MX exchange", exchange)?,
                )),
                // PTRs live in the reverse zones of whoever holds the addresses, and the
                // platform names no aliases of its own: neither belongs here.
                RecordData::Ptr(_) | RecordData::Cname(_) => continue,
            };
            zone.insert(Record::from_rdata(name, ttl, data));
        }
        Ok(zone)
    }

    fn insert(&mut self, record: Record) {
        let records = self
            .records
            .entry(LowerName::from(record.name.clone()))
            .or_default();
        if !records.iter().any(|r| r.data == record.data) {
            records.push(record);
        }
    }

    /// The zone's apex.
    pub fn apex(&self) -> &LowerName {
        &self.apex
    }

    pub fn serial(&self) -> u32 {
        self.soa.serial
    }

    /// The relay nodes the SMTP host name lists now; empty when none is healthy and it lists
    /// every node.
    pub fn listed_nodes(&self) -> &[String] {
        &self.listed_nodes
    }

    /// The same zone under another serial.
    pub fn with_serial(mut self, serial: u32) -> Zone {
        self.soa.serial = serial;
        for record in self.records.values_mut().flatten() {
            if let RData::SOA(soa) = &mut record.data {
                soa.serial = serial;
            }
        }
        self
    }

    /// Whether `other` answers every question as this zone does, the serial aside: a new serial
    /// is due only when an answer changes.
    pub fn same_answers(&self, other: &Zone) -> bool {
        let without_soa = |zone: &Zone| -> Vec<(LowerName, Vec<Record>)> {
            zone.records
                .iter()
                .map(|(name, records)| {
                    let kept = records
                        .iter()
                        .filter(|r| r.record_type() != RecordType::SOA)
                        .cloned()
                        .collect();
                    (name.clone(), kept)
                })
                .collect()
        };
        let mut soa = self.soa.clone();
        soa.serial = other.soa.serial;
        self.apex == other.apex && soa == other.soa && without_soa(self) == without_soa(other)
    }

    /// The reply to a request with this operation and these questions.
    pub fn reply(&self, op_code: OpCode, queries: &[LowerQuery]) -> Reply {
        if op_code != OpCode::Query {
            // NOTIFY and UPDATE assume a primary/secondary set-up this zone does not have.
            return Reply::error(ResponseCode::NotImp);
        }
        match queries {
            [query] => self.answer(query),
            // No server answers several questions in one message (RFC 9619 made it a rule).
            _ => Reply::error(ResponseCode::FormErr),
        }
    }

    /// The answer to one question.
    pub fn answer(&self, query: &LowerQuery) -> Reply {
        let name = query.name();
        let query_type = query.query_type();
        if query.query_class() != DNSClass::IN || !self.apex.zone_of(name) {
            // Not ours: a refusal tells the resolver to ask elsewhere, and gives nothing to
            // anyone using this server to reflect traffic.
            return Reply::error(ResponseCode::Refused);
        }
        if matches!(query_type, RecordType::AXFR | RecordType::IXFR) {
            // Every node builds the zone itself from the same configuration and store: there
            // is nothing to transfer, and the zone's list of hosts is no one else's business.
            return Reply::error(ResponseCode::Refused);
        }
        let Some(records) = self.records.get(name) else {
            let code = match self.records.keys().any(|owner| name.zone_of(owner)) {
                // An empty non-terminal (`_domainkey.` above the keys) exists (RFC 8020).
                true => ResponseCode::NoError,
                false => ResponseCode::NXDomain,
            };
            return self.negative(code);
        };
        let wanted = match query_type {
            // An ANY question gets one RRset, the first the name has (RFC 8482): enough for the
            // old MTAs that still ask ANY, and too little to amplify anything.
            RecordType::ANY => records[0].record_type(),
            other => other,
        };
        // Owner names as the client spelled them, for resolvers that check the case they sent.
        let asked = query.original().name().clone();
        let answers: Vec<Record> = records
            .iter()
            .filter(|r| r.record_type() == wanted)
            .map(|r| {
                let mut r = r.clone();
                r.name = asked.clone();
                r
            })
            .collect();
        if answers.is_empty() {
            return self.negative(ResponseCode::NoError);
        }
        let additionals = answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(NS(target)) => Some(target),
                RData::MX(mx) => Some(&mx.exchange),
                _ => None,
            })
            .flat_map(|target| self.addresses_of(target))
            .collect();
        Reply {
            code: ResponseCode::NoError,
            authoritative: true,
            answers,
            authorities: Vec::new(),
            additionals,
        }
    }

    /// The A and AAAA records of a host the zone holds (glue for NS, the MX host's addresses),
    /// saving the resolver a second question.
    fn addresses_of(&self, host: &Name) -> Vec<Record> {
        self.records
            .get(&LowerName::from(host.clone()))
            .into_iter()
            .flatten()
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .cloned()
            .collect()
    }

    /// "No such name" or "no such record": the SOA in the authority section tells resolvers
    /// how long to remember it, the lower of its TTL and its minimum (RFC 2308).
    fn negative(&self, code: ResponseCode) -> Reply {
        let ttl = self.ttl.min(self.negative_ttl);
        Reply {
            code,
            authoritative: true,
            answers: Vec::new(),
            authorities: vec![Record::from_rdata(
                Name::from(self.apex.clone()),
                ttl,
                RData::SOA(self.soa.clone()),
            )],
            additionals: Vec::new(),
        }
    }
}

/// The EDNS record of the reply to a request that has one: our version (0) and the UDP size we
/// will fill, the client's offer but never above [`MAX_UDP_PAYLOAD`] nor below the 512 octets
/// every client takes. A request of a later EDNS version gets BADVERS (RFC 6891).
pub fn reply_edns(request: Option<&Edns>) -> (Option<Edns>, Option<ResponseCode>) {
    let Some(request) = request else {
        return (None, None);
    };
    let mut edns = Edns::new();
    edns.set_version(0);
    edns.set_max_payload(request.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    let refusal = (request.version() > 0).then_some(ResponseCode::BADVERS);
    (Some(edns), refusal)
}

#[cfg(test)]
mod tests;
