//! `hikyaku inbound` as the real binary: routes added, listed and removed, the attempt log, on
//! SQLite and PostgreSQL; and `hikyaku serve` posting queued inbound mail to an endpoint on
//! 127.0.0.1 with the `[inbound]` settings, then stopping cleanly.

mod cli_support;

use cli_support::{fails, json};
use hikyaku_model::Timestamp;
use hikyaku_store::testing::PostgresTestDatabase;
use hikyaku_store::{InboundAttempt, InboundNext, NewInboundPost, SealingKey, Store};
use hikyaku_testkit::{Prepared, ProcessBuilder};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hikyaku");

async fn store_of(node: &Prepared, database_url: Option<&str>) -> Store {
    let key = SealingKey::load_or_create(&node.data_dir.join("secret.key")).unwrap();
    let url = database_url.map_or_else(
        || format!("sqlite://{}", node.data_dir.join("hikyaku.db").display()),
        str::to_string,
    );
    Store::connect(&url, key).await.unwrap()
}

async fn routes_and_log(node: Prepared, database_url: Option<&str>) {
    let customer = node
        .cli_ok(&["contract", "create", "--name", "Inbound Co"])
        .unwrap()
        .trim()
        .to_string();
    let added = json(
        &node,
        &[
            "inbound",
            "route",
            "add",
            &customer,
            "Support@Example.COM",
            "http://127.0.0.1:9/in",
        ],
    );
    let first_id = added["id"].as_i64().unwrap();
    assert_eq!(added["customer_id"], customer.as_str());
    assert_eq!(added["pattern"], "Support@example.com");
    assert_eq!(added["endpoint"], "http://127.0.0.1:9/in");
    assert_eq!(added["forward_raw"], false);
    let secret = added["signing_secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);

    let text = node
        .cli_ok(&[
            "inbound",
            "route",
            "add",
            &customer,
            "*.example.net",
            "https://hooks.example.net/raw",
            "--raw",
        ])
        .unwrap();
    assert!(text.contains("pattern:     *.example.net"), "{text}");
    assert!(text.contains("format:      raw"), "{text}");
    assert!(text.contains("secret:"), "{text}");

    let refusals: [(Vec<&str>, &str); 6] = [
        (
            vec![
                "inbound",
                "route",
                "add",
                &customer,
                "not a pattern",
                "http://127.0.0.1/",
            ],
            "invalid inbound route pattern",
        ),
        (
            vec![
                "inbound",
                "route",
                "add",
                &customer,
                "example.org",
                "ftp://127.0.0.1/",
            ],
            "invalid inbound endpoint",
        ),
        (
            vec![
                "inbound",
                "route",
                "add",
                &customer,
                "SUPPORT@example.com",
                "http://127.0.0.1/",
            ],
            "already taken",
        ),
        (
            vec![
                "inbound",
                "route",
                "add",
                "cnothere1",
                "example.org",
                "http://127.0.0.1/",
            ],
            "no contract",
        ),
        (
            vec!["inbound", "route", "remove", "999999"],
            "no inbound route with ID 999999",
        ),
        (vec!["inbound", "route", "list", "cnothere1"], "no contract"),
    ];
    for (args, needle) in refusals {
        let stderr = fails(&node, &args);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }

    let listed = json(&node, &["inbound", "route", "list"]);
    let routes = listed["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0]["id"], first_id);
    assert_eq!(routes[0]["signing_secret"], secret.as_str());
    assert_eq!(routes[1]["forward_raw"], true);
    let table = node
        .cli_ok(&["inbound", "route", "list", &customer])
        .unwrap();
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("Support@example.com") && table.contains("*.example.net"));
    assert!(
        table.contains(" json ") && table.contains(" raw "),
        "{table}"
    );

    // The attempt log, with attempts the poster would have made.
    assert_eq!(
        json(&node, &["inbound", "log"]),
        serde_json::json!({ "attempts": [] })
    );
    let store = store_of(&node, database_url).await;
    let route = store.inbound_route(first_id).await.unwrap().unwrap();
    let queued = store
        .enqueue_inbound(NewInboundPost {
            route: &route,
            mail_from: "a@example.org",
            recipient: "support@example.com",
            message: b"Subject: x\r\n\r\nx\r\n",
            received_at: Timestamp(1_000),
        })
        .await
        .unwrap();
    for (at, status, error, next) in [
        (
            2_000,
            None,
            Some("cannot connect to 127.0.0.1:9: refused"),
            InboundNext::RetryAt(Timestamp(3_000)),
        ),
        (
            3_000,
            Some(500),
            None,
            InboundNext::RetryAt(Timestamp(4_000)),
        ),
        (4_000, Some(202), None, InboundNext::Delivered),
    ] {
        store
            .record_inbound_attempt(
                queued.post_id,
                &InboundAttempt {
                    at: Timestamp(at),
                    http_status: status,
                    error: error.map(str::to_string),
                    duration: Duration::from_millis(7),
                },
                next,
            )
            .await
            .unwrap();
    }
    store.close().await;
    let log = json(&node, &["inbound", "log", "--route", &first_id.to_string()]);
    let attempts = log["attempts"].as_array().unwrap();
    let summary: Vec<(u64, Value, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["attempt"].as_u64().unwrap(),
                a["http_status"].clone(),
                a["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (3, Value::from(202), "delivered"),
            (2, Value::from(500), "pending"),
            (1, Value::Null, "pending"),
        ]
    );
    assert_eq!(
        attempts[2]["error"],
        "cannot connect to 127.0.0.1:9: refused"
    );
    assert_eq!(attempts[0]["message_id"], queued.message_id.to_string());
    assert_eq!(attempts[0]["duration_ms"], 7);
    assert_eq!(attempts[0]["at"], Timestamp(4_000).to_string(), "RFC 3339");
    let other_route = routes[1]["id"].as_i64().unwrap().to_string();
    assert_eq!(
        json(&node, &["inbound", "log", "--route", &other_route])["attempts"],
        serde_json::json!([])
    );
    let text = node.cli_ok(&["inbound", "log", "--limit", "2"]).unwrap();
    assert_eq!(text.lines().count(), 3, "a header and two attempts: {text}");
    assert!(
        text.contains("202") && text.contains("delivered") && text.contains("7ms"),
        "{text}"
    );

    let removed = json(
        &node,
        &["inbound", "route", "remove", &first_id.to_string()],
    );
    assert_eq!(removed["removed"]["id"], first_id);
    let listed = json(&node, &["inbound", "route", "list", &customer]);
    assert_eq!(listed["routes"].as_array().unwrap().len(), 1);
    assert_eq!(
        json(&node, &["inbound", "log"])["attempts"],
        serde_json::json!([]),
        "the log goes with its route"
    );

    // The hosted service's format, with the key its receiver checks (never printed back).
    let hosted = json(
        &node,
        &[
            "inbound",
            "route",
            "add",
            &customer,
            "hosted.example.org",
            "https://hooks.example.net/cmc",
            "--format",
            "hosted-multipart",
            "--api-key",
            "receiver-key-5",
        ],
    );
    assert_eq!(hosted["format"], "hosted-multipart");
    assert_eq!(hosted["forward_raw"], false);
    let listed = node
        .cli_ok(&["inbound", "route", "list", &customer, "--json"])
        .unwrap();
    assert!(listed.contains("hosted-multipart"), "{listed}");
    assert!(!listed.contains("receiver-key-5"), "{listed}");
    for (args, needle) in [
        (
            vec![
                "inbound",
                "route",
                "add",
                &customer,
                "k.example.org",
                "https://h.example.net/",
                "--api-key",
                "k",
            ],
            "--api-key goes with --format hosted-json or hosted-multipart",
        ),
        (
            vec![
                "inbound",
                "route",
                "add",
                &customer,
                "f.example.org",
                "https://h.example.net/",
                "--format",
                "xml",
            ],
            "xml",
        ),
    ] {
        let stderr = fails(&node, &args);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_routes_and_log_on_sqlite() {
    let node = ProcessBuilder::new(BIN).prepare().unwrap();
    routes_and_log(node, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_routes_and_log_on_postgres() {
    let Some(database) = PostgresTestDatabase::create().await else {
        return;
    };
    let node = ProcessBuilder::new(BIN)
        .set("", "database_url", &format!("{:?}", database.url()))
        .prepare()
        .unwrap();
    routes_and_log(node, Some(database.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_posts_inbound_mail_until_accepted() {
    // The endpoint answers 500 once, then 200.
    let statuses = Arc::new(Mutex::new(vec![500u16]));
    let bodies = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let app = {
        let (statuses, bodies) = (statuses.clone(), bodies.clone());
        axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (statuses, bodies) = (statuses.clone(), bodies.clone());
            async move {
                bodies.lock().unwrap().push(body.to_vec());
                let status = statuses.lock().unwrap().pop().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/inbound", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let node = ProcessBuilder::new(BIN)
        .set("inbound", "retry_initial", "\"100ms\"")
        .set("inbound", "retry_max", "\"200ms\"")
        .start()
        .unwrap();
    let customer = node
        .cli_ok(&["contract", "create", "--name", "Served"])
        .unwrap()
        .trim()
        .to_string();
    let added = node
        .cli_ok(&[
            "inbound",
            "route",
            "add",
            &customer,
            "example.com",
            &endpoint,
            "--json",
        ])
        .unwrap();
    let route_id = serde_json::from_str::<Value>(&added).unwrap()["id"]
        .as_i64()
        .unwrap();

    // The error server's part, done through the library: the running node's poster picks it up.
    let key = SealingKey::load_or_create(&node.data_dir().join("secret.key")).unwrap();
    let store = Store::connect(
        &format!("sqlite://{}", node.data_dir().join("hikyaku.db").display()),
        key,
    )
    .await
    .unwrap();
    let route = store
        .inbound_route_for("x@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(route.id, route_id);
    store
        .enqueue_inbound(NewInboundPost {
            route: &route,
            mail_from: "s@example.org",
            recipient: "x@example.com",
            message: b"Subject: served\r\n\r\nhello\r\n",
            received_at: Timestamp::now(),
        })
        .await
        .unwrap();
    store.close().await;

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let attempts = loop {
        let log: Value =
            serde_json::from_str(&node.cli_ok(&["inbound", "log", "--json"]).unwrap()).unwrap();
        let attempts = log["attempts"].as_array().unwrap().clone();
        if attempts
            .first()
            .is_some_and(|a| a["outcome"] == "delivered")
        {
            break attempts;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {attempts:?}\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[1]["http_status"], 500);
    assert_eq!(attempts[0]["http_status"], 200);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    let document: Value = serde_json::from_slice(&bodies[1]).unwrap();
    assert_eq!(document["subject"], "served");
    assert_eq!(document["text"], "hello\r\n");

    let (status, _) = node.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}");
}

/// An endpoint's credentials are kept for the POSTs but never printed: text, JSON, list and
/// remove show them masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_credentials_are_printed_masked() {
    let node = ProcessBuilder::new(BIN).prepare().unwrap();
    let customer = node
        .cli_ok(&["contract", "create", "--name", "Hooked"])
        .unwrap()
        .trim()
        .to_string();
    let url = "https://hook-user:hunter2-secret@hooks.example.net/in";
    let masked = "https://hook-user:****@hooks.example.net/in";
    let text = node
        .cli_ok(&["inbound", "route", "add", &customer, "example.org", url])
        .unwrap();
    assert!(text.contains(masked) && !text.contains("hunter2"), "{text}");
    let added = json(
        &node,
        &["inbound", "route", "add", &customer, "example.net", url],
    );
    assert_eq!(added["endpoint"], masked);
    let listed = json(&node, &["inbound", "route", "list"]);
    for route in listed["routes"].as_array().unwrap() {
        assert_eq!(route["endpoint"], masked);
    }
    let table = node.cli_ok(&["inbound", "route", "list"]).unwrap();
    assert!(
        table.contains(masked) && !table.contains("hunter2"),
        "{table}"
    );
    let id = added["id"].as_i64().unwrap();
    let removed = json(&node, &["inbound", "route", "remove", &id.to_string()]);
    assert_eq!(removed["removed"]["endpoint"], masked);

    // The poster still has the whole URL.
    let store = store_of(&node, None).await;
    let route = store.inbound_routes(None).await.unwrap().remove(0);
    assert_eq!(route.endpoint, url);
    store.close().await;
}
