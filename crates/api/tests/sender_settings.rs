//! The settings the console needed the API for: sender domains with their DKIM records and the
//! DNS check (against testkit's DNS server on 127.0.0.1), S/MIME certificates (made by the real
//! `openssl`), and the platform's send-control rules; on SQLite and PostgreSQL, with the roles
//! of the permission table and another contract's resources out of reach.

mod common;

use common::{Backend, Server, segment};
use hikyaku_dkim::{KeyAlgorithm, PrivateKey};
use hikyaku_model::Role;
use hikyaku_store::NewDkimKey;
use hikyaku_testkit::{TestDns, TestKey, TestPki};
use serde_json::json;

const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

fn dns_config(resolver: &str) -> String {
    format!(
        "service_domain = \"mail.hikyaku.test\"\n\
         [bounce]\ndomain = \"bounce.mail.hikyaku.test\"\n\
         [dns]\nresolver = \"{resolver}\"\n\
         [[dns.relay_node]]\nname = \"relay1.mail.hikyaku.test\"\naddresses = [\"192.0.2.10\"]\n"
    )
}

#[tokio::test]
async fn sender_domains_show_their_records_and_follow_the_roles() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend, "").await else {
            continue;
        };
        let (a, admin) = server.contract_with_key("a", Role::Admin, true).await;
        let viewer = server.key_for(&a, Role::Viewer, false);
        let billing = server.key_for(&a, Role::Billing, false);
        let sender = server.key_for(&a, Role::Sender, false);

        let r = server
            .post_json(
                "/api/v1/settings/sender-domains",
                &sender,
                &json!({"domain": "Shop.Example."}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let added = r.json();
        assert_eq!(added["domain"], "shop.example");
        assert_eq!(added["algorithm"], "rsa-2048");
        let key = &added["keys"][0];
        assert_eq!(key["state"], "active");
        let selector = key["selector"].as_str().unwrap();
        assert!(
            selector.starts_with("hk") && selector.len() == 8,
            "{selector}"
        );
        assert_eq!(
            key["record_name"],
            format!("{selector}._domainkey.shop.example")
        );
        let record = key["record"].as_str().unwrap();
        assert!(record.starts_with("v=DKIM1; k=rsa; p=MII"), "{record}");
        assert!(!r.text().contains("PRIVATE"), "never the private key");

        let r = server
            .post_json(
                "/api/v1/settings/sender-domains",
                &admin,
                &json!({"domain": "news.example", "algorithm": "dual"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let dual = r.json();
        let algorithms: Vec<&str> = dual["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["algorithm"].as_str().unwrap())
            .collect();
        assert_eq!(algorithms.len(), 2, "{}", r.text());
        assert!(algorithms.contains(&"ed25519") && algorithms.contains(&"rsa-2048"));

        // What a bad request gets: the field named.
        for (body, field) in [
            (json!({"domain": "not a domain"}), "domain"),
            (json!({"domain": "localhost"}), "domain"),
            (
                json!({"domain": "x.example", "algorithm": "rsa-512"}),
                "algorithm",
            ),
        ] {
            let r = server
                .post_json("/api/v1/settings/sender-domains", &admin, &body)
                .await;
            assert_eq!(r.status, 422, "{body}: {}", r.text());
            assert_eq!(r.json()["error"]["field"], field, "{body}");
        }
        // A domain signs for one contract: another contract is told it is taken, not by whom.
        let (_, b_admin) = server.contract_with_key("b", Role::Admin, true).await;
        let r = server
            .post_json(
                "/api/v1/settings/sender-domains",
                &b_admin,
                &json!({"domain": "shop.example"}),
            )
            .await;
        assert_eq!((r.status, r.error_code().as_str()), (409, "already_exists"));
        assert!(!r.text().contains(a.as_str()));
        // B sees none of A's domains, and cannot reach them by name.
        let r = server
            .get("/api/v1/settings/sender-domains", &b_admin)
            .await;
        assert_eq!(r.json()["domains"], json!([]));
        for (method, path) in [
            ("GET", "/api/v1/settings/sender-domains/shop.example"),
            ("DELETE", "/api/v1/settings/sender-domains/shop.example"),
            ("POST", "/api/v1/settings/sender-domains/shop.example/check"),
        ] {
            let r = server.call(method, path, Some(&b_admin), None, b"").await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.text());
        }

        // A viewer reads, and may not change; billing sees nothing.
        let list = server.get("/api/v1/settings/sender-domains", &viewer).await;
        assert_eq!(list.status, 200);
        let listed = list.json();
        let domains: Vec<&str> = listed["domains"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["domain"].as_str().unwrap())
            .collect();
        assert_eq!(domains, ["news.example", "shop.example"]);
        let shown = server
            .get("/api/v1/settings/sender-domains/SHOP.example", &viewer)
            .await;
        assert_eq!(shown.status, 200);
        assert_eq!(shown.json()["keys"][0]["record"], record);
        let r = server
            .post_json(
                "/api/v1/settings/sender-domains",
                &viewer,
                &json!({"domain": "v.example"}),
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(
            server
                .delete("/api/v1/settings/sender-domains/shop.example", &viewer)
                .await
                .status,
            403
        );
        assert_eq!(
            server
                .get("/api/v1/settings/sender-domains", &billing)
                .await
                .status,
            403
        );
        // Without a DNS server configured, the check says so instead of guessing.
        let r = server
            .call(
                "POST",
                "/api/v1/settings/sender-domains/shop.example/check",
                Some(&admin),
                None,
                b"",
            )
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (409, "dns_not_configured")
        );
        assert!(r.text().contains("dns.resolver"), "{}", r.text());

        let r = server
            .delete("/api/v1/settings/sender-domains/shop.example", &admin)
            .await;
        assert_eq!(r.status, 204);
        let r = server
            .delete("/api/v1/settings/sender-domains/shop.example", &admin)
            .await;
        assert_eq!(r.status, 404);
        // The store agrees: the domain and its key are gone.
        assert!(
            server
                .store
                .sender_domain(Some(&a), "shop.example")
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn the_dns_check_reads_the_records_and_switches_to_a_published_pending_key() {
    let dns = TestDns::start().await.unwrap();
    dns.txt("_spf.mail.hikyaku.test", "v=spf1 ip4:192.0.2.10 ~all")
        .await;
    for backend in BACKENDS {
        let domain = match backend {
            Backend::Sqlite => "shop.example",
            Backend::Postgres => "store.example",
        };
        let Some(server) = Server::start(backend, &dns_config(&dns.addr().to_string())).await
        else {
            continue;
        };
        let (a, admin) = server.contract_with_key("a", Role::Admin, true).await;
        let r = server
            .post_json(
                "/api/v1/settings/sender-domains",
                &admin,
                &json!({"domain": domain, "algorithm": "ed25519"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let key = r.json()["keys"][0].clone();
        let name = key["record_name"].as_str().unwrap().to_string();
        let check_path = format!("/api/v1/settings/sender-domains/{domain}/check");
        async fn check_of(server: &Server, path: &str, key: &str) -> serde_json::Value {
            let r = server.call("POST", path, Some(key), None, b"").await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        }
        let finding = |answer: &serde_json::Value, name: &str| {
            answer["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no finding for {name}: {answer}"))
        };

        // Nothing published yet: the key's record and the SPF record are missing, with fixes.
        let answer = check_of(&server, &check_path, &admin).await;
        let dkim = finding(&answer, &name);
        assert_eq!(dkim["status"], "missing", "{answer}");
        assert_eq!(dkim["type"], "TXT");
        assert!(dkim["fix"].as_str().unwrap().contains("p="), "{dkim}");
        let spf = finding(&answer, domain);
        assert_eq!(spf["status"], "missing", "{answer}");
        assert!(
            spf["fix"]
                .as_str()
                .unwrap()
                .contains("include:_spf.mail.hikyaku.test"),
            "{spf}"
        );
        assert_eq!(answer["switched"], false);

        // Published as the answer said: right.
        dns.txt(&name, key["record"].as_str().unwrap()).await;
        dns.txt(domain, "v=spf1 include:_spf.mail.hikyaku.test ~all")
            .await;
        let answer = check_of(&server, &check_path, &admin).await;
        assert_eq!(finding(&answer, &name)["status"], "right", "{answer}");
        assert_eq!(finding(&answer, domain)["status"], "right", "{answer}");

        // A rotation: the pending key switches in only once its record is there.
        let stored = server
            .store
            .sender_domain(Some(&a), domain)
            .await
            .unwrap()
            .unwrap();
        let new = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let selector = "hknext";
        server
            .store
            .add_pending_dkim_keys(
                stored.id,
                &[NewDkimKey {
                    selector,
                    algorithm: "ed25519",
                    public_key: &new.public_key_base64(),
                    private_key_pem: &new.to_pem(),
                }],
            )
            .await
            .unwrap();
        let pending_name = format!("{selector}._domainkey.{domain}");
        let answer = check_of(&server, &check_path, &admin).await;
        assert_eq!(finding(&answer, &pending_name)["status"], "missing");
        assert_eq!(answer["switched"], false);
        let shown = server
            .get(&format!("/api/v1/settings/sender-domains/{domain}"), &admin)
            .await
            .json();
        let pending = shown["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["selector"] == selector)
            .unwrap()
            .clone();
        assert_eq!(pending["state"], "pending");
        dns.txt(&pending_name, pending["record"].as_str().unwrap())
            .await;
        let answer = check_of(&server, &check_path, &admin).await;
        assert_eq!(finding(&answer, &pending_name)["status"], "right");
        assert_eq!(answer["switched"], true, "{answer}");
        let after = server
            .store
            .sender_domain(Some(&a), domain)
            .await
            .unwrap()
            .unwrap();
        let state_of = |s: &str| {
            after
                .keys
                .iter()
                .find(|k| k.selector == s)
                .unwrap()
                .state
                .as_str()
        };
        assert_eq!(state_of(selector), "active");
        assert_eq!(state_of(key["selector"].as_str().unwrap()), "retired");

        // A viewer may not run it (a check may switch keys).
        let viewer = server.key_for(&a, Role::Viewer, true);
        let r = server
            .call("POST", &check_path, Some(&viewer), None, b"")
            .await;
        assert_eq!(r.status, 403);
    }
}

#[tokio::test]
async fn smime_certificates_install_list_mask_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = TestPki::create(
        dir.path(),
        TestKey::EcdsaP256,
        "Shop Info",
        Some("info@shop.example"),
        &["info@shop.example"],
        365,
    ) else {
        eprintln!("openssl is missing: S/MIME API test skipped");
        return;
    };
    let chain = std::fs::read_to_string(&pki.chain).unwrap();
    let key = std::fs::read_to_string(&pki.key).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = TestPki::create(
        other_dir.path(),
        TestKey::EcdsaP256,
        "Other",
        None,
        &["other@shop.example"],
        365,
    )
    .unwrap();
    let other_key = std::fs::read_to_string(&other.key).unwrap();
    let p12 = std::fs::read(pki.pkcs12("signer.p12", "s3cret", &[])).unwrap();
    let p12 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, p12);

    for backend in BACKENDS {
        let Some(server) = Server::start(backend, "").await else {
            continue;
        };
        let (a, admin) = server.contract_with_key("a", Role::Admin, true).await;
        let masked = server.key_for(&a, Role::Viewer, false);
        let r = server
            .post_json(
                "/api/v1/settings/smime-certificates",
                &admin,
                &json!({"certificate_pem": chain, "key_pem": key, "only_domains": ["Customer.Example"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let installed = r.json();
        assert_eq!(installed["addresses"], json!(["info@shop.example"]));
        assert_eq!(installed["only_domains"], json!(["customer.example"]));
        assert_eq!(installed["expiry"], "valid");
        assert!(!r.text().contains("PRIVATE"), "never the key");
        let id = installed["id"].as_i64().unwrap();

        // The same certificate from a PKCS#12 file; with a wrong password, the field is named.
        let r = server
            .post_json(
                "/api/v1/settings/smime-certificates",
                &admin,
                &json!({"pkcs12_base64": p12, "password": "wrong"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text());
        assert_eq!(r.json()["error"]["field"], "pkcs12_base64");
        assert!(r.text().contains("wrong password"), "{}", r.text());
        let r = server
            .post_json(
                "/api/v1/settings/smime-certificates",
                &admin,
                &json!({"pkcs12_base64": p12, "password": "s3cret"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let second = r.json()["id"].as_i64().unwrap();

        // A key of another certificate, nothing at all, a bad domain: refused, nothing stored.
        for body in [
            json!({"certificate_pem": chain, "key_pem": other_key}),
            json!({}),
            json!({"certificate_pem": chain, "key_pem": key, "only_domains": ["not a domain"]}),
        ] {
            let r = server
                .post_json("/api/v1/settings/smime-certificates", &admin, &body)
                .await;
            assert_eq!(r.status, 422, "{}", r.text());
        }

        let list = server
            .get("/api/v1/settings/smime-certificates", &admin)
            .await
            .json();
        assert_eq!(list["certificates"].as_array().unwrap().len(), 2, "{list}");
        assert!(list.to_string().contains("info@shop.example"));
        // A user without the address flag sees the addresses masked, in the subject too.
        let r = server
            .get("/api/v1/settings/smime-certificates", &masked)
            .await;
        assert_eq!(r.status, 200);
        assert!(!r.text().contains("info@shop.example"), "{}", r.text());
        assert!(r.text().contains("@shop.example"), "{}", r.text());
        // Changes need a writer.
        let r = server
            .post_json(
                "/api/v1/settings/smime-certificates",
                &masked,
                &json!({"certificate_pem": chain, "key_pem": key}),
            )
            .await;
        assert_eq!(r.status, 403);

        // Another contract can neither see nor remove A's.
        let (_, b_admin) = server.contract_with_key("b", Role::Admin, true).await;
        let r = server
            .get("/api/v1/settings/smime-certificates", &b_admin)
            .await;
        assert_eq!(r.json()["certificates"], json!([]));
        let r = server
            .delete(
                &format!("/api/v1/settings/smime-certificates/{id}"),
                &b_admin,
            )
            .await;
        assert_eq!(r.status, 404);

        for removed in [id, second] {
            let r = server
                .delete(
                    &format!("/api/v1/settings/smime-certificates/{removed}"),
                    &admin,
                )
                .await;
            assert_eq!(r.status, 204);
        }
        assert!(
            server
                .store
                .smime_certificates(&a)
                .await
                .unwrap()
                .is_empty()
        );
        let r = server
            .delete(
                &format!("/api/v1/settings/smime-certificates/{}", segment("x/1")),
                &admin,
            )
            .await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test]
async fn send_control_shows_the_operators_rules_as_delivery_applies_them() {
    let config = "[[delivery.destination]]\nmatch = \"docomo.ne.jp\"\nmax_connections = 2\n\
                  max_rate = \"300/min\"\n\
                  [[delivery.destination]]\nmatch = \"*\"\nmax_messages_per_connection = 50\n\
                  backoff = \"2m\"\n";
    let Some(server) = Server::start(Backend::Sqlite, config).await else {
        return;
    };
    let (a, viewer) = server.contract_with_key("a", Role::Viewer, false).await;
    let r = server.get("/api/v1/settings/send-control", &viewer).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let rules = r.json();
    assert_eq!(rules["rules"].as_array().unwrap().len(), 1, "{rules}");
    let docomo = &rules["rules"][0];
    assert_eq!(docomo["match"], "docomo.ne.jp");
    assert_eq!(docomo["max_connections"], 2);
    assert_eq!(docomo["max_rate"], "300/min");
    // What the rule leaves out it takes from `*`, as the delivery engine does.
    assert_eq!(docomo["max_messages_per_connection"], 50);
    assert_eq!(docomo["backoff_seconds"], 120);
    assert_eq!(rules["defaults"]["match"], "*");
    assert_eq!(rules["defaults"]["max_connections"], 20);
    assert_eq!(rules["defaults"]["max_rate"], serde_json::Value::Null);
    assert_eq!(rules["defaults"]["tls"], "opportunistic");
    let billing = server.key_for(&a, Role::Billing, false);
    assert_eq!(
        server
            .get("/api/v1/settings/send-control", &billing)
            .await
            .status,
        403
    );
}
