//! The REST API as `hikyaku serve` runs it: keys made with the CLI open it, what the API writes
//! the CLI reads, and the document and reference page are served.

use hikyaku_testkit::ProcessBuilder;
use serde_json::{Value, json};
use std::net::SocketAddr;

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

/// One request on its own connection: the status and the body.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let body = body.map(|b| b.to_string());
    let answer = hikyaku_testkit::http_call(addr, method, path, key, &[], body.as_deref()).unwrap();
    (answer.status, answer.body)
}

fn cli_json(node: &hikyaku_testkit::HikyakuProcess, args: &[&str]) -> Value {
    let out = node.cli_ok(args).unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[test]
fn keys_made_with_the_cli_open_the_api_of_the_running_node() {
    let node = ProcessBuilder::new(BIN)
        .start()
        .expect("hikyaku serve starts");
    let http = node.http_addr();
    let customer =
        cli_json(&node, &["contract", "create", "--name", "Acme", "--json"])["customer_id"]
            .as_str()
            .unwrap()
            .to_string();
    let created = cli_json(
        &node,
        &[
            "api-key",
            "create",
            &customer,
            "--name",
            "app",
            "--role",
            "sender",
            "--see-addresses",
            "--json",
        ],
    );
    let key = created["key"].as_str().unwrap().to_string();
    let operator = cli_json(
        &node,
        &["operator-key", "create", "--name", "ops", "--json"],
    )["key"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, body) = call(http, "GET", "/api/v1/suppressions", None, None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        "unauthorized"
    );

    let (status, body) = call(
        http,
        "POST",
        "/api/v1/suppressions",
        Some(&key),
        Some(&json!({"address": "Taro@example.jp", "reason": "asked"})),
    );
    assert_eq!(status, 201, "{body}");
    let listed = node
        .cli_ok(&["suppression", "list", &customer, "--json"])
        .unwrap();
    assert!(
        listed.contains("Taro@example.jp"),
        "the CLI sees what the API added: {listed}"
    );

    let (status, body) = call(
        http,
        "GET",
        "/api/v1/operator/contracts",
        Some(&operator),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&customer));
    let (status, _) = call(http, "GET", "/api/v1/operator/contracts", Some(&key), None);
    assert_eq!(status, 403);

    let (status, body) = call(http, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["paths"]["/suppressions"].is_object());
    let (status, body) = call(http, "GET", "/api/v1/docs", None, None);
    assert_eq!(status, 200);
    assert!(body.contains("redoc.standalone.js"));
}
