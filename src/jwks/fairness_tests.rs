//! Key sets of several configs against real JWKS endpoints on loopback: the forced-refresh budget is per key set
//! (one tenant's unknown-kid flood does not spend another's), and two configs naming one URL share one source,
//! one fetch, and report it under each config's `config` label.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use super::{JwksRegistry, JwksSettings, KeyLookup, KeyProvider};
use crate::clock::SystemClock;
use crate::config::{LoadOptions, load_str_with_env};
use crate::gate::{Gate, GateSettings};
use crate::metrics::Metrics;
use crate::observe::Ignore;

const RSA1_JWK: &str = include_str!("../../tests/fixtures/vectors/keys/rsa1.jwk.json");
/// Longest a test waits for anything.
const PATIENCE: Duration = Duration::from_secs(10);

/// A JWKS endpoint on loopback serving rsa1 under the kids it is given, counting the requests it answers.
struct Endpoint {
    url: Url,
    kids: Arc<Mutex<Vec<&'static str>>>,
    hits: Arc<AtomicUsize>,
}

impl Endpoint {
    async fn start(kids: &[&'static str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = Url::parse(&format!(
            "http://{}/jwks.json",
            listener.local_addr().expect("address")
        ))
        .expect("URL");
        let kids = Arc::new(Mutex::new(kids.to_vec()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (k, h) = (kids.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let (k, h) = (k.clone(), h.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = jwks(&k.lock().expect("kids").clone());
                    h.fetch_add(1, Ordering::SeqCst);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(body.as_bytes()).await;
                });
            }
        });
        Self { url, kids, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn serve(&self, kids: &[&'static str]) {
        *self.kids.lock().expect("kids") = kids.to_vec();
    }
}

fn jwks(kids: &[&str]) -> String {
    let keys: Vec<serde_json::Value> = kids
        .iter()
        .map(|kid| {
            let mut k: serde_json::Value = serde_json::from_str(RSA1_JWK).expect("JWK");
            k["kid"] = (*kid).into();
            k
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// Wait until `cond` holds, at most [`PATIENCE`].
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn found(l: KeyLookup) -> bool {
    matches!(l, KeyLookup::Found(..))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_sets_unknown_kid_flood_does_not_spend_anothers_forced_refresh() {
    let (a, b) = (
        Endpoint::start(&["a1"]).await,
        Endpoint::start(&["b1"]).await,
    );
    let settings = JwksSettings {
        forced_budget: Duration::from_secs(5),
        ..JwksSettings::default()
    };
    let registry =
        JwksRegistry::new(settings, Arc::new(Ignore), Arc::new(SystemClock)).expect("registry");
    registry.retain(&[a.url.clone(), b.url.clone()]);
    let (sa, sb) = (registry.source(&a.url), registry.source(&b.url));
    until("both key sets held", || sa.is_ready() && sb.is_ready()).await;
    assert_eq!((a.hits(), b.hits()), (1, 1));

    // Tenant A's flood: one forced refresh, then the rate limit answers from the held set.
    for i in 0..50 {
        let kid = format!("flood-{i}");
        assert!(matches!(sa.key(Some(&kid)).await, KeyLookup::UnknownKid));
    }
    assert_eq!(a.hits(), 2, "one forced refresh for the whole flood");

    // Tenant B rotates: its unknown kid still gets its own forced refresh, at once.
    b.serve(&["b1", "b2"]);
    assert!(found(sb.key(Some("b2")).await), "B's refresh was refused");
    assert_eq!(b.hits(), 2);

    // A's budget is really spent: its own rotation waits for the interval.
    a.serve(&["a1", "a2"]);
    assert!(matches!(sa.key(Some("a2")).await, KeyLookup::UnknownKid));
    assert_eq!(a.hits(), 2);
}

/// The `authgate_jwks_refresh_total` successes reported under `config` (0 before the first).
fn refreshes(text: &str, config: &str) -> u64 {
    let series = format!("authgate_jwks_refresh_total{{config=\"{config}\",result=\"success\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_configs_on_one_url_share_one_fetch_reported_under_each() {
    let ep = Endpoint::start(&["k1"]).await;
    let metrics = Arc::new(Metrics::multi_config());
    // Background refreshes every 300 ms, so that several happen while both configs use the set.
    let jwks = JwksSettings {
        refresh: Duration::from_millis(300),
        min_refresh: Duration::from_millis(300),
        max_refresh: Duration::from_millis(300),
        ..JwksSettings::default()
    };
    let gate = Gate::new(
        GateSettings {
            jwks,
            ..GateSettings::default()
        },
        metrics.clone(),
        Arc::new(SystemClock),
    )
    .expect("gate")
    .with_multi_config();
    let text = format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: {}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n",
        ep.url
    );
    let load = |name: &str| {
        let loaded =
            load_str_with_env(&text, &LoadOptions::default(), &|_| None).expect("config loads");
        gate.config_loaded(name, loaded.config);
    };
    // `a` alone fetches the set first; `b` joins a held set.
    load("a");
    until("a ready", || gate.is_ready()).await;
    load("b");
    let text = metrics.render().expect("render");
    for config in ["a", "b"] {
        assert!(
            text.contains(&format!("authgate_jwks_keys{{config=\"{config}\"}} 1\n")),
            "{config} sees the held set at once:\n{text}"
        );
    }
    // Every later refresh is one fetch, counted under both configs: `b` trails `a` by the one fetch before it
    // joined, and the endpoint saw exactly as many fetches as `a` counts.
    until(
        "refreshes counted under both configs, one fetch each",
        || {
            let text = metrics.render().expect("render");
            let (a, b) = (refreshes(&text, "a"), refreshes(&text, "b"));
            b >= 2 && a == b + 1 && ep.hits() as u64 == a
        },
    )
    .await;
    // A third config joining later sees the held set at once, without a fetch.
    let hits = ep.hits();
    let loaded = load_str_with_env(&text_for(&ep), &LoadOptions::default(), &|_| None)
        .expect("config loads");
    gate.config_loaded("c", loaded.config);
    let text = metrics.render().expect("render");
    assert!(
        text.contains("authgate_jwks_keys{config=\"c\"} 1\n"),
        "{text}"
    );
    assert!(
        ep.hits() <= hits + 1,
        "loading c fetched nothing of its own"
    );
}

fn text_for(ep: &Endpoint) -> String {
    format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: {}\n      issuer: https://c.example\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n",
        ep.url
    )
}
