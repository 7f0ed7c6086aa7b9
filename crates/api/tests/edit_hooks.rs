//! Editing a webhook endpoint and an inbound route in place (`PATCH`), over a real listener on
//! SQLite and PostgreSQL: the fields given change and the rest stay (the secrets too), the
//! result is checked as a new one is, a hosted format's `api_key` comes and goes, an endpoint
//! is turned off and on, roles the table refuses are refused, and another contract's endpoint
//! or route is not found and stays as it was.

mod common;

use common::{Backend, Server, on_both_backends};
use hikyaku_model::{CustomerId, Role};
use hikyaku_store::WebhookEndpoint;
use serde_json::{Value, json};

/// A server with contracts A and B, each with an admin's key.
async fn two_admins(backend: Backend) -> Option<(Server, [(CustomerId, String); 2])> {
    let server = Server::start(backend, "").await?;
    let a = server.contract_with_key("a", Role::Admin, true).await;
    let b = server.contract_with_key("b", Role::Admin, true).await;
    Some((server, [a, b]))
}

/// Posts `new` to `collection` with `key`: the new record's ID and its path.
async fn created(server: &Server, key: &str, collection: &str, new: Value) -> (i64, String) {
    let reply = server.post_json(collection, key, &new).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let id = reply.json()["id"].as_i64().unwrap();
    (id, format!("{collection}/{id}"))
}

async fn stored_endpoint(server: &Server, customer: &CustomerId, id: i64) -> WebhookEndpoint {
    server
        .store
        .webhook_endpoint(customer, id)
        .await
        .unwrap()
        .expect("the endpoint is stored")
}

