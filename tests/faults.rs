//! Fault tests against the real `authgate serve` binary on loopback (issue 7): the connection cap, megabyte
//! headers, and a denial flood that must not flood the log. Every loop is bounded by a deadline. The fault tests
//! that are load or timing tests (a JWKS endpoint flapping under load, a webhook that hangs, ten thousand idle
//! connections beside slow-loris clients, SIGTERM under load) are in tests/timing.rs, where they run alone.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::configs::{jwk_from_url_config, noauth_config};
use common::mock::MockServer;
use common::probes::{Peaks, Probe, fd_count, status_kib};
use common::raw::timed_get;
use common::service::{Service, metric, ready};
use common::tokens::{rsa1_k1, serve_jwks};

// ---------------------------------------------------------------------------------------------------------------
// The connection cap, huge headers
// ---------------------------------------------------------------------------------------------------------------

/// `--max-connections` caps the open connections (and so their memory): past it, connections wait in the accept
/// backlog instead of being read, and are served once others close.
#[test]
fn the_connection_cap_bounds_open_connections() {
    const CAP: usize = 64;
    // noAuth: every request is allowed, so the listener is measured, not a check.
    let svc = Service::start(
        &noauth_config("guest", &[]),
        &["--max-connections", &CAP.to_string()],
        &[],
    );
    ready(&svc);
    let pid = svc.pid();
    let baseline = fd_count(pid).expect("/proc/PID/fd of the service is readable");
    let idle: Vec<TcpStream> = (0..3 * CAP)
        .map(|_| TcpStream::connect(("127.0.0.1", svc.data)).expect("connect"))
        .collect();
    // Watch the descriptors over a window rather than once: the bound must hold at every sample, and the service
    // must have taken up to its cap (its workers accept at their own pace on a loaded machine).
    let window = Instant::now() + Duration::from_secs(2);
    let mut peaks = Peaks::new(pid, &[Probe::Fds]);
    while Instant::now() < window {
        let fds = peaks
            .sample()
            .expect("/proc/PID/fd of the service is readable")
            .fds;
        let held = fds.saturating_sub(baseline);
        // Two workers, the cap split between them.
        assert!(
            held <= CAP + 2,
            "the service holds {held} connections with a cap of {CAP}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak = peaks.fds.saturating_sub(baseline);
    assert!(peak >= CAP / 2, "the service held only {peak} connections");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while timed_get(&svc.url("/api")).0 != Some(200) {
        assert!(
            Instant::now() < deadline,
            "not served after the idle connections closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 32 clients at once each send a 1 MiB header: each is refused (`431`, or the connection closed) without the
/// service buffering it, its peak memory grows by far less than the 32 MiB sent, and it keeps answering.
#[test]
fn megabyte_headers_are_refused_without_being_buffered() {
    const CLIENTS: usize = 32;
    let svc = Service::start(&noauth_config("guest", &[]), &[], &[]);
    ready(&svc);
    let pid = svc.pid();
    let hwm = || status_kib(pid, "VmHWM").expect("/proc/PID/status of the service is readable");
    let hwm_before = hwm();
    let port = svc.data;
    let outcomes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(move || {
                    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                        return "connect failed".to_owned();
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
                    let chunk = vec![b'a'; 64 * 1024];
                    for _ in 0..16 {
                        if s.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    let _ = s.write_all(b"\r\n\r\n");
                    let mut buf = [0u8; 64];
                    match s.read(&mut buf) {
                        Ok(0) => "closed".to_owned(),
                        Ok(n) => String::from_utf8_lossy(&buf[..n])
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            "reset".to_owned()
                        }
                        Err(e) => format!("error {e}"),
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| "panicked".to_owned()))
            .collect()
    });
    let hwm_after = hwm();
    let mut tally = std::collections::BTreeMap::new();
    for o in &outcomes {
        *tally.entry(o.as_str()).or_insert(0usize) += 1;
    }
    eprintln!("1 MiB headers: {tally:?}; peak RSS {hwm_before} KiB -> {hwm_after} KiB");
    for o in &outcomes {
        assert!(
            o.starts_with("HTTP/1.1 431") || o == "closed" || o == "reset",
            "a 1 MiB header must be refused: {o}"
        );
    }
    assert!(
        outcomes.iter().any(|o| o.starts_with("HTTP/1.1 431")),
        "no client saw the 431: {outcomes:?}"
    );
    assert!(
        hwm_after < hwm_before + 12 * 1024,
        "peak RSS grew from {hwm_before} KiB to {hwm_after} KiB for {CLIENTS} MiB of headers"
    );
    assert_eq!(
        timed_get(&svc.url("/api")).0,
        Some(200),
        "the service stopped answering"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// A denial flood is not a log flood
// ---------------------------------------------------------------------------------------------------------------

/// 500 denied requests in a burst with `--deny-log-per-sec 5`: at most 5 denial lines per second are written, the
/// metrics count all 500, and a later line reports how many were suppressed.
#[test]
fn denial_log_lines_are_rate_limited_and_the_rest_counted() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = Service::start(
        &jwk_from_url_config(&mock),
        &["--deny-log-per-sec", "5"],
        &[],
    );
    ready(&svc);
    let started = Instant::now();
    for _ in 0..500 {
        assert_eq!(timed_get(&svc.url("/api")).0, Some(401));
    }
    // Wall-clock seconds the burst touched (the limit's windows are whole seconds).
    let seconds = started.elapsed().as_secs() + 2;
    // Into a fresh second, then one more denial: its line carries the count of the suppressed ones.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(timed_get(&svc.url("/api")).0, Some(401));
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let log = svc.log();
        let denied: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"] == "denied")
            .collect();
        let reported: u64 = denied.iter().filter_map(|v| v["suppressed"].as_u64()).sum();
        if denied.len() as u64 + reported >= 501 || Instant::now() > deadline {
            break denied;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let reported: u64 = lines.iter().filter_map(|v| v["suppressed"].as_u64()).sum();
    eprintln!(
        "deny log: {} lines for 501 denials over about {seconds} s, {reported} reported suppressed",
        lines.len()
    );
    assert!(
        // Five per window the burst touched, plus the window of the last denial.
        lines.len() as u64 <= 5 * (seconds + 1),
        "{} denial lines in {seconds} one-second windows with a limit of 5 per second",
        lines.len()
    );
    assert_eq!(
        lines.len() as u64 + reported,
        501,
        "every denial is either written or counted as suppressed"
    );
    let scrape = svc.metrics();
    let counted = metric(
        &scrape,
        "authgate_requests_total{decision=\"deny\",reason=\"missing_token\",transport=\"http\"}",
    )
    .unwrap_or(0.0);
    assert_eq!(counted, 501.0, "the metrics count every denial");
}
