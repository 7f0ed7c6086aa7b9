//! An HTTPS server on 127.0.0.1 with one scripted answer, standing in for a web host that
//! publishes a file (an MTA-STS policy host): a certificate for the names a test gives, issued
//! by a CA made for this server, and a count of the requests it answered.

use crate::sink::TestCa;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// What the server answers to every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Extra header lines (`Location: ...`).
    pub headers: Vec<String>,
}

impl HttpsAnswer {
    /// `200` with a `text/plain` body.
    pub fn text(body: &str) -> HttpsAnswer {
        HttpsAnswer {
            status: 200,
            content_type: "text/plain".into(),
            body: body.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }
}

/// One request as received: its request line and `Host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsRequest {
    pub line: String,
    pub host: Option<String>,
}

/// A running HTTPS server. Stops when dropped.
pub struct HttpsServer {
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    answer: Mutex<HttpsAnswer>,
    requests: Mutex<Vec<HttpsRequest>>,
}

impl HttpsServer {
    /// Binds 127.0.0.1 on a free port with a certificate for `names`.
    pub async fn start(names: &[&str], answer: HttpsAnswer) -> anyhow::Result<HttpsServer> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let tls = TestCa::issue(&names)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            answer: Mutex::new(answer),
            requests: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(serve(listener, tls.acceptor, Arc::clone(&shared)));
        Ok(HttpsServer {
            addr,
            ca: tls.ca,
            shared,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA that issued the server's certificate.
    pub fn ca_certificate(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// Answers later requests with `answer`.
    pub fn set_answer(&self, answer: HttpsAnswer) {
        *self.shared.answer.lock().unwrap() = answer;
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<HttpsRequest> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let Ok(mut stream) = acceptor.accept(tcp).await else {
                return;
            };
            // One request per connection; the head is all a GET has.
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let mut lines = head.split("\r\n");
            let line = lines.next().unwrap_or_default().to_string();
            let host = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("host"))
                .map(|(_, value)| value.trim().to_string());
            shared
                .requests
                .lock()
                .unwrap()
                .push(HttpsRequest { line, host });
            let answer = shared.answer.lock().unwrap().clone();
            let mut out = format!(
                "HTTP/1.1 {} Scripted\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                answer.status,
                answer.content_type,
                answer.body.len()
            );
            for header in &answer.headers {
                out.push_str(header);
                out.push_str("\r\n");
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            bytes.extend_from_slice(&answer.body);
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        });
    }
}
