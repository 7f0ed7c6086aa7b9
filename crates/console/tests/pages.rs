//! The console's pages in-process over real HTTP: login and logout, the second factor, the
//! login limits, CSRF on every form, every role, tenant isolation, the two languages, and
//! each page over a real store (SQLite and PostgreSQL).

mod common;

use common::{BACKENDS, Backend, Browser, Server, accept, delivered};
use hikyaku_model::{Role, Timestamp};

#[tokio::test]
async fn login_dashboard_and_logout() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let (a, _) = server
            .contract_with_user("a", "taro@a.example", Role::Admin, true)
            .await;
        // Without a session every page sends the browser to the login page.
        let mut browser = server.browser();
        for path in [
            "/",
            "/log",
            "/graph",
            "/suppressions",
            "/settings",
            "/graph/data",
        ] {
            let reply = browser.get(path).await;
            assert_eq!(reply.status, 303, "{path}");
            assert_eq!(reply.header("location"), Some("/login"), "{path}");
        }
        let reply = browser.get_htmx("/log").await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.header("hx-redirect"), Some("/login"));

        // A wrong password, an unknown user, a malformed customer ID: one answer.
        let page = browser.get("/login").await;
        let csrf = page.csrf();
        for (customer, email, password) in [
            (a.as_str(), "taro@a.example", "wrong password"),
            (a.as_str(), "nobody@a.example", common::PASSWORD),
            ("not an id", "taro@a.example", common::PASSWORD),
        ] {
            let reply = browser
                .post(
                    "/login",
                    &[
                        ("csrf", &csrf),
                        ("customer_id", customer),
                        ("email", email),
                        ("password", password),
                    ],
                )
                .await;
            assert_eq!(reply.status, 401, "{customer} {email}");
            assert!(!browser.cookies.contains_key("hk_session"));
        }

        let reply = browser.log_in(&a, "TARO@a.example").await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let cookie = reply
            .headers
            .iter()
            .find(|(n, v)| n == "set-cookie" && v.starts_with("hk_session="))
            .map(|(_, v)| v.clone())
            .expect("a session cookie");
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        let token = browser.cookies["hk_session"].clone();
        let dump = format!("{:?}", server.store.readable_dump().await.unwrap());
        assert!(
            !dump.contains(&token),
            "the store keeps only the token's hash"
        );

        let dashboard = browser.get("/").await;
        assert_eq!(dashboard.status, 200, "{}", dashboard.text());
        let policy = dashboard.header("content-security-policy").unwrap();
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe"),
            "{policy}"
        );
        assert_eq!(dashboard.header("cache-control"), Some("no-store"));
        let html = dashboard.text();
        assert!(html.contains("<html lang=\"ja\">"), "Japanese by default");
        assert!(html.contains("ダッシュボード") && html.contains("taro@a.example"));
        assert!(!html.contains("<script>"), "no inline script");

        // Logout needs the form's token; without it the session stays.
        let reply = browser.post("/logout", &[]).await;
        assert_eq!(reply.status, 403);
        assert_eq!(browser.get("/").await.status, 200);
        let csrf = browser.get("/").await.csrf();
        let reply = browser.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(reply.status, 303);
        assert_eq!(reply.header("location"), Some("/login"));
        // The old cookie is worth nothing now, even if a copy was kept.
        browser.cookies.insert("hk_session".into(), token);
        assert_eq!(browser.get("/").await.status, 303);
    }
}

#[tokio::test]
async fn a_removed_user_or_terminated_contract_is_out_at_once() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let (a, _) = server
        .contract_with_user("a", "taro@a.example", Role::Admin, true)
        .await;
    let hanako = server
        .user(&a, "hanako@a.example", Role::Viewer, false)
        .await;
    let mut taro = server.logged_in(&a, "taro@a.example").await;
    let mut viewer = server.logged_in(&a, "hanako@a.example").await;
    assert_eq!(viewer.get("/").await.status, 200);
    server
        .store
        .remove_console_user(&a, &hanako, hikyaku_store::KeepAnAdmin::Yes)
        .await
        .unwrap();
    assert_eq!(viewer.get("/").await.status, 303);
    assert_eq!(taro.get("/").await.status, 200);
    server
        .store
        .set_contract_state(&a, hikyaku_model::ContractState::Terminated)
        .await
        .unwrap();
    assert_eq!(taro.get("/").await.status, 303);
}

