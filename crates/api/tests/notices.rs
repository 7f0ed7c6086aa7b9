//! `GET /notices`: the calling contract's notices, newest first, paged by cursor, with their
//! mail state; readers may list them, the billing role may not; another contract's notices
//! never appear (the isolation walk covers the other direction).

mod common;

use common::{Backend, Server};
use hikyaku_model::{NoticeKind, Role, Timestamp};
use serde_json::json;

async fn notices_are_listed_newest_first_and_paged(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let (customer, viewer) = server
        .contract_with_key("notices", Role::Viewer, false)
        .await;
    let (other, _) = server.contract_with_key("other", Role::Admin, false).await;
    let store = &server.store;
    let mut ids = Vec::new();
    for i in 0..5i64 {
        let id = store
            .record_notice(
                &customer,
                NoticeKind::SmimeCertificateExpiring,
                &i.to_string(),
                json!({"certificate_id": i}),
                Timestamp(1_800_000_000_000 + i),
            )
            .await
            .unwrap()
            .unwrap();
        ids.push(id);
    }
    store
        .record_notice(
            &other,
            NoticeKind::TrialExpiring,
            "t",
            json!({}),
            Timestamp(1),
        )
        .await
        .unwrap();
    assert!(
        store
            .finish_notice_mail(ids[4], Timestamp(1_800_000_001_000), 2)
            .await
            .unwrap()
    );

    let mut seen = Vec::new();
    let mut path = "/api/v1/notices?limit=2".to_string();
    loop {
        let r = server.get(&path, &viewer).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2, "{page}");
        for notice in data {
            assert_eq!(notice["customer_id"], customer.as_str());
            seen.push(notice.clone());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/notices?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let keys: Vec<&str> = seen.iter().map(|n| n["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["4", "3", "2", "1", "0"]);
    let newest = &seen[0];
    assert_eq!(newest["kind"], "smime_certificate_expiring");
    assert_eq!(newest["details"], json!({"certificate_id": 4}));
    assert_eq!(newest["mailed_to"], 2);
    assert_eq!(newest["mailed_at"], "2027-01-15T08:00:01.000Z");
    assert_eq!(seen[1]["mailed_at"], serde_json::Value::Null);
    assert_eq!(seen[1]["created_at"], "2027-01-15T08:00:00.003Z");

    let billing = server.key_for(&customer, Role::Billing, false);
    let r = server.get("/api/v1/notices", &billing).await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    let r = server.get("/api/v1/notices?cursor=bogus", &viewer).await;
    assert_eq!((r.status, r.error_code().as_str()), (400, "invalid_cursor"));
}

#[tokio::test]
async fn notices_are_listed_newest_first_and_paged_sqlite() {
    notices_are_listed_newest_first_and_paged(Backend::Sqlite).await;
}

#[tokio::test]
async fn notices_are_listed_newest_first_and_paged_postgres() {
    notices_are_listed_newest_first_and_paged(Backend::Postgres).await;
}
