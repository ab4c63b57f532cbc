//! The accept loop: HTTP/1 and HTTP/2 on one listener, with a time limit on request heads.
//!
//! `axum::serve` cannot bound how long a client takes to send its request head, so one
//! client per socket could hold connections open forever by sending a header line now
//! and then. This loop serves each connection with hyper-util's auto builder, whose
//! HTTP/1 side closes a connection that has not sent a complete head within
//! `HTTP_HEADER_READ_TIMEOUT_SECS` of opening (or of its previous response, so idle
//! kept-alive connections are closed after the same time). Before that, the auto builder
//! reads up to 24 bytes to tell HTTP/1 from HTTP/2 with no time limit of its own, so the
//! socket gets the same limit for those first bytes ([`FirstBytesDeadline`]).
//!
//! Every request carries [`ConnectInfo<SocketAddr>`](ConnectInfo) with the TCP peer, as
//! `into_make_service_with_connect_info::<SocketAddr>()` would give it.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Extension, Router, extract::ConnectInfo};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::Sleep,
};
use tower::Layer;
use tower_http::normalize_path::NormalizePath;

/// Pause after an accept error (`EMFILE`…) before accepting again: the condition is
/// usually a moment of pressure that connections finishing will relieve.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// How often an HTTP/2 connection is pinged; one not answering within 20 s is closed.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets
/// every in-flight request finish, closes idle connections and returns.
pub async fn run(
    listener: TcpListener,
    app: NormalizePath<Router>,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true);
    // HTTP/2 (prior knowledge, e.g. h2c from a proxy) stays accepted; its streams use the
    // same body time limits as HTTP/1 requests, and pings drop peers that went away.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after_accept_error(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = Extension(ConnectInfo(peer)).layer(app.clone());
        let io = TokioIo::new(FirstBytesDeadline::new(stream, header_read_timeout));
        let connection = builder
            .serve_connection_with_upgrades(io, TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A client going away, a malformed or too-slow head: the client's affair.
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What an HTTP/2 client sends first; hyper-util reads until the bytes differ from it
/// (HTTP/1) or all of it has arrived (HTTP/2).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A socket whose reads fail once `limit` has passed before the HTTP version is known,
/// so a client cannot hold a connection by sending nothing, or a slice of the HTTP/2
/// preface. Once the version is known the deadline is gone: hyper's header timer (HTTP/1)
/// takes over.
struct FirstBytesDeadline {
    inner: TcpStream,
    deadline: Option<Pin<Box<Sleep>>>,
    seen: usize,
}

impl FirstBytesDeadline {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        Self {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(limit))),
            seen: 0,
        }
    }

    /// Notes `read`, the bytes just read; drops the deadline once they settle the version.
    fn saw(&mut self, read: &[u8]) {
        let expected = H2_PREFACE.get(self.seen..).unwrap_or_default();
        let overlap = read.len().min(expected.len());
        self.seen += read.len();
        if read.is_empty()
            || read[..overlap] != expected[..overlap]
            || self.seen >= H2_PREFACE.len()
        {
            self.deadline = None;
        }
    }
}

impl AsyncRead for FirstBytesDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() {
                    this.saw(&buf.filled()[before..]);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no request head in time",
                    )))
                } else {
                    Poll::Pending
                }
            }
            failed @ Poll::Ready(Err(_)) => failed,
        }
    }
}

impl AsyncWrite for FirstBytesDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn pause_after_accept_error(e: &io::Error) {
    // A connection reset before it was accepted is nothing to wait for.
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing before accepting again");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

#[cfg(test)]
mod tests {
    use std::{net::SocketAddr, time::Instant};

    use axum::{Router, extract::ConnectInfo, routing::get};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };
    use tower::Layer;
    use tower_http::normalize_path::NormalizePathLayer;

    use super::*;

    async fn start(
        router: Router,
        header_timeout: Duration,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = NormalizePathLayer::trim_trailing_slash().layer(router);
        let task = tokio::spawn(run(listener, app, header_timeout, async {
            let _ = stopped.await;
        }));
        (addr, stop, task)
    }

    #[tokio::test]
    async fn every_request_carries_the_peer_address() {
        let router = Router::new().route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let (addr, _stop, _task) = start(router, Duration::from_secs(10)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        stream
            .write_all(b"GET /peer/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with(&local.to_string()), "{answer}");
    }

    #[tokio::test]
    async fn http2_is_still_accepted() {
        let router = Router::new().route("/", get(|| async { "h2" }));
        let (addr, _stop, _task) = start(router, Duration::from_secs(10)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The HTTP/2 connection preface, then an empty SETTINGS frame.
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();
        let mut frame = [0u8; 9];
        stream.read_exact(&mut frame).await.unwrap();
        assert_eq!(
            frame[3], 0x04,
            "the server should answer with SETTINGS: {frame:?}"
        );
    }

    #[tokio::test]
    async fn a_head_that_never_completes_is_dropped() {
        let router = Router::new().route("/", get(|| async { "ok" }));
        let (addr, _stop, _task) = start(router, Duration::from_millis(500)).await;
        // A partial HTTP/1 head, nothing at all, a slice of the HTTP/2 preface.
        let sent: [&[u8]; 3] = [b"GET / HTTP/1.1\r\nHost: x\r\n", b"", b"PRI * HTTP/2.0\r\n"];
        for sent in sent {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(sent).await.unwrap();
            let start = Instant::now();
            let mut buf = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut buf))
                .await
                .expect("the connection should have been closed");
            // Closed (cleanly or reset) without an answer.
            assert!(read.is_err() || buf.is_empty(), "{buf:?}");
            assert!(start.elapsed() >= Duration::from_millis(400));
        }
    }

    #[tokio::test]
    async fn a_kept_alive_connection_serves_requests_past_the_first_bytes_deadline() {
        let router = Router::new().route("/", get(|| async { "ok" }));
        let (addr, _stop, _task) = start(router, Duration::from_millis(500)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for _ in 0..3 {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    #[tokio::test]
    async fn shutdown_lets_in_flight_requests_finish() {
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "done"
            }),
        );
        let (addr, stop, task) = start(router, Duration::from_secs(10)).await;
        let request = tokio::spawn(async move {
            reqwest::get(format!("http://{addr}/slow"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.send(()).unwrap();
        assert_eq!(request.await.unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve should return once drained")
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting");
    }
}
