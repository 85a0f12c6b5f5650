//! The gRPC framing of the `Check` call, sent by a raw HTTP/2 client: one uncompressed message within the size cap is
//! judged and answered as one message with a `grpc-status: 0` trailer; compression, a message over the cap, a body
//! that is not exactly one message, bytes that are not a `CheckRequest` and an unknown method are gRPC errors with
//! their codes, never a hang or an allow.

use bytes::{BufMut, Bytes, BytesMut};
use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

use crate::common::configs::hs256_config;
use crate::common::service::started;
use crate::support::check_map;

const CHECK: &str = "/envoy.service.auth.v3.Authorization/Check";

/// What came back: the HTTP status, `grpc-status` (from the headers of a trailers-only answer, else the trailers),
/// `grpc-message`, and the body.
#[derive(Debug)]
struct Reply {
    http: u16,
    grpc_status: Option<String>,
    grpc_message: Option<String>,
    body: Bytes,
}

fn frame(compressed: u8, message: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u8(compressed);
    b.put_u32(u32::try_from(message.len()).expect("small"));
    b.extend_from_slice(message);
    b.to_vec()
}

async fn call(port: u16, path: &str, body: Vec<u8>) -> Reply {
    call_in(port, path, vec![body]).await
}

/// `call` with the body sent as one DATA frame per chunk.
async fn call_in(port: u16, path: &str, chunks: Vec<Vec<u8>>) -> Reply {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    let req = http::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(StreamBody::new(futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(c)))),
        )))
        .expect("request");
    let resp = tokio::time::timeout(std::time::Duration::from_secs(10), send.send_request(req))
        .await
        .expect("answered within 10 s")
        .expect("an HTTP/2 response");
    let http = resp.status().as_u16();
    let head = resp.headers().clone();
    let collected = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        resp.into_body().collect(),
    )
    .await
    .expect("body within 10 s")
    .expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let get = |name: &str| {
        trailers
            .get(name)
            .or_else(|| head.get(name))
            .map(|v| v.to_str().expect("ASCII").to_owned())
    };
    Reply {
        http,
        grpc_status: get("grpc-status"),
        grpc_message: get("grpc-message"),
        body: collected.to_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_call_is_framed_as_grpc_and_bad_frames_are_grpc_errors() {
    let svc = started(&hs256_config("framing-secret"), &[]);
    let check = check_map(&[]).encode_to_vec();

    // One message: judged (no token: 401 missing_token) and answered as one message, then grpc-status 0.
    let ok = call(svc.grpc, CHECK, frame(0, &check)).await;
    assert_eq!(
        (ok.http, ok.grpc_status.as_deref()),
        (200, Some("0")),
        "{ok:?}"
    );
    assert!(ok.body.len() > 5 && ok.body[0] == 0, "{ok:?}");
    let resp = CheckResponse::decode(&ok.body[5..]).expect("a CheckResponse");
    let Some(HttpResponse::DeniedResponse(denied)) = resp.http_response else {
        panic!("not a denial: {resp:?}");
    };
    assert_eq!(denied.status.map(|s| s.code), Some(401));

    // The same message split over several DATA frames is the same check.
    let whole = frame(0, &check);
    let chunks = vec![
        whole[..3].to_vec(),
        whole[3..9].to_vec(),
        whole[9..].to_vec(),
    ];
    let again = call_in(svc.grpc, CHECK, chunks).await;
    assert_eq!(again.body, ok.body);

    let code = |r: &Reply| (r.http, r.grpc_status.clone());
    let compressed = call(svc.grpc, CHECK, frame(1, &check)).await;
    assert_eq!(
        code(&compressed),
        (200, Some("12".into())),
        "UNIMPLEMENTED: {compressed:?}"
    );
    let huge = call(svc.grpc, CHECK, frame(0, &vec![0u8; 300 * 1024])).await;
    assert_eq!(
        code(&huge),
        (200, Some("8".into())),
        "RESOURCE_EXHAUSTED: {huge:?}"
    );
    let two = call(
        svc.grpc,
        CHECK,
        [frame(0, &check), frame(0, &check)].concat(),
    )
    .await;
    assert_eq!(code(&two), (200, Some("13".into())), "INTERNAL: {two:?}");
    let empty = call(svc.grpc, CHECK, Vec::new()).await;
    assert_eq!(
        code(&empty),
        (200, Some("13".into())),
        "INTERNAL: {empty:?}"
    );
    let short = call(
        svc.grpc,
        CHECK,
        frame(0, &check)[..check.len() - 2].to_vec(),
    )
    .await;
    assert_eq!(
        code(&short),
        (200, Some("13".into())),
        "INTERNAL: {short:?}"
    );
    // A group where the attributes should be: neither the view nor prost reads it.
    let junk = call(svc.grpc, CHECK, frame(0, &[0x0b, 0x0c])).await;
    assert_eq!(code(&junk), (200, Some("13".into())), "INTERNAL: {junk:?}");
    assert!(
        junk.grpc_message
            .as_deref()
            .is_some_and(|m| m.contains("CheckRequest")),
        "{junk:?}"
    );
    for (name, r) in [
        ("compressed", &compressed),
        ("huge", &huge),
        ("two", &two),
        ("junk", &junk),
    ] {
        assert!(
            r.body.is_empty(),
            "{name}: an error carries no message: {r:?}"
        );
    }
    let unknown = call(
        svc.grpc,
        "/envoy.service.auth.v3.Authorization/Nope",
        frame(0, &check),
    )
    .await;
    assert_eq!(
        code(&unknown),
        (200, Some("12".into())),
        "UNIMPLEMENTED: {unknown:?}"
    );

    // The listener still judges after every refusal.
    let after = call(svc.grpc, CHECK, frame(0, &check)).await;
    assert_eq!(after.body, ok.body);
}
