//! Signatures made by [`Signer`] checked by a verifier we did not write: `openssl cms -verify`
//! against the test root CA alone (the intermediate travels only in the signature), for RSA and
//! ECDSA keys loaded from PEM and from PKCS#12, over ASCII, 8-bit UTF-8, multipart and LF-only
//! messages; the verified content must be the original content byte for byte.

use hikyaku_smime::{KeyAlgorithm, LoadError, Signer};
use hikyaku_testkit::{TestKey, TestPki};
use std::time::{Duration, SystemTime};

fn pki(dir: &tempfile::TempDir, key: TestKey) -> Option<TestPki> {
    TestPki::create(
        dir.path(),
        key,
        "Alice Example",
        Some("alice@example.jp"),
        &["alice@example.jp", "Billing@Example.jp"],
        30,
    )
}

fn pem_signer(pki: &TestPki) -> Signer {
    Signer::from_pem(
        &std::fs::read(&pki.chain).unwrap(),
        &std::fs::read(&pki.key).unwrap(),
    )
    .unwrap()
}

/// Messages as applications hand them over, and the content the signed part must hold: the
/// content header fields, an empty line, the body, with CRLF line endings.
fn messages() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let utf8_body = "こんにちは、世界。\r\nÜbergröße: 8-bit without encoding.\r\n";
    let multipart_body = "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain ✓\r\n\
        --b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html ✓</p>\r\n--b1--\r\n";
    vec![
        (
            "ascii without content fields",
            b"From: alice@example.jp\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
                .to_vec(),
            b"\r\nHello.\r\n".to_vec(),
        ),
        (
            "8-bit UTF-8",
            format!(
                "From: alice@example.jp\r\nTo: bob@example.net\r\nSubject: =?UTF-8?B?5L2g5aW9?=\r\n\
                 MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Transfer-Encoding: 8bit\r\n\r\n{utf8_body}"
            )
            .into_bytes(),
            format!(
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{utf8_body}"
            )
            .into_bytes(),
        ),
        (
            "multipart/alternative with a folded content type",
            format!(
                "From: alice@example.jp\r\nTo: bob@example.net\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/alternative;\r\n\tboundary=\"b1\"\r\n\r\n{multipart_body}"
            )
            .into_bytes(),
            format!("Content-Type: multipart/alternative;\r\n\tboundary=\"b1\"\r\n\r\n{multipart_body}")
                .into_bytes(),
        ),
        (
            "LF-only lines and no final line break",
            b"From: alice@example.jp\nContent-Type: text/plain\n\nline one\nline two".to_vec(),
            b"Content-Type: text/plain\r\n\r\nline one\r\nline two".to_vec(),
        ),
    ]
}

fn check_signatures(pki: &TestPki, signer: &Signer) {
    for (name, message, content) in messages() {
        let signed = signer.sign_message(&message, SystemTime::now()).unwrap();
        let verified = pki
            .verify(&signed)
            .unwrap_or_else(|e| panic!("{name}: openssl refused the signature: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&verified),
            String::from_utf8_lossy(&content),
            "{name}"
        );
        assert_eq!(verified, content, "{name}");
        // The signed part is the content as it was, verbatim in the message; changing one
        // byte of it must make the verification fail.
        let at = signed
            .windows(content.len())
            .position(|w| w == content.as_slice())
            .unwrap_or_else(|| panic!("{name}: the content is not in the message verbatim"));
        let mut last = at + content.len() - 1;
        while matches!(signed[last], b'\r' | b'\n') {
            last -= 1;
        }
        let mut tampered = signed.clone();
        tampered[last] ^= 0x20;
        assert!(
            pki.verify(&tampered).is_err(),
            "{name}: a changed message still verifies"
        );
    }
}

#[test]
fn rsa_from_pem_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = pki(&dir, TestKey::Rsa2048) else {
        return;
    };
    let signer = pem_signer(&pki);
    assert_eq!(
        signer.certificate().key_algorithm,
        KeyAlgorithm::Rsa { bits: 2048 }
    );
    check_signatures(&pki, &signer);
}

#[test]
fn ecdsa_from_pem_verifies_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = pki(&dir, TestKey::EcdsaP256) else {
        return;
    };
    let signer = pem_signer(&pki);
    assert_eq!(signer.certificate().key_algorithm, KeyAlgorithm::EcdsaP256);
    check_signatures(&pki, &signer);
}

