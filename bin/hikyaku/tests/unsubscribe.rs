//! One-click unsubscribe (RFC 8058) through the real `hikyaku serve`: a message to several
//! recipients reaches the testkit sink as one copy per recipient, each with its own
//! `List-Unsubscribe` link; a POST like Gmail's suppresses the address (the next message to it
//! is suppressed), a GET does not; a mail to the mailto address through the error server does
//! too; hostile tokens get a plain 404 page. And kill -9: every copy of an acknowledged
//! message is delivered after the restart, and of a message in flight all copies or none.

mod delivery_support;

use delivery_support::{BIN, kind, route_everything, search, start, wait_until};
use hikyaku_testkit::{HikyakuProcess, ProcessBuilder, ReceivedMessage, Sink, SmtpClient};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PUBLIC_URL: &str = "https://mail.hikyaku.test";
const BOUNCE_DOMAIN: &str = "bounce.hikyaku.test";

fn json(node: &HikyakuProcess, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = node.cli_ok(&args).unwrap();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{out}: {e}"))
}

/// The unfolded value of the first header field `name` of a received message.
fn field(message: &ReceivedMessage, name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&message.data);
    let header = text.split("\r\n\r\n").next().unwrap();
    let unfolded = header.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// The link's token (what follows `/unsubscribe/`) and the mailto address of a message.
fn link_and_mailto(message: &ReceivedMessage) -> (String, String) {
    let value = field(message, "List-Unsubscribe").expect("List-Unsubscribe");
    let mut token = None;
    let mut mailto = None;
    for part in value.split(',') {
        let uri = part.trim().trim_start_matches('<').trim_end_matches('>');
        if let Some(t) = uri.strip_prefix(&format!("{PUBLIC_URL}/unsubscribe/")) {
            token = Some(t.to_string());
        } else if let Some(m) = uri.strip_prefix("mailto:") {
            mailto = Some(m.to_string());
        }
    }
    (
        token.unwrap_or_else(|| panic!("no link in {value}")),
        mailto.unwrap_or_else(|| panic!("no mailto in {value}")),
    )
}

