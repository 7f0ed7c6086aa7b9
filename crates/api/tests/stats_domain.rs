//! `GET /stats?recipient_domain=`: one recipient domain's series, per minute (counted from the
//! send log, at most 6 hours), hour and day (from the hourly domain counters), equal to the
//! contract's events to that domain; another contract's domain gives nothing of theirs; a
//! hostile domain or a minute range too long is refused with the field named; the parameter is
//! in the OpenAPI document. SQLite and PostgreSQL.

mod common;

use common::{Backend, Server, accept, attempt, reply};
use hikyaku_model::{EventDetails, Reason, Role, Timestamp};
use serde_json::Value;

/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn at(ms: i64) -> String {
    Timestamp(ms).to_string()
}

/// The sums of a series' points, in the order accepted, delivered, deferred, bounced.
fn sums(series: &Value) -> [u64; 4] {
    let mut out = [0; 4];
    for p in series["points"].as_array().unwrap() {
        for (i, kind) in ["accepted", "delivered", "deferred", "bounced"]
            .iter()
            .enumerate()
        {
            out[i] += p[kind].as_u64().unwrap();
        }
    }
    out
}

#[tokio::test]
async fn one_domain_s_series_sqlite() {
    one_domain_s_series(Backend::Sqlite).await;
}

#[tokio::test]
async fn one_domain_s_series_postgres() {
    one_domain_s_series(Backend::Postgres).await;
}

