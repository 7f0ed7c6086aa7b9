use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How the poster talks to endpoints.
#[derive(Debug, Clone)]
pub struct PosterSettings {
    /// Limit on connecting, sending and receiving the answer's head, together.
    pub request_timeout: Duration,
    /// Trust anchors for `https://` endpoints; the Mozilla roots of `webpki-roots` when `None`
    /// (the same set on every machine, whatever the host's CA bundle). Tests pass their own.
    pub roots: Option<Arc<RootCertStore>>,
}

/// Why a POST got no HTTP answer. The text goes into the attempt log.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(String),
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: std::io::Error,
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

/// POSTs bodies to `http://` and `https://` endpoints, one connection per request: posts are
/// seconds to hours apart per endpoint, so a pool would hold idle connections for nothing.
#[derive(Clone)]
pub struct HttpPoster {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for HttpPoster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpPoster")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpPoster {
    pub fn new(settings: PosterSettings) -> Result<HttpPoster, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = settings.roots.unwrap_or_else(|| {
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
            timeout: settings.request_timeout,
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
        tokio::time::timeout(
            self.timeout,
            self.exchange(url, content_type, headers, body),
        )
        .await
        .map_err(|_| PostError::Timeout(self.timeout))?
    }

    async fn exchange(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<StatusCode, PostError> {
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

        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|source| PostError::Connect {
                host: target.host.clone(),
                port: target.port,
                source,
            })?;
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
}

async fn send<S>(stream: S, request: Request<Full<Bytes>>) -> Result<StatusCode, PostError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection does the I/O; it ends when the response is dropped (we never reuse it).
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await;
    driver.abort();
    // The answer's body is not read: only the status matters, and an endpoint cannot make us
    // hold or read a large or endless body.
    Ok(response?.status())
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
