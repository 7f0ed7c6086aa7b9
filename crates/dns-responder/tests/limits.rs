//! The abuse limits on real sockets: UDP responses per client network (answered, truncated,
//! dropped), and TCP's connection cap, idle timeout and questions per connection.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{fresh_source, query, start_with};
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;
use hikyaku_dns_responder::{Responder, ResponderSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn question(id: u16) -> Vec<u8> {
    let mut message =
        Message::from_vec(&query("smtp.example.net", RecordType::A, Some(1232))).unwrap();
    message.metadata.id = id;
    message.to_vec().unwrap()
}

/// What came back to `socket` within `wait` after the last answer.
async fn answers(socket: &UdpSocket, wait: Duration) -> Vec<Message> {
    let mut answers = Vec::new();
    let mut buffer = vec![0; 65_535];
    while let Ok(Ok((len, _))) = tokio::time::timeout(wait, socket.recv_from(&mut buffer)).await {
        answers.push(Message::from_vec(&buffer[..len]).unwrap());
    }
    answers
}

/// `count` questions from `socket` at once.
async fn ask(socket: &UdpSocket, server: SocketAddr, count: u16) {
    for id in 0..count {
        socket.send_to(&question(id), server).await.unwrap();
    }
}

/// `count` questions from `socket` at once; the answers, the truncated ones apart.
async fn burst(socket: &UdpSocket, server: SocketAddr, count: u16) -> (usize, usize) {
    ask(socket, server, count).await;
    received(socket).await
}

/// The answers `socket` has received, the truncated ones apart, checked.
async fn received(socket: &UdpSocket) -> (usize, usize) {
    let answers = answers(socket, Duration::from_millis(500)).await;
    let ids: HashSet<u16> = answers.iter().map(|a| a.metadata.id).collect();
    assert_eq!(ids.len(), answers.len(), "one answer per question at most");
    let (slipped, answered): (Vec<_>, Vec<_>) = answers.iter().partition(|a| a.metadata.truncation);
    for slip in &slipped {
        // The slip: TC, the question, no records, no larger than what was asked.
        assert!(
            slip.answers.is_empty() && slip.authorities.is_empty(),
            "{slip:?}"
        );
        assert_eq!(slip.queries.len(), 1);
        assert!(slip.to_vec().unwrap().len() <= question(0).len());
    }
    for answer in &answered {
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(answer.answers.len(), 1, "{answer:?}");
    }
    (answered.len(), slipped.len())
}

async fn udp_from(address: &str) -> UdpSocket {
    UdpSocket::bind((address, 0)).await.unwrap()
}

async fn responder(adjust: impl FnOnce(&mut ResponderSettings)) -> Responder {
    start_with(fresh_source(), adjust).await
}

#[tokio::test]
async fn udp_answers_over_a_networks_rate_are_truncated_or_dropped() {
    // A low rate, so that a machine busy enough to take a second over the burst earns only
    // two more answers: the bounds below hold on a loaded CI.
    let responder = responder(|s| {
        s.rate_limit.responses_per_second = 2;
        s.rate_limit.slip = 2;
    })
    .await;
    let server = responder.local_addrs()[0];
    let client = udp_from("127.0.0.1").await;

    // 2 answered (up to 2 more earned while the burst is read), of the 26 to 28 over the limit
    // the first and every other one truncated, the rest dropped. 127.0.0.2, in the same /24
    // and asking right after, is over the limit with it (unlimited, it would have 2 answers).
    let neighbour = udp_from("127.0.0.2").await;
    ask(&client, server, 30).await;
    ask(&neighbour, server, 2).await;
    let (answered, slipped) = received(&client).await;
    assert!((2..=4).contains(&answered), "{answered} answered");
    assert!((12..=15).contains(&slipped), "{slipped} truncated");
    let (answered, _) = received(&neighbour).await;
    assert!(
        answered < 2,
        "{answered} answered: the /24 shares one budget"
    );

    // 127.0.1.2 is another network.
    let elsewhere = udp_from("127.0.1.2").await;
    assert_eq!(burst(&elsewhere, server, 2).await, (2, 0));

    // A second later the network has its budget again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(burst(&client, server, 2).await, (2, 0));
    responder.shutdown().await;
}

#[tokio::test]
async fn without_a_rate_limit_every_question_is_answered() {
    let responder = responder(|s| s.rate_limit.responses_per_second = 0).await;
    let client = udp_from("127.0.0.1").await;
    assert_eq!(
        burst(&client, responder.local_addrs()[0], 100).await,
        (100, 0)
    );
    responder.shutdown().await;
}

async fn ask_tcp(stream: &mut TcpStream, id: u16) {
    let bytes = question(id);
    let len = u16::try_from(bytes.len()).unwrap();
    stream.write_all(&len.to_be_bytes()).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
}

/// The next answer on `stream`, or `None` when the responder closed it.
async fn answer_tcp(stream: &mut TcpStream) -> Option<Message> {
    let read = async {
        let len = usize::from(stream.read_u16().await.ok()?);
        let mut answer = vec![0; len];
        stream.read_exact(&mut answer).await.ok()?;
        Some(Message::from_vec(&answer).unwrap())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("neither an answer nor a close within 10 s")
}

async fn answered_over_tcp(server: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(server).await.unwrap();
    ask_tcp(&mut stream, 7).await;
    let answer = answer_tcp(&mut stream).await.expect("closed");
    assert_eq!(answer.metadata.id, 7);
    assert_eq!(answer.answers.len(), 1);
    stream
}

#[tokio::test]
async fn tcp_connections_over_the_cap_are_closed_and_idle_ones_time_out() {
    let idle = Duration::from_secs(1);
    let responder = responder(|s| {
        s.tcp.max_connections = 2;
        s.tcp.idle_timeout = idle;
    })
    .await;
    let server = responder.local_addrs()[0];

    let mut first = answered_over_tcp(server).await;
    let asked = Instant::now();
    let mut second = answered_over_tcp(server).await;
    // The third is closed without an answer.
    let mut third = TcpStream::connect(server).await.unwrap();
    ask_tcp(&mut third, 3).await;
    assert!(answer_tcp(&mut third).await.is_none());
    // The two open ones still answer.
    ask_tcp(&mut second, 8).await;
    assert!(answer_tcp(&mut second).await.is_some());

    // Idle for the timeout: closed, not before.
    assert!(answer_tcp(&mut first).await.is_none());
    let waited = asked.elapsed();
    assert!(waited >= idle, "closed after {waited:?}");
    assert!(answer_tcp(&mut second).await.is_none());

    // With both gone there is room again.
    answered_over_tcp(server).await;
    responder.shutdown().await;
}

#[tokio::test]
async fn a_tcp_connection_is_closed_after_its_questions() {
    let responder = responder(|s| s.tcp.max_queries = 3).await;
    let server = responder.local_addrs()[0];
    // Five questions at once (pipelined, as RFC 7766 allows): three answers, then the close.
    let mut stream = TcpStream::connect(server).await.unwrap();
    for id in 0..5 {
        ask_tcp(&mut stream, id).await;
    }
    for id in 0..3 {
        assert_eq!(answer_tcp(&mut stream).await.unwrap().metadata.id, id);
    }
    assert!(answer_tcp(&mut stream).await.is_none());
    // A new connection is answered.
    answered_over_tcp(server).await;
    responder.shutdown().await;
}

#[tokio::test]
async fn a_malformed_question_over_tcp_gets_formerr_and_the_connection_goes_on() {
    let responder = responder(|_| {}).await;
    let server = responder.local_addrs()[0];
    let mut stream = TcpStream::connect(server).await.unwrap();
    // A header that promises a question, and no question.
    let mut bytes = question(9)[..12].to_vec();
    bytes[4..6].copy_from_slice(&[0, 1]);
    stream.write_all(&[0, 12]).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let answer = answer_tcp(&mut stream).await.unwrap();
    assert_eq!(answer.metadata.id, 9);
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);
    ask_tcp(&mut stream, 10).await;
    assert_eq!(answer_tcp(&mut stream).await.unwrap().answers.len(), 1);
    responder.shutdown().await;
}
