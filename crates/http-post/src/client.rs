use crate::guard::{AddressPolicy, Resolve};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// How the poster talks to endpoints.
#[derive(Clone)]
pub struct PosterSettings {
    /// Limit on the whole exchange: resolving, connecting, sending, the answer's head and the
    /// part of its body that is read.
    pub request_timeout: Duration,
    /// Limit on resolving the host and opening the connection (within the request timeout).
    pub connect_timeout: Duration,
    /// Trust anchors for `https://` endpoints; the Mozilla roots of `webpki-roots` when `None`
    /// (the same set on every machine, whatever the host's CA bundle). Tests pass their own.
    pub roots: Option<Arc<RootCertStore>>,
    /// How many bytes of the answer's body are read (and returned); the rest is never read.
    pub answer_limit: usize,
    /// Where host names are looked up; the system's resolver (`getaddrinfo`) when `None`.
    pub resolver: Option<Arc<dyn Resolve>>,
    /// Which addresses may be connected to.
    pub addresses: AddressPolicy,
}

impl Default for PosterSettings {
    fn default() -> Self {
        PosterSettings {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            roots: None,
            answer_limit: 0,
            resolver: None,
            addresses: AddressPolicy::Any,
        }
    }
}

impl std::fmt::Debug for PosterSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosterSettings")
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("answer_limit", &self.answer_limit)
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

/// Why a POST got no HTTP answer. The text goes into the attempt log.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(String),
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// The endpoint's address is one the poster may not connect to (loopback, private, ...).
    #[error("{host} resolves to {address}, which is not a public address")]
    Forbidden { host: String, address: IpAddr },
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
    },
    #[error("no connection to {host}:{port} within {timeout:?}")]
    ConnectTimeout {
        host: String,
        port: u16,
        timeout: Duration,
    },
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    #[error("invalid request: {0}")]
    Request(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// An endpoint's answer: its status and the first bytes of its body (at most the poster's
/// `answer_limit`; fewer when the body ended or the deadline came first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub head: Bytes,
}

/// POSTs bodies to `http://` and `https://` endpoints, one connection per request: posts are
/// seconds to hours apart per endpoint, so a pool would hold idle connections for nothing.
/// Redirects are never followed: a 3xx is an answer like any other.
#[derive(Clone)]
pub struct HttpPoster {
    tls: TlsConnector,
    settings: PosterSettings,
}

