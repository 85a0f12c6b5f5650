//! An allowed `CheckResponse` written straight to protobuf bytes. The allow is the answer a busy gateway sends most,
//! and building it as prost structs first (a `String` per header name and value, a `HashMap` for the metadata,
//! then the encoding pass) cost more than the decision it carries when the decision came from the cache. The bytes
//! are the message [`super::ext_authz::respond`] builds, field for field: the tests decode both and compare.
//!
//! Fields written (proto3; numbers from envoy.service.auth.v3 and its imports):
//! `CheckResponse { status = 1 (google.rpc.Status, code 0), ok_response = 3, dynamic_metadata = 4 }`,
//! `OkHttpResponse { headers = 2 (HeaderValueOption), headers_to_remove = 5 }`,
//! `HeaderValueOption { header = 1 { key = 1, value = 2 }, append = 2 (BoolValue false), append_action = 3,
//! keep_empty_value = 4 }`, `Struct { fields = 1 (map entry { key = 1, value = 2 (Value { string_value = 3 }) }) }`.

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use prost::encoding::{encode_varint, encoded_len_varint};

use super::answer;
use super::ext_authz::{ExtAuthzSettings, METADATA_VALUE_MAX, cap};
use crate::authn::reason::Deny;
use crate::gate::{Allowed, Decision};

/// Wire type of a length-delimited field.
const LEN: u64 = 2;
/// Wire type of a varint field.
const VARINT: u64 = 0;

/// Append the encoded allow of `d` (whose result is `allowed`) to `out`. `Err` when the session cannot be sent as
/// headers: the caller answers that denial instead, exactly as `respond` would.
pub(crate) fn encode_allowed(
    d: &Decision,
    allowed: &Allowed,
    settings: &ExtAuthzSettings,
    config: &str,
    out: &mut Vec<u8>,
) -> Result<(), Deny> {
    // Lengths first (protobuf prefixes each submessage with its size), then the bytes; both passes are arithmetic
    // over the same borrowed strings.
    let mut ok_len: usize = answer::session_headers(&allowed.session)?
        .map(|(name, value)| field_len(option_len(name, value)))
        .sum();
    ok_len += d
        .headers_to_remove
        .iter()
        .map(|h| field_len(h.len()))
        .sum::<usize>();
    let meta_len: usize = metadata(allowed, settings, config)
        .map(|(k, v)| field_len(entry_len(k, v)))
        .sum();

    out.reserve(2 + field_len(ok_len) + field_len(meta_len));
    // status: google.rpc.Status with code OK (0) and no message, an empty submessage.
    put_len_key(out, 1, 0);
    put_len_key(out, 3, ok_len);
    for (name, value) in answer::session_headers(&allowed.session)? {
        put_len_key(out, 2, option_len(name, value));
        put_option(out, name, value);
    }
    for h in &d.headers_to_remove {
        put_bytes(out, 5, h.as_bytes());
    }
    put_len_key(out, 4, meta_len);
    for (k, v) in metadata(allowed, settings, config) {
        put_len_key(out, 1, entry_len(k, v));
        put_str(out, 1, k);
        put_len_key(out, 2, value_len(v));
        put_bytes(out, 3, v.as_bytes());
    }
    Ok(())
}

/// The dynamic metadata's entries, in the order `respond` inserts them: the role, the config, then the session
/// variables `--grpc-metadata-vars` names. Values are capped.
fn metadata<'a>(
    allowed: &'a Allowed,
    settings: &'a ExtAuthzSettings,
    config: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let vars = allowed
        .session
        .vars
        .iter()
        .filter(|(n, _)| settings.metadata_vars.iter().any(|m| m == n));
    [("role", allowed.session.role.as_str()), ("config", config)]
        .into_iter()
        .chain(vars)
        .map(|(k, v)| (k, cap(v, METADATA_VALUE_MAX)))
}

/// `HeaderValueOption` with `header { key, value }`, `append: false`, overwrite-or-add, keep empty values.
fn option_len(name: &str, value: &str) -> usize {
    field_len(str_len(name) + str_len(value)) + 2 + 2 + 2
}

fn put_option(out: &mut Vec<u8>, name: &str, value: &str) {
    put_len_key(out, 1, str_len(name) + str_len(value));
    put_str(out, 1, name);
    put_str(out, 2, value);
    // append: a BoolValue holding false is an empty submessage.
    put_len_key(out, 2, 0);
    put_key(out, 3, VARINT);
    encode_varint(HeaderAppendAction::OverwriteIfExistsOrAdd as u64, out);
    put_key(out, 4, VARINT);
    encode_varint(1, out);
}

/// A map entry `{ key = 1, value = 2 }` whose value is a `Value` with `string_value = 3` (a oneof member: written
/// even when empty).
fn entry_len(key: &str, value: &str) -> usize {
    str_len(key) + field_len(value_len(value))
}

fn value_len(value: &str) -> usize {
    field_len(value.len())
}

/// A length-delimited field of `len` bytes, with its one-byte key (every field number here is below 16).
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// A proto3 string field: nothing when empty.
fn str_len(s: &str) -> usize {
    if s.is_empty() { 0 } else { field_len(s.len()) }
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u64) {
    encode_varint((u64::from(field) << 3) | wire, out);
}

fn put_len_key(out: &mut Vec<u8>, field: u32, len: usize) {
    put_key(out, field, LEN);
    encode_varint(len as u64, out);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_len_key(out, field, b.len());
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        put_bytes(out, field, s.as_bytes());
    }
}

#[cfg(test)]
#[path = "ext_authz_wire_tests.rs"]
mod tests;
