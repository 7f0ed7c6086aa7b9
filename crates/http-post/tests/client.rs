//! The poster against raw TCP peers on 127.0.0.1: the answer's first bytes and no more, a
//! redirect returned as an answer, the address guard before any connection.

use bytes::Bytes;
use hikyaku_http_post::{AddressPolicy, HttpPoster, PostError, PosterSettings};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A peer that reads a request head and answers `answer`, then `body_bytes` bytes of `x`.
async fn peer(answer: &'static str, body_bytes: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let _ = stream.write_all(answer.as_bytes()).await;
                let chunk = vec![b'x'; 65536];
                let mut written = 0;
                while written < body_bytes {
                    match stream
                        .write(&chunk[..chunk.len().min(body_bytes - written)])
                        .await
                    {
                        Ok(n) if n > 0 => written += n,
                        _ => return,
                    }
                }
            });
        }
    });
    port
}

fn poster(addresses: AddressPolicy) -> HttpPoster {
    HttpPoster::new(PosterSettings {
        request_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
        answer_limit: 16,
        addresses,
        ..PosterSettings::default()
    })
    .unwrap()
}

#[tokio::test]
async fn only_the_answers_first_bytes_are_read() {
    let port = peer(
        "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n",
        10 << 20,
    )
    .await;
    let answer = poster(AddressPolicy::Any)
        .send(
            &format!("http://127.0.0.1:{port}/"),
            "application/json",
            &[],
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(&answer.head[..], &[b'x'; 16][..]);

    let port = peer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 0).await;
    let answer = poster(AddressPolicy::Any)
        .send(
            &format!("http://127.0.0.1:{port}/"),
            "application/json",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(&answer.head[..], b"abc");
}

#[tokio::test]
async fn a_redirect_is_an_answer_not_followed() {
    let port = peer("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/\r\nContent-Length: 0\r\n\r\n", 0).await;
    let answer = poster(AddressPolicy::Any)
        .send(
            &format!("http://127.0.0.1:{port}/"),
            "application/json",
            &[],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 307);
}

#[tokio::test]
async fn the_guard_refuses_before_connecting() {
    let port = peer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0).await;
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
    ] {
        let refused = poster(AddressPolicy::PublicOnly)
            .send(&url, "application/json", &[], Bytes::new())
            .await;
        assert!(
            matches!(refused, Err(PostError::Forbidden { .. })),
            "{url}: {refused:?}"
        );
    }
}
