//! AUTH PLAIN (RFC 4616) and LOGIN decoding, and the per-IP failure throttle.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients differ on base64 padding; the content is what matters.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `Username:` and `Password:`, the customary AUTH LOGIN challenges.
pub(crate) const LOGIN_USERNAME_CHALLENGE: &str = "VXNlcm5hbWU6";
pub(crate) const LOGIN_PASSWORD_CHALLENGE: &str = "UGFzc3dvcmQ6";

/// Why a SASL response could not be turned into credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaslError {
    /// Not base64, or not UTF-8 inside: a malformed response (`501`).
    Malformed,
    /// PLAIN asked to act as someone else (an authorization identity we do not grant): `535`.
    ForeignAuthorization,
}

/// Decodes one base64 SASL response (`=` is the empty response, RFC 4954 §4).
pub(crate) fn decode_response(response: &str) -> Result<String, SaslError> {
    let bytes = if response == "=" {
        Vec::new()
    } else {
        BASE64.decode(response).map_err(|_| SaslError::Malformed)?
    };
    String::from_utf8(bytes).map_err(|_| SaslError::Malformed)
}

/// Splits a PLAIN response into user name and password.
pub(crate) fn decode_plain(response: &str) -> Result<(String, String), SaslError> {
    let message = decode_response(response)?;
    let mut parts = message.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if authcid.is_empty() {
        return Err(SaslError::Malformed);
    }
    if !authzid.is_empty() && authzid != authcid {
        return Err(SaslError::ForeignAuthorization);
    }
    Ok((authcid.to_string(), password.to_string()))
}

/// Failed AUTH attempts per source address, shared by all the connections of one or more
/// listeners (pass the same `Arc` to each [`crate::Server`]). After `limit` failures within
/// `window` of the first one, that source gets `454 4.7.0` until the window has passed.
///
/// IPv6 sources are counted per /64, because one host commonly owns a whole /64. At most
/// [`AuthFailures::MAX_TRACKED`] sources are remembered; beyond that, new sources go
/// uncounted until old entries expire, so the table itself cannot be used to exhaust memory.
#[derive(Debug)]
pub struct AuthFailures {
    limit: u32,
    window: Duration,
    sources: Mutex<HashMap<IpAddr, FailureRecord>>,
}

#[derive(Debug, Clone, Copy)]
struct FailureRecord {
    first: Instant,
    count: u32,
}

impl AuthFailures {
    pub const MAX_TRACKED: usize = 100_000;

    pub fn new(limit: u32, window: Duration) -> Self {
        AuthFailures {
            limit,
            window,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` has used up its failures for now.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let sources = self.lock();
        sources.get(&source_key(ip)).is_some_and(|record| {
            record.count >= self.limit && now.duration_since(record.first) < self.window
        })
    }

    /// Counts one failed attempt from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut sources = self.lock();
        let key = source_key(ip);
        if !sources.contains_key(&key) && sources.len() >= Self::MAX_TRACKED {
            sources.retain(|_, record| now.duration_since(record.first) < self.window);
            if sources.len() >= Self::MAX_TRACKED {
                return;
            }
        }
        let record = sources.entry(key).or_insert(FailureRecord {
            first: now,
            count: 0,
        });
        if now.duration_since(record.first) >= self.window {
            *record = FailureRecord {
                first: now,
                count: 0,
            };
        }
        record.count = record.count.saturating_add(1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, FailureRecord>> {
        // The map stays consistent even if a holder panicked: every update is a single write.
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plain_responses() {
        type Case = (
            &'static str,
            Result<(&'static str, &'static str), SaslError>,
        );
        let table: &[Case] = &[
            ("AGFsaWNlAHNlY3JldA==", Ok(("alice", "secret"))),
            ("AGFsaWNlAHNlY3JldA", Ok(("alice", "secret"))),
            ("YWxpY2UAYWxpY2UAc2VjcmV0", Ok(("alice", "secret"))),
            (
                "Ym9iAGFsaWNlAHNlY3JldA==",
                Err(SaslError::ForeignAuthorization),
            ),
            ("AGFsaWNlAA==", Ok(("alice", ""))),
            ("YWxpY2U=", Err(SaslError::Malformed)),
            ("AABzZWNyZXQ=", Err(SaslError::Malformed)),
            ("AGEAYgBj", Err(SaslError::Malformed)),
            ("not base64!", Err(SaslError::Malformed)),
            ("=", Err(SaslError::Malformed)),
            ("AP8AYQ==", Err(SaslError::Malformed)),
        ];
        for (response, expected) in table {
            let got = decode_plain(response);
            let got = got
                .as_ref()
                .map(|(u, p)| (u.as_str(), p.as_str()))
                .map_err(|e| *e);
            assert_eq!(got, *expected, "{response}");
        }
        assert_eq!(decode_response("="), Ok(String::new()));
        assert_eq!(
            decode_response(LOGIN_USERNAME_CHALLENGE).as_deref(),
            Ok("Username:")
        );
        assert_eq!(
            decode_response(LOGIN_PASSWORD_CHALLENGE).as_deref(),
            Ok("Password:")
        );
    }

    #[test]
    fn throttles_per_source_within_the_window() {
        let failures = AuthFailures::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..3 {
            assert!(!failures.is_blocked(a, t0), "blocked after {i} failures");
            failures.record_failure(a, t0 + Duration::from_secs(i));
        }
        assert!(failures.is_blocked(a, t0 + Duration::from_secs(10)));
        assert!(!failures.is_blocked(b, t0 + Duration::from_secs(10)));
        assert!(
            !failures.is_blocked(a, t0 + Duration::from_secs(61)),
            "window over"
        );
        failures.record_failure(a, t0 + Duration::from_secs(61));
        assert!(
            !failures.is_blocked(a, t0 + Duration::from_secs(62)),
            "counting restarted"
        );
    }

    #[test]
    fn counts_ipv6_per_slash_64_and_mapped_ipv4_as_ipv4() {
        let failures = AuthFailures::new(1, Duration::from_secs(60));
        let now = Instant::now();
        failures.record_failure("2001:db8:1:2::1".parse().unwrap(), now);
        assert!(failures.is_blocked("2001:db8:1:2:ffff::9".parse().unwrap(), now));
        assert!(!failures.is_blocked("2001:db8:1:3::1".parse().unwrap(), now));
        failures.record_failure("::ffff:192.0.2.7".parse().unwrap(), now);
        assert!(failures.is_blocked("192.0.2.7".parse().unwrap(), now));
    }
}
