//! The check over real DNS: hickory asking testkit's server on 127.0.0.1 over UDP, for a zone
//! that holds exactly the printed records, and for zones with each kind of mistake.

use hikyaku_dns_records::{
    BounceDomain, ContractDomains, DkimKey, DnsServer, Finding, Platform, Purpose, RecordData,
    RelayHost, SenderDomain, Status, check_contract, check_platform, contract_records,
    platform_records,
};
use hikyaku_testkit::TestDns;

const SERVICE: &str = "mail.hikyaku.test";

fn platform() -> Platform {
    Platform {
        service_domain: Some(SERVICE.into()),
        relay_nodes: vec![
            RelayHost {
                name: "relay1.mail.hikyaku.test".into(),
                addresses: vec![
                    "192.0.2.10".parse().unwrap(),
                    "2001:db8::10".parse().unwrap(),
                ],
            },
            RelayHost {
                name: "relay2.mail.hikyaku.test".into(),
                addresses: vec!["192.0.2.11".parse().unwrap()],
            },
        ],
        smtp_host: "smtp.mail.hikyaku.test".into(),
        spf_name: "_spf.mail.hikyaku.test".into(),
        bounce: Some(BounceDomain {
            domain: "bounce.mail.hikyaku.test".into(),
            mx: "smtp.mail.hikyaku.test".into(),
        }),
        service_keys: vec![DkimKey {
            selector: "hks1".into(),
            txt: format!("v=DKIM1; k=rsa; p={}", "MIIBCgKCAQEAs".repeat(30)),
        }],
    }
}

/// An Ed25519 and an RSA key, as `domain add --algorithm dual` publishes them (the RSA key is
/// long enough to need several character-strings).
fn contract() -> ContractDomains {
    ContractDomains {
        customer_id: "C-test".into(),
        sender_domains: vec![SenderDomain {
            domain: "shop.example".into(),
            dkim_keys: vec![
                DkimKey {
                    selector: "hk-rsa".into(),
                    txt: format!("v=DKIM1; k=rsa; p={}", "MIIBCgKCAQEAx".repeat(30)),
                },
                DkimKey {
                    selector: "hk-ed".into(),
                    txt: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
                        .into(),
                },
            ],
        }],
        bounce_domain: Some("bounce.shop.example".into()),
    }
}

async fn serve(dns: &TestDns, name: &str, data: &RecordData) {
    match data {
        RecordData::A(ip) => dns.listed_address(name, &ip.to_string()).await,
        RecordData::Aaaa(ip) => dns.listed_address(name, &ip.to_string()).await,
        RecordData::Ptr(host) => dns.ptr(name, host).await,
        RecordData::Txt(text) => dns.txt(name, text).await,
        RecordData::Mx {
            preference,
            exchange,
        } => dns.mx(name, *preference, exchange).await,
        RecordData::Cname(target) => dns.cname(name, target).await,
    };
}

/// A server holding every record `dns records` prints, platform and contract.
async fn right_zone() -> TestDns {
    let dns = TestDns::start().await.unwrap();
    let records = platform_records(&platform())
        .into_iter()
        .chain(contract_records(&platform(), &contract()));
    for record in records {
        serve(&dns, &record.name, &record.data).await;
    }
    dns
}

async fn findings(dns: &TestDns) -> Vec<Finding> {
    let server = DnsServer::new(dns.addr()).unwrap();
    let mut found = check_platform(&platform(), &server).await;
    found.extend(check_contract(&platform(), &contract(), &server).await);
    found
}

