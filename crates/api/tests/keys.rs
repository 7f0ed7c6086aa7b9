//! Real keys from the key store, end to end: the operator opens a contract, its admin makes a
//! viewer key, the viewer reads but may not write, a revoked key and a terminated contract's key
//! are refused from the next request on.

mod common;

use common::{Backend, Server};
use hikyaku_model::Role;
use hikyaku_store::NewApiKey;
use serde_json::json;

async fn keys_from_the_store_work_until_revoked(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let (_, operator) = server.store.create_operator_key("ops").await.unwrap();
    assert!(operator.starts_with("hko_"));
    let r = server
        .post_json(
            "/api/v1/operator/contracts",
            &operator,
            &json!({"name": "Example KK"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let customer: hikyaku_model::CustomerId =
        r.json()["customer_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(r.json()["plan"], "standard");
    // The operator's key is no contract's.
    assert_eq!(
        server.get("/api/v1/suppressions", &operator).await.status,
        403
    );

    let (_, admin) = server
        .store
        .create_api_key(
            &customer,
            &NewApiKey {
                name: "admin",
                role: Role::Admin,
                see_addresses: false,
            },
        )
        .await
        .unwrap();
    // An admin that does not see addresses cannot make a key that does.
    let r = server
        .post_json(
            "/api/v1/api-keys",
            &admin,
            &json!({"name": "peek", "role": "viewer", "see_addresses": true}),
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    let r = server
        .post_json(
            "/api/v1/api-keys",
            &admin,
            &json!({"name": "dashboard", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let viewer = r.json()["key"].as_str().unwrap().to_string();
    let viewer_id = r.json()["id"].as_str().unwrap().to_string();
    assert!(viewer.starts_with(r.json()["prefix"].as_str().unwrap()));
    let listed = server.get("/api/v1/api-keys", &admin).await;
    assert!(
        !listed.text().contains(&viewer),
        "a listing never shows a secret"
    );

    assert_eq!(
        server.get("/api/v1/suppressions", &viewer).await.status,
        200
    );
    let r = server
        .post_json(
            "/api/v1/suppressions",
            &viewer,
            &json!({"address": "a@example.jp"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(server.get("/api/v1/api-keys", &viewer).await.status, 403);

    let r = server
        .delete(&format!("/api/v1/api-keys/{viewer_id}"), &admin)
        .await;
    assert_eq!(r.status, 204);
    let r = server.get("/api/v1/suppressions", &viewer).await;
    assert_eq!((r.status, r.error_code().as_str()), (401, "unauthorized"));

    // The contract's last admin user may not be removed through the API (nobody could manage
    // its users from the console any more); once there is another, it may.
    let mut admin_users = Vec::new();
    for email in ["first@example.jp", "second@example.jp"] {
        let r = server
            .post_json(
                "/api/v1/users",
                &admin,
                &json!({"email": email, "role": "admin"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        admin_users.push(r.json()["id"].as_str().unwrap().to_string());
        if admin_users.len() == 1 {
            let r = server
                .delete(&format!("/api/v1/users/{}", admin_users[0]), &admin)
                .await;
            assert_eq!((r.status, r.error_code().as_str()), (409, "last_admin"));
        }
    }
    let r = server
        .delete(&format!("/api/v1/users/{}", admin_users[0]), &admin)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = server
        .delete(&format!("/api/v1/users/{}", admin_users[1]), &admin)
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (409, "last_admin"));

    let r = server
        .post_json(
            &format!("/api/v1/operator/contracts/{customer}/terminate"),
            &operator,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "terminated");
    assert_eq!(server.get("/api/v1/suppressions", &admin).await.status, 401);
    let r = server
        .post_json(
            &format!("/api/v1/operator/contracts/{customer}/resume"),
            &operator,
            &json!({}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "contract_terminated")
    );
}

#[tokio::test]
async fn keys_from_the_store_work_until_revoked_sqlite() {
    keys_from_the_store_work_until_revoked(Backend::Sqlite).await;
}

#[tokio::test]
async fn keys_from_the_store_work_until_revoked_postgres() {
    keys_from_the_store_work_until_revoked(Backend::Postgres).await;
}
