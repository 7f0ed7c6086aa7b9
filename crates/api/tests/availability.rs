//! The availability endpoints over a real store (SQLite and PostgreSQL): the operator's and the
//! contract's figures for a month from the minutes the monitors recorded, the same for both;
//! the operator's route refused to a contract's key, the contract's refused without a key, and
//! a month that is not one refused with the API's JSON error.

mod common;

use common::{Backend, Server};
use hikyaku_model::{Role, Timestamp};
use hikyaku_store::{NewMaintenance, UsageMonth};

/// 2020-03-31T23:00:00Z: the last hour of a month of 31 days, long settled.
const LAST_HOUR: i64 = 1_585_695_600_000;
const MINUTE_MS: i64 = 60_000;

fn minute(n: i64) -> i64 {
    (LAST_HOUR + n * MINUTE_MS) / MINUTE_MS
}

/// Monitoring begins at 23:00 in the last hour of March 2020 (UTC): up until 23:06, nothing
/// answers for 44 minutes (one probe recorded that saw HTTP but not SMTP, the others none at
/// all, as when every node is down), then up again; 23:58–24:00 is a maintenance announced
/// 20 days ahead, so its two minutes are not outage minutes whatever they recorded.
async fn record_the_last_hour(server: &Server) {
    let store = &server.store;
    for n in (0..6).chain(50..58) {
        store
            .record_monitor_minute(minute(n), "node-a", true, true, "node-a")
            .await
            .unwrap();
    }
    store
        .record_monitor_minute(minute(10), "node-a", true, false, "node-a")
        .await
        .unwrap();
    let starts_at = Timestamp(LAST_HOUR + 58 * MINUTE_MS);
    store
        .create_maintenance(
            &NewMaintenance {
                title: "Database upgrade",
                body: "",
                starts_at,
                ends_at: Timestamp(LAST_HOUR + 60 * MINUTE_MS),
                emergency: false,
            },
            Timestamp(starts_at.as_millis() - 20 * 86_400_000),
        )
        .await
        .unwrap();
}

async fn figures_come_from_the_recorded_minutes(backend: Backend) {
    let Some(server) = Server::start(backend, "[contracts]\nusage_time_zone = \"UTC\"\n").await
    else {
        return;
    };
    record_the_last_hour(&server).await;
    let operator = server.operator_key();
    let (_, billing) = server.contract_with_key("sla", Role::Billing, false).await;

    let r = server
        .get("/api/v1/operator/availability?month=2020-03", &operator)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let figures = r.json();
    assert_eq!(figures["month"], "2020-03");
    assert_eq!(figures["time_zone"], "+00:00");
    assert_eq!(figures["minutes"], 44_640);
    assert_eq!(figures["measured_minutes"], 60);
    assert_eq!(figures["outage_minutes"], 44);
    assert_eq!(figures["maintenance_minutes"], 2);
    assert_eq!(figures["availability_percent"], 99.898);
    assert_eq!(figures["credit_percent"], 10);
    assert_eq!(
        figures["outages"],
        serde_json::json!([{
            "starts_at": "2020-03-31T23:06:00.000Z",
            "ends_at": "2020-03-31T23:50:00.000Z",
            "minutes": 44,
            "ongoing": false
        }])
    );

    // Any role of a contract reads the same figures: they are the platform's.
    let r = server
        .get("/api/v1/availability?month=2020-03", &billing)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), figures);

    // A month before monitoring began has nothing measured and earns nothing.
    let r = server
        .get("/api/v1/availability?month=2020-02", &billing)
        .await
        .json();
    assert_eq!(
        (&r["minutes"], &r["measured_minutes"]),
        (&41_760.into(), &0.into())
    );
    assert_eq!(
        (&r["availability_percent"], &r["credit_percent"]),
        (&100.0.into(), &0.into())
    );

    // Without a month: the current one in contracts.usage_time_zone.
    let before = UsageMonth::containing(Timestamp::now(), 0).to_string();
    let r = server.get("/api/v1/availability", &billing).await;
    let after = UsageMonth::containing(Timestamp::now(), 0).to_string();
    assert_eq!(r.status, 200, "{}", r.text());
    let month = r.json()["month"].as_str().unwrap().to_string();
    assert!(month == before || month == after, "{month}");
}

