//! Multi-config mode in-process (policy §13): decisions per named config, the reload side (loaded, failed,
//! removal pending, removed), cache isolation between configs and between versions, readiness, and the key sets
//! kept. Each JWKS URL has its own fake key set (all holding `k1`), so a test can take one config's keys away.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;

use super::fixture::{FakeKeys, Fixture, NOW, RSA1, bearer, claims, good_token, rs256};
use crate::authn::reason::Reason;
use crate::authn::request::AuthRequest;
use crate::clock::ManualClock;
use crate::config::{LoadOptions, load_str_with_env};
use crate::gate::named::open_shared_key_sets;
use crate::gate::{ConfigState, Decision, Gate, GateSettings};
use crate::jwks::{KeyProvider, KeySource};
use crate::observe::{ConfigObserver, Ignore, Transport};

/// One fake key set per URL; records the URLs of the last `retain` and how many configs each `report` named.
#[derive(Default)]
struct Provider {
    sets: Mutex<HashMap<Url, Arc<FakeKeys>>>,
    retained: Mutex<Vec<Url>>,
    reported: Mutex<HashMap<Url, usize>>,
}

impl Provider {
    fn keys(&self, url: &str) -> Arc<FakeKeys> {
        let url = Url::parse(url).expect("URL");
        let mut sets = self.sets.lock().expect("lock");
        sets.entry(url).or_insert_with(FakeKeys::new).clone()
    }

    fn retained(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .retained
            .lock()
            .expect("lock")
            .iter()
            .map(Url::to_string)
            .collect();
        v.sort();
        v
    }
}

impl KeyProvider for Provider {
    fn source(&self, url: &Url) -> Arc<dyn KeySource> {
        self.keys(url.as_str())
    }

    fn retain(&self, urls: &[Url]) {
        *self.retained.lock().expect("lock") = urls.to_vec();
    }

    fn report(&self, url: &Url, to: Vec<Arc<dyn ConfigObserver>>) {
        self.reported
            .lock()
            .expect("lock")
            .insert(url.clone(), to.len());
    }
}

const A_URL: &str = "https://a.example/jwks.json";
const B_URL: &str = "https://b.example/jwks.json";

/// A JWKS config on `url`, checking `issuer` when given.
fn jwt(url: &str, issuer: Option<&str>) -> String {
    let issuer = issuer.map_or(String::new(), |i| format!("      issuer: {i}\n"));
    format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: {url}\n{issuer}      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
    )
}

const OPEN: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: guest\n      sessionVariables: {}\n";

struct Multi {
    gate: Gate,
    provider: Arc<Provider>,
}

impl Multi {
    fn new() -> Self {
        let provider = Arc::new(Provider::default());
        let gate = Gate::with_key_provider(
            GateSettings::default(),
            Arc::new(Ignore),
            Arc::new(ManualClock::at(NOW)),
            provider.clone(),
        )
        .expect("gate")
        .with_multi_config();
        Self { gate, provider }
    }

    fn load(&self, name: &str, text: &str) {
        let loaded =
            load_str_with_env(text, &LoadOptions::default(), &|_| None).expect("config loads");
        self.gate.config_loaded(name, loaded.config);
    }

    async fn decide(&self, name: Option<&[u8]>, token: Option<&str>) -> Decision {
        let auth = token.map(bearer);
        let headers: Vec<(&str, &[u8])> = auth.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let req = AuthRequest {
            method: "GET",
            uri: "/graphql",
            headers: &headers,
        };
        self.gate.decide_named(name, &req, Transport::Http).await
    }

    fn state(&self, name: &str) -> Option<(ConfigState, Option<String>)> {
        let r = self.gate.readiness().expect("multi-config readiness");
        r.configs
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| (c.state, c.last_error))
    }
}

fn token_of(issuer: &str) -> String {
    let mut c: Value = claims();
    c["iss"] = issuer.into();
    rs256(Some("k1"), RSA1, &c)
}

