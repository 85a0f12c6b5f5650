//! SHA-256 over a sequence of parts: the decision and webhook cache keys, JWK fingerprints and the config file's
//! change detector all use this one helper.

use aws_lc_rs::digest;

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::sha256;

    #[test]
    fn parts_are_concatenated() {
        assert_eq!(sha256(&[b"ab", b"c"]), sha256(&[b"abc"]));
        assert_ne!(sha256(&[b"abc"]), sha256(&[b"abd"]));
        // The well-known digest of "abc".
        assert_eq!(sha256(&[b"abc"])[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
