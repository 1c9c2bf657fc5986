//! A message for clients, serialised once and shared by every connection
//! that gets it, in both protocols' forms: the `/ws` JSON text frame, and
//! the Socket.IO event built from it the first time a Socket.IO socket
//! needs it. Fan-out sends one message to thousands of connections, so
//! whatever is per connection must be a copy at most: re-serialising a
//! JSON tree per Socket.IO socket was most of its per-frame cost.

use std::sync::OnceLock;

use axum::extract::ws::Utf8Bytes;
use serde_json::value::RawValue;

use crate::protocol;

/// One message in the forms the protocols send.
#[derive(Debug)]
pub struct Frame {
    text: Utf8Bytes,
    socketio: OnceLock<SocketIoEvent>,
}

/// A Socket.IO event: its name and its one argument, already JSON.
#[derive(Debug)]
pub struct SocketIoEvent {
    pub name: String,
    pub arg: Box<RawValue>,
}

impl Frame {
    /// The `/ws` text frame.
    pub fn text(&self) -> &Utf8Bytes {
        &self.text
    }

    /// The Socket.IO form, built once on first use.
    pub fn socketio(&self) -> &SocketIoEvent {
        self.socketio
            .get_or_init(|| protocol::socketio_event(self.text.as_str()))
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self {
            text: text.into(),
            socketio: OnceLock::new(),
        }
    }
}
