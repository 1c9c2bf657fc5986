//! The HTTP/1.1 accept loop. `axum::serve` has no request-head timeout: a
//! socket that never sends a byte, or drips a header every few seconds,
//! holds a file descriptor for good, and enough of them leave nothing for
//! real clients. Connections are served here with hyper directly:
//!
//! - hyper's `header_read_timeout` closes a connection that has not sent a
//!   complete request head in time. hyper (>= 1.4) starts that timer
//!   whenever it waits for a head, on a new connection and between requests
//!   on a keep-alive one, so the same limit bounds how long a connection may
//!   sit idle.
//! - An accept error (e.g. no file descriptors left) is logged and retried
//!   after a pause, never fatal: the timeouts free descriptors again.
//! - Upgrades (WebSocket, Socket.IO) are handed to their handlers, which
//!   have their own deadlines (authentication, heartbeats).
//! - A request whose body was not read to its end closes its connection
//!   cleanly for the client (`closing.rs`).
//! - Shutdown: stop accepting, let each connection finish the request in
//!   flight, then close it; upgraded connections are told by the gateway.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use bomizzel_gateway::stopped;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::closing::{LingeringClose, close_if_body_unread};

/// How long to wait before accepting again after an accept error.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Connections the kernel completes and queues for the accept loop. After
/// a restart every client reconnects at once; a short queue overflows and
/// the overflow waits for SYN retries seconds apart. The kernel caps it at
/// `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `address` with [`LISTEN_BACKLOG`].
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How accepted connections are set up.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// Longest wait for a complete request head, and between requests.
    pub header_timeout: Duration,
    /// The kernel's send buffer per connection; `None` leaves it to the
    /// kernel's autotuning, which lets a client that stopped reading pin
    /// up to `net.ipv4.tcp_wmem`'s maximum (4 MiB here) before the
    /// gateway's own queue fills and closes it as too slow.
    pub send_buffer: Option<usize>,
}

/// Serves `app` on `listener` until `shutdown` turns true, then waits for
/// the connections' requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: ConnectionSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = app.layer(axum::middleware::from_fn(close_if_body_unread));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout);
    // Every connection task holds a receiver; `closed()` resolves when all are gone.
    let (open, connection_alive) = watch::channel(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tune(&stream, settings);
                    stream
                }
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        tokio::spawn(connection(
            builder.clone(),
            stream,
            app.clone(),
            shutdown.clone(),
            connection_alive.clone(),
        ));
    }
    drop(listener);
    drop(connection_alive);
    open.closed().await;
}

/// Sets up an accepted socket, best effort (the defaults are as good a
/// fallback): no Nagle delay, since every write is a whole answer or a
/// batch of whole frames, and a frame held back behind an unacknowledged
/// one waits for the client's delayed ACK (up to 40 ms); and the send
/// buffer, when one is set.
fn tune(stream: &TcpStream, settings: ConnectionSettings) {
    let _ = stream.set_nodelay(true);
    if let Some(bytes) = settings.send_buffer {
        let _ = socket2::SockRef::from(stream).set_send_buffer_size(bytes);
    }
}

/// Serves one connection; on shutdown it finishes the request in flight.
async fn connection(
    builder: http1::Builder,
    stream: TcpStream,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    _alive: watch::Receiver<()>,
) {
    let service = TowerToHyperService::new(app);
    let connection = builder
        .serve_connection(TokioIo::new(LingeringClose::new(stream)), service)
        .with_upgrades();
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        // Timeouts, resets and malformed requests: the client's doing.
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Connection-level errors concern one peer only; others (no file
/// descriptors, no memory) pause accepting briefly instead of spinning.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    metrics::counter!("http_accept_errors_total").increment(1);
    tracing::warn!(%error, "accept failed; retrying shortly");
    tokio::time::sleep(ACCEPT_RETRY).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections the kernel completed that nobody accepted yet wait in
    /// the listener's queue; once it is full the kernel drops SYNs, and a
    /// client tries again only after a second, then two, four... A
    /// listener that does not accept at all must still take a storm far
    /// beyond the old default of 128 without a retry (128 gave 129 of 600).
    #[tokio::test]
    async fn the_listener_queues_a_storm_without_accepting() {
        const CLIENTS: usize = 600;
        // Under the first SYN retry (1 s): a connection still pending then
        // had its SYN dropped.
        const BEFORE_RETRY: Duration = Duration::from_millis(800);
        let listener = bind("127.0.0.1:0".parse().unwrap()).expect("binds");
        let address = listener.local_addr().unwrap();
        let storm =
            (0..CLIENTS).map(|_| tokio::time::timeout(BEFORE_RETRY, TcpStream::connect(address)));
        let connections = futures::future::join_all(storm).await;
        let connected = connections
            .iter()
            .filter(|c| matches!(c, Ok(Ok(_))))
            .count();
        assert_eq!(
            connected, CLIENTS,
            "the kernel caps the backlog at net.core.somaxconn"
        );
    }
}
