//! Sessions, CSRF tokens, the login rate limits and TOTP codes.
//!
//! A session is a random token in an `HttpOnly; Secure; SameSite=Lax` cookie; the store keeps
//! only its SHA-256. Every form carries a CSRF token derived from the browser's cookie (the
//! session's, or before login a pre-session cookie's): a page of another site can neither read
//! the cookie nor so compute the token, and a form without it is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const SESSION_COOKIE: &str = "hk_session";
/// Before login: what the login form's CSRF token is derived from.
pub const PRE_COOKIE: &str = "hk_pre";
/// How long a session lasts after login, activity or not: a working day.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long the half-session between password and TOTP code lasts.
pub const SECOND_FACTOR_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// A new random token: 32 bytes (256 bits), URL-safe base64.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The CSRF token of forms shown to the holder of `cookie_token`. A label of its own, so the
/// CSRF token (which appears in pages) never equals what the store keeps.
pub fn csrf_token(cookie_token: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"hikyaku/console-csrf/v1\0");
    hash.update(cookie_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..24])
}

/// Whether `presented` is the CSRF token for `cookie_token`, in constant time.
pub fn csrf_matches(cookie_token: &str, presented: &str) -> bool {
    let expected = csrf_token(cookie_token);
    if expected.len() != presented.len() {
        return false;
    }
    expected
        .bytes()
        .zip(presented.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// A `Set-Cookie` value for `name`; `None` clears it.
pub fn set_cookie(name: &str, value: Option<&str>, max_age: Duration) -> String {
    match value {
        Some(value) => format!(
            "{name}={value}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age={}",
            max_age.as_secs()
        ),
        None => format!("{name}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0"),
    }
}

/// The value of cookie `name` in the request's `Cookie` fields, if it looks like one of our
/// tokens (anything else is as good as none).
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Token buckets by key (an account, an address), in this node's memory: each node limits on
/// its own, so behind `n` nodes a guesser gets `n` times the rate, still far too slow for a
/// password or a six-digit code.
pub struct Limiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

const MAX_BUCKETS: usize = 100_000;

impl Limiter {
    pub fn new(per_second: f64, burst: u32) -> Self {
        Limiter {
            per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one attempt for `key`: `false` when it has none left.
    pub fn take(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + rate * now.saturating_duration_since(*at).as_secs_f64() < burst
            });
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The login limits: per account (contract and address) a burst of 5 then one a minute, and
/// per client address a burst of 20 then one every 6 seconds.
pub struct LoginLimits {
    pub account: Limiter,
    pub address: Limiter,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            account: Limiter::new(1.0 / 60.0, 5),
            address: Limiter::new(1.0 / 6.0, 20),
        }
    }
}

/// The TOTP step (RFC 6238: 30 seconds from the epoch) of `unix_seconds`.
pub fn totp_step(unix_seconds: u64) -> u64 {
    unix_seconds / 30
}

/// The six-digit SHA-1 code of `secret` for `step`.
pub fn totp_code(secret: &[u8], step: u64) -> String {
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, secret, step * 30)
}

/// The step `code` is right for, trying the current step and one either side (a phone's clock
/// may be off by some seconds), in constant time per step.
pub fn totp_verify(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = totp_step(unix_seconds);
    [now.saturating_sub(1), now, now + 1]
        .into_iter()
        .find(|step| {
            totp_code(secret, *step)
                .bytes()
                .zip(code.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        })
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(ALPHABET[(n >> (35 - i * 5) & 31) as usize] as char);
        }
    }
    out
}

/// The bytes of a base32 secret (any case, spaces ignored); `None` if it is not base32.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
    {
        let v = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        bits = (bits << 5 | u64::from(v)) & 0xFFFF;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_test_vectors() {
        // RFC 6238 appendix B, SHA-1, the last six of its eight digits.
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(totp_code(secret, totp_step(time)), code, "{time}");
            assert_eq!(totp_verify(secret, code, time), Some(totp_step(time)));
        }
        // One step either side is taken, two are not.
        assert!(totp_verify(secret, "287082", 59 + 30).is_some());
        assert!(totp_verify(secret, "287082", 59 + 60).is_none());
        for bad in ["", "28708", "2870822", "28708a", " 287082x", "２８７０８２"] {
            assert!(totp_verify(secret, bad, 59).is_none(), "{bad}");
        }
    }

    #[test]
    fn base32_round_trips_and_refuses_other_text() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(from_base32("mzxw 6ytb oi").unwrap(), b"foobar");
        let secret: Vec<u8> = (0..20).collect();
        assert_eq!(from_base32(&base32(&secret)).unwrap(), secret);
        assert!(from_base32("MZXW1").is_none() && from_base32("héllo").is_none());
    }

    #[test]
    fn csrf_tokens_are_tied_to_the_cookie() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(csrf_matches(&a, &csrf_token(&a)));
        assert!(!csrf_matches(&a, &csrf_token(&b)));
        assert!(!csrf_matches(&a, ""));
        assert_ne!(csrf_token(&a).as_bytes(), token_hash(&a).as_slice());
    }

    #[test]
    fn cookies_are_found_and_strange_values_ignored() {
        let token = new_token();
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("a=b; {SESSION_COOKIE}={token}; c=d")
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some(token));
        assert_eq!(cookie(&headers, PRE_COOKIE), None);
        headers.insert(
            axum::http::header::COOKIE,
            format!("{SESSION_COOKIE}=../../etc; x").parse().unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), None);
        let header = set_cookie(SESSION_COOKIE, Some("t"), SESSION_LIFETIME);
        for part in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=43200",
        ] {
            assert!(header.contains(part), "{header}");
        }
    }

    #[test]
    fn the_limiter_allows_its_burst_then_its_rate() {
        let limiter = Limiter::new(1.0 / 60.0, 5);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.take("acct", t0));
        }
        assert!(!limiter.take("acct", t0));
        assert!(limiter.take("other", t0));
        assert!(limiter.take("acct", t0 + Duration::from_secs(61)));
        assert!(!limiter.take("acct", t0 + Duration::from_secs(62)));
    }
}
