//! Issue 14: the cached decision of a gate in multi-config mode with 100 configs loaded (distinct issuers, two RSA
//! key pairs taken in turn), next to `decision/cached` of the single-config gate in the same run.
//!
//! - `one`: one token of one config, repeated, as `decision/cached` does (the per-thread hot set answers it).
//! - `spread`: 100 tokens, one per config, in turn: more than the hot set's 64 slots, so most decisions hash the
//!   token and look it up in the shared cache.
//! - `spread_full_cache`: the same, with the shared cache filled to its 100,000 entries first (99,900 cached denials of
//!   malformed tokens spread over the configs, cheap to make, beside the 100 allows).
//! - `decision/cached_1_config/spread_100_tokens`: 100 tokens of the single-config gate in turn, to tell the cost of
//!   spreading over the cache from the cost of the configs.
//!
//! Every measured decision goes through the HTTP adapter's own selector (`config_from_path`) and must be a cache
//! hit; the bench panics otherwise.

use std::sync::Arc;

use authgate::authn::request::AuthRequest;
use authgate::clock::SystemClock;
use authgate::config::{LoadOptions, load_str_with_env};
use authgate::contracts::forward::config_from_path;
use authgate::gate::{Gate, GateSettings};
use authgate::metrics::Metrics;
use authgate::observe::Transport;
use criterion::Criterion;
use tokio::runtime::Runtime;

const CONFIGS: usize = 100;
const CACHE: usize = 100_000;
const KEYS: [(&str, &str); 2] = [
    (
        include_str!("../../tests/fixtures/vectors/keys/rsa1.pem"),
        include_str!("../../tests/fixtures/vectors/keys/rsa1.pub.pem"),
    ),
    (
        include_str!("../../tests/fixtures/vectors/keys/rsa2.pem"),
        include_str!("../../tests/fixtures/vectors/keys/rsa2.pub.pem"),
    ),
];

fn name(i: usize) -> String {
    format!("c{i:03}")
}

fn issuer(i: usize) -> String {
    format!("https://tenant-{i:03}.clerk.example.com")
}

/// Settings of every gate here: the default cache size, and allows kept for the whole run (the default 60 s TTL
/// could end inside a long criterion run and turn a hit into a miss).
fn settings() -> GateSettings {
    GateSettings {
        cache_size: CACHE,
        cache_ttl: 3600,
        ..GateSettings::default()
    }
}

/// A multi-config gate with configs `c000`..`c099` loaded, and its metrics.
fn multi_gate(rt: &Runtime) -> (Arc<Gate>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::multi_config());
    let gate = Arc::new(
        Gate::new(settings(), metrics.clone(), Arc::new(SystemClock))
            .expect("gate")
            .with_multi_config(),
    );
    for i in 0..CONFIGS {
        let text = super::config_with(&issuer(i), KEYS[i % KEYS.len()].1);
        let loaded =
            load_str_with_env(&text, &LoadOptions::default(), &|_| None).expect("config loads");
        rt.block_on(async { gate.config_loaded(&name(i), loaded.config) });
    }
    (gate, metrics)
}

