//! MX resolution against a real DNS server on 127.0.0.1 (hickory-server in process, real UDP
//! and TCP sockets). No test here uses the system resolver, and every address served is
//! loopback.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hikyaku_delivery::resolve::{
    Destination, MxResolver, ResolveError, ResolverConfigError, ResolverMode, ResolverOptions,
    StaticRoute,
};
use hikyaku_testkit::TestDns;

fn options() -> ResolverOptions {
    ResolverOptions {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..ResolverOptions::default()
    }
}

fn resolver(dns: &TestDns) -> MxResolver {
    resolver_with(dns, options())
}

fn resolver_with(dns: &TestDns, options: ResolverOptions) -> MxResolver {
    MxResolver::new(ResolverMode::Server(dns.addr()), &[], options).unwrap()
}

fn route(domain: &str, host: &str) -> StaticRoute {
    StaticRoute {
        domain: domain.to_owned(),
        host: host.to_owned(),
    }
}

/// (host, preference, addresses) per destination, the shape most assertions compare.
fn summary(destinations: &[Destination]) -> Vec<(String, u16, Vec<String>)> {
    destinations
        .iter()
        .map(|d| {
            (
                d.mx_host.clone(),
                d.preference,
                d.addrs.iter().map(SocketAddr::to_string).collect(),
            )
        })
        .collect()
}

fn one(host: &str, preference: u16, addrs: &[&str]) -> (String, u16, Vec<String>) {
    (
        host.to_owned(),
        preference,
        addrs.iter().map(|a| (*a).to_owned()).collect(),
    )
}

#[tokio::test]
async fn mx_hosts_come_in_preference_order() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 30, "mx3.example.jp")
        .await
        .mx("example.jp", 10, "mx1.example.jp")
        .await
        .mx("example.jp", 20, "mx2.example.jp")
        .await
        .a("mx1.example.jp", "127.0.0.11")
        .await
        .a("mx2.example.jp", "127.0.0.12")
        .await
        .a("mx3.example.jp", "127.0.0.13")
        .await;

    let destinations = resolver(&dns).resolve("example.jp").await?;
    assert_eq!(
        summary(&destinations),
        [
            one("mx1.example.jp", 10, &["127.0.0.11:25"]),
            one("mx2.example.jp", 20, &["127.0.0.12:25"]),
            one("mx3.example.jp", 30, &["127.0.0.13:25"]),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn equal_preferences_are_shuffled() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "a.example.jp")
        .await
        .mx("example.jp", 10, "b.example.jp")
        .await
        .mx("example.jp", 20, "c.example.jp")
        .await
        .a("a.example.jp", "127.0.0.1")
        .await
        .a("b.example.jp", "127.0.0.2")
        .await
        .a("c.example.jp", "127.0.0.3")
        .await;
    let resolver = resolver(&dns);

    let mut a_first = 0;
    let mut b_first = 0;
    for _ in 0..200 {
        let hosts: Vec<String> = resolver
            .resolve("example.jp")
            .await?
            .into_iter()
            .map(|d| d.mx_host)
            .collect();
        assert_eq!(hosts.len(), 3);
        assert_eq!(
            hosts[2], "c.example.jp",
            "the less preferred host stays last"
        );
        match hosts[0].as_str() {
            "a.example.jp" => a_first += 1,
            "b.example.jp" => b_first += 1,
            other => panic!("unexpected first host {other}"),
        }
    }
    // Each order has probability 1/2 per run: below 40 of 200 is over 8 standard deviations
    // away from the mean, so this fails only if the shuffle is broken.
    assert!(
        a_first >= 40 && b_first >= 40,
        "a first {a_first}, b first {b_first}"
    );
    Ok(())
}

#[tokio::test]
async fn without_mx_the_domain_itself_is_the_mail_host() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.a("plain.example", "127.0.0.21")
        .await
        .aaaa("plain.example", "::1")
        .await;

    let destinations = resolver(&dns).resolve("plain.example").await?;
    assert_eq!(
        summary(&destinations),
        [one("plain.example", 0, &["127.0.0.21:25", "[::1]:25"])]
    );
    Ok(())
}

