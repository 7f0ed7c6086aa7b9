//! The responder's sockets under questions no well-behaved client sends: malformed and
//! mutated packets, responses posing as questions, half-sent TCP messages; and the size rules
//! of UDP answers, checked on the bytes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{fresh_source, query, start};
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::RecordType;
use hikyaku_testkit::fuzz::{Rng, mutate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn responder() -> hikyaku_dns_responder::Responder {
    start(fresh_source(), Duration::from_secs(30)).await
}

/// Sends `bytes` over UDP; the answer's raw bytes, if one comes within `wait`.
async fn udp(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, server).await.unwrap();
    let mut buffer = vec![0; 65_535];
    let (len, _) = tokio::time::timeout(wait, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .unwrap();
    buffer.truncate(len);
    Some(buffer)
}

async fn tcp(server: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server).await.unwrap();
    let len = u16::try_from(bytes.len()).unwrap();
    stream.write_all(&len.to_be_bytes()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let answer_len = usize::from(stream.read_u16().await.unwrap());
    let mut answer = vec![0; answer_len];
    stream.read_exact(&mut answer).await.unwrap();
    answer
}

/// The responder still answers a proper question, over both transports.
async fn still_answers(server: SocketAddr) {
    let question = query("smtp.example.net", RecordType::A, None);
    let over_udp = udp(server, &question, Duration::from_secs(5))
        .await
        .expect("no UDP answer after the hostile packets");
    let over_tcp = tcp(server, &question).await;
    for bytes in [over_udp, over_tcp] {
        let answer = Message::from_vec(&bytes).unwrap();
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(answer.metadata.authoritative);
        assert_eq!(answer.answers.len(), 1, "{answer:?}");
    }
}

#[tokio::test]
async fn udp_answers_fit_the_client_and_say_when_cut() {
    let responder = responder().await;
    let server = responder.local_addrs()[0];
    let dkim = "hks1._domainkey.example.net";

    // No EDNS: 512 octets at most, TC set.
    let bytes = udp(
        server,
        &query(dkim, RecordType::TXT, None),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(bytes.len() <= 512, "{} octets", bytes.len());
    let cut = Message::from_vec(&bytes).unwrap();
    assert!(cut.metadata.truncation);
    assert!(cut.metadata.authoritative);

    // A client offering 64 KiB gets at most our 1232, here all of it.
    let bytes = udp(
        server,
        &query(dkim, RecordType::TXT, Some(65_000)),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert!(bytes.len() <= 1232, "{} octets", bytes.len());
    let whole = Message::from_vec(&bytes).unwrap();
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 1);
    assert_eq!(whole.edns.as_ref().unwrap().max_payload(), 1232);

    // TCP is never cut.
    let whole = Message::from_vec(&tcp(server, &query(dkim, RecordType::TXT, None)).await).unwrap();
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 1);

    // A later EDNS version is refused with BADVERS, in the EDNS record's high bits.
    let mut later =
        Message::from_vec(&query("smtp.example.net", RecordType::A, Some(1232))).unwrap();
    later.edns.as_mut().unwrap().set_version(1);
    let bytes = udp(server, &later.to_vec().unwrap(), Duration::from_secs(5))
        .await
        .unwrap();
    let answer = Message::from_vec(&bytes).unwrap();
    // BADVERS shares its number, 16, with TSIG's BADSIG: compare the number.
    assert_eq!(
        u16::from(answer.metadata.response_code),
        u16::from(ResponseCode::BADVERS)
    );
    responder.shutdown().await;
}

#[tokio::test]
async fn hostile_packets_never_stop_it() {
    let responder = responder().await;
    let server = responder.local_addrs()[0];
    let valid = query("smtp.example.net", RecordType::A, Some(1232));

    let mut header_only = valid[..12].to_vec();
    header_only[4..6].copy_from_slice(&[0xff, 0xff]); // 65,535 questions, none there
    let mut pointer_loop = valid[..12].to_vec();
    pointer_loop.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01]); // a name pointing at itself
    let mut as_response = valid.clone();
    as_response[2] |= 0x80; // QR: a response posing as a question
    let handmade: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0],
        valid[..11].to_vec(),
        header_only,
        pointer_loop,
        vec![0xff; 512],
        vec![0; 4096],
        as_response.clone(),
    ];
    for packet in &handmade {
        if let Some(answer) = udp(server, packet, Duration::from_millis(200)).await {
            // Whatever comes back is a well-formed message.
            Message::from_vec(&answer)
                .unwrap_or_else(|e| panic!("malformed answer to {packet:?}: {e}"));
        }
    }
    // A response is never answered: that would make us a reflector.
    assert_eq!(
        udp(server, &as_response, Duration::from_millis(300)).await,
        None
    );

    // Mutations of proper questions, each answered with a parseable message or not at all.
    let seed: u64 = std::env::var("HIKYAKU_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = Rng::new(seed);
    let seeds = [
        valid.clone(),
        query("hks1._domainkey.example.net", RecordType::TXT, None),
        query("example.net", RecordType::ANY, Some(4096)),
        query("nosuch.example.net", RecordType::NS, None),
    ];
    let dictionary: &[&[u8]] = &[
        &[0xc0, 0x0c],
        &[0, 41],
        &[0, 255],
        &[0, 252],
        &[0x3f],
        &[0xc0],
    ];
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3000 {
        let packet = mutate(&mut rng, &seeds[i % seeds.len()], dictionary);
        socket.send_to(&packet, server).await.unwrap();
        // Read what has come back so far without waiting for every answer.
        let mut buffer = vec![0; 65_535];
        while let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_millis(1), socket.recv_from(&mut buffer)).await
        {
            Message::from_vec(&buffer[..len])
                .unwrap_or_else(|e| panic!("seed {seed}: a malformed answer: {e}"));
        }
    }

    // TCP: a length with nothing after it, a length longer than what follows, garbage.
    for bytes in [
        &[0x00, 0x20][..],
        &[0xff, 0xff, 1, 2, 3][..],
        &[0x00, 0x03, 1, 2, 3][..],
    ] {
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        drop(stream);
    }

    still_answers(server).await;
    responder.shutdown().await;
}
