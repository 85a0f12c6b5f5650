//! The gRPC listener's connections: accepted up to a cap (the rest wait in the kernel's accept queue), TCP
//! keep-alive and no Nagle delay, TLS handshakes off the accept loop and bounded in time, and a read-idle timeout, so
//! that a silent or vanished peer cannot hold a connection: a live HTTP/2 peer answers the server's keep-alive pings,
//! which counts as reading, so only one that sends nothing at all is cut.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};

/// Limits of the listener's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Most open connections.
    pub max_connections: usize,
    /// A connection from which nothing was read for this long is closed.
    pub read_idle: Duration,
    /// Longest TLS handshake.
    pub handshake: Duration,
    /// TCP keep-alive idle time.
    pub tcp_keepalive: Duration,
}

/// One accepted connection, cleartext or TLS.
pub struct Conn {
    io: Io,
    idle: Pin<Box<Sleep>>,
    read_idle: Duration,
    _slot: OwnedSemaphorePermit,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = match &mut this.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + this.read_idle;
                    this.idle.as_mut().reset(next);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nothing read from the peer for the idle timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// The connections of `listener`, for the listener's accept loop. With `tls`, each connection is
/// handshaken with the config current when it was accepted (reloads swap it). Dropping the stream (the listener does
/// when it stops accepting) ends the accept task and closes the listening socket.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    limits: ConnLimits,
) -> impl Stream<Item = io::Result<Conn>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<io::Result<Conn>>(64);
    tokio::spawn(accept_loop(listener, tls, limits, tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    limits: ConnLimits,
    tx: mpsc::Sender<io::Result<Conn>>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let slot = tokio::select! {
            _ = tx.closed() => return,
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = tx.closed() => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin, and try again.
                    tracing::warn!(error = %e, "gRPC listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tune(&stream, limits.tcp_keepalive);
        let read_idle = limits.read_idle;
        let conn = move |io| Conn {
            io,
            idle: Box::pin(tokio::time::sleep(read_idle)),
            read_idle,
            _slot: slot,
        };
        match &tls {
            None => {
                if tx.send(Ok(conn(Io::Plain(stream)))).await.is_err() {
                    return;
                }
            }
            Some(config) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config.load_full());
                let tx = tx.clone();
                let limit = limits.handshake;
                tokio::spawn(async move {
                    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send(Ok(conn(Io::Tls(Box::new(s))))).await;
                        }
                        // A failed handshake is the peer's problem (a wrong CA, no client certificate, a scanner).
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "gRPC listener: TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "gRPC listener: TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// TCP keep-alive (a vanished peer is found even while the connection is quiet) and no Nagle delay (a check's answer
/// is one small write).
fn tune(stream: &TcpStream, keepalive: Duration) {
    let sock = socket2::SockRef::from(stream);
    let ka = socket2::TcpKeepalive::new()
        .with_time(keepalive)
        .with_interval(keepalive.min(Duration::from_secs(10)));
    if let Err(e) = sock
        .set_tcp_keepalive(&ka)
        .and_then(|()| sock.set_tcp_nodelay(true))
    {
        tracing::debug!(error = %e, "gRPC listener: cannot set socket options");
    }
}
