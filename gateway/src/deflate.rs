//! permessage-deflate (RFC 7692) on `/ws`, with `--ws-deflate`.
//!
//! axum's WebSocket (tungstenite) does not implement the extension, so
//! with the setting on every `/ws` connection is served by `yawc`, which
//! negotiates it with the clients that offer it and speaks plain frames
//! to the others. The connection itself does not know: this module turns
//! yawc's frames into axum's `Message`s and back.
//!
//! No context is kept between messages in either direction (the server
//! imposes it, as RFC 7692 allows), and compressors are borrowed from one
//! pool for the length of a message: an idle connection then holds no
//! deflate state at all, where one that kept its context would hold
//! ~370 KiB. Each frame is compressed on its own, so a change compresses
//! about as well as one JSON document does.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt, future};
use yawc::close::CloseCode;
use yawc::{
    CompressionLevel, DeflatePool, Frame, HttpStream, IncomingUpgrade, OpCode, Options, WebSocket,
};

use crate::connection::{Incoming, Sink};
use crate::settings::GatewaySettings;

/// Idle compressors kept for reuse: about the messages compressed at the
/// same moment, that is the runtime's worker threads, with room to spare.
const POOLED_COMPRESSORS: usize = 64;
/// Frames shorter than this go out uncompressed (pongs, acknowledgements):
/// deflate cannot shrink them.
const COMPRESSION_THRESHOLD: usize = 64;

static POOL: LazyLock<DeflatePool> = LazyLock::new(|| DeflatePool::new(POOLED_COMPRESSORS));

/// The upgrade's options: the same limits and buffer sizes as without
/// compression (see `upgrade` in `lib.rs`), plus the extension.
fn options(settings: &GatewaySettings) -> Options {
    Options::default()
        // The limit is exclusive here, inclusive in axum's WebSocket.
        .with_max_payload_read(settings.max_frame_bytes + 1)
        .with_max_read_buffer(settings.max_frame_bytes + 1)
        .with_read_buffer_capacity(512)
        .with_write_buffer_capacity(4096)
        .with_compression_level(CompressionLevel::fast())
        .server_no_context_takeover()
        .client_no_context_takeover()
        .with_deflate_pool(POOL.clone())
        .with_compression_threshold(COMPRESSION_THRESHOLD)
}

/// Answers the upgrade, negotiating the extension if the client offers
/// it; `serve` gets the connection once upgraded.
pub(crate) fn accept<Serve, Served>(
    upgrade: IncomingUpgrade,
    settings: &GatewaySettings,
    serve: Serve,
) -> Response
where
    Serve: FnOnce((Sink, Incoming)) -> Served + Send + 'static,
    Served: Future<Output = ()> + Send + 'static,
{
    let (response, upgraded) = match upgrade.upgrade(options(settings)) {
        Ok(accepted) => accepted,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    tokio::spawn(async move {
        if let Ok(socket) = upgraded.await {
            serve(split(socket)).await;
        }
    });
    response.into_response()
}

/// The connection's two directions as `connection::serve` takes them.
/// yawc ends the stream on a read error, after closing the connection
/// with the matching code itself (1009 for a frame over the limit).
fn split(socket: WebSocket<HttpStream>) -> (Sink, Incoming) {
    let (sink, stream) = socket.split();
    let sink = sink
        .sink_map_err(axum::Error::new)
        .with(|message| future::ok::<_, axum::Error>(to_frame(message)));
    let stream = stream.filter_map(|frame| future::ready(to_message(frame)));
    (Box::pin(sink), Box::pin(stream))
}

fn to_frame(message: Message) -> Frame {
    match message {
        Message::Text(text) => Frame::text(Bytes::from(text)),
        Message::Binary(data) => Frame::binary(data),
        Message::Ping(data) => Frame::ping(data),
        Message::Pong(data) => Frame::pong(data),
        Message::Close(Some(CloseFrame { code, reason })) => {
            Frame::close(code.into(), reason.as_bytes())
        }
        Message::Close(None) => Frame::close(CloseCode::Normal, ""),
    }
}

/// A frame as a `Message`; continuation frames never reach here (yawc
/// reassembles messages), so there is nothing to skip but those.
fn to_message(frame: Frame) -> Option<Result<Message, axum::Error>> {
    let (opcode, _, payload) = frame.into_parts();
    let message = match opcode {
        OpCode::Text => match Utf8Bytes::try_from(payload) {
            Ok(text) => Message::Text(text),
            Err(error) => return Some(Err(axum::Error::new(error))),
        },
        OpCode::Binary => Message::Binary(payload),
        OpCode::Ping => Message::Ping(payload),
        OpCode::Pong => Message::Pong(payload),
        OpCode::Close => Message::Close(None),
        OpCode::Continuation => return None,
    };
    Some(Ok(message))
}
