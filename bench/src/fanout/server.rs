//! The server under test: the real `bomizzel` binary as a child process,
//! its memory from `/proc`, and its HTTP API called as an admin.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use bomizzel_identity::auth::{Expected, claims_for};
use bomizzel_identity::{Role, TokenKeys};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The JWT secret the server (and the Node peer) is started with, so that
/// tokens can be minted here.
pub(super) const SECRET: &str = "bomizzel-bench-fanout-secret-of-32-bytes-or-more";
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of the server's log kept to explain a failure.
const LOG_TAIL: usize = 20;
/// How long minted tokens live: longer than any run.
const TOKEN_TTL: time::Duration = time::Duration::hours(2);

/// Frames queued per connection before the server drops it as too slow.
pub const SEND_QUEUE: u32 = 4096;
pub const COMPANY: &str = "fanout-company";
pub const TEAM: &str = "fanout-team";
pub const QUEUE: &str = "fanout-queue";
pub const AGENT: &str = "fanout-agent";
const ADMIN: &str = "fanout-admin";

/// The server settings a run chooses.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub send_queue: u32,
    pub socket_send_buffer: Option<usize>,
    /// `--ws-deflate`.
    pub deflate: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            send_queue: SEND_QUEUE,
            socket_send_buffer: None,
            deflate: false,
        }
    }
}

/// A running `bomizzel serve`; killed when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base_url: String,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    /// How it was started, for [`Server::restart`]; none for the floor.
    launch: Option<Launch>,
}

#[derive(Debug, Clone)]
pub(super) struct Launch {
    binary: PathBuf,
    data_dir: PathBuf,
    database_url: Option<String>,
    settings: Settings,
}

