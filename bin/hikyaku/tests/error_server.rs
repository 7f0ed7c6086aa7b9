//! The error server through the real `hikyaku serve`: bounces that come back to VERP return
//! paths (Postfix's own DSN, as a real peer), feedback reports, auto-replies, soft bounces
//! adding up, forged and unknown addresses refused, and inbound mail handed to the poster.

mod delivery_support;

use delivery_support::{
    event, kind, log, route_everything, send, start, wait_for_events, wait_for_log, wait_until,
};
use hikyaku_testkit::reports::delivery_status_notification;
use hikyaku_testkit::{HikyakuProcess, PostfixMx, Sink, SmtpClient};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BOUNCE_DOMAIN: &str = "bounce.hikyaku.test";

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

fn suppression_list(node: &HikyakuProcess, customer: &str) -> Vec<Value> {
    let out = node
        .cli_ok(&["suppression", "list", customer, "--json"])
        .unwrap();
    let json: Value = serde_json::from_str(out.trim()).unwrap();
    json.get("suppressions")
        .and_then(Value::as_array)
        .or_else(|| json.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("no suppression list in {out}"))
}

fn listed(node: &HikyakuProcess, customer: &str, address: &str) -> Option<Value> {
    suppression_list(node, customer)
        .into_iter()
        .find(|e| e["address"].as_str() == Some(address))
}

/// Sends a message to `to` through the node's relay into `sink`; returns the platform message
/// ID and the VERP return path it carried on the wire.
async fn sent_through(node: &HikyakuProcess, sink: &Sink, to: &[&str]) -> (String, String) {
    let before = sink.received().len();
    let id = send(node, to).await;
    let received = sink
        .wait_for(before + 1, Duration::from_secs(30))
        .await
        .unwrap();
    let message = received
        .iter()
        .find(|m| String::from_utf8_lossy(&m.data).contains(&id))
        .expect("the message reached the sink");
    event(node, &id, "delivered");
    (id, message.mail_from.clone())
}