async fn one_domain_s_series(backend: Backend) {
    let Some(server) = Server::start(
        backend,
        "[api]\nburst = 100000\nrequests_per_second = 100000\n",
    )
    .await
    else {
        return;
    };
    let (a, a_key) = server.contract_with_key("a", Role::Viewer, false).await;
    let (b, b_key) = server.contract_with_key("b", Role::Admin, true).await;
    let store = &server.store;
    // A: three to docomo.ne.jp (one bounced, one delivered a minute later), one to gmail.com.
    let m1 = accept(
        store,
        &a,
        T0 + 10_000,
        "app@a.example",
        &["x@docomo.ne.jp", "y@DoCoMo.ne.jp", "z@gmail.com"],
        &[],
    )
    .await;
    attempt(
        store,
        m1,
        0,
        T0 + MINUTE + 5_000,
        EventDetails::Delivered {
            exchange: reply(250, "ok"),
        },
    )
    .await;
    attempt(
        store,
        m1,
        1,
        T0 + 2 * HOUR,
        EventDetails::Bounced {
            exchange: reply(550, "5.1.1 unknown"),
            reason: Reason::UserUnknown,
            hard: true,
        },
    )
    .await;
    accept(
        store,
        &a,
        T0 + 3 * HOUR,
        "app@a.example",
        &["w@docomo.ne.jp"],
        &[],
    )
    .await;
    // B: its own mail to docomo.ne.jp and to a domain only B uses.
    for i in 0..5 {
        accept(
            store,
            &b,
            T0 + i * MINUTE,
            "app@b.example",
            &["p@docomo.ne.jp", "q@b-only.example"],
            &[],
        )
        .await;
    }

    let range = format!("from={}&to={}", at(T0), at(T0 + 6 * HOUR));
    let get = |path: String, key: &str| {
        let key = key.to_string();
        let server = &server;
        async move {
            let r = server.get(&path, &key).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            r.json()
        }
    };
    for granularity in ["minute", "hour", "day"] {
        let docomo = get(
            format!(
                "/api/v1/stats?{range}&granularity={granularity}&recipient_domain=DoCoMo.ne.jp."
            ),
            &a_key,
        )
        .await;
        assert_eq!(docomo["recipient_domain"], "docomo.ne.jp");
        assert_eq!(sums(&docomo), [3, 1, 0, 1], "{granularity}: {docomo}");
        let gmail = get(
            format!("/api/v1/stats?{range}&granularity={granularity}&recipient_domain=gmail.com"),
            &a_key,
        )
        .await;
        assert_eq!(sums(&gmail), [1, 0, 0, 0], "{granularity}");
        // Every domain together, as before: the domain filter is a part of it.
        let all = get(
            format!("/api/v1/stats?{range}&granularity={granularity}"),
            &a_key,
        )
        .await;
        assert_eq!(sums(&all), [4, 1, 0, 1], "{granularity}");
        assert!(all.get("recipient_domain").is_none(), "{all}");
        // B's own domain through A's key: zeros, not B's five.
        let theirs = get(
            format!(
                "/api/v1/stats?{range}&granularity={granularity}&recipient_domain=b-only.example"
            ),
            &a_key,
        )
        .await;
        assert_eq!(sums(&theirs), [0; 4], "{granularity}");
        // B's view of the shared domain: its own five only.
        let b_docomo = get(
            format!(
                "/api/v1/stats?{range}&granularity={granularity}&recipient_domain=docomo.ne.jp"
            ),
            &b_key,
        )
        .await;
        assert_eq!(sums(&b_docomo), [5, 0, 0, 0], "{granularity}");
    }
    // Minutes land in their minute: the delivery in the second, the bounce 120 minutes in.
    let minutes = get(
        format!("/api/v1/stats?{range}&granularity=minute&recipient_domain=docomo.ne.jp"),
        &a_key,
    )
    .await;
    let points = minutes["points"].as_array().unwrap();
    assert_eq!(points.len(), 360);
    assert_eq!(points[0]["accepted"], 2);
    assert_eq!(points[1]["delivered"], 1);
    assert_eq!(points[120]["bounced"], 1);
    assert_eq!(points[180]["accepted"], 1);
    let hours = get(
        format!("/api/v1/stats?{range}&granularity=hour&recipient_domain=docomo.ne.jp"),
        &a_key,
    )
    .await;
    assert_eq!(hours["points"].as_array().unwrap().len(), 6);
    assert_eq!(hours["points"][2]["bounced"], 1);
    // An empty domain is no filter.
    let empty = get(
        format!("/api/v1/stats?{range}&recipient_domain=%20"),
        &a_key,
    )
    .await;
    assert_eq!(sums(&empty), [4, 1, 0, 1]);

    // Refused, with the field named.
    let long = "a".repeat(256);
    for (path, field) in [
        (
            format!(
                "/api/v1/stats?from={}&to={}&granularity=minute&recipient_domain=gmail.com",
                at(T0),
                at(T0 + 6 * HOUR + MINUTE)
            ),
            "granularity",
        ),
        (
            format!("/api/v1/stats?{range}&recipient_domain=x%40gmail.com"),
            "recipient_domain",
        ),
        (
            format!("/api/v1/stats?{range}&recipient_domain=gmail.com%0Aevil"),
            "recipient_domain",
        ),
        (
            format!("/api/v1/stats?{range}&recipient_domain=a%20b.example"),
            "recipient_domain",
        ),
        (
            format!("/api/v1/stats?{range}&recipient_domain=%3Cscript%3E"),
            "recipient_domain",
        ),
        (
            format!("/api/v1/stats?{range}&recipient_domain={long}"),
            "recipient_domain",
        ),
    ] {
        let r = server.get(&path, &a_key).await;
        assert_eq!(r.status, 422, "{path}: {}", r.text());
        assert_eq!(r.error_code(), "invalid_field");
        assert_eq!(r.json()["error"]["field"], field, "{path}");
    }
    // The same range for every domain per minute is allowed (the counters are per minute).
    let r = server
        .get(
            &format!(
                "/api/v1/stats?from={}&to={}&granularity=minute",
                at(T0),
                at(T0 + 6 * HOUR + MINUTE)
            ),
            &a_key,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Documented.
    let doc = server
        .call("GET", "/api/v1/openapi.json", None, None, b"")
        .await
        .json();
    let parameters = doc["paths"]["/stats"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let domain = parameters
        .iter()
        .find(|p| p["name"] == "recipient_domain")
        .expect("recipient_domain documented");
    assert_eq!(domain["in"], "query");
    assert_eq!(domain["schema"]["maxLength"], 255, "{domain}");
    assert!(
        domain["description"]
            .as_str()
            .unwrap_or("")
            .contains("6 hours"),
        "{domain}"
    );
}