/// One HTTP/1.1 request as raw bytes, answered with (status, body).
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The POST Gmail makes when its reader presses "Unsubscribe" (RFC 8058 section 3.1).
fn post_like_gmail(addr: SocketAddr, token: &str) -> (u16, String) {
    let body = "List-Unsubscribe=One-Click";
    http(
        addr,
        &format!(
            "POST /unsubscribe/{token} HTTP/1.1\r\nHost: mail.hikyaku.test\r\n\
             User-Agent: Mozilla/5.0 (compatible; Google-List-Unsubscribe)\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn get(addr: SocketAddr, token: &str) -> (u16, String) {
    http(
        addr,
        &format!(
            "GET /unsubscribe/{token} HTTP/1.1\r\nHost: mail.hikyaku.test\r\nConnection: close\r\n\r\n"
        ),
    )
}

fn listed(node: &HikyakuProcess, customer: &str, address: &str) -> Option<Value> {
    let list = json(node, &["suppression", "list", customer]);
    list.get("suppressions")
        .and_then(Value::as_array)
        .or_else(|| list.as_array())
        .unwrap()
        .iter()
        .find(|e| e["address"].as_str() == Some(address))
        .cloned()
}

/// Sends `body` to `to` over one SMTP session at `addr`; the reply to DATA.
async fn send(addr: SocketAddr, from: &str, to: &[&str], body: &str) -> hikyaku_testkit::Reply {
    let (mut c, _) = SmtpClient::connect(addr).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let reply = c.send_mail(from, to, body).await.unwrap();
    let _ = c.command("QUIT").await;
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_through_the_real_node() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("http", "public_url", &format!("\"{PUBLIC_URL}\""));
    });
    let setting = json(&node, &["contract", "unsubscribe", "enable", &customer]);
    assert_eq!(setting["enabled"], true);
    assert_eq!(setting["link_prefix"], format!("{PUBLIC_URL}/unsubscribe/"));
    assert_eq!(setting["mailto_domain"], BOUNCE_DOMAIN);

    let recipients = ["alice@a.example", "bob@b.example", "carol@c.example"];
    let message = "From: news@shop.example\r\nTo: undisclosed-recipients:;\r\nSubject: News\r\n\r\nHello.\r\n";
    let reply = send(node.smtp_addr(), "news@shop.example", &recipients, message).await;
    assert_eq!(reply.code, 250, "{reply:?}");
    let received = sink.wait_for(3, Duration::from_secs(30)).await.unwrap();
    let mut links: BTreeMap<String, (String, String)> = BTreeMap::new();
    for m in &received {
        assert_eq!(m.recipients.len(), 1, "one copy per recipient: {m:?}");
        assert_eq!(
            field(m, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        links.insert(m.recipients[0].clone(), link_and_mailto(m));
    }
    assert_eq!(
        links.keys().map(String::as_str).collect::<Vec<_>>(),
        recipients
    );
    let tokens: BTreeSet<&String> = links.values().map(|(t, _)| t).collect();
    assert_eq!(tokens.len(), 3, "a link unique per recipient");
    let http_addr = node.http_addr();

    // A GET (a link scanner, or the reader opening the page) changes nothing.
    let (alice_token, _) = &links["alice@a.example"];
    let (status, page) = get(http_addr, alice_token);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\""), "{page}");
    assert!(page.contains("a***@a.example"), "{page}");
    assert!(
        !page.contains("alice"),
        "the page does not spell out the address: {page}"
    );
    assert_eq!(listed(&node, &customer, "alice@a.example"), None);

    // The POST a mailbox provider sends: the address is suppressed, once however often.
    let (status, page) = post_like_gmail(http_addr, alice_token);
    assert_eq!(status, 200, "{page}");
    let entry = listed(&node, &customer, "alice@a.example").expect("alice is listed");
    assert_eq!(entry["source"], "unsubscribe", "{entry}");
    assert_eq!(entry["reason"], "unsubscribed", "{entry}");
    let (status, _) = post_like_gmail(http_addr, alice_token);
    assert_eq!(status, 200);
    let unsubscribed = search(&node, &["--outcome", "unsubscribed"]);
    assert_eq!(unsubscribed.len(), 1, "{unsubscribed:#?}");
    assert_eq!(unsubscribed[0]["recipient"], "alice@a.example");
    assert_eq!(unsubscribed[0]["details"]["method"], "one-click");
    assert_eq!(listed(&node, &customer, "bob@b.example"), None);

    // The next message to her is suppressed; to the others it goes.
    let reply = send(
        node.smtp_addr(),
        "news@shop.example",
        &["alice@a.example", "dave@d.example"],
        message,
    )
    .await;
    assert_eq!(reply.code, 250, "{reply:?}");
    let received = sink.wait_for(4, Duration::from_secs(30)).await.unwrap();
    wait_until(
        "alice's copy is suppressed",
        Duration::from_secs(30),
        || {
            search(&node, &["--to", "alice@a.example"])
                .iter()
                .any(|e| kind(e) == "suppressed")
        },
    );
    assert!(
        received[3..]
            .iter()
            .all(|m| m.recipients == ["dave@d.example"]),
        "{:?}",
        &received[3..]
    );

    // Bob writes to the mailto address, through the error server over SMTP.
    let (_, bob_mailto) = &links["bob@b.example"];
    assert!(bob_mailto.ends_with(&format!("@{BOUNCE_DOMAIN}")));
    let reply = send(
        node.errors_addr(),
        "bob@b.example",
        &[bob_mailto],
        "From: bob@b.example\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n",
    )
    .await;
    assert_eq!(reply.code, 250, "{reply:?}");
    let entry = listed(&node, &customer, "bob@b.example").expect("bob is listed");
    assert_eq!(entry["source"], "unsubscribe");
    let bob = search(
        &node,
        &["--to", "bob@b.example", "--outcome", "unsubscribed"],
    );
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0]["details"]["method"], "mailto");
    // A forged mailto address is refused like any unknown recipient.
    let forged = bob_mailto.replacen("u-", "u-0", 1);
    let (mut c, _) = SmtpClient::connect(node.errors_addr()).await.unwrap();
    c.command("EHLO mx.example").await.unwrap();
    c.command("MAIL FROM:<x@example.net>").await.unwrap();
    let refused = c.command(&format!("RCPT TO:<{forged}>")).await.unwrap();
    assert_eq!(refused.code, 550, "{refused:?}");

    // Hostile tokens: a plain 404 page, never an error of ours, and nothing changes.
    let carol = &links["carol@c.example"].0;
    let mut altered = carol.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let other_key =
        hikyaku_store::UnsubscribeKey::new([7; 32]).seal(&hikyaku_store::UnsubscribeToken {
            customer_id: customer.parse().unwrap(),
            message_id: hikyaku_model::MessageId::generate(),
            address: "carol@c.example".into(),
        });
    for bad in [
        carol[..carol.len() / 2].to_string(),
        String::from_utf8(altered).unwrap(),
        other_key,
        "garbage".to_string(),
        "%00%ff".to_string(),
        "A".repeat(5000),
    ] {
        for (method, answer) in [
            ("GET", get(http_addr, &bad)),
            ("POST", post_like_gmail(http_addr, &bad)),
        ] {
            let (status, page) = answer;
            assert!(
                status == 404 || status == 400,
                "{method} {bad:.40}: {status} {page}"
            );
            assert!(
                page.is_empty() || page.contains("not valid") || status == 400,
                "{page}"
            );
        }
    }
    assert_eq!(listed(&node, &customer, "carol@c.example"), None);
    assert_eq!(search(&node, &["--outcome", "unsubscribed"]).len(), 2);
    assert!(!node.log().contains("panicked"), "{}", node.log());
}

/// One message of the kill test: a key its recipients carry, and its reply's ID if it got one.
#[derive(Debug, Clone, Default)]
struct Sent {
    acked: BTreeSet<String>,
    attempted: BTreeSet<String>,
}

