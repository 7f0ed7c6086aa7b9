//! The hosted service's inbound webhook, read by a receiver we did not write: Python's `email`
//! package parses the multipart form and its `json` the JSON form (`FormReceiver`). Each field
//! is checked against the documented shape and the mail that was sent, attachments byte for
//! byte; a first answer of 500 is retried with the same body; on SQLite and PostgreSQL.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hikyaku_inbound_parse::Inbound;
use hikyaku_model::Timestamp;
use hikyaku_store::{InboundFormat, InboundState, Store};
use hikyaku_testkit::FormReceiver;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Database, on_both_backends, quick_settings, run_poster, wait_for_state};

on_both_backends!(
    multipart_carries_every_field_and_the_attachments_as_files,
    json_carries_every_field_and_counts_the_attachments,
);

/// Every byte value once: an attachment that must arrive unchanged.
fn binary() -> Vec<u8> {
    (0..=255u8).collect()
}

/// A CSV in Shift_JIS ("名前,a"): must reach the endpoint as these bytes, not as UTF-8.
const SHIFT_JIS_CSV: &[u8] = &[0x96, 0xbc, 0x91, 0x4f, b',', b'a', b'\r', b'\n'];

fn mail() -> Vec<u8> {
    format!(
        "From: =?UTF-8?B?{name}?= <yamada@example.org>\r\n\
         To: support@example.com\r\n\
         Subject: =?UTF-8?B?{subject}?=\r\n\
         Date: Tue, 25 Nov 2025 12:34:56 +0900\r\n\
         Message-ID: <hosted-1@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
         \r\n\
         --outer\r\n\
         Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
         \r\n\
         --alt\r\n\
         Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Caf=E9 au lait\r\n\
         --alt\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         \r\n\
         <p>Caf\u{e9}</p>\r\n\
         --alt--\r\n\
         --outer\r\n\
         Content-Type: image/png\r\n\
         Content-Disposition: attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.png\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {png}\r\n\
         --outer\r\n\
         Content-Type: text/csv; charset=shift_jis\r\n\
         Content-Disposition: attachment; filename=\"a\\\"b.csv\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {csv}\r\n\
         --outer--\r\n",
        name = BASE64.encode("山田"),
        subject = BASE64.encode("お問い合わせ"),
        png = BASE64.encode(binary()),
        csv = BASE64.encode(SHIFT_JIS_CSV),
    )
    .into_bytes()
}

/// Sends `mail()` to a route of `format` at `path` of a fresh receiver, and returns the
/// customer ID and what the receiver read, once the post is delivered.
async fn post_through(
    db: Database,
    format: InboundFormat,
    path: &str,
    api_key: Option<&str>,
) -> Option<(String, Vec<Value>)> {
    let receiver = FormReceiver::start()?;
    let store: Store = db.open().await;
    let customer = store
        .create_contract("Hosted Inbound Co", "standard")
        .await
        .unwrap()
        .customer_id;
    let (route, _) = store
        .add_inbound_route_as(
            &customer,
            "support@example.com",
            &receiver.url(path),
            format,
            api_key,
        )
        .await
        .unwrap();
    assert_eq!(route.format, format);
    let listed = store.inbound_routes(Some(&customer)).await.unwrap();
    assert_eq!(listed[0].format, format);
    assert_eq!(listed[0].api_key.as_deref(), api_key);

    let inbound = Inbound::new(store.clone(), quick_settings()).unwrap();
    let (stop, poster) = run_poster(&inbound);
    let route = store
        .inbound_route_for("support@example.com")
        .await
        .unwrap()
        .unwrap();
    inbound
        .enqueue(
            &route,
            "bounce-7@example.org",
            "support@example.com",
            &mail(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    wait_for_state(&store, 1, InboundState::Delivered).await;
    stop.send(()).unwrap();
    poster.await.unwrap();
    let received = receiver.wait_for(Duration::from_secs(5), |r| {
        r.iter().any(|e| e["status"] == 200)
    });
    Some((customer.to_string(), received))
}

fn header<'a>(headers: &'a [Value], name: &str) -> &'a str {
    headers
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))["value"]
        .as_str()
        .unwrap()
}

