//! A minimal Socket.IO v5 client (Engine.IO v4, WebSocket transport only)
//! for the fan-out benchmark.
//!
//! Hand-written on purpose: the benchmark holds up to 10,000 connections in
//! one process and reads them with one task per CPU, so a client must be
//! nothing but a WebSocket. The async Socket.IO clients on crates.io
//! (`rust_socketio` 0.6 and its fork `tf-rust-socketio`) spawn a reader
//! task and locked shared state per client, bring their own WebSocket
//! stack (`rust_socketio`'s is tokio-tungstenite 0.21) and native TLS, and
//! hand events to callbacks, which would put their dispatch between a
//! frame's arrival and its timestamp. Only a few packets are
//! needed, all as text over the WebSocket transport:
//!
//! | packet | direction | meaning |
//! |---|---|---|
//! | `0{...}` | in | Engine.IO open |
//! | `2` / `3` | in / out | Engine.IO ping / pong (within the server's ping timeout) |
//! | `40{auth}` / `40{sid}` / `44{message}` | out / in / in | connect to `/`, accepted, refused |
//! | `42[name, arg]` | in | an event (a server with connection state recovery, as the Node peer's, appends the event's offset: `42[name, arg, offset]`) |
//! | `42<id>[name, arg]` / `43<id>[answer]` | out / in | an event with an ack, and its ack |
//! | `41`, `1` | in | disconnect, Engine.IO close |
//!
//! No polling transport, no binary packets, no reconnection, only the
//! default namespace.

use std::fmt;
use std::marker::PhantomData;

use anyhow::{Result, bail, ensure};
use futures::SinkExt;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::client::{ChangeData, Event, Incoming, Protocol, Ws, await_text};

/// Engine.IO's ping and the pong that answers it.
const PING: &str = "2";
const PONG: &str = "3";
/// The ack id of a connection's one `subscribe`.
const SUBSCRIBE_ACK: u64 = 0;

/// A packet as read from one text message.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Engine.IO `0`: the transport is open.
    Open,
    /// Engine.IO `1`: the transport closes.
    Close,
    /// Engine.IO `2`: answer with a pong.
    Ping,
    /// Socket.IO `40`: the namespace accepted the connection.
    Connected,
    /// Socket.IO `41`: the server disconnected the socket.
    Disconnected,
    /// Socket.IO `42`: an event; `args` is its JSON array, name first.
    Event { args: &'a str },
    /// Socket.IO `43`: the answer to the event with ack `id`, a JSON array.
    Ack { id: u64, args: &'a str },
    /// Socket.IO `44`: the connection was refused; a JSON object.
    ConnectError(&'a str),
    /// Anything else.
    Other,
}

/// Reads one text message.
pub fn parse(text: &str) -> Packet<'_> {
    let mut chars = text.chars();
    let Some(engine) = chars.next() else {
        return Packet::Other;
    };
    let rest = chars.as_str();
    match engine {
        '0' => return Packet::Open,
        '1' => return Packet::Close,
        '2' if rest.is_empty() => return Packet::Ping,
        '4' => {}
        _ => return Packet::Other,
    }
    let mut chars = rest.chars();
    let Some(kind) = chars.next() else {
        return Packet::Other;
    };
    let mut rest = chars.as_str();
    // A namespace other than `/` comes first, up to a comma.
    if rest.starts_with('/') {
        rest = rest.split_once(',').map_or("", |(_, after)| after);
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (id, payload) = rest.split_at(digits);
    match kind {
        '0' => Packet::Connected,
        '1' => Packet::Disconnected,
        '2' => Packet::Event { args: payload },
        '3' => match id.parse() {
            Ok(id) => Packet::Ack { id, args: payload },
            Err(_) => Packet::Other,
        },
        '4' => Packet::ConnectError(payload),
        _ => Packet::Other,
    }
}

/// The Socket.IO endpoint's WebSocket transport under `base` (`ws://host:port`).
pub fn url(base: &str) -> String {
    format!("{base}/socket.io/?EIO=4&transport=websocket")
}

/// The connect packet for `/` with `auth: {token}`.
fn connect_packet(token: &str) -> String {
    format!("40{}", json!({ "token": token }))
}

/// Event `name` with one argument, asking for ack `id`.
fn emit_with_ack(id: u64, name: &str, arg: &Value) -> String {
    format!("42{id}{}", json!([name, arg]))
}

/// The pong a message needs, if it is a ping.
pub fn answer(text: &str) -> Option<&'static str> {
    (text == PING).then_some(PONG)
}

/// The argument of an event as the readers need it: a change's or latest
/// value's `offset` and `data`, or `closing`'s `code` and `reason`.
#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(default)]
    offset: Option<i64>,
    #[serde(default, borrow)]
    data: Option<ChangeData<'a>>,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    reason: Option<String>,
}

