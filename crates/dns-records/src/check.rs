//! The check: each expected record (or rule over a set of them) against what DNS answers,
//! one [`Finding`] each, with the fix when something is missing or wrong.

use std::net::IpAddr;

use serde::Serialize;

use crate::dkim::{self, KeyMatch};
use crate::dmarc::{self, OurMail};
use crate::lookup::{Lookup, RecordData, RecordType};
use crate::records::{Purpose, helo_spf, include_spf, reverse_name};
use crate::spf::{self, LOOKUP_LIMIT, VOID_LOOKUP_LIMIT};
use crate::{ContractDomains, Platform, SenderDomain, bare};

/// What DNS says about one expected record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Right,
    Missing,
    Wrong,
    /// The server failed or did not answer: nothing is known.
    Unchecked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Right => "right",
            Status::Missing => "missing",
            Status::Wrong => "wrong",
            Status::Unchecked => "unchecked",
        }
    }
}

/// One line of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub status: Status,
    pub purpose: Purpose,
    #[serde(rename = "type")]
    pub record_type: &'static str,
    pub name: String,
    /// What was found.
    pub detail: String,
    /// What to change; `None` when the record is right (or could not be checked).
    pub fix: Option<String>,
}

impl Finding {
    fn about(purpose: Purpose, record_type: RecordType, name: &str) -> FindingBuilder {
        FindingBuilder {
            purpose,
            record_type: record_type.as_str(),
            name: bare(name),
        }
    }

    /// `wrong    DMARC TXT _dmarc.example.com: ...; fix: ...`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{:<9} {} {} {}: {}",
            self.status.as_str(),
            self.purpose.as_str(),
            self.record_type,
            self.name,
            self.detail
        );
        if let Some(fix) = &self.fix {
            line += &format!("; fix: {fix}");
        }
        line
    }
}

struct FindingBuilder {
    purpose: Purpose,
    record_type: &'static str,
    name: String,
}

impl FindingBuilder {
    fn finding(self, status: Status, detail: String, fix: Option<String>) -> Finding {
        Finding {
            status,
            purpose: self.purpose,
            record_type: self.record_type,
            name: self.name,
            detail,
            fix,
        }
    }
    fn right(self, detail: impl Into<String>) -> Finding {
        self.finding(Status::Right, detail.into(), None)
    }
    fn missing(self, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        self.finding(Status::Missing, detail.into(), Some(fix.into()))
    }
    fn wrong(self, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        self.finding(Status::Wrong, detail.into(), Some(fix.into()))
    }
    fn unchecked(self, error: impl std::fmt::Display) -> Finding {
        self.finding(
            Status::Unchecked,
            format!("the DNS server did not answer: {error}"),
            None,
        )
    }
}

/// The operator's records: each relay host's addresses and PTRs, the SMTP host name, the SPF
/// record to include, and the bounce domain's MX and SPF.
pub async fn check_platform(platform: &Platform, dns: &impl Lookup) -> Vec<Finding> {
    let mut findings = Vec::new();
    for node in &platform.relay_nodes {
        findings.push(addresses(dns, &node.name, &node.addresses, Purpose::RelayHost).await);
    }
    for node in &platform.relay_nodes {
        for ip in &node.addresses {
            findings.push(reverse(dns, *ip, &node.name).await);
        }
    }
    let all = platform.relay_addresses();
    findings.push(addresses(dns, &platform.smtp_host, &all, Purpose::SmtpHost).await);
    let own = spf::platform_spf(&all);
    findings.push(spf_record(dns, platform, &platform.spf_name, Purpose::SpfInclude, &own).await);
    for node in &platform.relay_nodes {
        let suggested = helo_spf(&node.addresses);
        findings.push(
            spf_record_for(
                dns,
                platform,
                &node.name,
                Purpose::HeloSpf,
                &suggested,
                &node.addresses,
            )
            .await,
        );
    }
    if let Some(service) = &platform.service_domain {
        for key in &platform.service_keys {
            findings.push(dkim_key(dns, &key.name(service), &key.txt).await);
        }
        // The service domain sends the platform's own mail: its SPF and DMARC as a sender's.
        let suggested = include_spf(&platform.spf_name);
        findings.push(spf_record(dns, platform, service, Purpose::SenderSpf, &suggested).await);
        let sender = SenderDomain {
            domain: service.clone(),
            dkim_keys: platform.service_keys.clone(),
        };
        let return_path = platform.bounce.as_ref().map(|b| b.domain.as_str());
        findings.push(dmarc_policy(dns, platform, &sender, return_path).await);
    }
    if let Some(bounce) = &platform.bounce {
        findings.push(mx(dns, &bounce.domain, &bounce.mx, Purpose::BounceMx).await);
        let suggested = include_spf(&platform.spf_name);
        findings.push(
            spf_record(
                dns,
                platform,
                &bounce.domain,
                Purpose::BounceSpf,
                &suggested,
            )
            .await,
        );
    }
    findings
}

