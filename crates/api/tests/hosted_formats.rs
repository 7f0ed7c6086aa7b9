//! The hosted service's webhook formats as options of the API's webhook endpoints and inbound
//! routes: taken, shown back (never the `api_key`), and refused with the field at fault when
//! they cannot be, on a real listener over SQLite and PostgreSQL.

mod common;

use common::{Backend, Server};
use hikyaku_model::Role;
use serde_json::json;

#[tokio::test]
async fn hosted_formats_are_endpoint_and_route_options_sqlite() {
    hosted_formats_are_endpoint_and_route_options(Backend::Sqlite).await;
}

#[tokio::test]
async fn hosted_formats_are_endpoint_and_route_options_postgres() {
    hosted_formats_are_endpoint_and_route_options(Backend::Postgres).await;
}

async fn hosted_formats_are_endpoint_and_route_options(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let (_, key) = server.contract_with_key("a", Role::Admin, true).await;

    let r = server
        .post_json(
            "/api/v1/webhooks",
            &key,
            &json!({"url": "https://hooks.example.jp/cmc", "format": "hosted-form",
                    "api_key": "receiver-secret-9"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = server
        .post_json(
            "/api/v1/webhooks",
            &key,
            &json!({"url": "https://hooks.example.jp/std"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let listed = server.get("/api/v1/webhooks", &key).await;
    assert!(
        !listed.text().contains("receiver-secret-9"),
        "{}",
        listed.text()
    );
    let endpoints = listed.json()["endpoints"].clone();
    assert_eq!(endpoints[0]["format"], "hosted-form");
    assert_eq!(endpoints[0]["api_key_set"], true);
    let kinds = endpoints[0]["events"].as_array().unwrap();
    assert_eq!(kinds.len(), 8, "every kind but inbound: {kinds:?}");
    assert!(!kinds.contains(&json!("inbound")));
    assert_eq!(endpoints[1]["format"], "standard");
    assert_eq!(endpoints[1]["api_key_set"], false);
    assert_eq!(endpoints[1]["events"].as_array().unwrap().len(), 9);

    for (body, field) in [
        (
            json!({"url": "https://h.example.jp/", "format": "sendgrid"}),
            "format",
        ),
        (
            json!({"url": "https://h.example.jp/", "format": "hosted-json", "events": ["inbound"]}),
            "events",
        ),
        (
            json!({"url": "https://h.example.jp/", "api_key": "k"}),
            "api_key",
        ),
        (
            json!({"url": "https://h.example.jp/", "format": "hosted-json", "api_key": "two words"}),
            "api_key",
        ),
    ] {
        let r = server.post_json("/api/v1/webhooks", &key, &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
    assert_eq!(
        server.get("/api/v1/webhooks", &key).await.json()["endpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = server
        .post_json(
            "/api/v1/settings/inbound-routes",
            &key,
            &json!({"pattern": "support@example.jp", "endpoint": "https://hooks.example.jp/in",
                    "format": "hosted-multipart", "api_key": "route-key-3"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["format"], "hosted-multipart");
    assert_eq!(r.json()["forward_raw"], false);
    let r = server
        .post_json(
            "/api/v1/settings/inbound-routes",
            &key,
            &json!({"pattern": "raw.example.jp", "endpoint": "https://hooks.example.jp/raw",
                    "forward_raw": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let listed = server.get("/api/v1/settings/inbound-routes", &key).await;
    assert!(!listed.text().contains("route-key-3"), "{}", listed.text());
    let routes = listed.json()["data"].clone();
    assert_eq!(routes[0]["format"], "hosted-multipart");
    assert_eq!(routes[0]["api_key_set"], true);
    assert_eq!(routes[1]["format"], "raw");
    assert_eq!(routes[1]["forward_raw"], true);
    assert_eq!(routes[1]["api_key_set"], false);

    for (body, field) in [
        (
            json!({"pattern": "a.example.jp", "endpoint": "https://h.example.jp/", "format": "xml"}),
            "format",
        ),
        (
            json!({"pattern": "b.example.jp", "endpoint": "https://h.example.jp/",
                   "format": "hosted-json", "forward_raw": true}),
            "forward_raw",
        ),
        (
            json!({"pattern": "c.example.jp", "endpoint": "https://h.example.jp/", "api_key": "k"}),
            "api_key",
        ),
        (
            json!({"pattern": "d.example.jp", "endpoint": "https://h.example.jp/",
                   "format": "hosted-json", "api_key": ""}),
            "api_key",
        ),
    ] {
        let r = server
            .post_json("/api/v1/settings/inbound-routes", &key, &body)
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
}