#[tokio::test]
async fn a_domain_with_neither_mx_nor_address_bounces() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.txt("textonly.example", "v=spf1 -all").await;

    let error = resolver(&dns)
        .resolve("textonly.example")
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ResolveError::NoAddress {
            domain: "textonly.example".to_owned(),
            hosts: vec!["textonly.example".to_owned()],
        }
    );
    assert!(error.is_permanent());
    assert_eq!(error.enhanced_status(), "5.4.4");
    Ok(())
}

#[tokio::test]
async fn a_null_mx_means_the_domain_accepts_no_mail() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    // An address for the domain must not turn it into an implicit MX.
    dns.null_mx("nomail.example")
        .await
        .a("nomail.example", "127.0.0.31")
        .await;

    let error = resolver(&dns).resolve("nomail.example").await.unwrap_err();
    assert_eq!(
        error,
        ResolveError::NullMx {
            domain: "nomail.example".to_owned()
        }
    );
    assert!(error.is_permanent());
    assert_eq!(error.enhanced_status(), "5.1.10");
    assert_eq!(error.reason().as_str(), "notaccept");
    assert_eq!(
        error.to_string(),
        "nomail.example: domain does not accept mail (null MX)"
    );
    Ok(())
}

#[tokio::test]
async fn nxdomain_is_an_unknown_host() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "mx.example.jp").await;

    let error = resolver(&dns).resolve("nowhere.example").await.unwrap_err();
    assert_eq!(
        error,
        ResolveError::HostUnknown {
            domain: "nowhere.example".to_owned()
        }
    );
    assert!(error.is_permanent());
    assert_eq!(error.reason().as_str(), "hostunknown");
    Ok(())
}

#[tokio::test]
async fn mx_hosts_without_addresses_are_skipped() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "gone.example.jp")
        .await
        .mx("example.jp", 20, "v6less.example.jp")
        .await
        .mx("example.jp", 30, "mx.example.jp")
        .await
        // Exists, but holds no address records.
        .txt("v6less.example.jp", "no address here")
        .await
        .a("mx.example.jp", "127.0.0.41")
        .await;

    let destinations = resolver(&dns).resolve("example.jp").await?;
    assert_eq!(
        summary(&destinations),
        [one("mx.example.jp", 30, &["127.0.0.41:25"])]
    );

    dns.remove("mx.example.jp").await;
    let fresh = resolver(&dns);
    let error = fresh.resolve("example.jp").await.unwrap_err();
    assert_eq!(
        error,
        ResolveError::NoAddress {
            domain: "example.jp".to_owned(),
            hosts: vec![
                "gone.example.jp".to_owned(),
                "v6less.example.jp".to_owned(),
                "mx.example.jp".to_owned()
            ],
        }
    );
    assert!(error.is_permanent());
    Ok(())
}

#[tokio::test]
async fn a_host_has_its_ipv4_addresses_before_its_ipv6() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "mx.example.jp")
        .await
        .aaaa("mx.example.jp", "::1")
        .await
        .a("mx.example.jp", "127.0.0.51")
        .await
        .a("mx.example.jp", "127.0.0.52")
        .await
        .a("mx.example.jp", "127.0.0.53")
        .await;

    let mut firsts = HashSet::new();
    let resolver = resolver(&dns);
    for _ in 0..50 {
        let destinations = resolver.resolve("example.jp").await?;
        assert_eq!(destinations.len(), 1);
        let addrs: Vec<String> = destinations[0]
            .addrs
            .iter()
            .map(SocketAddr::to_string)
            .collect();
        let v4: HashSet<&str> = addrs[..3].iter().map(String::as_str).collect();
        assert_eq!(
            v4,
            HashSet::from(["127.0.0.51:25", "127.0.0.52:25", "127.0.0.53:25"])
        );
        assert_eq!(addrs[3], "[::1]:25");
        firsts.insert(addrs[0].clone());
    }
    assert!(firsts.len() > 1, "the addresses of a host are shuffled");

    let v4_only = resolver_with(
        &dns,
        ResolverOptions {
            ipv6: false,
            ..options()
        },
    );
    let destinations = v4_only.resolve("example.jp").await?;
    assert_eq!(destinations[0].addrs.len(), 3);
    assert!(destinations[0].addrs.iter().all(SocketAddr::is_ipv4));
    Ok(())
}

