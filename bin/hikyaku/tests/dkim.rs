//! DKIM end to end on a real `hikyaku serve` delivering to a sink MX: sender domains added with
//! the CLI (RSA-2048, RSA-1024, Ed25519, dual), mail sent over real SMTP (8-bit and UTF-8
//! bodies, long folded fields, trailing blank lines, LF-only input) and over the HTTP API, and
//! every signature the sink receives verified by two verifiers we did not write — dkimpy and
//! OpenDKIM — against the TXT records the CLI printed. A message delivered after a retry
//! carries the bytes signed at acceptance; S/MIME-signed mail still passes DKIM (its per-recipient
//! copies sharing one S/MIME signature); a contract
//! that refuses unregistered From domains gets `550 5.7.1` over SMTP and `422` over HTTP, and
//! one that does not is signed by the platform's service domain. With one-click unsubscribe on,
//! every per-recipient copy is signed over its own `List-Unsubscribe` fields.

mod delivery_support;

use delivery_support::route_everything;
use hikyaku_testkit::{
    HikyakuProcess, ReceivedMessage, Sink, SmtpClient, TestKey, TestPki, dkimpy_verify, http_call,
    opendkim_verify,
};
use serde_json::{Value, json};
use std::time::Duration;

/// `domain add --json`; returns the (record name, TXT value) pairs it printed.
fn add_domain(
    node: &HikyakuProcess,
    customer: &str,
    domain: &str,
    algorithm: &str,
) -> Vec<(String, String)> {
    let out = node
        .cli_ok(&[
            "domain",
            "add",
            customer,
            domain,
            "--algorithm",
            algorithm,
            "--json",
        ])
        .unwrap();
    records_of(&serde_json::from_str(out.trim()).unwrap())
}

