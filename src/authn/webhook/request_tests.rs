//! The request mapping: which client headers reach the hook, as headers and in the body, and the cache key.

use super::*;
use crate::config::compiled::HookCustom;

fn mode(method: HookMethod, custom: Option<HookCustom>) -> WebhookMode {
    WebhookMode {
        method,
        url: url::Url::parse("http://127.0.0.1:1/x").expect("url"),
        custom,
    }
}

fn names(h: &HookRequest) -> Vec<&str> {
    h.headers.iter().map(|(n, _)| n.as_str()).collect()
}

const HEADERS: [(&str, &[u8]); 5] = [
    ("authorization", b"Bearer t"),
    ("user-agent", b"ua"),
    ("x-custom", b"1"),
    ("x-custom", b"2"),
    ("content-type", b"text/plain"),
];

fn req() -> AuthRequest<'static> {
    AuthRequest {
        method: "GET",
        uri: "/",
        headers: &HEADERS,
    }
}

#[test]
fn legacy_get_forwards_all_but_the_ignore_list_last_value_wins() {
    let h = build_request(&mode(HookMethod::Get, None), &req());
    assert_eq!(names(&h), vec!["authorization", "x-custom"]);
    assert_eq!(h.headers[1].1, "2");
    assert!(h.body.is_none());
}

#[test]
fn legacy_post_sends_every_header_in_the_body_only() {
    let h = build_request(&mode(HookMethod::Post, None), &req());
    assert_eq!(names(&h), vec!["content-type"]);
    let body: Value = serde_json::from_slice(h.body.as_deref().expect("body")).expect("json");
    assert_eq!(body["headers"]["user-agent"], "ua");
    assert_eq!(body["headers"]["content-type"], "text/plain");
    assert_eq!(body["headers"]["x-custom"], "2");
}

#[test]
fn explicit_list_and_additional_override() {
    let hh = HookHeaders {
        forward: Forward::List(vec![
            HeaderName::from_static("user-agent"),
            HeaderName::from_static("x-custom"),
        ]),
        additional: vec![(
            HeaderName::from_static("x-custom"),
            HeaderValue::from_static("added"),
        )],
    };
    let custom = HookCustom {
        headers: Some(hh),
        body_headers: None,
    };
    let h = build_request(&mode(HookMethod::Post, Some(custom)), &req());
    // An explicit list skips the ignore-list; additional overrides; no body.headers config -> {"headers":{}}.
    assert_eq!(names(&h), vec!["user-agent", "x-custom", "content-type"]);
    assert_eq!(h.headers[1].1, "added");
    assert_eq!(h.body.as_deref(), Some(br#"{"headers":{}}"#.as_slice()));
}

fn fp(h: &HookRequest) -> Vec<u8> {
    let mut out = Vec::new();
    h.fingerprint(&mut out);
    out
}

fn request<'a>(headers: &'a [(&'a str, &'a [u8])]) -> AuthRequest<'a> {
    AuthRequest {
        method: "GET",
        uri: "/",
        headers,
    }
}

