//! The signature of every POST: `X-Hikyaku-Signature: t=<unix seconds>,v1=<hex>`, where
//! `<hex>` is HMAC-SHA256 keyed with the endpoint's signing secret (the text as shown to the
//! customer, used as bytes) over `<t>.<body>`. The receiver recomputes it, compares in constant
//! time and refuses a `t` too far from its clock, which stops replays of an old request. `v1`
//! names the scheme, so a later one can be sent beside it while receivers move over.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-hikyaku-signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Whether `header` is a valid signature of `body` under `secret`, made within `tolerance`
/// seconds of `now` (Unix seconds). What a receiver does; here for tests and as a reference.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => signatures.push(hex),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance {
        return false;
    }
    signatures.into_iter().any(|hex| {
        decode_hex(hex)
            .is_some_and(|bytes| mac(secret, timestamp, body).verify_slice(&bytes).is_ok())
    })
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_vector() {
        // HMAC-SHA256(key "secret", "1700000000.{}"), computed independently with
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            sign("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn verifies_only_the_same_body_secret_and_a_recent_time() {
        let header = sign("s3cret", 1_000, b"body");
        assert!(verify("s3cret", &header, b"body", 1_000, 300));
        assert!(verify("s3cret", &header, b"body", 1_300, 300));
        assert!(!verify("s3cret", &header, b"body", 1_301, 300), "too old");
        assert!(
            !verify("s3cret", &header, b"body", 699, 300),
            "from the future"
        );
        assert!(!verify("other", &header, b"body", 1_000, 300));
        assert!(!verify("s3cret", &header, b"bodY", 1_000, 300));
        let moved = header.replace("t=1000", "t=1001");
        assert!(
            !verify("s3cret", &moved, b"body", 1_000, 300),
            "the time is signed"
        );
        for garbage in [
            "",
            "t=1000",
            "v1=00",
            "t=x,v1=00",
            "t=1000,v1=zz",
            "t=1000,v1=abc",
        ] {
            assert!(
                !verify("s3cret", garbage, b"body", 1_000, 300),
                "{garbage:?}"
            );
        }
        // A receiver accepts a header that carries an unknown scheme beside v1.
        let extended = format!("{header},v2=ffff");
        assert!(verify("s3cret", &extended, b"body", 1_000, 300));
    }
}
