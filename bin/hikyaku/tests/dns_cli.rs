//! `hikyaku dns records` and `hikyaku dns check` through the real binary, against testkit's DNS
//! server on 127.0.0.1: the records `dns records --json` prints, served as they are, pass
//! `dns check`; each mistake made to them is reported on its own line with its fix, and the
//! command then exits 1.

mod cli_support;

use cli_support::BIN;
use hikyaku_dkim::{KeyAlgorithm, PrivateKey};
use hikyaku_model::CustomerId;
use hikyaku_store::{NewDkimKey, SealingKey, Store};
use hikyaku_testkit::{Prepared, ProcessBuilder, TestDns};
use serde_json::Value;

const RELAY_NODES: &str = r#"[
  { name = "relay1.mail.hikyaku.test", addresses = ["192.0.2.10", "2001:db8::10"] },
  { name = "relay2.mail.hikyaku.test", addresses = ["192.0.2.11"] },
]"#;

fn node(dns: &TestDns) -> Prepared {
    ProcessBuilder::new(BIN)
        .set("", "service_domain", "\"mail.hikyaku.test\"")
        .set("bounce", "domain", "\"bounce.mail.hikyaku.test\"")
        .set("dns", "resolver", &format!("\"{}\"", dns.addr()))
        .set("dns", "relay_node", RELAY_NODES)
        .prepare()
        .unwrap()
}

