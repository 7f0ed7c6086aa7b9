//! The limiter as tables, with the time handed in.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::{RateLimitSettings, RateLimiter, Verdict};
use Verdict::{Answer, Drop, Slip};

fn new_limiter(responses_per_second: u32, slip: u32) -> (RateLimiter, Instant) {
    let origin = Instant::now();
    let settings = RateLimitSettings {
        responses_per_second,
        slip,
        ..RateLimitSettings::default()
    };
    (RateLimiter::new(settings, origin).unwrap(), origin)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// `n` responses to `client` at `at`.
fn verdicts(limiter: &RateLimiter, client: &str, at: Instant, n: usize) -> Vec<Verdict> {
    (0..n).map(|_| limiter.check(ip(client), at)).collect()
}

#[test]
fn zero_responses_per_second_limits_nothing() {
    let settings = RateLimitSettings {
        responses_per_second: 0,
        ..RateLimitSettings::default()
    };
    assert!(RateLimiter::new(settings, Instant::now()).is_none());
}

#[test]
fn a_burst_of_one_second_then_the_slip_rhythm() {
    // (responses per second, slip, what the responses after the burst get)
    let table = [
        (20, 2, vec![Slip, Drop, Slip, Drop, Slip, Drop]),
        (20, 1, vec![Slip, Slip, Slip, Slip]),
        (20, 0, vec![Drop, Drop, Drop, Drop]),
        (5, 3, vec![Slip, Drop, Drop, Slip, Drop, Drop, Slip]),
    ];
    for (rate, slip, over) in table {
        let (limiter, t0) = new_limiter(rate, slip);
        let burst = verdicts(&limiter, "192.0.2.1", t0, rate as usize);
        assert!(burst.iter().all(|v| *v == Answer), "{rate}/s: {burst:?}");
        let after = verdicts(&limiter, "192.0.2.1", t0, over.len());
        assert_eq!(after, over, "{rate}/s, slip {slip}");
    }
}

#[test]
fn the_budget_refills_at_the_rate() {
    let (limiter, t0) = new_limiter(20, 2);
    verdicts(&limiter, "192.0.2.1", t0, 25);
    // One response's worth (50 ms at 20/s) later: one answer, then over again.
    // (The slip's rhythm goes on: five over the limit so far, so the sixth is dropped.)
    assert_eq!(
        verdicts(&limiter, "192.0.2.1", t0 + ms(50), 2),
        [Answer, Drop]
    );
    // Half a second: ten.
    let half = verdicts(&limiter, "192.0.2.1", t0 + ms(550), 11);
    assert_eq!(
        half.iter().filter(|v| **v == Answer).count(),
        10,
        "{half:?}"
    );
    // A quiet second makes the budget whole, no more: twenty answers, the 21st over.
    let whole = verdicts(&limiter, "192.0.2.1", t0 + ms(5_000), 21);
    assert_eq!(whole[..20], [Answer; 20]);
    assert_ne!(whole[20], Answer);
    // A steady 20/s is never limited.
    let (steady, t0) = new_limiter(20, 2);
    for i in 0..200 {
        assert_eq!(
            steady.check(ip("192.0.2.1"), t0 + ms(50 * i)),
            Answer,
            "{i}"
        );
    }
}

#[test]
fn networks_have_their_own_budgets() {
    // (the client that used up the budget, another client, whether the other shares it)
    let table = [
        ("192.0.2.1", "192.0.2.254", true),
        ("192.0.2.1", "192.0.3.1", false),
        ("127.0.0.1", "127.0.0.2", true),
        // IPv4 clients of a dual-stack socket are IPv4 networks.
        ("192.0.2.1", "::ffff:192.0.2.9", true),
        // /56: the first two hex digits of the fourth group.
        ("2001:db8:0:1::1", "2001:db8:0:ff::53", true),
        ("2001:db8:0:1::1", "2001:db8:0:100::1", false),
        ("2001:db8::1", "2001:db9::1", false),
        // 192.0.2.0 as IPv6 is not the IPv4 network.
        ("192.0.2.1", "::c000:201", false),
    ];
    for (busy, other, shared) in table {
        let (limiter, t0) = new_limiter(20, 2);
        verdicts(&limiter, busy, t0, 20);
        let verdict = limiter.check(ip(other), t0);
        assert_eq!(
            verdict != Answer,
            shared,
            "{busy} then {other}: {verdict:?}"
        );
    }
}

#[test]
fn prefix_lengths_are_settings() {
    let origin = Instant::now();
    let settings = RateLimitSettings {
        responses_per_second: 1,
        slip: 0,
        ipv4_prefix_len: 32,
        ipv6_prefix_len: 64,
        ..RateLimitSettings::default()
    };
    let limiter = RateLimiter::new(settings, origin).unwrap();
    for (client, verdict) in [
        ("192.0.2.1", Answer),
        ("192.0.2.1", Drop),
        ("192.0.2.2", Answer),
        ("2001:db8:0:1::1", Answer),
        ("2001:db8:0:1:ffff::1", Drop),
        ("2001:db8:0:2::1", Answer),
    ] {
        assert_eq!(limiter.check(ip(client), origin), verdict, "{client}");
    }
}

#[test]
fn a_spray_of_addresses_neither_grows_the_table_nor_frees_a_limited_network() {
    let origin = Instant::now();
    let settings = RateLimitSettings {
        table_size: 1024,
        ..RateLimitSettings::default()
    };
    let limiter = RateLimiter::new(settings, origin).unwrap();
    let victim = ip("198.51.100.7");
    verdicts(&limiter, "198.51.100.7", origin, 20);

    // 100,000 networks within 0.1 s, one question each, and the victim's network asked
    // 10,000 times among them: it may earn 2 answers in that time (20/s), no more.
    let mut victim_answers = 0;
    for i in 0..100_000u32 {
        let at = origin + Duration::from_micros(u64::from(i));
        let sprayed = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i << 8)));
        assert_eq!(limiter.check(sprayed, at), Answer, "{sprayed}");
        if i % 10 == 0 && limiter.check(victim, at) == Answer {
            victim_answers += 1;
        }
    }
    assert!(victim_answers <= 2, "{victim_answers} answers");
    assert_eq!(limiter.capacity(), 1024);
}
