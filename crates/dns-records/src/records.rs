//! What must be published, as data, and its zone-file form.

use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::dmarc::suggested_dmarc;
use crate::lookup::RecordData;
use crate::spf::platform_spf;
use crate::{ContractDomains, Platform};

/// Why a record is published; the check reports under the same word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A relay node's own name and address.
    RelayHost,
    /// The reverse record of a relay address: receivers check that it names the host and that
    /// the host resolves back to the address.
    ReversePointer,
    /// The one name clients connect to.
    SmtpHost,
    /// A relay host's SPF for its own name, the HELO identity: receivers check it when the
    /// envelope sender is empty (a bounce), and some whenever they can.
    HeloSpf,
    /// The platform's SPF record, which customers include.
    SpfInclude,
    /// Where mail to the bounce domain (bounces) goes.
    BounceMx,
    /// The bounce domain's SPF, checked against the VERP envelope sender.
    BounceSpf,
    /// A sender domain's DKIM public key.
    Dkim,
    /// A sender domain's SPF, with the platform's record included.
    SenderSpf,
    /// A sender domain's DMARC policy.
    Dmarc,
    /// A contract's own bounce domain, pointed at the platform.
    ReturnPath,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::RelayHost => "relay host",
            Purpose::ReversePointer => "reverse DNS",
            Purpose::SmtpHost => "SMTP host",
            Purpose::HeloSpf => "HELO SPF",
            Purpose::SpfInclude => "SPF include",
            Purpose::BounceMx => "bounce domain",
            Purpose::BounceSpf => "bounce SPF",
            Purpose::Dkim => "DKIM",
            Purpose::SenderSpf => "SPF",
            Purpose::Dmarc => "DMARC",
            Purpose::ReturnPath => "return path",
        }
    }
}

/// One record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRecord {
    /// The owner name, without the trailing dot.
    pub name: String,
    pub data: RecordData,
    pub purpose: Purpose,
    /// What the operator or customer should know about it (who publishes a PTR, that an SPF
    /// include is merged into an existing record, ...).
    pub note: Option<&'static str>,
}

impl Serialize for ExpectedRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut record = serializer.serialize_struct("ExpectedRecord", 6)?;
        record.serialize_field("name", &self.name)?;
        record.serialize_field("type", self.data.record_type().as_str())?;
        record.serialize_field("value", &self.data.value())?;
        record.serialize_field("zone_value", &self.data.zone_value())?;
        record.serialize_field("purpose", &self.purpose)?;
        record.serialize_field("note", &self.note)?;
        record.end()
    }
}

impl ExpectedRecord {
    fn new(name: &str, data: RecordData, purpose: Purpose) -> Self {
        ExpectedRecord {
            name: crate::bare(name),
            data,
            purpose,
            note: None,
        }
    }

    fn noted(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }

    /// The record as one zone-file line: absolute owner name, class, type, data.
    pub fn zone_line(&self) -> String {
        format!(
            "{}.\tIN\t{}\t{}",
            self.name,
            self.data.record_type().as_str(),
            self.data.zone_value()
        )
    }
}

const PTR_NOTE: &str = "published by whoever holds the address block (the hosting provider)";
const SPF_MERGE_NOTE: &str =
    "one SPF record per name: if the domain has one, add the include: to it instead";
const DMARC_NOTE: &str =
    "a starting policy: move to p=quarantine or p=reject once reports are clean";