impl Server {
    /// Runs `binary serve` on 127.0.0.1 with rate limits out of the way and
    /// waits until it logs where it listens. `database_url` is PostgreSQL's;
    /// without it the server keeps SQLite in `data_dir`.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        settings: Settings,
    ) -> Result<Self> {
        let launch = Launch {
            binary: binary.to_owned(),
            data_dir: data_dir.to_owned(),
            database_url: database_url.map(str::to_owned),
            settings,
        };
        Self::launch(launch, "127.0.0.1:0").await
    }

    /// Stops the server with SIGTERM, as a deploy does, and starts it again
    /// on the same address and data.
    pub async fn restart(&mut self) -> Result<()> {
        let launch = self
            .launch
            .clone()
            .context("only the project's server restarts")?;
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()?;
        ensure!(status.success(), "cannot signal the server");
        let exit = self.child.wait()?;
        ensure!(
            exit.success(),
            "the server exited with {exit}:\n{}",
            self.log()
        );
        let address = self.base_url.trim_start_matches("http://").to_owned();
        *self = Self::launch(launch, &address).await?;
        Ok(())
    }

    async fn launch(launch: Launch, listen: &str) -> Result<Self> {
        let Launch {
            binary,
            data_dir,
            database_url,
            settings,
        } = &launch;
        let mut command = Command::new(binary);
        command
            .args(["serve", "--listen", listen])
            .args(["--rate-limit-per-second", "1000000"])
            .args(["--rate-limit-burst", "1000000"])
            .args(["--ws-send-queue", &settings.send_queue.to_string()])
            // Every load connection signs in as the one agent.
            .args(["--ws-max-connections-per-user", "1000000"])
            .arg("--data-dir")
            .arg(data_dir)
            .current_dir(data_dir)
            .env_clear()
            .env("BOMIZZEL_JWT_SECRET", SECRET)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.env("BOMIZZEL_DATABASE_URL", url);
        }
        if let Some(bytes) = settings.socket_send_buffer {
            command.args(["--socket-send-buffer", &bytes.to_string()]);
        }
        if settings.deflate {
            command.arg("--ws-deflate");
        }
        Self::spawn(command, Some(launch), None).await
    }

    /// The bare broadcaster of `floor.rs` (this executable's
    /// `floor-server`), and its stdin, which takes the change frames.
    pub async fn start_floor() -> Result<(Self, ChildStdin)> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("floor-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut server = Self::spawn(command, None, None).await?;
        let stdin = server.child.stdin.take().context("a piped stdin")?;
        Ok((server, stdin))
    }

    /// Starts `command` and waits until it logs where it listens, on its
    /// stderr: `listening on <url>`, or on `known_url` when the line names
    /// none.
    pub(super) async fn spawn(
        mut command: Command,
        launch: Option<Launch>,
        known_url: Option<String>,
    ) -> Result<Self> {
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.get_program()))?;
        let stderr = child
            .stderr
            .take()
            .context("the server's stderr is piped")?;
        let log_tail = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let (found, address) = oneshot::channel();
        let tail = Arc::clone(&log_tail);
        // Reads the log to its end: a full pipe would stall the server.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1)
                    && let Some(found) = found.take()
                {
                    let url = url.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(url.trim_matches('"').to_owned());
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let mut server = Self {
            child,
            base_url: String::new(),
            log_tail,
            launch,
        };
        match tokio::time::timeout(STARTUP_DEADLINE, address).await {
            Ok(Ok(url)) => server.base_url = known_url.unwrap_or(url),
            Ok(Err(_)) => bail!("the server exited at startup:\n{}", server.log()),
            Err(_) => bail!(
                "the server did not say where it listens within {STARTUP_DEADLINE:?}:\n{}",
                server.log()
            ),
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server logged.
    pub fn log(&self) -> String {
        let tail = self.log_tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Fails, with the server's last words, if it is no longer running.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("the server exited ({status}):\n{}", self.log()),
        }
    }

    /// The server's resident and peak resident memory now.
    pub fn memory(&self) -> Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let kib = |name: &str| -> Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok(Memory {
            rss_kib: kib("VmRSS")?,
            peak_rss_kib: kib("VmHWM")?,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// The priority of a ticket's `round`-th change: high, low, high, …, so
/// that each one changes something.
pub fn alternating_priority(round: usize) -> &'static str {
    if round.is_multiple_of(2) {
        "high"
    } else {
        "low"
    }
}

/// Tokens for the server's secret.
pub fn token(user: &str, role: Role) -> Result<String> {
    TokenKeys::shared_secret(SECRET.as_bytes(), &Expected::default())
        .mint(&claims_for(user, role, None, TOKEN_TTL))
        .map_err(anyhow::Error::msg)
}

/// The HTTP API, called as an admin.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base_url: String,
    admin_token: String,
}

impl Api {
    pub fn new(base_url: &str) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()?,
            base_url: base_url.to_owned(),
            admin_token: token(ADMIN, Role::Admin)?,
        })
    }

    /// POSTs `body` and returns the answer, which must be a success.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status} {answer}");
        }
        Ok(answer)
    }

    /// A company, a team with one queue, an agent of that team, and
    /// `tickets` medium-priority tickets in the queue; returns the tickets' ids.
    pub async fn seed(&self, tickets: usize) -> Result<Vec<String>> {
        self.seed_directory().await?;
        let mut ids = Vec::with_capacity(tickets);
        for n in 0..tickets {
            ids.push(self.create_ticket(&format!("fan-out ticket {n}")).await?);
        }
        Ok(ids)
    }

    /// A company, a team with one queue and an agent of that team.
    pub async fn seed_directory(&self) -> Result<()> {
        self.post("/api/companies", json!({ "id": COMPANY, "name": COMPANY }))
            .await?;
        self.post("/api/teams", json!({ "id": TEAM, "name": TEAM }))
            .await?;
        self.post(
            "/api/queues",
            json!({ "id": QUEUE, "name": QUEUE, "team_id": TEAM }),
        )
        .await?;
        self.post(
            "/api/users",
            json!({ "id": AGENT, "name": AGENT, "role": Role::Agent, "team_ids": [TEAM] }),
        )
        .await?;
        Ok(())
    }

    /// Opens a medium-priority ticket titled `title` in the queue; returns
    /// its id. The Node peer takes the same request.
    pub async fn create_ticket(&self, title: &str) -> Result<String> {
        let ticket = self
            .post(
                "/api/tickets",
                json!({
                    "title": title,
                    "queue_id": QUEUE,
                    "company_id": COMPANY,
                    "priority": "medium",
                }),
            )
            .await?;
        let id = ticket["id"]
            .as_str()
            .context("a created ticket has an id")?;
        Ok(id.to_owned())
    }

    /// Sets a ticket's priority; returns the ticket's version after it.
    pub async fn change_priority(&self, ticket: &str, priority: &str) -> Result<u64> {
        let answer = self
            .post(
                &format!("/api/tickets/{ticket}/priority"),
                json!({ "priority": priority }),
            )
            .await?;
        answer["version"]
            .as_u64()
            .with_context(|| format!("no version in {answer}"))
    }
}
