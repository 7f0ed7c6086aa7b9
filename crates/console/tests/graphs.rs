//! The delivery graph and the error graph in-process over real HTTP (SQLite and PostgreSQL): a
//! range typed in the user's zone, one recipient domain, days of the user's zone; hostile
//! inputs (not dates, reversed, before what is kept, too many points, an address for a domain,
//! minutes of a domain too long) refused in the user's language with nothing drawn; another
//! contract's domain gives nothing of theirs; the errors as bars or pies, the table under both.

mod common;

use common::{BACKENDS, Browser, Server, accept, delivered, encode};
use hikyaku_console::clock::Zone;
use hikyaku_model::{Reason, Role, Timestamp};
use serde_json::Value;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The sum of one series of `/graph/data`'s answer.
fn total(json: &Value, kind: &str) -> u64 {
    json["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {json}"))["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum()
}

async fn data(browser: &mut Browser, query: &str) -> Value {
    let reply = browser.get(&format!("/graph/data?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.text());
    serde_json::from_slice(&reply.body).unwrap()
}

#[tokio::test]
async fn the_delivery_graph_takes_a_range_and_a_domain() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let store = &server.store;
        let (a, b) = server.two_contracts(Role::Viewer, false).await;
        let now = Timestamp::now().as_millis();
        // A: two recipients at docomo.ne.jp and one at gmail.com an hour ago, one delivered;
        // one more to docomo.ne.jp three days ago.
        let m = accept(
            store,
            &a,
            now - HOUR,
            "shop@a.example",
            &["x@docomo.ne.jp", "y@docomo.ne.jp", "z@gmail.com"],
            &[],
        )
        .await;
        delivered(store, m, now - HOUR + 30_000, "mx.docomo.ne.jp").await;
        accept(
            store,
            &a,
            now - 3 * DAY,
            "shop@a.example",
            &["w@docomo.ne.jp"],
            &[],
        )
        .await;
        // And one to a domain of its own twelve days ago, outside the last week.
        accept(
            store,
            &a,
            now - 12 * DAY,
            "shop@a.example",
            &["v@older.example"],
            &[],
        )
        .await;
        // B: to docomo.ne.jp too, and to a domain only B sends to.
        for i in 0..4 {
            accept(
                store,
                &b,
                now - HOUR + i * MINUTE,
                "shop@b.example",
                &["p@docomo.ne.jp", "q@b-secret.example"],
                &[],
            )
            .await;
        }
        let mut taro = server.logged_in(&a, "taro@a.example").await;
        let tokyo = Zone::default();
        let local = |ms: i64| encode(&tokyo.local_input(ms));

        // All domains and one, over the last 24 hours.
        let all = data(&mut taro, "").await;
        assert_eq!(total(&all, "accepted"), 3, "{all}");
        let docomo = data(&mut taro, "domain=DoCoMo.ne.jp").await;
        assert_eq!(
            (total(&docomo, "accepted"), total(&docomo, "delivered")),
            (2, 1),
            "{docomo}"
        );
        assert_eq!(docomo["recipient_domain"], "docomo.ne.jp");
        // Another contract's domain: nothing of theirs.
        let theirs = data(&mut taro, "domain=b-secret.example").await;
        assert_eq!(total(&theirs, "accepted"), 0, "{theirs}");
        let page = taro.get("/graph?domain=b-secret.example").await;
        assert_eq!(page.status, 200);
        assert!(
            !page.text().contains("<td class=\"num\">4</td>"),
            "{}",
            page.text()
        );
        // The domain list offers A's domains only.
        let page = taro.get("/graph").await.text();
        assert!(page.contains("<option value=\"docomo.ne.jp\">"), "{page}");
        assert!(!page.contains("b-secret.example"), "{page}");
        // The choices are the range's busiest domains, counted over the whole range.
        assert!(!page.contains("older.example"), "{page}");
        let month = taro.get("/graph?range=30d").await.text();
        assert!(
            month.contains("<option value=\"older.example\">"),
            "{month}"
        );
        assert!(!month.contains("b-secret.example"), "{month}");

        // A range typed in the user's zone (Asia/Tokyo), per minute, one domain.
        let query = format!(
            "range=custom&from={}&to={}&granularity=minute&domain=docomo.ne.jp",
            local(now - 2 * HOUR),
            local(now)
        );
        let minutes = data(&mut taro, &query).await;
        assert_eq!(minutes["step"], "minute");
        assert_eq!(total(&minutes, "accepted"), 2, "{minutes}");
        let x = minutes["x"].as_array().unwrap();
        assert!((120..=121).contains(&x.len()), "{}", x.len());
        let page = taro.get(&format!("/graph?{query}")).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.text();
        assert!(
            page.contains("id=\"graph\" data-src=\"/graph/data?range=custom"),
            "{page}"
        );
        assert!(page.contains("docomo.ne.jp"), "{page}");
        assert!(
            page.contains("<option value=\"custom\" selected>"),
            "{page}"
        );
        // Days are Tokyo's days: each point starts at a Tokyo midnight.
        let days = data(&mut taro, "range=7d&granularity=day").await;
        assert_eq!(total(&days, "accepted"), 4, "{days}");
        for x in days["x"].as_array().unwrap() {
            let ms = x.as_i64().unwrap() * 1000;
            assert_eq!((ms + 9 * HOUR) % DAY, 0, "{days}");
        }
        // The three-day-old one is in the 7 days of one domain by hour (the domain counters).
        let hours = data(&mut taro, "range=7d&granularity=hour&domain=docomo.ne.jp").await;
        assert_eq!(total(&hours, "accepted"), 3, "{hours}");

        // Hostile inputs: refused in Japanese (the browser names no language), nothing drawn.
        let old = now - 41 * DAY;
        for (query, words) in [
            (
                "range=custom&from=yesterday".to_string(),
                "開始日時が正しい日時ではありません",
            ),
            (
                format!(
                    "range=custom&from={}&to=2026-02-30T10%3A00",
                    local(now - HOUR)
                ),
                "終了日時が正しい日時ではありません",
            ),
            (
                format!("range=custom&from={}&to={}", local(now), local(now - HOUR)),
                "開始日時は終了日時より前に",
            ),
            (
                format!("range=custom&from={}&to={}", local(old), local(now)),
                "統計は40日間保存されます",
            ),
            ("range=7d&granularity=minute".to_string(), "10080点"),
            (
                "domain=x%40docomo.ne.jp".to_string(),
                "ドメイン名として正しくありません",
            ),
            (
                "domain=%3Cscript%3E".to_string(),
                "ドメイン名として正しくありません",
            ),
            (
                "range=24h&granularity=minute&domain=docomo.ne.jp".to_string(),
                "最大6時間",
            ),
        ] {
            let page = taro.get(&format!("/graph?{query}")).await;
            assert_eq!(page.status, 422, "{query}");
            let text = page.text();
            assert!(text.contains(words), "{query}: {text}");
            assert!(!text.contains("id=\"graph\""), "{query}: nothing drawn");
            assert!(!text.contains("<script>"), "{query}");
            let reply = taro.get(&format!("/graph/data?{query}")).await;
            assert_eq!(reply.status, 422, "{query}");
            let json: Value = serde_json::from_slice(&reply.body).unwrap();
            assert!(
                json["error"]["message"].as_str().unwrap().contains(words),
                "{json}"
            );
        }
        // The same in English for a browser that asks for it.
        let mut english = server.logged_in(&a, "taro@a.example").await;
        english.accept_language = Some("en".into());
        let page = english.get("/graph?range=custom&from=yesterday").await;
        assert!(page.text().contains("The start is not a date and time."));
        let page = english
            .get(&format!(
                "/graph?range=custom&from={}&to={}",
                local(old),
                local(now)
            ))
            .await;
        assert!(
            page.text().contains("Statistics are kept for 40 days"),
            "{}",
            page.text()
        );
    }
}

