//! The composer from the outside: tables of request → header lines, golden messages
//! (`tests/golden/*.eml`; `UPDATE_GOLDEN=1` rewrites them, a mismatch leaves `*.failed` beside
//! the golden file for diffing), two independent parsers reading every message back (Python's
//! `email` package and mail-parser), batches, and hostile requests.

use hikyaku_api_types::{BatchSendRequest, SendRequest};
use hikyaku_compose::{ComposeError, ComposedMessage, Composer};
use hikyaku_model::{MessageId, Timestamp};
use mail_parser::MimeHeaders;
use serde_json::{Value, json};
use std::path::PathBuf;

const AT: Timestamp = Timestamp(1_795_577_520_000);
const LIMIT: usize = 2 * 1024 * 1024;

fn id(n: u8) -> MessageId {
    format!("01jz5x00000000000000000{n:03}").parse().unwrap()
}

fn composer() -> Composer {
    Composer::new("mx1.hikyaku.example", LIMIT)
}

fn request(value: Value) -> SendRequest {
    serde_json::from_value(value).unwrap()
}

fn compose(value: Value) -> Result<ComposedMessage, ComposeError> {
    composer().compose(&request(value), id(1), AT)
}

/// The header section as unfolded lines `Name: value`.
fn header_lines(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = lines.last_mut().unwrap();
            last.push(' ');
            last.push_str(line.trim_start());
        } else {
            lines.push(line.to_string());
        }
    }
    lines
}