/// A contract's records: per sender domain its DKIM keys, SPF and DMARC; and its own bounce
/// domain.
pub async fn check_contract(
    platform: &Platform,
    contract: &ContractDomains,
    dns: &impl Lookup,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let return_path = contract
        .bounce_domain
        .as_deref()
        .or(platform.bounce.as_ref().map(|b| b.domain.as_str()));
    for sender in &contract.sender_domains {
        for key in &sender.dkim_keys {
            findings.push(dkim_key(dns, &key.name(&sender.domain), &key.txt).await);
        }
        let suggested = include_spf(&platform.spf_name);
        findings.push(
            spf_record(
                dns,
                platform,
                &sender.domain,
                Purpose::SenderSpf,
                &suggested,
            )
            .await,
        );
        findings.push(dmarc_policy(dns, platform, sender, return_path).await);
    }
    if let Some(own) = &contract.bounce_domain {
        findings.extend(custom_return_path(dns, platform, own).await);
    }
    findings
}

async fn both_addresses(dns: &impl Lookup, name: &str) -> Result<Vec<IpAddr>, String> {
    let mut found = Vec::new();
    for record_type in [RecordType::A, RecordType::Aaaa] {
        let answer = dns.lookup(name, record_type).await.map_err(|e| e.0)?;
        found.extend(answer.iter().filter_map(RecordData::ip));
    }
    Ok(found)
}

