//! The availability pages in process over real HTTP (SQLite and PostgreSQL): the contract's
//! (`/availability`, any role) and the operator's (`/operator/availability`) show the month's
//! figures from the minutes the monitors recorded, with the outage periods (one reaching the
//! month's end marked as going on) and a month picker; neither opens without its login, and
//! neither side's session opens the other's page.

mod common;

use common::{BACKENDS, Backend, Server};
use hikyaku_model::{Role, Timestamp};
use hikyaku_store::NewMaintenance;

const CONFIG: &str = "[api]\nburst = 100000\nrequests_per_second = 100000\n\
    [contracts]\nusage_time_zone = \"UTC\"\n";

/// 2020-03-31T23:00:00Z: the last hour of a month of 31 days, long settled.
const LAST_HOUR: i64 = 1_585_695_600_000;
const MINUTE_MS: i64 = 60_000;

/// Monitoring begins at 23:00 on the last day of March 2020 (UTC): up until 23:06, nothing
/// answers for 44 minutes, up from 23:50 (with a maintenance of 23:50-23:52 announced 20 days
/// ahead: 2 minutes not counted), and nothing answers from 23:55 to the month's end, so that
/// outage reaches the last measured minute: 49 outage minutes, 99.886 %, a 10 % credit.
async fn record_the_last_hour(server: &Server) {
    let store = &server.store;
    for n in (0..6).chain(50..55) {
        store
            .record_monitor_minute(
                (LAST_HOUR + n * MINUTE_MS) / MINUTE_MS,
                "node-a",
                true,
                true,
                "node-a",
            )
            .await
            .unwrap();
    }
    let starts_at = Timestamp(LAST_HOUR + 50 * MINUTE_MS);
    store
        .create_maintenance(
            &NewMaintenance {
                title: "Database upgrade",
                body: "",
                starts_at,
                ends_at: Timestamp(LAST_HOUR + 52 * MINUTE_MS),
                emergency: false,
            },
            Timestamp(starts_at.as_millis() - 20 * 86_400_000),
        )
        .await
        .unwrap();
}

/// The figures of March 2020 as the page shows them (times in Asia/Tokyo, the users' zone).
fn assert_march_figures(page: &str, ongoing: &str) {
    for shown in [
        "id=\"availability-percent\">99.886 %",
        "id=\"outage-minutes\">49<",
        "id=\"maintenance-minutes\">2<",
        "id=\"credit-percent\">10 ",
        "<option value=\"2020-03\" selected>",
        "<td>2020-04-01 08:06:00</td><td>2020-04-01 08:50:00</td><td class=\"num\">44</td>",
        &format!(
            "<tr class=\"ongoing\"><td>2020-04-01 08:55:00</td><td><strong>{ongoing}</strong></td><td class=\"num\">5</td>"
        ),
    ] {
        assert!(page.contains(shown), "{shown} not in {page}");
    }
    assert_eq!(page.matches("<tr class=\"ongoing\">").count(), 1, "{page}");
}

async fn figures_match_the_recorded_minutes(backend: Backend) {
    let Some(server) = Server::start_with(backend, CONFIG).await else {
        return;
    };
    record_the_last_hour(&server).await;
    let (shop, _) = server
        .contract_with_user("Shop", "bill@shop.example", Role::Billing, false)
        .await;
    server
        .user(&shop, "view@shop.example", Role::Viewer, false)
        .await;

    // Without a session: the contract's login, the operator's login.
    let mut anonymous = server.browser();
    for (path, login) in [
        ("/availability", "/login"),
        ("/availability?month=2020-03", "/login"),
        ("/operator/availability", "/operator/login"),
    ] {
        let reply = anonymous.get(path).await;
        assert_eq!(reply.status, 303, "{path}");
        assert_eq!(reply.header("location"), Some(login), "{path}");
    }

    // A billing user, the narrowest role, sees the figures, linked from the navigation.
    let mut billing = server.logged_in(&shop, "bill@shop.example").await;
    billing.accept_language = Some("en".into());
    let dashboard = billing.get("/").await.text();
    assert!(
        dashboard.contains("<a href=\"/availability\">Availability</a>"),
        "{dashboard}"
    );
    let page = billing.get("/availability?month=2020-03").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.text();
    assert!(
        page.contains("<a href=\"/availability\" aria-current=\"page\">"),
        "{page}"
    );
    assert!(
        page.contains("<title>Availability of the platform"),
        "{page}"
    );
    assert!(
        page.contains("id=\"measured-minutes\">60 of 44640<"),
        "{page}"
    );
    assert_march_figures(&page, "Ongoing");

    // A month before monitoring began: nothing measured, nothing owed, no outage.
    let page = billing.get("/availability?month=2020-02").await.text();
    assert!(
        page.contains("id=\"availability-percent\">100.000 %"),
        "{page}"
    );
    assert!(
        page.contains("id=\"measured-minutes\">0 of 41760<"),
        "{page}"
    );
    assert!(page.contains("No outage in this month."), "{page}");

    // Without a month: the current one (UTC), offered first in the picker with the 12 before.
    let before = Timestamp::now().to_string()[..7].to_string();
    let page = billing.get("/availability").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.text();
    let after = Timestamp::now().to_string()[..7].to_string();
    assert!(
        page.contains(&format!("<option value=\"{before}\" selected>"))
            || page.contains(&format!("<option value=\"{after}\" selected>")),
        "{page}"
    );
    assert_eq!(page.matches("<option ").count(), 13, "{page}");

    // A month that is not one: the API's refusal, in the page.
    for bad in ["2020-13", "march", "2020-03%27%3E%3Cscript%3E"] {
        let reply = billing.get(&format!("/availability?month={bad}")).await;
        assert_eq!(reply.status, 400, "{bad}");
        let text = reply.text();
        assert!(text.contains("role=\"alert\""), "{text}");
        assert!(
            !text.contains("<script>") && !text.contains("id=\"availability-figures\""),
            "{text}"
        );
    }

    // A viewer in Japanese.
    let mut viewer = server.logged_in(&shop, "view@shop.example").await;
    viewer.accept_language = Some("ja".into());
    let page = viewer.get("/availability?month=2020-03").await.text();
    assert!(page.contains("<title>サービスの稼働率"), "{page}");
    assert!(
        page.contains("id=\"measured-minutes\">60 / 44640<"),
        "{page}"
    );
    assert_march_figures(&page, "継続中");

    // A contract's session does not open the operator's page.
    let reply = billing.get("/operator/availability?month=2020-03").await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/operator/login"));

    // The operator sees the same figures, and is sent away from the contract's page.
    let mut op = server.operator_logged_in("ops@hikyaku.example").await;
    op.accept_language = Some("en".into());
    let page = op.get("/operator/availability?month=2020-03").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let page = page.text();
    assert!(
        page.contains("<a href=\"/operator/availability\" aria-current=\"page\">"),
        "{page}"
    );
    assert!(page.contains("action=\"/operator/availability\""), "{page}");
    assert_march_figures(&page, "Ongoing");
    let reply = op.get("/availability?month=2020-03").await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/login"));
}

#[tokio::test]
async fn figures_match_the_recorded_minutes_on_both_backends() {
    for backend in BACKENDS {
        figures_match_the_recorded_minutes(backend).await;
    }
}
