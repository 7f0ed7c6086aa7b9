//! The hosted-API drop-in (`/api/v2/emails/*`, `/transaction/v2/*/list`) over a real listener,
//! a real store (SQLite and PostgreSQL), real API keys and a real intake into a spool: every
//! body encoding, the record shapes, the filters and paging, every refusal's code, and that a
//! contract's API user never reads another's data. Requests are written as the hosted
//! service's documentation shows them, not from our own types.

mod common;

use common::{Backend, Reply, Server, attempt, on_both_backends, reply};
use hikyaku_dkim::{KeyAlgorithm, PrivateKey};
use hikyaku_model::{ContractState, CustomerId, EventDetails, MessageId, Reason, Role, Timestamp};
use hikyaku_store::{NewApiKey, NewDkimKey, NewSuppression, SuppressionSource};
use serde_json::{Value, json};

const FAST: &str = "[api]\nburst = 100000\nrequests_per_second = 100000\n";

struct World {
    server: Server,
    a: CustomerId,
    b: CustomerId,
    /// A's sending key: api_user `app@a.example`.
    a_key: String,
    /// A's viewer key: api_user `viewer@a.example`, reads but may not send.
    a_viewer: String,
    /// B's key: api_user `app@b.example`.
    b_key: String,
}

async fn key(server: &Server, customer: &CustomerId, name: &str, role: Role) -> String {
    server
        .store
        .create_api_key(
            customer,
            &NewApiKey {
                name,
                role,
                see_addresses: true,
            },
        )
        .await
        .unwrap()
        .1
}

async fn sender_domain(server: &Server, customer: &CustomerId, domain: &str) {
    let key = PrivateKey::generate(KeyAlgorithm::Ed25519).unwrap();
    server
        .store
        .add_sender_domain(
            Some(customer),
            domain,
            "ed25519",
            &[NewDkimKey {
                selector: "s1",
                algorithm: "ed25519",
                public_key: &key.public_key_base64(),
                private_key_pem: &key.to_pem(),
            }],
        )
        .await
        .unwrap();
}

async fn world_with(backend: Backend, config: &str) -> Option<World> {
    let server = Server::start(backend, config).await?;
    let a = server
        .store
        .create_contract("a", "standard")
        .await
        .unwrap()
        .customer_id;
    let b = server
        .store
        .create_contract("b", "standard")
        .await
        .unwrap()
        .customer_id;
    let a_key = key(&server, &a, "app@a.example", Role::Sender).await;
    let a_viewer = key(&server, &a, "viewer@a.example", Role::Viewer).await;
    let b_key = key(&server, &b, "app@b.example", Role::Admin).await;
    sender_domain(&server, &a, "shop.example").await;
    sender_domain(&server, &b, "b.example").await;
    Some(World {
        server,
        a,
        b,
        a_key,
        a_viewer,
        b_key,
    })
}

async fn world(backend: Backend) -> Option<World> {
    world_with(backend, FAST).await
}

impl World {
    /// A's credentials and composition, with `more` over them.
    fn a(&self, more: Value) -> Value {
        self.creds("app@a.example", &self.a_key, &self.a, more)
    }

