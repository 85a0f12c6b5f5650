//! The gate's decisions in-process, by table: no listener, no network (see `fixture`).

mod fixture;
mod multi;

use std::sync::atomic::Ordering;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::authn::reason::Reason;
use fixture::{Fixture, RSA1, RSA2, bearer, claims, good_token, rs256};

/// What a row's decision must be.
enum Want {
    Allow {
        role: &'static str,
        vars: &'static [(&'static str, &'static str)],
    },
    Deny {
        status: u16,
        reason: Reason,
        /// The exact message, where the row is about it.
        message: Option<&'static str>,
    },
}

/// What happens before the decision.
enum Setup {
    Nothing,
    NoConfig,
    KeysUnavailable,
    /// Decide once (an allow), then move the clock.
    Advance(Duration),
}

struct Row {
    name: &'static str,
    setup: Setup,
    headers: Vec<(&'static str, Vec<u8>)>,
    want: Want,
}

fn deny(status: u16, reason: Reason, message: Option<&'static str>) -> Want {
    Want::Deny {
        status,
        reason,
        message,
    }
}

fn rows() -> Vec<Row> {
    let user = &[("x-hasura-user-id", "u1")][..];
    let hs256 = jsonwebtoken::encode(
        &Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(),
        &EncodingKey::from_secret(b"a-secret-of-at-least-thirty-two-bytes!"),
    )
    .expect("sign");
    let mut no_claims = claims();
    no_claims
        .as_object_mut()
        .expect("object")
        .remove("claims.jwt.hasura.io");
    let row = |name, setup, headers, want| Row {
        name,
        setup,
        headers,
        want,
    };
    vec![
        row(
            "allow, JWT, default role",
            Setup::Nothing,
            vec![bearer(&good_token())],
            Want::Allow {
                role: "user",
                vars: user,
            },
        ),
        row(
            "allow, JWT, requested role",
            Setup::Nothing,
            vec![bearer(&good_token()), ("x-hasura-role", b"editor".to_vec())],
            Want::Allow {
                role: "editor",
                vars: user,
            },
        ),
        row(
            "allow, noAuth alternative",
            Setup::Nothing,
            vec![("x-hasura-auth-mode", b"open".to_vec())],
            Want::Allow {
                role: "guest",
                vars: &[("x-hasura-user-id", "0")],
            },
        ),
        row(
            "missing token",
            Setup::Nothing,
            vec![],
            deny(
                401,
                Reason::MissingToken,
                Some("JWT Authorization token source: Header name Authorization not found."),
            ),
        ),
        row(
            "malformed token",
            Setup::Nothing,
            vec![bearer("not-a-jwt")],
            deny(
                401,
                Reason::MalformedToken,
                Some("JWT validation error: InvalidToken"),
            ),
        ),
        row(
            "no kid for a JWKS",
            Setup::Nothing,
            vec![bearer(&rs256(None, RSA1, &claims()))],
            deny(
                401,
                Reason::MalformedToken,
                Some("`kid` (Key ID) header claim not found in the header"),
            ),
        ),
        row(
            "bad signature (signed by another key under k1)",
            Setup::Nothing,
            vec![bearer(&rs256(Some("k1"), RSA2, &claims()))],
            deny(
                401,
                Reason::InvalidSignature,
                Some("JWT validation error: InvalidSignature"),
            ),
        ),
        row(
            "wrong algorithm (HS256 for an RS256 key)",
            Setup::Nothing,
            vec![bearer(&hs256)],
            deny(
                401,
                Reason::InvalidAlgorithm,
                Some("Error while decoding the JWT: InvalidAlgorithm"),
            ),
        ),
        row(
            "expired by the clock",
            Setup::Advance(Duration::from_secs(3600)),
            vec![bearer(&good_token())],
            deny(
                401,
                Reason::Expired,
                Some("JWT validation error: ExpiredSignature"),
            ),
        ),
        row(
            "no Hasura claims",
            Setup::Nothing,
            vec![bearer(&rs256(Some("k1"), RSA1, &no_claims))],
            deny(
                401,
                Reason::InvalidClaims,
                Some("Hasura claims not found in the JWT at /claims.jwt.hasura.io"),
            ),
        ),
        row(
            "unknown kid",
            Setup::Nothing,
            vec![bearer(&rs256(Some("k9"), RSA1, &claims()))],
            deny(
                401,
                Reason::UnknownKid,
                Some("No matching JWK found for the given kid: k9"),
            ),
        ),
        row(
            "key set unavailable",
            Setup::KeysUnavailable,
            vec![bearer(&good_token())],
            deny(
                503,
                Reason::JwksUnavailable,
                Some("Error while fetching the JWKSet: no key set is available"),
            ),
        ),
        row(
            "role not allowed",
            Setup::Nothing,
            vec![bearer(&good_token()), ("x-hasura-role", b"admin".to_vec())],
            deny(
                403,
                Reason::RoleNotAllowed,
                Some("cannot be authorized as role: admin"),
            ),
        ),
        row(
            "auth-mode header bytes invalid",
            Setup::Nothing,
            vec![
                bearer(&good_token()),
                ("x-hasura-auth-mode", b"op\xffen".to_vec()),
            ],
            deny(
                401,
                Reason::InvalidHeader,
                Some("Invalid auth mode header: failed to convert header to a str"),
            ),
        ),
        row(
            "no config",
            Setup::NoConfig,
            vec![bearer(&good_token())],
            deny(
                503,
                Reason::NoConfig,
                Some("no valid AuthConfig has been loaded"),
            ),
        ),
    ]
}

#[tokio::test]
async fn decisions_by_table() {
    for row in rows() {
        let f = Fixture::new();
        match row.setup {
            Setup::NoConfig => {}
            Setup::Nothing => f.apply(),
            Setup::KeysUnavailable => {
                f.keys.available.store(false, Ordering::Relaxed);
                f.apply();
            }
            Setup::Advance(by) => {
                f.apply();
                let before = f.decide(&row.headers).await;
                assert_eq!(before.status(), 200, "{}: before the clock moves", row.name);
                f.clock.advance(by);
            }
        }
        let d = f.decide(&row.headers).await;
        let name = row.name;
        match row.want {
            Want::Allow { role, vars } => {
                let allowed = d
                    .result
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_eq!(allowed.session.role, role, "{name}");
                let got: Vec<_> = allowed.session.vars.iter().collect();
                assert_eq!(got, vars, "{name}");
                assert!(!d.cache_hit, "{name}: a first decision is no cache hit");
            }
            Want::Deny {
                status,
                reason,
                message,
            } => {
                let e = d.result.as_ref().expect_err(name);
                assert_eq!((d.status(), e.reason), (status, reason), "{name}: {e:?}");
                if let Some(m) = message {
                    assert_eq!(&*e.message, m, "{name}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_repeated_token_is_answered_from_the_cache_without_a_key_lookup() {
    let f = Fixture::with_config();
    let req = [bearer(&good_token())];
    let first = f.decide(&req).await;
    assert_eq!(first.status(), 200);
    assert!(!first.cache_hit);
    assert_eq!(f.keys.lookups(), 1);
    let second = f.decide(&req).await;
    assert_eq!(second.status(), 200);
    assert!(second.cache_hit);
    assert_eq!(f.keys.lookups(), 1, "a cache hit asks no key source");
}

#[tokio::test]
async fn a_config_load_invalidates_cached_decisions_even_for_the_same_config() {
    let f = Fixture::with_config();
    let req = [bearer(&good_token())];
    assert!(!f.decide(&req).await.cache_hit);
    assert!(f.decide(&req).await.cache_hit);
    f.apply();
    let after = f.decide(&req).await;
    assert_eq!(after.status(), 200);
    assert!(!after.cache_hit, "a new generation is a miss");
    assert_eq!(f.keys.lookups(), 2);
    assert!(f.decide(&req).await.cache_hit);
}

#[tokio::test]
async fn a_new_key_set_epoch_has_the_token_verified_again() {
    let f = Fixture::with_config();
    let req = [bearer(&good_token())];
    assert!(!f.decide(&req).await.cache_hit);
    assert!(f.decide(&req).await.cache_hit);
    f.keys.epoch.fetch_add(1, Ordering::Relaxed);
    let after = f.decide(&req).await;
    assert_eq!(after.status(), 200);
    assert!(!after.cache_hit, "a new epoch is a miss");
    assert_eq!(f.keys.lookups(), 2);
    assert!(f.decide(&req).await.cache_hit);
    assert_eq!(f.keys.lookups(), 2);
}

#[tokio::test]
async fn a_cached_denial_follows_the_epoch_too() {
    let f = Fixture::with_config();
    let req = [bearer(&rs256(Some("k1"), RSA2, &claims()))];
    assert_eq!(f.decide(&req).await.status(), 401);
    assert_eq!(f.decide(&req).await.status(), 401);
    assert_eq!(f.keys.lookups(), 1, "a permanent denial is cached");
    f.keys.epoch.fetch_add(1, Ordering::Relaxed);
    assert_eq!(f.decide(&req).await.status(), 401);
    assert_eq!(f.keys.lookups(), 2);
}

#[tokio::test]
async fn readiness_follows_the_key_source() {
    let f = Fixture::new();
    assert!(!f.gate.is_ready(), "no config yet");
    f.apply();
    assert!(f.gate.is_ready());
    f.keys.available.store(false, Ordering::Relaxed);
    assert!(!f.gate.is_ready());
}
