//! Questions and the replies the zone gives them, without a socket.

use super::*;
use hickory_server::proto::op::Query;
use hikyaku_dns_records::{BounceDomain, DkimKey, RelayHost};

const APEX: &str = "mail.example.net";

fn settings() -> ZoneSettings {
    ZoneSettings {
        apex: APEX.into(),
        nameservers: vec!["relay1.mail.example.net".into(), "ns.example.org".into()],
        smtp_host_ttl: 60,
        ttl: 3600,
        negative_ttl: 300,
    }
}

fn long_key() -> String {
    format!(
        "v=DKIM1; k=rsa; p={}",
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A".repeat(12)
    )
}

fn platform() -> Platform {
    Platform {
        service_domain: Some(APEX.into()),
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
            // Outside the zone: its own records are someone else's to publish.
            RelayHost {
                name: "relay3.example.org".into(),
                addresses: vec!["198.51.100.3".parse().unwrap()],
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
            txt: long_key(),
        }],
    }
}

fn zone(healthy: &[&str]) -> Zone {
    let healthy: Vec<String> = healthy.iter().map(|h| h.to_string()).collect();
    Zone::build(&settings(), &platform(), &healthy, 2026010101).unwrap()
}

/// A name as it comes off the wire: fully qualified.
fn fqdn(name: &str) -> Name {
    let mut name = Name::from_ascii(name).unwrap();
    name.set_fqdn(true);
    name
}

fn question(name: &str, record_type: RecordType) -> LowerQuery {
    LowerQuery::from(Query::query(fqdn(name), record_type))
}

fn ask(zone: &Zone, name: &str, record_type: RecordType) -> Reply {
    zone.reply(OpCode::Query, &[question(name, record_type)])
}

