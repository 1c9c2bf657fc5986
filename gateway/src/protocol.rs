//! The JSON text frames of `GET /ws`.
//!
//! Client → server: `auth`, `subscribe`, `unsubscribe`, `presence`, `ping`,
//! `pong`.
//! Server → client: `ready`, `subscribed`, `unsubscribed`, `event`,
//! `presence`, `presence_counts`, `error`, `ping`, `pong`.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::frame::SocketIoEvent;

/// Close codes beyond the standard ones.
pub mod close {
    /// The token expired (or the session ended) and was not refreshed.
    pub const TOKEN_EXPIRED: u16 = 4001;
    /// Authentication failed or did not come in time.
    pub const UNAUTHORIZED: u16 = 4003;
    /// The connection could not keep up; resume from the last offset.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// The user already holds as many connections as allowed
    /// (`max_connections_per_user`); close one first.
    pub const TOO_MANY_CONNECTIONS: u16 = 4029;
    /// Repeated protocol abuse.
    pub const POLICY: u16 = 1008;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame was larger than the server accepts (`max_frame_bytes`).
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server failed (e.g. its database); resume from your offsets.
    pub const INTERNAL_ERROR: u16 = 1011;
}

/// A frame from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Auth {
        token: String,
    },
    Subscribe {
        room: String,
        /// Kept raw so that a garbage offset gets a precise error.
        #[serde(default)]
        since: Option<Value>,
        #[serde(default)]
        epoch: Option<String>,
    },
    Unsubscribe {
        room: String,
    },
    /// `viewing`, `replying`, `noting` or `left`.
    Presence {
        room: String,
        activity: String,
    },
    Ping,
    Pong,
}

pub fn ready(user: &str, epoch: &str, offset: i64) -> String {
    json!({ "type": "ready", "user": user, "epoch": epoch, "offset": offset }).to_string()
}

pub fn subscribed(room: &str, recovered: bool, reason: Option<&str>) -> String {
    json!({ "type": "subscribed", "room": room, "recovered": recovered, "reason": reason })
        .to_string()
}

pub fn unsubscribed(room: &str, reason: &str) -> String {
    json!({ "type": "unsubscribed", "room": room, "reason": reason }).to_string()
}

pub fn error(code: &str, message: &str) -> String {
    json!({ "type": "error", "code": code, "message": message }).to_string()
}

pub fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

pub fn ping() -> String {
    json!({ "type": "ping" }).to_string()
}

/// A feed change as sent to clients; built once and shared by every
/// connection that gets it.
pub fn event(offset: i64, position: i64, event: &str, rooms: &[String], data: &str) -> String {
    format!(
        r#"{{"type":"event","offset":{offset},"position":{position},"event":{},"rooms":{},"data":{data}}}"#,
        Value::from(event),
        Value::from(rooms.to_vec()),
    )
}

/// A latest-value message (queue metrics): no offset, nothing to resume.
pub fn latest(event: &str, room: &str, data: &Value) -> String {
    json!({ "type": "event", "offset": null, "event": event, "rooms": [room], "data": data })
        .to_string()
}

/// A room's presence list as one reader is shown it: latest-value, the
/// whole list each time.
pub fn presence(room: &str, members: &[Value]) -> String {
    json!({ "type": "presence", "room": room, "members": members }).to_string()
}

/// A queue's board counts: how many are viewing, replying and noting on
/// each of its tickets (staff only, latest-value).
pub fn presence_counts(room: &str, tickets: &serde_json::Map<String, Value>) -> String {
    json!({ "type": "presence_counts", "room": room, "tickets": tickets }).to_string()
}

/// Turns a `/ws` frame into a Socket.IO event: an `event` frame is named by
/// its `event` (`{offset, position, rooms, data}`), any other by its
/// `type` (`presence`: `{room, members}`). Parsed and written once per
/// frame ([`crate::frame::Frame`]), whatever the number of sockets.
pub(crate) fn socketio_event(frame: &str) -> SocketIoEvent {
    let mut value: Value = serde_json::from_str(frame).unwrap_or(Value::Null);
    let name = value
        .get("event")
        .or_else(|| value.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("event")
        .to_owned();
    if let Some(object) = value.as_object_mut() {
        object.remove("type");
        object.remove("event");
    }
    let arg = serde_json::value::to_raw_value(&value).unwrap_or_else(|_| RawValue::NULL.to_owned());
    SocketIoEvent { name, arg }
}

/// Reads a client's `since`: absent, or a non-negative integer.
pub fn parse_since(since: Option<&Value>) -> Result<Option<i64>, &'static str> {
    match since {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_i64() {
            Some(offset) if offset >= 0 => Ok(Some(offset)),
            Some(_) => Err("since must not be negative"),
            None => Err("since must be an integer offset"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_only_non_negative_integers() {
        assert_eq!(parse_since(None), Ok(None));
        assert_eq!(parse_since(Some(&json!(12))), Ok(Some(12)));
        assert!(parse_since(Some(&json!(-1))).is_err());
        assert!(parse_since(Some(&json!("12"))).is_err());
        assert!(parse_since(Some(&json!(1.5))).is_err());
    }

    #[test]
    fn socketio_events_drop_type_and_name() {
        let frame = event(7, 3, "ticket:created", &["queue:q1".into()], r#"{"a":1}"#);
        let SocketIoEvent { name, arg } = socketio_event(&frame);
        let value: Value = serde_json::from_str(arg.get()).unwrap();
        assert_eq!(name, "ticket:created");
        assert_eq!(
            value,
            json!({ "offset": 7, "position": 3, "rooms": ["queue:q1"], "data": { "a": 1 } })
        );
        let SocketIoEvent { name, arg } =
            socketio_event(&latest("queue:metrics_updated", "queue:q", &json!({})));
        let value: Value = serde_json::from_str(arg.get()).unwrap();
        assert_eq!(name, "queue:metrics_updated");
        assert_eq!(value["offset"], Value::Null);
        let SocketIoEvent { name, arg } =
            socketio_event(&presence("ticket:t", &[json!({ "user": "u" })]));
        let value: Value = serde_json::from_str(arg.get()).unwrap();
        assert_eq!(name, "presence");
        assert_eq!(
            value,
            json!({ "room": "ticket:t", "members": [{ "user": "u" }] })
        );
    }

    #[test]
    fn event_frames_are_valid_json() {
        let frame = event(
            7,
            3,
            "ticket:created",
            &["queue:q1".into()],
            r#"{"ticket_id":"t"}"#,
        );
        let parsed: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed["offset"], 7);
        assert_eq!(parsed["rooms"], json!(["queue:q1"]));
        assert_eq!(parsed["data"]["ticket_id"], "t");
    }
}
