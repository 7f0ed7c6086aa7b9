//! The DKIM stage over a real store: which domain signs (the From domain or its nearest
//! registered parent, else the service domain), what the `refuse` policy refuses, and that
//! what it signs passes dkimpy against the key records.

use hikyaku_dkim::{KeyAlgorithm, PrivateKey};
use hikyaku_model::{CustomerId, UnregisteredFrom};
use hikyaku_relay::dkim_stage::{DkimStage, DkimStageError};
use hikyaku_store::{NewDkimKey, SealingKey, Store};
use hikyaku_testkit::dkimpy_verify;

/// Registers `domain` for `owner` with a new key of `algorithm`; returns its record.
async fn register(
    store: &Store,
    owner: Option<&CustomerId>,
    domain: &str,
    algorithm: KeyAlgorithm,
) -> (String, String) {
    let key = PrivateKey::generate(algorithm).unwrap();
    let pem = key.to_pem();
    let public = key.public_key_base64();
    store
        .add_sender_domain(
            owner,
            domain,
            algorithm.as_str(),
            &[NewDkimKey {
                selector: "s1",
                algorithm: algorithm.as_str(),
                public_key: &public,
                private_key_pem: &pem,
            }],
        )
        .await
        .unwrap();
    (format!("s1._domainkey.{domain}"), key.dns_txt())
}

/// The `d=` of each signature above the message, in order.
fn signing_domains(message: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(message).replace("\r\n\t", " ");
    text.lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("DKIM-Signature:"))
        .map(|l| {
            l.split(';')
                .find_map(|t| t.trim().strip_prefix("d="))
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_stage_signs_as_the_rules_say() {
    let db = tempfile::tempdir().unwrap();
    let store = Store::connect(
        &format!("sqlite://{}", db.path().join("h.db").display()),
        SealingKey::generate(),
    )
    .await
    .unwrap();
    let contract = store
        .create_contract("D", "standard")
        .await
        .unwrap()
        .customer_id;
    let mut records = vec![
        register(
            &store,
            Some(&contract),
            "example.com",
            KeyAlgorithm::Rsa2048,
        )
        .await,
        register(
            &store,
            Some(&contract),
            "mail.example.com",
            KeyAlgorithm::Ed25519,
        )
        .await,
    ];
    let message =
        |from: &str| format!("From: App <{from}>\r\nSubject: s\r\n\r\nHi.\r\n").into_bytes();

    // No service key yet: an unregistered domain goes out as it came.
    let stage = DkimStage::new(store.clone());
    let table: [(&str, &[&str]); 5] = [
        ("app@example.com", &["example.com"]),
        ("app@news.example.com", &["example.com"]),
        ("app@x.mail.example.com", &["mail.example.com"]),
        ("app@MAIL.Example.COM", &["mail.example.com"]),
        ("app@example.net", &[]),
    ];
    for (from, want) in table {
        let signed = stage.sign(&contract, message(from)).await.unwrap();
        assert_eq!(signing_domains(&signed), want, "{from}");
        assert!(
            signed.ends_with(&message(from)),
            "the message follows its signatures"
        );
        if let (false, Some(lines)) = (want.is_empty(), dkimpy_verify(&signed, &records)) {
            assert!(
                lines.iter().all(|l| l.starts_with("pass")),
                "{from}: {lines:?}"
            );
        }
    }

    // With a service key (a new stage: the cache would keep the old view for a minute).
    records.push(register(&store, None, "svc.hikyaku.test", KeyAlgorithm::Ed25519).await);
    let stage = DkimStage::new(store.clone());
    let signed = stage
        .sign(&contract, message("app@example.net"))
        .await
        .unwrap();
    assert_eq!(signing_domains(&signed), ["svc.hikyaku.test"]);
    if let Some(lines) = dkimpy_verify(&signed, &records) {
        assert!(lines[0].starts_with("pass d=svc.hikyaku.test"), "{lines:?}");
    }

    // Refuse: the unregistered domain is named; a registered one still signs.
    store
        .set_unregistered_from(&contract, UnregisteredFrom::Refuse)
        .await
        .unwrap();
    let stage = DkimStage::new(store.clone());
    for (message, domain) in [
        (message("app@example.net"), "example.net"),
        (b"Subject: no From\r\n\r\nHi.\r\n".to_vec(), ""),
    ] {
        match stage.sign(&contract, message).await {
            Err(DkimStageError::Unregistered { domain: named, .. }) => assert_eq!(named, domain),
            other => panic!("{domain}: {other:?}"),
        }
    }
    let signed = stage
        .sign(&contract, message("app@example.com"))
        .await
        .unwrap();
    assert_eq!(signing_domains(&signed), ["example.com"]);

    // Another contract's domain never signs this one's mail.
    let other = store
        .create_contract("O", "standard")
        .await
        .unwrap()
        .customer_id;
    let signed = stage
        .sign(&other, message("app@example.com"))
        .await
        .unwrap();
    assert_eq!(signing_domains(&signed), ["svc.hikyaku.test"]);
}
