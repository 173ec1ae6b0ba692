//! Serving the mock over TCP: our own accept loop (hyper-util, HTTP/1.1 and h2c), so that a
//! `reset` fault can reset exactly the connection it hit with a TCP RST. Over h2c, hyper
//! answers the failed request with `RST_STREAM` and keeps the connection for the others.
//!
//! Every connection is bounded in time while it carries no request: one that sends nothing,
//! or only part of a request head (slowloris), or that stays open between requests, is closed
//! after `MockConfig::idle_timeout` ([`IDLE_TIMEOUT`] by default); an h2 connection is also
//! pinged, and closed if its peer stops answering. A request in flight keeps its connection as
//! long as it lasts (a long stream, a `stall` fault). All of it runs on tokio's clock, so
//! tests pause time.
//!
//! Over TLS ([`serve_tls`], `crate::tls`) the same connections run inside a rustls session:
//! the handshake first (bounded by the idle timeout), then the same HTTP/1.1 or h2 (chosen by
//! ALPN; hyper reads the preface either way). A `reset` drops the TLS session without its
//! `close_notify` and the TCP connection under it with an RST, as close to the plain reset as
//! TLS allows: the client sees the connection reset, not a TLS error.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::Request;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::app::{MockServer, ResetConnection};
use crate::config::MockConfig;
use crate::tls::TlsConfig;

/// How long connections get to finish at shutdown before they are dropped.
const DRAIN: Duration = Duration::from_secs(5);

/// How long a connection may carry no request before it is closed, by default
/// (`MockConfig::idle_timeout`): from its accept, or from the end of its last response, to the
/// end of the next request head. It bounds what a client that opens connections and sends
/// nothing, or half a request head, can hold (each costs a socket and a task), and idle
/// keep-alive connections. Clients that pool idle connections longer (reqwest: 90 s) notice
/// the close and dial again.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an h2 connection is pinged, and how long its peer has to answer, so that a
/// connection whose peer vanished without closing it ends even under a long request.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Streams one h2 connection may have open at once (hyper's default, stated): a client that
/// wants more opens more connections.
const H2_MAX_STREAMS: u32 = 200;

/// How long an idle connection gets, once asked to close (h2: `GOAWAY`), before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves a mock built from `config` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: MockConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_with(listener, MockServer::new(config), shutdown).await
}

/// Serves an existing mock (keep a clone to read its stats) until `shutdown` completes.
pub async fn serve_with(
    listener: TcpListener,
    server: MockServer,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_spread(listener, server, None, &[], shutdown).await
}

/// Serves an existing mock over TLS with `tls` (HTTPS: HTTP/1.1, or h2 by ALPN) until
/// `shutdown` completes: the same routes, faults, timeouts and graceful shutdown as
/// [`serve_with`].
pub async fn serve_tls(
    listener: TcpListener,
    server: MockServer,
    tls: TlsConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_spread(listener, server, Some(tls), &[], shutdown).await
}

/// Serves an existing mock (over TLS with `tls`) as [`serve_with`] and [`serve_tls`] do, its
/// connections spread in turn over the runtimes of `threads` (a live run's one per core) rather
/// than all on the runtime of the accept loop. Empty `threads`: the accept loop's runtime.
pub async fn serve_spread(
    listener: TcpListener,
    server: MockServer,
    tls: Option<TlsConfig>,
    threads: &[tokio::runtime::Handle],
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let router = server.router();
    let idle = server.config().idle_timeout;
    let builder = builder(idle);
    // Asks every connection to finish; then, after `DRAIN`, drops them.
    let stop = CancellationToken::new();
    let kill = CancellationToken::new();
    // Every connection task holds a sender: `recv` ends when the last one has finished.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    let mut accepted = 0_usize;
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) if is_transient(&err) => {
                    // Out of file descriptors or a connection that died in the backlog: keep
                    // serving the connections we have.
                    tracing::warn!("mock: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(err) => return Err(err),
            },
            () = &mut shutdown => break,
        };
        // Nagle would hold back small SSE chunks and distort inter-token timings.
        let _ = stream.set_nodelay(true);
        let ends = Ends {
            router: router.clone(),
            reset: Arc::new(AtomicBool::new(false)),
            idle,
            stop: stop.clone(),
            kill: kill.clone(),
        };
        let serving = serve_one(builder.clone(), tls.clone(), ends, open.clone());
        accepted += 1;
        match threads.get(accepted % threads.len().max(1)) {
            None => {
                tokio::spawn(serving(stream));
            }
            Some(thread) => {
                // A socket belongs to the runtime that registered it: handed over as a plain
                // one and registered again on the runtime that serves it.
                let Ok(stream) = stream.into_std() else {
                    continue;
                };
                thread.spawn(async move {
                    if let Ok(stream) = TcpStream::from_std(stream) {
                        serving(stream).await;
                    }
                });
            }
        }
    }
    drop(listener);
    drop(open);
    server.shutdown();
    stop.cancel();
    tokio::select! {
        _ = all_closed.recv() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("mock: connections still open after {DRAIN:?}; dropping them");
            kill.cancel();
        }
    }
    Ok(())
}

