//! The fixture of the gate's in-process tests: a fake key source standing in for the config's JWKS URL (handed to
//! the gate through its key-provider seam), a manual clock, and tokens signed with the committed RSA test keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use url::Url;

use crate::authn::request::AuthRequest;
use crate::clock::ManualClock;
use crate::config::{LoadOptions, load_str_with_env};
use crate::gate::{Decision, Gate, GateSettings};
use crate::jwks::{KeyFuture, KeyLookup, KeyProvider, KeySource, VerifyingKey};
use crate::observe::Ignore;

pub(super) const RSA1: &str = include_str!("../../../tests/fixtures/vectors/keys/rsa1.pem");
const RSA1_PUB: &str = include_str!("../../../tests/fixtures/vectors/keys/rsa1.pub.pem");
pub(super) const RSA2: &str = include_str!("../../../tests/fixtures/vectors/keys/rsa2.pem");
pub(super) const NOW: u64 = 1_700_000_000;

/// A JWKS default mode, and a noAuth alternative picked by `x-hasura-auth-mode: open`.
const CONFIG: &str = r#"kind: AuthConfig
version: v4
definition:
  mode:
    jwt:
      key:
        jwkFromUrl: https://keys.example/jwks.json
      tokenLocation:
        type: BearerAuthorization
      claimsConfig:
        namespace:
          claimsFormat: Json
          location: /claims.jwt.hasura.io
  alternativeModes:
    - identifier: open
      config:
        noAuth:
          role: guest
          sessionVariables:
            x-hasura-user-id: "0"
"#;

/// One key set, `k1` (rsa1, RS256 only), whose epoch and availability a test moves; it counts its lookups.
pub(super) struct FakeKeys {
    keys: HashMap<String, Arc<VerifyingKey>>,
    pub(super) epoch: AtomicU64,
    pub(super) available: AtomicBool,
    lookups: AtomicUsize,
}

impl FakeKeys {
    pub(super) fn new() -> Arc<Self> {
        let key = VerifyingKey::new(
            DecodingKey::from_rsa_pem(RSA1_PUB.as_bytes()).expect("rsa1 public key"),
            vec![Algorithm::RS256],
        );
        Arc::new(Self {
            keys: HashMap::from([("k1".to_owned(), Arc::new(key))]),
            epoch: AtomicU64::new(1),
            available: AtomicBool::new(true),
            lookups: AtomicUsize::new(0),
        })
    }

    pub(super) fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }
}

impl KeySource for FakeKeys {
    fn key<'a>(&'a self, kid: Option<&'a str>) -> KeyFuture<'a> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = if !self.available.load(Ordering::Relaxed) {
            KeyLookup::Unavailable
        } else {
            match kid.and_then(|k| self.keys.get(k)) {
                Some(k) => KeyLookup::Found(k.clone(), self.epoch()),
                None => KeyLookup::UnknownKid,
            }
        };
        Box::pin(std::future::ready(found))
    }

    fn epoch(&self) -> u64 {
        if self.available.load(Ordering::Relaxed) {
            self.epoch.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    fn is_ready(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }
}

/// Hands out the one fake source for every JWKS URL.
struct FakeProvider(Arc<FakeKeys>);

impl KeyProvider for FakeProvider {
    fn source(&self, _url: &Url) -> Arc<dyn KeySource> {
        self.0.clone()
    }

    fn retain(&self, _urls: &[Url]) {}
}

pub(super) struct Fixture {
    pub(super) gate: Gate,
    pub(super) keys: Arc<FakeKeys>,
    pub(super) clock: Arc<ManualClock>,
}

impl Fixture {
    pub(super) fn new() -> Self {
        let keys = FakeKeys::new();
        let clock = Arc::new(ManualClock::at(NOW));
        let gate = Gate::with_key_provider(
            GateSettings::default(),
            Arc::new(Ignore),
            clock.clone(),
            Arc::new(FakeProvider(keys.clone())),
        )
        .expect("gate");
        Self { gate, keys, clock }
    }

    pub(super) fn with_config() -> Self {
        let f = Self::new();
        f.apply();
        f
    }

    pub(super) fn apply(&self) {
        let loaded =
            load_str_with_env(CONFIG, &LoadOptions::default(), &|_| None).expect("config loads");
        self.gate.apply(loaded.config);
    }

    pub(super) async fn decide(&self, headers: &[(&str, Vec<u8>)]) -> Decision {
        let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let req = AuthRequest {
            method: "GET",
            uri: "/graphql",
            headers: &headers,
        };
        self.gate.decide(&req).await
    }
}

pub(super) fn claims() -> Value {
    json!({
        "sub": "u1", "iat": NOW - 10, "exp": NOW + 600,
        "claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user", "editor"],
                                  "x-hasura-user-id": "u1"}
    })
}

pub(super) fn rs256(kid: Option<&str>, pem: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("committed private key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

pub(super) fn good_token() -> String {
    rs256(Some("k1"), RSA1, &claims())
}

pub(super) fn bearer(token: &str) -> (&'static str, Vec<u8>) {
    ("authorization", format!("Bearer {token}").into_bytes())
}