/// Hands `body` to the error server from the null sender; returns the final reply's code.
async fn report(node: &HikyakuProcess, to: &str, body: &str) -> u16 {
    let (mut c, greeting) = SmtpClient::connect(node.errors_addr()).await.unwrap();
    assert_eq!(greeting.code, 220);
    c.command("EHLO mx.remote.example").await.unwrap();
    let reply = c.send_mail("", &[to], body).await.unwrap();
    c.command("QUIT").await.unwrap();
    reply.code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_bounces_an_unknown_recipient_and_it_is_suppressed() {
    let errors = free_port();
    let Some(mx) = PostfixMx::start_bouncing(BOUNCE_DOMAIN, errors) else {
        return;
    };
    let (node, customer) = start(|b| {
        route_everything(b, &mx.addr().to_string());
        b.set("bounce", "listen", &format!("\"{errors}\""));
    });
    assert_eq!(node.errors_addr(), errors);
    let unknown = format!("nobody@{}", PostfixMx::DOMAIN);
    let id = send(&node, &[&unknown]).await;

    // Postfix takes the message (it cannot tell yet that nobody lives there), then its
    // virtual delivery agent fails it and Postfix mails its DSN to the VERP return path.
    let delivered = event(&node, &id, "delivered");
    assert_eq!(delivered["recipient"], unknown.as_str());
    let bounced = event(&node, &id, "bounced");
    assert_eq!(bounced["recipient"], unknown.as_str());
    assert_eq!(bounced["customer_id"], customer.as_str());
    assert_eq!(bounced["sender"], "app@example.com");
    assert_eq!(bounced["details"]["reason"], "userunknown", "{bounced}");
    assert_eq!(bounced["details"]["status"], "5.1.1", "{bounced}");
    assert_eq!(bounced["details"]["hard"], true);
    assert_eq!(bounced["details"]["source"], "report");
    let text = bounced["details"]["text"].as_str().unwrap_or_default();
    // Postfix's virtual(8) words, passed on as the diagnostic.
    assert!(text.contains("unknown user"), "{bounced}");
    assert!(bounced["details"]["delay_ms"].as_i64().unwrap() >= 0);

    let entry = listed(&node, &customer, &unknown).expect("the address is suppressed");
    assert_eq!(entry["source"], "hard-bounce");
    assert_eq!(entry["reason"], "userunknown");
    assert_eq!(entry["message_id"], id.as_str());

    // The next message: the suppressed recipient is never sent, the other one is.
    let next = send(&node, &[&unknown, PostfixMx::KNOWN_RECIPIENT]).await;
    let events = wait_for_log(&node, &next, "both outcomes", |events| {
        events.iter().any(|e| kind(e) == "suppressed")
            && events.iter().any(|e| kind(e) == "delivered")
    });
    let suppressed: Vec<&Value> = events.iter().filter(|e| kind(e) == "suppressed").collect();
    assert_eq!(suppressed.len(), 1, "{events:#?}");
    assert_eq!(suppressed[0]["recipient"], unknown.as_str());
    let delivered: Vec<&Value> = events.iter().filter(|e| kind(e) == "delivered").collect();
    assert_eq!(delivered.len(), 1, "{events:#?}");
    assert_eq!(delivered[0]["recipient"], PostfixMx::KNOWN_RECIPIENT);
    // Postfix's side of the second message (the queue ID it answered): the known recipient
    // only, never the suppressed one.
    let text = delivered[0]["details"]["text"].as_str().unwrap();
    let queue_id = text.trim_start_matches("Ok: queued as ").trim().to_string();
    assert!(!queue_id.is_empty() && queue_id != text, "{text}");
    wait_until(
        "Postfix delivering the known recipient",
        Duration::from_secs(30),
        || {
            mx.maillog().lines().any(|l| {
                l.contains(&format!("{queue_id}: to=<{}>", PostfixMx::KNOWN_RECIPIENT))
                    && l.contains("status=sent")
            })
        },
    );
    let log = mx.maillog();
    assert!(
        !log.lines()
            .any(|l| l.contains(&queue_id) && l.contains(&format!("to=<{unknown}>"))),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_forged_return_paths_are_refused() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(|b| route_everything(b, &sink.addr().to_string()));
    let (id, verp) = sent_through(&node, &sink, &["user@example.jp"]).await;
    assert!(verp.ends_with(&format!("@{BOUNCE_DOMAIN}")), "{verp}");
    assert!(verp.contains(&id), "{verp}");

    let (mut c, _) = SmtpClient::connect(node.errors_addr()).await.unwrap();
    let ehlo = c.command("EHLO mx.remote.example").await.unwrap();
    assert_eq!(ehlo.code, 250);
    assert!(
        !ehlo.text().contains("AUTH"),
        "no login on the error server: {ehlo:?}"
    );
    assert!(ehlo.text().contains("STARTTLS"), "{ehlo:?}");
    assert_eq!(c.command("MAIL FROM:<>").await.unwrap().code, 250);
    let (local, _) = verp.split_once('@').unwrap();
    let (body, tag) = local.rsplit_once('-').unwrap();
    let flipped = format!(
        "{body}-{}@{BOUNCE_DOMAIN}",
        tag.chars().rev().collect::<String>()
    );
    for stranger in [
        format!("postmaster@{BOUNCE_DOMAIN}"),
        format!("b-{id}-1-aaaaaaaaaaaa@{BOUNCE_DOMAIN}"),
        flipped,
        format!("{local}@another.example"),
        "someone@example.com".to_string(),
    ] {
        let reply = c.command(&format!("RCPT TO:<{stranger}>")).await.unwrap();
        assert_eq!(
            (reply.code, reply.enhanced()),
            (550, Some("5.1.1")),
            "{stranger}: {reply:?}"
        );
    }
    let data = c.command("DATA").await.unwrap();
    assert_eq!(data.code, 503, "no valid recipient: {data:?}");
    // The genuine one, in capitals as some MTAs fold it, is taken; a message to it that is no
    // bounce at all (a person answering the return path) records nothing.
    let reply = c
        .command(&format!("RCPT TO:<{}>", verp.to_uppercase()))
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    c.command("RSET").await.unwrap();
    let reply = c
        .send_mail(
            "person@example.org",
            &[&verp],
            "From: person@example.org\r\nSubject: thanks\r\n\r\nThanks for the mail!\r\n",
        )
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    c.command("QUIT").await.unwrap();
    let kinds: Vec<String> = log(&node, &id)
        .iter()
        .map(|e| kind(e).to_string())
        .collect();
    assert_eq!(kinds, ["accepted", "delivered"]);
    assert!(suppression_list(&node, &customer).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_become_events_and_suppress_as_the_policy_says() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("suppression", "soft_bounce_limit", "2");
        b.set("suppression", "soft_bounce_window", "\"1h\"");
        b.set(
            "bounce",
            "feedback_addresses",
            &format!("[\"fbl@{BOUNCE_DOMAIN}\"]"),
        );
    });

    // A mailbox-full bounce is soft: one is counted, the second within the window suppresses.
    let full = "full@example.jp";
    for round in 1..=2 {
        let (id, verp) = sent_through(&node, &sink, &[full]).await;
        let code = report(
            &node,
            &verp,
            &delivery_status_notification(full, "5.2.2", "552 5.2.2 Mailbox full", Some(&id)),
        )
        .await;
        assert_eq!(code, 250);
        let bounced = event(&node, &id, "bounced");
        assert_eq!(bounced["details"]["reason"], "mailboxfull", "{bounced}");
        assert_eq!(bounced["details"]["hard"], false);
        assert_eq!(bounced["details"]["code"], 552);
        assert_eq!(bounced["details"]["remote"]["host"], "mx.remote.example");
        let entry = listed(&node, &customer, full);
        match round {
            1 => assert!(entry.is_none(), "one soft bounce is not enough: {entry:?}"),
            _ => assert_eq!(entry.expect("suppressed")["source"], "soft-bounces"),
        }
    }

    // An out-of-office reply to the return path is not a bounce.
    let away = "away@example.jp";
    let (id, verp) = sent_through(&node, &sink, &[away]).await;
    let code = report(
        &node,
        &verp,
        &format!(
            "From: {away}\r\nTo: app@example.com\r\nSubject: Out of office\r\n\
             Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n"
        ),
    )
    .await;
    assert_eq!(code, 250);

    // A feedback report (ARF) to the feedback-loop address names the message through the
    // original it encloses, and the recipient complained: a complaint, and suppression.
    let angry = "angry@example.jp";
    let (complained, verp) = sent_through(&node, &sink, &[angry]).await;
    let arf = format!(
        "From: fbl@isp.example\r\n\
         To: fbl@{BOUNCE_DOMAIN}\r\n\
         Subject: FW: test\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"f1\"\r\n\
         \r\n\
         --f1\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         This is an email abuse report.\r\n\
         --f1\r\n\
         Content-Type: message/feedback-report\r\n\
         \r\n\
         Feedback-Type: abuse\r\n\
         User-Agent: ISP-FBL/1.0\r\n\
         Version: 1\r\n\
         Original-Rcpt-To: {angry}\r\n\
         \r\n\
         --f1\r\n\
         Content-Type: message/rfc822\r\n\
         \r\n\
         Return-Path: <{verp}>\r\n\
         From: app@example.com\r\n\
         To: {angry}\r\n\
         Subject: test\r\n\
         \r\n\
         Hello.\r\n\
         --f1--\r\n"
    );
    assert_eq!(
        report(&node, &format!("fbl@{BOUNCE_DOMAIN}"), &arf).await,
        250
    );
    let complaint = event(&node, &complained, "complaint");
    assert_eq!(complaint["recipient"], angry);
    assert_eq!(complaint["details"]["feedback_type"], "abuse");
    assert_eq!(complaint["details"]["reason"], "feedback");
    assert_eq!(
        listed(&node, &customer, angry).expect("suppressed")["source"],
        "complaint"
    );

    // Nothing came of the auto-reply (checked last, when the reports after it are recorded).
    let kinds: Vec<String> = log(&node, &id)
        .iter()
        .map(|e| kind(e).to_string())
        .collect();
    assert_eq!(kinds, ["accepted", "delivered"]);
    assert!(listed(&node, &customer, away).is_none());

    // A hard bounce for a message sent to several recipients of one domain (return path `m`):
    // the report's own recipient says which one.
    let (id, verp) = sent_through(&node, &sink, &["one@example.net", "two@example.net"]).await;
    assert!(verp.contains("-m-"), "{verp}");
    let code = report(
        &node,
        &verp,
        &delivery_status_notification(
            "TWO@example.net",
            "5.1.1",
            "550 5.1.1 <two@example.net>: Recipient address rejected: User unknown",
            Some(&id),
        ),
    )
    .await;
    assert_eq!(code, 250);
    let events = wait_for_events(&node, &id, "bounced", 1);
    let bounced: Vec<&Value> = events.iter().filter(|e| kind(e) == "bounced").collect();
    assert_eq!(bounced.len(), 1);
    assert_eq!(bounced[0]["recipient"], "two@example.net");
    assert_eq!(bounced[0]["details"]["reason"], "userunknown");
    assert!(listed(&node, &customer, "two@example.net").is_some());
    assert!(listed(&node, &customer, "one@example.net").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_mail_from_swaks_is_posted_to_its_route() {
    let Some(swaks) = hikyaku_testkit::tool("swaks") else {
        return;
    };
    let bodies = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let app = {
        let bodies = bodies.clone();
        axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let bodies = bodies.clone();
            async move {
                bodies.lock().unwrap().push(body.to_vec());
                axum::http::StatusCode::OK
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/inbound", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (node, customer) = start(|_| {});
    node.cli_ok(&[
        "inbound",
        "route",
        "add",
        &customer,
        "support@example.com",
        &endpoint,
    ])
    .unwrap();
    let errors = node.errors_addr();
    let out = std::process::Command::new(&swaks)
        .args(["--server", &errors.ip().to_string()])
        .args(["--port", &errors.port().to_string()])
        .args(["--from", "customer@example.org"])
        .args(["--to", "support@example.com"])
        .args(["--header", "Subject: Where is my order?"])
        .args(["--body", "It has not arrived."])
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{transcript}");
    assert!(
        transcript.contains(" 250 2.0.0 Message accepted"),
        "{transcript}"
    );
    // And a stranger's address is refused.
    let out = std::process::Command::new(&swaks)
        .args(["--server", &errors.ip().to_string()])
        .args(["--port", &errors.port().to_string()])
        .args(["--from", "customer@example.org"])
        .args(["--to", "sales@example.com"])
        .output()
        .unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(transcript.contains("<** 550 5.1.1"), "{transcript}");

    wait_until("the POST", Duration::from_secs(30), || {
        !bodies.lock().unwrap().is_empty()
    });
    let document: Value = serde_json::from_slice(&bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(document["subject"], "Where is my order?");
    assert_eq!(document["envelope"]["from"], "customer@example.org");
    assert_eq!(document["envelope"]["to"], "support@example.com");
    assert!(
        document["text"]
            .as_str()
            .unwrap()
            .contains("It has not arrived."),
        "{document}"
    );
    let received = document["headers"][0].clone();
    assert_eq!(received["name"], "Received", "{document}");
    assert!(
        received["value"].as_str().unwrap().contains("(Hikyaku)"),
        "{received}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_bounce() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(|b| route_everything(b, &sink.addr().to_string()));
    // One message per recipient, so that each bounce is about its own message.
    let recipients: Vec<String> = (0..60).map(|i| format!("gone{i}@example.jp")).collect();
    let ids = delivery_support::send_each(&node, &recipients).await;
    let received = sink
        .wait_for(ids.len(), Duration::from_secs(60))
        .await
        .unwrap();
    let mut reports: Vec<(String, String, String)> = Vec::new();
    for (id, recipient) in ids.iter().zip(&recipients) {
        let message = received
            .iter()
            .find(|m| String::from_utf8_lossy(&m.data).contains(id.as_str()))
            .expect("each message reached the sink");
        reports.push((id.clone(), recipient.clone(), message.mail_from.clone()));
    }

    // Four clients hand the bounces over; the node is killed while they do.
    let errors = node.errors_addr();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let chunks: Vec<Vec<(String, String, String)>> =
        reports.chunks(15).map(<[_]>::to_vec).collect();
    let mut clients = Vec::new();
    for chunk in chunks {
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            for (id, recipient, verp) in chunk {
                let Ok((mut c, _)) = SmtpClient::connect(errors).await else {
                    return;
                };
                if c.command("EHLO mx.remote.example").await.is_err() {
                    return;
                }
                let body = delivery_status_notification(
                    &recipient,
                    "5.1.1",
                    "550 5.1.1 User unknown",
                    Some(&id),
                );
                match c.send_mail("", &[&verp], &body).await {
                    Ok(reply) if reply.code == 250 => acknowledged.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "{}", node.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let prepared = node.kill9();
    for client in clients {
        let _ = client.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 20 && acknowledged.len() < reports.len());

    let node = prepared.start().unwrap();
    for id in &acknowledged {
        let kinds: Vec<String> = log(&node, id).iter().map(|e| kind(e).to_string()).collect();
        assert_eq!(kinds, ["accepted", "delivered", "bounced"], "{id}");
    }
    let listed = suppression_list(&node, &customer);
    for (id, recipient, _) in &reports {
        if acknowledged.contains(id) {
            assert!(
                listed.iter().any(|e| e["address"] == recipient.as_str()),
                "{recipient} acknowledged but not suppressed"
            );
        }
    }
}