fn records_of(domain: &Value) -> Vec<(String, String)> {
    domain["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] != "retired")
        .map(|k| {
            (
                k["record_name"].as_str().unwrap().to_string(),
                k["record"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Both verifiers pass every signature of `data`, `signatures` of them, each with `d=domain`;
/// returns dkimpy's lines (each names `a=`).
fn assert_verifies(
    data: &[u8],
    records: &[(String, String)],
    domain: &str,
    signatures: usize,
) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let Some(dkimpy) = dkimpy_verify(data, records) else {
        return Vec::new();
    };
    assert_eq!(dkimpy.len(), signatures, "{dkimpy:?}\n{text}");
    for line in &dkimpy {
        assert!(line.starts_with("pass "), "dkimpy: {line}\n{text}");
        assert!(line.contains(&format!("d={domain} ")), "dkimpy: {line}");
    }
    if let Some(opendkim) = opendkim_verify(data, records) {
        let verdicts: Vec<&String> = opendkim
            .iter()
            .filter(|l| l.contains("verification"))
            .collect();
        assert!(!verdicts.is_empty(), "opendkim said nothing: {opendkim:?}");
        for line in verdicts {
            assert!(line.contains("succeeded"), "opendkim: {line}\n{text}");
            assert!(line.contains(&format!("d={domain}")), "opendkim: {line}");
        }
    }
    dkimpy
}

/// The messages the sink received for `to`.
fn for_recipient<'a>(received: &'a [ReceivedMessage], to: &str) -> &'a ReceivedMessage {
    received
        .iter()
        .find(|m| m.recipients == [to])
        .unwrap_or_else(|| panic!("nothing for {to}"))
}

/// `template` with every `{d}` replaced by `domain`, byte for byte (8-bit text stays as it is).
fn with_domain(template: &[u8], domain: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(at) = rest.windows(3).position(|w| w == b"{d}") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(domain.as_bytes());
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    out
}

async fn smtp(node: &HikyakuProcess) -> SmtpClient {
    let (mut c, _) = SmtpClient::connect(node.smtp_addr()).await.unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    c
}

/// A transaction sent byte for byte as given (the data already dot-stuffed and ended).
async fn send_raw(
    c: &mut SmtpClient,
    from: &str,
    to: &str,
    data: &[u8],
    params: &str,
) -> hikyaku_testkit::Reply {
    assert_eq!(
        c.command(&format!("MAIL FROM:<{from}>{params}"))
            .await
            .unwrap()
            .code,
        250
    );
    assert_eq!(
        c.command(&format!("RCPT TO:<{to}>")).await.unwrap().code,
        250
    );
    assert_eq!(c.command("DATA").await.unwrap().code, 354);
    c.send_raw(data).await.unwrap();
    c.read_reply().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_algorithm_and_awkward_message_passes_two_verifiers() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));
    let algorithms = ["rsa-2048", "rsa-1024", "ed25519", "dual"];
    let mut records = Vec::new();
    for algorithm in algorithms {
        records.extend(add_domain(
            &node,
            &customer,
            &format!("{algorithm}.example.com"),
            algorithm,
        ));
    }
    // A dual domain has two keys: an RSA one and an Ed25519 one.
    assert_eq!(records.len(), 5, "{records:?}");
    assert!(
        records
            .iter()
            .any(|(_, r)| r.starts_with("v=DKIM1; k=ed25519; p="))
    );

    let long_subject = format!(
        "Subject: {}\r\n {}\r\n\t{}",
        "a subject long enough to need folding,".repeat(2),
        "continued on a second line",
        "and a third, tab-indented"
    );
    // (name, bytes after DATA up to and including the end of data, MAIL FROM parameters)
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "plain",
            b"From: App <app@{d}>\r\nTo: user@example.jp\r\nSubject: plain\r\nDate: Sun, 6 Dec 2026 01:00:00 +0000\r\nMessage-ID: <1@{d}>\r\n\r\nHello.\r\n.\r\n".to_vec(),
            "",
        ),
        (
            "eight-bit",
            b"From: app@{d}\r\nTo: user@example.jp\r\nSubject: latin-1\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me  br\xfbl\xe9e \t\r\n.\r\n".to_vec(),
            " BODY=8BITMIME",
        ),
        (
            "utf-8",
            "From: =?UTF-8?B?5bqX?= <app@{d}>\r\nTo: user@example.jp\r\nSubject: =?UTF-8?B?44GU5rOo5paH?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nご注文ありがとうございます。\r\n絵文字 🎉  も\r\n.\r\n"
                .as_bytes()
                .to_vec(),
            " BODY=8BITMIME",
        ),
        (
            "folded",
            format!("From: app@{{d}}\r\nTo: a@example.jp,\r\n  b@example.jp,\r\n\tc@example.jp\r\n{long_subject}\r\nReferences: <a@x.jp>\r\n <b@x.jp>\r\n\r\nFolded.\r\n.\r\n").into_bytes(),
            "",
        ),
        (
            "trailing",
            b"From: app@{d}\r\nTo: user@example.jp\r\nSubject: trailing blank lines\r\n\r\nText.\r\n\r\n\r\n   \r\n\r\n.\r\n".to_vec(),
            "",
        ),
        (
            "lf-only",
            b"From: app@{d}\nTo: user@example.jp\nSubject: LF only\n\nline one\nline two\n\n\r\n.\r\n".to_vec(),
            "",
        ),
        (
            "no-body",
            b"From: app@{d}\r\nTo: user@example.jp\r\nSubject: empty\r\n\r\n.\r\n".to_vec(),
            "",
        ),
    ];
    let mut c = smtp(&node).await;
    let mut expected = Vec::new();
    for algorithm in algorithms {
        let domain = format!("{algorithm}.example.com");
        for (name, data, params) in &cases {
            let bytes = with_domain(data, &domain);
            let to = format!("{name}-{algorithm}@example.jp");
            let reply = send_raw(&mut c, &format!("app@{domain}"), &to, &bytes, params).await;
            assert_eq!(reply.code, 250, "{name} {algorithm}: {reply:?}");
            expected.push((to, domain.clone(), if algorithm == "dual" { 2 } else { 1 }));
        }
    }
    let received = sink
        .wait_for(expected.len(), Duration::from_secs(60))
        .await
        .unwrap();
    for (to, domain, signatures) in &expected {
        let message = for_recipient(&received, to);
        let lines = assert_verifies(&message.data, &records, domain, *signatures);
        if *signatures == 2 && !lines.is_empty() {
            assert!(
                lines.iter().any(|l| l.ends_with("a=rsa-sha256")),
                "{lines:?}"
            );
            assert!(
                lines.iter().any(|l| l.ends_with("a=ed25519-sha256")),
                "{lines:?}"
            );
        }
        let text = String::from_utf8_lossy(&message.data);
        assert!(text.starts_with("DKIM-Signature: v=1; a="), "{text}");
        // The 8-bit body arrives as it was sent, not re-encoded.
        if to.starts_with("eight-bit") {
            assert!(message.data.windows(4).any(|w| w == b"Caf\xe9"), "{text}");
        }
    }
    // A tampered copy fails: the verifiers are really checking.
    let (to, domain, _) = &expected[0];
    let mut tampered = for_recipient(&received, to).data.clone();
    let at = tampered.windows(6).position(|w| w == b"Hello.").unwrap();
    tampered[at] = b'J';
    if let Some(lines) = dkimpy_verify(&tampered, &records) {
        assert!(lines[0].starts_with("fail"), "{lines:?} for {domain}");
    }
    if let Some(lines) = opendkim_verify(&tampered, &records) {
        assert!(lines.iter().any(|l| l.contains("failed")), "{lines:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sends_the_bytes_signed_at_acceptance() {
    let sink = Sink::builder().tempfail_times(1).start().await.unwrap();
    let (node, customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));
    let records = add_domain(&node, &customer, "example.com", "rsa-2048");
    let mut c = smtp(&node).await;
    let reply = send_raw(
        &mut c,
        "app@example.com",
        "tempfail-then-ok@example.jp",
        b"From: app@example.com\r\nTo: tempfail-then-ok@example.jp\r\nSubject: retried\r\n\r\nOnce more.\r\n.\r\n",
        "",
    )
    .await;
    assert_eq!(reply.code, 250, "{reply:?}");
    let id = reply.lines[0].rsplit(' ').next().unwrap().to_string();
    // Signed once, as it went into the spool.
    let spooled = std::fs::read(
        delivery_support::spool_file(node.data_dir(), &id).expect("the message is spooled"),
    )
    .unwrap();
    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    let delivered = &received[0].data;
    let events = delivery_support::wait_for_events(&node, &id, "delivered", 1);
    assert!(!events.is_empty());
    let log = delivery_support::log(&node, &id);
    assert!(
        log.iter().any(|e| delivery_support::kind(e) == "deferred"),
        "the first attempt was deferred: {log:?}"
    );
    assert!(
        spooled
            .windows(delivered.len())
            .any(|w| w == &delivered[..]),
        "the retry sent other bytes than those spooled at acceptance"
    );
    assert_verifies(delivered, &records, "example.com", 1);
}

