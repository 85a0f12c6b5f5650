//! A request head as the data listener reads it: parsed by `httparse` (the parser actix-http and hyper use), header
//! names lower-cased in place, and the framing decided before any decision is made. The rules are strict where a
//! lenient reading could make two parties disagree about where a request ends (RFC 9112 §6): the connection is only
//! reused when the end of the request is certain.

/// Longest request head; a longer one is answered `431` and the connection closed, before more is buffered.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;
/// Most header lines in one head; more is a `431`.
pub const MAX_HEADERS: usize = 128;
/// Longest `Content-Length` body read and discarded so that the connection can be reused; a longer one is answered
/// and the connection closed (the decision never reads a body; proxies send none to an auth service).
pub const MAX_DRAINED_BODY: u64 = 1024 * 1024;

/// Where a parsed head lies in the read buffer, and how its request is framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, the blank line included.
    pub len: usize,
    /// The method, as a range of the buffer.
    pub method: (usize, usize),
    /// The request target as sent (origin, absolute, authority or asterisk form).
    pub target: (usize, usize),
    /// Header lines in arrival order: (name, value) ranges of the buffer; names lower-case once [`parse`] returns.
    pub headers: Vec<((usize, usize), (usize, usize))>,
    /// HTTP/1.0 (else 1.1).
    pub http10: bool,
    /// What follows the head.
    pub body: Body,
    /// The client asked for the connection to be closed (or, over HTTP/1.0, did not ask to keep it).
    pub close: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

/// The request's body, as its head frames it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body: the next request starts right after the head.
    None,
    /// `Content-Length` bytes follow.
    Length(u64),
    /// A `Transfer-Encoding` body: its end is never looked for; the connection closes after the answer.
    Unframed,
}

/// Why a head cannot be answered as a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed: `400`.
    BadRequest,
    /// Too long, or too many header lines: `431`.
    TooLarge,
}

/// The outcome of reading the start of `buf`.
#[derive(Debug)]
pub enum Parsed {
    Complete(Head),
    /// The head is not complete yet (and is within [`MAX_HEAD_BYTES`]).
    Partial,
    Refused(Refusal),
}

/// Parse the request head at the start of `buf`, lower-casing its header names in place.
pub fn parse(buf: &mut [u8]) -> Parsed {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut lines);
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let (len, mut head) = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
            else {
                return Parsed::Refused(Refusal::BadRequest);
            };
            let head = Head {
                len,
                method: at(method.as_bytes()),
                target: at(target.as_bytes()),
                headers: req
                    .headers
                    .iter()
                    .map(|h| (at(h.name.as_bytes()), at(h.value)))
                    .collect(),
                http10: version == 0,
                body: Body::None,
                close: version == 0,
                expect_continue: false,
            };
            (len, head)
        }
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Parsed::Refused(Refusal::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Refused(Refusal::TooLarge),
        Err(_) => return Parsed::Refused(Refusal::BadRequest),
    };
    if len > MAX_HEAD_BYTES {
        return Parsed::Refused(Refusal::TooLarge);
    }
    for &((n, nl), _) in &head.headers {
        buf[n..n + nl].make_ascii_lowercase();
    }
    match frame(buf, &mut head) {
        Ok(()) => Parsed::Complete(head),
        Err(r) => Parsed::Refused(r),
    }
}

/// Read the headers that frame the request: `Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`.
fn frame(buf: &[u8], head: &mut Head) -> Result<(), Refusal> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut keep_alive = false;
    for &((n, nl), (v, vl)) in &head.headers {
        let value = &buf[v..v + vl];
        match &buf[n..n + nl] {
            b"content-length" => {
                // Digits only (no sign, no spaces inside); repeated values must agree (RFC 9112 §6.3).
                let parsed = content_length(value).ok_or(Refusal::BadRequest)?;
                if length.is_some_and(|l| l != parsed) {
                    return Err(Refusal::BadRequest);
                }
                length = Some(parsed);
            }
            b"transfer-encoding" => chunked = true,
            b"connection" => {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        head.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            }
            b"expect" => {
                head.expect_continue |= value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
            }
            _ => {}
        }
    }
    if head.http10 && keep_alive && !has_token(buf, head, b"close") {
        head.close = false;
    }
    head.body = match (chunked, length) {
        // Both: a request two parties could split differently. Refused, never guessed.
        (true, Some(_)) => return Err(Refusal::BadRequest),
        (true, None) => Body::Unframed,
        (false, Some(0) | None) => Body::None,
        (false, Some(l)) => Body::Length(l),
    };
    Ok(())
}

fn has_token(buf: &[u8], head: &Head, token: &[u8]) -> bool {
    head.headers.iter().any(|&((n, nl), (v, vl))| {
        &buf[n..n + nl] == b"connection"
            && buf[v..v + vl]
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
    })
}

