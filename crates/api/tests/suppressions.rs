//! The suppression list's bulk endpoints over real HTTP: thousands of addresses per import, in
//! JSON or CSV, all or nothing; an export that imports back; hostile CSV refused with its row.

mod common;

use common::{Backend, Server, segment};
use hikyaku_model::Role;
use serde_json::json;

async fn bulk_import_and_export(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let (customer, key) = server.contract_with_key("a", Role::Sender, true).await;

    let mut csv = String::from("address,reason\n");
    for i in 0..5000 {
        csv.push_str(&format!("user{i}@example.jp,\"moved, left\"\n"));
    }
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions/import",
            Some(&key),
            Some("text/csv; charset=utf-8"),
            csv.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"received": 5000, "added": 5000}));
    assert_eq!(
        server.store.suppression_count(&customer).await.unwrap(),
        5000
    );

    // JSON, overlapping: the listed ones keep their entry.
    let entries: Vec<_> = (4990..5010)
        .map(|i| json!({"address": format!("USER{i}@example.jp")}))
        .collect();
    let r = server
        .post_json(
            "/api/v1/suppressions/import",
            &key,
            &json!({"entries": entries}),
        )
        .await;
    assert_eq!(r.json(), json!({"received": 20, "added": 10}));

    // One bad row refuses the whole import, naming the row.
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions/import",
            Some(&key),
            Some("text/csv"),
            b"new1@example.jp\nnot-an-address\nnew2@example.jp\n",
        )
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (422, "invalid_field"));
    assert_eq!(r.json()["error"]["field"], "row 2: address");
    for hostile in [
        &b"\xff\xfe@x.jp\n"[..],
        b"\"a b\"@x.jp\n",
        b"a@x.jp,\x00\x01\n",
    ] {
        let r = server
            .call(
                "POST",
                "/api/v1/suppressions/import",
                Some(&key),
                Some("text/csv"),
                hostile,
            )
            .await;
        assert_eq!(r.status, 422, "{hostile:?}: {}", r.text());
        r.error_code();
    }
    assert_eq!(
        server.store.suppression_count(&customer).await.unwrap(),
        5010
    );

    // The export, as CSV, imports back into another contract unchanged.
    let export = server
        .get("/api/v1/suppressions/export?format=csv", &key)
        .await;
    assert_eq!(export.status, 200);
    assert!(
        export
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(export.text().lines().count(), 5011);
    let (other, other_key) = server.contract_with_key("b", Role::Admin, true).await;
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions/import",
            Some(&other_key),
            Some("text/csv"),
            &export.body,
        )
        .await;
    assert_eq!(r.json(), json!({"received": 5010, "added": 5010}));
    let entry = server
        .get(
            &format!("/api/v1/suppressions/{}", segment("user7@example.jp")),
            &other_key,
        )
        .await
        .json();
    assert_eq!(entry["reason"], "moved, left");
    assert_eq!(entry["source"], "manual");
    assert_eq!(server.store.suppression_count(&other).await.unwrap(), 5010);

    let all = server.get("/api/v1/suppressions/export", &key).await.json();
    assert_eq!(all.as_array().unwrap().len(), 5010);

    let r = server
        .delete(
            &format!("/api/v1/suppressions/{}", segment("User7@Example.jp")),
            &key,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = server
        .delete(
            &format!("/api/v1/suppressions/{}", segment("user7@example.jp")),
            &key,
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        server.store.suppression_count(&other).await.unwrap(),
        5010,
        "only a's list"
    );
}

#[tokio::test]
async fn bulk_import_and_export_sqlite() {
    bulk_import_and_export(Backend::Sqlite).await;
}

#[tokio::test]
async fn bulk_import_and_export_postgres() {
    bulk_import_and_export(Backend::Postgres).await;
}