/// An event's name and first argument; what follows them is ignored.
struct EventArgs<'a, T> {
    name: &'a str,
    arg: T,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for EventArgs<'de, T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Args<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Args<T> {
            type Value = EventArgs<'de, T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event's name and argument")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let name = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let arg = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(EventArgs { name, arg })
            }
        }
        deserializer.deserialize_seq(Args(PhantomData))
    }
}

/// A message as the readers see it.
pub fn decode(text: &str) -> Incoming<'_> {
    match parse(text) {
        Packet::Event { args } => match serde_json::from_str::<EventArgs<'_, Arg<'_>>>(args) {
            Ok(EventArgs {
                name: "closing",
                arg,
            }) => Incoming::Ending(format!(
                "closed {}: {}",
                arg.code.unwrap_or_default(),
                arg.reason.unwrap_or_default()
            )),
            Ok(EventArgs { name, arg }) => Incoming::Event(Event {
                name,
                offset: arg.offset,
                data: arg.data,
            }),
            Err(_) => Incoming::Other,
        },
        Packet::Disconnected => Incoming::Ending("disconnected by the server".to_owned()),
        Packet::Close => Incoming::Ending("Engine.IO close".to_owned()),
        _ => Incoming::Other,
    }
}

/// Fails if `text` says the session ends.
fn not_ending(text: &str) -> Result<()> {
    match decode(text) {
        Incoming::Ending(why) => bail!("{why}"),
        _ => Ok(()),
    }
}

/// Open, then connect with `token`.
pub async fn connect(ws: &mut Ws, token: &str) -> Result<()> {
    await_text(ws, Protocol::SocketIo, "the open packet", |text| {
        Ok((parse(text) == Packet::Open).then_some(()))
    })
    .await?;
    ws.send(Message::text(connect_packet(token))).await?;
    await_text(
        ws,
        Protocol::SocketIo,
        "the connect answer",
        |text| match parse(text) {
            Packet::Connected => Ok(Some(())),
            Packet::ConnectError(why) => bail!("refused: {why}"),
            _ => not_ending(text).map(|()| None),
        },
    )
    .await
}

/// Waits for the project's `ready` (its default rooms are joined by then).
pub async fn await_ready(ws: &mut Ws) -> Result<()> {
    await_text(ws, Protocol::SocketIo, "ready", |text| {
        not_ending(text)?;
        Ok((event_name(text) == Some("ready")).then_some(()))
    })
    .await
}

/// The name of the event `text` is, if it is one.
fn event_name(text: &str) -> Option<&str> {
    match parse(text) {
        Packet::Event { args } => serde_json::from_str::<EventArgs<'_, IgnoredAny>>(args)
            .ok()
            .map(|event| event.name),
        _ => None,
    }
}