#[tokio::test]
async fn cname_and_ip_address_exchanges_are_followed() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("lenient.example", 10, "alias.lenient.example")
        .await
        .mx("lenient.example", 20, "127.0.0.62")
        .await
        .cname("alias.lenient.example", "real.lenient.example")
        .await
        .a("real.lenient.example", "127.0.0.61")
        .await
        // The domain itself a CNAME: its MX comes from the target.
        .cname("alias-domain.example", "lenient.example")
        .await;

    let resolver = resolver(&dns);
    let expected = [
        one("alias.lenient.example", 10, &["127.0.0.61:25"]),
        one("127.0.0.62", 20, &["127.0.0.62:25"]),
    ];
    assert_eq!(
        summary(&resolver.resolve("lenient.example").await?),
        expected
    );
    assert_eq!(
        summary(&resolver.resolve("alias-domain.example").await?),
        expected
    );
    Ok(())
}

#[tokio::test]
async fn a_changed_record_is_seen_once_its_ttl_expires() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "mx.example.jp").await;
    dns.ttl(2).a("mx.example.jp", "127.0.0.71").await;
    let resolver = resolver(&dns);

    let first = resolver.resolve("example.jp").await?;
    let started = Instant::now();
    assert_eq!(
        summary(&first),
        [one("mx.example.jp", 10, &["127.0.0.71:25"])]
    );

    dns.remove("mx.example.jp").await;
    dns.ttl(2).a("mx.example.jp", "127.0.0.72").await;
    let queries_before = dns.queries();
    let cached = resolver.resolve("example.jp").await?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the machine was too slow to see the cached answer"
    );
    assert_eq!(
        summary(&cached),
        summary(&first),
        "the old answer while its TTL lasts"
    );
    assert_eq!(dns.queries(), queries_before, "the cache answered");

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh = resolver.resolve("example.jp").await?;
    assert_eq!(
        summary(&fresh),
        [one("mx.example.jp", 10, &["127.0.0.72:25"])]
    );
    assert!(dns.queries() > queries_before);
    Ok(())
}

#[tokio::test]
async fn negative_answers_are_cached_briefly() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    // The zone would let resolvers remember "no such domain" for an hour; the resolver caps
    // that at its max_negative_ttl.
    dns.set_negative_ttl(3600).await;
    let resolver = resolver_with(
        &dns,
        ResolverOptions {
            max_negative_ttl: Duration::from_secs(1),
            ..options()
        },
    );

    let error = resolver.resolve("late.example").await.unwrap_err();
    assert!(matches!(error, ResolveError::HostUnknown { .. }), "{error}");
    let started = Instant::now();

    dns.mx("late.example", 10, "mx.late.example")
        .await
        .a("mx.late.example", "127.0.0.81")
        .await;
    let still = resolver.resolve("late.example").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "too slow to see the cache"
    );
    assert!(matches!(still, ResolveError::HostUnknown { .. }), "{still}");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let destinations = resolver.resolve("late.example").await?;
    assert_eq!(
        summary(&destinations),
        [one("mx.late.example", 10, &["127.0.0.81:25"])]
    );
    Ok(())
}

#[tokio::test]
async fn servfail_is_temporary() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.servfail("broken.example");
    dns.mx("half.example", 10, "mx.broken.example")
        .await
        .mx("half.example", 20, "mx.half.example")
        .await
        .a("mx.half.example", "127.0.0.91")
        .await
        .mx("allbroken.example", 10, "mx.broken.example")
        .await;
    let resolver = resolver(&dns);

    let error = resolver.resolve("broken.example").await.unwrap_err();
    assert!(matches!(error, ResolveError::Temporary { .. }), "{error}");
    assert!(!error.is_permanent());
    assert_eq!(error.enhanced_status(), "4.4.3");

    // A broken name server for one MX host: the others are still tried.
    let destinations = resolver.resolve("half.example").await?;
    assert_eq!(
        summary(&destinations),
        [one("mx.half.example", 20, &["127.0.0.91:25"])]
    );

    // When the only host is behind the broken server, the mail waits instead of bouncing.
    let error = resolver.resolve("allbroken.example").await.unwrap_err();
    assert!(matches!(error, ResolveError::Temporary { .. }), "{error}");

    // Failures are not cached: once the server answers, so does the resolver.
    dns.heal("broken.example");
    dns.a("mx.broken.example", "127.0.0.92").await;
    let destinations = resolver.resolve("allbroken.example").await?;
    assert_eq!(
        summary(&destinations),
        [one("mx.broken.example", 10, &["127.0.0.92:25"])]
    );
    Ok(())
}

