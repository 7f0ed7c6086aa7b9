//! Hostile mail to the parser: whatever arrives, `parse_mail` returns, without panicking, a
//! document whose size is bounded, within a hang guard; and what is cut is marked `truncated`.

use base64::Engine;
use hikyaku_inbound_parse::parse::{
    MAX_ATTACHMENTS, MAX_BODY_TEXT, MAX_HEADER_VALUE, MAX_HEADERS, ParsedMail, parse_mail,
};
use std::time::Duration;

/// Generous: a hang guard for a loaded debug build, not a speed check.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn parse_guarded(name: &str, raw: Vec<u8>) -> (ParsedMail, usize) {
    let (done, result) = std::sync::mpsc::channel();
    let size = raw.len();
    std::thread::spawn(move || {
        let mail = parse_mail(&raw);
        let _ = done.send(mail);
    });
    let mail = result
        .recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{name}: no result within {HANG_GUARD:?} (hang or panic)"));
    (mail, size)
}

fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut mail = String::from("Subject: deep\r\n");
    for level in 0..depth {
        mail.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    mail.push_str("Content-Type: text/plain\r\n\r\ninnermost\r\n");
    for level in (0..depth).rev() {
        mail.push_str(&format!("--b{level}--\r\n"));
    }
    mail.into_bytes()
}