#[tokio::test]
async fn totp_second_factor() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let (a, user) = server
            .contract_with_user("a", "taro@a.example", Role::Admin, true)
            .await;
        let secret: Vec<u8> = (1..=20).collect();
        server
            .store
            .set_console_totp(&a, &user, Some(&secret))
            .await
            .unwrap();
        let mut browser = server.browser();
        let reply = browser.log_in(&a, "taro@a.example").await;
        assert_eq!(reply.status, 303);
        assert_eq!(reply.header("location"), Some("/login/totp"));
        // The half-session reaches no page.
        let reply = browser.get("/").await;
        assert_eq!(reply.header("location"), Some("/login/totp"));
        let page = browser.get("/login/totp").await;
        let csrf = page.csrf();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let code = hikyaku_console::session::totp_code(&secret, now / 30);
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        let reply = browser
            .post("/login/totp", &[("csrf", &csrf), ("code", &wrong)])
            .await;
        assert_eq!(reply.status, 401);
        let reply = browser.post("/login/totp", &[("code", &code)]).await;
        assert_eq!(reply.status, 403, "no CSRF token");
        let half = browser.cookies["hk_session"].clone();
        let reply = browser
            .post("/login/totp", &[("csrf", &csrf), ("code", &code)])
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        assert_eq!(reply.header("location"), Some("/"));
        assert_ne!(
            browser.cookies["hk_session"], half,
            "a new token after the code"
        );
        assert_eq!(browser.get("/").await.status, 200);

        // The same code cannot log in a second time.
        let mut again = server.browser();
        again.log_in(&a, "taro@a.example").await;
        let csrf = again.get("/login/totp").await.csrf();
        let reply = again
            .post("/login/totp", &[("csrf", &csrf), ("code", &code)])
            .await;
        assert_eq!(reply.status, 401);
        assert_eq!(again.get("/").await.header("location"), Some("/login/totp"));
    }
}

