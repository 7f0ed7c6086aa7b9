//! Fetching a policy file: `https://mta-sts.<domain>/.well-known/mta-sts.txt`, with the
//! certificate verified for that name, no redirects followed, one deadline on the whole
//! exchange, at most 64 KiB read, and only a `200` with `text/plain` taken (RFC 8461 section
//! 3.3).

use super::policy::{MAX_POLICY_BYTES, Policy, PolicyError, parse_policy};
use bytes::Bytes;
use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const WELL_KNOWN_PATH: &str = "/.well-known/mta-sts.txt";

/// Why no policy came back from the policy host.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {host}: {reason}")]
    Connect { host: String, reason: String },
    #[error("TLS with {host} failed: {source}")]
    Tls {
        host: String,
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("HTTP status {0} (redirects are not followed)")]
    Status(StatusCode),
    #[error("content type {0:?}, not text/plain")]
    ContentType(String),
    #[error("no complete answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Fetches policy files. Cheap to clone.
#[derive(Clone)]
pub struct PolicyFetcher {
    dns: TokioResolver,
    tls: TlsConnector,
    port: u16,
    timeout: Duration,
}

impl PolicyFetcher {
    /// `roots` are the client's (the Mozilla roots when `None`), so that tests trusting a test
    /// CA for SMTP trust it for policy hosts too.
    pub fn new(
        dns: TokioResolver,
        roots: Option<Arc<RootCertStore>>,
        port: u16,
        timeout: Duration,
    ) -> Result<PolicyFetcher, rustls::Error> {
        let roots = roots.unwrap_or_else(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        });
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(PolicyFetcher {
            dns,
            tls: TlsConnector::from(Arc::new(config)),
            port,
            timeout,
        })
    }

    /// The policy of `domain` (lower-case A-labels, no final dot).
    pub async fn fetch(&self, domain: &str) -> Result<Policy, FetchError> {
        tokio::time::timeout(self.timeout, self.exchange(domain))
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }

    async fn exchange(&self, domain: &str) -> Result<Policy, FetchError> {
        let host = format!("mta-sts.{domain}");
        let addrs: Vec<SocketAddr> = self
            .dns
            .lookup_ip(format!("{host}."))
            .await
            .map_err(|e| FetchError::Resolve {
                host: host.clone(),
                reason: e.to_string(),
            })?
            .iter()
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect();
        let mut tcp = None;
        let mut last_error = String::from("no address");
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
        let tcp = tcp.ok_or_else(|| FetchError::Connect {
            host: host.clone(),
            reason: last_error,
        })?;
        let name = ServerName::try_from(host.clone()).map_err(|e| FetchError::Connect {
            host: host.clone(),
            reason: e.to_string(),
        })?;
        let stream = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|source| FetchError::Tls {
                host: host.clone(),
                source,
            })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // Dropped (and so stopped) with this future: at the deadline, or once the body is read.
        let driver = tokio::spawn(connection);
        let _abort = AbortOnDrop(driver);
        let host_header = match self.port {
            443 => host.clone(),
            port => format!("{host}:{port}"),
        };
        let request = Request::get(WELL_KNOWN_PATH)
            .header(HOST, host_header)
            .header(USER_AGENT, concat!("Hikyaku/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .expect("a constant request is valid");
        let response = sender.send_request(request).await?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(response.status()));
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_text_plain(&content_type) {
            return Err(FetchError::ContentType(content_type));
        }
        let mut body = response.into_body();
        let mut read = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame?.data_ref() {
                if read.len() + data.len() > MAX_POLICY_BYTES {
                    return Err(PolicyError::TooLarge.into());
                }
                read.extend_from_slice(data);
            }
        }
        Ok(parse_policy(&read)?)
    }
}

/// `text/plain`, any case, with or without parameters (`; charset=utf-8`).
fn is_text_plain(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/plain"))
}

struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_types() {
        for (value, ok) in [
            ("text/plain", true),
            ("Text/Plain; charset=utf-8", true),
            (" text/plain ;charset=us-ascii", true),
            ("text/html", false),
            ("text/plainx", false),
            ("", false),
            ("application/octet-stream", false),
        ] {
            assert_eq!(super::is_text_plain(value), ok, "{value:?}");
        }
    }
}
