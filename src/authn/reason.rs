//! The bounded set of reasons a decision can end in. One place maps a reason to its HTTP status class, its stable
//! code (the `extensions.code` of the error body and the `reason` metrics label) and whether a denial for this reason
//! may be cached.

use std::sync::Arc;

/// Declares `Reason` and `Reason::ALL` from one list, so the array holds every variant in declaration order and
/// `ALL[r.index()] == r` cannot go out of step when a reason is added.
macro_rules! reasons {
    ($($(#[$attr:meta])* $name:ident,)*) => {
        /// Why a request was denied or could not be decided.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$attr])* $name,)*
        }

        impl Reason {
            /// Every reason, in declaration order (metrics initialisation, documentation).
            pub const ALL: [Reason; [$(Reason::$name),*].len()] = [$(Reason::$name),*];
        }
    };
}

reasons! {
    /// No token at the configured location.
    MissingToken,
    /// A token that cannot be parsed (segments, base64, JSON, `Bearer` format).
    MalformedToken,
    InvalidSignature,
    /// `alg` not acceptable for the key.
    InvalidAlgorithm,
    /// `exp` in the past (beyond the leeway), or missing.
    Expired,
    /// `nbf` in the future (beyond the leeway).
    NotYetValid,
    /// `iat` in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` missing or wrong.
    InvalidIssuer,
    /// `aud` missing, wrong, or present without a configured audience.
    InvalidAudience,
    /// Hasura claims missing or malformed.
    InvalidClaims,
    /// The token header uses a feature we refuse (`crit`, `jku`, `x5u`, `jwk`, `x5c`, nested JWT).
    UnsupportedHeader,
    /// Token longer than the configured limit.
    TokenTooLarge,
    /// A header the decision reads holds bytes that are not visible ASCII.
    InvalidHeader,
    /// `kid` not in the key set (after the forced refresh allowed by the rate limit).
    UnknownKid,
    /// The requested role is not allowed.
    RoleNotAllowed,
    /// The webhook denied (401 or 403).
    WebhookDenied,
    /// JWKS unreachable and no usable key set held.
    JwksUnavailable,
    /// Webhook unreachable or answered something unusable.
    WebhookUnavailable,
    /// No valid config has loaded yet.
    NoConfig,
    /// Multi-config mode: the request names no config, or one this process does not serve (a proxy
    /// misconfiguration; never a single-config answer).
    UnknownConfig,
    /// A bug.
    Internal,
}

impl Reason {
    /// The position of this reason in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::MalformedToken => "malformed_token",
            Reason::InvalidSignature => "invalid_signature",
            Reason::InvalidAlgorithm => "invalid_algorithm",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::InvalidIssuer => "invalid_issuer",
            Reason::InvalidAudience => "invalid_audience",
            Reason::InvalidClaims => "invalid_claims",
            Reason::UnsupportedHeader => "unsupported_header",
            Reason::TokenTooLarge => "token_too_large",
            Reason::InvalidHeader => "invalid_header",
            Reason::UnknownKid => "unknown_kid",
            Reason::RoleNotAllowed => "role_not_allowed",
            Reason::WebhookDenied => "webhook_denied",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::WebhookUnavailable => "webhook_unavailable",
            Reason::NoConfig => "no_config",
            Reason::UnknownConfig => "unknown_config",
            Reason::Internal => "internal",
        }
    }

    /// The default HTTP status (a webhook denial carries the hook's own 401/403).
    pub fn status(self) -> u16 {
        match self {
            Reason::RoleNotAllowed => 403,
            Reason::JwksUnavailable
            | Reason::WebhookUnavailable
            | Reason::NoConfig
            | Reason::UnknownConfig => 503,
            Reason::Internal => 500,
            _ => 401,
        }
    }

    /// Whether a denial for this reason can only stay a denial for the same token and key set, so it may be
    /// cached briefly. Never for reasons that change on their own (time, key rotation, dependencies).
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            Reason::MalformedToken
                | Reason::InvalidSignature
                | Reason::InvalidAlgorithm
                | Reason::Expired
                | Reason::InvalidIssuer
                | Reason::InvalidAudience
                | Reason::InvalidClaims
                | Reason::UnsupportedHeader
                | Reason::TokenTooLarge
        )
    }
}

/// A denial or error: the reason, the status, and the message shown in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deny {
    pub reason: Reason,
    /// HTTP status (usually `reason.status()`).
    pub status: u16,
    /// The message (the Hasura engine's text where it has one). Shared, so a cached denial is cloned without
    /// copying its text.
    pub message: Arc<str>,
    /// A `WWW-Authenticate` value to pass on (from a webhook), overriding the default.
    pub www_authenticate: Option<String>,
}

impl Deny {
    /// A denial with the reason's status.
    pub fn new(reason: Reason, message: impl Into<Arc<str>>) -> Self {
        Self {
            reason,
            status: reason.status(),
            message: message.into(),
            www_authenticate: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn every_reason_sits_at_its_index_with_a_distinct_code() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }
}