/// `subscribe {room}` and its ack, which must say `ok`.
pub async fn subscribe(ws: &mut Ws, room: &str) -> Result<()> {
    let packet = emit_with_ack(SUBSCRIBE_ACK, "subscribe", &json!({ "room": room }));
    ws.send(Message::text(packet)).await?;
    await_text(
        ws,
        Protocol::SocketIo,
        "the subscribe ack",
        |text| match parse(text) {
            Packet::Ack {
                id: SUBSCRIBE_ACK,
                args,
            } => {
                let (answer,) = serde_json::from_str::<(Value,)>(args)?;
                ensure!(answer["ok"] == true, "refused: {answer}");
                Ok(Some(()))
            }
            _ => not_ending(text).map(|()| None),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_packets_used() {
        assert_eq!(parse(r#"0{"sid":"a","pingInterval":25000}"#), Packet::Open);
        assert_eq!(parse("2"), Packet::Ping);
        assert_eq!(parse("2probe"), Packet::Other);
        assert_eq!(parse(r#"40{"sid":"b"}"#), Packet::Connected);
        assert_eq!(parse("41"), Packet::Disconnected);
        assert_eq!(
            parse(r#"44{"message":"invalid_token: bad"}"#),
            Packet::ConnectError(r#"{"message":"invalid_token: bad"}"#)
        );
        assert_eq!(
            parse(r#"42["ready",{}]"#),
            Packet::Event {
                args: r#"["ready",{}]"#
            }
        );
        assert_eq!(
            parse(r#"4312[{"ok":true}]"#),
            Packet::Ack {
                id: 12,
                args: r#"[{"ok":true}]"#
            }
        );
        assert_eq!(
            parse(r#"42/admin,3["x"]"#),
            Packet::Event { args: r#"["x"]"# }
        );
        assert_eq!(parse(""), Packet::Other);
        assert_eq!(parse("4"), Packet::Other);
        assert_eq!(parse("43[]"), Packet::Other);
    }

    #[test]
    fn encodes_what_it_sends() {
        assert_eq!(connect_packet("t\"k"), r#"40{"token":"t\"k"}"#);
        let packet = emit_with_ack(0, "subscribe", &json!({ "room": "queue:q" }));
        assert_eq!(packet, r#"420["subscribe",{"room":"queue:q"}]"#);
        assert_eq!(
            parse(&packet),
            Packet::Event {
                args: r#"["subscribe",{"room":"queue:q"}]"#
            }
        );
        assert_eq!(answer("2"), Some("3"));
        assert_eq!(event_name(r#"42["ready",{"offset":1}]"#), Some("ready"));
        assert_eq!(event_name(r#"430[{"ok":true}]"#), None);
        assert_eq!(answer("3"), None);
    }

    #[test]
    fn decodes_changes_latest_values_and_endings() {
        let change = r#"42["ticket:priority_changed",{"offset":7,"position":3,"rooms":["queue:q"],"data":{"ticket_id":"t1","version":4,"priority":"high"}}]"#;
        let Incoming::Event(event) = decode(change) else {
            panic!("not an event");
        };
        assert_eq!(event.offset, Some(7));
        let data = event.data.expect("data");
        assert_eq!((data.ticket_id, data.version), (Some("t1"), Some(4)));

        let latest = r#"42["queue:metrics_updated",{"offset":null,"rooms":["queue:q"],"data":{}}]"#;
        assert!(matches!(
            decode(latest),
            Incoming::Event(Event { offset: None, .. })
        ));

        let closing = r#"42["closing",{"code":4008,"reason":"too slow"}]"#;
        assert!(matches!(decode(closing), Incoming::Ending(why) if why == "closed 4008: too slow"));
        assert!(matches!(decode("41"), Incoming::Ending(_)));
        let recoverable = r#"42["ticket:created",{"offset":12,"rooms":["queue:q"],"data":{"ticket_id":"12","title":"t"}},"AbC-12"]"#;
        let Incoming::Event(event) = decode(recoverable) else {
            panic!("an event with its recovery offset is not read");
        };
        assert_eq!((event.name, event.offset), ("ticket:created", Some(12)));
        assert_eq!(event.data.expect("data").title.as_deref(), Some("t"));
        assert!(matches!(decode(r#"42["alone"]"#), Incoming::Other));
        assert!(matches!(decode("42not json"), Incoming::Other));
        assert!(matches!(decode(r#"430[{"ok":true}]"#), Incoming::Other));
    }
}
