//! The body reader and the resend against a real HTTP/1.1 server on loopback, answering with raw bytes so each
//! framing (Content-Length, chunked, close-delimited) is exactly what the test says.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Longest a test waits on the client; a reader that waits for bytes that never come fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(10);

/// Reads one request head (the requests here carry no body); false when the client closed first.
async fn read_head(s: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// Waits until the client closes, so the end of the connection cannot end a body.
async fn hold(s: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
}

#[derive(Clone, Copy)]
enum Then {
    Close,
    Hold,
}

/// A loopback server that answers the first request on each connection with `answer`, then closes the connection
/// or holds it open. Returns its URL.
async fn answering(answer: &'static [u8], then: Then) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head(&mut s).await
                    && s.write_all(answer).await.is_ok()
                    && matches!(then, Then::Hold)
                {
                    hold(&mut s).await;
                }
            });
        }
    });
    url
}

async fn read(answer: &'static [u8], then: Then, max: usize) -> Result<Vec<u8>, BodyError> {
    let url = answering(answer, then).await;
    let resp = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("an answer");
    tokio::time::timeout(PATIENCE, read_body(resp, max))
        .await
        .expect("the reader returned in time")
}

#[tokio::test]
async fn a_body_within_the_limit_is_read_whole() {
    let framings: [(&[u8], Then); 3] = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", Then::Hold),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            Then::Hold,
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", Then::Close),
    ];
    for (answer, then) in framings {
        let body = read(answer, then, 5).await;
        assert_eq!(
            body.expect("read").as_slice(),
            b"hello",
            "{}",
            String::from_utf8_lossy(answer)
        );
    }
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_unread() {
    // Three of the announced million bytes arrive and the connection stays open: reading would wait for the rest.
    let body = read(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc",
        Then::Hold,
        5,
    )
    .await;
    assert!(matches!(body, Err(BodyError::TooLarge(5))), "{body:?}");
    let body = read(
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef",
        Then::Hold,
        5,
    )
    .await;
    assert!(matches!(body, Err(BodyError::TooLarge(5))), "{body:?}");
}

#[tokio::test]
async fn a_body_without_content_length_is_refused_once_it_passes_the_limit() {
    let framings: [(&[u8], Then); 2] = [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
            Then::Hold,
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcdef", Then::Close),
    ];
    for (answer, then) in framings {
        let body = read(answer, then, 5).await;
        assert!(
            matches!(body, Err(BodyError::TooLarge(5))),
            "{}: {body:?}",
            String::from_utf8_lossy(answer)
        );
    }
}

#[tokio::test]
async fn a_body_cut_short_is_a_read_error() {
    let body = read(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        Then::Close,
        100,
    )
    .await;
    assert!(matches!(body, Err(BodyError::Read(_))), "{body:?}");
}

#[tokio::test]
async fn a_request_is_sent_once_more_when_its_connection_closes_before_an_answer() {
    // The first request is answered on a connection kept alive; the second is read and its connection closed
    // without an answer; any later one is answered. Counting requests rather than connections keeps the test
    // true whether the second request reuses the first connection or not.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                while read_head(&mut s).await {
                    let answer: &[u8] = match seen.fetch_add(1, Ordering::SeqCst) {
                        0 => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
                        1 => return,
                        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain",
                    };
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let client = reqwest::Client::new();
    let resends = AtomicUsize::new(0);
    for want in ["first", "again"] {
        let resp = tokio::time::timeout(
            PATIENCE,
            send_resending_once(client.get(&url), |e| {
                assert!(closed_before_answer(&e), "{e}");
                resends.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .await
        .expect("in time")
        .expect("an answer");
        let body = read_body(resp, 100).await.expect("body");
        assert_eq!(body, want.as_bytes());
    }
    assert_eq!(resends.load(Ordering::SeqCst), 1);
    assert_eq!(requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connect_or_a_timeout_is_not_sent_again() {
    let refused = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        format!("http://{}/", listener.local_addr().expect("address"))
    };
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_url = format!("http://{}/", silent.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = silent.accept().await {
            tokio::spawn(async move { hold(&mut s).await });
        }
    });
    let client = reqwest::Client::new();
    let requests = [
        client.get(&refused),
        client.get(&silent_url).timeout(Duration::from_millis(200)),
    ];
    for request in requests {
        let sent = tokio::time::timeout(
            PATIENCE,
            send_resending_once(request, |e| panic!("sent again after {e}")),
        )
        .await
        .expect("in time");
        let e = sent.expect_err("no answer");
        assert!(!closed_before_answer(&e), "{e}");
    }
}
