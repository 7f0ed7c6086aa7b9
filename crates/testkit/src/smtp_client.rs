use anyhow::{Context, bail};
use hikyaku_model::smtp::EnhancedStatus;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One SMTP reply as it came over the wire: the code and the text of each line (without the code
/// and separator), the enhanced status code left in place. Not the shared
/// [`hikyaku_model::smtp::Reply`]: a test of a server must see every line as the server wrote it
/// (that each repeats the enhanced code, say), which the shared value folds away by design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// The enhanced status code at the start of the first line, if any (`5.7.1`), recognised by
    /// the shared grammar.
    pub fn enhanced(&self) -> Option<&str> {
        let first = self.lines.first()?.split(' ').next()?;
        EnhancedStatus::parse(first).map(|_| first)
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// `"250 2.0.0"`-style prefix for compact assertions.
    pub fn head(&self) -> String {
        match self.enhanced() {
            Some(e) => format!("{} {e}", self.code),
            None => self.code.to_string(),
        }
    }
}

/// A deliberately dumb SMTP client: it sends exactly the bytes a test asks for and reads replies,
/// so tests can speak well-formed or hostile SMTP over a real socket.
pub struct SmtpClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    timeout: Duration,
}

impl SmtpClient {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<(SmtpClient, Reply)> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        Self::from_stream(stream).await
    }

    /// Connects from a chosen local address (e.g. 127.0.0.2 to be a stranger on loopback).
    pub async fn connect_from(
        source: IpAddr,
        addr: SocketAddr,
    ) -> anyhow::Result<(SmtpClient, Reply)> {
        let socket = match source {
            IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket
            .connect(addr)
            .await
            .with_context(|| format!("connect {addr} from {source}"))?;
        Self::from_stream(stream).await
    }

    async fn from_stream(stream: TcpStream) -> anyhow::Result<(SmtpClient, Reply)> {
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut client = SmtpClient {
            reader: BufReader::new(r),
            writer: w,
            timeout: Duration::from_secs(30),
        };
        let greeting = client.read_reply().await?;
        Ok((client, greeting))
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer.write_all(bytes).await?;
        self.writer.flush().await?;
        Ok(())
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn command(&mut self, line: &str) -> anyhow::Result<Reply> {
        self.send_raw(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn read_reply(&mut self) -> anyhow::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(self.timeout, self.reader.read_line(&mut line))
                .await
                .context("timed out waiting for a reply")??;
            if n == 0 {
                bail!("connection closed while waiting for a reply (got {lines:?})");
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.len() < 3 || !line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
                bail!("not an SMTP reply line: {line:?}");
            }
            let code: u16 = line[..3].parse()?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Whether the server closed the connection (reads until EOF, within the timeout).
    pub async fn closed(&mut self) -> bool {
        let mut rest = String::new();
        matches!(
            tokio::time::timeout(self.timeout, self.reader.read_line(&mut rest)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// A whole transaction: MAIL, RCPT..., DATA, body (dot-stuffed here), and the final reply.
    /// Stops at the first refused step and returns that reply.
    pub async fn send_mail(
        &mut self,
        from: &str,
        to: &[&str],
        body: &str,
    ) -> anyhow::Result<Reply> {
        let reply = self.command(&format!("MAIL FROM:<{from}>")).await?;
        if reply.code != 250 {
            return Ok(reply);
        }
        for rcpt in to {
            let reply = self.command(&format!("RCPT TO:<{rcpt}>")).await?;
            if reply.code != 250 {
                return Ok(reply);
            }
        }
        let reply = self.command("DATA").await?;
        if reply.code != 354 {
            return Ok(reply);
        }
        let mut data = String::with_capacity(body.len() + 16);
        for line in body.split_inclusive('\n') {
            let line = line.trim_end_matches(['\r', '\n']);
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        data.push_str(".\r\n");
        self.send_raw(data.as_bytes()).await?;
        self.read_reply().await
    }
}