/// Resolving through `server` with a 300 ms timeout defers the domain, and promptly.
async fn assert_defers_quickly(server: SocketAddr, domain: &str) -> anyhow::Result<()> {
    let resolver = MxResolver::new(
        ResolverMode::Server(server),
        &[],
        ResolverOptions {
            timeout: Duration::from_millis(300),
            attempts: 1,
            ..ResolverOptions::default()
        },
    )?;
    let started = Instant::now();
    let error = resolver.resolve(domain).await.unwrap_err();
    assert!(matches!(error, ResolveError::Temporary { .. }), "{error}");
    assert!(!error.is_permanent());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_temporarily() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.silent("slow.example");
    assert_defers_quickly(dns.addr(), "slow.example").await
}

#[tokio::test]
async fn no_server_listening_is_temporary() -> anyhow::Result<()> {
    // A port that was free a moment ago: nothing answers there.
    let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
    assert_defers_quickly(SocketAddr::from(([127, 0, 0, 1], port)), "example.jp").await
}

#[tokio::test]
async fn static_routes_come_before_dns() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "mx.example.jp")
        .await
        .a("mx.example.jp", "127.0.0.101")
        .await
        .mx("other.example", 10, "mx.other.example")
        .await
        .a("mx.other.example", "127.0.0.102")
        .await
        .a("relay.internal", "127.0.0.103")
        .await;
    let routes = [
        route("example.jp", "127.0.0.1:2600"),
        route(".example.jp", "[::1]:2601"),
        route("named.example", "relay.internal:2602"),
    ];
    let resolver = MxResolver::new(ResolverMode::Server(dns.addr()), &routes, options())?;

    assert_eq!(
        summary(&resolver.resolve("example.jp").await?),
        [one("127.0.0.1", 0, &["127.0.0.1:2600"])]
    );
    assert_eq!(
        summary(&resolver.resolve("Sub.Example.JP").await?),
        [one("::1", 0, &["[::1]:2601"])]
    );
    assert_eq!(
        summary(&resolver.resolve("named.example").await?),
        [one("relay.internal", 0, &["127.0.0.103:2602"])]
    );
    // No route: DNS as usual.
    assert_eq!(
        summary(&resolver.resolve("other.example").await?),
        [one("mx.other.example", 10, &["127.0.0.102:25"])]
    );

    // A route to a host that does not resolve is the operator's fault: defer, don't bounce.
    let broken = MxResolver::new(
        ResolverMode::Server(dns.addr()),
        &[route("example.jp", "missing.internal")],
        options(),
    )?;
    let error = broken.resolve("example.jp").await.unwrap_err();
    assert!(matches!(error, ResolveError::Temporary { .. }), "{error}");
    Ok(())
}

#[tokio::test]
async fn a_star_route_takes_every_domain() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    dns.mx("example.jp", 10, "mx.example.jp")
        .await
        .a("mx.example.jp", "127.0.0.111")
        .await;
    let routes = [
        route("*", "127.0.0.1:2600"),
        route("example.jp", "127.0.0.2"),
    ];
    let resolver = MxResolver::new(ResolverMode::Server(dns.addr()), &routes, options())?;

    for domain in ["anything.example", "nowhere.invalid", "[127.0.0.9]"] {
        assert_eq!(
            summary(&resolver.resolve(domain).await?),
            [one("127.0.0.1", 0, &["127.0.0.1:2600"])],
            "{domain}"
        );
    }
    assert_eq!(
        summary(&resolver.resolve("example.jp").await?),
        [one("127.0.0.2", 0, &["127.0.0.2:25"])],
        "the exact route beats *"
    );
    assert_eq!(dns.queries(), 0, "no domain reached DNS");
    Ok(())
}

