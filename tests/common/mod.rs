//! Test support shared by the black-box tests, one vocabulary for all of them:
//!
//! - [`service`]: the real `authgate` binary started on loopback ([`service::Service`]), its log and metrics;
//! - [`configs`]: the AuthConfig texts it is started on (noAuth, JWT, webhook) and the AdmissionReview around one;
//! - [`tokens`]: tokens and JWKS documents from the committed keys;
//! - [`mock`]: a local HTTP server that answers set routes and records what it receives (JWKS, webhook, upstream);
//! - [`http`]: clients with timeouts and the [`http::Answer`] a decision gives a test;
//! - [`raw`]: a hand-written HTTP/1.1 client, for every byte a test must control, and the blocking probes;
//! - [`probes`]: `/proc` readings of a process and their peaks over a run;
//! - [`vectors`]: the conformance vectors file;
//! - [`sink`]: a config sink that records what a config source reports;
//! - [`otlp`]: an OTLP trace receiver (gRPC, and the decoding of OTLP/HTTP bodies).
//!
//! Each test binary uses part of it, so unused items are allowed here.
#![allow(dead_code)]

pub mod configs;
pub mod http;
pub mod mock;
pub mod otlp;
pub mod probes;
pub mod raw;
pub mod service;
pub mod sink;
pub mod tokens;
pub mod vectors;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The wall clock, in whole seconds since 1970.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A free loopback port (bound and released), never one this test process has handed out before. Tests run in
/// parallel, and the kernel can give a just-released port to the next caller; Caddy listens with `SO_REUSEPORT`, so
/// two proxies handed the same port would both start and share its connections between two test stacks (the likely
/// cause of a failure seen once: a Bearer request answered 401 while this stack's authgate logged a request without
/// a token, as another test's cookie-configured stack would send).
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut seen = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.insert(port) {
            return port;
        }
    }
    panic!("no loopback port that was not handed out before in 1000 tries");
}

/// A fresh directory under the system temp dir, unique to this process, `tag` and moment.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "authgate-test-{}-{tag}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Replace `path` the way careful tools do: write a sibling temp file, then rename it over the path.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).expect("write temp config");
    std::fs::rename(&tmp, path).expect("rename config into place");
}

/// A process's stdout followed by its stderr, lossily decoded.
pub fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The last `lines` lines of `text`, for failure messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
