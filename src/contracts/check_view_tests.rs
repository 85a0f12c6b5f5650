use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use proptest::prelude::*;
use prost::Message;

use super::*;

fn sorted(v: CheckView<'_>) -> CheckView<'_> {
    v.sorted_maps()
}

fn request(
    headers: &[(&str, &str)],
    raw: Option<&[(&str, &str, &[u8])]>,
    ext: &[(&str, &str)],
) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                principal: "spiffe://cluster.local/ns/a/sa/b".into(),
                ..Peer::default()
            }),
            request: Some(Request {
                time: None,
                http: Some(HttpRequest {
                    id: "1234".into(),
                    method: "GET".into(),
                    path: "/v1/graphql?x=1".into(),
                    host: "api.example".into(),
                    size: -1,
                    headers: headers
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    header_map: raw.map(|r| HeaderMap {
                        headers: r
                            .iter()
                            .map(|(k, v, b)| HeaderValue {
                                key: (*k).to_owned(),
                                value: (*v).to_owned(),
                                raw_value: b.to_vec(),
                            })
                            .collect(),
                    }),
                    ..HttpRequest::default()
                }),
            }),
            context_extensions: ext
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..AttributeContext::default()
        }),
    }
}

fn same_as_prost(req: &CheckRequest) {
    let bytes = req.encode_to_vec();
    let view = CheckView::decode(&bytes).expect("Envoy's shape is read without prost");
    assert_eq!(sorted(view), sorted(CheckView::of_message(req)));
}

#[test]
fn envoy_shaped_checks_read_as_prost_reads_them() {
    same_as_prost(&request(
        &[
            (":authority", "api.example"),
            ("authorization", "Bearer a.b.c"),
            ("x-hasura-role", "admin,user"),
        ],
        None,
        &[("authgate-config", "tenant-a")],
    ));
    same_as_prost(&request(
        &[],
        Some(&[
            ("authorization", "", b"Bearer a.b.c"),
            ("cookie", "a=1", b""),
            ("cookie", "", b"\xff\x00"),
        ]),
        &[],
    ));
    same_as_prost(&request(&[], Some(&[]), &[]));
    same_as_prost(&CheckRequest { attributes: None });
    same_as_prost(&CheckRequest {
        attributes: Some(AttributeContext::default()),
    });
    let no_http = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request::default()),
            ..AttributeContext::default()
        }),
    };
    same_as_prost(&no_http);
    assert_eq!(
        CheckView::decode(&no_http.encode_to_vec()).map(|v| v.http),
        Ok(None)
    );
}

/// `http`, the bytes of an `HttpRequest`, inside `attributes.request` of a `CheckRequest`, encoded by hand.
fn check_of_http(http: &[u8]) -> Vec<u8> {
    let mut req = Vec::new();
    prost::encoding::bytes::encode(2, &http.to_vec(), &mut req);
    let mut attrs = Vec::new();
    prost::encoding::bytes::encode(4, &req, &mut attrs);
    let mut check = Vec::new();
    prost::encoding::bytes::encode(1, &attrs, &mut check);
    check
}

#[test]
fn a_repeated_map_key_keeps_its_last_value_as_prost_does() {
    // Two entries with the same key, written by hand (prost's own encoder never repeats a key).
    let entry = |k: &str, v: &str| {
        let mut e = Vec::new();
        prost::encoding::string::encode(1, &k.to_owned(), &mut e);
        prost::encoding::string::encode(2, &v.to_owned(), &mut e);
        e
    };
    let mut http = Vec::new();
    for (k, v) in [
        ("x-hasura-role", "admin"),
        ("authorization", "Bearer t"),
        ("x-hasura-role", "user"),
    ] {
        prost::encoding::bytes::encode(3, &entry(k, v), &mut http);
    }
    let check = check_of_http(&http);

    let view = CheckView::decode(&check).expect("read");
    let by_prost = CheckRequest::decode(check.as_slice()).expect("prost reads it");
    assert_eq!(
        sorted(view.clone()),
        sorted(CheckView::of_message(&by_prost))
    );
    let headers = view.http.expect("http").headers;
    assert_eq!(
        headers,
        vec![("x-hasura-role", "user"), ("authorization", "Bearer t")]
    );
}