fn reason(d: &Decision) -> Option<Reason> {
    d.result.as_ref().err().map(|e| e.reason)
}

/// What a row is about, the config it names, its token, and the status and reason it must get.
type Row<'a> = (
    &'a str,
    Option<&'a [u8]>,
    Option<&'a str>,
    u16,
    Option<Reason>,
);

#[tokio::test]
async fn decisions_per_named_config_by_table() {
    let m = Multi::new();
    m.load("a", &jwt(A_URL, Some("https://a.example")));
    m.load("b", &jwt(B_URL, Some("https://b.example")));
    m.load("open", OPEN);
    m.gate
        .config_failed("broken", "definition.mode: unknown variant");
    let (ta, tb) = (token_of("https://a.example"), token_of("https://b.example"));
    let rows: [Row<'_>; 11] = [
        ("a's token for a", Some(b"a"), Some(&ta), 200, None),
        (
            "a's token for b",
            Some(b"b"),
            Some(&ta),
            401,
            Some(Reason::InvalidIssuer),
        ),
        ("b's token for b", Some(b"b"), Some(&tb), 200, None),
        (
            "b's token for a",
            Some(b"a"),
            Some(&tb),
            401,
            Some(Reason::InvalidIssuer),
        ),
        ("noAuth config", Some(b"open"), None, 200, None),
        ("no name", None, Some(&ta), 503, Some(Reason::UnknownConfig)),
        (
            "unknown name",
            Some(b"nope"),
            Some(&ta),
            503,
            Some(Reason::UnknownConfig),
        ),
        (
            "names are exact bytes",
            Some(b"A"),
            Some(&ta),
            503,
            Some(Reason::UnknownConfig),
        ),
        (
            "a prefix is not the name",
            Some(b"ope"),
            None,
            503,
            Some(Reason::UnknownConfig),
        ),
        (
            "empty name",
            Some(b""),
            Some(&ta),
            503,
            Some(Reason::UnknownConfig),
        ),
        (
            "never loaded",
            Some(b"broken"),
            Some(&ta),
            503,
            Some(Reason::NoConfig),
        ),
    ];
    for (what, name, token, status, want) in rows {
        let d = m.decide(name, token).await;
        assert_eq!((d.status(), reason(&d)), (status, want), "{what}");
    }
    let open = m.decide(Some(b"open"), None).await;
    assert_eq!(open.result.expect("allowed").session.role, "guest");
}

#[tokio::test]
async fn a_failed_version_keeps_the_last_good_one() {
    let m = Multi::new();
    m.load("a", &jwt(A_URL, None));
    let token = good_token();
    assert_eq!(m.decide(Some(b"a"), Some(&token)).await.status(), 200);
    m.gate.config_failed("a", "line 3: bad indentation");
    assert_eq!(m.decide(Some(b"a"), Some(&token)).await.status(), 200);
    assert_eq!(
        m.state("a"),
        Some((ConfigState::Ready, Some("line 3: bad indentation".into())))
    );
    assert!(m.gate.is_ready());
    m.load("a", &jwt(A_URL, None));
    assert_eq!(m.state("a"), Some((ConfigState::Ready, None)));
}

#[tokio::test]
async fn removal_pending_still_serves_then_removed_is_unknown_config() {
    let m = Multi::new();
    m.load("a", OPEN);
    m.load("b", OPEN);
    m.gate.config_removal_pending("a");
    assert_eq!(m.decide(Some(b"a"), None).await.status(), 200);
    assert_eq!(m.state("a"), Some((ConfigState::RemovalPending, None)));
    m.gate.config_removed("a");
    let d = m.decide(Some(b"a"), None).await;
    assert_eq!((d.status(), reason(&d)), (503, Some(Reason::UnknownConfig)));
    assert_eq!(m.state("a"), None);
    assert_eq!(m.decide(Some(b"b"), None).await.status(), 200);
    // Created again (a delete-then-create): served again.
    m.load("a", OPEN);
    assert_eq!(m.decide(Some(b"a"), None).await.status(), 200);
    // A removal that was pending is cancelled by a new version.
    m.gate.config_removal_pending("b");
    m.load("b", OPEN);
    assert_eq!(m.state("b"), Some((ConfigState::Ready, None)));
}

