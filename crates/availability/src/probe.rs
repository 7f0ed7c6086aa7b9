//! One probe of one target over real sockets: its HTTP (`/healthz` answers 200, and the API
//! answers a request without a key with its JSON error, which proves the API's router and
//! access check are serving, at no database cost) and its SMTP (a 220 greeting, then QUIT).

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The API path probed without a key: its answer is `401` with a JSON body.
pub const API_PROBE_PATH: &str = "/api/v1/plan";

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name its minutes are recorded under (a node's name).
    pub name: String,
    /// `host:port` of its HTTP listener.
    pub http: String,
    /// The path its HTTP is served under (`""`, or `/hikyaku` behind a proxy).
    pub http_base: String,
    /// `host:port` of its relay SMTP listener.
    pub smtp: String,
}

impl Target {
    /// A target from an `http://HOST[:PORT][/BASE]` URL (port 80 when left out).
    pub fn from_url(name: &str, http_url: &str, smtp: &str) -> Result<Target, String> {
        let rest = http_url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{http_url:?} is not an http:// URL"))?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{http_url:?} names no host"));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
            None => false,
        };
        let http = if has_port && !authority.ends_with(']') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        if !smtp
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        {
            return Err(format!("{smtp:?} is not HOST:PORT"));
        }
        Ok(Target {
            name: name.to_string(),
            http,
            http_base: base.to_string(),
            smtp: smtp.to_string(),
        })
    }
}

/// What one probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub http_up: bool,
    pub smtp_up: bool,
}

impl Probe {
    /// Both answered: the target served customers in this minute.
    pub fn up(&self) -> bool {
        self.http_up && self.smtp_up
    }
}

/// Probes the target's HTTP and SMTP at once, each within `timeout`.
pub async fn probe(target: &Target, timeout: Duration) -> Probe {
    let http = async {
        let health = format!("{}/healthz", target.http_base);
        let api = format!("{}{API_PROBE_PATH}", target.http_base);
        matches!(
            http_get(&target.http, &health, timeout).await,
            Some((200, _))
        ) && matches!(http_get(&target.http, &api, timeout).await,
                Some((status, json)) if status < 500 && json)
    };
    let (http_up, smtp_up) = tokio::join!(http, smtp_greets(&target.smtp, timeout));
    Probe { http_up, smtp_up }
}

/// `GET path` on `addr`: the status and whether the answer is JSON; `None` when nothing
/// readable came within `timeout`.
async fn http_get(addr: &str, path: &str, timeout: Duration) -> Option<(u16, bool)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: hikyaku-monitor\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        // The head is all the probe reads: a few KiB at most, whatever the body.
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()?
            .strip_prefix("HTTP/1.")?
            .get(2..5)?
            .parse::<u16>()
            .ok()?;
        let json = lines.take_while(|l| !l.is_empty()).any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("content-type")
                    && value
                        .trim()
                        .to_ascii_lowercase()
                        .starts_with("application/json")
            })
        });
        Some((status, json))
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// Whether the SMTP server at `addr` greets with 220 within `timeout` (then QUIT): a 421 or
/// 554 greeting is a server that takes no mail.
async fn smtp_greets(addr: &str, timeout: Duration) -> bool {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let mut stream = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await.ok()? == 0 || line.len() < 4 {
                return None;
            }
            if line.as_bytes()[3] != b'-' {
                break;
            }
        }
        let greeted = line.starts_with("220 ") || line.trim_end() == "220";
        // A polite goodbye, so that the server logs no broken session; its answer is not
        // waited for beyond the timeout.
        let _ = stream.get_mut().write_all(b"QUIT\r\n").await;
        line.clear();
        let _ = stream.read_line(&mut line).await;
        Some(greeted)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_from_urls() {
        let t = Target::from_url("n1", "http://10.0.0.1:8080", "10.0.0.1:2525").unwrap();
        assert_eq!(
            (t.http.as_str(), t.http_base.as_str()),
            ("10.0.0.1:8080", "")
        );
        let t = Target::from_url("n1", "http://node1.example.net/hk/", "node1:25").unwrap();
        assert_eq!(
            (t.http.as_str(), t.http_base.as_str()),
            ("node1.example.net:80", "/hk")
        );
        let t = Target::from_url("n1", "http://[::1]:8080", "[::1]:2525").unwrap();
        assert_eq!(t.http, "[::1]:8080");
        let t = Target::from_url("n1", "http://[::1]", "[::1]:2525").unwrap();
        assert_eq!(t.http, "[::1]:80");
        for (url, smtp) in [
            ("https://a:1", "a:2"),
            ("http://", "a:2"),
            ("http://a:1", "a"),
            ("http://a:1", ":25"),
        ] {
            assert!(Target::from_url("n", url, smtp).is_err(), "{url} {smtp}");
        }
    }
}
