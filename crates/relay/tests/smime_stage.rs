//! The S/MIME stage over a real store and certificates made by openssl: which messages it signs
//! (From named by a valid certificate, every recipient in its destination domains), which it
//! leaves alone (no certificate, expired, mixed destinations, already signed), and that what
//! it signs verifies with `openssl cms -verify`.

use hikyaku_model::Timestamp;
use hikyaku_relay::smime_stage::SmimeStage;
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
        let out = stage
            .apply_at(contract, &to(recipients), input.clone(), at)
            .await
            .unwrap();
        match signer {
            None => assert_eq!(out, input, "case {i}: should be unsigned"),
            Some(pki) => {
                let content = pki.verify(&out).unwrap_or_else(|e| panic!("case {i}: {e}"));
                assert_eq!(content, b"\r\nbody\r\n", "case {i}");
            }
        }
    }
    // A message the application signed itself is left as it is.
    let signed = stage
        .apply(&customer, &to(&["a@x.jp"]), message("all@example.com"))
        .await
        .unwrap();
    let again = stage
        .apply(&customer, &to(&["a@x.jp"]), signed.clone())
        .await
        .unwrap();
    assert_eq!(again, signed);
}
