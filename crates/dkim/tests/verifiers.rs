//! Signatures made here, checked by two verifiers we did not write — dkimpy and OpenDKIM's test
//! mode — against the key records this crate makes, for every algorithm over a table of
//! awkward messages; a tampered copy must fail.

use hikyaku_dkim::{KeyAlgorithm, PrivateKey, Signer, SigningKey};
use hikyaku_testkit::{dkimpy_verify, opendkim_verify};

/// (name, message as it is spooled: CRLF line ends)
const MESSAGES: &[(&str, &[u8])] = &[
    (
        "plain",
        b"From: App <app@example.jp>\r\nTo: u@example.net\r\nSubject: hi\r\nDate: Sun, 6 Dec 2026 01:00:00 +0000\r\nMessage-ID: <1@example.jp>\r\n\r\nHello.\r\n",
    ),
    (
        "eight-bit",
        b"From: app@example.jp\r\nSubject: latin-1\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9  cr\xe8me\t \r\n",
    ),
    (
        "utf-8",
        "From: =?UTF-8?B?5bqX?= <app@example.jp>\r\nSubject: =?UTF-8?B?44GU5rOo5paH?=\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nご注文  ありがとう 🎉\r\n".as_bytes(),
    ),
    (
        "folded",
        b"From: app@example.jp\r\nTo: a@example.jp,\r\n  b@example.jp,\r\n\tc@example.jp\r\nSubject: a subject long enough to be folded over\r\n several lines, with  runs of   space\r\n\r\nFolded.\r\n",
    ),
    (
        "repeated",
        b"From: app@example.jp\r\nTo: a@example.jp\r\nTo: b@example.jp\r\nList-Unsubscribe: <https://u.example/1>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nTwo To fields.\r\n",
    ),
    (
        "trailing-blank-lines",
        b"From: app@example.jp\r\nSubject: t\r\n\r\nText.\r\n\r\n \r\n\r\n",
    ),
    ("no-body", b"From: app@example.jp\r\nSubject: empty\r\n\r\n"),
];

fn signer(algorithms: &[KeyAlgorithm]) -> (Signer, Vec<(String, String)>) {
    let mut records = Vec::new();
    let mut keys = Vec::new();
    for (i, &algorithm) in algorithms.iter().enumerate() {
        let key = PrivateKey::generate(algorithm).unwrap();
        let selector = format!("s{i}");
        records.push((format!("{selector}._domainkey.example.jp"), key.dns_txt()));
        keys.push(SigningKey {
            domain: "example.jp".into(),
            selector,
            key,
        });
    }
    (Signer::new(keys), records)
}

#[test]
fn every_algorithm_passes_dkimpy_and_opendkim() {
    let setups: [&[KeyAlgorithm]; 4] = [
        &[KeyAlgorithm::Rsa2048],
        &[KeyAlgorithm::Rsa1024],
        &[KeyAlgorithm::Ed25519],
        &[KeyAlgorithm::Rsa2048, KeyAlgorithm::Ed25519],
    ];
    for algorithms in setups {
        let (signer, records) = signer(algorithms);
        for (name, message) in MESSAGES {
            let signed = signer.sign(message, 1_765_000_000).unwrap();
            let text = String::from_utf8_lossy(&signed);
            let Some(lines) = dkimpy_verify(&signed, &records) else {
                return;
            };
            assert_eq!(
                lines.len(),
                algorithms.len(),
                "{name} {algorithms:?}: {lines:?}"
            );
            for line in &lines {
                assert!(
                    line.starts_with("pass d=example.jp"),
                    "{name} {algorithms:?}: {line}\n{text}"
                );
            }
            if let Some(lines) = opendkim_verify(&signed, &records) {
                let verdicts: Vec<&String> = lines
                    .iter()
                    .filter(|l| l.contains("verification"))
                    .collect();
                assert!(!verdicts.is_empty(), "{name}: {lines:?}");
                for line in verdicts {
                    assert!(
                        line.contains("succeeded"),
                        "{name} {algorithms:?}: {line}\n{text}"
                    );
                }
            }
            // One changed byte of the body and every signature fails.
            let mut tampered = signed.clone();
            let last = tampered.len() - 3;
            tampered[last] ^= 0x01;
            if message.ends_with(b"\r\n\r\n") {
                continue; // no body text to change
            }
            let lines = dkimpy_verify(&tampered, &records).unwrap();
            assert!(
                lines.iter().all(|l| l.starts_with("fail")),
                "{name}: {lines:?}"
            );
        }
    }
}
