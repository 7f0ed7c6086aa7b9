//! The API's frame over real HTTP: every failure class answers JSON, unknown fields are named,
//! the body limit, the rate limit, pagination under inserts, masking, the document and its page.

mod common;

use common::{Backend, Server, segment};
use hikyaku_model::Role;
use serde_json::json;

const DEFAULT: &str = "";

#[tokio::test]
async fn every_failure_class_answers_json() {
    let server = Server::start(Backend::Sqlite, "[api]\nmax_body_bytes = \"2KiB\"\n")
        .await
        .unwrap();
    let (_, admin) = server.contract_with_key("a", Role::Admin, true).await;
    let (customer, viewer) = server.contract_with_key("b", Role::Viewer, true).await;

    // 401: no key, a malformed header, an unknown key, a revoked key.
    let r = server
        .call("GET", "/api/v1/suppressions", None, None, b"")
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    let r = server
        .call("GET", "/api/v1/suppressions", Some(""), None, b"")
        .await;
    assert_eq!(r.status, 401);
    r.error_code();
    let r = server.get("/api/v1/suppressions", "hk_nobody").await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));
    let revoked = server.key_for(&customer, Role::Admin, false);
    assert_eq!(
        server.get("/api/v1/suppressions", &revoked).await.status,
        200
    );
    server.keys.revoke(&revoked);
    let r = server.get("/api/v1/suppressions", &revoked).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));

    // 403: a role the table refuses.
    let r = server
        .post_json(
            "/api/v1/suppressions",
            &viewer,
            &json!({"address": "x@example.jp"}),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));

    // 404 and 405 from the router itself.
    let r = server.get("/api/v1/nothing-here", &admin).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (404, "route_not_found")
    );
    let r = server
        .call("PUT", "/api/v1/suppressions", Some(&admin), None, b"")
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (405, "method_not_allowed")
    );

    let r = server
        .call("HEAD", "/api/v1/suppressions", Some(&viewer), None, b"")
        .await;
    assert_eq!(r.status, 200, "HEAD may what GET may");

    // 404 of a resource.
    let r = server
        .get(
            &format!("/api/v1/suppressions/{}", segment("no@example.jp")),
            &admin,
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (404, "not_found"));

    // 415, 400, 422 for bodies.
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions",
            Some(&admin),
            Some("text/plain"),
            b"x",
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions",
            Some(&admin),
            None,
            br#"{"address":"a@b.jp"}"#,
        )
        .await;
    assert_eq!(r.status, 415);
    r.error_code();
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions",
            Some(&admin),
            Some("application/json"),
            b"{\"address\":",
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_json"));
    let r = server
        .post_json(
            "/api/v1/suppressions",
            &admin,
            &json!({"address": "a@example.jp", "adress": "typo"}),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (422, "unknown_field"));
    assert_eq!(r.json()["error"]["field"], "adress");
    let r = server
        .post_json(
            "/api/v1/suppressions",
            &admin,
            &json!({"address": "not an address"}),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_field"));
    assert_eq!(r.json()["error"]["field"], "address");
    let r = server
        .post_json(
            "/api/v1/suppressions/import",
            &admin,
            &json!({"entries": [{"address": "a@example.jp"}, {"address": "b@example.jp", "x": 1}]}),
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "entries[1].x");
    let r = server
        .post_json(
            "/api/v1/suppressions/import",
            &admin,
            &json!({"entries": [{"address": "a@example.jp"}, {"address": "b"}]}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (422, Some("entries[1].address"))
    );

    // 413 over api.max_body_bytes.
    let big = json!({"entries": (0..200).map(|i| json!({"address": format!("user{i}@example.jp")})).collect::<Vec<_>>()});
    let r = server
        .post_json("/api/v1/suppressions/import", &admin, &big)
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));
    // Also when the length is not declared (chunked): the limit counts what arrives.
    let r = server
        .call_chunked(
            "/api/v1/suppressions/import",
            &admin,
            big.to_string().as_bytes(),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));

    // 400 for bad query parameters and foreign cursors.
    for query in ["limit=0", "limit=abc", "cursor=%40%40", "unknown=1"] {
        let r = server
            .get(&format!("/api/v1/suppressions?{query}"), &admin)
            .await;
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        r.error_code();
    }

    // 409: a conflict.
    let body = json!({"username": "relay-user", "password": "correct horse battery"});
    let r = server
        .post_json("/api/v1/settings/smtp-credentials", &admin, &body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = server
        .post_json("/api/v1/settings/smtp-credentials", &admin, &body)
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "already_exists"));
    assert_eq!(r.json()["error"]["field"], "username");
}

