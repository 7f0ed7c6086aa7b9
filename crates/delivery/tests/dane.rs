//! DANE end to end: the test DNS server on 127.0.0.1 playing a validating resolver (MX and TLSA
//! records, the AD bit for signed names), the real resolver and SMTP client, and a sink MX
//! with or without STARTTLS, over real sockets.

use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use hikyaku_config::TlsPolicy;
use hikyaku_delivery::client::{Client, ClientConfig, Timeouts};
use hikyaku_delivery::resolve::{
    Dane, MxResolver, ResolverConfigError, ResolverMode, ResolverOptions,
};
use hikyaku_delivery::{Failure, Transport};
use hikyaku_model::Remote;
use hikyaku_testkit::{Sink, TestDns};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

const MX: &str = "mx.dane.test";

fn spki_sha256(cert: &CertificateDer<'_>) -> Vec<u8> {
    let parsed = webpki::EndEntityCert::try_from(cert).unwrap();
    Sha256::digest(parsed.subject_public_key_info().as_ref()).to_vec()
}

fn transport(dns: &TestDns, sink: &Sink, dane: bool) -> Transport {
    let options = ResolverOptions {
        ipv6: false,
        timeout: Duration::from_secs(2),
        attempts: 1,
        smtp_port: sink.addr().port(),
        dane,
        ..ResolverOptions::default()
    };
    let resolver = MxResolver::new(ResolverMode::Server(dns.addr()), &[], options).unwrap();
    let client = Client::new(ClientConfig {
        timeouts: Timeouts::all(Duration::from_secs(5)),
        ..ClientConfig::new("relay.hikyaku.test")
    })
    .unwrap();
    Transport::new(resolver, client)
}

/// One message to `domain` through resolution and connection: where it went, or why not.
async fn deliver(
    transport: &Transport,
    domain: &str,
    policy: Option<TlsPolicy>,
) -> Result<Remote, Failure> {
    let site = transport.resolve(domain).await?;
    let mut session = transport.connect(&site, policy).await?;
    let attempt = session
        .send(
            "a@hikyaku.test",
            &[format!("b@{domain}")],
            b"Subject: x\r\n\r\nx\r\n",
        )
        .await;
    session.quit().await;
    assert!(
        attempt.per_recipient[0].is_ok(),
        "{:?}",
        attempt.per_recipient
    );
    Ok(attempt.remote)
}

/// The MX: STARTTLS with a certificate for its name, from the sink's own test CA.
async fn starttls_sink() -> Sink {
    Sink::builder()
        .starttls()
        .tls_names(&[MX])
        .start()
        .await
        .unwrap()
}

fn tlsa_name(sink: &Sink) -> String {
    format!("_{}._tcp.{MX}", sink.addr().port())
}

async fn dns_for(domain: &str) -> TestDns {
    let dns = TestDns::start().await.unwrap();
    dns.mx(domain, 10, MX).await.a(MX, "127.0.0.1").await;
    dns
}

fn assert_dane_deferral(result: Result<Remote, Failure>, expected: &str) {
    let failure = result.expect_err("DANE let the message through");
    let reply = &failure.refusal.reply;
    assert_eq!(reply.code, 451, "{reply:?}");
    assert_eq!(
        reply.enhanced.map(|e| e.to_string()).as_deref(),
        Some("4.7.5"),
        "{reply:?}"
    );
    assert!(reply.text.starts_with("DANE: "), "{reply:?}");
    assert!(
        reply.text.contains(expected),
        "{reply:?} lacks {expected:?}"
    );
    assert!(!failure.permanent, "a DANE failure is retried until expiry");
}

#[tokio::test]
async fn matching_records_authenticate_the_server() {
    let sink = starttls_sink().await;
    let leaf = sink.leaf_certificate().unwrap().clone();
    let ca = sink.ca_certificate().unwrap().clone();
    let dns = dns_for("dane.test").await;
    dns.signed("dane.test");
    // DANE-EE by public key.
    dns.tlsa(&tlsa_name(&sink), 3, 1, 1, &spki_sha256(&leaf))
        .await;
    let t = transport(&dns, &sink, true);
    let site = t.resolve("dane.test").await.unwrap();
    assert!(
        matches!(site.hosts[0].dane, Dane::Authenticate(_)),
        "{site:?}"
    );
    assert!(site.id.ends_with("+dane"), "{}", site.id);
    let remote = deliver(&t, "dane.test", None).await.unwrap();
    assert_eq!(remote.tls, Some(true));

    // DANE-TA: the sink's CA, which it sends after its certificate.
    dns.remove_type(&tlsa_name(&sink), RecordType::TLSA)
        .await
        .tlsa(&tlsa_name(&sink), 2, 0, 1, &Sha256::digest(ca.as_ref()))
        .await;
    deliver(&t, "dane.test", None).await.unwrap();
    assert!(sink.received().iter().all(|m| m.tls));
}