#[tokio::test]
async fn static_mode_has_only_its_routes() -> anyhow::Result<()> {
    let routes = [route("example.jp", "127.0.0.1:2600")];
    let resolver = MxResolver::new(ResolverMode::Static, &routes, options())?;

    assert_eq!(
        summary(&resolver.resolve("EXAMPLE.jp.").await?),
        [one("127.0.0.1", 0, &["127.0.0.1:2600"])]
    );
    for domain in ["example.com", "sub.example.jp", "[127.0.0.1]"] {
        let error = resolver.resolve(domain).await.unwrap_err();
        assert_eq!(
            error,
            ResolveError::NoRoute {
                domain: domain.to_owned()
            }
        );
        assert!(error.is_permanent());
    }

    let named = MxResolver::new(
        ResolverMode::Static,
        &[route("*", "relay.internal:25")],
        options(),
    );
    assert!(
        matches!(named, Err(ResolverConfigError::RouteHost { .. })),
        "{named:?}"
    );
    Ok(())
}

#[tokio::test]
async fn internationalized_domains_are_looked_up_as_a_labels() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    // The test server stores the A-label form of these names.
    dns.mx("例え.jp", 10, "メール.例え.jp")
        .await
        .a("メール.例え.jp", "127.0.0.121")
        .await;
    let resolver = resolver(&dns);

    let expected = [one("xn--4dkua4c.xn--r8jz45g.jp", 10, &["127.0.0.121:25"])];
    assert_eq!(summary(&resolver.resolve("例え.jp").await?), expected);
    assert_eq!(
        summary(&resolver.resolve("XN--R8JZ45G.JP").await?),
        expected
    );

    let routed = MxResolver::new(
        ResolverMode::Static,
        &[route("例え.jp", "127.0.0.1:2600")],
        options(),
    )?;
    assert_eq!(
        summary(&routed.resolve("xn--r8jz45g.jp").await?),
        [one("127.0.0.1", 0, &["127.0.0.1:2600"])]
    );

    let error = resolver.resolve("bad domain.jp").await.unwrap_err();
    assert!(
        matches!(error, ResolveError::InvalidDomain { .. }),
        "{error}"
    );
    assert!(error.is_permanent());
    Ok(())
}

#[tokio::test]
async fn hosts_and_addresses_are_capped() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    for i in 1..=12u16 {
        let host = format!("mx{i}.many.example");
        dns.mx("many.example", i, &host)
            .await
            .a(&host, &format!("127.0.1.{i}"))
            .await;
    }
    for i in 1..=3u8 {
        let host = format!("mx{i}.wide.example");
        dns.mx("wide.example", u16::from(i), &host).await;
        for j in 1..=4u8 {
            dns.a(&host, &format!("127.0.{i}.{j}")).await;
        }
    }
    let resolver = resolver(&dns);

    let many = resolver.resolve("many.example").await?;
    let preferences: Vec<u16> = many.iter().map(|d| d.preference).collect();
    assert_eq!(preferences, (1..=10).collect::<Vec<u16>>());

    let wide = resolver.resolve("wide.example").await?;
    let counts: Vec<usize> = wide.iter().map(|d| d.addrs.len()).collect();
    assert_eq!(counts, [4, 4, 2], "10 addresses in all");

    let narrow = resolver_with(
        &dns,
        ResolverOptions {
            max_mx_hosts: 2,
            max_addresses: 5,
            ..options()
        },
    );
    let counts: Vec<usize> = narrow
        .resolve("wide.example")
        .await?
        .iter()
        .map(|d| d.addrs.len())
        .collect();
    assert_eq!(counts, [4, 1]);
    Ok(())
}

#[tokio::test]
async fn an_address_literal_is_its_own_destination() -> anyhow::Result<()> {
    let dns = TestDns::start().await?;
    let resolver = resolver(&dns);

    assert_eq!(
        summary(&resolver.resolve("[127.0.0.131]").await?),
        [one("127.0.0.131", 0, &["127.0.0.131:25"])]
    );
    assert_eq!(
        summary(&resolver.resolve("[IPv6:::1]").await?),
        [one("::1", 0, &["[::1]:25"])]
    );
    assert_eq!(dns.queries(), 0);
    Ok(())
}

/// The resolver behind the routing, for `domain verify`'s TXT questions: there in DNS mode,
/// absent in static mode (no DNS at all).
#[tokio::test]
async fn the_dns_resolver_is_shared_only_in_dns_mode() {
    let dns = TestDns::start().await.unwrap();
    assert!(resolver(&dns).dns().is_some());
    let no_dns = MxResolver::new(ResolverMode::Static, &[], options()).unwrap();
    assert!(no_dns.dns().is_none());
}