    fn creds(&self, user: &str, key: &str, customer: &CustomerId, more: Value) -> Value {
        let mut body = json!({
            "api_user": user,
            "api_key": key,
            "server_composition": customer.as_str(),
        });
        for (k, v) in more.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    async fn json(&self, path: &str, body: &Value) -> Reply {
        self.server
            .call_with(
                "POST",
                path,
                &[("Content-Type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await
    }

    /// The body as a form: strings as they are, anything else JSON-encoded, as the hosted
    /// service's form clients send `from`, `to` and `headers`.
    async fn form(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let pairs: Vec<(String, String)> = body
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        let encoded = serde_urlencoded::to_string(&pairs).unwrap();
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        self.server
            .call_with("POST", path, &all, encoded.as_bytes())
            .await
    }

    async fn multipart(&self, path: &str, body: &Value, files: &[(&str, &str, &[u8])]) -> Reply {
        let boundary = "----hosted-test-7f3a";
        let mut out = Vec::new();
        for (k, v) in body.as_object().unwrap() {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .bytes(),
            );
        }
        for (field, filename, bytes) in files {
            out.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; \
                     filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .bytes(),
            );
            out.extend_from_slice(bytes);
            out.extend(b"\r\n");
        }
        out.extend(format!("--{boundary}--\r\n").bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        self.server
            .call_with("POST", path, &[("Content-Type", &content_type)], &out)
            .await
    }
}

fn ok(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    reply.json()
}

/// The hosted error shape; returns (code, field).
fn refused(reply: &Reply) -> (String, String) {
    assert_ne!(reply.status, 200, "{}", reply.text());
    let json = reply.json();
    let errors = json["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(errors.len(), 1, "{json}");
    let e = &errors[0];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    (
        e["code"].as_str().unwrap().to_string(),
        e["field"].as_str().unwrap().to_string(),
    )
}

fn today_jst() -> String {
    hikyaku_api_types::hosted::hosted_date(Timestamp::now(), 540)
}

async fn spooled(server: &Server, id: &str) -> String {
    let id: MessageId = id.parse().unwrap();
    let (_, bytes) = server.spool.read(id).await.unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

const DELIVERY_KEYS: [&str; 11] = [
    "created",
    "returnPath",
    "from",
    "to",
    "messageId",
    "reason",
    "senderIp",
    "sourceIp",
    "status",
    "subject",
    "apiData",
];

async fn every_encoding_sends_and_the_lists_find_it(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    // JSON, as the documentation's example: one `to` object, a `cc` list, headers as a list.
    let sent = ok(&w
        .json(
            "/api/v2/emails/send.json",
            &w.a(json!({
                "from": {"name": "ショップ", "address": "info@shop.example"},
                "to": {"name": "山田 太郎", "address": "taro@example.jp"},
                "cc": [{"name": "", "address": "hanako@example.jp"}],
                "subject": "ご注文ありがとうございます",
                "text": "本文",
                "html": "<p>本文</p>",
                "headers": [{"name": "X-Api-Data", "value": "order-1001"}, {"name": "X-Campaign", "value": "winter"}],
            })),
        )
        .await);
    let id1 = sent["id"].as_str().unwrap().to_string();
    assert_eq!(sent.as_object().unwrap().len(), 1, "{sent}");
    let m1 = spooled(&w.server, &id1).await;
    assert!(m1.contains("X-Api-Data: order-1001"), "{m1}");
    assert!(
        m1.contains("X-Campaign: winter") && m1.contains("DKIM-Signature:"),
        "{m1}"
    );

    // A form, `to` and `from` JSON inside fields, headers as a map, ISO-2022-JP, envfrom, and
    // no `.json` suffix.
    let sent = ok(&w
        .form(
            "/api/v2/emails/send",
            &w.a(json!({
                "from": {"name": "Shop", "address": "info@shop.example"},
                "to": [{"name": "", "address": "jiro@example.jp"}],
                "subject": "件名",
                "text": "日本語の本文",
                "charset": "ISO-2022-JP",
                "envfrom": "bounce@shop.example",
                "headers": {"X-Api-Data": "order-1002"},
            })),
            &[],
        )
        .await);
    let id2 = sent["id"].as_str().unwrap().to_string();
    let m2 = spooled(&w.server, &id2).await;
    assert!(
        m2.to_ascii_lowercase().contains("charset=\"iso-2022-jp\"")
            || m2.to_ascii_lowercase().contains("charset=iso-2022-jp"),
        "{m2}"
    );
    assert!(m2.contains("\x1b$B"), "the text is in ISO-2022-JP: {m2}");
    let events = w
        .server
        .store
        .events_for_message(id2.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        events[0].mail_from, "bounce@shop.example",
        "envfrom is the envelope sender"
    );

    // Multipart with two files; X-Api-Data as the HTTP request's own header field is not
    // used when the body names one.
    let sent = ok(&w
        .multipart(
            "/api/v2/emails/send.json",
            &w.a(json!({
                "from": {"name": "Shop", "address": "info@shop.example"},
                "to": "saburo@example.jp",
                "subject": "請求書",
                "text": "添付をご確認ください",
                "attachments": "2",
                "X-Api-Data": "order-1003",
            })),
            &[
                ("attachment1", "invoice.pdf", b"%PDF-1.4 fake"),
                ("attachment2", "data.bin", &[0u8, 1, 2, 255]),
            ],
        )
        .await);
    let id3 = sent["id"].as_str().unwrap().to_string();
    let m3 = spooled(&w.server, &id3).await;
    assert!(
        m3.contains("invoice.pdf") && m3.contains("data.bin"),
        "{m3}"
    );
    assert!(
        m3.contains("JVBERi0xLjQgZmFrZQ"),
        "the PDF's bytes, base64: {m3}"
    );

    // The deliveries of today (in Tokyo): every recipient's `queued`, with the shapes.
    let date = today_jst();
    let list = ok(&w
        .json(
            "/transaction/v2/deliveries/list.json",
            &w.a(json!({"date": date, "r": 100})),
        )
        .await);
    let deliveries = list["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 4, "{list}");
    for d in deliveries {
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        for key in DELIVERY_KEYS {
            assert!(keys.contains(&key), "{key} in {d}");
        }
        assert_eq!(d["status"], "queued");
        let created = d["created"].as_str().unwrap();
        assert!(
            created.starts_with(&date) && created.len() == 19,
            "{created}"
        );
    }
    let by_to = |to: &str| {
        deliveries
            .iter()
            .find(|d| d["to"] == to)
            .unwrap_or_else(|| panic!("{to} in {list}"))
            .clone()
    };
    assert_eq!(by_to("taro@example.jp")["apiData"], "order-1001");
    assert_eq!(by_to("taro@example.jp")["messageId"], id1.as_str());
    assert_eq!(
        by_to("jiro@example.jp")["returnPath"],
        "bounce@shop.example"
    );
    assert_eq!(by_to("saburo@example.jp")["apiData"], "order-1003");
    // The subject as sent (the ISO-2022-JP one decoded), and the client's address.
    assert_eq!(
        by_to("taro@example.jp")["subject"],
        "ご注文ありがとうございます"
    );
    assert_eq!(
        by_to("hanako@example.jp")["subject"],
        "ご注文ありがとうございます"
    );
    assert_eq!(by_to("jiro@example.jp")["subject"], "件名");
    assert_eq!(by_to("saburo@example.jp")["subject"], "請求書");
    for d in deliveries {
        assert_eq!(d["sourceIp"], "127.0.0.1", "{d}");
    }

    // Filters: api_data and to by substring, status.
    let find = |more: Value| {
        let body = w.a(json!({"date": date}));
        let mut body = body;
        for (k, v) in more.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let list = ok(&w
        .json(
            "/transaction/v2/deliveries/list.json",
            &find(json!({"api_data": "1002"})),
        )
        .await);
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["deliveries"][0]["to"], "jiro@example.jp");
    let list = ok(&w
        .json(
            "/transaction/v2/deliveries/list.json",
            &find(json!({"to": "HANAKO"})),
        )
        .await);
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 1, "{list}");
    let list = ok(&w
        .json(
            "/transaction/v2/deliveries/list.json",
            &find(json!({"status": "succeeded"})),
        )
        .await);
    assert_eq!(list["deliveries"], json!([]));

    // Paging: r rows from page p, every row once.
    let mut seen = std::collections::BTreeSet::new();
    for p in 0..3 {
        let list = ok(&w
            .json(
                "/transaction/v2/deliveries/list.json",
                &find(json!({"p": p, "r": 2})),
            )
            .await);
        let rows = list["deliveries"].as_array().unwrap();
        assert_eq!(rows.len(), [2, 2, 0][p], "{list}");
        for r in rows {
            assert!(seen.insert(r["to"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(seen.len(), 4);

    // taro's copy bounces (unknown user); jiro's is delivered.
    let now = Timestamp::now().as_millis();
    attempt(
        &w.server.store,
        id1.parse().unwrap(),
        0,
        now,
        EventDetails::Bounced {
            exchange: reply(550, "5.1.1 no such user"),
            reason: Reason::UserUnknown,
            hard: true,
        },
    )
    .await;
    attempt(
        &w.server.store,
        id2.parse().unwrap(),
        0,
        now,
        EventDetails::Delivered {
            exchange: reply(250, "ok"),
        },
    )
    .await;
    let list = ok(&w
        .json(
            "/transaction/v2/deliveries/list.json",
            &find(json!({"status": "failed"})),
        )
        .await);
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["deliveries"][0]["reason"], "550 5.1.1 no such user");
    let list = ok(&w
        .json("/transaction/v2/bounces/list.json", &find(json!({})))
        .await);
    let bounces = list["bounces"].as_array().unwrap();
    assert_eq!(bounces.len(), 1, "{list}");
    assert_eq!(bounces[0]["status"], "2", "unknown user");
    assert_eq!(bounces[0]["to"], "taro@example.jp");
    assert_eq!(bounces[0]["apiData"], "order-1001");
    assert_eq!(bounces[0]["subject"], "ご注文ありがとうございます");
    assert_eq!(bounces[0]["sourceIp"], "127.0.0.1");
    let list = ok(&w
        .json(
            "/transaction/v2/bounces/list.json",
            &w.a(json!({"status": "5"})),
        )
        .await);
    assert_eq!(list["bounces"], json!([]), "no bounce is over capacity");
    let list = ok(&w
        .json(
            "/transaction/v2/bounces/list.json",
            &w.a(json!({"start_date": date, "end_date": date})),
        )
        .await);
    assert_eq!(list["bounces"].as_array().unwrap().len(), 1, "{list}");

    // Blocks: the suppression list, with what listed each address.
    w.server
        .store
        .add_suppressions(
            &w.a,
            &[
                NewSuppression {
                    address: "taro@example.jp",
                    source: SuppressionSource::HardBounce,
                    reason: Some("userunknown"),
                    message_id: Some(id1.parse().unwrap()),
                },
                NewSuppression {
                    address: "gone@example.jp",
                    source: SuppressionSource::Unsubscribe,
                    reason: Some("unsubscribed"),
                    message_id: None,
                },
            ],
            Timestamp::now(),
        )
        .await
        .unwrap();
    let list = ok(&w
        .json("/transaction/v2/blocks/list.json", &w.a(json!({})))
        .await);
    let blocks = list["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2, "{list}");
    for b in blocks {
        let mut keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["created", "email", "id", "occurred", "status"]);
    }
    let list = ok(&w
        .json(
            "/transaction/v2/blocks/list.json",
            &w.a(json!({"email": "taro"})),
        )
        .await);
    assert_eq!(list["blocks"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["blocks"][0]["status"], "2");
    let list = ok(&w
        .json(
            "/transaction/v2/blocks/list.json",
            &w.a(json!({"email": "gone"})),
        )
        .await);
    assert_eq!(list["blocks"][0]["status"], "11");
    let list = ok(&w
        .json(
            "/transaction/v2/blocks/list.json",
            &w.a(json!({"removed": "true"})),
        )
        .await);
    assert_eq!(list["blocks"], json!([]));

    // Statistics of this month, by day and in total.
    let (year, month) = (&date[..4], &date[5..7]);
    let list = ok(&w
        .json(
            "/transaction/v2/statistics/list.json",
            &w.a(json!({"year": year, "month": month})),
        )
        .await);
    let days = list["statistics"].as_array().unwrap();
    assert!(days.len() >= 28, "{list}");
    let today = days.iter().find(|d| d["date"] == date.as_str()).unwrap();
    assert_eq!(
        today,
        &json!({"date": date, "queued": 4, "succeeded": 1, "failed": 1, "blocked": 0, "valid": 4})
    );
    let list = ok(&w
        .json(
            "/transaction/v2/statistics/list.json",
            &w.a(json!({"year": year, "month": month, "total": "true"})),
        )
        .await);
    assert_eq!(
        list["statistics"],
        json!([{"date": "total", "queued": 4, "succeeded": 1, "failed": 1, "blocked": 0, "valid": 4}])
    );
}

async fn bulk_sends_one_message_per_recipient(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let sent = ok(&w
        .json(
            "/api/v2/emails/bulk.json",
            &w.a(json!({
                "from": {"name": "Shop", "address": "news@shop.example"},
                "to": [
                    {"name": "太郎", "address": "taro@example.jp", "point": "120", "rank": "gold"},
                    {"name": "花子", "address": "hanako@example.jp", "point": 80, "rank": "silver"},
                ],
                "subject": "((#name#))様 ポイントのお知らせ",
                "text": "((#name#))様の残高は ((#point#)) 点 (((#rank#))) です。((#unknown#))",
                "headers": [{"name": "X-Rank", "value": "((#rank#))"}],
            })),
        )
        .await);
    let ids = sent["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2, "{sent}");
    assert_eq!(sent["id"], ids[0]);
    let taro = spooled(&w.server, ids[0].as_str().unwrap()).await;
    let hanako = spooled(&w.server, ids[1].as_str().unwrap()).await;
    assert!(
        taro.contains("X-Rank: gold") && hanako.contains("X-Rank: silver"),
        "{taro}\n{hanako}"
    );
    assert!(taro.contains("taro@example.jp") && !taro.contains("hanako@example.jp"));
    let decoded = mail_parser_free_text;
    assert!(decoded(&taro).contains("120"), "{taro}");
    assert!(decoded(&hanako).contains("80"), "{hanako}");

    // Limits: 1,001 recipients, 101 properties, a 5 KB + 1 value.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"address": format!("r{i}@example.jp")}))
        .collect();
    let base = |to: Value| {
        w.a(json!({
            "from": {"name": "", "address": "news@shop.example"},
            "to": to,
            "subject": "s",
            "text": "t",
        }))
    };
    let (code, field) = refused(&w.json("/api/v2/emails/bulk.json", &base(json!(many))).await);
    assert_eq!((code.as_str(), field.as_str()), ("13-003", "to"));
    let mut wide = serde_json::Map::new();
    wide.insert("address".into(), json!("a@example.jp"));
    for i in 0..101 {
        wide.insert(format!("p{i}"), json!("v"));
    }
    let (code, field) = refused(
        &w.json("/api/v2/emails/bulk.json", &base(json!([wide])))
            .await,
    );
    assert_eq!((code.as_str(), field.as_str()), ("13-011", "to[0]"));
    let long = "x".repeat(5 * 1024 + 1);
    let (code, field) = refused(
        &w.json(
            "/api/v2/emails/bulk.json",
            &base(json!([{"address": "a@example.jp"}, {"address": "b@example.jp", "p": long}])),
        )
        .await,
    );
    assert_eq!((code.as_str(), field.as_str()), ("13-011", "to[1].p"));
    // A bad address in one entry refuses the whole request: nothing was sent.
    let before = w
        .server
        .store
        .search_events(&hikyaku_store::EventQuery {
            customer: Some(w.a.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .events
        .len();
    let (code, field) = refused(
        &w.json(
            "/api/v2/emails/bulk.json",
            &base(json!([{"address": "ok@example.jp"}, {"address": "not an address"}])),
        )
        .await,
    );
    assert_eq!((code.as_str(), field.as_str()), ("13-002", "to[1]"));
    let after = w
        .server
        .store
        .search_events(&hikyaku_store::EventQuery {
            customer: Some(w.a.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .events
        .len();
    assert_eq!(before, after);
}

/// The text of a message's body parts, decoded (base64 or quoted-printable) well enough to
/// find a number in: the composer may encode UTF-8 text either way.
fn mail_parser_free_text(message: &str) -> String {
    use base64::Engine;
    let mut out = String::from(message);
    for line in message.lines() {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(line.trim()) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out.replace("=\r\n", "")
}

async fn a_contract_reads_only_its_own(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    ok(&w
        .json(
            "/api/v2/emails/send.json",
            &w.a(json!({
                "from": {"name": "", "address": "info@shop.example"},
                "to": "secret-customer@example.jp",
                "subject": "s",
                "text": "t",
            })),
        )
        .await);
    let date = today_jst();
    // B's user naming A's contract is refused, on every list.
    for path in [
        "/transaction/v2/deliveries/list.json",
        "/transaction/v2/bounces/list.json",
        "/transaction/v2/blocks/list.json",
        "/transaction/v2/statistics/list.json",
    ] {
        let body = w.creds(
            "app@b.example",
            &w.b_key,
            &w.a,
            json!({"date": date, "year": &date[..4], "month": &date[5..7]}),
        );
        let (code, field) = refused(&w.json(path, &body).await);
        assert_eq!(
            (code.as_str(), field.as_str()),
            ("01-005", "server_composition"),
            "{path}"
        );
    }
    // Its own composition shows none of A's.
    let body = w.creds("app@b.example", &w.b_key, &w.b, json!({"date": date}));
    let list = ok(&w.json("/transaction/v2/deliveries/list.json", &body).await);
    assert_eq!(list["deliveries"], json!([]));
    // A's name with B's secret, and the reverse, are no one.
    let body = w.creds("app@a.example", &w.b_key, &w.a, json!({"date": date}));
    assert_eq!(
        refused(&w.json("/transaction/v2/deliveries/list.json", &body).await).0,
        "01-003"
    );
    let body = w.creds("app@b.example", &w.a_key, &w.a, json!({"date": date}));
    assert_eq!(
        refused(&w.json("/transaction/v2/deliveries/list.json", &body).await).0,
        "01-003"
    );
    // B cannot send from A's domain: it has no DKIM key there.
    let body = w.creds(
        "app@b.example",
        &w.b_key,
        &w.b,
        json!({"from": {"address": "info@shop.example"}, "to": "x@example.jp", "subject": "s", "text": "t"}),
    );
    assert_eq!(
        refused(&w.json("/api/v2/emails/send.json", &body).await),
        ("13-006".into(), "from".into())
    );
    // A viewer reads, and may not send.
    let viewer = w.creds("viewer@a.example", &w.a_viewer, &w.a, json!({"date": date}));
    let list = ok(&w
        .json("/transaction/v2/deliveries/list.json", &viewer)
        .await);
    assert_eq!(list["deliveries"].as_array().unwrap().len(), 1);
    let viewer = w.creds(
        "viewer@a.example",
        &w.a_viewer,
        &w.a,
        json!({"from": {"address": "info@shop.example"}, "to": "x@example.jp", "subject": "s", "text": "t"}),
    );
    assert_eq!(
        refused(&w.json("/api/v2/emails/send.json", &viewer).await).0,
        "01-004"
    );
}

on_both_backends!(
    every_encoding_sends_and_the_lists_find_it,
    bulk_sends_one_message_per_recipient,
    a_contract_reads_only_its_own,
);

/// Every refusal a request can earn, with its code and field, in the hosted error shape.
#[tokio::test]
async fn every_refusal_has_its_code() {
    let w = world_with(
        Backend::Sqlite,
        "[api]\nburst = 100000\nrequests_per_second = 100000\nmax_body_bytes = \"64KB\"\n",
    )
    .await
    .unwrap();
    let send = |more: Value| {
        let mut body = w.a(json!({
            "from": {"name": "", "address": "info@shop.example"},
            "to": "taro@example.jp",
            "subject": "s",
            "text": "t",
        }));
        for (k, v) in more.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let list = |more: Value| {
        let mut body = w.a(json!({}));
        for (k, v) in more.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let eleven: Vec<String> = (0..11).map(|i| format!("r{i}@example.jp")).collect();
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/api/v2/emails/send.json",
            send(json!({"api_user": null})),
            "01-001",
            "api_user",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"api_key": null})),
            "01-002",
            "api_key",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"api_key": "hk_wrong"})),
            "01-003",
            "api_key",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"api_user": "other@a.example"})),
            "01-003",
            "api_key",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"server_composition": null, "date": "2026-12-01"})),
            "01-006",
            "server_composition",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"server_composition": "NOT A CONTRACT", "date": "2026-12-01"})),
            "01-005",
            "server_composition",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"from": null})),
            "13-001",
            "from",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"from": ["a@shop.example", "b@shop.example"]})),
            "13-001",
            "from",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"from": {"name": "x"}})),
            "13-001",
            "from",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"to": null})),
            "13-002",
            "to",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"to": "not-an-address"})),
            "13-002",
            "to[0]",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"to": eleven})),
            "13-003",
            "to",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"to": "a@example.jp", "bcc": eleven})),
            "13-003",
            "bcc",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"subject": null})),
            "13-004",
            "subject",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"text": null})),
            "13-005",
            "text",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"from": {"address": "info@unsigned.example"}})),
            "13-006",
            "from",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"charset": "Shift_JIS"})),
            "13-007",
            "charset",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"headers": "X-A: 1"})),
            "13-008",
            "headers",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"headers": [{"name": "From", "value": "x@y.example"}]})),
            "13-008",
            "headers.From",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"attachments": "1"})),
            "13-009",
            "attachment1",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"envfrom": "no at sign"})),
            "13-010",
            "envfrom",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"X-Api-Data": "x".repeat(1025)})),
            "13-012",
            "X-Api-Data",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"replyto": 42})),
            "13-014",
            "replyto",
        ),
        (
            "/api/v2/emails/send.json",
            send(json!({"subject": ["not", "a", "string"]})),
            "13-099",
            "subject",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": {"day": "2026-12-01"}})),
            "13-099",
            "date",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({})),
            "21-001",
            "date",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": "2026/12/01"})),
            "21-001",
            "date",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": "2026-12-01", "hour": "24"})),
            "21-002",
            "hour",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": "2026-12-01", "minute": "5"})),
            "21-002",
            "minute",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": "2026-12-01", "status": "bounced"})),
            "21-003",
            "status",
        ),
        (
            "/transaction/v2/bounces/list.json",
            list(json!({"status": "two"})),
            "21-003",
            "status",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": "2026-12-01", "r": "101"})),
            "21-004",
            "r",
        ),
        (
            "/transaction/v2/deliveries/list.json",
            list(json!({"date": "2026-12-01", "p": "-1"})),
            "21-004",
            "p",
        ),
        (
            "/transaction/v2/bounces/list.json",
            list(json!({"start_date": "2026-12-02", "end_date": "2026-12-01"})),
            "21-005",
            "start_date",
        ),
        (
            "/transaction/v2/blocks/list.json",
            list(json!({"end_date": "tomorrow"})),
            "21-005",
            "end_date",
        ),
        (
            "/transaction/v2/statistics/list.json",
            list(json!({"year": "2026"})),
            "21-006",
            "month",
        ),
        (
            "/transaction/v2/statistics/list.json",
            list(json!({"year": "2026", "month": "13"})),
            "21-006",
            "month",
        ),
        (
            "/transaction/v2/blocks/list.json",
            list(json!({"removed": "yes"})),
            "21-007",
            "removed",
        ),
    ];
    for (path, body, code, field) in &cases {
        let reply = w.json(path, body).await;
        assert_eq!(
            refused(&reply),
            (code.to_string(), field.to_string()),
            "{path} {body}"
        );
    }

    // The body itself.
    let server = &w.server;
    let first = |body: &'static [u8], content_type: &'static str| raw(server, content_type, body);
    assert_eq!(
        refused(&first(b"{\"api_user\":", "application/json").await).0,
        "02-001"
    );
    assert_eq!(refused(&first(b"[]", "application/json").await).0, "02-001");
    assert_eq!(
        refused(&first(b"--x\r\nno end", "multipart/form-data; boundary=x").await).0,
        "02-001"
    );
    assert_eq!(refused(&first(b"<send/>", "text/xml").await).0, "02-002");
    let huge = vec![b'a'; 65 * 1024];
    let reply = w
        .server
        .call_with(
            "POST",
            "/api/v2/emails/send.json",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &huge,
        )
        .await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (413, "02-003"));
    let reply = w
        .server
        .call_with("GET", "/api/v2/emails/send.json", &[], b"")
        .await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (405, "02-004"));
    let reply = w
        .server
        .call_with("POST", "/transaction/v2/nothing/list.json", &[], b"")
        .await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (404, "02-005"));
    for xml in [
        "/api/v2/emails/send.xml",
        "/transaction/v2/deliveries/list.xml",
    ] {
        let reply = w.server.call_with("POST", xml, &[], b"").await;
        assert_eq!((reply.status, refused(&reply).0.as_str()), (404, "02-005"));
        assert!(
            reply.json()["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(".json")
        );
    }

    // Japanese when asked.
    let reply = w
        .server
        .call_with(
            "POST",
            "/api/v2/emails/send.json",
            &[
                ("Content-Type", "application/json"),
                ("Accept-Language", "ja"),
            ],
            send(json!({"charset": "EUC-JP"})).to_string().as_bytes(),
        )
        .await;
    let json = reply.json();
    assert_eq!(json["errors"][0]["code"], "13-007");
    assert!(
        json["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("指定してください"),
        "{json}"
    );

    // A suspended contract cannot send.
    w.server
        .store
        .set_contract_state(&w.a, ContractState::Suspended)
        .await
        .unwrap();
    assert_eq!(
        refused(&w.json("/api/v2/emails/send.json", &send(json!({}))).await).0,
        "14-001"
    );
}

async fn raw(server: &Server, content_type: &str, body: &[u8]) -> Reply {
    server
        .call_with(
            "POST",
            "/api/v2/emails/send.json",
            &[("Content-Type", content_type)],
            body,
        )
        .await
}

#[tokio::test]
async fn a_busy_api_user_is_told_to_wait() {
    let w = world_with(
        Backend::Sqlite,
        "[api]\nburst = 2\nrequests_per_second = 0.01\n",
    )
    .await
    .unwrap();
    let body = w.a(json!({"date": "2026-12-01"}));
    ok(&w.json("/transaction/v2/deliveries/list.json", &body).await);
    ok(&w.json("/transaction/v2/deliveries/list.json", &body).await);
    let reply = w.json("/transaction/v2/deliveries/list.json", &body).await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (429, "01-007"));
    assert!(reply.header("retry-after").is_some());
}

