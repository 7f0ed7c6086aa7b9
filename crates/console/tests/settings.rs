//! The contract's settings pages in-process over real HTTP, on SQLite and PostgreSQL: every
//! page for every role (what the API's table lets each see and change), each page's forms
//! doing what they say through the API (secrets shown once, a generated password and a new
//! key that then really work), the DNS check against testkit's DNS server, tenant isolation
//! (a user of contract A never sees or touches B's settings), CSRF refused on every form.

mod common;

use common::{BACKENDS, Backend, Browser, Server};
use hikyaku_model::{CustomerId, Role};
use hikyaku_store::IdPage;
use hikyaku_testkit::TestDns;

/// Every settings page, with whether each role may read it (admin, sender, viewer, billing).
const PAGES: [(&str, [bool; 4]); 10] = [
    ("/settings", [true, true, true, true]),
    ("/settings/allowed-ips", [true, true, true, false]),
    ("/settings/smtp-credentials", [true, true, true, false]),
    ("/settings/sender-domains", [true, true, true, false]),
    ("/settings/send-control", [true, true, true, false]),
    ("/settings/webhooks", [true, false, false, false]),
    ("/settings/inbound-routes", [true, true, true, false]),
    ("/settings/smime", [true, true, true, false]),
    ("/settings/users", [true, false, false, false]),
    ("/settings/api-keys", [true, false, false, false]),
];

/// The add forms of the pages: a role that may change the page sees its form.
const FORMS: [(&str, &str, [bool; 4]); 9] = [
    (
        "/settings/allowed-ips",
        "/settings/allowed-ips/add",
        [true, true, false, false],
    ),
    (
        "/settings/smtp-credentials",
        "/settings/smtp-credentials/add",
        [true, true, false, false],
    ),
    (
        "/settings/sender-domains",
        "/settings/sender-domains/add",
        [true, true, false, false],
    ),
    (
        "/settings/webhooks",
        "/settings/webhooks/add",
        [true, false, false, false],
    ),
    (
        "/settings/inbound-routes",
        "/settings/inbound-routes/add",
        [true, true, false, false],
    ),
    (
        "/settings/smime",
        "/settings/smime/install",
        [true, true, false, false],
    ),
    (
        "/settings/users",
        "/settings/users/add",
        [true, false, false, false],
    ),
    (
        "/settings/api-keys",
        "/settings/api-keys/add",
        [true, false, false, false],
    ),
    (
        "/settings/send-control",
        "/settings/send-control/",
        [false; 4],
    ),
];

const ROLES: [(Role, &str); 4] = [
    (Role::Admin, "admin@a.example"),
    (Role::Sender, "sender@a.example"),
    (Role::Viewer, "viewer@a.example"),
    (Role::Billing, "billing@a.example"),
];

/// Logged in, reading the pages in English (the texts this file looks for).
async fn logged_in(server: &Server, customer: &CustomerId, email: &str) -> Browser {
    let mut browser = server.logged_in(customer, email).await;
    browser.accept_language = Some("en".into());
    browser
}

/// A contract with one console user of each role.
async fn contract(server: &Server, name: &str) -> CustomerId {
    let contract = server
        .store
        .create_contract(name, "standard")
        .await
        .unwrap();
    for (role, email) in ROLES {
        let email = email.replace("a.example", &format!("{name}.example"));
        server
            .user(&contract.customer_id, &email, role, role == Role::Admin)
            .await;
    }
    contract.customer_id
}

/// The CSRF token of the first form on `path`.
async fn csrf(browser: &mut Browser, path: &str) -> String {
    let page = browser.get(path).await;
    assert_eq!(page.status, 200, "{path}: {}", page.text());
    page.csrf()
}

/// The text between `from` and the next `to` after it.
fn between<'a>(text: &'a str, from: &str, to: &str) -> Option<&'a str> {
    let start = text.find(from)? + from.len();
    let end = text[start..].find(to)? + start;
    Some(&text[start..end])
}

