//! The proxy-neutral view of one client request: what the contract adapter hands the gate. Header names are
//! lower-case (as every HTTP framework normalises them); values are raw bytes, not yet checked.

/// One client request as the proxy forwarded it.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    /// The original method (for logs).
    pub method: &'a str,
    /// The original path and query (for logs).
    pub uri: &'a str,
    /// Headers in arrival order, names lower-case.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> AuthRequest<'a> {
    /// Every value of a header (name compared case-insensitively).
    pub fn all(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let headers = self.headers;
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of a header.
    pub fn first(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The last value of a header.
    pub fn last(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// A header value as text when it is visible ASCII (and TAB), as `http::HeaderValue::to_str` accepts.
pub fn visible_ascii(v: &[u8]) -> Option<&str> {
    // One pass the compiler can vectorise; visible ASCII is valid UTF-8, which `from_utf8` then confirms quickly.
    if v.iter()
        .filter(|&&b| !matches!(b, b'\t' | 0x20..=0x7e))
        .count()
        == 0
    {
        std::str::from_utf8(v).ok()
    } else {
        None
    }
}
