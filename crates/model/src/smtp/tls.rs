use serde::{Deserialize, Serialize};

/// The TLS session a connection negotiated, by the IANA names of its parameters, for logs and
/// the send log. The same value on both sides: the SMTP server describes a client's STARTTLS
/// with it, the delivery client the session it opened to a remote server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol: String,
    /// E.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// Whether the peer's certificate was checked against trusted roots and the name we meant
    /// to reach. A server that asks no client certificate says `false`.
    pub verified: bool,
}

#[cfg(feature = "rustls")]
impl TlsInfo {
    /// What a finished rustls handshake agreed on, client or server side alike (both
    /// connections are a `CommonState`). A version or suite rustls has no name for is shown by
    /// its number rather than dropped.
    pub fn of(session: &rustls::CommonState, verified: bool) -> TlsInfo {
        let protocol = session
            .protocol_version()
            .map(|version| {
                version
                    .as_str()
                    .map_or_else(|| format!("{version:?}"), str::to_string)
            })
            .unwrap_or_default();
        let cipher_suite = session
            .negotiated_cipher_suite()
            .map(|suite| {
                let suite = suite.suite();
                suite
                    .as_str()
                    .map_or_else(|| format!("{suite:?}"), str::to_string)
            })
            .unwrap_or_default();
        TlsInfo {
            protocol,
            cipher_suite,
            verified,
        }
    }
}
