//! One connection of the data listener: read request heads, answer each with a decision, keep the connection while
//! its framing allows, and close it on a slow or idle peer.
//!
//! Timers: one `Sleep` per connection, armed at most [`TICK`] ahead and re-armed only when it fires (never per
//! request): when it fires, the deadline of the connection's current state decides. A request head must be complete
//! within [`Timeouts::head`] of its first byte (and a new connection's first head within the same time of the
//! accept), an idle keep-alive connection is closed after [`Timeouts::idle`], and an answer the peer does not read
//! within [`Timeouts::write`] closes the connection.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::head::{self, Body, Parsed, Refusal};
use super::{Live, Shared};
use crate::contracts::forward::{self, Framing, Request};

/// The connection deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A request head must be complete within this long of its first byte (a new connection: of the accept).
    pub head: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle: Duration,
    /// An answer must be taken by the peer within this long.
    pub write: Duration,
}

impl Default for Timeouts {
    /// 10 s for a head (as actix-web's client request timeout was), 120 s idle: longer than the upstream idle
    /// timeouts of the proxies in front (NGINX 60 s, Traefik 90 s), so that they close first and never send on a
    /// connection closing here; 10 s for an answer to be taken.
    fn default() -> Self {
        Self {
            head: Duration::from_secs(10),
            idle: Duration::from_secs(120),
            write: Duration::from_secs(10),
        }
    }
}
/// The connection's timer is never armed further ahead than this.
const TICK: Duration = Duration::from_secs(10);
/// After an answer that closes a connection with unread input left, input is read and dropped for at most this
/// long (and [`LINGER_BYTES`]) before the socket closes, so that the peer reads the answer rather than a reset.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// Read buffer once there is input; it grows up to a head's limit, and is given back when the connection is idle
/// after a large head.
const BUF_START: usize = 4096;

struct Conn {
    stream: TcpStream,
    /// The read buffer, initialised to its length; `filled` bytes of it hold input.
    buf: Vec<u8>,
    filled: usize,
    out: Vec<u8>,
    timer: Pin<Box<Sleep>>,
    /// When the connection is closed unless something happens first: the idle deadline with no request in
    /// progress, else the head's (or the dropped body's).
    deadline: Instant,
    t: Timeouts,
    /// When input last arrived (read once per read, and the idle deadline counts from it).
    last_read: Instant,
}

enum Read {
    Data,
    Closed,
    TimedOut,
}

/// Serve `stream` until the peer closes, a framing rule or a timeout closes it, or the listener stops.
pub async fn serve(stream: TcpStream, shared: Arc<Shared>, live: Arc<Live>) {
    let now = Instant::now();
    let t = shared.timeouts;
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        filled: 0,
        out: Vec::new(),
        timer: Box::pin(tokio::time::sleep_until(now + t.head)),
        deadline: now + t.head,
        t,
        last_read: now,
    };
    // Bytes of a `Content-Length` body still to drop before the next head.
    let mut skip: u64 = 0;
    // A request has been answered: until then the connection is new, and its first head is due within the head
    // timeout of the accept (a connection that never sends is not idle keep-alive).
    let mut served = false;
    loop {
        // Answer every complete request the buffer holds (a pipelining peer sends several at once).
        let mut start = 0;
        let mut close = false;
        let mut unread = false;
        let mut answered = false;
        loop {
            if skip > 0 {
                let n = (c.filled - start).min(usize::try_from(skip).unwrap_or(usize::MAX));
                start += n;
                skip -= n as u64;
                if skip > 0 {
                    break;
                }
            }
            if start == c.filled {
                break;
            }
            match head::parse(&mut c.buf[start..c.filled]) {
                Parsed::Partial => break,
                Parsed::Refused(r) => {
                    let status = match r {
                        Refusal::BadRequest => 400,
                        Refusal::TooLarge => 431,
                    };
                    forward::render_refusal(status, &mut c.out);
                    (close, unread) = (true, true);
                    break;
                }
                Parsed::Complete(h) => {
                    let at = start;
                    let text = |(o, l): (usize, usize)| {
                        std::str::from_utf8(&c.buf[at + o..at + o + l]).unwrap_or("")
                    };
                    let headers: Vec<(&str, &[u8])> = h
                        .headers
                        .iter()
                        .map(|&(n, (v, vl))| (text(n), &c.buf[at + v..at + v + vl]))
                        .collect();
                    let method = text(h.method);
                    let req = Request {
                        method,
                        target: head::path_and_query(text(h.target)),
                        headers: &headers,
                    };
                    let decision = forward::decide(&shared.gate, &req).await;
                    // The body is dropped when it is small and framed; otherwise the connection ends here.
                    let (drained, body) = match h.body {
                        Body::None => (true, 0),
                        Body::Length(l) if l <= head::MAX_DRAINED_BODY && !h.expect_continue => {
                            (true, l)
                        }
                        Body::Length(_) | Body::Unframed => (false, 0),
                    };
                    close = h.close
                        || !drained
                        || shared.gate.is_draining()
                        || shared.stopping.load(Ordering::Relaxed);
                    let framing = Framing {
                        head_only: method == "HEAD",
                        close,
                        keep_alive_10: h.http10 && !close,
                    };
                    drop(headers);
                    forward::render(&decision, framing, &mut c.out);
                    start += h.len;
                    skip = body;
                    answered = true;
                    served = true;
                    if close {
                        unread = !drained || start < c.filled || h.body != Body::None;
                        break;
                    }
                }
            }
        }
        if !c.out.is_empty() && !c.write_out().await {
            return;
        }
        if close {
            c.finish(unread).await;
            return;
        }
        c.buf.copy_within(start..c.filled, 0);
        c.filled -= start;
        let idle = c.filled == 0 && skip == 0;
        // The idle time counts from the last input (the answer went out microseconds after it); a head left after
        // answered requests, or a body being dropped, is due within the head timeout of that input. A head that
        // merely grew keeps the deadline of its first byte, and a new connection the deadline of its accept.
        if idle && served {
            c.deadline = c.last_read + c.t.idle;
        } else if answered {
            c.deadline = c.last_read + c.t.head;
        }
        if idle {
            live.busy.store(false, Ordering::Relaxed);
            if shared.stopping.load(Ordering::Relaxed) {
                return;
            }
            if c.buf.len() > BUF_START * 4 {
                c.buf = Vec::new();
            }
        }
        match c.read(idle).await {
            Read::Data => live.busy.store(true, Ordering::Relaxed),
            Read::Closed => return,
            Read::TimedOut => {
                if !idle && skip == 0 {
                    // A head begun and not finished in time: answered `408`, as actix-http did. (A body being
                    // dropped belongs to a request already answered: the connection just closes.)
                    forward::render_refusal(408, &mut c.out);
                    if c.write_out().await {
                        c.finish(true).await;
                    }
                }
                return;
            }
        }
    }
}