async fn webhook_endpoints_are_edited_in_place(backend: Backend) {
    let Some((server, [(a, admin), (_, other)])) = two_admins(backend).await else {
        return;
    };
    let (id, path) = created(
        &server,
        &admin,
        "/api/v1/webhooks",
        json!({"url": "https://hooks.example.jp/one", "events": ["delivered"]}),
    )
    .await;
    let sender = server.key_for(&a, Role::Sender, true);
    let secret = stored_endpoint(&server, &a, id).await.secret;

    // Only what is given changes; the secret stays.
    let r = server
        .patch_json(
            &path,
            &admin,
            &json!({"url": "https://hooks.example.jp/two", "events": ["bounced", "expired"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["events"], json!(["bounced", "expired"]));
    assert_eq!(r.json()["one_per_request"], false);
    let stored = stored_endpoint(&server, &a, id).await;
    assert_eq!(stored.url, "https://hooks.example.jp/two");
    assert_eq!(stored.secret, secret, "an edit keeps the secret");
    let r = server
        .patch_json(&path, &admin, &json!({"one_per_request": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let stored = stored_endpoint(&server, &a, id).await;
    assert!(stored.one_per_request);
    assert_eq!(stored.url, "https://hooks.example.jp/two");
    assert_eq!(stored.kinds.len(), 2);

    // A hosted format with its api_key; back to standard drops the key.
    let r = server
        .patch_json(
            &path,
            &admin,
            &json!({"format": "hosted-form", "api_key": "receiver-7"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["format"].clone(), r.json()["api_key_set"].clone()),
        (json!("hosted-form"), json!(true))
    );
    assert!(!r.text().contains("receiver-7"), "the key is never shown");
    let stored = stored_endpoint(&server, &a, id).await;
    assert_eq!(stored.api_key.as_deref(), Some("receiver-7"));
    let r = server
        .patch_json(&path, &admin, &json!({"api_key": null}))
        .await;
    assert_eq!(r.json()["api_key_set"], false, "{}", r.text());
    server
        .patch_json(&path, &admin, &json!({"api_key": "receiver-8"}))
        .await;
    let r = server
        .patch_json(&path, &admin, &json!({"format": "standard"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["api_key_set"], false);

    // Refused as a new endpoint would be, and nothing changes.
    for (body, field) in [
        (json!({"url": "http://hooks.example.jp/plain"}), "url"),
        (json!({"events": ["opened"]}), "events"),
        (json!({"format": "xml"}), "format"),
        (json!({"api_key": "k"}), "api_key"),
        (
            json!({"format": "hosted-json", "events": ["inbound"]}),
            "events",
        ),
        (
            json!({"format": "hosted-json", "api_key": "two words"}),
            "api_key",
        ),
    ] {
        let r = server.patch_json(&path, &admin, &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
    }
    let r = server
        .patch_json(&path, &admin, &json!({"colour": "red"}))
        .await;
    assert_eq!(r.status, 422, "an unknown field: {}", r.text());
    let stored = stored_endpoint(&server, &a, id).await;
    assert_eq!(
        (
            stored.url.as_str(),
            stored.format.as_str(),
            stored.kinds.len()
        ),
        ("https://hooks.example.jp/two", "standard", 2)
    );

    // Off, and on again.
    let r = server
        .patch_json(&path, &admin, &json!({"enabled": false}))
        .await;
    assert!(r.json()["disabled_at"].is_string(), "{}", r.text());
    assert_eq!(r.json()["disabled_reason"], "disabled by the contract");
    let r = server
        .patch_json(&path, &admin, &json!({"enabled": true}))
        .await;
    assert!(r.json().get("disabled_at").is_none(), "{}", r.text());

    // A sender's key may not; another contract's admin finds no such endpoint.
    let r = server
        .patch_json(&path, &sender, &json!({"one_per_request": false}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = server
        .patch_json(&path, &other, &json!({"url": "https://evil.example/"}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = server
        .patch_json("/api/v1/webhooks/999999", &admin, &json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let stored = stored_endpoint(&server, &a, id).await;
    assert_eq!(stored.url, "https://hooks.example.jp/two");
    assert!(stored.one_per_request);
}

async fn inbound_routes_are_edited_in_place(backend: Backend) {
    let Some((server, [(a, admin), (b, other)])) = two_admins(backend).await else {
        return;
    };
    let (id, path) = created(
        &server,
        &admin,
        "/api/v1/settings/inbound-routes",
        json!({"pattern": "support@a.example", "endpoint": "https://hooks.example.jp/in"}),
    )
    .await;
    let viewer = server.key_for(&a, Role::Viewer, true);
    let secret = server.store.inbound_signing_secret(id).await.unwrap();
    // B's own route, whose pattern A may not take.
    created(
        &server,
        &other,
        "/api/v1/settings/inbound-routes",
        json!({"pattern": "b.example", "endpoint": "https://hooks.example.jp/b"}),
    )
    .await;

    let r = server.patch_json(&path,
        &admin,
        &json!({"pattern": "help@A.example", "format": "hosted-multipart", "api_key": "route-key"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shown = r.json();
    assert_eq!(shown["pattern"], "help@a.example");
    assert_eq!(shown["endpoint"], "https://hooks.example.jp/in", "kept");
    assert_eq!(
        (shown["format"].clone(), shown["api_key_set"].clone()),
        (json!("hosted-multipart"), json!(true))
    );
    assert!(!r.text().contains("route-key"));
    assert_eq!(
        server.store.inbound_signing_secret(id).await.unwrap(),
        secret,
        "an edit keeps the signing key"
    );
    // Mail to the new pattern finds the route; the old one no longer does.
    let found = server
        .store
        .inbound_route_for("help@a.example")
        .await
        .unwrap();
    assert_eq!(found.map(|r| r.id), Some(id));
    assert!(
        server
            .store
            .inbound_route_for("support@a.example")
            .await
            .unwrap()
            .is_none()
    );

    // forward_raw, the older word, still works; leaving the hosted formats drops the key.
    let r = server
        .patch_json(&path, &admin, &json!({"forward_raw": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["format"].clone(), r.json()["api_key_set"].clone()),
        (json!("raw"), json!(false))
    );
    let r = server
        .patch_json(&path, &admin, &json!({"forward_raw": false}))
        .await;
    assert_eq!(r.json()["format"], "json", "{}", r.text());

    // Refused as a new route would be; a pattern another contract has is taken.
    for (body, status, field) in [
        (
            json!({"endpoint": "ftp://hooks.example.jp/"}),
            422,
            Some("endpoint"),
        ),
        (json!({"pattern": "not a pattern"}), 422, Some("pattern")),
        (json!({"api_key": "k"}), 422, Some("api_key")),
        (json!({"format": "xml"}), 422, Some("format")),
        (
            json!({"format": "json", "forward_raw": true}),
            422,
            Some("forward_raw"),
        ),
        (json!({"pattern": "b.example"}), 409, None),
    ] {
        let r = server.patch_json(&path, &admin, &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        if let Some(field) = field {
            assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text());
        }
    }
    let route = server.store.inbound_route(id).await.unwrap().unwrap();
    assert_eq!(route.pattern, "help@a.example");

    // A viewer may not; B's admin finds no such route, and B's own stays B's.
    let r = server
        .patch_json(&path, &viewer, &json!({"pattern": "x@a.example"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text());
    let r = server
        .patch_json(&path, &other, &json!({"endpoint": "https://evil.example/"}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = server
        .patch_json("/api/v1/settings/inbound-routes/nope", &admin, &json!({}))
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    let route = server.store.inbound_route(id).await.unwrap().unwrap();
    assert_eq!(route.endpoint, "https://hooks.example.jp/in");
    assert_eq!(route.customer_id, a);
    let theirs: Vec<CustomerId> = server
        .store
        .inbound_routes(Some(&b))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.customer_id)
        .collect();
    assert_eq!(theirs, [b]);
}

on_both_backends!(
    webhook_endpoints_are_edited_in_place,
    inbound_routes_are_edited_in_place,
);