/// The sum of a counter over every config.
fn total(metrics: &Metrics, counter: &str) -> f64 {
    let text = metrics.render().expect("metrics render");
    text.lines()
        .filter(|l| l.starts_with(counter) && l[counter.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One client request: its path (which names the config) and its headers.
struct Call {
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
}

impl Call {
    fn new(config: &str, token: &str) -> Self {
        Self {
            path: format!("/configs/{config}/v1/graphql"),
            headers: vec![
                ("host", b"auth.internal:8080".to_vec()),
                ("user-agent", b"nginx/1.22".to_vec()),
                ("accept", b"*/*".to_vec()),
                ("authorization", format!("Bearer {token}").into_bytes()),
            ],
        }
    }
}

/// Decide `call` on `gate` as the HTTP adapter would: the config named by the path's `/configs/<name>`.
fn decide(rt: &Runtime, gate: &Gate, call: &Call) -> authgate::gate::Decision {
    let headers: Vec<(&str, &[u8])> = call
        .headers
        .iter()
        .map(|(n, v)| (*n, v.as_slice()))
        .collect();
    let req = AuthRequest {
        method: "GET",
        uri: &call.path,
        headers: &headers,
    };
    let name = config_from_path(call.path.as_bytes());
    rt.block_on(gate.decide_named(name, &req, Transport::Http))
}

/// Per-request header vectors are built once: the measured loop only borrows them.
struct Prepared<'a> {
    path: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
}

fn prepare(calls: &[Call]) -> Vec<Prepared<'_>> {
    calls
        .iter()
        .map(|c| Prepared {
            path: &c.path,
            headers: c.headers.iter().map(|(n, v)| (*n, v.as_slice())).collect(),
        })
        .collect()
}

/// Measure `calls` in turn against `gate`, every one a cache hit.
fn measure(c: &mut Criterion, id: &str, rt: &Runtime, gate: &Gate, calls: &[Call]) {
    for call in calls {
        let first = decide(rt, gate, call);
        assert_eq!(
            first.status(),
            200,
            "{}: the benchmark token must be allowed",
            call.path
        );
    }
    // In a full cache a new entry can be evicted by the next insert before it is ever read (quick_cache admits new
    // entries to a small probation queue): repeat the tokens until one whole pass hits.
    let mut passes = 1;
    while !calls.iter().all(|call| decide(rt, gate, call).cache_hit) {
        passes += 1;
        assert!(
            passes <= 10,
            "{id}: the tokens never all stayed in the cache"
        );
    }
    if passes > 1 {
        eprintln!("{id}: every token a cache hit after {passes} passes");
    }
    let prepared = prepare(calls);
    let mut i = 0;
    c.bench_function(id, |b| {
        b.iter(|| {
            i = (i + 1) % prepared.len();
            let p = &prepared[i];
            let req = AuthRequest {
                method: "GET",
                uri: p.path,
                headers: &p.headers,
            };
            let name = config_from_path(p.path.as_bytes());
            let d = rt.block_on(gate.decide_named(name, &req, Transport::Http));
            assert!(d.cache_hit, "{} missed the cache", p.path);
            d
        })
    });
}

pub fn bench(c: &mut Criterion, rt: &Runtime) {
    let spread: Vec<Call> = (0..CONFIGS)
        .map(|i| {
            let token = super::token_with(&issuer(i), KEYS[i % KEYS.len()].0, &format!("t{i:03}"));
            Call::new(&name(i), &token)
        })
        .collect();

    let (gate, _) = multi_gate(rt);
    measure(
        c,
        "decision/cached_100_configs/one",
        rt,
        &gate,
        &spread[42..43],
    );
    measure(c, "decision/cached_100_configs/spread", rt, &gate, &spread);
    drop(gate);

    // The cache filled to its capacity first, so the measured tokens' entries are the newest.
    let (full, metrics) = multi_gate(rt);
    let filler_len = spread[0].headers[3].1.len();
    let fillers: Vec<Call> = (0..CACHE - CONFIGS)
        .map(|n| {
            let mut token = format!("filler-{n:06}-");
            token.extend(std::iter::repeat_n(
                'x',
                filler_len.saturating_sub(token.len() + 7),
            ));
            Call::new(&name(n % CONFIGS), &token)
        })
        .collect();
    for call in &fillers {
        let d = decide(rt, &full, call);
        assert_eq!(d.status(), 401, "a filler token must be denied");
    }
    // Every filler missed and was inserted once, never read again: the oldest entries, the first to go. (Reading
    // them again would mark them as used, and a full cache then evicts the newer measured entries first.)
    let misses = total(&metrics, "authgate_decision_cache_misses_total");
    eprintln!("spread_full_cache: {misses} fillers inserted (cache misses)");
    assert_eq!(
        misses as usize,
        fillers.len(),
        "every filler must reach the cache"
    );
    measure(
        c,
        "decision/cached_100_configs/spread_full_cache",
        rt,
        &full,
        &spread,
    );
    drop(full);

    // The single-config gate with 100 tokens of its one issuer in turn.
    let single = Arc::new(
        Gate::new(settings(), Arc::new(Metrics::new()), Arc::new(SystemClock)).expect("gate"),
    );
    let text = super::config_with(&issuer(0), KEYS[0].1);
    let loaded =
        load_str_with_env(&text, &LoadOptions::default(), &|_| None).expect("config loads");
    rt.block_on(async { single.apply(loaded.config) });
    let one_issuer: Vec<Call> = (0..CONFIGS)
        .map(|i| {
            Call::new(
                "c000",
                &super::token_with(&issuer(0), KEYS[0].0, &format!("s{i:03}")),
            )
        })
        .collect();
    measure(
        c,
        "decision/cached_1_config/spread_100_tokens",
        rt,
        &single,
        &one_issuer,
    );
}