#[test]
fn pkcs12_files_verify_with_openssl() {
    for key in [TestKey::Rsa2048, TestKey::EcdsaP256] {
        let dir = tempfile::tempdir().unwrap();
        let Some(pki) = pki(&dir, key) else {
            return;
        };
        // OpenSSL 3's default (PBES2, AES-256-CBC, HMAC-SHA-256), and AES-128 with a SHA-1
        // PRF and MAC as older tools write.
        let variants: [(&str, &[&str]); 2] = [
            ("default.p12", &[]),
            (
                "aes128.p12",
                &[
                    "-keypbe",
                    "AES-128-CBC",
                    "-certpbe",
                    "AES-128-CBC",
                    "-macalg",
                    "sha1",
                ],
            ),
        ];
        for (name, extra) in variants {
            let file = pki.pkcs12(name, "pässwörd 1", extra);
            let signer = Signer::from_pkcs12(&std::fs::read(&file).unwrap(), "pässwörd 1")
                .unwrap_or_else(|e| panic!("{key:?} {name}: {e}"));
            assert_eq!(
                signer.certificate().subject,
                pem_signer(&pki).certificate().subject
            );
            check_signatures(&pki, &signer);
            // What is stored is PEM: it loads again into the same signer.
            let again =
                Signer::from_pem(signer.chain_pem().as_bytes(), signer.key_pem().as_bytes())
                    .unwrap();
            assert_eq!(again.certificate(), signer.certificate());
        }
    }
}

#[test]
fn pkcs12_wrong_password_and_legacy_ciphers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = pki(&dir, TestKey::Rsa2048) else {
        return;
    };
    let file = std::fs::read(pki.pkcs12("right.p12", "right", &[])).unwrap();
    let err = Signer::from_pkcs12(&file, "wrong").unwrap_err();
    assert!(matches!(err, LoadError::WrongPassword), "{err}");
    let legacy = std::fs::read(pki.pkcs12(
        "legacy.p12",
        "secret",
        &[
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    ))
    .unwrap();
    let err = Signer::from_pkcs12(&legacy, "secret").unwrap_err();
    assert!(matches!(err, LoadError::LegacyPkcs12(_)), "{err}");
    assert!(err.to_string().contains("openssl pkcs12 -export"), "{err}");
    let err = Signer::from_pkcs12(b"not a pkcs12 file", "secret").unwrap_err();
    assert!(matches!(err, LoadError::Pkcs12(_)), "{err}");
}

#[test]
fn certificate_facts_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = pki(&dir, TestKey::EcdsaP256) else {
        return;
    };
    let signer = pem_signer(&pki);
    let info = signer.certificate();
    // RFC 4514 writes the most specific name first.
    assert_eq!(info.subject, "EMAIL=alice@example.jp,CN=Alice Example");
    assert_eq!(info.issuer, "CN=Hikyaku Test Intermediate");
    assert_eq!(info.serial, "1234");
    // The subjectAltName's addresses first; the subject's repeats one of them.
    assert_eq!(info.addresses, ["alice@example.jp", "Billing@Example.jp"]);
    assert!(info.covers("ALICE@example.jp"));
    assert!(info.covers("billing@example.jp"));
    assert!(!info.covers("mallory@example.jp"));
    let now = SystemTime::now();
    let in_30_days = now + Duration::from_secs(30 * 86_400);
    let slack = Duration::from_secs(120);
    assert!(info.not_before <= now && info.not_before + slack >= now);
    assert!(info.not_after <= in_30_days + slack && info.not_after + slack >= in_30_days);
    assert!(info.is_valid_at(now));
    assert!(!info.is_valid_at(in_30_days + slack));
    // The chain is the signer's certificate, then the intermediate (not the root, not given).
    assert_eq!(signer.chain_pem().matches("BEGIN CERTIFICATE").count(), 2);
}