#[test]
fn what_needs_a_merge_or_is_malformed_goes_to_prost() {
    let one = request(&[("a", "1")], None, &[]).encode_to_vec();
    // `attributes` twice: protobuf merges the two messages.
    let twice = [one.clone(), one.clone()].concat();
    assert_eq!(CheckView::decode(&twice), Err(Fallback));
    assert!(CheckRequest::decode(twice.as_slice()).is_ok());
    // A group, a truncated length, field number 0, a varint of eleven bytes.
    for bad in [
        vec![0x0b, 0x0c],
        vec![0x0a, 0x05, 0x01],
        vec![0x02, 0x00],
        vec![
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
    ] {
        assert_eq!(CheckView::decode(&bad), Err(Fallback), "{bad:02x?}");
    }
    // A method that is not UTF-8: prost refuses the message.
    let mut http = Vec::new();
    prost::encoding::bytes::encode(2, &vec![0xffu8, 0xfe], &mut http);
    let check = check_of_http(&http);
    assert_eq!(CheckView::decode(&check), Err(Fallback));
    assert!(CheckRequest::decode(check.as_slice()).is_err());
    // More map entries than are deduplicated here.
    let many: Vec<(String, String)> = (0..=MAX_MAP_ENTRIES)
        .map(|i| (format!("h{i}"), "v".into()))
        .collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let big = request(&refs, None, &[]).encode_to_vec();
    assert_eq!(CheckView::decode(&big), Err(Fallback));
}

#[test]
fn fields_the_adapter_never_reads_are_skipped_unparsed() {
    // `source.principal` that is not UTF-8: prost refuses the whole check; the view judges it.
    let mut peer = Vec::new();
    prost::encoding::bytes::encode(4, &vec![0xffu8], &mut peer);
    let mut attrs = Vec::new();
    prost::encoding::bytes::encode(1, &peer, &mut attrs);
    let mut check = Vec::new();
    prost::encoding::bytes::encode(1, &attrs, &mut check);
    assert!(CheckRequest::decode(check.as_slice()).is_err());
    assert_eq!(CheckView::decode(&check), Ok(CheckView::default()));
}

fn header() -> impl Strategy<Value = (String, String)> {
    ("[a-z:-]{0,12}", "[ -~]{0,24}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_encoded_check_reads_as_prost_reads_it(
        map in proptest::collection::vec(header(), 0..12),
        raw in proptest::option::of(proptest::collection::vec((header(), proptest::collection::vec(any::<u8>(), 0..8)), 0..12)),
        ext in proptest::collection::vec(header(), 0..4),
    ) {
        let map: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let raw: Option<Vec<(&str, &str, &[u8])>> = raw.as_ref().map(|r| r.iter().map(|((k, v), b)| (k.as_str(), v.as_str(), b.as_slice())).collect());
        let ext: Vec<(&str, &str)> = ext.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        same_as_prost(&request(&map, raw.as_deref(), &ext));
    }

    /// Corrupted bytes: whatever the view reads, prost reads the same (or the view gave up); the view may judge a
    /// check prost refuses only for a field the adapter never reads.
    #[test]
    fn corrupted_checks_never_read_differently(
        map in proptest::collection::vec(header(), 0..6),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let map: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut bytes = request(&map, None, &[("authgate-config", "a")]).encode_to_vec();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        if let (Ok(view), Ok(msg)) = (CheckView::decode(&bytes), CheckRequest::decode(bytes.as_slice())) {
            prop_assert_eq!(sorted(view), sorted(CheckView::of_message(&msg)));
        }
    }
}

#[test]
fn context_extensions_are_looked_up_by_key() {
    let req = request(
        &[],
        None,
        &[("authgate-config", "tenant-b"), ("other", "x")],
    );
    let bytes = req.encode_to_vec();
    let view = CheckView::decode(&bytes).expect("read");
    assert_eq!(view.context_extension("authgate-config"), Some("tenant-b"));
    assert_eq!(view.context_extension("missing"), None);
}
