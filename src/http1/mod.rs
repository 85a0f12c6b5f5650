//! The data listener: HTTP/1.1, written for exactly what an auth subrequest needs, on `workers` threads with a
//! single-threaded tokio runtime each (as actix-web's workers were). Every request is a decision
//! (`contracts::forward`); an answer is written as bytes straight from the decision.
//!
//! Why not actix-web here, where the admin, JWKS and admission listeners still use it: a cached decision costs less
//! than a microsecond, and actix-web's general machinery (its request and header map types, routing, extractors,
//! response builder, per-request timers) cost more than the decision itself. Measured with NGINX `return 200` beside
//! it on one core (docs/benchmarks.md): actix-web 1.9–2.0 µs of user CPU per cached request, this listener about
//! 1.2 µs, NGINX 1.4–1.6 µs.
//!
//! What it keeps from the HTTP/1.1 it replaces, each tested: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request),
//! pipelined requests answered in order, `HEAD` answered without a body, `Content-Length` bodies up to 1 MiB dropped
//! so the connection is reused (longer ones, `Transfer-Encoding` bodies and `Expect: 100-continue` requests with a
//! body are answered and the connection closed), heads over 128 KiB or 128 lines refused with `431`, malformed ones
//! with `400`, a head begun and not complete 10 s after its first byte answered `408` and closed, a new connection
//! that sends nothing for 10 s closed, idle keep-alive connections closed after 120 s, `--max-connections` for the
//! whole process, and on shutdown: idle connections closed at once, a request in progress answered with
//! `Connection: close`, everything cut at the shutdown timeout.

pub mod conn;
pub mod head;

pub use conn::Timeouts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::AbortHandle;

use crate::gate::Gate;

/// What every connection of the listener shares.
pub struct Shared {
    pub gate: Arc<Gate>,
    /// The listener is stopping: every answer closes its connection, and an idle connection ends.
    pub stopping: AtomicBool,
    pub timeouts: Timeouts,
}

/// One connection, as the stop sees it.
#[derive(Default)]
pub struct Live {
    /// Part of a request has been read and not answered yet (an idle connection is closed at once on stop).
    pub busy: AtomicBool,
}

/// How to run the listener.
#[derive(Debug, Clone, Copy)]
pub struct DataOptions {
    pub workers: usize,
    /// Most open connections, for the whole process; more wait in the accept queue.
    pub max_connections: usize,
    /// Time given to requests in progress when stopping.
    pub shutdown_timeout: Duration,
    pub timeouts: Timeouts,
}

/// A running data listener. Dropping it stops the listener as [`DataServer::stop`] would, without waiting.
pub struct DataServer {
    stop: watch::Sender<Stop>,
    shared: Arc<Shared>,
    done: Vec<oneshot::Receiver<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// Stop accepting, close idle connections, let requests in progress finish within the shutdown timeout.
    Graceful,
    /// Close everything now.
    Now,
}

impl DataServer {
    /// Stop: gracefully (see [`Stop::Graceful`]) or at once. Returns when every worker has ended.
    pub async fn stop(self, graceful: bool) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        let _ = self
            .stop
            .send(if graceful { Stop::Graceful } else { Stop::Now });
        for d in self.done {
            let _ = d.await;
        }
    }
}

/// Serve `listener` on `opts.workers` threads. Fails when a worker's runtime or thread cannot be made.
pub fn start(
    gate: Arc<Gate>,
    listener: std::net::TcpListener,
    opts: DataOptions,
) -> std::io::Result<DataServer> {
    listener.set_nonblocking(true)?;
    let shared = Arc::new(Shared {
        gate,
        stopping: AtomicBool::new(false),
        timeouts: opts.timeouts,
    });
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let (stop, stopping) = watch::channel(Stop::Running);
    let mut done = Vec::new();
    for i in 0..opts.workers.max(1) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let l = listener.try_clone()?;
        let (shared, slots, stopping) = (shared.clone(), slots.clone(), stopping.clone());
        let (done_tx, done_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("authgate-http-{i}"))
            .spawn(move || {
                runtime.block_on(worker(l, shared, slots, stopping, opts.shutdown_timeout));
                // Connections still open past the shutdown timeout are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done_tx.send(());
            })?;
        done.push(done_rx);
    }
    Ok(DataServer { stop, shared, done })
}

/// The open connections of one worker: each one's abort handle and state.
type Registry = Arc<Mutex<HashMap<u64, (AbortHandle, Arc<Live>)>>>;

/// Removes its connection from the registry when the connection's task ends (or is aborted).
struct Registered {
    registry: Registry,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.registry.lock() {
            r.remove(&self.id);
        }
    }
}

async fn worker(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    mut stopping: watch::Receiver<Stop>,
    shutdown_timeout: Duration,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "data listener: cannot register the socket");
            return;
        }
    };
    let registry: Registry = Arc::default();
    let mut next_id = 0u64;
    loop {
        let slot: OwnedSemaphorePermit = tokio::select! {
            _ = stopping.wait_for(|s| *s != Stop::Running) => break,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = stopping.wait_for(|s| *s != Stop::Running) => break,
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin, and try again.
                    tracing::warn!(error = %e, "data listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // An answer is one small write: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let live = Arc::new(Live::default());
        next_id += 1;
        let registered = Registered {
            registry: registry.clone(),
            id: next_id,
        };
        let (shared, task_live) = (shared.clone(), live.clone());
        let task = tokio::spawn(async move {
            let _registered = registered;
            let _slot = slot;
            conn::serve(stream, shared, task_live).await;
        });
        // A current-thread runtime: the task has not run yet, so it is registered before it can end.
        if let Ok(mut r) = registry.lock() {
            r.insert(next_id, (task.abort_handle(), live));
        }
    }
    // Stop accepting: this worker's copy of the socket closes now, the socket itself with the last worker's.
    drop(listener);
    let now = *stopping.borrow() == Stop::Now;
    let deadline = tokio::time::Instant::now() + shutdown_timeout;
    loop {
        // Idle connections end now; a request in progress gets its answer (with `Connection: close`) and ends.
        let open = match registry.lock() {
            Ok(r) => {
                for (abort, live) in r.values() {
                    if now || !live.busy.load(Ordering::Relaxed) {
                        abort.abort();
                    }
                }
                r.len()
            }
            Err(_) => 0,
        };
        if open == 0 || tokio::time::Instant::now() >= deadline {
            if open > 0 {
                tracing::warn!(
                    open,
                    timeout_secs = shutdown_timeout.as_secs(),
                    "data connections still busy after the shutdown timeout; closing them"
                );
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests;