#[tokio::test]
async fn a_certificate_that_does_not_match_defers() {
    let sink = starttls_sink().await;
    let dns = dns_for("dane.test").await;
    dns.signed("dane.test");
    dns.tlsa(&tlsa_name(&sink), 3, 1, 1, &[0x11; 32]).await;
    let result = deliver(&transport(&dns, &sink, true), "dane.test", None).await;
    assert_dane_deferral(result, "matches none of the 1 usable TLSA records");
    assert!(sink.received().is_empty());

    // The operator's rule wins over DANE.
    let remote = deliver(
        &transport(&dns, &sink, true),
        "dane.test",
        Some(TlsPolicy::RequiredNoverify),
    )
    .await
    .unwrap();
    assert_eq!(remote.tls, Some(true));
}

#[tokio::test]
async fn no_starttls_defers() {
    let sink = Sink::start().await.unwrap();
    let dns = dns_for("dane.test").await;
    dns.signed("dane.test");
    dns.tlsa(&tlsa_name(&sink), 3, 1, 1, &[0x11; 32]).await;
    let result = deliver(&transport(&dns, &sink, true), "dane.test", None).await;
    assert_dane_deferral(result, "does not offer STARTTLS");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn unauthenticated_answers_leave_tls_opportunistic() {
    let sink = starttls_sink().await;
    let plain = Sink::start().await.unwrap();
    for (sink, tls) in [(&sink, Some(true)), (&plain, Some(false))] {
        let dns = dns_for("dane.test").await;
        // A TLSA record nothing matches; no name is signed, so no AD bit.
        dns.tlsa(&tlsa_name(sink), 3, 1, 1, &[0x11; 32]).await;
        let remote = deliver(&transport(&dns, sink, true), "dane.test", None)
            .await
            .unwrap();
        assert_eq!(remote.tls, tls);

        // Signed TLSA records under an MX RRset that is not: the MX could be forged, so the
        // host's records say nothing.
        dns.signed(MX);
        let site = transport(&dns, sink, true)
            .resolve("dane.test")
            .await
            .unwrap();
        assert_eq!(site.hosts[0].dane, Dane::NotApplicable);

        // DANE off: the AD bit is not even asked for.
        dns.signed("dane.test");
        let site = transport(&dns, sink, false)
            .resolve("dane.test")
            .await
            .unwrap();
        assert_eq!(site.hosts[0].dane, Dane::NotApplicable);
        let remote = deliver(&transport(&dns, sink, false), "dane.test", None)
            .await
            .unwrap();
        assert_eq!(remote.tls, tls);
    }
}

#[tokio::test]
async fn unusable_records_make_tls_mandatory_without_authentication() {
    let sink = Sink::builder()
        .starttls()
        .tls_names(&["other.test"])
        .start()
        .await
        .unwrap();
    let plain = Sink::start().await.unwrap();
    for (sink, delivered) in [(&sink, true), (&plain, false)] {
        let dns = dns_for("dane.test").await;
        dns.signed("dane.test");
        // PKIX-EE is not for SMTP; a SHA-256 digest of 3 bytes is no digest.
        dns.tlsa(&tlsa_name(sink), 1, 1, 1, &[0x11; 32])
            .await
            .tlsa(&tlsa_name(sink), 3, 1, 1, &[1, 2, 3])
            .await;
        let t = transport(&dns, sink, true);
        assert_eq!(
            t.resolve("dane.test").await.unwrap().hosts[0].dane,
            Dane::EncryptOnly
        );
        let result = deliver(&t, "dane.test", None).await;
        match delivered {
            true => assert_eq!(result.unwrap().tls, Some(true)),
            false => {
                let failure = result.unwrap_err();
                assert!(
                    failure.refusal.reply.text.contains("STARTTLS"),
                    "{:?}",
                    failure.refusal
                );
                assert!(!failure.permanent);
            }
        }
    }
}

#[tokio::test]
async fn a_failed_tlsa_lookup_under_a_signed_mx_defers_the_host() {
    let sink = starttls_sink().await;
    let dns = dns_for("dane.test").await;
    dns.signed("dane.test").servfail(&tlsa_name(&sink));
    let t = transport(&dns, &sink, true);
    let site = t.resolve("dane.test").await.unwrap();
    assert!(
        matches!(&site.hosts[0].dane, Dane::Unavailable(_)),
        "{site:?}"
    );
    let result = deliver(&t, "dane.test", None).await;
    assert_dane_deferral(result, "TLSA _");
    assert_eq!(
        sink.total_connections(),
        0,
        "the host was used without its TLSA records"
    );

    // The same failure under an unsigned MX changes nothing.
    let dns = dns_for("plain.test").await;
    dns.servfail(&tlsa_name(&sink));
    let remote = deliver(&transport(&dns, &sink, true), "plain.test", None)
        .await
        .unwrap();
    assert_eq!(remote.tls, Some(true));
}

#[test]
fn dane_needs_a_named_resolver() {
    let options = ResolverOptions {
        dane: true,
        ..ResolverOptions::default()
    };
    let routes = [hikyaku_delivery::resolve::StaticRoute {
        domain: "*".into(),
        host: "127.0.0.1:2600".into(),
    }];
    assert_eq!(
        MxResolver::new(ResolverMode::Static, &routes, options).unwrap_err(),
        ResolverConfigError::Dane
    );
}
