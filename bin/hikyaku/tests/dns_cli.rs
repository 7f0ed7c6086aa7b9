//! `hikyaku dns records` and `hikyaku dns check` through the real binary, against testkit's DNS
//! server on 127.0.0.1: the records `dns records --json` prints, served as they are, pass
//! `dns check`; each mistake made to them is reported on its own line with its fix, and the
//! command then exits 1.

mod cli_support;

use cli_support::BIN;
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
        error.contains("9 of 9 records are missing, wrong or unchecked"),
        "{error}"
    );

    let records = json(&node, &["dns", "records"]);
    assert_eq!(records["customer_id"], Value::Null);
    assert_eq!(
        records["records"].as_array().unwrap().len(),
        12,
        "{records}"
    );
    serve(&dns, &records).await;
    let lines = node.cli_ok(&["dns", "check"]).unwrap();
    assert!(
        lines.lines().take(9).all(|l| l.starts_with("right ")),
        "{lines}"
    );
    assert!(
        lines.ends_with(&format!(
            "9 right, 0 missing, 0 wrong, 0 unchecked (asked {})\n",
            dns.addr()
        )),
        "{lines}"
    );
    let checked = json(&node, &["dns", "check"]);
    assert_eq!(checked["right"], 9, "{checked}");
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

    // Mistakes, one after another, each on its own line with the fix.
    dns.remove("11.2.0.192.in-addr.arpa").await;
    let (lines, error) = failing_check(&node, &["dns", "check"]);
    assert!(lines.contains("missing   PTR PTR 11.2.0.192.in-addr.arpa: 192.0.2.11 has no PTR record; fix: ask whoever holds 192.0.2.11 (the hosting provider) to set its PTR to relay2.mail.hikyaku.test\n"), "{lines}");
    assert!(error.contains("1 of 9 records"), "{error}");
    dns.ptr("192.0.2.11", "relay2.mail.hikyaku.test").await;

    dns.txt("bounce.mail.hikyaku.test", "v=spf1 a -all").await;
    let (lines, _) = failing_check(&node, &["dns", "check"]);
    assert!(lines.contains("wrong     bounce SPF TXT bounce.mail.hikyaku.test: 2 SPF records: receivers treat more than one as an error (permerror); fix: merge them into one record"), "{lines}");
    let out = node.cli(&["dns", "check", "--json"]).unwrap();
    let checked: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (checked["wrong"].as_u64(), checked["right"].as_u64()),
        (Some(1), Some(8))
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