/// S/MIME-signed mail still passes DKIM, and with one-click unsubscribe on, the per-recipient
/// copies share one S/MIME signature (their links are outside the signed part) while each gets
/// its own DKIM signature over its own link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smime_signed_mail_still_passes_dkim() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = TestPki::create(
        dir.path(),
        TestKey::Rsa2048,
        "Example App",
        None,
        &["app@example.com"],
        365,
    ) else {
        return;
    };
    let sink = Sink::start().await.unwrap();
    let (node, customer) = delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("http", "public_url", "\"https://mail.hikyaku.test\"");
    });
    node.cli_ok(&[
        "smime",
        "install",
        &customer,
        "--cert",
        pki.chain.to_str().unwrap(),
        "--key",
        pki.key.to_str().unwrap(),
    ])
    .unwrap();
    node.cli_ok(&["contract", "unsubscribe", "enable", &customer])
        .unwrap();
    let records = add_domain(&node, &customer, "example.com", "dual");
    delivery_support::send(&node, &["ann@example.net", "bob@example.net"]).await;
    let received = sink.wait_for(2, Duration::from_secs(30)).await.unwrap();
    for to in ["ann@example.net", "bob@example.net"] {
        let data = &for_recipient(&received, to).data;
        let text = String::from_utf8_lossy(data);
        assert!(text.contains("multipart/signed"), "{text}");
        assert!(text.contains("List-Unsubscribe-Post:"), "{text}");
        pki.verify(data)
            .unwrap_or_else(|e| panic!("openssl refused the message: {e}\n{text}"));
        assert_verifies(data, &records, "example.com", 2);
    }
    let metrics = http_call(node.http_addr(), "GET", "/metrics", None, &[], None).unwrap();
    assert!(
        metrics
            .body
            .lines()
            .any(|l| l.starts_with("hikyaku_smime_signed_total") && l.ends_with(" 1")),
        "two copies, one S/MIME signature: {}",
        metrics.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_from_domains_are_refused_or_signed_by_the_service_domain() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("", "service_domain", "\"mail.hikyaku.test\"");
    });
    let service = node
        .cli_ok(&["domain", "add-service", "--algorithm", "ed25519", "--json"])
        .unwrap();
    let service: Value = serde_json::from_str(service.trim()).unwrap();
    assert_eq!(service["domain"], "mail.hikyaku.test");
    assert_eq!(service["customer_id"], Value::Null);
    let records = records_of(&service);

    // The default policy: mail from a domain nobody registered is signed as the service.
    delivery_support::send(&node, &["first@example.net"]).await;
    let received = sink.wait_for(1, Duration::from_secs(30)).await.unwrap();
    assert_verifies(&received[0].data, &records, "mail.hikyaku.test", 1);

    // Refuse: SMTP hears 550 5.7.1 naming the domain; the API answers 422.
    let set = node
        .cli_ok(&[
            "contract",
            "set",
            &customer,
            "--unregistered-from",
            "refuse",
            "--json",
        ])
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(set.trim()).unwrap()["unregistered_from"],
        "refuse"
    );
    let shown = node
        .cli_ok(&["contract", "show", &customer, "--json"])
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(shown.trim()).unwrap()["unregistered_from"],
        "refuse"
    );
    // A fresh node reads the policy at once (no cached keys from before the change).
    let (_, stopped) = node.terminate(Duration::from_secs(20)).unwrap();
    let node = stopped.start().unwrap();
    let mut c = smtp(&node).await;
    let reply = c
        .send_mail(
            "app@example.com",
            &["second@example.net"],
            "From: App <app@example.com>\r\nSubject: refused\r\n\r\nNo.\r\n",
        )
        .await
        .unwrap();
    assert_eq!(reply.code, 550, "{reply:?}");
    assert_eq!(reply.enhanced(), Some("5.7.1"), "{reply:?}");
    assert!(reply.text().contains("example.com"), "{reply:?}");
    assert!(reply.text().contains("hikyaku domain add"), "{reply:?}");

    let key = node
        .cli_ok(&[
            "api-key", "create", &customer, "--name", "dkim", "--role", "sender", "--json",
        ])
        .unwrap();
    let key = serde_json::from_str::<Value>(key.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let request = json!({
        "from": "shop@example.org",
        "to": ["carol@example.net"],
        "subject": "refused",
        "text": "No."
    })
    .to_string();
    let answer = http_call(
        node.http_addr(),
        "POST",
        "/api/v1/messages",
        Some(&key),
        &[],
        Some(&request),
    )
    .unwrap();
    assert_eq!(answer.status, 422, "{}", answer.body);
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        body["error"]["code"], "sender_domain_not_registered",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("example.org"),
        "{body}"
    );

    // Registered, the same mail goes out signed by its own domain.
    let own = add_domain(&node, &customer, "example.org", "rsa-2048");
    let (_, stopped) = node.terminate(Duration::from_secs(20)).unwrap();
    let node = stopped.start().unwrap();
    let answer = http_call(
        node.http_addr(),
        "POST",
        "/api/v1/messages",
        Some(&key),
        &[],
        Some(&request),
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    let received = sink.wait_for(2, Duration::from_secs(30)).await.unwrap();
    assert_verifies(
        &for_recipient(&received, "carol@example.net").data,
        &own,
        "example.org",
        1,
    );
}

