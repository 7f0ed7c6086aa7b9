//! Tenant isolation and the permission table, walked from the served OpenAPI document: every
//! operation it lists is called by every role of contract B (and by the operator) with the
//! identifiers of contract A's resources. A new endpoint is covered as soon as it is in the
//! document; only a new kind of path parameter needs a line in `a_value_for`.

mod common;

use axum::http::Method;
use common::{Backend, Server, accept, attempt, reply, segment};
use hikyaku_api::v1::access::allowed;
use hikyaku_model::{
    ApiCaller, CustomerId, EventDetails, MessageId, NoticeKind, Reason, Role, Timestamp,
};
use serde_json::{Value, json};

/// Contract A's resources, and every text of them that must never reach B.
struct TenantA {
    customer_id: CustomerId,
    address: String,
    cidr: String,
    username: String,
    route_id: i64,
    endpoint_id: i64,
    user_id: String,
    key_id: String,
    message_id: MessageId,
    domain: String,
    certificate_id: i64,
    inquiry_id: i64,
    import_id: i64,
    secrets: Vec<String>,
}

async fn seed_a(server: &Server, key: &str, customer_id: CustomerId) -> TenantA {
    let address = "alice.secret@tenant-a.example".to_string();
    let r = server
        .post_json(
            "/api/v1/suppressions",
            key,
            &json!({"address": address, "reason": "a-note"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = server
        .post_json(
            "/api/v1/settings/allowed-ips",
            key,
            &json!({"cidr": "198.51.100.0/24"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let username = "tenant-a-smtp".to_string();
    let r = server
        .post_json(
            "/api/v1/settings/smtp-credentials",
            key,
            &json!({"username": username}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = server
        .post_json(
            "/api/v1/settings/inbound-routes",
            key,
            &json!({"pattern": "inbox@tenant-a.example", "endpoint": "https://a-hook.example/in"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let route_id = r.json()["id"].as_i64().unwrap();
    let r = server
        .post_json(
            "/api/v1/webhooks",
            key,
            &json!({"url": "https://a-webhook.example/events", "events": ["bounced"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let endpoint_id = r.json()["id"].as_i64().unwrap();
    let webhook_secret = r.json()["secret"].as_str().unwrap().to_string();
    let r = server
        .post_json(
            "/api/v1/users",
            key,
            &json!({"email": "carol@tenant-a.example", "role": "viewer"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let user_id = r.json()["id"].as_str().unwrap().to_string();
    let r = server
        .post_json(
            "/api/v1/api-keys",
            key,
            &json!({"name": "a-deploy-key", "role": "sender"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let key_id = r.json()["id"].as_str().unwrap().to_string();
    let prefix = r.json()["prefix"].as_str().unwrap().to_string();
    // A's send log: a message accepted, refused by the remote server, now (so that the
    // default ranges of the statistics hold it too).
    let now = Timestamp::now().as_millis();
    let message_id = accept(
        &server.store,
        &customer_id,
        now - 2_000,
        "app@tenant-a.example",
        &["bob.secret@a-customer.example"],
        &["a-tag-secret"],
    )
    .await;
    attempt(
        &server.store,
        message_id,
        0,
        now - 1_000,
        EventDetails::Bounced {
            exchange: reply(550, "5.1.1 <bob.secret@a-customer.example> unknown"),
            reason: Reason::UserUnknown,
            hard: true,
        },
    )
    .await;
    server
        .store
        .record_notice(
            &customer_id,
            NoticeKind::SmimeCertificateExpiring,
            "a-notice-key",
            json!({"subject": "CN=a-notice-secret"}),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let r = server
        .post_json(
            "/api/v1/inquiries",
            key,
            &json!({"subject": "a-inquiry-secret", "body": "a-inquiry-body"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let inquiry_id = r.json()["id"].as_i64().unwrap();
    // An import job whose refused row names a secret of A's.
    let r = server
        .call(
            "POST",
            "/api/v1/suppressions/imports",
            Some(key),
            Some("text/csv"),
            b"address\nimported@tenant-a.example\na-import-secret\n",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let import_id = r.json()["id"].as_i64().unwrap();
    let events = server.get("/api/v1/events", key).await.json();
    assert_eq!(events["data"].as_array().unwrap().len(), 2, "{events}");
    let domain = "mail.tenant-a.example".to_string();
    let r = server
        .post_json(
            "/api/v1/settings/sender-domains",
            key,
            &json!({"domain": domain}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let dkim_record = r.json()["keys"][0]["record"].as_str().unwrap().to_string();
    // A's S/MIME certificate, where openssl can make one (without it, a made-up ID is asked).
    let pki_dir = tempfile::tempdir().unwrap();
    let mut certificate_id = 999_999;
    if let Some(pki) = hikyaku_testkit::TestPki::create(
        pki_dir.path(),
        hikyaku_testkit::TestKey::EcdsaP256,
        "a-cert-secret",
        None,
        &["signer@tenant-a.example"],
        30,
    ) {
        let r = server
            .post_json(
                "/api/v1/settings/smime-certificates",
                key,
                &json!({
                    "certificate_pem": std::fs::read_to_string(&pki.chain).unwrap(),
                    "key_pem": std::fs::read_to_string(&pki.key).unwrap(),
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        certificate_id = r.json()["id"].as_i64().unwrap();
    }
    TenantA {
        secrets: vec![
            customer_id.to_string(),
            address.clone(),
            "tenant-a.example".into(),
            "198.51.100".into(),
            username.clone(),
            "a-hook.example".into(),
            "a-webhook.example".into(),
            webhook_secret,
            "a-note".into(),
            "a-deploy-key".into(),
            prefix,
            user_id.clone(),
            key_id.clone(),
            message_id.to_string(),
            "bob.secret".into(),
            "a-customer.example".into(),
            "a-tag-secret".into(),
            "a-notice-key".into(),
            "a-notice-secret".into(),
            dkim_record[dkim_record.len() - 40..].to_string(),
            "a-cert-secret".into(),
            "a-inquiry-secret".into(),
            "a-inquiry-body".into(),
            "a-import-secret".into(),
        ],
        domain,
        certificate_id,
        message_id,
        inquiry_id,
        import_id,
        user_id,
        key_id,
        customer_id,
        address,
        cidr: "198.51.100.0/24".into(),
        username,
        route_id,
        endpoint_id,
    }
}

/// The value of a path parameter that names A's resource.
fn a_value_for(a: &TenantA, parameter: &str) -> String {
    match parameter {
        "address" => segment(&a.address),
        "cidr" => segment(&a.cidr),
        "username" => segment(&a.username),
        "id" => a.route_id.to_string(),
        "endpoint_id" => a.endpoint_id.to_string(),
        "customer_id" => a.customer_id.to_string(),
        "user_id" => a.user_id.clone(),
        "key_id" => a.key_id.clone(),
        "message_id" => a.message_id.to_string(),
        "domain" => segment(&a.domain),
        "certificate_id" => a.certificate_id.to_string(),
        "inquiry_id" => a.inquiry_id.to_string(),
        "import_id" => a.import_id.to_string(),
        other => panic!(
            "path parameter {{{other}}} is new: say which of contract A's resources it names"
        ),
    }
}

/// The document's operations: (method, path template).
fn operations(doc: &Value) -> Vec<(Method, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            if [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ]
            .contains(&method)
            {
                operations.push((method, path.clone()));
            }
        }
    }
    operations
}

fn fill(a: &TenantA, template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        path.push_str(&rest[..start]);
        path.push_str(&a_value_for(a, &rest[start + 1..end]));
        rest = &rest[end + 1..];
    }
    path.push_str(rest);
    format!("/api/v1{path}")
}

async fn tenants_never_see_each_other(backend: Backend) {
    let Some(server) = Server::start(
        backend,
        "[api]\nburst = 100000\nrequests_per_second = 1000\n",
    )
    .await
    else {
        return;
    };
    let (a_id, a_admin) = server
        .contract_with_key("tenant-a", Role::Admin, true)
        .await;
    let a = seed_a(&server, &a_admin, a_id.clone()).await;
    let b = server
        .store
        .create_contract("tenant-b", "standard")
        .await
        .unwrap();
    let mut callers: Vec<(String, ApiCaller)> = Role::ALL
        .into_iter()
        .map(|role| {
            let key = server.key_for(&b.customer_id, role, true);
            (
                key.clone(),
                ApiCaller::Contract {
                    customer_id: b.customer_id.clone(),
                    key_id: key,
                    role,
                    see_addresses: true,
                },
            )
        })
        .collect();
    let operator = server.operator_key();
    callers.push((
        operator.clone(),
        ApiCaller::Operator {
            key_id: operator.clone(),
        },
    ));

    let doc = server
        .call("GET", "/api/v1/openapi.json", None, None, b"")
        .await
        .json();
    let operations = operations(&doc);
    assert!(operations.len() >= 20, "{operations:?}");
    let mut refused = 0;
    let mut called = 0;
    for (method, template) in &operations {
        let permission = allowed(method, template)
            .unwrap_or_else(|| panic!("{method} {template} is not in the permission table"));
        let path = fill(&a, template);
        let names_a = template.contains('{');
        for (key, caller) in &callers {
            let may = permission.admits(caller);
            if may && matches!(caller, ApiCaller::Operator { .. }) {
                // The operator may act on any contract: not an isolation question.
                continue;
            }
            // Writes carry an empty JSON object, so a refusal is about whose data it names,
            // not about the body's type.
            let writes = matches!(*method, Method::POST | Method::PATCH | Method::PUT);
            let body: &[u8] = if writes { b"{}" } else { b"" };
            let content_type = writes.then_some("application/json");
            let r = server
                .call(method.as_str(), &path, Some(key), content_type, body)
                .await;
            called += 1;
            let text = r.text();
            for secret in &a.secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{method} {path} as {caller:?} showed A's {secret:?}: {text}"
                );
            }
            if !may {
                refused += 1;
                assert_eq!(
                    (r.status, r.error_code().as_str()),
                    (403, "forbidden"),
                    "{method} {path} as {caller:?}"
                );
            } else if names_a {
                assert_eq!(r.status, 404, "{method} {path} as {caller:?}: {text}");
                r.error_code();
            } else {
                assert!(r.status < 500, "{method} {path} as {caller:?}: {text}");
            }
        }
    }
    assert!(refused > 40 && called > 80, "refused {refused} of {called}");

    // A's resources are all still there, and A itself can read what B could not.
    let r = server
        .get(
            &format!("/api/v1/suppressions/{}", segment(&a.address)),
            &a_admin,
        )
        .await;
    assert_eq!(r.status, 200);
    let ips = server
        .get("/api/v1/settings/allowed-ips", &a_admin)
        .await
        .json();
    assert_eq!(ips["data"][0]["cidr"], a.cidr.as_str());
    let users = server
        .get("/api/v1/settings/smtp-credentials", &a_admin)
        .await
        .json();
    assert_eq!(users["data"][0]["username"], a.username.as_str());
    let routes = server
        .get("/api/v1/settings/inbound-routes", &a_admin)
        .await
        .json();
    assert_eq!(routes["data"][0]["id"], a.route_id);
    let notices = server.get("/api/v1/notices", &a_admin).await.json();
    assert_eq!(notices["data"][0]["key"], "a-notice-key");
    let hooks = server.get("/api/v1/webhooks", &a_admin).await.json();
    assert_eq!(hooks["endpoints"][0]["id"], a.endpoint_id);
    assert_eq!(
        hooks["endpoints"][0]["url"],
        "https://a-webhook.example/events"
    );
    let history = server
        .get(&format!("/api/v1/messages/{}", a.message_id), &a_admin)
        .await;
    assert_eq!(history.status, 200);
    assert!(history.text().contains("bob.secret@a-customer.example"));
    let contract = server
        .store
        .contract(&a.customer_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contract.state.as_str(), "trial");
}

#[tokio::test]
async fn tenants_never_see_each_other_sqlite() {
    tenants_never_see_each_other(Backend::Sqlite).await;
}

#[tokio::test]
async fn tenants_never_see_each_other_postgres() {
    tenants_never_see_each_other(Backend::Postgres).await;
}