fn field_of(result: Result<ComposedMessage, ComposeError>) -> String {
    match result {
        Err(ComposeError::Invalid { field, .. }) => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

/// Reads a message back with Python's `email` package (the standard library's, strict about
/// RFC 2047 and MIME): what a real client would show.
fn python_reads(message: &[u8]) -> Value {
    const SCRIPT: &str = r#"
import sys, json, base64, email, email.policy
# RFC 6532: header fields may hold UTF-8, which the bytes parser would keep as surrogates.
m = email.message_from_string(sys.stdin.buffer.read().decode("utf-8"), policy=email.policy.default)
def addrs(name):
    h = m[name]
    return None if h is None else [[a.display_name, a.addr_spec] for a in h.addresses]
body = lambda kind: (lambda p: None if p is None else p.get_content())(m.get_body((kind,)))
out = {
    "subject": str(m["subject"]),
    "from": addrs("from"), "to": addrs("to"), "cc": addrs("cc"), "bcc": addrs("bcc"),
    "reply_to": addrs("reply-to"),
    "text": body("plain"), "html": body("html"),
    "attachments": [[a.get_filename(), a.get_content_type(),
                     base64.b64encode(a.get_payload(decode=True)).decode()]
                    for a in m.iter_attachments()],
    "defects": [type(d).__name__ for p in m.walk() for d in p.defects],
    "x_campaign": None if m["x-campaign"] is None else str(m["x-campaign"]),
}
print(json.dumps(out))
"#;
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Checks that both parsers read back what the request said.
fn peers_agree(request: &SendRequest, message: &[u8]) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let normalise = |s: &str| s.replace("\r\n", "\n");
    let py = python_reads(message);
    assert_eq!(py["defects"], json!([]), "{py}");
    assert_eq!(py["subject"], json!(request.subject));
    let pairs = |list: &[hikyaku_api_types::Address]| -> Value {
        if list.is_empty() {
            return Value::Null;
        }
        json!(
            list.iter()
                .map(|a| json!([a.name().unwrap_or(""), a.address()]))
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(py["from"], pairs(std::slice::from_ref(&request.from)));
    assert_eq!(py["to"], pairs(&request.to));
    assert_eq!(py["cc"], pairs(&request.cc));
    assert_eq!(py["bcc"], Value::Null, "Bcc is never a header");
    assert_eq!(py["reply_to"], pairs(&request.reply_to));
    let body = |v: &Value| v.as_str().map(normalise);
    assert_eq!(body(&py["text"]), request.text.as_deref().map(normalise));
    assert_eq!(body(&py["html"]), request.html.as_deref().map(normalise));
    let expected_attachments: Vec<Value> = request
        .attachments
        .iter()
        .map(|a| {
            let bytes = b64.decode(a.content.replace(['\r', '\n'], "")).unwrap();
            json!([
                a.filename,
                a.content_type
                    .as_deref()
                    .unwrap_or("application/octet-stream"),
                b64.encode(bytes)
            ])
        })
        .collect();
    assert_eq!(py["attachments"], json!(expected_attachments));

    let parsed = mail_parser::MessageParser::default()
        .parse(message)
        .expect("mail-parser reads it");
    assert_eq!(parsed.subject(), Some(request.subject.as_str()));
    let from = parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some(request.from.address()));
    assert_eq!(from.name(), request.from.name());
    let to: Vec<(Option<&str>, Option<&str>)> = parsed
        .to()
        .map(|a| a.iter().map(|a| (a.name(), a.address())).collect())
        .unwrap_or_default();
    let expected_to: Vec<(Option<&str>, Option<&str>)> = request
        .to
        .iter()
        .map(|a| (a.name(), Some(a.address())))
        .collect();
    assert_eq!(to, expected_to);
    if let Some(text) = &request.text {
        assert_eq!(
            normalise(&parsed.body_text(0).unwrap()),
            normalise(text).trim_end_matches('\n').to_string()
                + if text.ends_with('\n') { "\n" } else { "" }
        );
    }
    if let Some(html) = &request.html {
        assert_eq!(normalise(&parsed.body_html(0).unwrap()), normalise(html));
    }
    let attachments: Vec<(String, Vec<u8>)> = parsed
        .attachments()
        .map(|p| {
            (
                p.attachment_name().unwrap().to_string(),
                p.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(attachments.len(), request.attachments.len());
    for ((name, bytes), sent) in attachments.iter().zip(&request.attachments) {
        assert_eq!(name, &sent.filename);
        assert_eq!(
            b64.encode(bytes),
            b64.encode(b64.decode(sent.content.replace(['\r', '\n'], "")).unwrap())
        );
    }
}

fn golden_requests() -> Vec<(&'static str, Value)> {
    vec![
        (
            "alternative",
            json!({
                "from": {"name": "Example Shop", "address": "shop@example.com"},
                "to": [{"name": "O'Brien, Pat", "address": "pat@example.net"}, "lee@example.org"],
                "cc": "audit@example.com",
                "bcc": ["hidden@example.com"],
                "reply_to": "support@example.com",
                "subject": "Your order #1234 has shipped",
                "text": "Hello Pat,\n\nYour order has shipped.\n",
                "html": "<p>Hello Pat,</p>\n<p>Your order has <b>shipped</b>.</p>\n",
                "headers": {"List-Unsubscribe": "<https://example.com/u/1234>", "X-Campaign": "shipping"},
                "tags": ["shipping"],
            }),
        ),
        (
            "mixed",
            json!({
                "from": "billing@example.com",
                "to": "customer@example.net",
                "subject": "Invoice 2026-12",
                "text": "Your invoice is attached.",
                "attachments": [
                    {"filename": "invoice.pdf", "content_type": "application/pdf",
                     "content": "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK"},
                    {"filename": "請求書の明細.csv", "content_type": "text/csv",
                     "content": "5ZOB55uuLOmHkemhjQrjgrPjg7zjg5IsNDUwCg=="},
                    {"filename": "raw.bin", "content": "AAEC/f7/"},
                ],
            }),
        ),
        (
            "iso2022jp",
            json!({
                "from": {"name": "株式会社サンプル", "address": "info@example.co.jp"},
                "to": [{"name": "山田 太郎", "address": "taro@example.jp"}],
                "subject": "【重要】ご注文ありがとうございます（注文番号：１２３４）",
                "text": "山田 太郎 様\n\nこのたびはご注文いただき、誠にありがとうございます。\n全角カタカナも届きます。\n",
                "headers": {"X-Campaign": "春のキャンペーン"},
                "charset": "ISO-2022-JP",
            }),
        ),
        (
            "international",
            json!({
                "from": {"name": "Ünïcödé Sender — 送信者", "address": "sender@example.com"},
                "to": [{"name": "山田 太郎", "address": "山田@例え.jp"}, {"name": "\"Quoted\" \\ Name", "address": "q@example.org"}],
                "subject": "Grüße aus Tōkyō 🍣 — ご案内",
                "text": "Grüße! 🍣\r\nLine two with trailing spaces   \r\n",
                "html": "<p>Grüße! 🍣</p>",
                "charset": "UTF-8",
            }),
        ),
    ]
}

#[test]
fn golden_messages() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut checked = 0;
    for (name, value) in golden_requests() {
        let request = request(value);
        let composed = composer().compose(&request, id(7), AT).unwrap();
        let path = dir.join(format!("{name}.eml"));
        if update {
            std::fs::write(&path, &composed.message).unwrap();
        }
        let golden = std::fs::read(&path).unwrap_or_default();
        if golden != composed.message {
            std::fs::write(path.with_extension("failed"), &composed.message).unwrap();
            panic!("{name}: differs from {} (see .failed)", path.display());
        }
        peers_agree(&request, &composed.message);
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn header_tables() {
    let base = |extra: Value| {
        let mut v =
            json!({"from": "a@example.com", "to": "b@example.net", "subject": "Hi", "text": "x"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({}),
            vec![
                "Date: Wed, 25 Nov 2026 03:32:00 +0000",
                "From: <a@example.com>",
                "To: <b@example.net>",
                "Subject: Hi",
                "Message-ID: <01jz5x00000000000000000001@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=\"utf-8\"",
                "Content-Transfer-Encoding: 7bit",
            ],
        ),
        (
            json!({"from": {"name": "Shop", "address": "a@EXAMPLE.com"}}),
            vec![
                "From: \"Shop\" <a@EXAMPLE.com>",
                "Message-ID: <01jz5x00000000000000000001@example.com>",
            ],
        ),
        (
            json!({"subject": "件名"}),
            vec!["Subject: =?utf-8?B?5Lu25ZCN?="],
        ),
        (
            json!({"subject": "件名", "charset": "ISO-2022-JP"}),
            vec![
                "Subject: =?ISO-2022-JP?B?GyRCN29MPhsoQg==?=",
                "Content-Type: text/plain; charset=\"ISO-2022-JP\"",
                "Content-Transfer-Encoding: 7bit",
            ],
        ),
        (
            json!({"from": "送信@例え.jp"}),
            vec![
                "From: <送信@例え.jp>",
                "Message-ID: <01jz5x00000000000000000001@mx1.hikyaku.example>",
            ],
        ),
        (
            json!({"headers": {"X-Note": "ノート"}}),
            vec!["X-Note: =?utf-8?B?44OO44O844OI?="],
        ),
    ];
    for (extra, expected) in cases {
        let composed = compose(base(extra.clone())).unwrap();
        let lines = header_lines(&composed.message);
        for line in expected {
            assert!(
                lines.iter().any(|l| l == line),
                "{extra}: no {line:?} in {lines:#?}"
            );
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:"))
        );
    }
}

#[test]
fn envelope_is_from_and_every_recipient_once() {
    let composed = compose(json!({
        "from": "app@example.com",
        "to": ["a@example.net", "B@example.net"],
        "cc": ["b@example.net", "c@example.net"],
        "bcc": ["A@EXAMPLE.NET", "d@example.net"],
        "subject": "s", "text": "t",
        "tags": ["welcome"], "metadata": {"user_id": "42"},
    }))
    .unwrap();
    assert_eq!(composed.envelope.mail_from, "app@example.com");
    assert_eq!(
        composed.envelope.recipients,
        [
            "a@example.net",
            "B@example.net",
            "c@example.net",
            "d@example.net"
        ]
    );
    assert_eq!(composed.id, id(1));
    assert_eq!(composed.date, AT);
    assert_eq!(composed.tags, ["welcome"]);
    assert_eq!(composed.metadata["user_id"], "42");
    let text = String::from_utf8(composed.message).unwrap();
    assert!(
        !text.contains("d@example.net"),
        "a bcc address is in the message"
    );
}

#[test]
fn long_iso2022jp_lines_go_base64_and_still_decode() {
    let line = "あ".repeat(600);
    let request = request(json!({
        "from": "a@example.jp", "to": "b@example.jp", "subject": "長い行",
        "text": line, "charset": "ISO-2022-JP",
    }));
    let composed = composer().compose(&request, id(2), AT).unwrap();
    let lines = header_lines(&composed.message);
    assert!(lines.contains(&"Content-Transfer-Encoding: base64".to_string()));
    assert!(
        composed
            .message
            .split(|b| *b == b'\n')
            .all(|l| l.len() <= 1000)
    );
    peers_agree(&request, &composed.message);
}

#[test]
fn hostile_requests_are_refused_with_their_field() {
    let long_subject = "s".repeat(2001);
    let many_to: Vec<String> = (0..1001).map(|i| format!("u{i}@example.net")).collect();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"from": "a@example.com\r\nBcc: x@evil.example"}),
            "from",
        ),
        (
            json!({"from": {"name": "Shop\r\nBcc: x@evil.example", "address": "a@example.com"}}),
            "from.name",
        ),
        (
            json!({"from": {"name": "Shop", "address": "a@example.com>\r\nX: y"}}),
            "from.address",
        ),
        (json!({"to": "b@example.net\nBcc: x@evil.example"}), "to[0]"),
        (json!({"to": ["ok@example.net", "not an address"]}), "to[1]"),
        (json!({"cc": ["<c@example.net>"]}), "cc[0]"),
        (json!({"bcc": ["x@[127.0.0.1]"]}), "bcc[0]"),
        (json!({"reply_to": "r@example.net\r\n"}), "reply_to[0]"),
        (json!({"subject": "Hi\r\nBcc: x@evil.example"}), "subject"),
        (json!({"subject": "Hi\u{0}there"}), "subject"),
        (json!({"subject": "Hi\u{1b}[31m"}), "subject"),
        (json!({"subject": "   "}), "subject"),
        (json!({"subject": long_subject}), "subject"),
        (json!({"text": null, "html": null}), "text"),
        (json!({"text": "nul\u{0}byte"}), "text"),
        (
            json!({"headers": {"Content-Type": "text/html"}}),
            "headers.Content-Type",
        ),
        (
            json!({"headers": {"mime-version": "2.0"}}),
            "headers.mime-version",
        ),
        (json!({"headers": {"Bcc": "x@evil.example"}}), "headers.Bcc"),
        (
            json!({"headers": {"X-A": "v\r\nBcc: x@evil.example"}}),
            "headers.X-A",
        ),
        (
            json!({"headers": {"X-A\r\nBcc": "v"}}),
            "headers.X-A\r\nBcc",
        ),
        (json!({"headers": {"X-A": "v\nw"}}), "headers.X-A"),
        (json!({"tags": ["ok", "not ok"]}), "tags[1]"),
        (
            json!({"tags": ["a","b","c","d","e","f","g","h","i","j","k"]}),
            "tags",
        ),
        (json!({"metadata": {"bad key": "v"}}), "metadata.bad key"),
        (
            json!({"attachments": [{"filename": "a.pdf", "content": "not base64!!"}]}),
            "attachments[0].content",
        ),
        (
            json!({"attachments": [{"filename": "", "content": "AAAA"}]}),
            "attachments[0].filename",
        ),
        (
            json!({"attachments": [{"filename": "a\r\n.pdf", "content": "AAAA"}]}),
            "attachments[0].filename",
        ),
        (
            json!({"attachments": [{"filename": "a", "content": "AAAA", "content_type": "multipart/mixed"}]}),
            "attachments[0].content_type",
        ),
        (
            json!({"attachments": [{"filename": "a", "content": "AAAA", "content_type": "text/plain\r\nX: y"}]}),
            "attachments[0].content_type",
        ),
        (json!({"to": [], "cc": [], "bcc": []}), "to"),
        (json!({"to": many_to}), "to"),
        (
            json!({"subject": "🍣", "charset": "ISO-2022-JP"}),
            "subject",
        ),
        (json!({"text": "안녕", "charset": "ISO-2022-JP"}), "text"),
        (
            json!({"to": "山田@例え.jp", "charset": "ISO-2022-JP"}),
            "to[0]",
        ),
        (
            json!({"from": {"name": "寿司🍣", "address": "a@example.com"}, "charset": "ISO-2022-JP"}),
            "from",
        ),
    ];
    for (extra, field) in cases {
        let mut v =
            json!({"from": "a@example.com", "to": "b@example.net", "subject": "Hi", "text": "x"});
        for (k, val) in extra.as_object().unwrap() {
            if val.is_null() {
                v.as_object_mut().unwrap().remove(k);
            } else {
                v[k] = val.clone();
            }
        }
        assert_eq!(field_of(compose(v)), field, "{extra}");
    }
}

#[test]
fn huge_messages_are_refused_as_too_large() {
    let small = Composer::new("mx1.hikyaku.example", 64 * 1024);
    let big_text = "x".repeat(70 * 1024);
    let req = request(
        json!({"from": "a@example.com", "to": "b@example.net", "subject": "s", "text": big_text}),
    );
    assert!(matches!(
        small.compose(&req, id(1), AT),
        Err(ComposeError::TooLarge { limit: 65536, .. })
    ));
    // An attachment is refused before it is decoded.
    let big_attachment = "A".repeat(200 * 1024);
    let req = request(
        json!({"from": "a@example.com", "to": "b@example.net", "subject": "s", "text": "t",
        "attachments": [{"filename": "a", "content": big_attachment}]}),
    );
    assert!(matches!(
        small.compose(&req, id(1), AT),
        Err(ComposeError::TooLarge { .. })
    ));
}

#[test]
fn a_body_cannot_forge_a_boundary() {
    let forged =
        "--hikyaku_01jz5x00000000000000000001_alt\r\nContent-Type: text/html\r\n\r\n<script>";
    let req = request(
        json!({"from": "a@example.com", "to": "b@example.net", "subject": "s",
        "text": forged, "html": "<p>real</p>"}),
    );
    let composed = composer().compose(&req, id(1), AT).unwrap();
    peers_agree(&req, &composed.message);
    assert!(
        header_lines(&composed.message)
            .iter()
            .any(|l| l.contains("boundary=\"hikyaku_01jz5x00000000000000000001_x_alt\""))
    );
}

#[test]
fn batches_substitute_per_recipient_and_fail_alone() {
    let batch: BatchSendRequest = serde_json::from_value(json!({
        "template": {
            "from": {"name": "Shop", "address": "shop@example.com"},
            "subject": "{{name}} さん、ご注文 {{order}} を承りました",
            "text": "Dear {{name}},\norder {{ order }}.\n",
            "html": "<p>Dear {{name}}, order {{order}}.</p>",
            "headers": {"X-Order": "{{order}}"},
            "tags": ["order"],
            "metadata": {"campaign": "winter"},
        },
        "recipients": [
            {"to": {"name": "Taro", "address": "taro@example.jp"},
             "substitutions": {"name": "<b>Taro</b> & co", "order": "A-1"},
             "metadata": {"user_id": "1"}},
            {"to": "bad address", "substitutions": {"name": "X", "order": "A-2"}},
            {"to": "hanako@example.jp", "substitutions": {"name": "Hanako"}},
            {"to": "evil@example.jp", "substitutions": {"name": "E", "order": "1\r\nBcc: x@evil.example"}},
            {"to": "jiro@example.jp", "bcc": "boss@example.jp",
             "substitutions": {"name": "Jiro", "order": "A-5", "unused": "fine"}},
        ],
    }))
    .unwrap();
    let mut n = 0;
    let results = composer()
        .compose_batch(&batch, AT, || {
            n += 1;
            id(n)
        })
        .unwrap();
    assert_eq!(results.len(), 5);

    let first = results[0].as_ref().unwrap();
    assert_eq!(first.envelope.recipients, ["taro@example.jp"]);
    assert_eq!(
        first.metadata.get("campaign").map(String::as_str),
        Some("winter")
    );
    assert_eq!(first.metadata.get("user_id").map(String::as_str), Some("1"));
    let parsed = mail_parser::MessageParser::default()
        .parse(&first.message)
        .unwrap();
    assert_eq!(
        parsed.subject(),
        Some("<b>Taro</b> & co さん、ご注文 A-1 を承りました")
    );
    assert_eq!(
        parsed.body_text(0).unwrap(),
        "Dear <b>Taro</b> & co,\r\norder A-1.\r\n"
    );
    assert_eq!(
        parsed.body_html(0).unwrap(),
        "<p>Dear &lt;b&gt;Taro&lt;/b&gt; &amp; co, order A-1.</p>"
    );
    assert_eq!(parsed.header_raw("X-Order").map(str::trim), Some("A-1"));

    assert_eq!(field_of(results[1].clone()), "recipients[1].to[0]");
    assert_eq!(
        field_of(results[2].clone()),
        "recipients[2].substitutions.order"
    );
    assert_eq!(
        field_of(results[3].clone()),
        "recipients[3].substitutions.order"
    );
    let last = results[4].as_ref().unwrap();
    assert_eq!(
        last.envelope.recipients,
        ["jiro@example.jp", "boss@example.jp"]
    );
    assert_eq!(last.id, id(3), "only the messages built take an ID");
}

#[test]
fn batch_limits_and_template_faults_fail_the_whole_batch() {
    let template = json!({"from": "a@example.com", "subject": "s", "text": "t"});
    let recipients: Vec<Value> = (0..1001)
        .map(|i| json!({"to": format!("u{i}@example.net")}))
        .collect();
    for (value, field) in [
        (
            json!({"template": template, "recipients": []}),
            "recipients",
        ),
        (
            json!({"template": template, "recipients": recipients}),
            "recipients",
        ),
        (
            json!({"template": {"from": "a@example.com", "subject": "s\r\nBcc: x@evil.example", "text": "t"},
                   "recipients": [{"to": "b@example.net"}]}),
            "template.subject",
        ),
        (
            json!({"template": {"from": "a@example.com", "subject": "s", "text": "t", "headers": {"From": "x"}},
                   "recipients": [{"to": "b@example.net"}]}),
            "template.headers.From",
        ),
    ] {
        let batch: BatchSendRequest = serde_json::from_value(value).unwrap();
        assert_eq!(
            field_of(
                composer()
                    .compose_batch(&batch, AT, MessageId::generate)
                    .map(|_| unreachable!())
            ),
            field
        );
    }
    // A thousand is allowed.
    let thousand: Vec<Value> = (0..1000)
        .map(|i| json!({"to": format!("u{i}@example.net")}))
        .collect();
    let batch: BatchSendRequest =
        serde_json::from_value(json!({"template": template, "recipients": thousand})).unwrap();
    let results = composer()
        .compose_batch(&batch, AT, MessageId::generate)
        .unwrap();
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(Result::is_ok));
}

/// Thousands of requests made of the pieces that break header fields (line breaks, NUL, DEL,
/// C1 and Unicode line separators, quotes, encoded-word look-alikes, a whole `Bcc:` field):
/// whatever the composer accepts has no injected field, no bare CR or LF in its header, no
/// line over 998 bytes, and reads back with the same subject and display name.
#[test]
fn hostile_pieces_never_break_out() {
    // Pieces that must be refused, and pieces that must survive; one in eight is of the first.
    const BREAKING: &[&str] = &[
        "\r",
        "\n",
        "\r\n",
        "\0",
        "\u{1b}",
        "\u{7f}",
        "\u{85}",
        "\r\nBcc: x@evil.example",
    ];
    const PIECES: &[&str] = &[
        "\t",
        " ",
        "  ",
        ":",
        "<",
        ">",
        "\"",
        "\\",
        "@",
        ",",
        ";",
        "(",
        ")",
        "=?utf-8?B?",
        "?=",
        "Bcc: x@evil.example",
        "é",
        "山田",
        "🍣",
        "\u{2028}",
        "{{name}}",
        "--",
        "a",
        "Z",
        "0",
        ".",
        "=",
        "_",
        "?",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut random_text = |len: usize| -> String {
        (0..len)
            .map(|_| match next(8) {
                0 => BREAKING[next(BREAKING.len())],
                _ => PIECES[next(PIECES.len())],
            })
            .collect()
    };
    let mut accepted = 0;
    for round in 0..3000 {
        let subject = random_text(1 + round % 12);
        let name = random_text(round % 6);
        let value = random_text(round % 5);
        let charset = if round % 3 == 0 {
            "ISO-2022-JP"
        } else {
            "UTF-8"
        };
        let request = request(json!({
            "from": {"name": name, "address": "a@example.com"},
            "to": "b@example.net",
            "subject": subject,
            "text": random_text(round % 20),
            "headers": {"X-Data": value},
            "charset": charset,
        }));
        let Ok(composed) = composer().compose(&request, id(1), AT) else {
            continue;
        };
        accepted += 1;
        let message = &composed.message;
        let head_end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header section");
        let head = &message[..head_end + 2];
        for (i, b) in head.iter().enumerate() {
            match b {
                b'\r' => assert_eq!(head.get(i + 1), Some(&b'\n'), "bare CR: {request:?}"),
                b'\n' => assert_eq!(head[i - 1], b'\r', "bare LF: {request:?}"),
                _ => {}
            }
        }
        for line in head.split(|b| *b == b'\n') {
            assert!(line.len() <= 999, "long line: {request:?}");
            let line = String::from_utf8_lossy(line);
            assert!(
                !line.to_ascii_lowercase().starts_with("bcc:"),
                "injected: {request:?}"
            );
        }
        let names: Vec<String> = header_lines(message)
            .iter()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "Date",
                "From",
                "To",
                "Subject",
                "Message-ID",
                "MIME-Version",
                "X-Data",
                "Content-Type",
                "Content-Transfer-Encoding"
            ],
            "{request:?}"
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(message)
            .unwrap();
        if !request.subject.contains("=?") && !request.subject.contains("?=") {
            let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(
                squash(parsed.subject().unwrap_or_default()),
                squash(&request.subject),
                "{request:?}"
            );
        }
    }
    // The pieces are mostly harmless: the test must have exercised the accepting side.
    assert!(accepted > 400, "only {accepted} accepted");
    assert!(
        accepted < 2500,
        "{accepted} accepted: the breaking pieces were not tried"
    );
}