/// The field names in the `h=` tag of the message's (first) DKIM-Signature, lower-case.
fn signed_fields(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let header = text
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .replace("\r\n\t", " ")
        .replace("\r\n ", " ");
    let signature = header
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("dkim-signature:"))
        .unwrap_or_else(|| panic!("no DKIM-Signature: {text}"));
    let h = signature
        .split(';')
        .map(str::trim)
        .find_map(|tag| tag.strip_prefix("h="))
        .unwrap_or_else(|| panic!("no h= in {signature}"));
    h.split(':')
        .map(|f| f.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_fields_are_covered_by_the_signature() {
    let sink = Sink::start().await.unwrap();
    let (node, customer) = delivery_support::start(|b| {
        route_everything(b, &sink.addr().to_string());
        b.set("http", "public_url", "\"https://mail.hikyaku.test\"");
    });
    node.cli_ok(&["contract", "unsubscribe", "enable", &customer])
        .unwrap();
    let records = add_domain(&node, &customer, "example.com", "rsa-2048");
    delivery_support::send(&node, &["ann@example.net", "bob@example.net"]).await;
    let received = sink.wait_for(2, Duration::from_secs(30)).await.unwrap();
    let mut links = Vec::new();
    for to in ["ann@example.net", "bob@example.net"] {
        let data = &for_recipient(&received, to).data;
        let text = String::from_utf8_lossy(data);
        let link = text
            .split("\r\n")
            .find(|l| l.to_ascii_lowercase().starts_with("list-unsubscribe:"))
            .unwrap_or_else(|| panic!("no List-Unsubscribe for {to}: {text}"))
            .to_string();
        links.push(link);
        let fields = signed_fields(data);
        for name in ["list-unsubscribe", "list-unsubscribe-post", "from"] {
            assert!(
                fields.iter().any(|f| f == name),
                "{name} not signed: {fields:?}"
            );
        }
        assert_verifies(data, &records, "example.com", 1);
    }
    assert_ne!(links[0], links[1], "each recipient gets a link of its own");
}
