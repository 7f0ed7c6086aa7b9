//! `hikyaku domain` on both backends: a domain added with its key and record, listed and
//! shown, refused twice and for another contract; a key rotation that switches only once
//! `domain verify` sees the new record in DNS (a DNS server on 127.0.0.1), the old key kept
//! until `domain remove-key`; `contract set --unregistered-from`.

mod cli_support;

use cli_support::{fails, json, on_both_backends};
use hikyaku_testkit::{Prepared, ProcessBuilder, TestDns};

on_both_backends!(domains_are_added_listed_and_removed);

fn contract(node: &Prepared, name: &str) -> String {
    json(node, &["contract", "create", "--name", name])["customer_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn domains_are_added_listed_and_removed(node: &Prepared) {
    let a = contract(node, "A");
    let b = contract(node, "B");
    let added = json(
        node,
        &["domain", "add", &a, "Example.COM", "--algorithm", "dual"],
    );
    assert_eq!(added["domain"], "example.com");
    assert_eq!(added["algorithm"], "dual");
    let keys = added["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{added}");
    let selector = keys[0]["selector"].as_str().unwrap();
    assert!(
        selector.starts_with("hk") && selector.ends_with('r'),
        "{selector}"
    );
    assert_eq!(
        keys[0]["record_name"],
        format!("{selector}._domainkey.example.com")
    );
    assert!(
        keys[0]["record"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=rsa; p=MIIB")
    );
    assert!(
        keys[1]["record"]
            .as_str()
            .unwrap()
            .starts_with("v=DKIM1; k=ed25519; p=")
    );
    assert!(keys.iter().all(|k| k["state"] == "active"));
    // The text form prints the records as zone-file lines, the 2048-bit one in two strings.
    let text = node
        .cli_ok(&[
            "domain",
            "add",
            &a,
            "news.example.net",
            "--selector",
            "mail2026",
        ])
        .unwrap();
    assert!(
        text.contains("mail2026._domainkey.news.example.net. IN TXT \"v=DKIM1; k=rsa; p="),
        "{text}"
    );
    assert!(text.contains("\" \""), "a 2048-bit record is split: {text}");

    let err = fails(node, &["domain", "add", &b, "example.com"]);
    assert!(err.contains("already registered"), "{err}");
    let err = fails(node, &["domain", "add", &a, "not a domain"]);
    assert!(err.contains("sender domain"), "{err}");
    let err = fails(
        node,
        &["domain", "add", &a, "x.example", "--algorithm", "rsa-512"],
    );
    assert!(err.contains("rsa-512"), "{err}");

    let listed = json(node, &["domain", "list", &a]);
    let names: Vec<&str> = listed["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["example.com", "news.example.net"]);
    assert_eq!(
        json(node, &["domain", "list", &b])["domains"],
        serde_json::json!([])
    );
    let shown = json(node, &["domain", "show", &a, "example.com"]);
    assert_eq!(shown, added);
    // Private keys are never shown.
    let all = node
        .cli_ok(&["domain", "show", &a, "example.com", "--json"])
        .unwrap();
    assert!(!all.contains("PRIVATE"), "{all}");
    let err = fails(node, &["domain", "show", &b, "example.com"]);
    assert!(err.contains("has no sender domain"), "{err}");
    let shown = json(node, &["contract", "show", &a]);
    assert_eq!(
        shown["sender_domains"],
        serde_json::json!(["example.com", "news.example.net"])
    );
    assert_eq!(shown["unregistered_from"], "sign-as-service");
    let set = json(
        node,
        &["contract", "set", &a, "--unregistered-from", "refuse"],
    );
    assert_eq!(set["unregistered_from"], "refuse");
    assert_eq!(
        json(node, &["contract", "show", &a])["unregistered_from"],
        "refuse"
    );
    let err = fails(
        node,
        &["contract", "set", &a, "--unregistered-from", "maybe"],
    );
    assert!(err.contains("maybe"), "{err}");

    assert!(json(node, &["domain", "remove", &a, "news.example.net"])["removed"].is_string());
    let err = fails(node, &["domain", "remove", &a, "news.example.net"]);
    assert!(err.contains("has no sender domain"), "{err}");
    // The service domain needs service_domain in the configuration.
    let err = fails(node, &["domain", "add-service"]);
    assert!(err.contains("service_domain"), "{err}");
}

/// The rotation against a real DNS server: pending until its record is published, then
/// active with the old key retired, which `remove-key` then removes.
#[test]
fn rotation_switches_when_the_new_record_is_seen_in_dns() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dns = runtime.block_on(TestDns::start()).unwrap();
    let node = ProcessBuilder::new(cli_support::BIN)
        .set("delivery", "resolver", &format!("\"{}\"", dns.addr()))
        .prepare()
        .unwrap();
    let a = contract(&node, "A");
    let added = json(
        &node,
        &["domain", "add", &a, "example.com", "--selector", "old"],
    );
    let old_record = added["keys"][0]["record"].as_str().unwrap().to_string();

    // Nothing published yet: verify says so and changes nothing.
    let verified = json(&node, &["domain", "verify", &a, "example.com"]);
    assert_eq!(verified["checks"][0]["status"], "missing", "{verified}");
    assert_eq!(verified["switched"], false);
    runtime.block_on(dns.txt("old._domainkey.example.com", &old_record));
    let verified = json(&node, &["domain", "verify", &a, "example.com"]);
    assert_eq!(verified["checks"][0]["status"], "published", "{verified}");

    let rotated = json(&node, &["domain", "rotate-key", &a, "example.com"]);
    let keys = rotated["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1]["state"], "pending");
    let new_selector = keys[1]["selector"].as_str().unwrap().to_string();
    let new_record = keys[1]["record"].as_str().unwrap().to_string();
    let err = fails(&node, &["domain", "rotate-key", &a, "example.com"]);
    assert!(err.contains("pending"), "{err}");

    // The new record is not there, or is there with another key: no switch.
    let verified = json(&node, &["domain", "verify", &a, "example.com"]);
    assert_eq!(verified["switched"], false, "{verified}");
    assert_eq!(verified["checks"][1]["status"], "missing", "{verified}");
    let new_name = format!("{new_selector}._domainkey.example.com");
    runtime.block_on(dns.txt(&new_name, &old_record));
    let verified = json(&node, &["domain", "verify", &a, "example.com"]);
    assert_eq!(verified["checks"][1]["status"], "mismatch", "{verified}");
    assert_eq!(verified["switched"], false);
    assert_eq!(
        json(&node, &["domain", "show", &a, "example.com"])["keys"][1]["state"],
        "pending"
    );

    runtime.block_on(async {
        dns.remove(&new_name).await;
        dns.txt(&new_name, &new_record).await;
    });
    let verified = json(&node, &["domain", "verify", &a, "example.com"]);
    assert_eq!(verified["switched"], true, "{verified}");
    let states: Vec<(String, String)> = json(&node, &["domain", "show", &a, "example.com"])["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["selector"].as_str().unwrap().to_string(),
                k["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("old".to_string(), "retired".to_string()),
            (new_selector.clone(), "active".to_string())
        ]
    );
    let err = fails(
        &node,
        &["domain", "remove-key", &a, "example.com", &new_selector],
    );
    assert!(err.contains("active"), "{err}");
    json(&node, &["domain", "remove-key", &a, "example.com", "old"]);
    let keys = json(&node, &["domain", "show", &a, "example.com"])["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
}