/// The refusals that come from past the request's fields: the message's size, the contract's
/// pause, the node's full spool, and a store that fails.
#[tokio::test]
async fn the_relay_and_the_store_refusals_have_codes() {
    let w = world(Backend::Sqlite).await.unwrap();
    let send = |text: String| {
        w.a(json!({
            "from": {"name": "", "address": "info@shop.example"},
            "to": "taro@example.jp",
            "subject": "s",
            "text": text,
        }))
    };
    let path = "/api/v2/emails/send.json";

    // Over the relay's message size (1 MB here), though within the API's body limit.
    let reply = w.json(path, &send("x".repeat(1_100_000))).await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (413, "13-013"));

    // A spool without room for the message: this node cannot take mail now.
    let hold = w
        .server
        .spool
        .reserve(w.server.spool.limit_bytes() - 512)
        .unwrap();
    let reply = w
        .json(path, &send("fits the API, not the spool".into()))
        .await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (503, "14-003"));
    assert!(reply.header("retry-after").is_some());
    drop(hold);
    ok(&w.json(path, &send("room again".into())).await);

    // Paused by the reputation guard.
    w.server
        .store
        .pause_sending(
            &w.a,
            Timestamp::now(),
            "bounce rate over the threshold",
            None,
        )
        .await
        .unwrap();
    let reply = w.json(path, &send("t".into())).await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (429, "14-002"));

    // A store that cannot answer: an internal error, to be retried, with nothing of the cause
    // in the answer.
    w.server.store.close().await;
    let reply = w
        .json(
            "/transaction/v2/deliveries/list.json",
            &w.a(json!({"date": today_jst()})),
        )
        .await;
    assert_eq!((reply.status, refused(&reply).0.as_str()), (500, "99-001"));
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert!(
        !reply.text().to_lowercase().contains("pool"),
        "{}",
        reply.text()
    );
}