fn nested_messages(depth: usize) -> Vec<u8> {
    let mut mail = String::new();
    for _ in 0..depth {
        mail.push_str("Subject: wrapper\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    mail.push_str("Subject: inside\r\n\r\ncore\r\n");
    mail.into_bytes()
}

fn many_attachments(count: usize, size: usize) -> Vec<u8> {
    let mut mail =
        String::from("Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n");
    let content = base64::engine::general_purpose::STANDARD.encode(vec![0xa5u8; size]);
    for n in 0..count {
        mail.push_str(&format!(
            "--x\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"f{n}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{content}\r\n"
        ));
    }
    mail.push_str("--x--\r\n");
    mail.into_bytes()
}

/// Attachments sent as they are (no transfer encoding), so that their decoded size is their
/// size on the wire.
fn plain_attachments(count: usize, size: usize) -> Vec<u8> {
    let mut mail =
        String::from("Subject: plain\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n");
    let content = "a".repeat(size);
    for n in 0..count {
        mail.push_str(&format!(
            "--x\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"p{n}.bin\"\r\n\r\n{content}\r\n"
        ));
    }
    mail.push_str("--x--\r\n");
    mail.into_bytes()
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// (name, input, whether the output must say `truncated`).
fn cases() -> Vec<(&'static str, Vec<u8>, Option<bool>)> {
    vec![
        ("empty", Vec::new(), None),
        ("only a blank line", b"\r\n\r\n".to_vec(), None),
        ("headers, no body", b"Subject: x\r\nFrom: a@b\r\n".to_vec(), Some(false)),
        ("no headers at all", b"just text, no colon\r\n".to_vec(), None),
        ("NUL bytes everywhere", vec![0u8; 100_000], None),
        ("binary garbage", pseudo_random(1 << 20, 7), None),
        ("lone CRs", b"Subject: a\rb\r\rc\r\rbody\r".repeat(1000), None),
        (
            "multipart never closed",
            b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nopen".to_vec(),
            None,
        ),
        (
            "multipart without a boundary",
            b"Content-Type: multipart/mixed\r\n\r\n--\r\n\r\nx\r\n----\r\n".to_vec(),
            None,
        ),
        (
            "empty boundary",
            b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\nA: b\r\n\r\nc\r\n----\r\n".to_vec(),
            None,
        ),
        ("multipart nested 5,000 deep", nested_multipart(5_000), None),
        ("message/rfc822 nested 2,000 deep", nested_messages(2_000), None),
        (
            "a 1 MiB header",
            [b"Subject: ".as_slice(), &vec![b'a'; 1 << 20], b"\r\n\r\nbody\r\n"].concat(),
            Some(true),
        ),
        (
            "a 1 MiB folded header",
            [b"X-Long: a".as_slice(), &b"\r\n b".repeat(300_000), b"\r\n\r\nbody\r\n"].concat(),
            Some(true),
        ),
        (
            "100,000 header fields",
            [b"X-A: b\r\n".repeat(100_000).as_slice(), b"\r\nbody\r\n"].concat(),
            Some(true),
        ),
        (
            "20,000 addresses in To",
            format!("To: {}\r\n\r\nx\r\n", "a@example.com, ".repeat(20_000)).into_bytes(),
            Some(true),
        ),
        (
            "unknown charset",
            b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xff\xfe\xfd text\r\n".to_vec(),
            None,
        ),
        (
            "invalid UTF-8 labelled UTF-8",
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xc3\x28 \xe2\x82 \xf0\x9f\r\n".to_vec(),
            None,
        ),
        (
            "broken ISO-2022-JP escapes",
            b"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B\x1b(\x1b$\xff\x1b\r\n".to_vec(),
            None,
        ),
        (
            "garbage encoded words",
            b"Subject: =?utf-8?B?!!!?= =?x?Q?=ZZ?= =?=?= =?utf-8?q?\r\nFrom: =?utf-8?B?====?= <a@b>\r\n\r\n".to_vec(),
            None,
        ),
        (
            "bad base64 and quoted-printable bodies",
            b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Transfer-Encoding: base64\r\nContent-Type: image/png\r\n\r\n!!!***\r\n--z\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain\r\n\r\n=ZZ=\r\n=4\r\n--z--\r\n".to_vec(),
            None,
        ),
        ("5,000 attachments", many_attachments(5_000, 10), Some(true)),
        ("attachments past the content budget", plain_attachments(4, 900_000), Some(true)),
        (
            "a 3 MiB text body",
            [b"Content-Type: text/plain\r\n\r\n".as_slice(), &vec![b'x'; 3 << 20]].concat(),
            Some(true),
        ),
        (
            "an 8 MiB message",
            [b"Subject: big\r\n\r\n".as_slice(), &vec![b'y'; 8 << 20]].concat(),
            Some(true),
        ),
    ]
}

#[test]
fn hostile_mail_never_panics_and_gives_bounded_output() {
    let mut ran = 0;
    for (name, raw, expect_truncated) in cases() {
        let (mail, size) = parse_guarded(name, raw);
        let json = serde_json::to_vec(&mail).unwrap();
        // Escaping can grow a byte to six (`\u0000`); the document never holds more than the
        // input in total plus fixed overhead.
        let bound = 6 * size.min(4 << 20) + (64 << 10);
        assert!(
            json.len() <= bound,
            "{name}: {} bytes of JSON from {size} bytes",
            json.len()
        );
        assert!(mail.headers.len() <= MAX_HEADERS, "{name}");
        assert!(
            mail.headers
                .iter()
                .all(|h| h.value.len() <= MAX_HEADER_VALUE),
            "{name}"
        );
        assert!(
            mail.text.as_ref().is_none_or(|t| t.len() <= MAX_BODY_TEXT),
            "{name}"
        );
        assert!(
            mail.html.as_ref().is_none_or(|t| t.len() <= MAX_BODY_TEXT),
            "{name}"
        );
        assert!(mail.attachments.len() <= MAX_ATTACHMENTS, "{name}");
        if let Some(truncated) = expect_truncated {
            assert_eq!(mail.truncated, truncated, "{name}");
        }
        ran += 1;
    }
    assert_eq!(ran, cases().len());
}

#[test]
fn what_survives_of_damaged_mail_is_still_there() {
    let (mail, _) = parse_guarded("deep", nested_multipart(50));
    assert_eq!(mail.subject.as_deref(), Some("deep"));
    assert_eq!(mail.text.as_deref(), Some("innermost"));

    let (mail, _) = parse_guarded(
        "unknown charset",
        b"Subject: s\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nplain words\r\n"
            .to_vec(),
    );
    assert_eq!(mail.text.as_deref(), Some("plain words\r\n"));

    let (mail, _) = parse_guarded("many", many_attachments(150, 3));
    assert_eq!(mail.attachments.len(), MAX_ATTACHMENTS);
    assert!(mail.truncated);
    assert_eq!(mail.attachments[99].filename.as_deref(), Some("f99.bin"));
    assert_eq!(mail.attachments[0].size, 3);

    let (mail, _) = parse_guarded("budget", plain_attachments(4, 900_000));
    let with_content = mail
        .attachments
        .iter()
        .filter(|a| a.content.is_some())
        .count();
    assert_eq!(with_content, 3, "3 MiB hold three of 900,000 bytes");
    assert_eq!(mail.attachments.len(), 4);
    assert!(mail.attachments.iter().all(|a| a.size == 900_000));

    let (mail, _) = parse_guarded(
        "long header",
        [b"Subject: ".as_slice(), &vec![b'a'; 100_000], b"\r\n\r\n"].concat(),
    );
    assert_eq!(mail.headers[0].value.len(), MAX_HEADER_VALUE);
    assert_eq!(mail.subject.as_ref().unwrap().len(), MAX_HEADER_VALUE);
}