#[tokio::test]
async fn logins_are_limited_per_account_and_per_address() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let (a, _) = server
        .contract_with_user("a", "taro@a.example", Role::Admin, true)
        .await;
    server.user(&a, "jiro@a.example", Role::Admin, true).await;
    let mut browser = server.browser();
    let csrf = browser.get("/login").await.csrf();
    let attempt = |password: &'static str, email: &'static str| {
        let csrf = csrf.clone();
        let a = a.clone();
        (csrf, a, password, email)
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (csrf, a, password, email) = attempt("wrong password", "taro@a.example");
        let reply = browser
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("customer_id", a.as_str()),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await;
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // Now even the right password waits: the account is out of attempts.
    let (csrf, a2, _, _) = attempt("", "");
    let reply = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("customer_id", a2.as_str()),
                ("email", "taro@a.example"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, 429);
    // Another account from the same address still may, until the address's own limit (20).
    let reply = browser.log_in(&a, "jiro@a.example").await;
    assert_eq!(reply.status, 303);
    let mut last = 0;
    for i in 0..20 {
        let reply = browser
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("customer_id", a.as_str()),
                    ("email", &format!("n{i}@a.example")),
                    ("password", "wrong password"),
                ],
            )
            .await;
        last = reply.status;
    }
    assert_eq!(last, 429, "the address's limit");
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_foreign_csrf_token() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let (a, b) = server.two_contracts(Role::Admin, true).await;
    let mut taro = server.logged_in(&a, "taro@a.example").await;
    let mut ken = server.logged_in(&b, "ken@b.example").await;
    let kens_token = ken.get("/").await.csrf();
    let forms: &[(&str, &[(&str, &str)])] = &[
        ("/suppressions/add", &[("address", "x@dom.example")]),
        ("/suppressions/remove", &[("address", "x@dom.example")]),
        (
            "/suppressions/import",
            &[("csv", "address\nx@dom.example\n")],
        ),
        ("/settings/language", &[("language", "en")]),
        ("/settings/time-zone", &[("time_zone", "UTC")]),
        (
            "/settings/totp",
            &[
                ("action", "enable"),
                ("secret", "MZXW6YTBOIMZXW6YTBOI"),
                ("code", "123456"),
            ],
        ),
        ("/logout", &[]),
    ];
    for (path, fields) in forms {
        for token in [None, Some(""), Some(kens_token.as_str()), Some("x")] {
            let mut fields = fields.to_vec();
            if let Some(token) = token {
                fields.push(("csrf", token));
            }
            let reply = taro.post(path, &fields).await;
            assert_eq!(reply.status, 403, "{path} {token:?}: {}", reply.text());
        }
    }
    // Nothing changed: no entry, still logged in, language as before.
    let page = taro.get("/suppressions?address=x%40dom.example").await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("このアドレスはリストにありません"));
    assert!(page.text().contains("<html lang=\"ja\">"));
    // The login form refuses a post without the pre-session cookie's token.
    let mut stranger = server.browser();
    let reply = stranger
        .post(
            "/login",
            &[
                ("customer_id", a.as_str()),
                ("email", "taro@a.example"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(reply.status, 403);
    assert!(!stranger.cookies.contains_key("hk_session"));
}

#[tokio::test]
async fn pages_show_only_the_user_s_contract_as_its_role_may() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let store = &server.store;
        let (a, b) = server.two_contracts(Role::Admin, true).await;
        server
            .user(&a, "viewer@a.example", Role::Viewer, false)
            .await;
        server
            .user(&a, "billing@a.example", Role::Billing, true)
            .await;
        let now = Timestamp::now().as_millis();
        let ma = accept(
            store,
            &a,
            now - 1000,
            "shop@a.example",
            &["alice@dom-a.example", "gone@bounce-a.example"],
            &["welcome"],
        )
        .await;
        common::bounced(store, ma, 1, now - 400, hikyaku_model::Reason::UserUnknown).await;
        delivered(store, ma, now - 500, "mx.dom-a.example").await;
        let mb = accept(
            store,
            &b,
            now - 1000,
            "shop@b.example",
            &["bob@dom-b.example"],
            &["b-only"],
        )
        .await;
        delivered(store, mb, now - 500, "mx.dom-b.example").await;
        let mb2 = accept(
            store,
            &b,
            now - 900,
            "shop@b.example",
            &["full@dom-b.example"],
            &[],
        )
        .await;
        common::bounced(store, mb2, 0, now - 300, hikyaku_model::Reason::MailboxFull).await;
        store
            .add_suppressions(
                &b,
                &[hikyaku_store::NewSuppression {
                    address: "listed@dom-b.example",
                    source: hikyaku_store::SuppressionSource::Manual,
                    reason: Some("b's note"),
                    message_id: None,
                }],
                Timestamp(now),
            )
            .await
            .unwrap();

        let mut taro = server.logged_in(&a, "taro@a.example").await;
        let mut viewer = server.logged_in(&a, "viewer@a.example").await;
        let mut billing = server.logged_in(&a, "billing@a.example").await;
        let b_things = [
            "dom-b.example",
            "shop@b.example",
            "b-only",
            "b&#x27;s note",
            "b's note",
            mb.to_string().as_str(),
        ]
        .map(str::to_string);

        // Every page and fragment of A's users: nothing of B's.
        let ma_path = format!("/log/messages/{ma}");
        for browser in [&mut taro, &mut viewer, &mut billing] {
            for path in [
                "/",
                "/log",
                "/log?kind=delivered",
                "/graph",
                "/graph/data",
                "/errors",
                "/suppressions",
                "/settings",
                ma_path.as_str(),
            ] {
                let reply = browser.get(path).await;
                let text = reply.text();
                for thing in &b_things {
                    assert!(!text.contains(thing.as_str()), "{path} shows B's {thing}");
                }
            }
            let reply = browser.get_htmx("/log").await;
            assert!(!reply.text().contains("dom-b.example"));
        }
        // B's message through A's session: not found, like an unknown one.
        let reply = taro.get(&format!("/log/messages/{mb}")).await;
        assert_eq!(reply.status, 404);
        let reply = taro
            .get("/suppressions?address=listed%40dom-b.example")
            .await;
        assert!(reply.text().contains("このアドレスはリストにありません"));

        // The admin sees A's message in the log, in clear; the viewer masked.
        let log = taro.get("/log").await.text();
        assert!(
            log.contains("alice@dom-a.example") && log.contains(&ma.to_string()),
            "{log}"
        );
        let log = viewer.get("/log").await.text();
        assert!(
            !log.contains("alice@dom-a.example") && log.contains("@dom-a.example"),
            "{log}"
        );
        // The message view: every event with the remote host and TLS.
        let view = taro.get(&ma_path).await;
        assert_eq!(view.status, 200);
        let view = view.text();
        assert!(
            view.contains("mx.dom-a.example") && view.contains("2.0.0 queued as 4XyZ"),
            "{view}"
        );
        assert!(view.contains("受付") && view.contains("配信成功"));

        // Dashboard: counts for the reading roles, usage for all, none of the counts for billing.
        let dashboard = taro.get("/").await.text();
        assert!(
            dashboard.contains(
                "<td class=\"num\">2</td><td class=\"num\">1</td><td class=\"num\">0</td>\
                 <td class=\"num\">1</td>"
            ),
            "{dashboard}"
        );
        assert!(dashboard.contains("id=\"usage-sent\">2<"), "{dashboard}");
        let dashboard = billing.get("/").await.text();
        assert!(dashboard.contains("id=\"usage-sent\">2<"), "{dashboard}");
        assert!(dashboard.contains("この権限では表示できません"));
        assert!(!dashboard.contains("alice"));
        // The billing role reads no send log at all.
        let reply = billing.get("/log").await;
        assert_eq!(reply.status, 403);

        // The error analysis: A's bounce by reason and domain, none of B's (mailboxfull).
        let errors = taro.get("/errors").await;
        assert_eq!(errors.status, 200);
        let errors = errors.text();
        assert!(
            errors.contains("userunknown") && errors.contains("bounce-a.example"),
            "{errors}"
        );
        assert!(!errors.contains("mailboxfull"), "{errors}");
        assert_eq!(billing.get("/errors").await.status, 403);

        // The graph's data: A's one message in the last 24 hours.
        let data = taro.get("/graph/data").await;
        assert_eq!(data.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&data.body).unwrap();
        let accepted: u64 = json["series"][0]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(accepted, 2, "{json}");
        assert_eq!(json["offset_minutes"], 540);
        assert_eq!(billing.get("/graph/data").await.status, 403);

        // The viewer may not change the list: no forms, and a forged post is refused by the API.
        let page = viewer.get("/suppressions").await;
        assert!(!page.text().contains("/suppressions/add"));
        let csrf = page.csrf();
        let reply = viewer
            .post(
                "/suppressions/add",
                &[("csrf", &csrf), ("address", "x@dom.example")],
            )
            .await;
        assert_eq!(reply.status, 403);
        let listed = store.suppression(&a, "x@dom.example").await.unwrap();
        assert!(listed.is_none());
    }
}