fn lines(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(Finding::line)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_zone_with_the_printed_records_is_right_throughout() {
    let dns = right_zone().await;
    let found = findings(&dns).await;
    assert!(
        found.iter().all(|f| f.status == Status::Right),
        "{}",
        lines(&found)
    );
    // 2 hosts, 3 PTRs, SMTP host, SPF include, 2 HELO SPF, the service domain's DKIM key, SPF
    // and DMARC, bounce MX + SPF, 2 DKIM, SPF, DMARC, return path.
    assert_eq!(found.len(), 19, "{}", lines(&found));
    assert!(dns.queries() > 0);
}

/// Each case breaks the right zone one way; exactly that finding must turn up, with its fix.
#[tokio::test]
async fn each_kind_of_mistake_is_reported_with_its_fix() {
    use hickory_resolver::proto::rr::RecordType as Wire;
    struct Case {
        what: &'static str,
        purpose: Purpose,
        status: Status,
        detail: &'static str,
        fix: &'static str,
    }
    let cases = [
        Case {
            what: "spf-over-ten",
            purpose: Purpose::SenderSpf,
            status: Status::Wrong,
            detail: "needs 11 DNS look-ups",
            fix: "remove includes",
        },
        Case {
            what: "two-spf",
            purpose: Purpose::SenderSpf,
            status: Status::Wrong,
            detail: "2 SPF records",
            fix: "merge them into one record",
        },
        Case {
            what: "dkim-not-ours",
            purpose: Purpose::Dkim,
            status: Status::Wrong,
            detail: "the key does not match ours",
            fix: "replace it: publish hk-ed._domainkey.shop.example. TXT \"v=DKIM1; k=ed25519; p=11qY",
        },
        Case {
            what: "ptr-not-back",
            purpose: Purpose::ReversePointer,
            status: Status::Wrong,
            detail: "192.0.2.11 is relay2.mail.hikyaku.test, but relay2.mail.hikyaku.test does not resolve back to 192.0.2.11",
            fix: "add relay2.mail.hikyaku.test. A 192.0.2.11",
        },
        Case {
            what: "no-dmarc",
            purpose: Purpose::Dmarc,
            status: Status::Missing,
            detail: "no DMARC record",
            fix: "publish _dmarc.shop.example. TXT \"v=DMARC1; p=none; adkim=r; aspf=r\"",
        },
        Case {
            what: "dmarc-strict",
            purpose: Purpose::Dmarc,
            status: Status::Wrong,
            detail: "adkim=s: mail From a subdomain of shop.example is signed as shop.example",
            fix: "adkim=r",
        },
        Case {
            what: "return-path-elsewhere",
            purpose: Purpose::ReturnPath,
            status: Status::Wrong,
            detail: "CNAME bounces.elsewhere.example, not bounce.mail.hikyaku.test",
            fix: "publish bounce.shop.example. CNAME bounce.mail.hikyaku.test.",
        },
        Case {
            what: "spf-void",
            purpose: Purpose::SenderSpf,
            status: Status::Wrong,
            detail: "3 look-ups find nothing (gone.example, shop.example, old-crm.example); receivers stop at 2 such void look-ups",
            fix: "remove the terms naming domains that do not exist",
        },
        Case {
            what: "spf-plus-all",
            purpose: Purpose::SenderSpf,
            status: Status::Wrong,
            detail: "ends in +all: every host on the internet passes SPF as shop.example",
            fix: "end it with ~all",
        },
        Case {
            what: "spf-neutral-all",
            purpose: Purpose::BounceSpf,
            status: Status::Wrong,
            detail: "ends in ?all (neutral)",
            fix: "end it with ~all",
        },
        Case {
            what: "service-no-spf",
            purpose: Purpose::SenderSpf,
            status: Status::Missing,
            detail: "no SPF record",
            fix: "publish mail.hikyaku.test. TXT \"v=spf1 include:_spf.mail.hikyaku.test ~all\"",
        },
        Case {
            what: "helo-spf-missing",
            purpose: Purpose::HeloSpf,
            status: Status::Missing,
            detail: "no SPF record",
            fix: "publish relay2.mail.hikyaku.test. TXT \"v=spf1 ip4:192.0.2.11 -all\"",
        },
        Case {
            what: "helo-spf-other-host",
            purpose: Purpose::HeloSpf,
            status: Status::Wrong,
            detail: "does not authorize 2001:db8::10",
            fix: "publish \"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all\" instead",
        },
        Case {
            what: "server-fails",
            purpose: Purpose::SpfInclude,
            status: Status::Unchecked,
            detail: "the DNS server did not answer",
            fix: "",
        },
    ];
    for case in cases {
        let dns = right_zone().await;
        match case.what {
            "spf-over-ten" => {
                dns.remove_type("shop.example", Wire::TXT).await.txt(
                    "shop.example",
                    "v=spf1 include:_spf.mail.hikyaku.test include:crm.example a mx ~all",
                )
                .await
                .txt("crm.example", "v=spf1 a mx ptr a:x.crm.example mx:y.crm.example exists:z.crm.example a:w.crm.example ~all")
                .await;
            }
            "two-spf" => {
                dns.txt("shop.example", "v=spf1 include:crm.example -all")
                    .await;
            }
            "dkim-not-ours" => {
                dns.remove("hk-ed._domainkey.shop.example")
                    .await
                    .txt(
                        "hk-ed._domainkey.shop.example",
                        "v=DKIM1; k=ed25519; p=someoneelsekey=",
                    )
                    .await;
            }
            "ptr-not-back" => {
                dns.remove("relay2.mail.hikyaku.test").await;
            }
            "no-dmarc" => {
                dns.remove("_dmarc.shop.example").await;
            }
            "dmarc-strict" => {
                dns.remove("_dmarc.shop.example")
                    .await
                    .txt("_dmarc.shop.example", "v=DMARC1; p=reject; adkim=s; aspf=s")
                    .await;
            }
            "return-path-elsewhere" => {
                dns.remove("bounce.shop.example")
                    .await
                    .cname("bounce.shop.example", "bounces.elsewhere.example")
                    .await;
            }
            "spf-void" => {
                dns.remove_type("shop.example", Wire::TXT)
                    .await
                    .txt(
                        "shop.example",
                        "v=spf1 include:_spf.mail.hikyaku.test a:gone.example mx include:old-crm.example ~all",
                    )
                    .await;
            }
            "spf-plus-all" => {
                dns.remove_type("shop.example", Wire::TXT)
                    .await
                    .txt("shop.example", "v=spf1 include:_spf.mail.hikyaku.test +all")
                    .await;
            }
            "spf-neutral-all" => {
                dns.remove_type("bounce.mail.hikyaku.test", Wire::TXT)
                    .await
                    .txt(
                        "bounce.mail.hikyaku.test",
                        "v=spf1 include:_spf.mail.hikyaku.test ?all",
                    )
                    .await;
            }
            "service-no-spf" => {
                dns.remove_type("mail.hikyaku.test", Wire::TXT).await;
            }
            "helo-spf-missing" => {
                dns.remove_type("relay2.mail.hikyaku.test", Wire::TXT).await;
            }
            "helo-spf-other-host" => {
                dns.remove_type("relay1.mail.hikyaku.test", Wire::TXT)
                    .await
                    .txt("relay1.mail.hikyaku.test", "v=spf1 ip4:192.0.2.10 -all")
                    .await;
            }
            "server-fails" => {
                dns.servfail("_spf.mail.hikyaku.test");
            }
            other => unreachable!("{other}"),
        }
        let found = findings(&dns).await;
        let off: Vec<&Finding> = found.iter().filter(|f| f.status != Status::Right).collect();
        let relevant: Vec<&&Finding> = off
            .iter()
            .filter(|f| f.purpose == case.purpose && f.status == case.status)
            .collect();
        assert!(
            relevant.iter().any(|f| f.detail.contains(case.detail)
                && f.fix.as_deref().unwrap_or("").contains(case.fix)),
            "{}: {}",
            case.what,
            lines(&found)
        );
        // The relay host whose records were removed is reported too (its addresses and its
        // HELO SPF); nothing else.
        let expected_off = if case.what == "ptr-not-back" { 3 } else { 1 };
        let expected_off = if case.what == "server-fails" {
            // The bounce domain's, the service domain's and the sender's SPF include the
            // failing record.
            4
        } else {
            expected_off
        };
        assert_eq!(off.len(), expected_off, "{}: {}", case.what, lines(&found));
    }
}
