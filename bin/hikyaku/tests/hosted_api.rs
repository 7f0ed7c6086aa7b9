//! The hosted-API drop-in on a real `hikyaku serve`: a message sent through
//! `/api/v2/emails/send.json` reaches a sink MX, its delivery is found in
//! `/transaction/v2/deliveries/list.json` as `succeeded` with its `X-Api-Data`, the recipient the
//! MX refuses is in `bounces/list.json` with error status 2 (unknown user), and its address is
//! then in `blocks/list.json`.

mod delivery_support;

use delivery_support::{route_everything, wait_until};
use hikyaku_model::Timestamp;
use hikyaku_testkit::{HikyakuProcess, Sink, http_call};
use serde_json::{Value, json};
use std::time::Duration;

fn post(node: &HikyakuProcess, path: &str, body: &Value) -> (u16, Value) {
    let answer = http_call(
        node.http_addr(),
        "POST",
        path,
        None,
        &[],
        Some(&body.to_string()),
    )
    .unwrap();
    let json = serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("{path}: {e}: {}", answer.body));
    (answer.status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_delivered_bounced_and_blocked_through_the_hosted_api() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));
    let out = node
        .cli_ok(&[
            "api-key",
            "create",
            &customer,
            "--name",
            "app@example.com",
            "--see-addresses",
            "--json",
        ])
        .unwrap();
    let key = serde_json::from_str::<Value>(out.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let creds = |more: Value| {
        let mut body = json!({
            "api_user": "app@example.com",
            "api_key": key,
            "server_composition": customer,
        });
        for (k, v) in more.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let message = json!({
        "from": {"name": "Shop", "address": "info@example.com"},
        "to": [{"name": "", "address": "taro@example.jp"}, {"name": "", "address": "reject@example.jp"}],
        "subject": "ご注文ありがとうございます",
        "text": "お届けは明日です。",
        "headers": [{"name": "X-Api-Data", "value": "order-9"}],
    });

    // Without a DKIM key for example.com the hosted service's own code refuses it.
    let (status, refused) = post(&node, "/api/v2/emails/send.json", &creds(message.clone()));
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["errors"][0]["code"], "13-006");
    node.cli_ok(&["domain", "add", &customer, "example.com"])
        .unwrap();

    let (status, sent) = post(&node, "/api/v2/emails/send.json", &creds(message));
    assert_eq!(status, 200, "{sent}");
    let id = sent["id"].as_str().unwrap().to_string();
    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(received[0].recipients, ["taro@example.jp"]);
    let data = String::from_utf8_lossy(&received[0].data);
    assert!(data.contains("X-Api-Data: order-9"), "{data}");
    assert!(
        data.contains("d=example.com"),
        "signed for the From domain: {data}"
    );

    // Asia/Tokyo, the default zone, keeps +09:00 all year.
    let date = hikyaku_api_types::hosted::hosted_date(Timestamp::now(), 540);
    let list = |path: &str, more: Value| {
        let (status, body) = post(&node, path, &creds(more));
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    wait_until(
        "the delivery and the bounce are listed",
        Duration::from_secs(30),
        || {
            let delivered = list(
                "/transaction/v2/deliveries/list.json",
                json!({"date": date, "status": "succeeded"}),
            );
            let bounced = list("/transaction/v2/bounces/list.json", json!({"date": date}));
            delivered["deliveries"].as_array().unwrap().len() == 1
                && bounced["bounces"].as_array().unwrap().len() == 1
        },
    );
    let delivered = list(
        "/transaction/v2/deliveries/list.json",
        json!({"date": date, "status": "succeeded"}),
    );
    let d = &delivered["deliveries"][0];
    assert_eq!(d["to"], "taro@example.jp");
    assert_eq!(d["messageId"], id.as_str());
    assert_eq!(d["apiData"], "order-9");
    assert!(d["created"].as_str().unwrap().starts_with(&date), "{d}");
    let bounced = list("/transaction/v2/bounces/list.json", json!({"date": date}));
    let b = &bounced["bounces"][0];
    assert_eq!(b["to"], "reject@example.jp");
    assert_eq!(b["status"], "2", "unknown user: {b}");
    assert!(
        b["reason"].as_str().unwrap().starts_with("550 5.1.1"),
        "{b}"
    );
    let queued = list(
        "/transaction/v2/deliveries/list.json",
        json!({"date": date, "status": "queued", "api_data": "order"}),
    );
    assert_eq!(
        queued["deliveries"].as_array().unwrap().len(),
        2,
        "{queued}"
    );

    // The hard bounce listed the address: a block with the same status.
    let blocks = list(
        "/transaction/v2/blocks/list.json",
        json!({"email": "reject"}),
    );
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 1, "{blocks}");
    assert_eq!(blocks["blocks"][0]["email"], "reject@example.jp");
    assert_eq!(blocks["blocks"][0]["status"], "2");

    // A second send to it is not sent, and is a bounce with status 10.
    let (status, _) = post(
        &node,
        "/api/v2/emails/send.json",
        &creds(json!({
            "from": {"name": "", "address": "info@example.com"},
            "to": "reject@example.jp",
            "subject": "again",
            "text": "again",
        })),
    );
    assert_eq!(status, 200);
    let bounced = list("/transaction/v2/bounces/list.json", json!({"status": "10"}));
    assert_eq!(bounced["bounces"].as_array().unwrap().len(), 1, "{bounced}");
    assert_eq!(sink.received().len(), 1);
}
