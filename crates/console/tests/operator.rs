//! The operator area in-process over real HTTP (SQLite and PostgreSQL): the operator's own
//! login (password, TOTP), every operator page and form, contracts' users kept out of it and
//! the operator kept out of contracts' pages, CSRF on every form, and the contract's side
//! (the inquiry form, upcoming maintenance on the dashboard).

mod common;

use common::{BACKENDS, Backend, PASSWORD, Server};
use hikyaku_console::clock::Zone;
use hikyaku_model::{Role, Timestamp};

const CONFIG: &str = "[api]\nburst = 100000\nrequests_per_second = 100000\n\
    [contracts]\nplans = [\"standard\", \"pro\"]\n[plans.standard]\nmonthly_volume = 1000\n";
const DAY_MS: i64 = 86_400_000;

/// A `datetime-local` value `millis` from now, in Asia/Tokyo (the operator's zone).
fn local_input(millis_from_now: i64) -> String {
    let text = Zone::default().format(Timestamp::now().as_millis() + millis_from_now);
    text.replace(' ', "T")[..16].to_string()
}

#[tokio::test]
async fn the_operator_logs_in_apart_and_uses_every_page() {
    for backend in BACKENDS {
        let Some(server) = Server::start_with(backend, CONFIG).await else {
            continue;
        };
        // Without an operator session every operator page goes to the operator's login.
        let mut anonymous = server.browser();
        for path in [
            "/operator",
            "/operator/usage",
            "/operator/inquiries",
            "/operator/maintenance",
            "/operator/nodes",
        ] {
            let reply = anonymous.get(path).await;
            assert_eq!(reply.status, 303, "{path}");
            assert_eq!(reply.header("location"), Some("/operator/login"), "{path}");
        }
        server
            .store
            .create_operator_user("ops@hikyaku.example", PASSWORD)
            .await
            .unwrap();
        let page = anonymous.get("/operator/login").await;
        let csrf = page.csrf();
        for (email, password) in [
            ("ops@hikyaku.example", "wrong password"),
            ("nobody@hikyaku.example", PASSWORD),
        ] {
            let reply = anonymous
                .post(
                    "/operator/login",
                    &[("csrf", &csrf), ("email", email), ("password", password)],
                )
                .await;
            assert_eq!(reply.status, 401, "{email}");
            assert!(!anonymous.cookies.contains_key("hk_operator"));
        }
        let reply = anonymous
            .post(
                "/operator/login",
                &[
                    ("csrf", &csrf),
                    ("email", "OPS@hikyaku.example"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let cookie = reply
            .headers
            .iter()
            .find(|(n, v)| n == "set-cookie" && v.starts_with("hk_operator="))
            .map(|(_, v)| v.clone())
            .expect("an operator session cookie");
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/operator"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let mut op = anonymous;
        op.accept_language = Some("en".into());

        // Contracts: create, change plan, suspend, resume, terminate.
        let page = op.get("/operator").await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(page.text().contains("<title>Contracts"), "{}", page.text());
        assert!(page.text().contains("No contracts yet."));
        let csrf = page.csrf();
        let reply = op
            .post(
                "/operator/contracts",
                &[("csrf", &csrf), ("name", "Example Shop"), ("plan", "pro")],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(reply.header("location"), Some("/operator?done=created"));
        let contracts = server.store.contracts().await.unwrap();
        assert_eq!(contracts.len(), 1);
        let shop = contracts[0].customer_id.clone();
        assert_eq!(contracts[0].plan, "pro");
        let page = op.get("/operator?done=created").await;
        assert!(page.text().contains("The contract was created."));
        assert!(page.text().contains("Example Shop"));
        assert!(page.text().contains(&format!("id=\"contract-{shop}\"")));

        let reply = op
            .post(
                &format!("/operator/contracts/{shop}/plan"),
                &[("csrf", &csrf), ("plan", "standard")],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let contract = server.store.contract(&shop).await.unwrap().unwrap();
        assert_eq!(contract.plan, "standard");
        // An unknown plan is refused with the API's words.
        let reply = op
            .post(
                &format!("/operator/contracts/{shop}/plan"),
                &[("csrf", &csrf), ("plan", "gold")],
            )
            .await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        assert!(reply.text().contains("unknown plan"), "{}", reply.text());
        for (action, state) in [
            ("resume", "active"),
            ("suspend", "suspended"),
            ("resume", "active"),
        ] {
            let reply = op
                .post(
                    &format!("/operator/contracts/{shop}/{action}"),
                    &[("csrf", &csrf)],
                )
                .await;
            assert_eq!(reply.status, 303, "{action}: {}", reply.text());
            let contract = server.store.contract(&shop).await.unwrap().unwrap();
            assert_eq!(contract.state.as_str(), state, "{action}");
        }
        let reply = op
            .post(
                &format!("/operator/contracts/{shop}/explode"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(reply.status, 404);

        // The contract's user writes to the operator.
        server
            .user(&shop, "taro@shop.example", Role::Billing, false)
            .await;
        let mut user = server.browser();
        let reply = user.log_in(&shop, "taro@shop.example").await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let page = user.get("/inquiry").await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(
            page.text()
                .contains("href=\"/inquiry\" aria-current=\"page\"")
        );
        let user_csrf = page.csrf();
        let reply = user
            .post(
                "/inquiry",
                &[("csrf", &user_csrf), ("subject", ""), ("body", "x")],
            )
            .await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        let reply = user
            .post(
                "/inquiry",
                &[
                    ("csrf", &user_csrf),
                    ("subject", "Our invoice <b>"),
                    ("body", "Could you check\nour November invoice?"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(reply.header("location"), Some("/inquiry?sent=1"));
        let page = op.get("/operator/inquiries").await;
        assert_eq!(page.status, 200);
        let text = page.text();
        assert!(text.contains("Our invoice &#60;b&#62;"), "escaped: {text}");
        assert!(text.contains("taro@shop.example"), "{text}");
        assert!(text.contains("Mark handled"), "{text}");
        let id = server.store.inquiries(10).await.unwrap()[0].id;
        let reply = op
            .post(
                &format!("/operator/inquiries/{id}/handled"),
                &[("csrf", &csrf), ("handled", "true")],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert!(
            server.store.inquiries(10).await.unwrap()[0]
                .handled_at
                .is_some()
        );
        assert!(
            op.get("/operator/inquiries")
                .await
                .text()
                .contains("Reopen")
        );

        // Usage of every contract.
        let page = op.get("/operator/usage").await;
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(page.text().contains(shop.as_str()));
        let page = op.get("/operator/usage?month=2026-13").await;
        assert_eq!(page.status, 400, "{}", page.text());
        assert!(
            page.text().contains("month must be YYYY-MM"),
            "{}",
            page.text()
        );

        // Maintenance: 14 days ahead unless an emergency.
        let page = op.get("/operator/maintenance").await;
        assert_eq!(page.status, 200);
        assert!(page.text().contains("No maintenance notices."));
        let fields = |title: &'static str, from: i64, emergency: bool| {
            let mut f = vec![
                ("csrf", csrf.clone()),
                ("title", title.to_string()),
                ("body", "The relay stops for an hour.".to_string()),
                ("starts_at", local_input(from)),
                ("ends_at", local_input(from + 3_600_000)),
            ];
            if emergency {
                f.push(("emergency", "on".to_string()));
            }
            f
        };
        let soon = fields("Urgent fix", 2 * DAY_MS, false);
        let pairs: Vec<(&str, &str)> = soon.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = op.post("/operator/maintenance", &pairs).await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        assert!(reply.text().contains("14 days"), "{}", reply.text());
        assert!(
            reply.text().contains("value=\"Urgent fix\""),
            "the form is kept"
        );
        let urgent = fields("Urgent fix", 2 * DAY_MS, true);
        let pairs: Vec<(&str, &str)> = urgent.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = op.post("/operator/maintenance", &pairs).await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let page = op.get("/operator/maintenance?done=announced").await;
        assert!(
            page.text().contains("its mail to every contract"),
            "{}",
            page.text()
        );
        assert!(page.text().contains("Urgent fix"));
        let bad = [
            ("csrf", csrf.as_str()),
            ("title", "x"),
            ("starts_at", "tomorrow"),
            ("ends_at", ""),
        ];
        let reply = op.post("/operator/maintenance", &bad).await;
        assert_eq!(reply.status, 422);
        assert!(reply.text().contains("Give the start and the end"));
        let notices = server.store.list_notices(Some(&shop), 10).await.unwrap();
        assert!(
            notices
                .iter()
                .any(|n| n.kind == hikyaku_model::NoticeKind::Maintenance),
            "{notices:?}"
        );
        // The contract's dashboard shows it while it is upcoming.
        let dashboard = user.get("/").await;
        assert_eq!(dashboard.status, 200);
        assert!(dashboard.text().contains("id=\"maintenance\""));
        assert!(
            dashboard.text().contains("Urgent fix"),
            "{}",
            dashboard.text()
        );

        // Nodes and their heartbeats.
        let page = op.get("/operator/nodes").await;
        assert!(page.text().contains("No node has sent a heartbeat yet."));
        server
            .store
            .node_heartbeat(
                "relay-1",
                "0.1.0",
                &["smtp 127.0.0.1:25".to_string()],
                Timestamp::now(),
                Timestamp::now(),
            )
            .await
            .unwrap();
        let page = op.get("/operator/nodes").await;
        assert!(page.text().contains("relay-1"), "{}", page.text());
        assert!(page.text().contains("smtp 127.0.0.1:25"));
        assert!(page.text().contains("healthy"));

        // Terminate, then log out: the session is gone from the store too.
        let reply = op
            .post(
                &format!("/operator/contracts/{shop}/terminate"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(reply.status, 303);
        let page = op.get("/operator").await;
        assert!(page.text().contains("terminated"));
        let token = op.cookies["hk_operator"].clone();
        let reply = op.post("/operator/logout", &[("csrf", &csrf)]).await;
        assert_eq!(reply.status, 303);
        assert_eq!(reply.header("location"), Some("/operator/login"));
        assert!(!op.cookies.contains_key("hk_operator"));
        op.cookies.insert("hk_operator".into(), token);
        let reply = op.get("/operator").await;
        assert_eq!(reply.header("location"), Some("/operator/login"));
    }
}

#[tokio::test]
async fn contracts_and_the_operator_stay_apart() {
    for backend in BACKENDS {
        let Some(server) = Server::start_with(backend, CONFIG).await else {
            continue;
        };
        let (a, _) = server
            .contract_with_user("a", "admin@a.example", Role::Admin, true)
            .await;
        common::accept(
            &server.store,
            &a,
            Timestamp::now().as_millis() - 1000,
            "shop@a.example",
            &["secret.customer@b.example"],
            &[],
        )
        .await;
        // A contract's admin, logged in, never opens an operator page, even with its own
        // session token presented as the operator's cookie.
        let mut admin = server.browser();
        assert_eq!(admin.log_in(&a, "admin@a.example").await.status, 303);
        for path in ["/operator", "/operator/inquiries", "/operator/nodes"] {
            let reply = admin.get(path).await;
            assert_eq!(reply.status, 303, "{path}");
            assert_eq!(reply.header("location"), Some("/operator/login"));
        }
        let token = admin.cookies["hk_session"].clone();
        admin.cookies.insert("hk_operator".into(), token);
        let reply = admin.get("/operator").await;
        assert_eq!(reply.header("location"), Some("/operator/login"));
        // Nor can it post an operator form.
        let reply = admin
            .post("/operator/contracts", &[("csrf", "x"), ("name", "evil")])
            .await;
        assert_eq!(reply.status, 303);
        assert_eq!(server.store.contracts().await.unwrap().len(), 1);

        // The operator never sees a contract's pages, even with its token as a contract's.
        let mut op = server.operator_logged_in("ops@hikyaku.example").await;
        for path in ["/", "/log", "/suppressions", "/settings", "/inquiry"] {
            let reply = op.get(path).await;
            assert_eq!(reply.status, 303, "{path}");
            assert_eq!(reply.header("location"), Some("/login"), "{path}");
        }
        let token = op.cookies["hk_operator"].clone();
        op.cookies.insert("hk_session".into(), token);
        for path in ["/", "/log?recipient=secret.customer%40b.example"] {
            let reply = op.get(path).await;
            assert_eq!(reply.header("location"), Some("/login"), "{path}");
            assert!(!reply.text().contains("secret.customer"));
        }
        // And no operator page shows a contract's send log or addresses.
        for path in [
            "/operator",
            "/operator/usage",
            "/operator/inquiries",
            "/operator/maintenance",
            "/operator/nodes",
        ] {
            let reply = op.get(path).await;
            assert_eq!(reply.status, 200, "{path}");
            let text = reply.text();
            assert!(!text.contains("secret.customer"), "{path}");
            assert!(!text.contains("admin@a.example"), "{path}");
        }
    }
}

#[tokio::test]
async fn every_operator_form_wants_its_csrf_token() {
    let Some(server) = Server::start_with(Backend::Sqlite, CONFIG).await else {
        return;
    };
    let (a, _) = server
        .contract_with_user("a", "admin@a.example", Role::Admin, true)
        .await;
    let mut op = server.operator_logged_in("ops@hikyaku.example").await;
    assert_eq!(op.get("/operator").await.status, 200);
    for token in ["", "forged-token"] {
        for (path, fields) in [
            ("/operator/contracts", vec![("name", "x")]),
            (&*format!("/operator/contracts/{a}/suspend"), vec![]),
            (
                &*format!("/operator/contracts/{a}/plan"),
                vec![("plan", "pro")],
            ),
            (
                "/operator/maintenance",
                vec![
                    ("title", "x"),
                    ("starts_at", "2030-01-01T00:00"),
                    ("ends_at", "2030-01-02T00:00"),
                ],
            ),
            ("/operator/inquiries/1/handled", vec![("handled", "true")]),
            ("/operator/logout", vec![]),
        ] {
            let mut all = vec![("csrf", token)];
            all.extend(fields);
            let reply = op.post(path, &all).await;
            assert_eq!(reply.status, 403, "{path} with {token:?}");
            assert!(reply.text().contains("role=\"alert\""), "{path}");
        }
    }
    // Nothing changed, and the session still stands.
    assert_eq!(server.store.contracts().await.unwrap().len(), 1);
    let contract = server.store.contract(&a).await.unwrap().unwrap();
    assert_eq!(
        (contract.state.as_str(), contract.plan.as_str()),
        ("trial", "standard")
    );
    assert!(
        server
            .store
            .maintenance_notices(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(op.get("/operator").await.status, 200);
    // The login form wants the pre-session's token too.
    let mut fresh = server.browser();
    fresh.get("/operator/login").await;
    let reply = fresh
        .post(
            "/operator/login",
            &[
                ("csrf", "forged"),
                ("email", "ops@hikyaku.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(!fresh.cookies.contains_key("hk_operator"));
    // And the contract's inquiry form.
    let mut user = server.browser();
    user.log_in(&a, "admin@a.example").await;
    let reply = user
        .post("/inquiry", &[("subject", "x"), ("body", "y")])
        .await;
    assert_eq!(reply.status, 403);
    assert!(server.store.inquiries(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_operator_second_factor_and_languages() {
    for backend in BACKENDS {
        let Some(server) = Server::start_with(backend, CONFIG).await else {
            continue;
        };
        let user = server
            .store
            .create_operator_user("ops@hikyaku.example", PASSWORD)
            .await
            .unwrap();
        let secret = hikyaku_console::operator::new_totp_secret();
        assert!(
            server
                .store
                .set_operator_totp(&user.user_id, Some(&secret))
                .await
                .unwrap()
        );
        let mut op = server.browser();
        // Japanese unless the browser asks for English.
        let page = op.get("/operator/login").await;
        assert!(page.text().contains("<html lang=\"ja\">"));
        assert!(page.text().contains("運用者ログイン"));
        let csrf = page.csrf();
        let reply = op
            .post(
                "/operator/login",
                &[
                    ("csrf", &csrf),
                    ("email", "ops@hikyaku.example"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(reply.status, 303);
        assert_eq!(reply.header("location"), Some("/operator/login/totp"));
        // The half-session opens no page.
        let reply = op.get("/operator").await;
        assert_eq!(reply.header("location"), Some("/operator/login/totp"));
        let page = op.get("/operator/login/totp").await;
        assert_eq!(page.status, 200);
        let csrf = page.csrf();
        let reply = op
            .post(
                "/operator/login/totp",
                &[("csrf", &csrf), ("code", "000000")],
            )
            .await;
        // (A one-in-a-million chance that 000000 is right; then the next step is refused.)
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code =
            hikyaku_console::session::totp_code(&secret, hikyaku_console::session::totp_step(now));
        if code != "000000" {
            assert_eq!(reply.status, 401, "{}", reply.text());
        }
        let reply = op
            .post("/operator/login/totp", &[("csrf", &csrf), ("code", &code)])
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(reply.header("location"), Some("/operator"));
        let page = op.get("/operator").await;
        assert_eq!(page.status, 200);
        assert!(page.text().contains("契約"));
        op.accept_language = Some("en-US,en;q=0.9".into());
        let page = op.get("/operator/nodes").await;
        assert!(page.text().contains("<html lang=\"en\">"));
        assert!(page.text().contains("<title>Nodes"));
        // The same code is good once.
        let mut again = server.browser();
        let page = again.get("/operator/login").await;
        let csrf = page.csrf();
        again
            .post(
                "/operator/login",
                &[
                    ("csrf", &csrf),
                    ("email", "ops@hikyaku.example"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        let csrf = again.get("/operator/login/totp").await.csrf();
        let reply = again
            .post("/operator/login/totp", &[("csrf", &csrf), ("code", &code)])
            .await;
        assert_eq!(reply.status, 401);
    }
}