fn list(names: &[&'static str]) -> HookCustom {
    HookCustom {
        headers: Some(HookHeaders {
            forward: Forward::List(names.iter().map(|n| HeaderName::from_static(n)).collect()),
            additional: Vec::new(),
        }),
        body_headers: None,
    }
}

/// GET forwarding `*`, POST with every header in the body, and both at once.
fn every_kind_of_mode() -> Vec<WebhookMode> {
    let star = || HookHeaders {
        forward: Forward::All,
        additional: Vec::new(),
    };
    vec![
        mode(HookMethod::Get, None),
        mode(HookMethod::Post, None),
        mode(
            HookMethod::Post,
            Some(HookCustom {
                headers: Some(star()),
                body_headers: Some(star()),
            }),
        ),
    ]
}

#[test]
fn item2_header_order_alone_does_not_change_the_cache_key() {
    let forward: Vec<(&str, &[u8])> = vec![
        ("authorization", b"Bearer t"),
        ("x-a", b"1"),
        ("x-multi", b"first"),
        ("cookie", b"c=1"),
        ("x-multi", b"last"),
        ("x-b", b"2"),
        ("x-c", b"3"),
    ];
    // Other orders that keep the two x-multi values in arrival order: every rotation of the other headers,
    // forwards and backwards, with the first x-multi at a different place each time.
    let others: Vec<_> = forward
        .iter()
        .filter(|(n, _)| *n != "x-multi")
        .copied()
        .collect();
    let mut orders: Vec<Vec<(&str, &[u8])>> = Vec::new();
    for shift in 0..others.len() {
        for backwards in [false, true] {
            let mut o = others.clone();
            if backwards {
                o.reverse();
            }
            o.rotate_left(shift);
            o.insert(shift, ("x-multi", b"first"));
            o.push(("x-multi", b"last"));
            orders.push(o);
        }
    }
    for m in every_kind_of_mode() {
        let want = fp(&build_request(&m, &request(&forward)));
        for o in &orders {
            assert_eq!(
                fp(&build_request(&m, &request(o))),
                want,
                "{:?} {o:?}",
                m.method
            );
        }
        // The last value of a repeated header is part of the key: the order of one name's values counts.
        let swapped: Vec<(&str, &[u8])> = forward
            .iter()
            .map(|&(n, v)| match v {
                b"first" => (n, b"last".as_slice()),
                b"last" => (n, b"first".as_slice()),
                _ => (n, v),
            })
            .collect();
        assert_ne!(fp(&build_request(&m, &request(&swapped))), want);
    }
}

#[test]
fn item2_per_request_ids_are_forwarded_but_left_out_of_the_cache_key() {
    let per_request = [
        "x-request-id",
        "traceparent",
        "tracestate",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-envoy-attempt-count",
        "x-envoy-external-address",
        "x-amzn-trace-id",
        "x-cloud-trace-context",
    ];
    for m in every_kind_of_mode() {
        for name in per_request {
            let one = [("authorization", b"Bearer t".as_slice()), (name, b"one")];
            let two = [(name, b"two".as_slice()), ("authorization", b"Bearer t")];
            let (h1, h2) = (
                build_request(&m, &request(&one)),
                build_request(&m, &request(&two)),
            );
            assert_eq!(fp(&h1), fp(&h2), "{name} is in the key ({:?})", m.method);
            assert_ne!(h1, h2, "{name} must still be sent ({:?})", m.method);
        }
        // A header that is not one of them is in the key.
        let a = [
            ("authorization", b"Bearer t".as_slice()),
            ("x-tenant", b"a"),
        ];
        let b = [
            ("authorization", b"Bearer t".as_slice()),
            ("x-tenant", b"b"),
        ];
        assert_ne!(
            fp(&build_request(&m, &request(&a))),
            fp(&build_request(&m, &request(&b))),
            "{:?}",
            m.method
        );
    }
}

#[test]
fn item9_hop_by_hop_and_framing_headers_are_never_forwarded() {
    let framing = [
        "connection",
        "content-length",
        "expect",
        "host",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "proxy-authenticate",
    ];
    let mut client: Vec<(&str, &[u8])> = framing.iter().map(|n| (*n, b"9".as_slice())).collect();
    client.push(("authorization", b"Bearer t"));
    let mut names: Vec<&'static str> = framing.to_vec();
    names.push("authorization");
    for method in [HookMethod::Get, HookMethod::Post] {
        let mut custom = list(&names);
        if let Some(h) = custom.headers.as_mut() {
            h.additional = vec![
                (
                    HeaderName::from_static("content-length"),
                    HeaderValue::from_static("9"),
                ),
                (
                    HeaderName::from_static("host"),
                    HeaderValue::from_static("elsewhere"),
                ),
            ];
        }
        let h = build_request(&mode(method, Some(custom)), &request(&client));
        let sent = names_of(&h);
        for n in framing {
            assert!(
                !sent.contains(&n),
                "{n} was forwarded ({method:?}): {sent:?}"
            );
        }
        assert!(sent.contains(&"authorization"), "{sent:?}");
    }
}

fn names_of(h: &HookRequest) -> Vec<&str> {
    h.headers.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn item11_an_explicit_forward_list_is_honoured_exactly() {
    let client: [(&str, &[u8]); 4] = [
        ("authorization", b"Bearer t"),
        (
            "traceparent",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", b"k=v"),
        ("x-custom", b"c"),
    ];
    let h = build_request(
        &mode(HookMethod::Get, Some(list(&["authorization"]))),
        &request(&client),
    );
    assert_eq!(names_of(&h), vec!["authorization"]);
    // A config without `headers` forwards no client header at all.
    let none = HookCustom {
        headers: None,
        body_headers: None,
    };
    let h = build_request(&mode(HookMethod::Post, Some(none)), &request(&client));
    assert_eq!(names_of(&h), vec!["content-type"]);
    // The legacy POST sends the client's headers in the body, not as headers.
    let h = build_request(&mode(HookMethod::Post, None), &request(&client));
    assert_eq!(names_of(&h), vec!["content-type"]);
    // Listed, it is forwarded, once.
    let h = build_request(
        &mode(
            HookMethod::Get,
            Some(list(&["authorization", "traceparent"])),
        ),
        &request(&client),
    );
    assert_eq!(names_of(&h), vec!["authorization", "traceparent"]);
}