const COPIES: usize = 3;

fn recipients_of(key: &str) -> Vec<String> {
    (0..COPIES)
        .map(|k| format!("{key}r{k}@example.jp"))
        .collect()
}

/// The message key of a recipient address (`c3n7r1@example.jp` → `c3n7`).
fn key_of(address: &str) -> String {
    let local = address.split('@').next().unwrap();
    local[..local.rfind('r').unwrap()].to_string()
}

#[test]
fn kill9_loses_no_copy_and_splits_no_message() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = runtime.block_on(Sink::start()).unwrap();
    let mut builder = ProcessBuilder::new(BIN);
    builder.set("relay", "hostname", "\"relay.hikyaku.test\"");
    builder.set("relay", "max_connections", "64");
    builder.set("delivery", "enabled", "true");
    builder.set("delivery", "retry_intervals", "[\"1s\"]");
    builder.set("bounce", "domain", &format!("\"{BOUNCE_DOMAIN}\""));
    builder.set("http", "public_url", &format!("\"{PUBLIC_URL}\""));
    route_everything(&mut builder, &sink.addr().to_string());
    let prepared = builder.prepare().unwrap();
    let out = prepared
        .cli_ok(&["contract", "create", "--name", "Crash", "--json"])
        .unwrap();
    let customer = serde_json::from_str::<Value>(out.trim()).unwrap()["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    prepared
        .cli_ok(&["allowed-ip", "add", &customer, "127.0.0.1"])
        .unwrap();
    prepared
        .cli_ok(&["contract", "unsubscribe", "enable", &customer])
        .unwrap();

    let sent: Arc<Mutex<Sent>> = Arc::default();
    let mut prepared = prepared;
    for round in 0..2 {
        let node = prepared.start().unwrap();
        let addr = node.smtp_addr();
        let clients: Vec<_> = (0..8)
            .map(|client| {
                let sent = Arc::clone(&sent);
                runtime.spawn(async move {
                    let Ok((mut c, _)) = SmtpClient::connect(addr).await else {
                        return;
                    };
                    if c.command("EHLO crash.example").await.is_err() {
                        return;
                    }
                    for n in 0.. {
                        let key = format!("x{round}c{client}n{n}");
                        let to = recipients_of(&key);
                        let to: Vec<&str> = to.iter().map(String::as_str).collect();
                        sent.lock().unwrap().attempted.insert(key.clone());
                        let body = format!("Subject: {key}\r\n\r\nbody\r\n");
                        match c.send_mail("app@example.com", &to, &body).await {
                            Ok(reply) if reply.code == 250 => {
                                sent.lock().unwrap().acked.insert(key);
                            }
                            Ok(reply) => panic!("unexpected refusal {reply:?}"),
                            Err(_) => return, // killed
                        }
                    }
                })
            })
            .collect();
        let target = 40 * (round + 1);
        let deadline = Instant::now() + Duration::from_secs(120);
        while sent.lock().unwrap().acked.len() < target {
            assert!(Instant::now() < deadline, "too slow\n{}", node.log());
            std::thread::sleep(Duration::from_millis(2));
        }
        // Right after a 250, with the other clients in the middle of their messages.
        prepared = node.kill9();
        for client in clients {
            runtime.block_on(client).unwrap();
        }
    }

    // The last life delivers everything that is queued.
    let node = prepared.start().unwrap();
    let sent = sent.lock().unwrap().clone();
    let queued = json(&node, &["queue", "list", "--all", "--limit", "1000000"]);
    let mut copies: HashMap<String, Vec<String>> = HashMap::new();
    for message in queued["messages"].as_array().unwrap() {
        let recipients = message["recipients"].as_array().unwrap();
        assert_eq!(recipients.len(), 1, "one recipient per copy: {message}");
        let address = recipients[0]["address"].as_str().unwrap().to_string();
        copies.entry(key_of(&address)).or_default().push(address);
    }
    for key in &sent.attempted {
        let mut found = copies.remove(key).unwrap_or_default();
        found.sort();
        let acked = sent.acked.contains(key);
        if acked {
            assert_eq!(
                found,
                recipients_of(key),
                "{key}: acknowledged, every copy once"
            );
        } else {
            assert!(
                found.is_empty() || found == recipients_of(key),
                "{key}: in flight at the kill, all copies or none: {found:?}"
            );
        }
    }
    assert!(copies.is_empty(), "copies of nothing sent: {copies:?}");

    let acked_recipients: BTreeSet<String> =
        sent.acked.iter().flat_map(|k| recipients_of(k)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: BTreeSet<String> = sink
            .received()
            .iter()
            .flat_map(|m| m.recipients.clone())
            .collect();
        let missing: Vec<_> = acked_recipients.difference(&delivered).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged copies not delivered: {missing:?}\n{}",
            missing.len(),
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And what reached the sink carries the links, one per recipient.
    for m in sink.received().iter().take(20) {
        let (token, _) = link_and_mailto(m);
        assert!(!token.is_empty());
    }
}