/// Real clients we did not write: Python's `requests` and node's `fetch`, each calling every
/// endpoint with JSON, form and multipart bodies and checking the documented shapes.
#[tokio::test]
async fn real_clients_use_every_endpoint() {
    let w = world(Backend::Sqlite).await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosted_clients");
    let base = format!("http://{}", w.server.addr);
    let date = today_jst();
    let envs = [
        ("HOSTED_BASE", base.as_str()),
        ("HOSTED_USER", "app@a.example"),
        ("HOSTED_KEY", w.a_key.as_str()),
        ("HOSTED_COMPOSITION", w.a.as_str()),
        ("HOSTED_OTHER_COMPOSITION", w.b.as_str()),
        ("HOSTED_DATE", date.as_str()),
    ];
    for (program, script) in [("python3", "client.py"), ("node", "client.mjs")] {
        let mut command = std::process::Command::new(program);
        command
            .arg(dir.join(script))
            .envs(envs.iter().map(|(k, v)| (*k, v.to_string())));
        // The server runs on this test's runtime: the client waits on a thread of its own.
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap();
        let output = match output {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("{program} is not installed: {script} not run");
                continue;
            }
            Err(e) => panic!("{program}: {e}"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{script}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("all checks passed"),
            "{script}:\n{stdout}\n{stderr}"
        );
    }
}
