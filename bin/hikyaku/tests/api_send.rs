//! Sending over HTTP on a real `hikyaku serve`: a message posted to `/api/v1/messages` reaches
//! a sink MX with its events in the send log; a retry with the same `Idempotency-Key` sends
//! nothing more; a batch of 1,000 with one bad address sends 999; a suppressed recipient is
//! never sent; a viewer's key may not send.

mod delivery_support;

use delivery_support::{route_everything, search, wait_for_events, wait_for_kind};
use hikyaku_testkit::{HikyakuProcess, Sink, http_call};
use serde_json::{Value, json};
use std::time::Duration;

fn key_for(node: &HikyakuProcess, customer: &str, role: &str) -> String {
    let out = node
        .cli_ok(&[
            "api-key",
            "create",
            customer,
            "--name",
            role,
            "--role",
            role,
            "--see-addresses",
            "--json",
        ])
        .unwrap();
    serde_json::from_str::<Value>(out.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string()
}

fn post(
    node: &HikyakuProcess,
    path: &str,
    key: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value, Option<String>) {
    let answer = http_call(
        node.http_addr(),
        "POST",
        path,
        Some(key),
        headers,
        Some(&body.to_string()),
    )
    .unwrap();
    let json = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", answer.body));
    let replayed = answer.header("idempotent-replayed").map(str::to_string);
    (answer.status, json, replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_over_http_is_delivered_once_and_logged() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));
    let key = key_for(&node, &customer, "sender");
    node.cli_ok(&["suppression", "add", &customer, "listed@example.jp"])
        .unwrap();

    let request = json!({
        "from": {"name": "株式会社サンプル", "address": "shop@example.com"},
        "to": [{"name": "山田 太郎", "address": "taro@example.jp"}, "listed@example.jp"],
        "subject": "ご注文ありがとうございます",
        "text": "お届けは明日です。",
        "tags": ["order"],
        "metadata": {"order_id": "A-1"},
        "charset": "ISO-2022-JP"
    });
    let headers = [("Idempotency-Key", "order-A-1")];
    let (status, sent, replayed) = post(&node, "/api/v1/messages", &key, &headers, &request);
    assert_eq!(status, 202, "{sent}");
    assert_eq!(replayed, None);
    assert_eq!(sent["accepted"], json!(["taro@example.jp"]));
    assert_eq!(sent["suppressed"], json!(["listed@example.jp"]));
    let id = sent["message_id"].as_str().unwrap().to_string();

    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(received[0].recipients, ["taro@example.jp"]);
    let data = String::from_utf8_lossy(&received[0].data);
    assert!(data.contains("Subject: =?ISO-2022-JP?B?"), "{data}");
    assert!(
        data.contains(&format!("X-Hikyaku-Message-Id: {id}")),
        "{data}"
    );
    let delivered = wait_for_events(&node, &id, "delivered", 1);
    assert_eq!(delivered[0]["tags"], json!(["order"]), "{delivered:?}");
    assert_eq!(delivered[0]["metadata"]["order_id"], "A-1");
    wait_for_events(&node, &id, "suppressed", 1);

    // The same key and request: the first answer again, nothing sent.
    let (status, again, replayed) = post(&node, "/api/v1/messages", &key, &headers, &request);
    assert_eq!(status, 202, "{again}");
    assert_eq!(again, sent);
    assert_eq!(replayed.as_deref(), Some("true"));
    // The same key for another request is refused.
    let mut other = request.clone();
    other["subject"] = json!("another");
    let (status, refused, _) = post(&node, "/api/v1/messages", &key, &headers, &other);
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 1, "the retry sent nothing");
    assert_eq!(search(&node, &["--outcome", "accepted"]).len(), 2);

    // A viewer reads but does not send.
    let viewer = key_for(&node, &customer, "viewer");
    let (status, body, _) = post(&node, "/api/v1/messages", &viewer, &[], &request);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_1000_with_one_bad_address_sends_999() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));
    let key = key_for(&node, &customer, "sender");
    let recipients: Vec<Value> = (0..1000)
        .map(|i| {
            let to = if i == 500 {
                "not-an-address".to_string()
            } else {
                format!("user{i}@example.jp")
            };
            json!({"to": to, "substitutions": {"name": format!("User {i}")}})
        })
        .collect();
    let request = json!({
        "template": {
            "from": "news@example.com",
            "subject": "Hello {{name}}",
            "text": "Dear {{name}},\nthank you."
        },
        "recipients": recipients
    });
    let (status, answer, _) = post(&node, "/api/v1/messages/batch", &key, &[], &request);
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    for (i, result) in results.iter().enumerate() {
        if i == 500 {
            assert_eq!(result["status"], "rejected", "{result}");
            assert_eq!(
                result["error"]["field"], "recipients[500].to[0]",
                "{result}"
            );
        } else {
            assert_eq!(result["status"], "accepted", "{i}: {result}");
            assert_eq!(result["accepted"], json!([format!("user{i}@example.jp")]));
        }
    }

    let received = sink.wait_for(999, Duration::from_secs(120)).await.unwrap();
    wait_for_kind(&node, "delivered", 999);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.received().len(), 999);
    let seven = received
        .iter()
        .find(|m| m.recipients == ["user7@example.jp"])
        .expect("user7's message arrived");
    let data = String::from_utf8_lossy(&seven.data);
    assert!(data.contains("Subject: Hello User 7\r\n"), "{data}");
    assert!(data.contains("Dear User 7,"), "{data}");
}