fn address_list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn address_records(name: &str, ips: &[IpAddr]) -> String {
    ips.iter()
        .map(|ip| {
            let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
            format!("{name}. {kind} {ip}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name's A and AAAA records must be exactly `expected`.
async fn addresses(
    dns: &impl Lookup,
    name: &str,
    expected: &[IpAddr],
    purpose: Purpose,
) -> Finding {
    let finding = Finding::about(purpose, RecordType::A, name);
    let found = match both_addresses(dns, name).await {
        Ok(found) => found,
        Err(e) => return finding.unchecked(e),
    };
    let lacking: Vec<IpAddr> = expected
        .iter()
        .filter(|ip| !found.contains(ip))
        .copied()
        .collect();
    let extra: Vec<IpAddr> = found
        .iter()
        .filter(|ip| !expected.contains(ip))
        .copied()
        .collect();
    if found.is_empty() {
        return finding.missing(
            "no A or AAAA record",
            format!("publish {}", address_records(&bare(name), expected)),
        );
    }
    if lacking.is_empty() && extra.is_empty() {
        return finding.right(address_list(&found));
    }
    let mut detail = format!("has {}", address_list(&found));
    let mut fixes = Vec::new();
    if !lacking.is_empty() {
        detail += &format!("; lacks {}", address_list(&lacking));
        fixes.push(format!("add {}", address_records(&bare(name), &lacking)));
    }
    if !extra.is_empty() {
        detail += &format!("; {} is no relay address here", address_list(&extra));
        fixes.push(format!("remove {}", address_records(&bare(name), &extra)));
    }
    finding.wrong(detail, fixes.join("; "))
}

/// The address's PTR must name the host, and the host must resolve back to the address
/// (forward-confirmed reverse DNS, which receivers check).
async fn reverse(dns: &impl Lookup, ip: IpAddr, host: &str) -> Finding {
    let reverse_name = reverse_name(ip);
    let finding = Finding::about(Purpose::ReversePointer, RecordType::Ptr, &reverse_name);
    let host = bare(host);
    let names: Vec<String> = match dns.lookup(&reverse_name, RecordType::Ptr).await {
        Ok(answer) => answer
            .into_iter()
            .filter_map(|data| match data {
                RecordData::Ptr(name) => Some(name),
                _ => None,
            })
            .collect(),
        Err(e) => return finding.unchecked(e),
    };
    let ask = format!("ask whoever holds {ip} (the hosting provider) to set its PTR to {host}");
    match &names[..] {
        [] => finding.missing(format!("{ip} has no PTR record"), ask),
        [name] if *name == host => match both_addresses(dns, &host).await {
            Err(e) => finding.unchecked(e),
            Ok(forward) if forward.contains(&ip) => {
                finding.right(format!("{ip} is {host}, and {host} resolves back to {ip}"))
            }
            Ok(_) => finding.wrong(
                format!("{ip} is {host}, but {host} does not resolve back to {ip}"),
                format!("add {}", address_records(&host, &[ip])),
            ),
        },
        [name] => finding.wrong(format!("{ip} is {name}, not {host}"), ask),
        _ => finding.wrong(
            format!(
                "{ip} has {} PTR records ({})",
                names.len(),
                names.join(", ")
            ),
            format!("keep one, naming {host}"),
        ),
    }
}

/// A name's one SPF record must authorize every relay address within the look-up limit.
async fn spf_record(
    dns: &impl Lookup,
    platform: &Platform,
    name: &str,
    purpose: Purpose,
    suggested: &str,
) -> Finding {
    let all = platform.relay_addresses();
    spf_record_for(dns, platform, name, purpose, suggested, &all).await
}

/// A name's one SPF record must authorize `addresses` within the look-up limit.
async fn spf_record_for(
    dns: &impl Lookup,
    platform: &Platform,
    name: &str,
    purpose: Purpose,
    suggested: &str,
    addresses: &[IpAddr],
) -> Finding {
    let finding = Finding::about(purpose, RecordType::Txt, name);
    let txt = match dns.lookup(name, RecordType::Txt).await {
        Ok(txt) => txt,
        Err(e) => return finding.unchecked(e),
    };
    let records = spf::spf_records(&txt);
    let record = match records[..] {
        [] => {
            return finding.missing(
                "no SPF record",
                format!("publish {}. TXT \"{suggested}\"", bare(name)),
            );
        }
        [one] => one,
        _ => {
            return finding.wrong(
                format!(
                    "{} SPF records: receivers treat more than one as an error (permerror)",
                    records.len()
                ),
                format!("merge them into one record, e.g. \"{suggested}\""),
            );
        }
    };
    let evaluation = spf::evaluate(dns, name, record).await;
    if evaluation.lookups > LOOKUP_LIMIT {
        return finding.wrong(
            format!(
                "\"{record}\" needs {} DNS look-ups; receivers stop at {LOOKUP_LIMIT} (permerror)",
                evaluation.lookups
            ),
            "remove includes, or replace some with the ip4:/ip6: ranges they list".to_string(),
        );
    }
    if evaluation.voids.len() > VOID_LOOKUP_LIMIT {
        return finding.wrong(
            format!(
                "\"{record}\": {} look-ups find nothing ({}); receivers stop at \
                 {VOID_LOOKUP_LIMIT} such void look-ups (permerror)",
                evaluation.voids.len(),
                evaluation.voids.join(", ")
            ),
            "remove the terms naming domains that do not exist or lack the records asked for"
                .to_string(),
        );
    }
    if !evaluation.problems.is_empty() {
        return finding.wrong(
            format!("\"{record}\": {}", evaluation.problems.join("; ")),
            "fix or remove those includes".to_string(),
        );
    }
    let permissive = match evaluation.all {
        Some('+') => Some("+all: every host on the internet passes SPF as"),
        Some('?') => Some("?all (neutral): receivers learn nothing about forged mail from"),
        _ => None,
    };
    if let Some(why) = permissive {
        return finding.wrong(
            format!("\"{record}\" ends in {why} {}", bare(name)),
            "end it with ~all (or -all once every sender is listed)".to_string(),
        );
    }
    let unauthorized: Vec<IpAddr> = addresses
        .iter()
        .copied()
        .filter(|ip| !evaluation.authorizes(*ip, &platform.spf_name))
        .collect();
    if !unauthorized.is_empty() {
        let fix = if matches!(purpose, Purpose::SpfInclude | Purpose::HeloSpf) {
            format!("publish \"{suggested}\" instead")
        } else {
            format!(
                "add include:{} before the all term",
                bare(&platform.spf_name)
            )
        };
        return finding.wrong(
            format!(
                "\"{record}\" does not authorize {}",
                address_list(&unauthorized)
            ),
            fix,
        );
    }
    let whom = match purpose {
        Purpose::HeloSpf => format!("the host's addresses, {}", address_list(addresses)),
        _ => "every relay address".to_string(),
    };
    finding.right(format!(
        "\"{record}\" authorizes {whom} ({} of {LOOKUP_LIMIT} look-ups)",
        evaluation.lookups
    ))
}

/// A domain's MX must name `exchange`, and nothing else (bounces sent elsewhere are lost).
async fn mx(dns: &impl Lookup, domain: &str, exchange: &str, purpose: Purpose) -> Finding {
    let finding = Finding::about(purpose, RecordType::Mx, domain);
    let exchange = bare(exchange);
    let publish = format!("publish {}. MX 10 {exchange}.", bare(domain));
    let found: Vec<String> = match dns.lookup(domain, RecordType::Mx).await {
        Ok(answer) => answer
            .into_iter()
            .filter_map(|data| match data {
                RecordData::Mx { exchange, .. } => Some(exchange),
                _ => None,
            })
            .collect(),
        Err(e) => return finding.unchecked(e),
    };
    let others: Vec<&String> = found.iter().filter(|e| **e != exchange).collect();
    if found.is_empty() {
        finding.missing("no MX record", publish)
    } else if others.len() == found.len() {
        finding.wrong(
            format!("MX names {}, not {exchange}", found.join(", ")),
            format!("{publish} in place of the others"),
        )
    } else if !others.is_empty() {
        let others: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
        finding.wrong(
            format!(
                "MX also names {}: bounces sent there never reach the error server",
                others.join(", ")
            ),
            format!("remove the MX records naming {}", others.join(", ")),
        )
    } else {
        finding.right(format!("MX {exchange}"))
    }
}

/// The selector's TXT record must hold our public key.
async fn dkim_key(dns: &impl Lookup, name: &str, ours: &str) -> Finding {
    let finding = Finding::about(Purpose::Dkim, RecordType::Txt, name);
    let publish = format!("publish {}. TXT \"{ours}\"", bare(name));
    let txt = match dns.lookup(name, RecordType::Txt).await {
        Ok(txt) => txt,
        Err(e) => return finding.unchecked(e),
    };
    let keys: Vec<&str> = txt
        .iter()
        .filter_map(|data| match data {
            RecordData::Txt(text) if dkim::is_key_record(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    match keys[..] {
        [] => finding.missing("no DKIM key record", publish),
        [one] => match dkim::compare(one, ours) {
            KeyMatch::Same => finding.right("the key is ours"),
            KeyMatch::Revoked => finding.wrong("the key is revoked (p= is empty)", publish),
            KeyMatch::Different(why) => finding.wrong(
                format!("the key does not match ours: {why}"),
                format!("replace it: {publish}"),
            ),
        },
        _ => finding.wrong(
            format!("{} key records: verifiers may pick either", keys.len()),
            format!("keep one: {publish}"),
        ),
    }
}

/// The domain's DMARC record (its own, else its parents'): present, and a policy our mail
/// passes.
async fn dmarc_policy(
    dns: &impl Lookup,
    platform: &Platform,
    sender: &SenderDomain,
    return_path: Option<&str>,
) -> Finding {
    let domain = bare(&sender.domain);
    let own_name = format!("_dmarc.{domain}");
    let finding = Finding::about(Purpose::Dmarc, RecordType::Txt, &own_name);
    let suggested = crate::suggested_dmarc();
    let publish = format!("publish {own_name}. TXT \"{suggested}\"");
    let mut at = domain.as_str();
    let (found_at, records) = loop {
        let name = format!("_dmarc.{at}");
        let txt = match dns.lookup(&name, RecordType::Txt).await {
            Ok(txt) => txt,
            Err(e) => return finding.unchecked(e),
        };
        let records: Vec<String> = dmarc::dmarc_records(&txt)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let parent = at.split_once('.').map(|(_, parent)| parent);
        match parent {
            // The organizational domain has two labels at least; a public suffix has none.
            Some(parent) if records.is_empty() && parent.contains('.') => at = parent,
            _ => break (at.to_owned(), records),
        }
    };
    let inherited = found_at != domain;
    let record = match &records[..] {
        [] => return finding.missing("no DMARC record", publish),
        [one] => one,
        _ => {
            return finding.wrong(
                format!(
                    "{} DMARC records at _dmarc.{found_at}: receivers apply none",
                    records.len()
                ),
                format!("keep one, e.g. \"{suggested}\""),
            );
        }
    };
    let from = if inherited {
        format!(" (inherited from _dmarc.{found_at})")
    } else {
        String::new()
    };
    let policy = match dmarc::parse(record, inherited) {
        Ok(policy) => policy,
        Err(why) => {
            return finding.wrong(format!("\"{record}\"{from}: {why}"), publish);
        }
    };
    let mail = OurMail {
        domain: domain.as_str(),
        dkim_domain: if sender.dkim_keys.is_empty() {
            platform.service_domain.as_deref()
        } else {
            Some(domain.as_str())
        },
        return_path_domain: return_path,
    };
    match dmarc::failure(&policy, &mail) {
        Some((why, fix)) => finding.wrong(format!("\"{record}\"{from}: {why}"), fix),
        None => finding.right(format!(
            "\"{record}\"{from}: p={}, our mail passes",
            policy.policy
        )),
    }
}

/// A contract's bounce domain: a CNAME to the platform's bounce domain, or its own MX to the
/// platform and an SPF record that includes it.
async fn custom_return_path(dns: &impl Lookup, platform: &Platform, own: &str) -> Vec<Finding> {
    let finding = || Finding::about(Purpose::ReturnPath, RecordType::Cname, own);
    let suggested = include_spf(&platform.spf_name);
    let Some(bounce) = &platform.bounce else {
        let mx_host = platform.smtp_host.as_str();
        return vec![
            mx(dns, own, mx_host, Purpose::ReturnPath).await,
            spf_record(dns, platform, own, Purpose::ReturnPath, &suggested).await,
        ];
    };
    let target = bare(&bounce.domain);
    let publish = format!("publish {}. CNAME {target}.", bare(own));
    let cname = match dns.lookup(own, RecordType::Cname).await {
        Ok(answer) => answer.into_iter().find_map(|data| match data {
            RecordData::Cname(name) => Some(name),
            _ => None,
        }),
        Err(e) => return vec![finding().unchecked(e)],
    };
    match cname {
        Some(name) if name == target => vec![finding().right(format!("CNAME {target}"))],
        Some(name) => vec![finding().wrong(
            format!("CNAME {name}, not {target}: bounces and SPF go elsewhere"),
            publish,
        )],
        // Its own MX to the platform and SPF do the same as the CNAME.
        None => match dns.lookup(own, RecordType::Mx).await {
            Ok(answer) if answer.is_empty() => {
                vec![finding().missing("no CNAME or MX record", publish)]
            }
            Ok(_) => vec![
                mx(dns, own, &bounce.mx, Purpose::ReturnPath).await,
                spf_record(dns, platform, own, Purpose::ReturnPath, &suggested).await,
            ],
            Err(e) => vec![finding().unchecked(e)],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::StaticZone;
    use crate::records::tests::{contract, long_key, platform};
    use crate::{contract_records, platform_records};

    /// A zone holding exactly what `dns records` prints.
    fn right_zone() -> StaticZone {
        let mut zone = StaticZone::new();
        let records = platform_records(&platform())
            .into_iter()
            .chain(contract_records(&platform(), &contract()));
        for record in records {
            zone.add(&record.name, record.data);
        }
        zone
    }

    async fn all_findings(zone: &StaticZone, contract: &ContractDomains) -> Vec<Finding> {
        let mut findings = check_platform(&platform(), zone).await;
        findings.extend(check_contract(&platform(), contract, zone).await);
        findings
    }

    #[tokio::test]
    async fn the_printed_records_pass_their_own_check() {
        let findings = all_findings(&right_zone(), &contract()).await;
        let lines: Vec<String> = findings.iter().map(Finding::line).collect();
        assert!(
            findings.iter().all(|f| f.status == Status::Right),
            "{}",
            lines.join("\n")
        );
        // Relay hosts 2, PTRs 3, SMTP host, SPF include, the hosts' HELO SPF 2, the service
        // domain's DKIM key, SPF and DMARC, bounce MX and SPF; DKIM, SPF, DMARC, return path.
        assert_eq!(findings.len(), 18, "{}", lines.join("\n"));
        assert!(lines.contains(&"right     reverse DNS PTR 10.2.0.192.in-addr.arpa: 192.0.2.10 is relay1.mail.example.net, and relay1.mail.example.net resolves back to 192.0.2.10".to_string()), "{lines:#?}");
    }

    type Mistake = fn(&mut StaticZone, &mut ContractDomains);

    #[tokio::test]
    async fn each_mistake_is_reported_with_its_fix() {
        // (what, mistake, finding's purpose and status, detail, fix, findings not right in all)
        let cases: Vec<(&str, Mistake, Purpose, Status, &str, &str, usize)> = vec![
            (
                "a relay host without its records",
                |z, _| {
                    z.remove("relay2.mail.example.net", RecordType::A);
                },
                Purpose::RelayHost,
                Status::Missing,
                "no A or AAAA record",
                "publish relay2.mail.example.net. A 192.0.2.11",
                2,
            ),
            (
                "the SMTP host lacks a node and lists a stranger",
                |z, _| {
                    z.remove("smtp.mail.example.net", RecordType::A)
                        .add(
                            "smtp.mail.example.net",
                            RecordData::A("192.0.2.10".parse().unwrap()),
                        )
                        .add(
                            "smtp.mail.example.net",
                            RecordData::A("198.51.100.1".parse().unwrap()),
                        );
                },
                Purpose::SmtpHost,
                Status::Wrong,
                "lacks 192.0.2.11; 198.51.100.1 is no relay address here",
                "add smtp.mail.example.net. A 192.0.2.11; remove smtp.mail.example.net. A 198.51.100.1",
                1,
            ),
            (
                "no PTR",
                |z, _| {
                    z.remove("11.2.0.192.in-addr.arpa", RecordType::Ptr);
                },
                Purpose::ReversePointer,
                Status::Missing,
                "192.0.2.11 has no PTR record",
                "ask whoever holds 192.0.2.11 (the hosting provider) to set its PTR to relay2.mail.example.net",
                1,
            ),
            (
                "a PTR naming the provider's generic name",
                |z, _| {
                    z.remove("11.2.0.192.in-addr.arpa", RecordType::Ptr).add(
                        "11.2.0.192.in-addr.arpa",
                        RecordData::Ptr("host-11.provider.example".into()),
                    );
                },
                Purpose::ReversePointer,
                Status::Wrong,
                "192.0.2.11 is host-11.provider.example, not relay2.mail.example.net",
                "set its PTR to relay2.mail.example.net",
                1,
            ),
            (
                "a PTR whose name does not resolve back",
                |z, _| {
                    z.remove("relay1.mail.example.net", RecordType::Aaaa);
                },
                Purpose::ReversePointer,
                Status::Wrong,
                "2001:db8::10 is relay1.mail.example.net, but relay1.mail.example.net does not resolve back to 2001:db8::10",
                "add relay1.mail.example.net. AAAA 2001:db8::10",
                2,
            ),
            (
                "the platform's SPF lacks an address",
                |z, _| {
                    z.remove("_spf.mail.example.net", RecordType::Txt).txt(
                        "_spf.mail.example.net",
                        "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ~all",
                    );
                },
                Purpose::SpfInclude,
                Status::Wrong,
                "does not authorize 192.0.2.11",
                "publish \"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.11 ~all\" instead",
                1,
            ),
            (
                "two SPF records",
                |z, _| {
                    z.txt("example.com", "v=spf1 include:_spf.crm.example -all");
                },
                Purpose::SenderSpf,
                Status::Wrong,
                "2 SPF records",
                "merge them into one record",
                1,
            ),
            (
                "SPF over ten look-ups",
                |z, _| {
                    z.remove("example.com", RecordType::Txt)
                        .txt("example.com", OVER_TEN);
                },
                Purpose::SenderSpf,
                Status::Wrong,
                "needs 11 DNS look-ups; receivers stop at 10",
                "replace some with the ip4:/ip6: ranges",
                1,
            ),
            (
                "SPF without our include",
                |z, _| {
                    z.remove("example.com", RecordType::Txt)
                        .txt("example.com", "v=spf1 ip4:203.0.113.0/24 -all");
                },
                Purpose::SenderSpf,
                Status::Wrong,
                "does not authorize 192.0.2.10, 2001:db8::10, 192.0.2.11",
                "add include:_spf.mail.example.net before the all term",
                1,
            ),
            (
                "no SPF at all",
                |z, _| {
                    z.remove("example.com", RecordType::Txt);
                },
                Purpose::SenderSpf,
                Status::Missing,
                "no SPF record",
                "publish example.com. TXT \"v=spf1 include:_spf.mail.example.net ~all\"",
                1,
            ),
            (
                "a DKIM key that is not ours",
                |z, _| {
                    z.remove("hk1._domainkey.example.com", RecordType::Txt).txt(
                        "hk1._domainkey.example.com",
                        "v=DKIM1; k=rsa; p=MIIBsomeoneelse",
                    );
                },
                Purpose::Dkim,
                Status::Wrong,
                "the key does not match ours: its public key (p=) is not ours",
                "replace it: publish hk1._domainkey.example.com. TXT \"v=DKIM1; k=rsa; p=MIIB",
                1,
            ),
            (
                "no DKIM key",
                |z, _| {
                    z.remove("hk1._domainkey.example.com", RecordType::Txt);
                },
                Purpose::Dkim,
                Status::Missing,
                "no DKIM key record",
                "publish hk1._domainkey.example.com.",
                1,
            ),
            (
                "a revoked DKIM key",
                |z, _| {
                    z.remove("hk1._domainkey.example.com", RecordType::Txt)
                        .txt("hk1._domainkey.example.com", "v=DKIM1; k=rsa; p=");
                },
                Purpose::Dkim,
                Status::Wrong,
                "the key is revoked (p= is empty)",
                "publish hk1._domainkey.example.com.",
                1,
            ),
            (
                "two DMARC records",
                |z, _| {
                    z.txt("_dmarc.example.com", "v=DMARC1; p=reject");
                },
                Purpose::Dmarc,
                Status::Wrong,
                "2 DMARC records at _dmarc.example.com: receivers apply none",
                "keep one",
                1,
            ),
            (
                "an SPF include without a record",
                |z, _| {
                    z.remove("example.com", RecordType::Txt).txt(
                        "example.com",
                        "v=spf1 include:_spf.mail.example.net include:gone.example ~all",
                    );
                },
                Purpose::SenderSpf,
                Status::Wrong,
                "include:gone.example has no SPF record",
                "fix or remove those includes",
                1,
            ),
            (
                "no DMARC record",
                |z, _| {
                    z.remove("_dmarc.example.com", RecordType::Txt);
                },
                Purpose::Dmarc,
                Status::Missing,
                "no DMARC record",
                "publish _dmarc.example.com. TXT \"v=DMARC1; p=none; adkim=r; aspf=r\"",
                1,
            ),
            (
                "strict DKIM alignment while subdomains are signed as the parent",
                |z, _| {
                    z.remove("_dmarc.example.com", RecordType::Txt)
                        .txt("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s; aspf=s");
                },
                Purpose::Dmarc,
                Status::Wrong,
                "adkim=s: mail From a subdomain of example.com is signed as example.com",
                "adkim=r",
                1,
            ),
            (
                "strict SPF alignment with a return path on a subdomain, no key of ours",
                |z, c| {
                    z.remove("_dmarc.example.com", RecordType::Txt)
                        .txt("_dmarc.example.com", "v=DMARC1; p=reject; aspf=s");
                    c.sender_domains[0].dkim_keys.clear();
                },
                Purpose::Dmarc,
                Status::Wrong,
                "would fail DMARC (p=reject): DKIM signs as mail.example.net, not example.com; aspf=s but the return path is bounce.example.com",
                "register example.com as a sender domain, so DKIM signs as it, or aspf=r",
                1,
            ),
            (
                "the bounce domain's MX elsewhere",
                |z, _| {
                    z.remove("bounce.mail.example.net", RecordType::Mx).add(
                        "bounce.mail.example.net",
                        RecordData::Mx {
                            preference: 10,
                            exchange: "mx.elsewhere.example".into(),
                        },
                    );
                },
                Purpose::BounceMx,
                Status::Wrong,
                "MX names mx.elsewhere.example, not smtp.mail.example.net",
                "publish bounce.mail.example.net. MX 10 smtp.mail.example.net.",
                1,
            ),
            (
                "the custom return path pointed elsewhere",
                |z, _| {
                    z.remove("bounce.example.com", RecordType::Cname).add(
                        "bounce.example.com",
                        RecordData::Cname("bounces.other.example".into()),
                    );
                },
                Purpose::ReturnPath,
                Status::Wrong,
                "CNAME bounces.other.example, not bounce.mail.example.net",
                "publish bounce.example.com. CNAME bounce.mail.example.net.",
                1,
            ),
            (
                "a server that fails",
                |z, _| {
                    z.fail("_dmarc.example.com");
                },
                Purpose::Dmarc,
                Status::Unchecked,
                "the DNS server did not answer: SERVFAIL",
                "",
                1,
            ),
        ];
        for (what, mistake, purpose, status, detail, fix, not_right) in cases {
            let mut zone = right_zone();
            let mut contract = contract();
            mistake(&mut zone, &mut contract);
            let findings = all_findings(&zone, &contract).await;
            let lines: Vec<String> = findings.iter().map(Finding::line).collect();
            let wrong: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.status != Status::Right)
                .collect();
            assert_eq!(wrong.len(), not_right, "{what}: {lines:#?}");
            let found = wrong
                .iter()
                .find(|f| (f.purpose, f.status) == (purpose, status))
                .unwrap_or_else(|| panic!("{what}: {lines:#?}"));
            assert!(found.detail.contains(detail), "{what}: {}", found.line());
            assert!(
                found.fix.as_deref().unwrap_or("").contains(fix),
                "{what}: {}",
                found.line()
            );
        }
    }

    const OVER_TEN: &str = "v=spf1 include:_spf.mail.example.net a mx ptr exists:x.example.com \
                            a:a1.example.com a:a2.example.com mx:m1.example.com \
                            mx:m2.example.com a:a3.example.com a:a4.example.com ~all";

    #[tokio::test]
    async fn a_return_path_by_mx_needs_spf_too_and_an_inherited_dmarc_record_counts() {
        let mut zone = right_zone();
        zone.remove("bounce.example.com", RecordType::Cname).add(
            "bounce.example.com",
            RecordData::Mx {
                preference: 10,
                exchange: "smtp.mail.example.net".into(),
            },
        );
        let findings = check_contract(&platform(), &contract(), &zone).await;
        let return_path: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.purpose == Purpose::ReturnPath)
            .collect();
        assert_eq!(return_path.len(), 2);
        assert_eq!(return_path[0].status, Status::Right, "{:?}", return_path[0]);
        assert_eq!(
            return_path[1].status,
            Status::Missing,
            "{:?}",
            return_path[1]
        );

        // news.example.com has no record of its own; example.com's sp= applies.
        let mut zone = right_zone();
        zone.remove("_dmarc.example.com", RecordType::Txt)
            .txt("_dmarc.example.com", "v=DMARC1; p=none; sp=reject")
            .txt(
                "news.example.com",
                "v=spf1 include:_spf.mail.example.net ~all",
            );
        let mut news = contract();
        news.sender_domains[0].domain = "news.example.com".into();
        news.bounce_domain = None;
        news.sender_domains[0].dkim_keys[0].txt = long_key();
        zone.txt("hk1._domainkey.news.example.com", &long_key());
        let findings = check_contract(&platform(), &news, &zone).await;
        let dmarc = findings
            .iter()
            .find(|f| f.purpose == Purpose::Dmarc)
            .unwrap();
        assert_eq!(dmarc.status, Status::Right, "{}", dmarc.line());
        assert!(
            dmarc.detail.contains("inherited from _dmarc.example.com"),
            "{}",
            dmarc.line()
        );
        assert!(dmarc.detail.contains("p=reject"), "{}", dmarc.line());
    }
}