/// The import job's page once the job is done, polled through the fragment the page's htmx
/// polls (which stops polling once done).
async fn import_finished(browser: &mut Browser, page: &str) -> String {
    assert!(page.starts_with("/suppressions/imports/"), "{page}");
    let first = browser.get(page).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let fragment = browser.get_htmx(&format!("{page}/status")).await;
        assert_eq!(fragment.status, 200, "{}", fragment.text());
        let text = fragment.text();
        assert!(!text.contains("<html"), "a fragment, not a page: {text}");
        if text.contains("data-state=\"done\"") {
            assert!(
                !text.contains("hx-trigger"),
                "done: no more polling: {text}"
            );
            break;
        }
        assert!(text.contains("hx-trigger=\"every 1s\""), "{text}");
        assert!(
            text.contains(&format!("href=\"{page}\"")),
            "a reload link without script: {text}"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not done in time: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let reply = browser.get(page).await;
    assert_eq!(reply.status, 200);
    reply.text()
}

#[tokio::test]
async fn the_suppression_list_searches_adds_removes_imports_and_exports() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let (a, _) = server
            .contract_with_user("a", "taro@a.example", Role::Sender, true)
            .await;
        let mut taro = server.logged_in(&a, "taro@a.example").await;
        let csrf = taro.get("/suppressions").await.csrf();
        let reply = taro
            .post(
                "/suppressions/add",
                &[
                    ("csrf", &csrf),
                    ("address", "one@dom.example"),
                    ("reason", "asked <b>"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let page = taro
            .get("/suppressions?address=ONE%40dom.example")
            .await
            .text();
        assert!(
            page.contains("one@dom.example") && page.contains("asked &#60;b&#62;")
                || page.contains("asked &lt;b&gt;"),
            "{page}"
        );
        // An invalid address: the API's refusal, nothing added.
        let reply = taro
            .post(
                "/suppressions/add",
                &[("csrf", &csrf), ("address", "not an address")],
            )
            .await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        // Import: a job with its own page; the bad rows are skipped and reported.
        let reply = taro
            .post(
                "/suppressions/import",
                &[
                    ("csrf", &csrf),
                    (
                        "csv",
                        "address,reason\ntwo@dom.example,x\nthree@dom.example,y\n",
                    ),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let page = import_finished(&mut taro, reply.header("location").unwrap()).await;
        assert!(page.contains("id=\"import-counts\""), "{page}");
        assert!(!page.contains("id=\"import-errors\""), "{page}");
        let reply = taro
            .post(
                "/suppressions/import",
                &[
                    ("csrf", &csrf),
                    (
                        "csv",
                        "address\nfour@dom.example\n<script>alert(1)</script>\nfour@dom.example\n",
                    ),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let job_page = reply.header("location").unwrap().to_string();
        let page = import_finished(&mut taro, &job_page).await;
        assert!(page.contains("id=\"import-errors\""), "{page}");
        // The user's browser asks for Japanese: the reasons are the page's language.
        assert!(
            page.contains("メールアドレスではありません") && page.contains("前の行と同じアドレス"),
            "{page}"
        );
        assert!(!page.contains("<script>alert"), "shown escaped: {page}");
        assert!(
            server
                .store
                .suppression(&a, "four@dom.example")
                .await
                .unwrap()
                .is_some()
        );
        // The refused rows as a file.
        let errors = taro.get(&format!("{job_page}/errors.csv")).await;
        assert_eq!(errors.status, 200);
        assert!(
            errors
                .header("content-disposition")
                .unwrap()
                .contains("attachment")
        );
        assert_eq!(
            errors.text(),
            "line,value,reason,message\n3,<script>alert(1)</script>,bad_address,not an e-mail address\n\
             4,four@dom.example,duplicate,the same address as line 2: skipped\n"
        );
        // The list names the imports; a file the API refuses whole shows why, nothing kept.
        let list = taro.get("/suppressions").await.text();
        assert!(list.contains(&format!("href=\"{job_page}\"")), "{list}");
        let reply = taro
            .post(
                "/suppressions/import",
                &[("csrf", &csrf), ("csv", "name\nbob\n")],
            )
            .await;
        assert_eq!(reply.status, 422, "{}", reply.text());
        assert!(
            reply.text().contains("names no `address` column"),
            "{}",
            reply.text()
        );
        // A job not yet gone through (kept, no worker started): the page polls its fragment
        // every second and, for browsers without script, links to itself.
        let waiting = server
            .store
            .create_suppression_import(&a, b"address\nlater@dom.example\n", 1, Timestamp::now())
            .await
            .unwrap();
        let waiting_page = format!("/suppressions/imports/{}", waiting.import_id);
        let page = taro.get(&waiting_page).await.text();
        assert!(
            page.contains(&format!(
                "hx-get=\"{waiting_page}/status\" hx-trigger=\"every 1s\" hx-swap=\"outerHTML\""
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!("<a href=\"{waiting_page}\">")),
            "{page}"
        );
        assert!(!page.contains("http-equiv"), "{page}");
        assert!(page.contains("開始待ち"), "{page}");
        // Another contract's job is not found, its page nor its fragment nor its file.
        let (b, _) = server
            .contract_with_user("b", "ken@b.example", Role::Admin, true)
            .await;
        let mut ken = server.logged_in(&b, "ken@b.example").await;
        for path in [
            job_page.clone(),
            format!("{job_page}/status"),
            format!("{job_page}/errors.csv"),
        ] {
            let reply = ken.get(&path).await;
            assert_eq!(reply.status, 404, "{path}");
            assert!(!reply.text().contains("four@dom.example"), "{path}");
        }
        let export = taro.get("/suppressions/export.csv").await;
        assert_eq!(export.status, 200);
        assert!(
            export
                .header("content-disposition")
                .unwrap()
                .contains("attachment")
        );
        let csv = export.text();
        for address in ["one@dom.example", "two@dom.example", "three@dom.example"] {
            assert!(csv.contains(address), "{csv}");
        }
        let reply = taro
            .post(
                "/suppressions/remove",
                &[("csrf", &csrf), ("address", "two@dom.example")],
            )
            .await;
        assert_eq!(reply.status, 303);
        assert!(
            server
                .store
                .suppression(&a, "two@dom.example")
                .await
                .unwrap()
                .is_none()
        );
        let list = taro.get("/suppressions").await.text();
        assert!(list.contains("one@dom.example") && !list.contains("two@dom.example"));
    }
}

#[tokio::test]
async fn language_and_time_zone_follow_the_user() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let (a, _) = server
            .contract_with_user("a", "taro@a.example", Role::Admin, true)
            .await;
        let mut browser = server.browser();
        browser.accept_language = Some("en-GB,en;q=0.9,ja;q=0.5".into());
        let login = browser.get("/login").await.text();
        assert!(login.contains("<html lang=\"en\">") && login.contains("Customer ID"));
        browser.log_in(&a, "taro@a.example").await;
        let page = browser.get("/settings").await;
        assert!(page.text().contains("Dashboard") && page.text().contains("Asia/Tokyo"));
        let csrf = page.csrf();
        let reply = browser
            .post("/settings/language", &[("csrf", &csrf), ("language", "ja")])
            .await;
        assert_eq!(reply.status, 303);
        let page = browser.get("/settings").await.text();
        assert!(
            page.contains("<html lang=\"ja\">") && page.contains("ダッシュボード"),
            "{page}"
        );
        for bad in ["fr", "../en"] {
            let reply = browser
                .post("/settings/language", &[("csrf", &csrf), ("language", bad)])
                .await;
            assert_eq!(reply.status, 422);
        }
        // Times: Tokyo by default, the chosen zone afterwards.
        let now = Timestamp::now().as_millis();
        let id = accept(
            &server.store,
            &a,
            now,
            "s@a.example",
            &["r@dom.example"],
            &[],
        )
        .await;
        let tokyo = hikyaku_console::clock::Zone::default().format(now);
        let page = browser.get(&format!("/log/messages/{id}")).await.text();
        assert!(page.contains(&tokyo), "{tokyo} in {page}");
        let reply = browser
            .post(
                "/settings/time-zone",
                &[("csrf", &csrf), ("time_zone", "-05:00")],
            )
            .await;
        assert_eq!(reply.status, 303);
        let minus5 = hikyaku_console::clock::Zone::parse("-05:00")
            .unwrap()
            .format(now);
        let page = browser.get(&format!("/log/messages/{id}")).await.text();
        assert!(
            page.contains(&minus5) && !page.contains(&tokyo),
            "{minus5} in {page}"
        );
        let reply = browser
            .post(
                "/settings/time-zone",
                &[("csrf", &csrf), ("time_zone", "Mars/Olympus")],
            )
            .await;
        assert_eq!(reply.status, 422);
    }
}

#[tokio::test]
async fn assets_are_embedded_and_cached_long() {
    let Some(server) = Server::start(Backend::Sqlite).await else {
        return;
    };
    let mut browser = server.browser();
    for (name, starts) in [
        ("htmx-2.0.11.min.js", "var htmx"),
        ("uPlot-1.6.32.iife.min.js", "var uPlot"),
    ] {
        let reply = browser.get(&format!("/assets/{name}")).await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.text().starts_with(starts) || reply.text().contains(starts),
            "{name}"
        );
        assert_eq!(
            reply.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
    }
    assert_eq!(browser.get("/assets/console.js").await.status, 200);
    assert_eq!(browser.get("/assets/..%2FCargo.toml").await.status, 404);
    assert_eq!(browser.get("/assets/nothing.js").await.status, 404);
    // The API stays where it is, beside the console.
    assert_eq!(browser.get("/healthz").await.status, 200);
    assert_eq!(browser.get("/api/v1/suppressions").await.status, 401);
}

#[tokio::test]
async fn an_import_over_the_limit_says_how_large_a_file_may_be() {
    for backend in BACKENDS {
        let Some(server) = Server::start_with(
            backend,
            "[api]\nburst = 100000\nrequests_per_second = 100000\nmax_body_bytes = \"1MiB\"\n",
        )
        .await
        else {
            continue;
        };
        let (a, _) = server
            .contract_with_user("a", "taro@a.example", Role::Admin, true)
            .await;
        let mut taro = server.logged_in(&a, "taro@a.example").await;
        let list = taro.get("/suppressions").await;
        assert!(list.text().contains("UTF-8、1 MBまで。"), "{}", list.text());
        let csrf = list.csrf();
        // 1.3 MB of CSV: over the API's limit, within what the console's form reads.
        let mut csv = String::from("address\n");
        while csv.len() < 1_300_000 {
            csv.push_str(&format!("user{}@dom.example\n", csv.len()));
        }
        let japanese = "ファイルが1回のインポートの上限（1 MB）を超えています。\
                        小さなファイルに分けて、1つずつインポートしてください。";
        let english = "The file is larger than 1 MB, the most one import takes. \
                       Split it into smaller files and import each of them.";
        let reply = taro
            .post("/suppressions/import", &[("csrf", &csrf), ("csv", &csv)])
            .await;
        assert_eq!(reply.status, 413, "{}", reply.text());
        let page = reply.text();
        assert!(page.contains(japanese), "{page}");
        assert!(!page.contains("max_body_bytes"), "{page}");
        let reply = taro
            .post("/settings/language", &[("csrf", &csrf), ("language", "en")])
            .await;
        assert_eq!(reply.status, 303);
        let reply = taro
            .post("/suppressions/import", &[("csrf", &csrf), ("csv", &csv)])
            .await;
        assert_eq!(reply.status, 413, "{}", reply.text());
        assert!(reply.text().contains(english), "{}", reply.text());
        assert!(
            reply.text().contains("UTF-8, at most 1 MB."),
            "{}",
            reply.text()
        );
        // A form longer than the console reads at all says the same.
        let mut body = format!("csrf={csrf}&csv=").into_bytes();
        body.resize(hikyaku_console::IMPORT_FORM_LIMIT + (64 << 10), b'a');
        let declared = body.len() + (1 << 20);
        let reply = taro
            .post_declaring("/suppressions/import", body, declared)
            .await;
        assert_eq!(reply.status, 413, "{}", reply.text());
        assert!(reply.text().contains(english), "{}", reply.text());
        // Nothing was kept.
        assert!(
            server
                .store
                .suppression_imports(&a, 20)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