/// What serves one accepted connection, plain or TLS, until it ends; `open` is held until
/// then, so shutdown can wait for the last connection.
fn serve_one(
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsConfig>,
    ends: Ends,
    open: mpsc::Sender<()>,
) -> impl FnOnce(TcpStream) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    move |stream| {
        let stream = ResettableStream {
            inner: stream,
            reset: ends.reset.clone(),
        };
        Box::pin(async move {
            match tls {
                None => connection(&builder, TokioIo::new(stream), ends).await,
                Some(tls) => {
                    let (stop, kill) = (ends.stop.clone(), ends.kill.clone());
                    // At shutdown a handshake in progress is abandoned: it has no request yet.
                    let handshake = tokio::select! {
                        tls = tls.accept(stream, ends.idle) => tls,
                        () = stop.cancelled() => None,
                        () = kill.cancelled() => None,
                    };
                    if let Some(stream) = handshake {
                        connection(&builder, TokioIo::new(stream), ends).await;
                    }
                }
            }
            drop(open);
        })
    }
}

/// The connection builder: HTTP/1.1 and h2c, with the timeouts above on tokio's clock.
pub(crate) fn builder(idle: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Runs from when a head may start (accept, or the previous response sent) to its
        // end, like `idle` below; hyper closes the connection when it fires.
        .header_read_timeout(idle);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEP_ALIVE)
        .keep_alive_timeout(H2_KEEP_ALIVE)
        .max_concurrent_streams(H2_MAX_STREAMS);
    builder
}

/// What one connection serves and what ends it.
#[derive(Debug)]
pub(crate) struct Ends {
    pub(crate) router: Router,
    /// Set when a response carries [`ResetConnection`]: the connection is then dropped with
    /// a TCP RST.
    pub(crate) reset: Arc<AtomicBool>,
    /// The connection is closed once it has had no request in flight for this long.
    pub(crate) idle: Duration,
    /// Asks the connection to finish its requests and close.
    pub(crate) stop: CancellationToken,
    /// Drops the connection at once.
    pub(crate) kill: CancellationToken,
}

/// Serves one connection until it closes, is idle for `ends.idle`, or is stopped.
pub(crate) fn connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    ends: Ends,
) -> impl Future<Output = ()> + Send + 'static
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let Ends {
        router,
        reset,
        idle,
        stop,
        kill,
    } = ends;
    // Requests in flight: from a complete head to the end (or drop) of the response body.
    let (in_flight, mut watch_in_flight) = watch::channel(0_usize);
    let in_flight = Arc::new(in_flight);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let busy = Busy::new(&in_flight);
        let router = router.clone();
        let reset = reset.clone();
        async move {
            let response = router
                .oneshot(req)
                .await
                .unwrap_or_else(|never| match never {});
            if response.extensions().get::<ResetConnection>().is_some() {
                reset.store(true, Ordering::Relaxed);
                return Err(InjectedReset);
            }
            Ok(response.map(|body| Body::new(Tracked { body, _busy: busy })))
        }
    });
    let connection = builder
        .serve_connection_with_upgrades(io, service)
        .into_owned();
    async move {
        let mut connection = pin!(connection);
        // Asked to close: it finishes what it has in flight (a stop), or gets `CLOSE_GRACE`
        // (when idle).
        let mut closing = false;
        let mut give_up = None;
        loop {
            // `biased`: the connection first, so a request that arrives on the tick the idle
            // timer fires is served.
            tokio::select! {
                biased;
                _ = connection.as_mut() => return,
                () = kill.cancelled() => return,
                () = stop.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = idle_for(&mut watch_in_flight, idle), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                    give_up = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
                () = sleep_until_some(give_up) => return,
            }
        }
    }
}

/// Completes once no request has been in flight for `idle`.
async fn idle_for(in_flight: &mut watch::Receiver<usize>, idle: Duration) {
    loop {
        if in_flight.wait_for(|n| *n == 0).await.is_err() {
            return;
        }
        tokio::select! {
            biased;
            changed = in_flight.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(idle) => return,
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Marks a request in flight on its connection until dropped.
#[derive(Debug)]
struct Busy(Arc<watch::Sender<usize>>);

impl Busy {
    fn new(in_flight: &Arc<watch::Sender<usize>>) -> Self {
        in_flight.send_modify(|n| *n += 1);
        Self(in_flight.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A response body that keeps its request in flight until it is sent or dropped.
#[derive(Debug)]
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || err
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23) // EMFILE, ENFILE
}

/// The error that makes hyper drop a connection.
#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected fault: connection reset")
    }
}

impl std::error::Error for InjectedReset {}

/// A TCP stream that, once flagged, closes with RST instead of FIN.
#[derive(Debug)]
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // SO_LINGER 0: close() discards the send buffer and sends RST.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
