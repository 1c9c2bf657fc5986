//! How an HTTP connection ends when a request's body was not read to its
//! end: an answer given early (413 over the body limit, 401, 404 for a bad
//! path) leaves the rest of the body in flight. hyper then closes the
//! connection, and two things went wrong for the client:
//!
//! - it was not told, so it sent its next request into the closing
//!   connection and got no answer: [`close_if_body_unread`] adds
//!   `Connection: close` to such answers;
//! - it was still sending when the socket closed, and the kernel answers
//!   data for a closed socket with a reset, which makes the client drop the
//!   answer it was sent: [`LingeringClose`] ends the server's side first,
//!   then reads and drops what the client still sends, for a bounded while.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// At most this much of an unread body is read and dropped on close…
const LINGER_BYTES: usize = 4 << 20;
/// …for at most this long.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Adds `Connection: close` to the answer of a request whose body the
/// handler did not read to its end.
pub async fn close_if_body_unread(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .map_or(headers.contains_key(header::TRANSFER_ENCODING), |length| {
            length != "0"
        });
    if !has_body {
        return next.run(request).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let (parts, body) = request.into_parts();
    let body = Body::new(Tracked {
        inner: body,
        ended: Arc::clone(&ended),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !ended.load(Ordering::Relaxed) {
        let close = HeaderValue::from_static("close");
        response.headers_mut().insert(header::CONNECTION, close);
    }
    response
}

/// A request body that notes when it was read to its end.
struct Tracked {
    inner: Body,
    ended: Arc<AtomicBool>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        if frame.is_none() || this.inner.is_end_stream() {
            this.ended.store(true, Ordering::Relaxed);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A TCP connection whose shutdown lingers (see the module doc).
#[derive(Debug)]
pub struct LingeringClose {
    stream: TcpStream,
    closing: Option<Lingering>,
}

#[derive(Debug)]
struct Lingering {
    deadline: Pin<Box<Sleep>>,
    dropped: usize,
}

impl LingeringClose {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            closing: None,
        }
    }
}

impl AsyncRead for LingeringClose {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringClose {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    /// Ends this side, then drops what the client still sends until it
    /// closes too or a bound is reached.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closing.is_none() {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            this.closing = Some(Lingering {
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                dropped: 0,
            });
        }
        let Some(closing) = this.closing.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0_u8; 8192];
        loop {
            if closing.dropped >= LINGER_BYTES || closing.deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut this.stream).poll_read(cx, &mut read)) {
                Ok(()) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => closing.dropped += read.filled().len(),
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}
