//! The subscription gateway: `GET /ws` streams room-feed changes to
//! WebSocket clients, with JWT authentication, per-room authorization and
//! replay from a client's offset, so a client that reconnects misses
//! nothing and sees nothing twice. See `connection` for how, `hub` for the
//! fan-out, `room` for who may join what, `presence_push` for who is
//! viewing or replying.

mod connection;
mod deflate;
mod dormant;
mod frame;
mod hub;
mod limits;
mod metrics_push;
mod presence_push;
pub mod protocol;
pub mod room;
mod session;
mod settings;
mod socketio;

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bomizzel_identity::Shared;
use futures::StreamExt;
use tokio::sync::watch;

pub use hub::Hub;
pub use settings::GatewaySettings;

use crate::connection::{Incoming, Sink};
use crate::limits::{ConnectionSlot, TOO_MANY_CONNECTIONS, UserConnections};

/// The running gateway of this node.
#[derive(Debug, Clone)]
pub struct Gateway {
    hub: Arc<Hub>,
    connections: Arc<UserConnections>,
    shutdown: watch::Receiver<bool>,
}

impl Gateway {
    /// Starts the hub. `feed_committed` wakes it when this node's room-feed
    /// projection commits; other nodes' commits arrive by NOTIFY.
    pub async fn start(
        state: Shared,
        settings: GatewaySettings,
        feed_committed: watch::Receiver<i64>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, bomizzel_projections::ProjectionError> {
        let connections = UserConnections::new(settings.max_connections_per_user);
        let (touched, touched_queues) = tokio::sync::mpsc::unbounded_channel();
        let hub = Hub::start(state, settings, feed_committed, touched, shutdown.clone()).await?;
        tokio::spawn(metrics_push::run(
            Arc::clone(&hub),
            touched_queues,
            shutdown.clone(),
        ));
        tokio::spawn(presence_push::run(Arc::clone(&hub), shutdown.clone()));
        Ok(Self {
            hub,
            connections,
            shutdown,
        })
    }

    /// `app` with `GET /ws` and Socket.IO at `/socket.io/` (same hub, same
    /// rules). Socket.IO is a layer in front of the routes, and a router's
    /// layer only sees requests that router matches: it must wrap the whole,
    /// finished app, or `/socket.io/` is a 404.
    pub fn serve_within(&self, app: Router) -> Router {
        app.route("/ws", get(upgrade).with_state(self.clone()))
            .layer(socketio::layer(
                Arc::clone(&self.hub),
                Arc::clone(&self.connections),
                self.shutdown.clone(),
            ))
            .layer(axum::middleware::map_request(socketio::detach_request_head))
    }
}

async fn upgrade(State(gateway): State<Gateway>, request: Request) -> Response {
    let settings = &gateway.hub.settings;
    let (mut parts, _) = request.into_parts();
    let upgrade = match Upgrade::extract(&mut parts, settings.deflate).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection,
    };
    let headers = &parts.headers;
    if let (Some(allowed), Some(origin)) = (&settings.allowed_origin, headers.get(header::ORIGIN))
        && origin.to_str().ok() != Some(allowed.trim_end_matches('/'))
    {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    let slot = match header_slot(&gateway, token.as_deref()) {
        Ok(slot) => slot,
        Err(refusal) => return too_many_connections(refusal),
    };
    let hub = Arc::clone(&gateway.hub);
    let connections = Arc::clone(&gateway.connections);
    let shutdown = gateway.shutdown.clone();
    upgrade.accept(settings, move |sides| {
        connection::serve(hub, connections, sides, token, slot, shutdown)
    })
}

/// The WebSocket implementation a `/ws` upgrade goes to: axum's, or with
/// `--ws-deflate` the one that speaks permessage-deflate (`deflate.rs`).
enum Upgrade {
    Plain(WebSocketUpgrade),
    Deflate(yawc::IncomingUpgrade),
}

impl Upgrade {
    async fn extract(parts: &mut Parts, deflate: bool) -> Result<Self, Response> {
        if deflate {
            let upgrade = yawc::IncomingUpgrade::from_request_parts(parts, &()).await;
            upgrade
                .map(Self::Deflate)
                .map_err(IntoResponse::into_response)
        } else {
            let upgrade = WebSocketUpgrade::from_request_parts(parts, &()).await;
            upgrade
                .map(Self::Plain)
                .map_err(IntoResponse::into_response)
        }
    }

    /// Answers the upgrade; `serve` gets the connection once upgraded.
    fn accept<Serve, Served>(self, settings: &GatewaySettings, serve: Serve) -> Response
    where
        Serve: FnOnce((Sink, Incoming)) -> Served + Send + 'static,
        Served: Future<Output = ()> + Send + 'static,
    {
        let upgrade = match self {
            Self::Plain(upgrade) => upgrade,
            Self::Deflate(upgrade) => return deflate::accept(upgrade, settings, serve),
        };
        upgrade
            .max_message_size(settings.max_frame_bytes)
            .max_frame_size(settings.max_frame_bytes)
            // Allocated up front for every connection, and clients send only
            // small frames: 512 B reads keep an idle connection cheap (a longer
            // frame just takes several reads).
            .read_buffer_size(512)
            // Frames queued for one connection go out in one `send` (the
            // session flushes after draining its queue): under fan-out load a
            // send per frame was most of the server's CPU. 4 KiB bounds what a
            // connection buffers before writing; 16 KiB measured no better.
            .write_buffer_size(4096)
            .on_upgrade(move |socket| {
                let (sink, stream) = socket.split();
                serve((Box::pin(sink), Box::pin(stream)))
            })
    }
}

/// With a valid token in the upgrade's header, the user's connection slot,
/// taken before upgrading so that a user at the cap gets a plain 429. An
/// invalid token is refused after the upgrade, with a close code, as one
/// sent in an `auth` frame is. A user at the cap gets the refusal's detail.
fn header_slot(gateway: &Gateway, token: Option<&str>) -> Result<Option<ConnectionSlot>, String> {
    let Some(Ok(claims)) = token.map(|token| gateway.hub.state.keys.verify(token)) else {
        return Ok(None);
    };
    match gateway.connections.acquire(&claims.sub) {
        Some(slot) => Ok(Some(slot)),
        None => Err(gateway.connections.refusal()),
    }
}

/// The upgrade's one problem+json answer. The gateway speaks HTTP only
/// here, so it renders this problem itself instead of depending on `api`.
fn too_many_connections(detail: String) -> Response {
    let problem = serde_json::json!({
        "type": format!("/problems/{TOO_MANY_CONNECTIONS}"),
        "title": "Too Many Requests",
        "status": StatusCode::TOO_MANY_REQUESTS.as_u16(),
        "code": TOO_MANY_CONNECTIONS,
        "detail": detail,
    });
    let content_type = [(header::CONTENT_TYPE, "application/problem+json")];
    (
        StatusCode::TOO_MANY_REQUESTS,
        content_type,
        problem.to_string(),
    )
        .into_response()
}

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
