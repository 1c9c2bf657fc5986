//! A TCP proxy between the server and PostgreSQL that the test can break:
//! the database "goes away" for this server only, never for the machine's
//! shared PostgreSQL service or the other tests using it. Put between a
//! client and the server instead, it is the client's network going silent,
//! or a client that stopped reading.
//!
//! - [`Fault::None`]: bytes flow both ways.
//! - [`Fault::Refuse`]: open connections are cut and new ones closed at
//!   once, as when the database host is down or restarting.
//! - [`Fault::Blackhole`]: new connections are accepted and never answered,
//!   open ones stop carrying bytes (held, not closed), as when a network
//!   path drops packets. Lifting it lets held connections carry on.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Refuse,
    Blackhole,
}

#[derive(Debug)]
pub struct FaultProxy {
    pub address: SocketAddr,
    fault: watch::Sender<Fault>,
    accepting: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::start_with(upstream, None).await
    }

    /// Like [`FaultProxy::start`], reading `upstream` through a receive
    /// buffer of `bytes`: during a blackhole the upstream's sends back up
    /// after a few kilobytes, as towards a client on a poor link that
    /// stopped reading, instead of after the megabytes loopback takes.
    pub async fn start_reading(upstream: SocketAddr, bytes: u32) -> Self {
        Self::start_with(upstream, Some(bytes)).await
    }

    async fn start_with(upstream: SocketAddr, receive_buffer: Option<u32>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        let (fault, watching) = watch::channel(Fault::None);
        let upstream = Upstream {
            address: upstream,
            receive_buffer,
        };
        let accepting = tokio::spawn(accept(listener, upstream, watching));
        Self {
            address,
            fault,
            accepting,
        }
    }

    /// `url` (a PostgreSQL URL on `upstream`) pointed at this proxy instead.
    pub fn proxied_url(&self, url: &str, upstream: SocketAddr) -> String {
        url.replacen(&upstream.to_string(), &self.address.to_string(), 1)
    }

    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.set(Fault::Refuse);
    }
}

/// Where the proxy forwards to, and how it reads from there.
#[derive(Debug, Clone, Copy)]
struct Upstream {
    address: SocketAddr,
    receive_buffer: Option<u32>,
}

impl Upstream {
    async fn connect(self) -> std::io::Result<TcpStream> {
        let socket = if self.address.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(bytes) = self.receive_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        socket.connect(self.address).await
    }
}

async fn accept(listener: TcpListener, upstream: Upstream, fault: watch::Receiver<Fault>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let fault = fault.clone();
        tokio::spawn(async move {
            let now = *fault.borrow();
            match now {
                Fault::Refuse => return,
                Fault::Blackhole => {
                    let mut fault = fault.clone();
                    // Held open, silent, until the fault is lifted or changed.
                    let _ = fault.wait_for(|f| *f != Fault::Blackhole).await;
                    return;
                }
                Fault::None => {}
            }
            let Ok(server) = upstream.connect().await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::select! {
                () = pipe(client_read, server_write, fault.clone()) => {}
                () = pipe(server_read, client_write, fault) => {}
            }
        });
    }
}

/// Copies `from` to `to` while the fault allows: held during a blackhole,
/// ended (both directions dropped) on a refusal.
async fn pipe(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut fault: watch::Receiver<Fault>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = fault.wait_for(|f| *f == Fault::Refuse) => return,
        };
        let Ok(read @ 1..) = read else { return };
        match fault.wait_for(|f| *f != Fault::Blackhole).await {
            Ok(now) if *now == Fault::None => {}
            _ => return,
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}