#[tokio::test]
async fn a_token_cached_for_one_config_never_answers_for_another() {
    let m = Multi::new();
    // Same key set; `b` checks an issuer the token does not carry.
    m.load("a", &jwt(A_URL, None));
    m.load("b", &jwt(A_URL, Some("https://b.example")));
    m.load("twin", &jwt(A_URL, None));
    let token = good_token();
    assert!(!m.decide(Some(b"a"), Some(&token)).await.cache_hit);
    assert!(m.decide(Some(b"a"), Some(&token)).await.cache_hit);
    let b = m.decide(Some(b"b"), Some(&token)).await;
    assert_eq!((b.status(), reason(&b)), (401, Some(Reason::InvalidIssuer)));
    // A config that would allow it too still decides for itself.
    let twin = m.decide(Some(b"twin"), Some(&token)).await;
    assert_eq!(twin.status(), 200);
    assert!(!twin.cache_hit, "an entry of `a` answered for `twin`");
    assert_eq!(m.provider.keys(A_URL).lookups(), 3);
}

#[tokio::test]
async fn a_reload_of_one_config_invalidates_only_its_entries() {
    let m = Multi::new();
    m.load("a", &jwt(A_URL, None));
    m.load("b", &jwt(B_URL, None));
    let token = good_token();
    for name in [b"a", b"b"] {
        assert!(!m.decide(Some(name), Some(&token)).await.cache_hit);
        assert!(m.decide(Some(name), Some(&token)).await.cache_hit);
    }
    m.load("a", &jwt(A_URL, None));
    let a = m.decide(Some(b"a"), Some(&token)).await;
    assert_eq!(a.status(), 200);
    assert!(!a.cache_hit, "the reloaded config's entries are gone");
    assert!(m.decide(Some(b"b"), Some(&token)).await.cache_hit);
    assert_eq!(m.provider.keys(A_URL).lookups(), 2);
    assert_eq!(m.provider.keys(B_URL).lookups(), 1);
}

#[tokio::test]
async fn ready_while_one_config_is_usable() {
    let m = Multi::new();
    assert!(!m.gate.is_ready() && !m.gate.has_config());
    m.gate.config_failed("broken", "no such file");
    assert!(!m.gate.is_ready() && !m.gate.has_config());
    m.provider
        .keys(A_URL)
        .available
        .store(false, Ordering::Relaxed);
    m.load("a", &jwt(A_URL, None));
    assert!(!m.gate.is_ready(), "a's key set is not held");
    assert!(m.gate.has_config());
    m.load("b", &jwt(B_URL, None));
    assert!(m.gate.is_ready(), "b is usable");
    let r = m.gate.readiness().expect("readiness");
    let states: Vec<(&str, ConfigState, bool)> = r
        .configs
        .iter()
        .map(|c| (c.name.as_str(), c.state, c.usable))
        .collect();
    assert_eq!(
        states,
        [
            ("a", ConfigState::NotReady, false),
            ("b", ConfigState::Ready, true),
            ("broken", ConfigState::Failed, false)
        ]
    );
    assert!(r.ready && !r.draining);
    m.provider
        .keys(B_URL)
        .available
        .store(false, Ordering::Relaxed);
    assert!(!m.gate.is_ready() && !m.gate.readiness().expect("r").ready);
    m.provider
        .keys(A_URL)
        .available
        .store(true, Ordering::Relaxed);
    assert!(m.gate.is_ready());
    m.gate.start_draining();
    assert!(!m.gate.is_ready());
    let r = m.gate.readiness().expect("readiness");
    assert!(!r.ready && r.draining);
}