#[tokio::test]
async fn the_error_graph_draws_bars_or_pies_with_its_table() {
    for backend in BACKENDS {
        let Some(server) = Server::start(backend).await else {
            continue;
        };
        let store = &server.store;
        let (a, b) = server.two_contracts(Role::Admin, true).await;
        let now = Timestamp::now().as_millis();
        let m = accept(
            store,
            &a,
            now - HOUR,
            "shop@a.example",
            &["gone@docomo.ne.jp", "full@gmail.com", "gone2@docomo.ne.jp"],
            &[],
        )
        .await;
        common::bounced(store, m, 0, now - HOUR + 1000, Reason::UserUnknown).await;
        common::bounced(store, m, 1, now - HOUR + 2000, Reason::MailboxFull).await;
        common::bounced(store, m, 2, now - HOUR + 3000, Reason::UserUnknown).await;
        let mb = accept(
            store,
            &b,
            now - HOUR,
            "shop@b.example",
            &["x@b-secret.example"],
            &[],
        )
        .await;
        common::bounced(store, mb, 0, now - HOUR + 1000, Reason::Blocked).await;
        let mut taro = server.logged_in(&a, "taro@a.example").await;

        let bars = taro.get("/errors").await;
        assert_eq!(bars.status, 200);
        let bars = bars.text();
        assert!(bars.contains("<meter"), "{bars}");
        assert!(!bars.contains("<svg viewBox"), "{bars}");
        assert!(bars.contains("id=\"by-reason\"") && bars.contains("id=\"by-domain\""));

        let pies = taro.get("/errors?view=pie").await;
        assert_eq!(pies.status, 200);
        let pies = pies.text();
        assert!(!pies.contains("<meter"), "{pies}");
        assert!(pies.contains("id=\"reason-pie\"") && pies.contains("id=\"domain-pie\""));
        assert!(pies.contains("role=\"img\""), "{pies}");
        // The slices' shares, in their titles and the legend: userunknown 2 of 3.
        assert!(pies.contains("userunknown: 2 (66.7 %)"), "{pies}");
        assert!(pies.contains("docomo.ne.jp: 2 (66.7 %)"), "{pies}");
        assert!(pies.contains("class=\"c1\""), "{pies}");
        // The tables stay, as the pies' text alternative.
        assert!(pies.contains("id=\"by-reason\"") && pies.contains("id=\"by-domain\""));
        assert!(pies.contains("id=\"view-pie\" checked"), "{pies}");
        // No inline style for the page's policy to refuse.
        assert!(!pies.contains("style="), "{pies}");
        for page in [&bars, &pies] {
            assert!(!page.contains("b-secret.example") && !page.contains("blocked"));
        }

        // A range typed in; one before what is kept is refused.
        let tokyo = Zone::default();
        let page = taro
            .get(&format!(
                "/errors?range=custom&from={}&to={}&view=pie",
                encode(&tokyo.local_input(now - 2 * HOUR)),
                encode(&tokyo.local_input(now))
            ))
            .await;
        assert_eq!(page.status, 200);
        assert!(page.text().contains("userunknown: 2"), "{}", page.text());
        let page = taro
            .get(&format!(
                "/errors?range=custom&from={}&to={}",
                encode(&tokyo.local_input(now - 3 * HOUR)),
                encode(&tokyo.local_input(now - 2 * HOUR))
            ))
            .await;
        assert_eq!(page.status, 200);
        assert!(!page.text().contains("userunknown"), "{}", page.text());
        let page = taro
            .get(&format!(
                "/errors?range=custom&from={}",
                encode(&tokyo.local_input(now - 50 * DAY))
            ))
            .await;
        assert_eq!(page.status, 422);
        assert!(page.text().contains("統計は40日間保存されます"));
    }
}