fn content_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The path and query of a request target, as a proxy's origin-form request has it: an absolute-form target
/// (`http://host/path?q`) loses its scheme and authority (`/path?q`, or `/` when it has no path); every other form is
/// returned as sent.
pub fn path_and_query(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    match target.find("://") {
        Some(i) => {
            let rest = &target[i + 3..];
            match rest.find(['/', '?']) {
                Some(j) if rest.as_bytes()[j] == b'/' => &rest[j..],
                _ => "/",
            }
        }
        None => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> Result<(Head, Vec<u8>), String> {
        let mut buf = raw.to_vec();
        match parse(&mut buf) {
            Parsed::Complete(h) => Ok((h, buf)),
            other => Err(format!("{other:?}")),
        }
    }

    fn refused(raw: &[u8]) -> Refusal {
        let mut buf = raw.to_vec();
        match parse(&mut buf) {
            Parsed::Refused(r) => r,
            other => panic!(
                "{:?} was not refused: {other:?}",
                String::from_utf8_lossy(raw)
            ),
        }
    }

    fn all_bad(heads: &[&[u8]]) {
        for bad in heads {
            assert_eq!(
                refused(bad),
                Refusal::BadRequest,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn text(buf: &[u8], (at, len): (usize, usize)) -> &str {
        std::str::from_utf8(&buf[at..at + len]).expect("ASCII")
    }

    #[test]
    fn a_head_is_read_with_names_lower_cased_and_values_untouched() {
        let raw = b"GET /graphql?x=1 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer AbC\r\nX-Hasura-Role: Admin\r\n\r\nNEXT";
        let (h, buf) = parsed(raw).expect("complete");
        assert_eq!(h.len, raw.len() - 4);
        assert_eq!(text(&buf, h.method), "GET");
        assert_eq!(text(&buf, h.target), "/graphql?x=1");
        let headers: Vec<(&str, &str)> = h
            .headers
            .iter()
            .map(|&(n, v)| (text(&buf, n), text(&buf, v)))
            .collect();
        assert_eq!(
            headers,
            [
                ("host", "api"),
                ("authorization", "Bearer AbC"),
                ("x-hasura-role", "Admin")
            ]
        );
        assert!(!h.http10 && !h.close && !h.expect_continue);
        assert_eq!(h.body, Body::None);
        assert_eq!(&buf[h.len..], b"NEXT");
    }

    #[test]
    fn an_incomplete_head_waits_and_an_endless_one_is_refused() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        assert!(matches!(parse(&mut buf), Parsed::Partial));
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.resize(MAX_HEAD_BYTES, b'a');
        assert!(matches!(
            parse(&mut big),
            Parsed::Refused(Refusal::TooLarge)
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse(&mut many),
            Parsed::Refused(Refusal::TooLarge)
        ));
    }

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_tokens() {
        let close = |raw: &[u8]| parsed(raw).expect("complete").0.close;
        assert!(!close(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(close(
            b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n"
        ));
        assert!(close(
            b"GET / HTTP/1.1\r\nConnection: upgrade\r\nconnection: close\r\n\r\n"
        ));
        assert!(close(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(!close(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(close(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
        ));
        assert!(
            parsed(b"GET / HTTP/1.0\r\n\r\n")
                .expect("complete")
                .0
                .http10
        );
    }

    #[test]
    fn bodies_are_framed_strictly() {
        let body = |raw: &[u8]| parsed(raw).expect("complete").0.body;
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            Body::Length(12)
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Body::None
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"),
            Body::Length(5)
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Body::Unframed
        );
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Body::Unframed
        );
        all_bad(&[
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 5,5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
        ]);
        assert!(
            parsed(b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n")
                .expect("complete")
                .0
                .expect_continue
        );
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        all_bad(&[
            b"GET / HTTP/2.0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            b"GET\x01 / HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
        ]);
    }

    #[test]
    fn the_path_and_query_of_every_target_form() {
        assert_eq!(path_and_query("/configs/a/x?y=1"), "/configs/a/x?y=1");
        assert_eq!(path_and_query("http://h:8080/configs/a?y"), "/configs/a?y");
        assert_eq!(path_and_query("https://h"), "/");
        assert_eq!(path_and_query("http://h?q=1"), "/");
        assert_eq!(path_and_query("*"), "*");
        assert_eq!(path_and_query("h:443"), "h:443");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, failure_persistence: None, .. Default::default() })]

        /// Any bytes: a head, a wait or a refusal, never a panic; a complete head lies inside the input.
        #[test]
        fn any_bytes_parse_without_panicking(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let mut buf = raw.clone();
            if let Parsed::Complete(h) = parse(&mut buf) {
                proptest::prop_assert!(h.len <= raw.len());
                for &((n, nl), (v, vl)) in &h.headers {
                    proptest::prop_assert!(n + nl <= h.len && v + vl <= h.len);
                }
            }
        }

        /// A well-formed head of random header lines reads back as sent, names lower-cased, in order.
        #[test]
        fn a_well_formed_head_reads_back(
            lines in proptest::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~]{0,40}"), 0..20),
            split in 0usize..400,
        ) {
            let lines: Vec<(String, String)> = lines
                .into_iter()
                .filter(|(n, _)| !matches!(n.to_ascii_lowercase().as_str(), "content-length" | "transfer-encoding"))
                .map(|(n, v)| (n, v.trim().to_owned()))
                .collect();
            let mut raw = b"GET /p?q=1 HTTP/1.1\r\n".to_vec();
            for (n, v) in &lines {
                raw.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            raw.extend_from_slice(b"\r\n");
            // Any prefix is a wait; the whole is the head.
            let cut = split.min(raw.len() - 1);
            let mut prefix = raw[..cut].to_vec();
            proptest::prop_assert!(matches!(parse(&mut prefix), Parsed::Partial));
            let mut buf = raw.clone();
            let Parsed::Complete(h) = parse(&mut buf) else {
                return Err(proptest::test_runner::TestCaseError::fail("not complete"));
            };
            proptest::prop_assert_eq!(h.len, raw.len());
            let got: Vec<(String, String)> = h
                .headers
                .iter()
                .map(|&(n, v)| (text(&buf, n).to_owned(), text(&buf, v).to_owned()))
                .collect();
            let want: Vec<(String, String)> = lines
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
