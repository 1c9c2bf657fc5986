//! The Node peer (`fanout --peer-dir`): the Node.js Socket.IO 4 server this
//! help desk is measured against, driven by the same clients, commands and
//! accounting as the project, so that the figures compare the servers and
//! not two load tools.
//!
//! It is a yardstick, not a dependency: the product and its tests know
//! nothing of it, and `fanout` measures it only when given its directory
//! (`server.mjs` and its `package.json`). That directory may be read-only,
//! so it is copied into a temporary one and `npm ci` installs its modules
//! there. The peer speaks Socket.IO with a JWT in the handshake's `auth`,
//! joins a room on `subscribe` (acknowledged with `ok`), stores each
//! `POST /api/tickets` in PostgreSQL and then emits `ticket:created` to the
//! queue's room; with connection state recovery on, every event carries
//! its offset as a last argument ([`super::socketio_client`] skips it).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use tempfile::TempDir;

use super::server::{SECRET, Server};

/// The files of the peer's directory that it runs from.
const FILES: [&str; 3] = ["server.mjs", "package.json", "package-lock.json"];

/// A runnable copy of the peer, removed when dropped.
#[derive(Debug)]
pub struct Peer {
    copy: TempDir,
}

impl Peer {
    /// Copies the peer from `dir` and installs its modules (`npm ci`).
    pub fn prepare(dir: &Path) -> Result<Self> {
        let copy = tempfile::Builder::new()
            .prefix("bomizzel-fanout-peer-")
            .tempdir()?;
        for file in FILES {
            std::fs::copy(dir.join(file), copy.path().join(file))
                .with_context(|| format!("cannot copy {file} from {}", dir.display()))?;
        }
        let status = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(copy.path())
            .stdin(Stdio::null())
            .status()
            .context("cannot run npm (node 20 and npm are needed for the peer)")?;
        ensure!(status.success(), "npm ci failed for the peer: {status}");
        Ok(Self { copy })
    }

    /// Starts the peer on a free port of 127.0.0.1, storing tickets in the
    /// PostgreSQL database at `database_url`.
    pub async fn start(&self, database_url: &str) -> Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new("sh");
        // `peer listening on <port>` goes to stdout: into the log read for it.
        command
            .args(["-c", "exec node server.mjs 1>&2"])
            .current_dir(self.copy.path())
            .env("PORT", port.to_string())
            .env("JWT_SECRET", SECRET)
            .env("PG_URL", database_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Server::spawn(command, None, Some(format!("http://127.0.0.1:{port}"))).await
    }
}