/// A record as a zone file line, spaces for tabs (hickory prints TXT data unquoted).
fn lines(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn the_smtp_host_lists_the_healthy_nodes_with_the_short_ttl() {
    let both = zone(&[
        "relay1.mail.example.net",
        "relay2.mail.example.net",
        "relay3.example.org",
    ]);
    let reply = ask(&both, "smtp.mail.example.net", RecordType::A);
    assert_eq!(reply.code, ResponseCode::NoError);
    assert!(reply.authoritative);
    assert_eq!(
        lines(&reply.answers),
        [
            "smtp.mail.example.net. 60 IN A 192.0.2.10",
            "smtp.mail.example.net. 60 IN A 192.0.2.11",
            // A relay host outside the zone still serves under the SMTP host name.
            "smtp.mail.example.net. 60 IN A 198.51.100.3",
        ]
    );
    let aaaa = ask(&both, "smtp.mail.example.net", RecordType::AAAA);
    assert_eq!(
        lines(&aaaa.answers),
        ["smtp.mail.example.net. 60 IN AAAA 2001:db8::10"]
    );

    let one = zone(&["relay2.mail.example.net"]);
    assert_eq!(one.listed_nodes(), ["relay2.mail.example.net"]);
    let reply = ask(&one, "smtp.mail.example.net", RecordType::A);
    assert_eq!(
        lines(&reply.answers),
        ["smtp.mail.example.net. 60 IN A 192.0.2.11"]
    );
    // relay1 is down: the SMTP host has no AAAA now, but the name still exists.
    let aaaa = ask(&one, "smtp.mail.example.net", RecordType::AAAA);
    assert_eq!(aaaa.code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty());
    assert_eq!(lines(&aaaa.authorities).len(), 1);
    // A node's own name keeps its addresses whatever its health: it is its HELO name.
    let own = ask(&one, "relay1.mail.example.net", RecordType::A);
    assert_eq!(
        lines(&own.answers),
        ["relay1.mail.example.net. 3600 IN A 192.0.2.10"]
    );
}

#[test]
fn with_no_healthy_node_the_smtp_host_lists_every_node() {
    for healthy in [&[][..], &["stranger.example.com"][..]] {
        let zone = zone(healthy);
        assert!(zone.listed_nodes().is_empty());
        let reply = ask(&zone, "smtp.mail.example.net", RecordType::A);
        assert_eq!(
            lines(&reply.answers),
            [
                "smtp.mail.example.net. 60 IN A 192.0.2.10",
                "smtp.mail.example.net. 60 IN A 192.0.2.11",
                "smtp.mail.example.net. 60 IN A 198.51.100.3",
            ]
        );
    }
}

#[test]
fn the_platform_records_in_the_zone_are_answered() {
    let zone = zone(&["relay1.mail.example.net"]);
    let table: [(&str, RecordType, &[&str]); 8] = [
        (
            "relay1.mail.example.net",
            RecordType::AAAA,
            &["relay1.mail.example.net. 3600 IN AAAA 2001:db8::10"],
        ),
        (
            "relay1.mail.example.net",
            RecordType::TXT,
            &["relay1.mail.example.net. 3600 IN TXT v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"],
        ),
        (
            "relay2.mail.example.net",
            RecordType::A,
            &["relay2.mail.example.net. 3600 IN A 192.0.2.11"],
        ),
        (
            "_spf.mail.example.net",
            RecordType::TXT,
            &[
                "_spf.mail.example.net. 3600 IN TXT v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.11 ip4:198.51.100.3 ~all",
            ],
        ),
        (
            "mail.example.net",
            RecordType::TXT,
            &["mail.example.net. 3600 IN TXT v=spf1 include:_spf.mail.example.net ~all"],
        ),
        (
            "_dmarc.mail.example.net",
            RecordType::TXT,
            &["_dmarc.mail.example.net. 3600 IN TXT v=DMARC1; p=none; adkim=r; aspf=r"],
        ),
        (
            "bounce.mail.example.net",
            RecordType::MX,
            &["bounce.mail.example.net. 3600 IN MX 10 smtp.mail.example.net."],
        ),
        (
            "bounce.mail.example.net",
            RecordType::TXT,
            &["bounce.mail.example.net. 3600 IN TXT v=spf1 include:_spf.mail.example.net ~all"],
        ),
    ];
    for (name, record_type, expected) in table {
        let reply = ask(&zone, name, record_type);
        assert_eq!(reply.code, ResponseCode::NoError, "{name} {record_type}");
        assert!(reply.authoritative, "{name} {record_type}");
        assert_eq!(lines(&reply.answers), expected, "{name} {record_type}");
        assert!(reply.authorities.is_empty(), "{name} {record_type}");
    }

    // The MX host's addresses come along (the healthy ones: it is the SMTP host name).
    let mx = ask(&zone, "bounce.mail.example.net", RecordType::MX);
    assert_eq!(
        lines(&mx.additionals),
        [
            "smtp.mail.example.net. 60 IN A 192.0.2.10",
            "smtp.mail.example.net. 60 IN AAAA 2001:db8::10",
        ]
    );

    // A DKIM key longer than one character-string is served as several, which join to it.
    let dkim = ask(&zone, "hks1._domainkey.mail.example.net", RecordType::TXT);
    let RData::TXT(txt) = &dkim.answers[0].data else {
        panic!("{dkim:?}");
    };
    let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
    assert_eq!(strings.len(), 2);
    assert_eq!(strings[0].len(), 255);
    assert_eq!(strings.concat(), long_key().as_bytes());

    // No reverse records: those live in the reverse zones.
    assert_eq!(
        ask(&zone, "10.2.0.192.in-addr.arpa", RecordType::PTR).code,
        ResponseCode::Refused
    );
}

#[test]
fn the_apex_has_soa_and_ns_with_glue_for_nameservers_in_the_zone() {
    let zone = zone(&["relay1.mail.example.net"]);
    let soa = ask(&zone, "mail.example.net", RecordType::SOA);
    assert_eq!(
        lines(&soa.answers),
        [
            "mail.example.net. 3600 IN SOA relay1.mail.example.net. hostmaster.mail.example.net. 2026010101 3600 600 1209600 300"
        ]
    );
    let ns = ask(&zone, "mail.example.net", RecordType::NS);
    assert_eq!(
        lines(&ns.answers),
        [
            "mail.example.net. 3600 IN NS relay1.mail.example.net.",
            "mail.example.net. 3600 IN NS ns.example.org.",
        ]
    );
    assert_eq!(
        lines(&ns.additionals),
        [
            "relay1.mail.example.net. 3600 IN A 192.0.2.10",
            "relay1.mail.example.net. 3600 IN AAAA 2001:db8::10",
        ]
    );
}

#[test]
fn missing_names_and_types_are_negative_with_the_soa() {
    let zone = zone(&["relay1.mail.example.net"]);
    let soa_line = "mail.example.net. 300 IN SOA relay1.mail.example.net. hostmaster.mail.example.net. 2026010101 3600 600 1209600 300";
    let table = [
        (
            "nosuch.mail.example.net",
            RecordType::A,
            ResponseCode::NXDomain,
        ),
        (
            "a.b.smtp.mail.example.net",
            RecordType::A,
            ResponseCode::NXDomain,
        ),
        (
            "smtp.mail.example.net",
            RecordType::MX,
            ResponseCode::NoError,
        ),
        (
            "smtp.mail.example.net",
            RecordType::TXT,
            ResponseCode::NoError,
        ),
        ("mail.example.net", RecordType::A, ResponseCode::NoError),
        // Empty non-terminals exist (RFC 8020): resolvers would otherwise give up on the keys.
        (
            "_domainkey.mail.example.net",
            RecordType::TXT,
            ResponseCode::NoError,
        ),
        (
            "selector._domainkey.mail.example.net",
            RecordType::TXT,
            ResponseCode::NXDomain,
        ),
    ];
    for (name, record_type, code) in table {
        let reply = ask(&zone, name, record_type);
        assert_eq!(reply.code, code, "{name} {record_type}");
        assert!(reply.authoritative, "{name} {record_type}");
        assert!(reply.answers.is_empty(), "{name} {record_type}");
        assert_eq!(
            lines(&reply.authorities),
            [soa_line],
            "{name} {record_type}"
        );
    }
}

#[test]
fn names_outside_the_zone_other_classes_and_transfers_are_refused() {
    let zone = zone(&["relay1.mail.example.net"]);
    for (name, record_type) in [
        ("example.net", RecordType::SOA),
        ("relay3.example.org", RecordType::A),
        ("www.example.com", RecordType::A),
        (".", RecordType::NS),
        ("xmail.example.net", RecordType::A),
        ("mail.example.net", RecordType::AXFR),
        ("mail.example.net", RecordType::IXFR),
    ] {
        let reply = ask(&zone, name, record_type);
        assert_eq!(reply.code, ResponseCode::Refused, "{name} {record_type}");
        assert!(!reply.authoritative, "{name}");
        assert!(
            reply.answers.is_empty() && reply.authorities.is_empty(),
            "{name}"
        );
    }
    let mut chaos = Query::query(fqdn("version.bind"), RecordType::TXT);
    chaos.set_query_class(DNSClass::CH);
    let reply = zone.reply(OpCode::Query, &[LowerQuery::from(chaos)]);
    assert_eq!(reply.code, ResponseCode::Refused);
    let mut in_zone = Query::query(fqdn("smtp.mail.example.net"), RecordType::A);
    in_zone.set_query_class(DNSClass::CH);
    let reply = zone.reply(OpCode::Query, &[LowerQuery::from(in_zone)]);
    assert_eq!(reply.code, ResponseCode::Refused);
}

#[test]
fn any_gets_one_rrset() {
    let zone = zone(&["relay1.mail.example.net"]);
    let apex = ask(&zone, "mail.example.net", RecordType::ANY);
    assert_eq!(apex.answers.len(), 1);
    assert_eq!(apex.answers[0].record_type(), RecordType::SOA);
    let relay = ask(&zone, "relay1.mail.example.net", RecordType::ANY);
    assert_eq!(
        lines(&relay.answers),
        ["relay1.mail.example.net. 3600 IN A 192.0.2.10"]
    );
    let missing = ask(&zone, "nosuch.mail.example.net", RecordType::ANY);
    assert_eq!(missing.code, ResponseCode::NXDomain);
}

#[test]
fn answers_carry_the_name_as_the_client_spelled_it() {
    let zone = zone(&["relay1.mail.example.net"]);
    let reply = ask(&zone, "SMTP.Mail.Example.NET", RecordType::A);
    assert_eq!(
        lines(&reply.answers),
        ["SMTP.Mail.Example.NET. 60 IN A 192.0.2.10"]
    );
}

#[test]
fn other_operations_and_question_counts_are_errors() {
    let zone = zone(&["relay1.mail.example.net"]);
    let smtp = question("smtp.mail.example.net", RecordType::A);
    for op in [OpCode::Notify, OpCode::Update, OpCode::Status] {
        let reply = zone.reply(op, std::slice::from_ref(&smtp));
        assert_eq!(reply.code, ResponseCode::NotImp, "{op:?}");
        assert!(!reply.authoritative);
    }
    assert_eq!(zone.reply(OpCode::Query, &[]).code, ResponseCode::FormErr);
    assert_eq!(
        zone.reply(OpCode::Query, &[smtp.clone(), smtp]).code,
        ResponseCode::FormErr
    );
}

#[test]
fn a_new_serial_is_due_only_when_an_answer_changes() {
    let healthy = vec!["relay1.mail.example.net".to_string()];
    let a = Zone::build(&settings(), &platform(), &healthy, 1).unwrap();
    let b = Zone::build(&settings(), &platform(), &healthy, 2).unwrap();
    assert!(a.same_answers(&b));
    let renumbered = a.clone().with_serial(7);
    assert_eq!(renumbered.serial(), 7);
    let soa = ask(&renumbered, "mail.example.net", RecordType::SOA);
    let RData::SOA(served) = &soa.answers[0].data else {
        panic!("{soa:?}");
    };
    assert_eq!(served.serial, 7);
    let other_health = Zone::build(&settings(), &platform(), &[], 1).unwrap();
    assert!(!a.same_answers(&other_health));
    let mut rotated = platform();
    rotated.service_keys.push(DkimKey {
        selector: "hks2".into(),
        txt: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
    });
    let new_key = Zone::build(&settings(), &rotated, &healthy, 1).unwrap();
    assert!(!a.same_answers(&new_key));
    let mut shorter = settings();
    shorter.negative_ttl = 30;
    let shorter = Zone::build(&shorter, &platform(), &healthy, 1).unwrap();
    assert!(!a.same_answers(&shorter));
}

#[test]
fn the_reply_offers_edns_within_our_limit() {
    assert_eq!(reply_edns(None), (None, None));
    for (offered, granted) in [
        (4096, MAX_UDP_PAYLOAD),
        (1232, 1232),
        (800, 800),
        (100, 512),
    ] {
        let mut edns = Edns::new();
        edns.set_max_payload(offered);
        let (reply, refusal) = reply_edns(Some(&edns));
        assert_eq!(reply.unwrap().max_payload(), granted, "{offered}");
        assert_eq!(refusal, None);
    }
    let mut later = Edns::new();
    later.set_version(1);
    let (reply, refusal) = reply_edns(Some(&later));
    assert_eq!(reply.unwrap().version(), 0);
    assert_eq!(refusal, Some(ResponseCode::BADVERS));
}

#[test]
fn bad_names_are_refused_when_building() {
    let mut bad = settings();
    bad.nameservers = vec!["ns..example.org".into()];
    assert!(Zone::build(&bad, &platform(), &[], 1).is_err());
}
