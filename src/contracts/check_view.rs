//! The parts of an ext_authz `CheckRequest` the adapter reads, decoded straight from the wire and borrowed from it:
//! `attributes.request.http` (`method`, `path`, the `headers` map, `header_map`) and `attributes.context_extensions`.
//! prost's full decode of Envoy's message allocates a `String` for every header name and value and builds a hash
//! map; this reads the same fields without copying them.
//!
//! It reads exactly what prost would for those fields (the last value of a repeated scalar, the last entry of a
//! repeated map key, UTF-8 checked strings) and gives up ([`Fallback`]) on anything whose meaning takes more than
//! that: a singular message field sent twice (protobuf merges the two), a group, a wire type that does not match the
//! field, a malformed varint or length, a map with more entries than the adapter judges. The caller then decodes the
//! message with prost, which either merges and answers or refuses it. Fields the adapter never reads (`source`,
//! `destination`, metadata, `id`, `host`, …) are skipped unparsed, so a check malformed only there is judged, where a
//! full decode would refuse it.

use std::str;

use envoy_types::pb::envoy::service::auth::v3::CheckRequest;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::HttpRequest;

/// Most entries of the `headers` map read here (removing duplicated keys is quadratic); more goes to prost.
pub const MAX_MAP_ENTRIES: usize = 256;

/// The wire form says more than this decoder reads: decode with prost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

/// One `header_map` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub raw_value: &'a [u8],
}

/// `attributes.request.http`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpView<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The `headers` map, each key once (its last value), in wire order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// `header_map.headers`, when `header_map` is present.
    pub header_map: Option<Vec<RawHeader<'a>>>,
}

/// A `CheckRequest` as the adapter reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckView<'a> {
    pub http: Option<HttpView<'a>>,
    /// `attributes.context_extensions`, each key once (its last value).
    pub context_extensions: Vec<(&'a str, &'a str)>,
}

impl<'a> CheckView<'a> {
    /// Read `buf`, an encoded `CheckRequest`.
    pub fn decode(buf: &'a [u8]) -> Result<Self, Fallback> {
        let mut view = CheckView::default();
        let mut seen_attributes = false;
        let mut r = Reader::new(buf);
        while let Some((field, wire)) = r.key()? {
            match field {
                1 => {
                    once(&mut seen_attributes)?;
                    attributes(r.message(wire)?, &mut view)?;
                }
                _ => r.skip(wire)?,
            }
        }
        Ok(view)
    }

    /// The same view of an already decoded message (prost's hash maps give their entries in no fixed order).
    pub fn of_message(req: &'a CheckRequest) -> Self {
        let Some(a) = &req.attributes else {
            return Self::default();
        };
        let http = a.request.as_ref().and_then(|r| r.http.as_ref());
        Self {
            http: http.map(HttpView::of_message),
            context_extensions: a
                .context_extensions
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        }
    }

    /// The view with the entries of its maps in key order: prost's hash maps keep no order and the wire does, so
    /// views read both ways compare equal once sorted (tests and the fuzz target compare them).
    pub fn sorted_maps(mut self) -> Self {
        self.context_extensions.sort_unstable();
        if let Some(h) = &mut self.http {
            h.headers.sort_unstable();
        }
        self
    }

