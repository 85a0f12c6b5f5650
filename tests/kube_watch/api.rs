//! The HTTP side shared by this binary's fake Kubernetes API servers: a request read off a connection, the list
//! answer, and the watch stream (the events after the asked resourceVersion, then every new one, as chunks; or a
//! `410 Gone` ERROR event when a test asks for one). Each server supplies what it selects and lists ([`Served`]).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::NS;

/// A fake server's events: the resourceVersion, the open watches, what they were sent, and counters.
#[derive(Default)]
pub(super) struct Feed {
    pub(super) rv: u64,
    watchers: Vec<Sender<Option<String>>>,
    /// Every event with its resourceVersion: a watch from version N first receives the events after N, as the real
    /// API server does, so a change made between a list and the next watch is not lost.
    history: Vec<(u64, String)>,
    /// Answer the next watch with `410 Gone` (the client must relist).
    pub(super) gone_next_watch: bool,
    pub(super) lists: usize,
    pub(super) watches: usize,
}

impl Feed {
    /// Record `event` at the current resourceVersion and send it to every open watch.
    pub(super) fn publish(&mut self, event: &Value) {
        let line = event.to_string();
        self.history.push((self.rv, line.clone()));
        self.watchers.retain(|w| w.send(Some(line.clone())).is_ok());
    }

    /// Close every open watch connection (the client must resume).
    pub(super) fn drop_watches(&mut self) {
        for w in self.watchers.drain(..) {
            let _ = w.send(None);
        }
    }
}

/// What a fake server serves, as its HTTP side needs it.
pub(super) trait Served: Send + 'static {
    /// Whether a request for the namespace's ConfigMaps (path and query in `target`) asks for what this server
    /// serves; anything else is answered 404.
    fn selects(target: &str) -> bool;
    /// The objects a list returns.
    fn items(&self) -> Vec<Value>;
    fn feed(&mut self) -> &mut Feed;
}

/// Listen on a loopback port and serve `state` on it until the returned flag is set; returns the port and the flag.
pub(super) fn listen<S: Served>(state: Arc<Mutex<S>>) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    let (st, sp) = (state.clone(), stop.clone());
                    std::thread::spawn(move || serve(s, &st, &sp));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, flag)
}

fn serve<S: Served>(stream: TcpStream, state: &Arc<Mutex<S>>, stop: &Arc<AtomicBool>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let mut out = stream;
    let path = target.split('?').next().unwrap_or_default();
    if path != format!("/api/v1/namespaces/{NS}/configmaps") || !S::selects(&target) {
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if !target.contains("watch=true") {
        let body = {
            let mut st = state.lock().expect("lock");
            let items = st.items();
            let feed = st.feed();
            feed.lists += 1;
            json!({"apiVersion": "v1", "kind": "ConfigMapList",
                   "metadata": {"resourceVersion": feed.rv.to_string()}, "items": items})
            .to_string()
        };
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let (tx, rx) = channel();
    let gone = {
        let mut st = state.lock().expect("lock");
        let feed = st.feed();
        feed.watches += 1;
        let gone = std::mem::take(&mut feed.gone_next_watch);
        if !gone {
            let from: u64 = target
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("resourceVersion="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(feed.rv);
            for (_, l) in feed.history.iter().filter(|(rv, _)| *rv > from) {
                let _ = tx.send(Some(l.clone()));
            }
            feed.watchers.push(tx);
        }
        gone
    };
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = |out: &mut TcpStream, s: &str| {
        let data = format!("{s}\n");
        write!(out, "{:x}\r\n{data}\r\n", data.len()).and_then(|()| out.flush())
    };
    if gone {
        let status = json!({"type": "ERROR", "object": {"apiVersion": "v1", "kind": "Status", "status": "Failure",
                     "message": "too old resource version", "reason": "Expired", "code": 410}});
        let _ = chunk(&mut out, &status.to_string());
        let _ = write!(out, "0\r\n\r\n");
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(l)) => {
                if chunk(&mut out, &l).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let _ = write!(out, "0\r\n\r\n");
}