async fn the_month_is_read_in_the_usage_time_zone(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    record_the_last_hour(&server).await;
    let operator = server.operator_key();
    // 2020-03-31T23:00Z is already April in Tokyo: March there saw no monitoring at all.
    let march = server
        .get("/api/v1/operator/availability?month=2020-03", &operator)
        .await
        .json();
    assert_eq!(march["time_zone"], "+09:00");
    assert_eq!(
        (&march["measured_minutes"], &march["outage_minutes"]),
        (&0.into(), &0.into())
    );
    let april = server
        .get("/api/v1/operator/availability?month=2020-04", &operator)
        .await
        .json();
    assert_eq!(april["minutes"], 43_200);
    // Measured from 08:00 on the 1st in Tokyo; every minute after the recorded hour is an
    // outage minute, since nothing recorded that any node answered.
    assert_eq!(april["measured_minutes"], 43_200 - 8 * 60, "{april}");
    assert_eq!(april["outages"][0]["starts_at"], "2020-03-31T23:06:00.000Z");
    assert_eq!(april["outages"][0]["minutes"], 44);
    assert_eq!(april["outages"][1]["starts_at"], "2020-04-01T00:00:00.000Z");
    assert_eq!(april["outages"][1]["ends_at"], "2020-04-30T15:00:00.000Z");
    assert_eq!(april["outage_minutes"], 44 + 42_660);
    assert_eq!(april["credit_percent"], 100);
}

async fn callers_and_months_are_checked(backend: Backend) {
    let Some(server) = Server::start(backend, "").await else {
        return;
    };
    let operator = server.operator_key();
    let (_, admin) = server.contract_with_key("sla", Role::Admin, false).await;
    let r = server
        .get("/api/v1/operator/availability?month=2020-03", &admin)
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));
    let r = server
        .call("GET", "/api/v1/availability?month=2020-03", None, None, b"")
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = server
        .get("/api/v1/availability?month=2020-03", "hk_not_a_key")
        .await;
    assert_eq!(r.status, 401, "{}", r.text());
    // The operator's key reaches the operator's route, not a contract's.
    let r = server
        .get("/api/v1/availability?month=2020-03", &operator)
        .await;
    assert_eq!(r.status, 403, "{}", r.text());

    for (path, key) in [
        ("/api/v1/operator/availability", &operator),
        ("/api/v1/availability", &admin),
    ] {
        for month in ["2020-13", "2020-3", "March", ""] {
            let r = server.get(&format!("{path}?month={month}"), key).await;
            assert_eq!(r.status, 400, "{path} {month:?}: {}", r.text());
            assert_eq!(r.error_code(), "invalid_query", "{path} {month:?}");
            assert_eq!(r.json()["error"]["field"], "month", "{path} {month:?}");
        }
        let r = server.get(&format!("{path}?year=2020"), key).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
}

#[tokio::test]
async fn figures_come_from_the_recorded_minutes_sqlite() {
    figures_come_from_the_recorded_minutes(Backend::Sqlite).await;
}

#[tokio::test]
async fn figures_come_from_the_recorded_minutes_postgres() {
    figures_come_from_the_recorded_minutes(Backend::Postgres).await;
}

#[tokio::test]
async fn the_month_is_read_in_the_usage_time_zone_sqlite() {
    the_month_is_read_in_the_usage_time_zone(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_month_is_read_in_the_usage_time_zone_postgres() {
    the_month_is_read_in_the_usage_time_zone(Backend::Postgres).await;
}

#[tokio::test]
async fn callers_and_months_are_checked_sqlite() {
    callers_and_months_are_checked(Backend::Sqlite).await;
}

#[tokio::test]
async fn callers_and_months_are_checked_postgres() {
    callers_and_months_are_checked(Backend::Postgres).await;
}