    /// The value of a context extension.
    pub fn context_extension(&self, key: &str) -> Option<&'a str> {
        self.context_extensions
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

impl<'a> HttpView<'a> {
    fn of_message(h: &'a HttpRequest) -> Self {
        Self {
            method: &h.method,
            path: &h.path,
            headers: h
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            header_map: h.header_map.as_ref().map(|m| {
                m.headers
                    .iter()
                    .map(|v| RawHeader {
                        key: &v.key,
                        value: &v.value,
                        raw_value: &v.raw_value,
                    })
                    .collect()
            }),
        }
    }
}

/// A singular message field may appear once; a second occurrence is merged by protobuf, which prost does.
fn once(seen: &mut bool) -> Result<(), Fallback> {
    if std::mem::replace(seen, true) {
        return Err(Fallback);
    }
    Ok(())
}

fn attributes<'a>(buf: &'a [u8], view: &mut CheckView<'a>) -> Result<(), Fallback> {
    let mut seen_request = false;
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.key()? {
        match field {
            4 => {
                once(&mut seen_request)?;
                request(r.message(wire)?, view)?;
            }
            10 => map_entry(r.message(wire)?, &mut view.context_extensions)?,
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn request<'a>(buf: &'a [u8], view: &mut CheckView<'a>) -> Result<(), Fallback> {
    let mut seen_http = false;
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.key()? {
        match field {
            2 => {
                once(&mut seen_http)?;
                view.http = Some(http(r.message(wire)?)?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(())
}

fn http(buf: &[u8]) -> Result<HttpView<'_>, Fallback> {
    let mut h = HttpView::default();
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.key()? {
        match field {
            2 => h.method = r.string(wire)?,
            3 => map_entry(r.message(wire)?, &mut h.headers)?,
            4 => h.path = r.string(wire)?,
            13 => {
                if h.header_map.is_some() {
                    return Err(Fallback);
                }
                h.header_map = Some(header_map(r.message(wire)?)?);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(h)
}

/// `envoy.config.core.v3.HeaderMap`: `repeated HeaderValue headers = 1`.
fn header_map(buf: &[u8]) -> Result<Vec<RawHeader<'_>>, Fallback> {
    let mut out = Vec::new();
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => {
                let mut h = RawHeader {
                    key: "",
                    value: "",
                    raw_value: &[],
                };
                let mut v = Reader::new(r.message(wire)?);
                while let Some((field, wire)) = v.key()? {
                    match field {
                        1 => h.key = v.string(wire)?,
                        2 => h.value = v.string(wire)?,
                        3 => h.raw_value = v.bytes(wire)?,
                        _ => v.skip(wire)?,
                    }
                }
                out.push(h);
            }
            _ => r.skip(wire)?,
        }
    }
    Ok(out)
}

/// One `map<string, string>` entry (`key = 1`, `value = 2`, either may be absent), added to `map` in place of an
/// earlier entry with the same key.
fn map_entry<'a>(buf: &'a [u8], map: &mut Vec<(&'a str, &'a str)>) -> Result<(), Fallback> {
    let (mut key, mut value) = ("", "");
    let mut r = Reader::new(buf);
    while let Some((field, wire)) = r.key()? {
        match field {
            1 => key = r.string(wire)?,
            2 => value = r.string(wire)?,
            _ => r.skip(wire)?,
        }
    }
    if let Some(slot) = map.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else if map.len() >= MAX_MAP_ENTRIES {
        return Err(Fallback);
    } else {
        map.push((key, value));
    }
    Ok(())
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Protobuf's wire format, read forward.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next field's number and wire type, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u32, u8)>, Fallback> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(Fallback);
        }
        // Both bounds checked above: the field number fits in 29 bits and the wire type in 3.
        Ok(Some((field as u32, (key & 7) as u8)))
    }

    fn varint(&mut self) -> Result<u64, Fallback> {
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            let bits = u64::from(b & 0x7f);
            // The tenth byte holds the top bit of 64 only.
            if i == 9 && b > 1 {
                return Err(Fallback);
            }
            value |= bits << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(Fallback)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Fallback> {
        if n > self.buf.len() {
            return Err(Fallback);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn bytes(&mut self, wire: u8) -> Result<&'a [u8], Fallback> {
        if wire != LEN {
            return Err(Fallback);
        }
        let n = usize::try_from(self.varint()?).map_err(|_| Fallback)?;
        self.take(n)
    }

    fn message(&mut self, wire: u8) -> Result<&'a [u8], Fallback> {
        self.bytes(wire)
    }

    fn string(&mut self, wire: u8) -> Result<&'a str, Fallback> {
        str::from_utf8(self.bytes(wire)?).map_err(|_| Fallback)
    }

    fn skip(&mut self, wire: u8) -> Result<(), Fallback> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes(wire).map(drop),
            FIXED32 => self.take(4).map(drop),
            // Groups (3, 4) and the unused wire types 6 and 7.
            _ => Err(Fallback),
        }
    }
}

#[cfg(test)]
#[path = "check_view_tests.rs"]
mod tests;