/// The operator's records: relay hosts and their PTRs, the SMTP host name, the SPF record to
/// include, and the bounce domain's MX and SPF.
pub fn platform_records(platform: &Platform) -> Vec<ExpectedRecord> {
    let mut records = Vec::new();
    for node in &platform.relay_nodes {
        for ip in &node.addresses {
            records.push(ExpectedRecord::new(
                &node.name,
                RecordData::address(*ip),
                Purpose::RelayHost,
            ));
        }
    }
    for node in &platform.relay_nodes {
        for ip in &node.addresses {
            records.push(
                ExpectedRecord::new(
                    &reverse_name(*ip),
                    RecordData::Ptr(crate::bare(&node.name)),
                    Purpose::ReversePointer,
                )
                .noted(PTR_NOTE),
            );
        }
    }
    for ip in platform.relay_addresses() {
        records.push(ExpectedRecord::new(
            &platform.smtp_host,
            RecordData::address(ip),
            Purpose::SmtpHost,
        ));
    }
    records.push(ExpectedRecord::new(
        &platform.spf_name,
        RecordData::Txt(platform_spf(&platform.relay_addresses())),
        Purpose::SpfInclude,
    ));
    for node in &platform.relay_nodes {
        records.push(ExpectedRecord::new(
            &node.name,
            RecordData::Txt(helo_spf(&node.addresses)),
            Purpose::HeloSpf,
        ));
    }
    if let Some(service) = &platform.service_domain {
        for key in &platform.service_keys {
            records.push(ExpectedRecord::new(
                &key.name(service),
                RecordData::Txt(key.txt.clone()),
                Purpose::Dkim,
            ));
        }
        // The platform's own mail (contract notices, mail signed as the service) is From the
        // service domain: it needs SPF and DMARC like any sender domain.
        records.push(
            ExpectedRecord::new(
                service,
                RecordData::Txt(include_spf(&platform.spf_name)),
                Purpose::SenderSpf,
            )
            .noted(SPF_MERGE_NOTE),
        );
        records.push(
            ExpectedRecord::new(
                &format!("_dmarc.{}", crate::bare(service)),
                RecordData::Txt(suggested_dmarc()),
                Purpose::Dmarc,
            )
            .noted(DMARC_NOTE),
        );
    }
    if let Some(bounce) = &platform.bounce {
        records.push(ExpectedRecord::new(
            &bounce.domain,
            RecordData::Mx {
                preference: 10,
                exchange: crate::bare(&bounce.mx),
            },
            Purpose::BounceMx,
        ));
        records.push(ExpectedRecord::new(
            &bounce.domain,
            RecordData::Txt(include_spf(&platform.spf_name)),
            Purpose::BounceSpf,
        ));
    }
    records
}

/// A contract's records, published in the customer's zones: per sender domain its DKIM keys,
/// SPF with our include and a DMARC record; and its own bounce domain pointed at ours.
pub fn contract_records(platform: &Platform, contract: &ContractDomains) -> Vec<ExpectedRecord> {
    let mut records = Vec::new();
    for sender in &contract.sender_domains {
        for key in &sender.dkim_keys {
            records.push(ExpectedRecord::new(
                &key.name(&sender.domain),
                RecordData::Txt(key.txt.clone()),
                Purpose::Dkim,
            ));
        }
        records.push(
            ExpectedRecord::new(
                &sender.domain,
                RecordData::Txt(include_spf(&platform.spf_name)),
                Purpose::SenderSpf,
            )
            .noted(SPF_MERGE_NOTE),
        );
        records.push(
            ExpectedRecord::new(
                &format!("_dmarc.{}", sender.domain),
                RecordData::Txt(suggested_dmarc()),
                Purpose::Dmarc,
            )
            .noted(DMARC_NOTE),
        );
    }
    if let Some(own) = &contract.bounce_domain {
        records.extend(return_path_records(platform, own));
    }
    records
}

/// A contract's bounce domain: a CNAME to the platform's bounce domain (which carries MX and
/// SPF along), or, when the platform has none, its own MX and SPF.
pub(crate) fn return_path_records(platform: &Platform, own: &str) -> Vec<ExpectedRecord> {
    match &platform.bounce {
        Some(bounce) => vec![ExpectedRecord::new(
            own,
            RecordData::Cname(crate::bare(&bounce.domain)),
            Purpose::ReturnPath,
        )],
        None => vec![
            ExpectedRecord::new(
                own,
                RecordData::Mx {
                    preference: 10,
                    exchange: crate::bare(&platform.smtp_host),
                },
                Purpose::ReturnPath,
            ),
            ExpectedRecord::new(
                own,
                RecordData::Txt(include_spf(&platform.spf_name)),
                Purpose::ReturnPath,
            ),
        ],
    }
}

/// The SPF record of a relay host's own name: its addresses, and nothing else (`-all`: nobody
/// else says HELO with our name).
pub(crate) fn helo_spf(addresses: &[std::net::IpAddr]) -> String {
    platform_spf(addresses).replace(" ~all", " -all")
}

