//! The operator area's endpoints over a real store (SQLite and PostgreSQL): plan changes,
//! inquiries (sent by any role of a contract, listed for the operator, marked handled, each
//! with its notice to be mailed), maintenance notices (14 days ahead unless an emergency, one
//! notice per open contract, shown to contracts while upcoming) and the nodes' heartbeats.

mod common;

use common::{Backend, Server};
use hikyaku_model::{ContractState, NoticeKind, Role, Timestamp};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

fn at(millis: i64) -> String {
    Timestamp(millis).to_string()
}

async fn plans_change_only_to_configured_plans(backend: Backend) {
    let Some(server) = Server::start(
        backend,
        "[contracts]\nplans = [\"standard\", \"pro\"]\n[plans.pro]\nmonthly_volume = 5000\n",
    )
    .await
    else {
        return;
    };
    let operator = server.operator_key();
    let (customer, admin) = server.contract_with_key("plans", Role::Admin, false).await;
    let path = format!("/api/v1/operator/contracts/{customer}/plan");
    let r = server
        .post_json(&path, &operator, &json!({"plan": "pro"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["plan"], "pro");
    let usage = server.get("/api/v1/plan", &admin).await.json();
    assert_eq!(usage["plan"]["name"], "pro", "{usage}");
    assert_eq!(usage["plan"]["monthly_volume"], 5000);

    let r = server
        .post_json(&path, &operator, &json!({"plan": "gold"}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("standard, pro"), "{}", r.text());
    // A contract's own key may not change its plan.
    let r = server
        .post_json(&path, &admin, &json!({"plan": "standard"}))
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    let r = server
        .post_json(
            "/api/v1/operator/contracts/zzzzzzzzz/plan",
            &operator,
            &json!({"plan": "pro"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());
    server
        .store
        .set_contract_state(&customer, ContractState::Terminated)
        .await
        .unwrap();
    let r = server
        .post_json(&path, &operator, &json!({"plan": "standard"}))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (409, "contract_terminated")
    );
}

async fn inquiries_reach_the_operator(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let operator = server.operator_key();
    let (customer, billing) = server.contract_with_key("asks", Role::Billing, false).await;
    let (other, other_viewer) = server.contract_with_key("other", Role::Viewer, false).await;
    let r = server
        .post_json(
            "/api/v1/inquiries",
            &billing,
            &json!({"subject": "  Invoice question ", "body": "Line one\nLine two\n"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sent = r.json();
    assert_eq!(sent["subject"], "Invoice question");
    assert_eq!(sent["body"], "Line one\nLine two");
    assert_eq!(sent["customer_id"], customer.as_str());
    assert_eq!(
        sent["from"],
        serde_json::Value::Null,
        "an API key has no address"
    );
    assert_eq!(sent["handled_at"], serde_json::Value::Null);
    let r = server
        .post_json(
            "/api/v1/inquiries",
            &other_viewer,
            &json!({"subject": "Other", "body": "from the other contract"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Bad input gets a clear error naming the field.
    for (body, field) in [
        (json!({"subject": "", "body": "x"}), "subject"),
        (json!({"subject": "a\nb", "body": "x"}), "subject"),
        (json!({"subject": "x".repeat(201), "body": "x"}), "subject"),
        (json!({"subject": "ok", "body": "  \n "}), "body"),
        (json!({"subject": "ok", "body": "a\u{7}b"}), "body"),
        (json!({"subject": "ok", "body": "x".repeat(10_001)}), "body"),
    ] {
        let r = server.post_json("/api/v1/inquiries", &billing, &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }
    let r = server
        .post_json(
            "/api/v1/inquiries",
            &billing,
            &json!({"subject": "x", "body": "y", "extra": 1}),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.text());
    // The operator sends none: it has no contract to send one for.
    let r = server
        .post_json(
            "/api/v1/inquiries",
            &operator,
            &json!({"subject": "x", "body": "y"}),
        )
        .await;
    assert_eq!(r.status, 403);

    // The operator lists them newest first; contracts may not list them.
    let list = server.get("/api/v1/operator/inquiries", &operator).await;
    assert_eq!(list.status, 200, "{}", list.text());
    let data = list.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["customer_id"], other.as_str());
    assert_eq!(data[1]["subject"], "Invoice question");
    let r = server.get("/api/v1/operator/inquiries", &billing).await;
    assert_eq!(r.status, 403);

    // Each has its notice, for the mailer to take to the operator's address; the contract's
    // own notice list does not show it.
    let notices = server
        .store
        .list_notices(Some(&customer), 10)
        .await
        .unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].kind, NoticeKind::Inquiry);
    assert_eq!(notices[0].details["subject"], "Invoice question");
    assert_eq!(notices[0].key, sent["id"].to_string());
    let (_, admin) = (
        customer.clone(),
        server.key_for(&customer, Role::Admin, true),
    );
    let listed = server.get("/api/v1/notices", &admin).await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");

    // Handled, and open again.
    let path = format!("/api/v1/operator/inquiries/{}/handled", sent["id"]);
    let r = server
        .post_json(&path, &operator, &json!({"handled": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["handled_at"].is_string());
    let r = server
        .post_json(&path, &operator, &json!({"handled": false}))
        .await;
    assert_eq!(r.json()["handled_at"], serde_json::Value::Null);
    let r = server
        .post_json(&path, &admin, &json!({"handled": true}))
        .await;
    assert_eq!(r.status, 403);
    for missing in ["999999", "not-a-number"] {
        let r = server
            .post_json(
                &format!("/api/v1/operator/inquiries/{missing}/handled"),
                &operator,
                &json!({"handled": true}),
            )
            .await;
        assert_eq!(r.status, 404, "{missing}: {}", r.text());
    }
}

async fn maintenance_is_announced_ahead_and_to_every_open_contract(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let operator = server.operator_key();
    let (a, a_viewer) = server.contract_with_key("a", Role::Viewer, false).await;
    let (b, b_billing) = server.contract_with_key("b", Role::Billing, false).await;
    let (gone, _) = server.contract_with_key("gone", Role::Admin, false).await;
    server
        .store
        .set_contract_state(&gone, ContractState::Terminated)
        .await
        .unwrap();
    let now = Timestamp::now().as_millis();

    // Less than 14 days ahead: refused unless an emergency.
    let soon = json!({
        "title": "Database upgrade",
        "body": "We upgrade the database.",
        "starts_at": at(now + 13 * DAY_MS),
        "ends_at": at(now + 13 * DAY_MS + 3_600_000),
    });
    let r = server
        .post_json("/api/v1/operator/maintenance", &operator, &soon)
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "starts_at");
    assert!(r.text().contains("14 days"), "{}", r.text());
    for (body, field) in [
        (
            json!({"title": "x", "starts_at": at(now + 20 * DAY_MS), "ends_at": at(now + 20 * DAY_MS)}),
            "ends_at",
        ),
        (
            json!({"title": "", "starts_at": at(now + 20 * DAY_MS), "ends_at": at(now + 21 * DAY_MS)}),
            "title",
        ),
        (
            json!({"title": "late", "emergency": true, "starts_at": at(now - 2 * DAY_MS), "ends_at": at(now - DAY_MS)}),
            "ends_at",
        ),
    ] {
        let r = server
            .post_json("/api/v1/operator/maintenance", &operator, &body)
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }
    assert!(
        server
            .store
            .list_notices(None, 100)
            .await
            .unwrap()
            .is_empty(),
        "nothing refused was recorded"
    );

    let mut emergency = soon.clone();
    emergency["emergency"] = json!(true);
    let r = server
        .post_json("/api/v1/operator/maintenance", &operator, &emergency)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["contracts_notified"], 2, "not the terminated one");
    assert_eq!(r.json()["maintenance"]["emergency"], true);
    let planned = json!({
        "title": "Network work",
        "starts_at": at(now + 15 * DAY_MS),
        "ends_at": at(now + 15 * DAY_MS + 7_200_000),
    });
    let r = server
        .post_json("/api/v1/operator/maintenance", &operator, &planned)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let planned_id = r.json()["maintenance"]["id"].as_i64().unwrap();
    assert_eq!(r.json()["maintenance"]["emergency"], false);

    // One notice per open contract and maintenance, to be mailed to its admins.
    for customer in [&a, &b] {
        let notices = server.store.list_notices(Some(customer), 10).await.unwrap();
        assert_eq!(notices.len(), 2, "{customer}");
        assert!(notices.iter().all(|n| n.kind == NoticeKind::Maintenance));
        assert_eq!(notices[0].key, planned_id.to_string());
        assert_eq!(notices[0].details["title"], "Network work");
        assert!(notices.iter().all(|n| n.mailed_at.is_none()));
    }
    assert!(
        server
            .store
            .list_notices(Some(&gone), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Contracts see what is coming, every role; the operator sees all.
    for key in [&a_viewer, &b_billing] {
        let r = server.get("/api/v1/maintenance", key).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let titles: Vec<String> = r.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["title"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(titles, ["Network work", "Database upgrade"]);
    }
    let r = server.get("/api/v1/maintenance", &operator).await;
    assert_eq!(r.status, 403);
    let r = server.get("/api/v1/operator/maintenance", &operator).await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    let r = server
        .post_json("/api/v1/operator/maintenance", &a_viewer, &planned)
        .await;
    assert_eq!(r.status, 403);

    // A maintenance that is over is no longer shown to contracts.
    server
        .store
        .create_maintenance(
            &hikyaku_store::NewMaintenance {
                title: "Past",
                body: "",
                starts_at: Timestamp(now - 2 * DAY_MS),
                ends_at: Timestamp(now - DAY_MS),
                emergency: false,
            },
            Timestamp(now - 30 * DAY_MS),
        )
        .await
        .unwrap();
    let r = server.get("/api/v1/maintenance", &a_viewer).await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 2, "{r}");
    let r = server.get("/api/v1/operator/maintenance", &operator).await;
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 3);
}

async fn nodes_show_their_heartbeats(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let operator = server.operator_key();
    let r = server.get("/api/v1/operator/nodes", &operator).await.json();
    assert_eq!(r["data"].as_array().unwrap().len(), 0);
    assert_eq!(r["heartbeat_seconds"], 30);
    let (customer, admin) = server.contract_with_key("n", Role::Admin, false).await;
    // Two messages of node-b waiting, one of another node.
    let now = Timestamp::now();
    for node in ["node-b", "node-b", "node-c"] {
        let id = hikyaku_model::MessageId::new(now);
        server
            .store
            .record_accepted(&[hikyaku_store::AcceptedMessage {
                id,
                customer_id: customer.clone(),
                envelope: hikyaku_model::Envelope {
                    mail_from: "a@n.example".into(),
                    recipients: vec!["b@n.example".into()],
                },
                size: 10,
                received_at: now,
                source_ip: "192.0.2.1".into(),
                node: node.into(),
                tags: Vec::new(),
                metadata: Default::default(),
                subject: None,
            }])
            .await
            .unwrap();
    }
    let listeners = vec![
        "smtp 127.0.0.1:2525".to_string(),
        "http 127.0.0.1:8025".into(),
    ];
    let started = Timestamp(now.as_millis() - 60_000);
    server
        .store
        .node_heartbeat("node-b", "0.1.0", &listeners, started, now)
        .await
        .unwrap();
    server
        .store
        .node_heartbeat(
            "node-a",
            "0.0.9",
            &[],
            Timestamp(now.as_millis() - DAY_MS),
            Timestamp(now.as_millis() - 91_000),
        )
        .await
        .unwrap();
    let r = server.get("/api/v1/operator/nodes", &operator).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["node"], "node-a");
    assert_eq!(data[0]["healthy"], false, "three heartbeats missed");
    assert_eq!(data[1]["node"], "node-b");
    assert_eq!(data[1]["healthy"], true);
    assert_eq!(data[1]["queue_size"], 2);
    assert_eq!(data[1]["version"], "0.1.0");
    assert_eq!(data[1]["listeners"], json!(listeners));
    // A later heartbeat replaces the earlier one.
    server
        .store
        .node_heartbeat("node-b", "0.1.1", &listeners, started, Timestamp::now())
        .await
        .unwrap();
    let r = server.get("/api/v1/operator/nodes", &operator).await.json();
    assert_eq!(r["data"][1]["version"], "0.1.1");
    assert_eq!(r["data"].as_array().unwrap().len(), 2);
    let r = server.get("/api/v1/operator/nodes", &admin).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn plans_change_only_to_configured_plans_sqlite() {
    plans_change_only_to_configured_plans(Backend::Sqlite).await;
}

#[tokio::test]
async fn plans_change_only_to_configured_plans_postgres() {
    plans_change_only_to_configured_plans(Backend::Postgres).await;
}

#[tokio::test]
async fn inquiries_reach_the_operator_sqlite() {
    inquiries_reach_the_operator(Backend::Sqlite).await;
}

#[tokio::test]
async fn inquiries_reach_the_operator_postgres() {
    inquiries_reach_the_operator(Backend::Postgres).await;
}

#[tokio::test]
async fn maintenance_is_announced_ahead_and_to_every_open_contract_sqlite() {
    maintenance_is_announced_ahead_and_to_every_open_contract(Backend::Sqlite).await;
}

#[tokio::test]
async fn maintenance_is_announced_ahead_and_to_every_open_contract_postgres() {
    maintenance_is_announced_ahead_and_to_every_open_contract(Backend::Postgres).await;
}

#[tokio::test]
async fn nodes_show_their_heartbeats_sqlite() {
    nodes_show_their_heartbeats(Backend::Sqlite).await;
}

#[tokio::test]
async fn nodes_show_their_heartbeats_postgres() {
    nodes_show_their_heartbeats(Backend::Postgres).await;
}