impl std::fmt::Debug for HttpPoster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPoster")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl HttpPoster {
    pub fn new(settings: PosterSettings) -> Result<HttpPoster, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = settings.roots.clone().unwrap_or_else(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        });
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(HttpPoster {
            tls: TlsConnector::from(Arc::new(config)),
            settings,
        })
    }

    /// POSTs `body` to `url` with `headers` and returns the answer's status. A user name and
    /// password in the URL (`https://user:pw@host/`) are sent as HTTP Basic authentication.
    pub async fn post(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<StatusCode, PostError> {
        Ok(self.send(url, content_type, headers, body).await?.status)
    }

    /// As [`HttpPoster::post`], and also reads the first `answer_limit` bytes of the answer's
    /// body within what is left of the request timeout.
    pub async fn send(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Answer, PostError> {
        let timeout = self.settings.request_timeout;
        let deadline = Instant::now() + timeout;
        let (response, _connection) =
            tokio::time::timeout_at(deadline, self.exchange(url, content_type, headers, body))
                .await
                .map_err(|_| PostError::Timeout(timeout))??;
        let status = response.status();
        let limit = self.settings.answer_limit;
        let mut head = BytesMut::new();
        if limit > 0 {
            let mut body = response.into_body();
            // An answer that trickles in, or never ends, is cut at the deadline: the status
            // is what counts, the body is only for the attempt log.
            let _ = tokio::time::timeout_at(deadline, async {
                while head.len() < limit {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Some(data) = frame.data_ref() {
                                let room = limit - head.len();
                                head.extend_from_slice(&data[..data.len().min(room)]);
                            }
                        }
                        Some(Err(_)) | None => break,
                    }
                }
            })
            .await;
        }
        Ok(Answer {
            status,
            head: head.freeze(),
        })
    }

    async fn exchange(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Exchanged, PostError> {
        let target = Target::parse(url)?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(target.path_and_query.as_str())
            .header(HOST, target.host_header.as_str())
            .header(USER_AGENT, concat!("Hikyaku/", env!("CARGO_PKG_VERSION")))
            .header(CONTENT_TYPE, content_type);
        if let Some(credentials) = &target.credentials {
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            request = request.header(AUTHORIZATION, format!("Basic {encoded}"));
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| PostError::Request(e.to_string()))?;

        let connect_timeout = self.settings.connect_timeout;
        let tcp = tokio::time::timeout(connect_timeout, self.connect(&target))
            .await
            .map_err(|_| PostError::ConnectTimeout {
                host: target.host.clone(),
                port: target.port,
                timeout: connect_timeout,
            })??;
        let _ = tcp.set_nodelay(true);
        if target.tls {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| PostError::InvalidUrl(format!("{url}: {e}")))?;
            let stream = self.tls.connect(name, tcp).await.map_err(PostError::Tls)?;
            send(stream, request).await
        } else {
            send(tcp, request).await
        }
    }

    /// Resolves the host once, keeps the addresses the policy allows, and connects to the first
    /// that answers: the address checked is the address connected to, so a name that resolves
    /// differently a moment later (DNS rebinding) cannot slip past the check.
    async fn connect(&self, target: &Target) -> Result<TcpStream, PostError> {
        let resolved: Vec<IpAddr> = match target.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let found = match &self.settings.resolver {
                    Some(resolver) => resolver.lookup(&target.host).await,
                    None => tokio::net::lookup_host((target.host.as_str(), target.port))
                        .await
                        .map(|addrs| addrs.map(|a| a.ip()).collect()),
                };
                found.map_err(|e| PostError::Resolve {
                    host: target.host.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        let Some(first) = resolved.first().copied() else {
            return Err(PostError::Resolve {
                host: target.host.clone(),
                reason: "no address".to_string(),
            });
        };
        let allowed: Vec<IpAddr> = resolved
            .into_iter()
            .filter(|ip| self.settings.addresses.allows(*ip))
            .collect();
        if allowed.is_empty() {
            return Err(PostError::Forbidden {
                host: target.host.clone(),
                address: first,
            });
        }
        let mut last_error = None;
        for ip in allowed {
            match TcpStream::connect(SocketAddr::new(ip, target.port)).await {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last_error = Some(e),
            }
        }
        Err(PostError::Connect {
            host: target.host.clone(),
            port: target.port,
            source: last_error.unwrap_or_else(|| std::io::Error::other("no address")),
        })
    }
}

type Exchanged = (hyper::Response<hyper::body::Incoming>, Connection);

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Exchanged, PostError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection does the I/O; it is stopped once the answer has been read as far as we
    // read it (we never reuse it), so an endless body cannot keep it alive.
    let driver = Connection(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender.send_request(request).await?;
    Ok((response, driver))
}

/// The task driving one connection, aborted when dropped.
pub(crate) struct Connection(tokio::task::JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The parts of an endpoint URL a request needs.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// Without the brackets of an IPv6 literal.
    host: String,
    port: u16,
    /// `host` or `host:port`, as the `Host` header says it.
    host_header: String,
    path_and_query: String,
    /// `user:password`, percent-decoded.
    credentials: Option<String>,
}

impl Target {
    fn parse(url: &str) -> Result<Target, PostError> {
        let invalid = |why: &str| PostError::InvalidUrl(format!("{url}: {why}"));
        let without_fragment = url.split('#').next().unwrap_or_default();
        let uri: Uri = without_fragment.parse().map_err(|_| invalid("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("not http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let host_and_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, rest)| rest);
        let credentials = authority
            .as_str()
            .rsplit_once('@')
            .map(|(userinfo, _)| percent_decode(userinfo));
        Ok(Target {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            host_header: host_and_port.to_string(),
            path_and_query: uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.as_str().to_string()),
            credentials,
        })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_become_targets() {
        let t = Target::parse("https://hooks.example.com/in?x=1#frag").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "hooks.example.com".into(),
                port: 443,
                host_header: "hooks.example.com".into(),
                path_and_query: "/in?x=1".into(),
                credentials: None,
            }
        );
        let t = Target::parse("http://u%40x:p%3Aw@127.0.0.1:8080").unwrap();
        assert_eq!(t.port, 8080);
        assert_eq!(t.host_header, "127.0.0.1:8080");
        assert_eq!(t.path_and_query, "/");
        assert_eq!(t.credentials.as_deref(), Some("u@x:p:w"));
        let t = Target::parse("http://[::1]:9000/p").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.host_header, "[::1]:9000");
        for bad in [
            "",
            "ftp://example.com/",
            "/relative",
            "http://",
            "no url at all",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }
}
