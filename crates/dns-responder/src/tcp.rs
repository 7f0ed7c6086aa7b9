//! DNS over TCP with limits: at most `max_connections` open (one more is closed as soon as it
//! is accepted), each closed when a whole question does not arrive within `idle_timeout` or
//! after `max_queries` answers. hickory's TCP listener has an idle timeout but neither cap, so
//! the accept loop is ours; the answers come from the same handler as over UDP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::net::NetError;
use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Header, MessageType, ResponseCode};
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::responder::Handler;

/// The limits of DNS over TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections open at once, over all listeners; the next is closed at once.
    pub max_connections: usize,
    /// How long a connection may take to send its next whole question (and to take an answer).
    pub idle_timeout: Duration,
    /// Questions answered on one connection before it is closed.
    pub max_queries: u32,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_connections: 100,
            idle_timeout: Duration::from_secs(10),
            max_queries: 100,
        }
    }
}

/// Accepts connections on `listener` until `stopped`; then waits for the open connections to
/// finish the answer they are writing, if any.
pub(crate) async fn serve(
    listener: TcpListener,
    limits: TcpLimits,
    open: Arc<Semaphore>,
    handler: Handler,
    metrics: Metrics,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, mostly: give the open connections time to end rather than
                // spin.
                tracing::debug!(%error, "the DNS responder could not accept a TCP connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics.tcp_over_max_connections.increment(1);
            drop(stream);
            continue;
        };
        let connection = Connection {
            stream,
            peer,
            limits: limits.clone(),
            handler: handler.clone(),
            metrics: metrics.clone(),
        };
        let stopped = stopped.clone();
        connections.spawn(async move {
            connection.serve(stopped).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    connections.join_all().await;
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    limits: TcpLimits,
    handler: Handler,
    metrics: Metrics,
}

impl Connection {
    /// Answers questions in order, one at a time, until the client closes, a limit is reached,
    /// the stream breaks or the responder stops (an answer being written is finished first).
    async fn serve(mut self, mut stopped: watch::Receiver<bool>) {
        for _ in 0..self.limits.max_queries {
            let idle = self.limits.idle_timeout;
            let question = tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => return,
                read = tokio::time::timeout(idle, read_message(&mut self.stream)) => match read {
                    Ok(Ok(Some(question))) => question,
                    Ok(Ok(None) | Err(_)) => return,
                    Err(_) => {
                        self.metrics.tcp_idle.increment(1);
                        return;
                    }
                },
            };
            let Some(answer) = self.handler.answer_tcp(question, self.peer).await else {
                continue;
            };
            if !matches!(
                tokio::time::timeout(idle, write_message(&mut self.stream, &answer)).await,
                Ok(Ok(()))
            ) {
                return;
            }
        }
        self.metrics.tcp_max_queries.increment(1);
    }
}

/// One length-prefixed message; `None` when the client closed between messages.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut length = [0; 2];
    match stream.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut message = vec![0; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).await?;
    Ok(Some(message))
}

async fn write_message(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let length = u16::try_from(message.len()).map_err(std::io::Error::other)?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await
}

impl Handler {
    /// The answer to one message received over TCP, as the UDP side answers: nothing to what is
    /// shorter than a header or is a response, FORMERR to what does not parse.
    async fn answer_tcp(&self, message: Vec<u8>, peer: SocketAddr) -> Option<Vec<u8>> {
        let header = Header::read(&mut BinDecoder::new(&message)).ok()?;
        if header.metadata.message_type == MessageType::Response {
            return None;
        }
        let capture = Capture::default();
        match Request::from_bytes(message, peer, Protocol::Tcp) {
            Ok(request) => {
                self.handle_request::<_, TokioTime>(&request, capture.clone())
                    .await;
            }
            Err(error) => {
                tracing::debug!(%error, %peer, "a malformed DNS question over TCP");
                // No question could be read: the answer echoes none.
                let queries = Queries::read(&mut BinDecoder::new(&[]), 0).ok()?;
                let response = MessageResponseBuilder::new(&queries, None)
                    .error_msg(&header.metadata, ResponseCode::FormErr);
                capture.clone().send_response(response).await.ok()?;
            }
        }
        capture.take()
    }
}

/// Keeps the encoded answer instead of sending it, for the TCP loop to frame and write.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

impl Capture {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let info = response.destructive_emit(&mut BinEncoder::new(&mut bytes))?;
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
        Ok(info)
    }
}
