//! Reading a process through `/proc` (its descriptors, its TCP sockets, its memory), whether that can be done here,
//! and the peaks of those readings over a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether the test runs under CI (`CI` set, and not `false` or `0`): there a check that cannot run is a failure.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether the `/proc` probes below can read `pid` (its descriptors and its TCP table). When they cannot, `what`
/// (the checks that need them) cannot run: under CI that fails the test here, since a check skipped in silence
/// passes whatever the code does; elsewhere (a sandbox without `/proc`) the skip is announced and `false` returned.
pub fn proc_probes(pid: u32, what: &str) -> bool {
    proc_probes_with(pid, what, under_ci())
}

/// [`proc_probes`] with the CI verdict given (so that both behaviours can be tested in one run).
pub fn proc_probes_with(pid: u32, what: &str, ci: bool) -> bool {
    if fd_count(pid).is_some() && sockets_to(pid, 1).is_some() {
        return true;
    }
    let why =
        format!("/proc/{pid}/fd or /proc/{pid}/net/tcp is not readable, so {what} cannot run");
    assert!(!ci, "{why} (CI is set: a skipped check is a failure)");
    eprintln!("SKIPPED: {why}");
    false
}

/// Open descriptors of `pid`.
pub fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// Sockets of `pid` whose remote end is 127.0.0.1:`port`.
pub fn sockets_to(pid: u32, port: u16) -> Option<usize> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    let remote = format!("0100007F:{port:04X}");
    Some(
        table
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 9 && f[2] == remote && inodes.contains(f[9])
            })
            .count(),
    )
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// One thing a sample reads.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// `VmRSS`, KiB.
    Rss,
    Fds,
    /// Sockets whose remote end is 127.0.0.1 on this port.
    SocketsTo(u16),
}

/// One sample: each probe's value (0 for a probe not asked for).
#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub rss_kib: u64,
    pub fds: usize,
    pub sockets: usize,
}

/// The highest readings of a process over the samples taken, and how many samples were taken or failed.
#[derive(Debug)]
pub struct Peaks {
    pid: u32,
    probes: Vec<Probe>,
    pub rss_kib: u64,
    pub fds: usize,
    pub sockets: usize,
    pub taken: usize,
    pub failed: usize,
}

impl Peaks {
    pub fn new(pid: u32, probes: &[Probe]) -> Self {
        Peaks {
            pid,
            probes: probes.to_vec(),
            rss_kib: 0,
            fds: 0,
            sockets: 0,
            taken: 0,
            failed: 0,
        }
    }

    /// Read every probe once. A sample where one could not be read counts as failed and leaves the peaks alone.
    pub fn sample(&mut self) -> Option<Reading> {
        let mut r = Reading::default();
        for probe in &self.probes {
            let read = match *probe {
                Probe::Rss => status_kib(self.pid, "VmRSS").map(|v| r.rss_kib = v),
                Probe::Fds => fd_count(self.pid).map(|v| r.fds = v),
                Probe::SocketsTo(port) => sockets_to(self.pid, port).map(|v| r.sockets = v),
            };
            if read.is_none() {
                self.failed += 1;
                return None;
            }
        }
        self.rss_kib = self.rss_kib.max(r.rss_kib);
        self.fds = self.fds.max(r.fds);
        self.sockets = self.sockets.max(r.sockets);
        self.taken += 1;
        Some(r)
    }

    /// Sample on a thread of its own every `every` until [`Sampler::finish`] or `until`, calling `each` after
    /// every sample (for a check that must run beside the sampling).
    pub fn sample_in_background(
        mut self,
        every: Duration,
        until: Instant,
        mut each: impl FnMut() + Send + 'static,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) && Instant::now() < until {
                self.sample();
                each();
                std::thread::sleep(every);
            }
            self
        });
        Sampler { stop, thread }
    }
}

/// Peaks being sampled on a thread.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    /// Stop sampling; the peaks seen.
    pub fn finish(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sampler thread panicked")
    }
}
