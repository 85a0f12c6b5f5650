//! The two `Cache-Control` directives authgate reads from its dependencies (JWKS endpoints and auth webhooks).

/// What a `Cache-Control` value says about reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheControl {
    /// `no-store` or `no-cache` was present.
    pub no_store: bool,
    /// `max-age=N`, when present and numeric.
    pub max_age: Option<u64>,
}

/// Parse a `Cache-Control` header value.
pub fn parse(v: &str) -> CacheControl {
    let mut out = CacheControl::default();
    for d in v.split(',') {
        let d = d.trim();
        if d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("no-cache") {
            out.no_store = true;
        } else if let Some((k, n)) = d.split_once('=')
            && k.trim().eq_ignore_ascii_case("max-age")
        {
            out.max_age = n.trim().trim_matches('"').parse::<u64>().ok();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(
            parse("public, max-age=600"),
            CacheControl {
                no_store: false,
                max_age: Some(600)
            }
        );
        assert_eq!(
            parse("no-store"),
            CacheControl {
                no_store: true,
                max_age: None
            }
        );
        assert_eq!(
            parse("No-Cache, max-age=\"5\""),
            CacheControl {
                no_store: true,
                max_age: Some(5)
            }
        );
        assert_eq!(parse("max-age=x"), CacheControl::default());
    }
}