#[tokio::test]
async fn every_page_for_every_role() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let a = contract(&server, "a").await;
        for (index, (role, email)) in ROLES.into_iter().enumerate() {
            let mut browser = logged_in(&server, &a, email).await;
            for (path, readers) in PAGES {
                let page = browser.get(path).await;
                let text = page.text();
                if readers[index] {
                    assert_eq!(page.status, 200, "{role:?} {path}: {text}");
                    assert!(
                        text.contains("aria-current=\"page\""),
                        "{role:?} {path}: the menu marks the page"
                    );
                } else {
                    // The API's table refuses the role; the page says so and shows nothing.
                    assert_eq!(page.status, 403, "{role:?} {path}: {text}");
                    assert!(text.contains("role=\"alert\""), "{role:?} {path}");
                }
                // The menu lists exactly the pages the role may read.
                for (other, other_readers) in PAGES {
                    let link = format!("<li><a href=\"{other}\"");
                    assert_eq!(
                        text.contains(&link),
                        other_readers[index],
                        "{role:?} on {path}: menu entry {other}"
                    );
                }
            }
            for (path, action, writers) in FORMS {
                let text = browser.get(path).await.text();
                assert_eq!(
                    text.contains(&format!("action=\"{action}\"")),
                    writers[index],
                    "{role:?} {path}: the form {action}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_admin_manages_every_setting_and_secrets_are_shown_once() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let a = contract(&server, "a").await;
        let mut admin = logged_in(&server, &a, "admin@a.example").await;

        // Allowed IP ranges: add, listed, a bad one explained, removed.
        let token = csrf(&mut admin, "/settings/allowed-ips").await;
        let reply = admin
            .post(
                "/settings/allowed-ips/add",
                &[("csrf", &token), ("cidr", "198.51.100.7/24")],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(
            reply.header("location"),
            Some("/settings/allowed-ips?done=added")
        );
        let page = admin.get("/settings/allowed-ips?done=added").await.text();
        assert!(
            page.contains("198.51.100.0/24") && page.contains("Added."),
            "{page}"
        );
        let reply = admin
            .post(
                "/settings/allowed-ips/add",
                &[("csrf", &token), ("cidr", "not a range")],
            )
            .await;
        assert_eq!(reply.status, 422);
        assert!(reply.text().contains("not an IP range"), "{}", reply.text());
        let reply = admin
            .post(
                "/settings/allowed-ips/remove",
                &[("csrf", &token), ("cidr", "198.51.100.0/24")],
            )
            .await;
        assert_eq!(reply.status, 303);
        assert!(server.store.allowed_ips(&a).await.unwrap().is_empty());

        // SMTP credentials: a generated password is shown in the answer, and only there; it
        // really authenticates.
        let reply = admin
            .post(
                "/settings/smtp-credentials/add",
                &[("csrf", &token), ("username", "app-smtp"), ("password", "")],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let password = between(&text, "<code id=\"shown-secret\">", "</code>")
            .expect("the generated password")
            .to_string();
        assert!(password.len() >= 16, "{password}");
        assert!(
            server
                .store
                .verify_smtp_credential("app-smtp", &password)
                .await
                .unwrap()
                .is_some()
        );
        let page = admin.get("/settings/smtp-credentials").await.text();
        assert!(page.contains("app-smtp") && !page.contains(&password));
        let reply = admin
            .post(
                "/settings/smtp-credentials/remove",
                &[("csrf", &token), ("username", "app-smtp")],
            )
            .await;
        assert_eq!(reply.status, 303);
        assert!(server.store.smtp_credentials(&a).await.unwrap().is_empty());

        // A sender domain: its DKIM record is on the page as the store's key makes it.
        let reply = admin
            .post(
                "/settings/sender-domains/add",
                &[
                    ("csrf", &token),
                    ("domain", "shop.example"),
                    ("algorithm", "ed25519"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let page = admin.get("/settings/sender-domains").await.text();
        let stored = server
            .store
            .sender_domain(Some(&a), "shop.example")
            .await
            .unwrap()
            .unwrap();
        let key = &stored.keys[0];
        assert!(
            page.contains(&format!("{}._domainkey.shop.example", key.selector)),
            "{page}"
        );
        assert!(
            page.contains(&format!("v=DKIM1; k=ed25519; p={}", key.public_key)),
            "{page}"
        );
        // The check without a DNS server configured: the API's reason, nothing made up.
        let reply = admin
            .post(
                "/settings/sender-domains/check",
                &[("csrf", &token), ("domain", "shop.example")],
            )
            .await;
        assert_eq!(reply.status, 409);
        assert!(reply.text().contains("dns.resolver"), "{}", reply.text());

        // Inbound route: the signing secret once.
        let reply = admin
            .post(
                "/settings/inbound-routes/add",
                &[
                    ("csrf", &token),
                    ("pattern", "inbox@shop.example"),
                    ("endpoint", "https://hooks.shop.example/inbound"),
                    ("forward_raw", "on"),
                ],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let signing = between(&text, "<code id=\"shown-secret\">", "</code>").unwrap();
        assert!(!signing.is_empty());
        let routes = server.store.inbound_routes(Some(&a)).await.unwrap();
        assert_eq!(routes.len(), 1);
        assert!(routes[0].forward_raw);
        let page = admin.get("/settings/inbound-routes").await.text();
        assert!(page.contains("hooks.shop.example") && !page.contains(signing));
        // Edited in place: an empty field keeps its value, the raw box says the format.
        let route = routes[0].id.to_string();
        let reply = admin
            .post(
                "/settings/inbound-routes/edit",
                &[
                    ("csrf", &token),
                    ("id", &route),
                    ("pattern", ""),
                    ("endpoint", "https://hooks.shop.example/inbound-v2"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(
            reply.header("location"),
            Some("/settings/inbound-routes?done=saved")
        );
        let edited = &server.store.inbound_routes(Some(&a)).await.unwrap()[0];
        assert_eq!(edited.pattern, "inbox@shop.example");
        assert_eq!(edited.endpoint, "https://hooks.shop.example/inbound-v2");
        assert!(!edited.forward_raw);
        let page = admin
            .get("/settings/inbound-routes?done=saved")
            .await
            .text();
        assert!(page.contains("inbound-v2"), "{page}");
        let reply = admin
            .post(
                "/settings/inbound-routes/edit",
                &[
                    ("csrf", &token),
                    ("id", &route),
                    ("endpoint", "ftp://x.example/"),
                ],
            )
            .await;
        assert_eq!(
            reply.status,
            422,
            "the API's refusal, shown: {}",
            reply.text()
        );

        // Webhook: the secret once, a rotation gives another, the test event queued.
        let reply = admin
            .post(
                "/settings/webhooks/add",
                &[
                    ("csrf", &token),
                    ("url", "https://hooks.shop.example/events"),
                    ("events", "bounced"),
                    ("events", "complaint"),
                ],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let secret = between(&text, "<code id=\"shown-secret\">", "</code>")
            .unwrap()
            .to_string();
        assert!(secret.starts_with("whsec_"), "{secret}");
        let endpoints = server.store.webhook_endpoints(&a).await.unwrap();
        assert_eq!(endpoints.len(), 1);
        let id = endpoints[0].id.to_string();
        let page = admin.get("/settings/webhooks").await.text();
        assert!(
            page.contains("bounced, complaint") && !page.contains(&secret),
            "{page}"
        );
        // Edited in place: the kinds as the boxes say, the URL kept when left empty, then the
        // endpoint off; the secret stays.
        let reply = admin
            .post(
                "/settings/webhooks/edit",
                &[
                    ("csrf", &token),
                    ("id", &id),
                    ("url", ""),
                    ("events", "delivered"),
                    ("format", "standard"),
                    ("one_per_request", "on"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let edited = &server.store.webhook_endpoints(&a).await.unwrap()[0];
        assert_eq!(edited.url, "https://hooks.shop.example/events");
        assert_eq!(edited.kinds, [hikyaku_model::EventKind::Delivered]);
        assert!(edited.one_per_request && edited.disabled.is_some());
        assert_eq!(edited.secret, endpoints[0].secret);
        let page = admin.get("/settings/webhooks?done=saved").await.text();
        assert!(page.contains("disabled by the contract"), "{page}");
        let reply = admin
            .post(
                "/settings/webhooks/edit",
                &[
                    ("csrf", &token),
                    ("id", &id),
                    ("events", "bounced"),
                    ("events", "complaint"),
                    ("enabled", "on"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let edited = &server.store.webhook_endpoints(&a).await.unwrap()[0];
        assert!(edited.disabled.is_none() && !edited.one_per_request);
        let reply = admin
            .post(
                "/settings/webhooks/edit",
                &[
                    ("csrf", &token),
                    ("id", &id),
                    ("events", "bounced"),
                    ("api_key", "k"),
                ],
            )
            .await;
        assert_eq!(
            reply.status,
            422,
            "the API's refusal, shown: {}",
            reply.text()
        );
        let reply = admin
            .post(
                "/settings/webhooks/rotate",
                &[("csrf", &token), ("id", &id)],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let rotated = between(&text, "<code id=\"shown-secret\">", "</code>").unwrap();
        assert!(rotated.starts_with("whsec_") && rotated != secret);
        let reply = admin
            .post("/settings/webhooks/test", &[("csrf", &token), ("id", &id)])
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let attempts = reply.header("location").unwrap().to_string();
        assert_eq!(
            attempts,
            format!("/settings/webhooks/{id}/attempts?done=test")
        );
        let page = admin.get(&attempts).await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(page.text().contains("A test event is on its way"));

        // A user: the generated password logs in.
        let reply = admin
            .post(
                "/settings/users/add",
                &[
                    ("csrf", &token),
                    ("email", "new@a.example"),
                    ("role", "viewer"),
                ],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let password = between(&text, "<code id=\"shown-secret\">", "</code>")
            .unwrap()
            .to_string();
        assert!(
            server
                .store
                .verify_console_login(&a, "new@a.example", &password)
                .await
                .unwrap()
                .is_some()
        );
        let page = admin.get("/settings/users").await.text();
        assert!(page.contains("new@a.example") && !page.contains(&password));

        // An API key: shown once, and it works against the API.
        let reply = admin
            .post(
                "/settings/api-keys/add",
                &[
                    ("csrf", &token),
                    ("name", "order system"),
                    ("role", "viewer"),
                ],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let key = between(&text, "<code id=\"shown-secret\">", "</code>")
            .unwrap()
            .to_string();
        assert!(key.starts_with("hk_"), "{key}");
        let mut api = server.browser();
        let reply = api
            .call(
                "GET",
                "/api/v1/settings/sender-domains",
                &[("Authorization", &format!("Bearer {key}"))],
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.text().contains("shop.example"));
        let page = admin.get("/settings/api-keys").await.text();
        assert!(page.contains("order system") && !page.contains(&key));
        let key_id = server.store.api_keys(&a, &IdPage::default()).await.unwrap()[0]
            .key_id
            .clone();
        let reply = admin
            .post(
                "/settings/api-keys/revoke",
                &[("csrf", &token), ("id", &key_id)],
            )
            .await;
        assert_eq!(reply.status, 303);
        let reply = api
            .call(
                "GET",
                "/api/v1/settings/sender-domains",
                &[("Authorization", &format!("Bearer {key}"))],
                None,
            )
            .await;
        assert_eq!(reply.status, 401, "a revoked key is refused");

        // Removing them again through the pages.
        let user_id = server
            .store
            .console_users(&a, &IdPage::default())
            .await
            .unwrap()
            .into_iter()
            .find(|u| u.email == "new@a.example")
            .unwrap()
            .user_id;
        for (path, field, value) in [
            ("/settings/users/remove", "id", user_id.as_str()),
            ("/settings/webhooks/remove", "id", id.as_str()),
            (
                "/settings/inbound-routes/remove",
                "id",
                &routes[0].id.to_string(),
            ),
            ("/settings/sender-domains/remove", "domain", "shop.example"),
        ] {
            let reply = admin.post(path, &[("csrf", &token), (field, value)]).await;
            assert_eq!(reply.status, 303, "{path}: {}", reply.text());
            assert!(reply.header("location").unwrap().ends_with("done=removed"));
        }
        assert!(server.store.webhook_endpoints(&a).await.unwrap().is_empty());
        assert!(
            server
                .store
                .inbound_routes(Some(&a))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            server
                .store
                .sender_domains(Some(&a))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn the_dns_button_shows_what_dns_says() {
    let dns = TestDns::start().await.unwrap();
    dns.txt("_spf.mail.hikyaku.test", "v=spf1 ip4:192.0.2.10 ~all")
        .await;
    dns.txt("shop.example", "v=spf1 include:_spf.mail.hikyaku.test ~all")
        .await;
    let config = format!(
        "service_domain = \"mail.hikyaku.test\"\n\
         [api]\nburst = 100000\nrequests_per_second = 100000\n\
         [bounce]\ndomain = \"bounce.mail.hikyaku.test\"\n\
         [dns]\nresolver = \"{}\"\n\
         [[dns.relay_node]]\nname = \"relay1.mail.hikyaku.test\"\naddresses = [\"192.0.2.10\"]\n",
        dns.addr()
    );
    let Some(server) = Server::start_with(Backend::Sqlite, &config).await else {
        return;
    };
    let a = contract(&server, "a").await;
    let mut admin = logged_in(&server, &a, "admin@a.example").await;
    let token = csrf(&mut admin, "/settings/sender-domains").await;
    let reply = admin
        .post(
            "/settings/sender-domains/add",
            &[("csrf", &token), ("domain", "shop.example")],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text());
    let check = || async {
        let mut admin = logged_in(&server, &a, "admin@a.example").await;
        let token = csrf(&mut admin, "/settings/sender-domains").await;
        let reply = admin
            .post(
                "/settings/sender-domains/check",
                &[("csrf", &token), ("domain", "shop.example")],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.text()
    };
    let selector = server
        .store
        .sender_domain(Some(&a), "shop.example")
        .await
        .unwrap()
        .unwrap()
        .keys[0]
        .selector
        .clone();
    let name = format!("{selector}._domainkey.shop.example");
    let row = |page: &str, name: &str| {
        let at = page
            .find(&format!("<code>{name}</code>"))
            .unwrap_or_else(|| panic!("no row for {name}: {page}"));
        let start = page[..at].rfind("<tr class=\"dns-").unwrap();
        page[start..at].to_string()
    };
    let page = check().await;
    assert!(page.contains("DNS check: shop.example"), "{page}");
    assert!(row(&page, &name).contains("dns-missing"), "{page}");
    assert!(row(&page, "shop.example").contains("dns-right"), "{page}");
    assert!(
        row(&page, "_dmarc.shop.example").contains("dns-missing"),
        "{page}"
    );

    // Published as the page shows it: right.
    let record = server
        .store
        .sender_domain(Some(&a), "shop.example")
        .await
        .unwrap()
        .unwrap()
        .keys[0]
        .public_key
        .clone();
    dns.txt(&name, &format!("v=DKIM1; k=rsa; p={record}")).await;
    let page = check().await;
    assert!(row(&page, &name).contains("dns-right"), "{page}");
}

#[tokio::test]
async fn a_user_of_one_contract_never_sees_or_touches_anothers_settings() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let a = contract(&server, "a").await;
        let b = contract(&server, "b").await;
        let mut a_admin = logged_in(&server, &a, "admin@a.example").await;
        let token = csrf(&mut a_admin, "/settings/allowed-ips").await;
        for (path, fields) in [
            (
                "/settings/allowed-ips/add",
                vec![("cidr", "203.0.113.0/24")],
            ),
            (
                "/settings/smtp-credentials/add",
                vec![
                    ("username", "a-secret-smtp"),
                    ("password", "a-long-password"),
                ],
            ),
            (
                "/settings/sender-domains/add",
                vec![("domain", "a-secret.example"), ("algorithm", "ed25519")],
            ),
            (
                "/settings/inbound-routes/add",
                vec![
                    ("pattern", "in@a-secret.example"),
                    ("endpoint", "https://a-secret-hook.example/in"),
                ],
            ),
            (
                "/settings/webhooks/add",
                vec![("url", "https://a-secret-hook.example/events")],
            ),
            (
                "/settings/api-keys/add",
                vec![("name", "a-secret-key"), ("role", "sender")],
            ),
        ] {
            let mut all = vec![("csrf", token.as_str())];
            all.extend(fields);
            let reply = a_admin.post(path, &all).await;
            assert!(
                reply.status == 303 || reply.status == 200,
                "{path}: {} {}",
                reply.status,
                reply.text()
            );
        }
        let route = server.store.inbound_routes(Some(&a)).await.unwrap()[0].id;
        let endpoint = server.store.webhook_endpoints(&a).await.unwrap()[0].id;
        let key_id = server.store.api_keys(&a, &IdPage::default()).await.unwrap()[0]
            .key_id
            .clone();
        let user_id = server
            .store
            .console_users(&a, &IdPage::default())
            .await
            .unwrap()[0]
            .user_id
            .clone();

        // B's users see none of it, on any page.
        for (role, email) in ROLES {
            let email = email.replace("a.example", "b.example");
            let mut browser = logged_in(&server, &b, &email).await;
            for (path, _) in PAGES {
                let text = browser.get(path).await.text();
                for secret in ["203.0.113", "a-secret", a.as_str(), &key_id, &user_id] {
                    assert!(
                        !text.contains(secret),
                        "{role:?} of B on {path} saw {secret}"
                    );
                }
            }
        }
        // B's admin naming A's things changes nothing of A's.
        let mut b_admin = logged_in(&server, &b, "admin@b.example").await;
        let b_token = csrf(&mut b_admin, "/settings/allowed-ips").await;
        let route = route.to_string();
        let endpoint = endpoint.to_string();
        for (path, field, value) in [
            ("/settings/allowed-ips/remove", "cidr", "203.0.113.0/24"),
            (
                "/settings/smtp-credentials/remove",
                "username",
                "a-secret-smtp",
            ),
            (
                "/settings/sender-domains/remove",
                "domain",
                "a-secret.example",
            ),
            (
                "/settings/sender-domains/check",
                "domain",
                "a-secret.example",
            ),
            ("/settings/inbound-routes/remove", "id", route.as_str()),
            ("/settings/inbound-routes/edit", "id", route.as_str()),
            ("/settings/webhooks/remove", "id", endpoint.as_str()),
            ("/settings/webhooks/edit", "id", endpoint.as_str()),
            ("/settings/webhooks/rotate", "id", endpoint.as_str()),
            ("/settings/webhooks/test", "id", endpoint.as_str()),
            ("/settings/api-keys/revoke", "id", key_id.as_str()),
            ("/settings/users/remove", "id", user_id.as_str()),
        ] {
            let reply = b_admin
                .post(path, &[("csrf", &b_token), (field, value)])
                .await;
            assert_eq!(reply.status, 404, "{path}: {}", reply.text());
        }
        let page = b_admin
            .get(&format!("/settings/webhooks/{endpoint}/attempts"))
            .await;
        assert_eq!(page.status, 404);
        assert_eq!(server.store.allowed_ips(&a).await.unwrap().len(), 1);
        assert_eq!(server.store.smtp_credentials(&a).await.unwrap().len(), 1);
        assert_eq!(
            server.store.sender_domains(Some(&a)).await.unwrap().len(),
            1
        );
        assert_eq!(
            server.store.inbound_routes(Some(&a)).await.unwrap().len(),
            1
        );
        assert_eq!(server.store.webhook_endpoints(&a).await.unwrap().len(), 1);
        assert_eq!(
            server
                .store
                .api_keys(&a, &IdPage::default())
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            server
                .store
                .console_users(&a, &IdPage::default())
                .await
                .unwrap()
                .len(),
            4
        );
    }
}

#[tokio::test]
async fn every_settings_form_refuses_a_post_without_its_token() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let a = contract(&server, "a").await;
    let b = contract(&server, "b").await;
    let mut admin = logged_in(&server, &a, "admin@a.example").await;
    // Another session's token is no better than none.
    let mut other = logged_in(&server, &b, "admin@b.example").await;
    let foreign = csrf(&mut other, "/settings/allowed-ips").await;
    let forms: [(&str, Vec<(&str, &str)>); 19] = [
        (
            "/settings/allowed-ips/add",
            vec![("cidr", "203.0.113.0/24")],
        ),
        (
            "/settings/allowed-ips/remove",
            vec![("cidr", "203.0.113.0/24")],
        ),
        ("/settings/smtp-credentials/add", vec![("username", "x")]),
        ("/settings/smtp-credentials/remove", vec![("username", "x")]),
        (
            "/settings/sender-domains/add",
            vec![("domain", "x.example")],
        ),
        (
            "/settings/sender-domains/remove",
            vec![("domain", "x.example")],
        ),
        (
            "/settings/sender-domains/check",
            vec![("domain", "x.example")],
        ),
        (
            "/settings/inbound-routes/add",
            vec![("pattern", "x.example"), ("endpoint", "https://x.example/")],
        ),
        ("/settings/inbound-routes/remove", vec![("id", "1")]),
        (
            "/settings/inbound-routes/edit",
            vec![("id", "1"), ("endpoint", "https://x.example/")],
        ),
        (
            "/settings/webhooks/add",
            vec![("url", "https://x.example/")],
        ),
        (
            "/settings/webhooks/edit",
            vec![("id", "1"), ("events", "bounced")],
        ),
        ("/settings/webhooks/remove", vec![("id", "1")]),
        ("/settings/webhooks/test", vec![("id", "1")]),
        ("/settings/webhooks/rotate", vec![("id", "1")]),
        ("/settings/smime/install", vec![("certificate_pem", "x")]),
        (
            "/settings/users/add",
            vec![("email", "x@a.example"), ("role", "admin")],
        ),
        (
            "/settings/api-keys/add",
            vec![("name", "x"), ("role", "admin")],
        ),
        ("/settings/api-keys/revoke", vec![("id", "k1")]),
    ];
    for (path, fields) in &forms {
        for token in [None, Some(foreign.as_str())] {
            let mut all = fields.clone();
            if let Some(token) = token {
                all.push(("csrf", token));
            }
            let reply = admin.post(path, &all).await;
            assert_eq!(reply.status, 403, "{path} {token:?}: {}", reply.text());
        }
    }
    assert!(server.store.allowed_ips(&a).await.unwrap().is_empty());
    assert!(server.store.smtp_credentials(&a).await.unwrap().is_empty());
    assert!(
        server
            .store
            .sender_domains(Some(&a))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        server
            .store
            .inbound_routes(Some(&a))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(server.store.webhook_endpoints(&a).await.unwrap().is_empty());
    assert!(
        server
            .store
            .api_keys(&a, &IdPage::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        server
            .store
            .console_users(&a, &IdPage::default())
            .await
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn a_viewer_cannot_change_settings_even_by_posting_the_form() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let a = contract(&server, "a").await;
    let mut viewer = logged_in(&server, &a, "viewer@a.example").await;
    let token = csrf(&mut viewer, "/settings/allowed-ips").await;
    let reply = viewer
        .post(
            "/settings/allowed-ips/add",
            &[("csrf", &token), ("cidr", "203.0.113.0/24")],
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    let reply = viewer
        .post(
            "/settings/api-keys/add",
            &[("csrf", &token), ("name", "sneaky"), ("role", "admin")],
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(server.store.allowed_ips(&a).await.unwrap().is_empty());
    assert!(
        server
            .store
            .api_keys(&a, &IdPage::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn smime_certificates_through_the_page_and_masked_for_viewers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = hikyaku_testkit::TestPki::create(
        dir.path(),
        hikyaku_testkit::TestKey::Rsa2048,
        "Shop Info",
        Some("info@a.example"),
        &["info@a.example"],
        20,
    ) else {
        eprintln!("openssl is missing: S/MIME console test skipped");
        return;
    };
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let a = contract(&server, "a").await;
    let mut sender = logged_in(&server, &a, "sender@a.example").await;
    let token = csrf(&mut sender, "/settings/smime").await;
    let chain = std::fs::read_to_string(&pki.chain).unwrap();
    let key = std::fs::read_to_string(&pki.key).unwrap();
    let reply = sender
        .post(
            "/settings/smime/install",
            &[
                ("csrf", &token),
                ("certificate_pem", &chain),
                ("key_pem", &key),
                ("only_domains", "customer.example, other.example"),
            ],
        )
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text());
    let page = sender.get("/settings/smime?done=added").await.text();
    // The sender user does not see addresses: masked, in the subject too.
    assert!(!page.contains("info@a.example"), "{page}");
    assert!(page.contains("customer.example, other.example"), "{page}");
    // 20 days left: flagged.
    assert!(page.contains("expires within 30 days"), "{page}");
    let mut admin = logged_in(&server, &a, "admin@a.example").await;
    let page = admin.get("/settings/smime").await.text();
    assert!(page.contains("info@a.example"), "{page}");
    // A key that is not the certificate's: the API's reason on the page.
    let reply = sender
        .post(
            "/settings/smime/install",
            &[
                ("csrf", &token),
                ("certificate_pem", &chain),
                (
                    "key_pem",
                    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                ),
            ],
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    let id = server.store.smime_certificates(&a).await.unwrap()[0].id;
    let reply = sender
        .post(
            "/settings/smime/remove",
            &[("csrf", &token), ("id", &id.to_string())],
        )
        .await;
    assert_eq!(reply.status, 303);
    assert!(
        server
            .store
            .smime_certificates(&a)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_settings_pages_speak_japanese_and_english() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let a = contract(&server, "a").await;
    let mut browser = server.browser();
    assert_eq!(browser.log_in(&a, "admin@a.example").await.status, 303);
    let ja = browser.get("/settings/sender-domains").await.text();
    assert!(
        ja.contains("<html lang=\"ja\">") && ja.contains("送信ドメイン"),
        "{ja}"
    );
    assert!(ja.contains("送信制御") && ja.contains("APIキー"));
    browser.accept_language = Some("en".into());
    let en = browser.get("/settings/send-control").await.text();
    assert!(
        en.contains("Send control") && en.contains("Every other destination"),
        "{en}"
    );
}
