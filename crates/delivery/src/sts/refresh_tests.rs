//! The background refresh on a clock the test moves by hand: a policy used in the last tenth
//! of its `max_age` is fetched again behind the use, one fetch however often it is used, and
//! then outlives its first `max_age` while the policy host fails; a failed refresh is not tried
//! again at once.

use super::*;
use crate::clock::ManualClock;
use crate::resolve::{ResolverMode, ResolverOptions};
use hikyaku_model::Timestamp;
use hikyaku_testkit::{HttpsAnswer, HttpsServer, TestDns};

const MAX_AGE: u64 = 1000;

#[tokio::test]
async fn a_policy_used_near_its_end_is_fetched_again_in_the_background() {
    let policy =
        format!("version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: {MAX_AGE}\n");
    let https = HttpsServer::start(&["mta-sts.example.test"], HttpsAnswer::text(&policy))
        .await
        .unwrap();
    let dns = TestDns::start().await.unwrap();
    dns.set_negative_ttl(0).await;
    dns.ttl(0).a("mta-sts.example.test", "127.0.0.1").await;
    dns.ttl(0)
        .txt("_mta-sts.example.test", "v=STSv1; id=1;")
        .await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(https.ca_certificate().clone()).unwrap();
    let options = ResolverOptions {
        ipv6: false,
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..ResolverOptions::default()
    };
    let resolver = MxResolver::new(ResolverMode::Server(dns.addr()), &[], options).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let sts = MtaSts::new(
        &resolver,
        Some(Arc::new(roots)),
        Rules::new(&[]),
        StsOptions {
            https_port: https.addr().port(),
            fetch_timeout: Duration::from_secs(5),
            retry_failed_fetch: Duration::from_secs(300),
        },
    )
    .unwrap()
    .unwrap()
    .with_clock(Arc::clone(&clock) as Arc<dyn Clock>);
    let in_force = || async {
        let policy = sts.policy("example.test").await;
        sts.refreshes_done().await;
        policy.map(|(id, policy)| (id, policy.mode))
    };
    let enforced = Some(("1".to_string(), Mode::Enforce));
    let (https_ref, enforced_ref) = (&https, &enforced);
    // `s` seconds later the policy is in force, and the policy host has had `fetches` requests.
    let after = |s: u64, fetches: usize| {
        clock.advance(Duration::from_secs(s));
        async move {
            assert_eq!(&in_force().await, enforced_ref, "{s} s more");
            assert_eq!(https_ref.requests().len(), fetches, "{s} s more");
        }
    };

    after(0, 1).await;
    // 899 s of 1000 in: not yet.
    after(899, 1).await;
    // 901 s: in the last tenth. Used as it is, fetched again behind: once for two uses.
    clock.advance(Duration::from_secs(2));
    let first = sts.policy("example.test").await;
    let second = sts.policy("example.test").await;
    sts.refreshes_done().await;
    assert!(first.is_some() && second.is_some());
    assert_eq!(https.requests().len(), 2);

    // The policy host fails from now on; past the first fetch's max_age (1002 s), the
    // refreshed policy (until 1901 s) is in force, and nothing is fetched.
    https.set_answer(HttpsAnswer {
        status: 500,
        ..HttpsAnswer::text("down")
    });
    after(101, 2).await;
    // Its own last tenth (1850 s): the refresh fails, the policy holds, and the failed
    // refresh is not tried again within the 300 s.
    after(848, 3).await;
    after(10, 3).await;
}