#[test]
fn subject_email_alone_is_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = TestPki::create(
        dir.path(),
        TestKey::Rsa2048,
        "Old Style",
        Some("old@example.jp"),
        &[],
        10,
    ) else {
        return;
    };
    assert_eq!(pem_signer(&pki).certificate().addresses, ["old@example.jp"]);
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let (Some(a), Some(b)) = (pki(&one, TestKey::Rsa2048), pki(&two, TestKey::Rsa2048)) else {
        return;
    };
    let err = Signer::from_pem(
        &std::fs::read(&a.chain).unwrap(),
        &std::fs::read(&b.key).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::KeyMismatch { .. }), "{err}");
    let err = Signer::from_pem(b"", &std::fs::read(&a.key).unwrap()).unwrap_err();
    assert!(matches!(err, LoadError::NoCertificate), "{err}");
    let err = Signer::from_pem(&std::fs::read(&a.chain).unwrap(), b"").unwrap_err();
    assert!(matches!(err, LoadError::NoKey), "{err}");
}

/// The whole layout of a signed message, field by field: which header fields stay outside,
/// what the first part holds, how the signature part is labelled.
#[test]
fn signed_message_structure() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pki) = pki(&dir, TestKey::EcdsaP256) else {
        return;
    };
    let signer = pem_signer(&pki);
    // (input, outer header fields before the multipart/signed content type, first part)
    let table: [(&str, &str, &str); 3] = [
        (
            "Received: from x\r\n\tby y\r\nFrom: a@example.jp\r\nSubject: s\r\n\r\nbody\r\n",
            "Received: from x\r\n\tby y\r\nFrom: a@example.jp\r\nSubject: s\r\nMIME-Version: 1.0\r\n",
            "\r\nbody\r\n",
        ),
        (
            "From: a@example.jp\r\nMIME-Version: 1.0\r\ncontent-type: text/plain;\r\n charset=utf-8\r\n\
             Subject: s\r\nContent-Transfer-Encoding: 8bit\r\nContent-ID: <c@x>\r\n\r\nbody\r\n",
            "From: a@example.jp\r\nMIME-Version: 1.0\r\nSubject: s\r\n",
            "content-type: text/plain;\r\n charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
             Content-ID: <c@x>\r\n\r\nbody\r\n",
        ),
        (
            "Subject: header only\r\nContent-Type: text/plain\r\n",
            "Subject: header only\r\nMIME-Version: 1.0\r\n",
            "Content-Type: text/plain\r\n\r\n",
        ),
    ];
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_577_520);
    for (input, outer, part) in table {
        let signed = String::from_utf8(signer.sign_message(input.as_bytes(), at).unwrap()).unwrap();
        let rest = signed
            .strip_prefix(outer)
            .unwrap_or_else(|| panic!("outer fields of {input:?}:\n{signed}"));
        let (content_type, rest) = rest.split_once("\r\n\r\n").unwrap();
        let boundary = content_type
            .strip_prefix(
                "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\
                 \tmicalg=sha-256; boundary=\"",
            )
            .and_then(|b| b.strip_suffix('"'))
            .unwrap_or_else(|| panic!("content type of {input:?}: {content_type}"));
        assert!(boundary.starts_with("----=_smime_"), "{boundary}");
        let expected_start = format!(
            "This is an S/MIME signed message.\r\n\r\n--{boundary}\r\n{part}\r\n--{boundary}\r\n"
        );
        let signature_part = rest
            .strip_prefix(&expected_start)
            .unwrap_or_else(|| panic!("first part of {input:?}:\n{rest}"));
        let base64 = signature_part
            .strip_prefix(
                "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n",
            )
            .and_then(|b| b.strip_suffix(&format!("--{boundary}--\r\n")))
            .unwrap_or_else(|| panic!("signature part of {input:?}:\n{signature_part}"));
        assert!(base64.lines().all(|l| l.len() <= 76), "{base64}");
        // The signing time in the CMS is the one given: openssl prints the signed attributes.
        let p7s = dir.path().join("p7s.pem");
        std::fs::write(
            &p7s,
            format!(
                "-----BEGIN CMS-----\n{}-----END CMS-----\n",
                base64.replace("\r\n", "\n")
            ),
        )
        .unwrap();
        let printed = std::process::Command::new(&pki.openssl)
            .args(["cms", "-cmsout", "-print", "-inform", "PEM", "-in"])
            .arg(&p7s)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&printed.stdout);
        assert!(
            printed.contains("UTCTIME:Nov 25 03:32:00 2026 GMT"),
            "{printed}"
        );
        assert!(printed.contains("algorithm: sha256"), "{printed}");
        assert!(printed.contains("pkcs7-data"), "{printed}");
    }
}
