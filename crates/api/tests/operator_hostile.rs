//! Hostile input to the operator area and the contracts' side of it over real HTTP (SQLite and
//! PostgreSQL): `POST /inquiries`, `POST /operator/maintenance`, the inquiries' `handled` mark,
//! `GET /maintenance`. Every refusal is a JSON error naming what is wrong, and nothing refused
//! is stored.

mod common;

use common::{Backend, Server};
use hikyaku_model::{Role, Timestamp};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

/// A request body sent as it is: what it is, its content type, its bytes, the status and code.
type RawCase<'a> = (&'a str, Option<&'a str>, &'a [u8], u16, &'a str);

fn at(millis: i64) -> String {
    hikyaku_model::Timestamp(millis).to_string()
}

async fn nothing_stored(server: &Server) {
    assert!(server.store.inquiries(10).await.unwrap().is_empty());
    assert!(
        server
            .store
            .maintenance_notices(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        server
            .store
            .list_notices(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn hostile_input_is_refused_clearly(backend: Backend) {
    let Some(server) = Server::start(
        backend,
        "[api]\nmax_body_bytes = \"64KiB\"\nburst = 100000\nrequests_per_second = 100000\n",
    )
    .await
    else {
        return;
    };
    let operator = server.operator_key();
    let (_, viewer) = server.contract_with_key("a", Role::Viewer, false).await;
    let now = Timestamp::now().as_millis();

    // Inquiries: the shape, the lengths, one-line subjects, text bodies.
    let long_subject = "件".repeat(201);
    let long_body = "x".repeat(10_001);
    for (body, status, code, field) in [
        (
            json!({"subject": "", "body": "b"}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            json!({"subject": "  ", "body": "b"}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            json!({"subject": long_subject, "body": "b"}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            json!({"subject": "two\nlines", "body": "b"}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            json!({"subject": "s", "body": ""}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            json!({"subject": "s", "body": long_body}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            json!({"subject": "s", "body": "bell\u{7}"}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (
            json!({"subject": "s\u{fffd}", "body": "b"}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            json!({"subject": "s", "body": "\u{fffd}"}),
            422,
            "invalid_field",
            Some("body"),
        ),
        (json!({"subject": "s"}), 422, "missing_field", None),
        (
            json!({"subject": 5, "body": "b"}),
            422,
            "invalid_field",
            Some("subject"),
        ),
        (
            json!({"subject": "s", "body": "b", "cc": "x"}),
            422,
            "unknown_field",
            None,
        ),
    ] {
        let r = server.post_json("/api/v1/inquiries", &viewer, &body).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{body}: {}",
            r.text()
        );
        if let Some(field) = field {
            assert_eq!(r.json()["error"]["field"], field, "{body}");
        }
    }
    let raw: [RawCase; 5] = [
        (
            "not UTF-8",
            Some("application/json"),
            b"{\"subject\":\"\xff\xfe\",\"body\":\"b\"}",
            400,
            "invalid_json",
        ),
        (
            "not JSON",
            Some("application/json"),
            b"subject=s&body=b",
            400,
            "invalid_json",
        ),
        (
            "a form",
            Some("application/x-www-form-urlencoded"),
            b"subject=s&body=b",
            415,
            "unsupported_media_type",
        ),
        (
            "text",
            Some("text/plain"),
            b"{\"subject\":\"s\",\"body\":\"b\"}",
            415,
            "unsupported_media_type",
        ),
        (
            "no type",
            None,
            b"{\"subject\":\"s\",\"body\":\"b\"}",
            415,
            "unsupported_media_type",
        ),
    ];
    for (what, content_type, body, status, code) in raw {
        let r = server
            .call(
                "POST",
                "/api/v1/inquiries",
                Some(&viewer),
                content_type,
                body,
            )
            .await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (status, code),
            "{what}"
        );
    }
    // Over the body limit: refused before it is read whole.
    let huge = json!({"subject": "s", "body": "x".repeat(100_000)});
    let r = server.post_json("/api/v1/inquiries", &viewer, &huge).await;
    assert_eq!((r.status, r.error_code().as_str()), (413, "body_too_large"));

    // Maintenance: dates that are no dates, in the past, in the wrong order.
    let future = now + 20 * DAY_MS;
    let bad: Vec<(Value, &str)> = vec![
        (
            json!({"title": "t", "starts_at": "tomorrow", "ends_at": at(future)}),
            "starts_at",
        ),
        (
            json!({"title": "t", "starts_at": "2031-02-30T00:00:00Z", "ends_at": at(future)}),
            "starts_at",
        ),
        (
            json!({"title": "t", "starts_at": at(future), "ends_at": "2031-13-01T00:00:00Z"}),
            "ends_at",
        ),
        (
            json!({"title": "t", "starts_at": 1_900_000_000, "ends_at": at(future)}),
            "starts_at",
        ),
        (
            json!({"title": "t", "starts_at": "+275760-09-13T00:00:00Z", "ends_at": at(future)}),
            "starts_at",
        ),
        (
            json!({"title": "t", "starts_at": at(future + DAY_MS), "ends_at": at(future)}),
            "ends_at",
        ),
        (
            json!({"title": "t", "starts_at": at(future), "ends_at": at(future)}),
            "ends_at",
        ),
        (
            json!({"title": "t", "starts_at": at(now - DAY_MS), "ends_at": at(future)}),
            "starts_at",
        ),
        (
            json!({"title": "t", "emergency": true, "starts_at": at(now - 2 * DAY_MS), "ends_at": at(now - DAY_MS)}),
            "ends_at",
        ),
        (
            json!({"title": "t\u{0}", "starts_at": at(future), "ends_at": at(future + DAY_MS)}),
            "title",
        ),
        (
            json!({"title": "t".repeat(201), "starts_at": at(future), "ends_at": at(future + DAY_MS)}),
            "title",
        ),
        (
            json!({"title": "t", "body": "b".repeat(10_001), "starts_at": at(future), "ends_at": at(future + DAY_MS)}),
            "body",
        ),
        (
            json!({"title": "t", "emergency": "yes", "starts_at": at(future), "ends_at": at(future + DAY_MS)}),
            "emergency",
        ),
    ];
    for (body, field) in &bad {
        let r = server
            .post_json("/api/v1/operator/maintenance", &operator, body)
            .await;
        assert_eq!(r.status, 422, "{body}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], *field, "{body}: {}", r.text());
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    // A contract's key may not announce one, whatever it sends.
    let r = server
        .post_json("/api/v1/operator/maintenance", &viewer, &bad[0].0)
        .await;
    assert_eq!((r.status, r.error_code().as_str()), (403, "forbidden"));

    // The handled mark: unknown, malformed and foreign IDs, a wrong value.
    for (path, body, status) in [
        (
            "/api/v1/operator/inquiries/999999/handled",
            json!({"handled": true}),
            404,
        ),
        (
            "/api/v1/operator/inquiries/x/handled",
            json!({"handled": true}),
            404,
        ),
        (
            "/api/v1/operator/inquiries/99999999999999999999999/handled",
            json!({"handled": true}),
            404,
        ),
        (
            "/api/v1/operator/inquiries/1/handled",
            json!({"handled": "yes"}),
            422,
        ),
        ("/api/v1/operator/inquiries/1/handled", json!({}), 422),
    ] {
        let r = server.post_json(path, &operator, &body).await;
        assert_eq!(r.status, status, "{path} {body}: {}", r.text());
        r.error_code();
    }
    nothing_stored(&server).await;

    // What is stored comes back as it was sent: markup is the pages' to escape, not lost.
    let r = server
        .post_json(
            "/api/v1/inquiries",
            &viewer,
            &json!({"subject": "<script>alert(1)</script>", "body": "<b>bold</b>\r\n\ttab"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["subject"], "<script>alert(1)</script>");
    assert_eq!(r.json()["body"], "<b>bold</b>\r\n\ttab");
    // The contracts' maintenance list takes no parameters and no body to heart.
    let r = server
        .call(
            "GET",
            "/api/v1/maintenance?starts_at=garbage",
            Some(&viewer),
            Some("application/json"),
            b"{not json",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"data": []}));
}

#[tokio::test]
async fn hostile_input_is_refused_clearly_sqlite() {
    hostile_input_is_refused_clearly(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_input_is_refused_clearly_postgres() {
    hostile_input_is_refused_clearly(Backend::Postgres).await;
}