#[tokio::test]
async fn key_sets_kept_are_the_union_of_every_config() {
    let m = Multi::new();
    m.load("a", &jwt(A_URL, None));
    m.load("b", &jwt(B_URL, None));
    assert_eq!(m.provider.retained(), [A_URL, B_URL]);
    m.load("a2", &jwt(A_URL, Some("https://a2.example")));
    assert_eq!(m.provider.retained(), [A_URL, B_URL]);
    let reported =
        |u: &str| m.provider.reported.lock().expect("lock")[&Url::parse(u).expect("url")];
    assert_eq!(
        reported(A_URL),
        2,
        "a shared key set reports under both configs"
    );
    assert_eq!(reported(B_URL), 1);
    m.gate.config_failed("b", "broken");
    assert_eq!(
        m.provider.retained(),
        [A_URL, B_URL],
        "b's last good version still needs its keys"
    );
    m.gate.config_removed("b");
    assert_eq!(m.provider.retained(), [A_URL]);
    m.load("a", OPEN);
    assert_eq!(m.provider.retained(), [A_URL], "a2 still uses it");
    m.gate.config_removed("a2");
    assert!(m.provider.retained().is_empty());
}

#[tokio::test]
async fn configs_sharing_a_key_set_without_issuer_or_audience_are_named() {
    let m = Multi::new();
    m.load("a", &jwt(A_URL, None));
    m.load("b", &jwt(A_URL, None));
    m.load("checked", &jwt(A_URL, Some("https://c.example")));
    m.load("elsewhere", &jwt(B_URL, None));
    let named = m.gate.named.as_ref().expect("multi-config");
    let pairs = |name: &str| {
        let slots = named.slots();
        let slot = slots.iter().find(|s| &*s.name == name).expect("slot");
        open_shared_key_sets(named, slot)
            .into_iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs("b"), [("a".to_owned(), A_URL.to_owned())]);
    assert_eq!(pairs("a"), [("b".to_owned(), A_URL.to_owned())]);
    assert!(pairs("checked").is_empty());
    assert!(pairs("elsewhere").is_empty());
}

#[tokio::test]
async fn single_config_mode_never_reads_the_name() {
    let f = Fixture::with_config();
    let headers = [bearer(&good_token())];
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
    let req = AuthRequest {
        method: "GET",
        uri: "/configs/nope/graphql",
        headers: &headers,
    };
    for name in [None, Some(&b"nope"[..]), Some(&b""[..])] {
        let d = f.gate.decide_named(name, &req, Transport::Grpc).await;
        assert_eq!(d.status(), 200, "{name:?}");
    }
    assert!(
        f.gate.readiness().is_none(),
        "single-config /readyz is unchanged"
    );
    // The named reload side does nothing to a single-config gate.
    f.gate.config_removed("default");
    f.gate.config_failed("default", "x");
    assert_eq!(
        f.gate
            .decide_named(None, &req, Transport::Http)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn an_unnamed_decision_or_config_in_multi_config_mode_is_refused() {
    let m = Multi::new();
    m.load("a", OPEN);
    let req = AuthRequest {
        method: "GET",
        uri: "/",
        headers: &[],
    };
    let d = m.gate.decide(&req).await;
    assert_eq!((d.status(), reason(&d)), (503, Some(Reason::UnknownConfig)));
    let loaded = load_str_with_env(OPEN, &LoadOptions::default(), &|_| None).expect("loads");
    m.gate.apply(loaded.config);
    assert_eq!(m.decide(None, None).await.status(), 503);
}

#[test]
fn an_unknown_name_is_escaped_and_cut_for_logs() {
    use crate::gate::named::log_name;
    assert_eq!(log_name(b"a\"b\n\xff"), "a\\\"b\\n\\xff");
    assert_eq!(log_name(&[b'x'; 200]).len(), 63);
}
