//! Contract notices end to end on a real `hikyaku serve` (SQLite, and PostgreSQL when
//! `TEST_DATABASE_URL` is set) delivering to a sink MX: an S/MIME certificate that ends in 20
//! days, installed with the CLI, is noticed by the node's scan and mailed once to the
//! contract's admin (not to its viewer) from the notices address, DKIM-signed with the service
//! domain like any platform mail; `notice list --json` shows it mailed; later scans mail nothing
//! more.

mod delivery_support;

use delivery_support::route_everything;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_testkit::{HikyakuProcess, Sink, TestKey, TestPki};
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_certificate_is_mailed_once_to_the_admins_sqlite() {
    expiring_certificate_is_mailed_once(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_certificate_is_mailed_once_to_the_admins_postgres() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    expiring_certificate_is_mailed_once(Some(database)).await;
}

fn notices(node: &HikyakuProcess, customer: &str) -> Vec<Value> {
    let out = node
        .cli_ok(&["notice", "list", "--contract", customer, "--json"])
        .unwrap();
    serde_json::from_str::<Value>(out.trim()).unwrap()["notices"]
        .as_array()
        .unwrap()
        .clone()
}

async fn expiring_certificate_is_mailed_once(database: Option<PostgresTestDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = TestPki::create(
        dir.path(),
        TestKey::EcdsaP256,
        "Soon Shop",
        None,
        &["shop@example.com"],
        20,
    ) else {
        return;
    };
    let sink = Sink::start().await.unwrap();
    let (node, customer) = delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("", "service_domain", "\"mail.hikyaku.test\"");
        b.set("notices", "poll_interval", "\"200ms\"");
        b.set("notices", "scan_interval", "\"1s\"");
        if let Some(database) = &database {
            b.set("", "database_url", &format!("{:?}", database.url()));
        }
    });
    // The service domain signs the platform's own mail.
    node.cli_ok(&["domain", "add-service", "--algorithm", "ed25519"])
        .unwrap();
    node.cli_ok(&["user", "add", &customer, "--email", "owner@shop.example"])
        .unwrap();
    node.cli_ok(&[
        "user",
        "add",
        &customer,
        "--email",
        "viewer@shop.example",
        "--role",
        "viewer",
    ])
    .unwrap();
    let installed = node
        .cli_ok(&[
            "smime",
            "install",
            &customer,
            "--cert",
            pki.chain.to_str().unwrap(),
            "--key",
            pki.key.to_str().unwrap(),
            "--json",
        ])
        .unwrap();
    let certificate_id = serde_json::from_str::<Value>(installed.trim()).unwrap()["id"]
        .as_i64()
        .unwrap();

    let received = sink
        .wait_for(1, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", node.log()));
    let mail = &received[0];
    assert_eq!(mail.recipients, ["owner@shop.example"]);
    let text = String::from_utf8_lossy(&mail.data);
    assert!(text.contains("notices@mail.hikyaku.test>"), "{text}");
    assert!(
        text.contains(&format!(
            "Subject: S/MIME certificate {certificate_id} expires on"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("({customer})")), "{text}");
    assert!(
        text.contains("DKIM-Signature:") && text.contains("d=mail.hikyaku.test"),
        "{text}"
    );
    // The envelope sender is the platform's VERP return path, as for any mail.
    assert!(
        mail.mail_from.ends_with("@bounce.hikyaku.test"),
        "{}",
        mail.mail_from
    );

    // Several more scans and polls: the same certificate is not noticed or mailed again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.received().len(), 1, "{:?}", sink.received());
    let listed = notices(&node, &customer);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let notice = &listed[0];
    assert_eq!(notice["kind"], "smime_certificate_expiring");
    assert_eq!(notice["key"], certificate_id.to_string());
    assert_eq!(notice["details"]["certificate_id"], certificate_id);
    assert_eq!(notice["mailed_to"], 1);
    assert!(notice["mailed_at"].as_str().is_some(), "{notice}");
    // Every contract's notices, as the operator sees them.
    let out = node.cli_ok(&["notice", "list"]).unwrap();
    assert!(out.contains("smime_certificate_expiring"), "{out}");
    let refused = node
        .cli(&["notice", "list", "--contract", "cnosuchone"])
        .unwrap();
    assert!(!refused.status.success());
}
