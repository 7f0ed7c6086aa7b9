//! Hostile input to the operator area's forms and the contracts' inquiry form, in-process over
//! real HTTP (SQLite and PostgreSQL): dates that are no dates or in the wrong order, texts too
//! long, markup, bodies that are not UTF-8 or not a form, bodies too large, and a contract's
//! session on operator forms. Each is refused with the form shown again and its reason (or a
//! 4xx for what is no form at all), nothing is stored, and markup is always shown escaped.

mod common;

use common::{BACKENDS, Browser, Reply, Server};
use hikyaku_console::clock::Zone;
use hikyaku_model::{Role, Timestamp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = "[api]\nburst = 100000\nrequests_per_second = 100000\n";
const DAY_MS: i64 = 86_400_000;

/// A `datetime-local` value `millis` from now in the operator's zone.
fn local_input(millis_from_now: i64) -> String {
    let text = Zone::default().format(Timestamp::now().as_millis() + millis_from_now);
    text.replace(' ', "T")[..16].to_string()
}

/// A POST with the browser's cookies and a body and content type of the test's choosing.
async fn raw_post(browser: &Browser, path: &str, content_type: &str, body: &[u8]) -> Reply {
    let cookies = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: {cookies}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        browser.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(browser.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        headers: Vec::new(),
        body: raw[split + 4..].to_vec(),
    }
}

async fn nothing_stored(server: &Server) {
    let store = &server.store;
    assert!(
        store
            .maintenance_notices(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.inquiries(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn operator_and_inquiry_forms_refuse_hostile_input() {
    for backend in BACKENDS {
        let Some(server) = Server::start_with(backend, CONFIG).await else {
            continue;
        };
        let (a, _) = server
            .contract_with_user("a", "admin@a.example", Role::Admin, true)
            .await;
        let mut op = server.operator_logged_in("ops@hikyaku.example").await;
        let csrf = op.get("/operator/maintenance").await.csrf();
        let (start, end) = (local_input(20 * DAY_MS), local_input(21 * DAY_MS));
        let title_201 = "t".repeat(201);
        let body_10001 = "b".repeat(10_001);
        let past = local_input(-DAY_MS);
        let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "a date that is no date",
                vec![("title", "x"), ("starts_at", "garbage"), ("ends_at", &end)],
            ),
            (
                "the 30th of February",
                vec![
                    ("title", "x"),
                    ("starts_at", "2031-02-30T10:00"),
                    ("ends_at", &end),
                ],
            ),
            (
                "no end",
                vec![("title", "x"), ("starts_at", &start), ("ends_at", "")],
            ),
            (
                "the end before the start",
                vec![("title", "x"), ("starts_at", &end), ("ends_at", &start)],
            ),
            (
                "a start in the past",
                vec![("title", "x"), ("starts_at", &past), ("ends_at", &end)],
            ),
            (
                "a title too long",
                vec![
                    ("title", &title_201),
                    ("starts_at", &start),
                    ("ends_at", &end),
                ],
            ),
            (
                "a title of two lines",
                vec![
                    ("title", "a\r\nb"),
                    ("starts_at", &start),
                    ("ends_at", &end),
                ],
            ),
            (
                "a body too long",
                vec![
                    ("title", "x"),
                    ("body", &body_10001),
                    ("starts_at", &start),
                    ("ends_at", &end),
                ],
            ),
        ];
        for (what, fields) in cases {
            let mut all = vec![("csrf", csrf.as_str())];
            all.extend(fields);
            let reply = op.post("/operator/maintenance", &all).await;
            assert_eq!(reply.status, 422, "{what}: {}", reply.text());
            let page = reply.text();
            assert!(page.contains("role=\"alert\""), "{what}: {page}");
            assert!(
                page.contains("id=\"new-maintenance\""),
                "{what}: the form again"
            );
        }
        // Markup typed into the form comes back escaped in the form and in the list.
        let script = "<script>alert(1)</script>";
        let reply = op
            .post(
                "/operator/maintenance",
                &[
                    ("csrf", &csrf),
                    ("title", script),
                    ("body", script),
                    ("starts_at", "garbage"),
                    ("ends_at", &end),
                ],
            )
            .await;
        assert_eq!(reply.status, 422);
        assert!(!reply.text().contains(script), "{}", reply.text());

        // What is no form: not UTF-8, another content type, too large. Refused, not a 500.
        let not_utf8 = [
            b"csrf=".as_slice(),
            csrf.as_bytes(),
            b"&title=\xff\xfe&starts_at=x&ends_at=y",
        ]
        .concat();
        let huge = format!("csrf={csrf}&title=x&body={}", "b".repeat(3 << 20));
        for (what, content_type, body) in [
            (
                "not UTF-8",
                "application/x-www-form-urlencoded",
                not_utf8.clone(),
            ),
            (
                "JSON",
                "application/json",
                format!("{{\"csrf\":\"{csrf}\",\"title\":\"x\"}}").into_bytes(),
            ),
            (
                "multipart",
                "multipart/form-data; boundary=x",
                b"--x--".to_vec(),
            ),
            (
                "too large",
                "application/x-www-form-urlencoded",
                huge.into_bytes(),
            ),
        ] {
            for path in ["/operator/maintenance", "/operator/contracts"] {
                let reply = raw_post(&op, path, content_type, &body).await;
                assert!(
                    (400..500).contains(&reply.status),
                    "{what} to {path}: {} {}",
                    reply.status,
                    reply.text()
                );
            }
        }
        assert_eq!(server.store.contracts().await.unwrap().len(), 1);

        // The contract's inquiry form: too long, not UTF-8, and a contract's session on the
        // operator's forms.
        let mut admin = server.browser();
        assert_eq!(admin.log_in(&a, "admin@a.example").await.status, 303);
        let inquiry_csrf = admin.get("/inquiry").await.csrf();
        let subject_201 = "件".repeat(201);
        for (what, subject, body) in [
            ("a subject too long", subject_201.as_str(), "b"),
            ("a body too long", "s", body_10001.as_str()),
            ("an empty subject", "", "b"),
            ("a subject of two lines", "a\nb", "b"),
        ] {
            let reply = admin
                .post(
                    "/inquiry",
                    &[
                        ("csrf", &inquiry_csrf),
                        ("subject", subject),
                        ("body", body),
                    ],
                )
                .await;
            assert!(
                (400..500).contains(&reply.status),
                "{what}: {}",
                reply.status
            );
            assert!(
                reply.text().contains("role=\"alert\""),
                "{what}: {}",
                reply.text()
            );
        }
        let not_utf8 = [
            b"csrf=".as_slice(),
            inquiry_csrf.as_bytes(),
            b"&subject=\xff&body=b",
        ]
        .concat();
        let reply = raw_post(
            &admin,
            "/inquiry",
            "application/x-www-form-urlencoded",
            &not_utf8,
        )
        .await;
        assert!((400..500).contains(&reply.status), "{}", reply.status);
        for path in ["/operator/maintenance", "/operator/contracts"] {
            let reply = admin
                .post(
                    path,
                    &[
                        ("csrf", &inquiry_csrf),
                        ("title", "x"),
                        ("name", "x"),
                        ("starts_at", &start),
                        ("ends_at", &end),
                    ],
                )
                .await;
            assert_eq!(reply.status, 303, "{path}");
            assert_eq!(reply.header("location"), Some("/operator/login"), "{path}");
        }
        nothing_stored(&server).await;
        assert_eq!(server.store.contracts().await.unwrap().len(), 1);

        // Markup in an inquiry reaches the operator escaped; the stored text is the user's.
        let reply = admin
            .post(
                "/inquiry",
                &[
                    ("csrf", &inquiry_csrf),
                    ("subject", script),
                    ("body", "<img src=x onerror=alert(1)>"),
                ],
            )
            .await;
        assert_eq!(reply.status, 303, "{}", reply.text());
        let page = op.get("/operator/inquiries").await.text();
        assert!(
            !page.contains(script) && !page.contains("<img src=x"),
            "{page}"
        );
        assert!(page.contains("alert(1)"), "{page}");
        let stored = server.store.inquiries(10).await.unwrap();
        assert_eq!(stored[0].subject, script);
    }
}
