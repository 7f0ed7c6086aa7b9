//! S/MIME end to end on a real `hikyaku serve` delivering to a sink MX: certificates installed
//! with the CLI (PEM, and PKCS#12 with the password on standard input), a message sent over
//! SMTP and one over the HTTP API arrive signed, `openssl cms -verify` accepts them against
//! the test root CA, and the verified content is what was sent; the relay's trace fields stay
//! outside the signed part; mail from an address without a certificate is not signed.

mod delivery_support;

use delivery_support::route_everything;
use hikyaku_testkit::{HikyakuProcess, Sink, TestKey, TestPki, http_call};
use serde_json::{Value, json};
use std::time::Duration;

fn api_key(node: &HikyakuProcess, customer: &str) -> String {
    let out = node
        .cli_ok(&[
            "api-key", "create", customer, "--name", "smime", "--role", "sender", "--json",
        ])
        .unwrap();
    serde_json::from_str::<Value>(out.trim()).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The signed part of a received message: what lies between the first two boundary lines.
fn signed_part(data: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(data);
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("not multipart/signed:\n{text}"));
    let delimiter = format!("--{boundary}\r\n");
    let start = text.find(&delimiter).unwrap() + delimiter.len();
    let end = start + text[start..].find(&format!("\r\n--{boundary}")).unwrap();
    data[start..end].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_from_a_certificate_s_address_arrives_signed_over_smtp_and_http() {
    let pem_dir = tempfile::tempdir().unwrap();
    let p12_dir = tempfile::tempdir().unwrap();
    let Some(pem_pki) = TestPki::create(
        pem_dir.path(),
        TestKey::Rsa2048,
        "Example App",
        None,
        &["app@example.com"],
        365,
    ) else {
        return;
    };
    let Some(p12_pki) = TestPki::create(
        p12_dir.path(),
        TestKey::EcdsaP256,
        "Example Shop",
        Some("shop@example.com"),
        &[],
        20,
    ) else {
        return;
    };
    let p12 = p12_pki.pkcs12("shop.p12", "shop secret", &[]);

    let sink = Sink::start().await.unwrap();
    let (node, customer) =
        delivery_support::start(|b| route_everything(b, &sink.addr().to_string()));

    let installed = node
        .cli_ok(&[
            "smime",
            "install",
            &customer,
            "--cert",
            pem_pki.chain.to_str().unwrap(),
            "--key",
            pem_pki.key.to_str().unwrap(),
            "--json",
        ])
        .unwrap();
    let installed: Value = serde_json::from_str(installed.trim()).unwrap();
    assert_eq!(installed["addresses"], json!(["app@example.com"]));
    assert_eq!(installed["expiry"], "valid");
    let out = node
        .cli_with_input(
            &[
                "smime",
                "install",
                &customer,
                "--pkcs12",
                p12.to_str().unwrap(),
                "--password-stdin",
                "--json",
            ],
            b"shop secret\n",
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shop_id = serde_json::from_slice::<Value>(&out.stdout).unwrap()["id"].clone();
    // A wrong password is refused with a clear message, and nothing is installed.
    let wrong = node
        .cli_with_input(
            &[
                "smime",
                "install",
                &customer,
                "--pkcs12",
                p12.to_str().unwrap(),
                "--password-stdin",
            ],
            b"guess\n",
        )
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong password"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let listed = node
        .cli_ok(&["smime", "list", &customer, "--json"])
        .unwrap();
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    let certificates = listed["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2, "{listed}");
    // The PKCS#12 certificate ends in 20 days: flagged, in JSON and in the table.
    assert_eq!(certificates[1]["addresses"], json!(["shop@example.com"]));
    assert_eq!(certificates[1]["expiry"], "expires_soon", "{listed}");
    let table = node.cli_ok(&["smime", "list", &customer]).unwrap();
    assert!(table.contains("expires soon (!)"), "{table}");

    // Over SMTP, from the PEM certificate's address.
    let smtp_id = delivery_support::send(&node, &["bob@example.net"]).await;
    // Over HTTP, from the PKCS#12 certificate's address.
    let key = api_key(&node, &customer);
    let answer = http_call(
        node.http_addr(),
        "POST",
        "/api/v1/messages",
        Some(&key),
        &[],
        Some(
            &json!({
                "from": "shop@example.com",
                "to": ["carol@example.org"],
                "subject": "Your order",
                "text": "Your order A-1 ships tomorrow.\nThank you."
            })
            .to_string(),
        ),
    )
    .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    // From an address no certificate names: sent as it is.
    let (mut c, _) = hikyaku_testkit::SmtpClient::connect(node.smtp_addr())
        .await
        .unwrap();
    c.command("EHLO app.example.com").await.unwrap();
    let reply = c
        .send_mail(
            "other@example.com",
            &["dave@example.net"],
            "From: other@example.com\r\nSubject: plain\r\n\r\nNot signed.\r\n",
        )
        .await
        .unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");

    let received = sink.wait_for(3, Duration::from_secs(30)).await.unwrap();
    let by = |to: &str| {
        received
            .iter()
            .find(|m| m.recipients == [to])
            .unwrap_or_else(|| panic!("nothing for {to}"))
            .data
            .clone()
    };

    let smtp = by("bob@example.net");
    let text = String::from_utf8_lossy(&smtp);
    // The relay's trace fields are outside the signed part, at the top as usual.
    assert!(text.starts_with("Received: from app.example.com"), "{text}");
    assert!(
        text.contains(&format!("X-Hikyaku-Message-Id: {smtp_id}\r\n")),
        "{text}"
    );
    let verified = pem_pki
        .verify(&smtp)
        .unwrap_or_else(|e| panic!("openssl refused the SMTP message: {e}\n{text}"));
    // The message had no content fields: the signed content is its body as sent.
    assert_eq!(String::from_utf8_lossy(&verified), "\r\nHello 0.\r\n");
    let part = signed_part(&smtp);
    assert!(
        !String::from_utf8_lossy(&part).contains("X-Hikyaku"),
        "trace inside the signature"
    );
    // Signed by the PEM certificate, not the other one: the other root does not accept it.
    assert!(p12_pki.verify(&smtp).is_err());

    let http = by("carol@example.org");
    let text = String::from_utf8_lossy(&http);
    let verified = p12_pki
        .verify(&http)
        .unwrap_or_else(|e| panic!("openssl refused the HTTP message: {e}\n{text}"));
    assert_eq!(verified, signed_part(&http));
    let verified = String::from_utf8_lossy(&verified);
    assert!(
        verified.starts_with("Content-Type: text/plain"),
        "{verified}"
    );
    assert!(
        verified.contains("Your order A-1 ships tomorrow.\r\nThank you."),
        "{verified}"
    );
    assert!(text.contains("Subject: Your order\r\n"), "{text}");

    let plain = by("dave@example.net");
    let text = String::from_utf8_lossy(&plain);
    assert!(!text.contains("multipart/signed"), "{text}");
    assert!(text.ends_with("\r\n\r\nNot signed.\r\n"), "{text}");

    // Removing the certificate: listed no more (running relays stop using it within a minute).
    let id = installed["id"].as_i64().unwrap().to_string();
    node.cli_ok(&["smime", "remove", &customer, &id]).unwrap();
    let listed = node
        .cli_ok(&["smime", "list", &customer, "--json"])
        .unwrap();
    assert!(!listed.contains("app@example.com"), "{listed}");
    let again = node.cli(&["smime", "remove", &customer, &id]).unwrap();
    assert_eq!(again.status.code(), Some(1), "removing twice fails");

    // At start a node logs a warning for the certificate that ends within 30 days.
    assert!(
        !node
            .log()
            .contains("S/MIME certificate expires within 30 days")
    );
    let (_, stopped) = node.terminate(Duration::from_secs(20)).unwrap();
    let node = stopped.start().unwrap();
    delivery_support::wait_until("the expiry warning", Duration::from_secs(10), || {
        node.log().lines().any(|l| {
            l.contains("WARN")
                && l.contains("S/MIME certificate expires within 30 days")
                && l.contains(&format!("id={shop_id}"))
                && !l.contains("shop@example.com")
        })
    });
}
