//! Starts the real `bomizzel` binary for black-box tests and finds the port
//! it picked from its log.

#![allow(dead_code)] // Each test binary uses its own part of these helpers.

pub mod app;
pub mod ws;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// A running server process; killed when dropped.
#[derive(Debug)]
pub struct Server {
    pub base_url: String,
    child: Child,
    /// Every line the server has logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Runs `bomizzel serve --listen 127.0.0.1:0` in `workdir` with the given
    /// extra environment, and waits until it says where it listens.
    pub fn start(workdir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_with(workdir, env, &[])
    }

    /// Like [`Server::start`], with extra arguments to `serve`.
    pub fn start_with(workdir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
        Self::spawn(
            Command::new(env!("CARGO_BIN_EXE_bomizzel")),
            workdir,
            env,
            extra,
        )
    }

    /// Like [`Server::start_with`], with at most `limit` open files (sockets
    /// included) for the server process.
    pub fn start_with_open_files(
        workdir: &Path,
        env: &[(&str, &str)],
        extra: &[&str],
        limit: u32,
    ) -> Server {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!(r#"ulimit -n {limit} && exec "$0" "$@""#),
            env!("CARGO_BIN_EXE_bomizzel"),
        ]);
        Self::spawn(shell, workdir, env, extra)
    }

    fn spawn(mut command: Command, workdir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(workdir)
            .env_remove("BOMIZZEL_DATABASE_URL")
            .env_remove("BOMIZZEL_DATA_DIR")
            .env_remove("BOMIZZEL_JWT_SECRET")
            .env_remove("FRONTEND_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("bomizzel starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (found, address) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let url = url.split_whitespace().next().unwrap_or_default();
                    let _ = found.send(url.trim_matches('"').to_owned());
                }
                lines.lock().expect("log lock").push(line);
            }
        });
        let base_url = address
            .recv_timeout(STARTUP_DEADLINE)
            .expect("the server logs its address");
        Server {
            base_url,
            child,
            log,
        }
    }

    /// Whether a line the server logged so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .any(|line| line.contains(text))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends SIGTERM and waits for the process to exit on its own.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        self.child.wait().expect("server exits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs each scenario on SQLite and, when configured, PostgreSQL (the
/// test file imports `Backend` and `fresh_postgres_database`).
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(url) = super::fresh_postgres_database(stringify!($name)).await {
                        super::$name(super::Backend::Postgres(url)).await;
                    }
                }
            )*
        }
    };
}