impl Conn {
    /// Read more input. `idle`: nothing of a request has been read yet, so the idle deadline applies until the
    /// first byte, and the head deadline from then on.
    async fn read(&mut self, idle: bool) -> Read {
        if self.buf.is_empty() {
            // A new or long-idle connection holds no buffer until it has something to read: ten thousand idle
            // connections cost their sockets and tasks, not 4 KiB each.
            let Conn {
                stream,
                timer,
                deadline,
                ..
            } = self;
            let ready = poll_fn(|cx| match stream.poll_read_ready(cx) {
                Poll::Ready(r) => Poll::Ready(r),
                Poll::Pending => expired(timer.as_mut(), *deadline, cx)
                    .map(|()| Err(io::ErrorKind::TimedOut.into())),
            })
            .await;
            match ready {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Read::TimedOut,
                Err(_) => return Read::Closed,
            }
        }
        if self.buf.len() - self.filled < 1024 {
            // Grows by doubling, up to a head's limit and a little more (a head over the limit is refused, so
            // the buffer never holds more).
            let want = (self.buf.len() * 2).clamp(BUF_START, head::MAX_HEAD_BYTES + BUF_START);
            self.buf.resize(want.max(self.filled + 1024), 0);
        }
        let Conn {
            stream,
            buf,
            filled,
            timer,
            deadline,
            ..
        } = self;
        let got = poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut buf[*filled..]);
            // tokio reads only when the socket is known to be readable, and takes a short read as drained (no
            // second read to learn that it would block).
            match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(rb.filled().len())),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            expired(timer.as_mut(), *deadline, cx).map(|()| Err(io::ErrorKind::TimedOut.into()))
        })
        .await;
        match got {
            Ok(0) => Read::Closed,
            Ok(n) => {
                self.filled += n;
                self.last_read = Instant::now();
                if idle {
                    self.deadline = self.last_read + self.t.head;
                }
                Read::Data
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Read::TimedOut,
            Err(_) => Read::Closed,
        }
    }

    /// Send `out`; `false` when the peer is gone or did not take it in time.
    async fn write_out(&mut self) -> bool {
        let Conn {
            stream,
            out,
            timer,
            t,
            ..
        } = self;
        let mut sent = 0;
        // Read from the clock only when the peer is slow to take the answer.
        let mut deadline = None;
        let done = poll_fn(|cx| {
            while sent < out.len() {
                match Pin::new(&mut *stream).poll_write(cx, &out[sent..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(false),
                    Poll::Ready(Ok(n)) => sent += n,
                    Poll::Ready(Err(_)) => return Poll::Ready(false),
                    Poll::Pending => {
                        let d = *deadline.get_or_insert_with(|| Instant::now() + t.write);
                        return expired(timer.as_mut(), d, cx).map(|()| false);
                    }
                }
            }
            Poll::Ready(true)
        })
        .await;
        out.clear();
        done
    }

    /// Close after the last answer. With input left unread (a body not dropped, a refused head, pipelined requests
    /// after a `close`), the write side is shut first and input is read and dropped for a bounded time, so that the
    /// peer's kernel does not turn our close into a reset that discards the answer before the peer reads it.
    async fn finish(mut self, unread: bool) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if !unread {
            return;
        }
        let _ = self.stream.shutdown().await;
        // On the heap: an array here would be part of every connection's task, lingering or not.
        let mut scratch = vec![0u8; 8192];
        let mut dropped = 0;
        let _ = tokio::time::timeout(LINGER, async {
            while dropped < LINGER_BYTES {
                match self.stream.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => dropped += n,
                }
            }
        })
        .await;
    }
}

/// Whether the connection's deadline has passed: polls its timer, and when the timer fires early (it is never armed
/// more than [`TICK`] ahead), re-arms it for `deadline`.
fn expired(
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
    cx: &mut std::task::Context<'_>,
) -> Poll<()> {
    loop {
        if timer.as_mut().poll(cx).is_pending() {
            // Armed later than this deadline (a head began while the idle deadline was armed): bring it forward.
            if timer.deadline() > deadline {
                timer.as_mut().reset(deadline);
                continue;
            }
            return Poll::Pending;
        }
        let now = Instant::now();
        if now >= deadline {
            return Poll::Ready(());
        }
        timer.as_mut().reset(deadline.min(now + TICK));
    }
}
