//! Listening on a PostgreSQL channel, and listening again after the
//! connection broke: shared by the relays of directory changes and of
//! presence.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

/// Pause before listening again after the connection broke.
const RELISTEN_BACKOFF: Duration = Duration::from_millis(500);

pub(crate) async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// A new listener on `channel`, retried until it listens; `None` on shutdown.
pub(crate) async fn listen_again(
    pool: &PgPool,
    channel: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<PgListener> {
    loop {
        let attempt = tokio::select! {
            attempt = listen(pool, channel) => attempt,
            _ = shutdown.wait_for(|stop| *stop) => return None,
        };
        match attempt {
            Ok(listener) => return Some(listener),
            Err(error) => {
                bomizzel_store::warn_unless_outage!(bomizzel_store::health::outage_of(&error), %error, channel, "cannot listen");
                tokio::select! {
                    () = tokio::time::sleep(RELISTEN_BACKOFF) => {}
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                }
            }
        }
    }
}