/// An SPF record that authorizes the platform (and nothing else).
pub(crate) fn include_spf(spf_name: &str) -> String {
    format!("v=spf1 include:{} ~all", crate::bare(spf_name))
}

/// The name of an address's PTR record (`10.2.0.192.in-addr.arpa`, nibbles under `ip6.arpa`).
pub(crate) fn reverse_name(ip: std::net::IpAddr) -> String {
    crate::bare(&hickory_resolver::proto::rr::Name::from(ip).to_ascii())
}

/// A zone-file snippet: the records grouped by purpose, each group under a comment, notes
/// as comments after the record.
pub fn render_zone(records: &[ExpectedRecord]) -> String {
    let mut text = String::new();
    let mut group = None;
    for record in records {
        if group != Some(record.purpose) {
            if group.is_some() {
                text.push('\n');
            }
            text += &format!("; {}\n", heading(record.purpose));
            group = Some(record.purpose);
        }
        text += &record.zone_line();
        if let Some(note) = record.note {
            text += &format!("\t; {note}");
        }
        text.push('\n');
    }
    text
}

fn heading(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::RelayHost => "relay hosts",
        Purpose::ReversePointer => "reverse DNS of the relay addresses (PTR)",
        Purpose::SmtpHost => "the SMTP host name: every relay address (round-robin)",
        Purpose::HeloSpf => "SPF of each relay host's own name (its HELO name)",
        Purpose::SpfInclude => "the SPF record senders include",
        Purpose::BounceMx => "the bounce domain's MX",
        Purpose::BounceSpf => "the bounce domain's SPF",
        Purpose::Dkim => "DKIM public keys",
        Purpose::SenderSpf => "SPF of the sender domain",
        Purpose::Dmarc => "DMARC",
        Purpose::ReturnPath => "the custom return path (bounce domain)",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{BounceDomain, DkimKey, RelayHost, SenderDomain};

    pub(crate) fn platform() -> Platform {
        Platform {
            service_domain: Some("mail.example.net".into()),
            relay_nodes: vec![
                RelayHost {
                    name: "relay1.mail.example.net".into(),
                    addresses: vec![
                        "192.0.2.10".parse().unwrap(),
                        "2001:db8::10".parse().unwrap(),
                    ],
                },
                RelayHost {
                    name: "relay2.mail.example.net".into(),
                    addresses: vec!["192.0.2.11".parse().unwrap()],
                },
            ],
            smtp_host: "smtp.mail.example.net".into(),
            spf_name: "_spf.mail.example.net".into(),
            bounce: Some(BounceDomain {
                domain: "bounce.mail.example.net".into(),
                mx: "smtp.mail.example.net".into(),
            }),
            service_keys: vec![DkimKey {
                selector: "hks1".into(),
                txt: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
            }],
        }
    }

    pub(crate) fn long_key() -> String {
        format!(
            "v=DKIM1; k=rsa; p={}",
            "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A".repeat(12)
        )
    }

    pub(crate) fn contract() -> ContractDomains {
        ContractDomains {
            customer_id: "C1".into(),
            sender_domains: vec![SenderDomain {
                domain: "example.com".into(),
                dkim_keys: vec![DkimKey {
                    selector: "hk1".into(),
                    txt: long_key(),
                }],
            }],
            bounce_domain: Some("bounce.example.com".into()),
        }
    }

    #[test]
    fn the_platform_zone_lists_hosts_ptrs_the_round_robin_name_spf_and_the_bounce_domain() {
        let zone = render_zone(&platform_records(&platform()));
        let lines: Vec<&str> = zone.lines().filter(|l| !l.starts_with(';')).collect();
        let expected = [
            "relay1.mail.example.net.\tIN\tA\t192.0.2.10",
            "relay1.mail.example.net.\tIN\tAAAA\t2001:db8::10",
            "relay2.mail.example.net.\tIN\tA\t192.0.2.11",
            "",
            "10.2.0.192.in-addr.arpa.\tIN\tPTR\trelay1.mail.example.net.\t; published by whoever holds the address block (the hosting provider)",
            "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.\tIN\tPTR\trelay1.mail.example.net.\t; published by whoever holds the address block (the hosting provider)",
            "11.2.0.192.in-addr.arpa.\tIN\tPTR\trelay2.mail.example.net.\t; published by whoever holds the address block (the hosting provider)",
            "",
            "smtp.mail.example.net.\tIN\tA\t192.0.2.10",
            "smtp.mail.example.net.\tIN\tAAAA\t2001:db8::10",
            "smtp.mail.example.net.\tIN\tA\t192.0.2.11",
            "",
            "_spf.mail.example.net.\tIN\tTXT\t\"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.11 ~all\"",
            "",
            "relay1.mail.example.net.\tIN\tTXT\t\"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all\"",
            "relay2.mail.example.net.\tIN\tTXT\t\"v=spf1 ip4:192.0.2.11 -all\"",
            "",
            "hks1._domainkey.mail.example.net.\tIN\tTXT\t\"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"",
            "",
            "mail.example.net.\tIN\tTXT\t\"v=spf1 include:_spf.mail.example.net ~all\"\t; one SPF record per name: if the domain has one, add the include: to it instead",
            "",
            "_dmarc.mail.example.net.\tIN\tTXT\t\"v=DMARC1; p=none; adkim=r; aspf=r\"\t; a starting policy: move to p=quarantine or p=reject once reports are clean",
            "",
            "bounce.mail.example.net.\tIN\tMX\t10 smtp.mail.example.net.",
            "",
            "bounce.mail.example.net.\tIN\tTXT\t\"v=spf1 include:_spf.mail.example.net ~all\"",
        ];
        assert_eq!(lines, expected, "{zone}");
        assert!(zone.starts_with("; relay hosts\n"), "{zone}");
    }

    #[test]
    fn a_contract_zone_has_dkim_split_into_255_octet_strings_spf_dmarc_and_the_cname() {
        let records = contract_records(&platform(), &contract());
        let zone = render_zone(&records);
        let dkim = zone
            .lines()
            .find(|l| l.starts_with("hk1._domainkey.example.com.\tIN\tTXT\t"))
            .expect(&zone);
        let strings: Vec<&str> = dkim
            .split('\t')
            .nth(3)
            .unwrap()
            .split("\" \"")
            .map(|s| s.trim_matches('"'))
            .collect();
        assert!(strings.len() >= 2, "{dkim}");
        assert!(strings.iter().all(|s| s.len() <= 255), "{dkim}");
        assert_eq!(strings[0].len(), 255, "{dkim}");
        assert_eq!(strings.concat(), long_key());
        for line in [
            "example.com.\tIN\tTXT\t\"v=spf1 include:_spf.mail.example.net ~all\"\t; one SPF record per name: if the domain has one, add the include: to it instead",
            "_dmarc.example.com.\tIN\tTXT\t\"v=DMARC1; p=none; adkim=r; aspf=r\"\t; a starting policy: move to p=quarantine or p=reject once reports are clean",
            "bounce.example.com.\tIN\tCNAME\tbounce.mail.example.net.",
        ] {
            assert!(zone.lines().any(|l| l == line), "{line:?} not in\n{zone}");
        }

        // Without a platform bounce domain the customer's own points its MX at us.
        let mut alone = platform();
        alone.bounce = None;
        let zone = render_zone(&contract_records(&alone, &contract()));
        assert!(zone.contains("bounce.example.com.\tIN\tMX\t10 smtp.mail.example.net.\n"));
        assert!(zone.contains(
            "bounce.example.com.\tIN\tTXT\t\"v=spf1 include:_spf.mail.example.net ~all\"\n"
        ));
    }

    #[test]
    fn json_carries_the_whole_value_and_the_zone_form() {
        let records = contract_records(&platform(), &contract());
        let json = serde_json::to_value(&records[0]).unwrap();
        assert_eq!(json["name"], "hk1._domainkey.example.com");
        assert_eq!(json["type"], "TXT");
        assert_eq!(json["value"], long_key());
        assert!(
            json["zone_value"]
                .as_str()
                .unwrap()
                .starts_with("\"v=DKIM1; k=rsa; p=")
        );
        assert_eq!(json["purpose"], "dkim");
    }
}