async fn multipart_carries_every_field_and_the_attachments_as_files(db: Database) {
    let Some((customer, received)) = post_through(
        db,
        InboundFormat::HostedMultipart,
        "/flaky/inbound",
        Some("key-123"),
    )
    .await
    else {
        return;
    };
    assert_eq!(received.len(), 2, "500, then 200: {received:#?}");
    assert_eq!(received[0]["id"], received[1]["id"], "one mail, one ID");
    for entry in &received {
        assert!(entry.get("error").is_none(), "{entry:#?}");
        assert!(
            entry["content_type"]
                .as_str()
                .unwrap()
                .starts_with("multipart/form-data; boundary="),
            "{entry:#?}"
        );
    }
    assert_eq!(
        received[0]["fields"], received[1]["fields"],
        "a retry sends the same fields"
    );
    let entry = &received[1];
    let fields = &entry["fields"];
    assert_eq!(fields["api_key"], "key-123");
    assert_eq!(fields["server_composition"], customer.as_str());
    assert_eq!(fields["filter"], "support@example.com");
    assert_eq!(fields["subject"], "お問い合わせ");
    assert_eq!(fields["envelope-from"], "bounce-7@example.org");
    assert_eq!(fields["envelope-to"], "support@example.com");
    assert_eq!(fields["text"], "Caf\u{e9} au lait");
    assert_eq!(fields["html"].as_str().unwrap().trim(), "<p>Caf\u{e9}</p>");
    assert_eq!(fields["attachments"], "2");
    // `headers` is a JSON string in a form, as the hosted service sends it.
    let headers: Vec<Value> = serde_json::from_str(fields["headers"].as_str().unwrap()).unwrap();
    assert_eq!(header(&headers, "Message-ID"), "<hosted-1@example.org>");
    assert_eq!(header(&headers, "To"), "support@example.com");
    for h in &headers {
        assert_eq!(h.as_object().unwrap().len(), 2, "{{name, value}}: {h}");
    }
    let files = &entry["files"];
    assert_eq!(files.as_object().unwrap().len(), 2, "{files:#?}");
    assert_eq!(
        files["attachment1"],
        json!({"filename": "見積.png", "content_type": "image/png", "hex": hex(&binary())})
    );
    assert_eq!(files["attachment2"]["content_type"], "text/csv");
    assert_eq!(files["attachment2"]["hex"], hex(SHIFT_JIS_CSV));
    // A quote in a file name is percent-encoded, as browsers send it, and cannot end the
    // parameter early.
    assert_eq!(files["attachment2"]["filename"], "a%22b.csv");
    let order: Vec<&str> = entry["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "api_key",
            "server_composition",
            "filter",
            "headers",
            "subject",
            "envelope-from",
            "envelope-to",
            "text",
            "html",
            "attachments",
            "attachment1",
            "attachment2"
        ]
    );
}

async fn json_carries_every_field_and_counts_the_attachments(db: Database) {
    let Some((customer, received)) =
        post_through(db, InboundFormat::HostedJson, "/inbound", None).await
    else {
        return;
    };
    assert_eq!(received.len(), 1, "{received:#?}");
    let entry = &received[0];
    assert!(entry.get("error").is_none(), "{entry:#?}");
    assert_eq!(entry["content_type"], "application/json");
    let fields = entry["fields"].as_object().unwrap();
    let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "attachments",
            "envelope-from",
            "envelope-to",
            "filter",
            "headers",
            "html",
            "server_composition",
            "subject",
            "text"
        ],
        "no api_key when the route has none; no attachment files in JSON"
    );
    assert_eq!(fields["server_composition"], customer.as_str());
    assert_eq!(fields["filter"], "support@example.com");
    assert_eq!(fields["subject"], "お問い合わせ");
    assert_eq!(fields["envelope-from"], "bounce-7@example.org");
    assert_eq!(fields["envelope-to"], "support@example.com");
    assert_eq!(fields["text"], "Caf\u{e9} au lait");
    assert_eq!(fields["attachments"], 2);
    let headers = fields["headers"].as_array().unwrap();
    assert_eq!(header(headers, "Message-ID"), "<hosted-1@example.org>");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
