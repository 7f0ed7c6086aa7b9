//! The S/MIME stage over a real store and certificates made by openssl: which messages it signs
//! (From named by a valid certificate, every recipient in its destination domains), which it
//! leaves alone (no certificate, expired, mixed destinations, already signed), and that what
//! it signs verifies with `openssl cms -verify`.

use hikyaku_model::Timestamp;
use hikyaku_relay::smime_stage::{SignedOnce, SmimeStage};
use hikyaku_smime::Signer;
use hikyaku_store::{NewSmimeCertificate, SealingKey, Store};
use hikyaku_testkit::{TestKey, TestPki};
use std::time::{Duration, SystemTime};

async fn install(
    store: &Store,
    customer: &hikyaku_model::CustomerId,
    pki: &TestPki,
    only: &[String],
) {
    let signer = Signer::from_pem(
        &std::fs::read(&pki.chain).unwrap(),
        &std::fs::read(&pki.key).unwrap(),
    )
    .unwrap();
    let info = signer.certificate();
    store
        .add_smime_certificate(
            customer,
            &NewSmimeCertificate {
                subject: &info.subject,
                chain_pem: &signer.chain_pem(),
                key_pem: signer.key_pem(),
                addresses: &info.addresses,
                not_before: Timestamp::from(info.not_before),
                not_after: Timestamp::from(info.not_after),
                only_domains: only,
            },
        )
        .await
        .unwrap();
}

fn to(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The message as the relay spools it when signed as at `at`: the stage's signed copy, or the
/// message itself when the stage leaves it alone.
async fn spooled(
    stage: &SmimeStage,
    contract: &hikyaku_model::CustomerId,
    recipients: &[&str],
    message: &[u8],
    at: SystemTime,
) -> Vec<u8> {
    stage
        .sign_copy(contract, &to(recipients), message, &mut SignedOnce::at(at))
        .await
        .unwrap()
        .map_or_else(|| message.to_vec(), |signed| signed.to_vec())
}

#[tokio::test]
async fn the_stage_signs_what_the_rules_say() {
    let db = tempfile::tempdir().unwrap();
    let all_dir = tempfile::tempdir().unwrap();
    let some_dir = tempfile::tempdir().unwrap();
    let Some(all) = TestPki::create(
        all_dir.path(),
        TestKey::EcdsaP256,
        "All",
        None,
        &["all@example.com"],
        30,
    ) else {
        return;
    };
    let Some(some) = TestPki::create(
        some_dir.path(),
        TestKey::Rsa2048,
        "Some",
        None,
        &["some@example.com"],
        30,
    ) else {
        return;
    };
    let store = Store::connect(
        &format!("sqlite://{}", db.path().join("h.db").display()),
        SealingKey::generate(),
    )
    .await
    .unwrap();
    let customer = store
        .create_contract("S", "standard")
        .await
        .unwrap()
        .customer_id;
    let other = store
        .create_contract("O", "standard")
        .await
        .unwrap()
        .customer_id;
    install(&store, &customer, &all, &[]).await;
    install(
        &store,
        &customer,
        &some,
        &to(&["example.net", "example.org"]),
    )
    .await;
    let stage = SmimeStage::new(store.clone());
    let now = SystemTime::now();
    let message = |from: &str| format!("From: {from}\r\nSubject: s\r\n\r\nbody\r\n").into_bytes();

    // (contract, From, recipients, when, signed by)
    let in_40_days = now + Duration::from_secs(40 * 86_400);
    let cases: [(&_, &str, &[&str], SystemTime, Option<&TestPki>); 8] = [
        (
            &customer,
            "all@example.com",
            &["a@anywhere.jp"],
            now,
            Some(&all),
        ),
        (
            &customer,
            "Someone <ALL@example.com>",
            &["a@x.jp", "b@y.jp"],
            now,
            Some(&all),
        ),
        (
            &customer,
            "some@example.com",
            &["a@example.net", "b@Example.ORG"],
            now,
            Some(&some),
        ),
        // One recipient outside the listed domains: nobody gets the signed form.
        (
            &customer,
            "some@example.com",
            &["a@example.net", "b@gmail.com"],
            now,
            None,
        ),
        (
            &customer,
            "nobody@example.com",
            &["a@example.net"],
            now,
            None,
        ),
        // Expired: sent unsigned.
        (
            &customer,
            "all@example.com",
            &["a@anywhere.jp"],
            in_40_days,
            None,
        ),
        // Another contract's certificates are not this contract's.
        (&other, "all@example.com", &["a@anywhere.jp"], now, None),
        // Not yet valid.
        (
            &customer,
            "all@example.com",
            &["a@anywhere.jp"],
            now - Duration::from_secs(86_400),
            None,
        ),
    ];
    for (i, (contract, from, recipients, at, signer)) in cases.into_iter().enumerate() {
        let input = message(from);
        let out = spooled(&stage, contract, recipients, &input, at).await;
        match signer {
            None => assert_eq!(out, input, "case {i}: should be unsigned"),
            Some(pki) => {
                let content = pki.verify(&out).unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert_eq!(content, b"\r\nbody\r\n", "case {i}");
            }
        }
    }
    // A message the application signed itself is left as it is.
    let signed = spooled(
        &stage,
        &customer,
        &["a@x.jp"],
        &message("all@example.com"),
        now,
    )
    .await;
    let again = spooled(&stage, &customer, &["a@x.jp"], &signed, now).await;
    assert_eq!(again, signed);

    // The copies of one message (one per recipient) share one signature.
    let mut once = SignedOnce::at(now);
    let shared = message("all@example.com");
    let mut copies = Vec::new();
    for recipient in ["a@x.jp", "b@y.jp"] {
        let copy = stage
            .sign_copy(&customer, &to(&[recipient]), &shared, &mut once)
            .await
            .unwrap()
            .expect("signed");
        copies.push(copy);
    }
    assert!(
        std::sync::Arc::ptr_eq(&copies[0], &copies[1]),
        "one signature for both copies"
    );
}