#[tokio::test]
async fn a_key_over_its_rate_is_told_when_to_come_back() {
    let server = Server::start(
        Backend::Sqlite,
        "[api]\nrequests_per_second = 0.5\nburst = 3\n",
    )
    .await
    .unwrap();
    let (customer, key) = server.contract_with_key("a", Role::Viewer, false).await;
    for _ in 0..3 {
        assert_eq!(server.get("/api/v1/suppressions", &key).await.status, 200);
    }
    let r = server.get("/api/v1/suppressions", &key).await;
    assert_eq!((r.status, r.error_code().as_str()), (429, "rate_limited"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // Another key of the same contract has its own bucket.
    let other = server.key_for(&customer, Role::Viewer, false);
    assert_eq!(server.get("/api/v1/suppressions", &other).await.status, 200);
}

async fn pagination_returns_every_entry_once_under_inserts(backend: Backend) {
    let Some(server) = Server::start(backend, DEFAULT).await else {
        return;
    };
    let (_, key) = server.contract_with_key("a", Role::Admin, true).await;
    let originals: Vec<String> = (0..230).map(|i| format!("user{i}@example.jp")).collect();
    let entries: Vec<_> = originals.iter().map(|a| json!({"address": a})).collect();
    let r = server
        .post_json(
            "/api/v1/suppressions/import",
            &key,
            &json!({"entries": entries}),
        )
        .await;
    assert_eq!(r.json(), json!({"received": 230, "added": 230}));

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/suppressions?limit=37&cursor={c}"),
            None => "/api/v1/suppressions?limit=37".to_string(),
        };
        let page = server.get(&path, &key).await.json();
        pages += 1;
        for entry in page["data"].as_array().unwrap() {
            seen.push(entry["address"].as_str().unwrap().to_string());
        }
        // New entries arrive between pages, before and after the reader's position.
        let r = server
            .post_json(
                "/api/v1/suppressions",
                &key,
                &json!({"address": format!("late{pages}@example.jp")}),
            )
            .await;
        assert_eq!(r.status, 201);
        match page["next_cursor"].as_str() {
            Some(next) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(next)
                    .unwrap();
                // A position, not an address (its bytes are a keyed hash: any byte may occur).
                for text in [&b"example.jp"[..], b"user", b"late"] {
                    assert!(!bytes.windows(text.len()).any(|w| w == text), "{next}");
                }
                cursor = Some(next.to_string());
            }
            None => break,
        }
    }
    for address in &originals {
        assert_eq!(
            seen.iter().filter(|s| *s == address).count(),
            1,
            "{address}"
        );
    }
    assert!(pages >= 7);
}

#[tokio::test]
async fn pagination_returns_every_entry_once_under_inserts_sqlite() {
    pagination_returns_every_entry_once_under_inserts(Backend::Sqlite).await;
}

#[tokio::test]
async fn pagination_returns_every_entry_once_under_inserts_postgres() {
    pagination_returns_every_entry_once_under_inserts(Backend::Postgres).await;
}

#[tokio::test]
async fn addresses_are_masked_unless_the_key_may_see_them() {
    let server = Server::start(Backend::Sqlite, DEFAULT).await.unwrap();
    let (customer, clear) = server.contract_with_key("a", Role::Admin, true).await;
    let masked = server.key_for(&customer, Role::Admin, false);
    let r = server
        .post_json(
            "/api/v1/suppressions",
            &masked,
            &json!({"address": "taro@example.jp", "reason": "moved"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["address"], "t***@example.jp");
    let list = server.get("/api/v1/suppressions", &masked).await;
    assert!(!list.text().contains("taro"), "{}", list.text());
    assert_eq!(list.json()["data"][0]["address"], "t***@example.jp");
    let one = server
        .get(
            &format!("/api/v1/suppressions/{}", segment("TARO@example.jp")),
            &masked,
        )
        .await;
    assert_eq!(one.json()["address"], "t***@example.jp");
    let csv = server
        .get("/api/v1/suppressions/export?format=csv", &masked)
        .await;
    assert!(csv.text().contains("t***@example.jp") && !csv.text().contains("taro"));
    let list = server.get("/api/v1/suppressions", &clear).await;
    assert_eq!(list.json()["data"][0]["address"], "taro@example.jp");

    let route = json!({"pattern": "support@example.jp", "endpoint": "https://hooks.example.jp/in"});
    let r = server
        .post_json("/api/v1/settings/inbound-routes", &masked, &route)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["pattern"], "s***@example.jp");
    let r = server.get("/api/v1/settings/inbound-routes", &clear).await;
    assert_eq!(r.json()["data"][0]["pattern"], "support@example.jp");
}

#[tokio::test]
async fn the_document_and_its_reference_page_are_served_from_the_binary() {
    let server = Server::start(Backend::Sqlite, DEFAULT).await.unwrap();
    let r = server
        .call("GET", "/api/v1/openapi.json", None, None, b"")
        .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    assert!(doc["paths"]["/suppressions"]["get"].is_object());
    let page = server.call("GET", "/api/v1/docs", None, None, b"").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().contains("/api/v1/openapi.json"));
    assert!(!page.text().contains("http://") && !page.text().contains("https://"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    let script = server
        .call("GET", "/api/v1/docs/redoc.standalone.js", None, None, b"")
        .await;
    assert_eq!(script.status, 200);
    assert!(script.body.len() > 500_000);
    // The health routes are still where they were.
    assert_eq!(
        server.call("GET", "/healthz", None, None, b"").await.status,
        200
    );
}