fn json(node: &Prepared, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = node.cli_ok(&args).unwrap();
    assert_eq!(out.lines().count(), 1, "one line of JSON: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// The node's store, opened as the binary opens it (sender domains have no command here).
async fn open_store(node: &Prepared) -> Store {
    let key = SealingKey::load_or_create(&node.data_dir.join("secret.key")).unwrap();
    let url = format!("sqlite://{}", node.data_dir.join("hikyaku.db").display());
    Store::connect(&url, key).await.unwrap()
}

/// Serves every record of a `dns records --json` answer.
async fn serve(dns: &TestDns, records: &Value) {
    for record in records["records"].as_array().unwrap() {
        let name = record["name"].as_str().unwrap();
        let value = record["value"].as_str().unwrap();
        match record["type"].as_str().unwrap() {
            "A" | "AAAA" => dns.listed_address(name, value).await,
            "PTR" => dns.ptr(name, value).await,
            "TXT" => dns.txt(name, value).await,
            "CNAME" => dns.cname(name, value).await,
            "MX" => {
                let (preference, exchange) = value.split_once(' ').unwrap();
                dns.mx(name, preference.parse().unwrap(), exchange).await
            }
            other => panic!("unexpected record type {other}"),
        };
    }
}

/// `dns check` that must fail: its standard output (the lines) and standard error.
fn failing_check(node: &Prepared, args: &[&str]) -> (String, String) {
    let out = node.cli(args).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_records_pass_the_check_and_mistakes_are_reported_with_their_fix() {
    let dns = TestDns::start().await.unwrap();
    let node = node(&dns);

    let zone = node.cli_ok(&["dns", "records"]).unwrap();
    for line in [
        "relay1.mail.hikyaku.test.\tIN\tA\t192.0.2.10",
        "relay1.mail.hikyaku.test.\tIN\tAAAA\t2001:db8::10",
        "11.2.0.192.in-addr.arpa.\tIN\tPTR\trelay2.mail.hikyaku.test.",
        "smtp.mail.hikyaku.test.\tIN\tA\t192.0.2.11",
        "_spf.mail.hikyaku.test.\tIN\tTXT\t\"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.11 ~all\"",
        "bounce.mail.hikyaku.test.\tIN\tMX\t10 smtp.mail.hikyaku.test.",
        "bounce.mail.hikyaku.test.\tIN\tTXT\t\"v=spf1 include:_spf.mail.hikyaku.test ~all\"",
    ] {
        // A record with a note carries it as a comment after a tab.
        let noted = format!("{line}\t;");
        assert!(
            zone.lines().any(|l| l == line || l.starts_with(&noted)),
            "{line:?} not in\n{zone}"
        );
    }

    // Nothing is published yet: everything is missing.
    let (lines, error) = failing_check(&node, &["dns", "check"]);
    assert!(lines.lines().any(|l| l.starts_with("missing   SPF include TXT _spf.mail.hikyaku.test: no SPF record; fix: publish _spf.mail.hikyaku.test. TXT \"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 ip4:192.0.2.11 ~all\"")), "{lines}");
    assert!(
        error.contains("13 of 13 records are missing, wrong or unchecked"),
        "{error}"
    );

    let records = json(&node, &["dns", "records"]);
    assert_eq!(records["customer_id"], Value::Null);
    assert_eq!(
        records["records"].as_array().unwrap().len(),
        16,
        "{records}"
    );
    serve(&dns, &records).await;
    let lines = node.cli_ok(&["dns", "check"]).unwrap();
    assert!(
        lines.lines().take(13).all(|l| l.starts_with("right ")),
        "{lines}"
    );
    assert!(
        lines.ends_with(&format!(
            "13 right, 0 missing, 0 wrong, 0 unchecked (asked {})\n",
            dns.addr()
        )),
        "{lines}"
    );
    let checked = json(&node, &["dns", "check"]);
    assert_eq!(checked["right"], 13, "{checked}");
    assert_eq!(checked["findings"][0]["status"], "right");
    assert_eq!(checked["findings"][0]["purpose"], "relay_host");

    // A contract's own bounce domain: a CNAME to the platform's.
    let customer = json(&node, &["contract", "create", "--name", "Shop"])["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    node.cli_ok(&[
        "contract",
        "bounce-domain",
        "set",
        &customer,
        "bounce.shop.example",
    ])
    .unwrap();
    let theirs = json(&node, &["dns", "records", "--contract", &customer]);
    assert_eq!(theirs["customer_id"], customer.as_str());
    let text = node
        .cli_ok(&["dns", "records", "--contract", &customer])
        .unwrap();
    assert!(
        text.contains("bounce.shop.example.\tIN\tCNAME\tbounce.mail.hikyaku.test.\n"),
        "{text}"
    );
    let (lines, _) = failing_check(&node, &["dns", "check", "--contract", &customer]);
    assert!(lines.starts_with("missing   return path CNAME bounce.shop.example: no CNAME or MX record; fix: publish bounce.shop.example. CNAME bounce.mail.hikyaku.test."), "{lines}");
    serve(&dns, &theirs).await;
    node.cli_ok(&["dns", "check", "--contract", &customer])
        .unwrap();

    // A sender domain with an RSA-2048 key (its record needs two character-strings) and an
    // Ed25519 one, as the store keeps them; and the service domain's own key.
    let rsa = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let ed = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let service = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    let store = open_store(&node).await;
    let id: CustomerId = customer.parse().unwrap();
    let (rsa_public, ed_public, service_public) = (
        rsa.public_key_base64(),
        ed.public_key_base64(),
        service.public_key_base64(),
    );
    let (rsa_pem, ed_pem, service_pem) = (rsa.to_pem(), ed.to_pem(), service.to_pem());
    store
        .add_sender_domain(
            Some(&id),
            "shop.example",
            "dual",
            &[
                NewDkimKey {
                    selector: "hk1r",
                    algorithm: "rsa-2048",
                    public_key: &rsa_public,
                    private_key_pem: &rsa_pem,
                },
                NewDkimKey {
                    selector: "hk1e",
                    algorithm: "ed25519",
                    public_key: &ed_public,
                    private_key_pem: &ed_pem,
                },
            ],
        )
        .await
        .unwrap();
    store
        .add_sender_domain(
            None,
            "mail.hikyaku.test",
            "ed25519",
            &[NewDkimKey {
                selector: "hks1",
                algorithm: "ed25519",
                public_key: &service_public,
                private_key_pem: &service_pem,
            }],
        )
        .await
        .unwrap();
    drop(store);

    let text = node
        .cli_ok(&["dns", "records", "--contract", &customer])
        .unwrap();
    let dkim_line = text
        .lines()
        .find(|l| l.starts_with("hk1r._domainkey.shop.example.\tIN\tTXT\t\"v=DKIM1; k=rsa; p="))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        dkim_line.contains("\" \""),
        "split into strings: {dkim_line}"
    );
    for line in [
        format!(
            "hk1e._domainkey.shop.example.\tIN\tTXT\t\"{}\"",
            ed.dns_txt()
        ),
        "shop.example.\tIN\tTXT\t\"v=spf1 include:_spf.mail.hikyaku.test ~all\"".to_string(),
        "_dmarc.shop.example.\tIN\tTXT\t\"v=DMARC1; p=none; adkim=r; aspf=r\"".to_string(),
    ] {
        let noted = format!("{line}\t;");
        assert!(
            text.lines().any(|l| l == line || l.starts_with(&noted)),
            "{line:?} not in\n{text}"
        );
    }
    let theirs = json(&node, &["dns", "records", "--contract", &customer]);
    let rsa_record = theirs["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "hk1r._domainkey.shop.example")
        .unwrap();
    assert_eq!(rsa_record["value"], rsa.dns_txt());
    let (lines, _) = failing_check(&node, &["dns", "check", "--contract", &customer]);
    assert!(lines.contains("missing   DKIM TXT hk1r._domainkey.shop.example: no DKIM key record; fix: publish hk1r._domainkey.shop.example."), "{lines}");
    assert!(
        lines.contains("missing   DMARC TXT _dmarc.shop.example: no DMARC record"),
        "{lines}"
    );
    // The return path's CNAME is served already; a name holds one CNAME.
    dns.remove("bounce.shop.example").await;
    serve(&dns, &theirs).await;
    let lines = node
        .cli_ok(&["dns", "check", "--contract", &customer])
        .unwrap();
    let summary = format!(
        "5 right, 0 missing, 0 wrong, 0 unchecked (asked {})\n",
        dns.addr()
    );
    assert!(lines.ends_with(&summary), "{lines}");

    // The service domain's key is one of the platform's records.
    let (lines, _) = failing_check(&node, &["dns", "check"]);
    assert!(
        lines.contains("missing   DKIM TXT hks1._domainkey.mail.hikyaku.test: no DKIM key record"),
        "{lines}"
    );
    dns.txt("hks1._domainkey.mail.hikyaku.test", &service.dns_txt())
        .await;
    node.cli_ok(&["dns", "check"]).unwrap();

    // A key in DNS that is not ours, and a DMARC policy our mail would fail.
    dns.remove("hk1e._domainkey.shop.example")
        .await
        .txt(
            "hk1e._domainkey.shop.example",
            &PrivateKey::generate(KeyAlgorithm::Ed25519)
                .unwrap()
                .dns_txt(),
        )
        .await;
    dns.remove("_dmarc.shop.example")
        .await
        .txt("_dmarc.shop.example", "v=DMARC1; p=reject; adkim=s; aspf=s")
        .await;
    let (lines, _) = failing_check(&node, &["dns", "check", "--contract", &customer]);
    assert!(lines.contains("wrong     DKIM TXT hk1e._domainkey.shop.example: the key does not match ours: its public key (p=) is not ours; fix: replace it: publish hk1e._domainkey.shop.example."), "{lines}");
    assert!(lines.contains("wrong     DMARC TXT _dmarc.shop.example: \"v=DMARC1; p=reject; adkim=s; aspf=s\": adkim=s: mail From a subdomain of shop.example is signed as shop.example and would fail DMARC; fix: adkim=r"), "{lines}");

    // Mistakes, one after another, each on its own line with the fix.
    dns.remove("11.2.0.192.in-addr.arpa").await;
    let (lines, error) = failing_check(&node, &["dns", "check"]);
    assert!(lines.contains("missing   reverse DNS PTR 11.2.0.192.in-addr.arpa: 192.0.2.11 has no PTR record; fix: ask whoever holds 192.0.2.11 (the hosting provider) to set its PTR to relay2.mail.hikyaku.test\n"), "{lines}");
    assert!(error.contains("1 of 14 records"), "{error}");
    dns.ptr("192.0.2.11", "relay2.mail.hikyaku.test").await;

    dns.txt("bounce.mail.hikyaku.test", "v=spf1 a -all").await;
    let (lines, _) = failing_check(&node, &["dns", "check"]);
    assert!(lines.contains("wrong     bounce SPF TXT bounce.mail.hikyaku.test: 2 SPF records: receivers treat more than one as an error (permerror); fix: merge them into one record"), "{lines}");
    let out = node.cli(&["dns", "check", "--json"]).unwrap();
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (checked["wrong"].as_u64(), checked["right"].as_u64()),
        (Some(1), Some(13))
    );

    dns.remove("smtp.mail.hikyaku.test")
        .await
        .listed_address("smtp.mail.hikyaku.test", "192.0.2.10")
        .await;
    let (lines, _) = failing_check(&node, &["dns", "check"]);
    assert!(lines.contains("wrong     SMTP host A smtp.mail.hikyaku.test: has 192.0.2.10; lacks 2001:db8::10, 192.0.2.11; fix: add smtp.mail.hikyaku.test. AAAA 2001:db8::10, smtp.mail.hikyaku.test. A 192.0.2.11"), "{lines}");
}

#[test]
fn the_commands_say_what_configuration_they_need() {
    let bare = ProcessBuilder::new(BIN).prepare().unwrap();
    let error = String::from_utf8(bare.cli(&["dns", "records"]).unwrap().stderr).unwrap();
    assert!(
        error.contains("no relay nodes are configured: list each one as [[dns.relay_node]]"),
        "{error}"
    );

    let no_resolver = ProcessBuilder::new(BIN)
        .set("", "service_domain", "\"mail.hikyaku.test\"")
        .set("dns", "relay_node", RELAY_NODES)
        .prepare()
        .unwrap();
    no_resolver.cli_ok(&["dns", "records"]).unwrap();
    let out = no_resolver.cli(&["dns", "check"]).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(error.contains("dns.resolver is not set"), "{error}");

    let dns = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let silent = dns.block_on(TestDns::start()).unwrap();
    silent.silent(".");
    let down = ProcessBuilder::new(BIN)
        .set("", "service_domain", "\"mail.hikyaku.test\"")
        .set("dns", "relay_node", RELAY_NODES)
        .set("dns", "resolver", &format!("\"{}\"", silent.addr()))
        .prepare()
        .unwrap();
    let started = std::time::Instant::now();
    let out = down.cli(&["dns", "check"]).unwrap();
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(
        error.contains(&format!(
            "the DNS server {} (dns.resolver) does not answer",
            silent.addr()
        )),
        "{error}"
    );
    assert!(out.stdout.is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    let unknown = no_resolver
        .cli(&["dns", "records", "--contract", "nobody"])
        .unwrap();
    let error = String::from_utf8(unknown.stderr).unwrap();
    assert!(
        error.contains("no contract with customer ID nobody"),
        "{error}"
    );
}
