//! The web console at `/`: hand-written HTML, CSS and JavaScript modules
//! from `console/assets/`, embedded in the binary at compile time (no build
//! step, nothing read from disk at run time). The console is a client like
//! any other: it talks to the public HTTP API and `/ws` only.
//!
//! [`demo`] is the opt-in demo mode: a demo directory, a "sign in as" route
//! that mints short-lived tokens, and simulated activity.

pub mod demo;

use std::fmt::Write as _;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The console's pages: `/` and its files under `/console/`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// The console only loads its own files and talks to its own origin: a
/// strict policy keeps an injected script from loading or sending anything.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = etag(&file.metadata.sha256_hash());
    if request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let content_type = HeaderValue::from_str(file.metadata.mimetype())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::ETAG,
                HeaderValue::from_str(&etag).expect("hex is a valid header"),
            ),
            // Revalidate every time: a new binary's assets show at once.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.data,
    )
        .into_response()
}

fn etag(hash: &[u8]) -> String {
    let mut etag = String::with_capacity(hash.len() * 2 + 2);
    etag.push('"');
    for byte in hash {
        let _ = write!(etag, "{byte:02x}");
    }
    etag.push('"');
    etag
}
