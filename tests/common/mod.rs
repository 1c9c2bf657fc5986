//! Starts the real `bomizzel` binary for black-box tests and finds the port
//! it picked from its log.

#![allow(dead_code)] // Each test binary uses its own part of these helpers.

pub mod app;
pub mod checks;
pub mod fault_proxy;
pub mod sio;
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
    /// Replaced by [`Server::restart`], which other tasks may meet mid-way.
    child: Mutex<Child>,
    /// How it was started, to start it again.
    started: Started,
    /// Every line the server has logged so far, across restarts.
    log: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug, Clone)]
struct Started {
    workdir: std::path::PathBuf,
    env: Vec<(String, String)>,
    extra: Vec<String>,
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

    fn spawn(command: Command, workdir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
        let started = Started {
            workdir: workdir.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let (child, base_url) = started.spawn(command, "127.0.0.1:0", &log);
        Server {
            base_url,
            child: Mutex::new(child),
            started,
            log,
        }
    }

    /// Stops the server with SIGTERM, as a deploy does, and starts it
    /// again on the same address and data.
    pub fn restart(&self) {
        let mut child = self.child.lock().expect("child lock");
        signal(&child, "-TERM");
        assert!(child.wait().expect("server exits").success());
        let address = self.base_url.trim_start_matches("http://");
        let command = Command::new(env!("CARGO_BIN_EXE_bomizzel"));
        (*child, _) = self.started.spawn(command, address, &self.log);
    }

    /// Whether a line the server logged so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logged_count(text) > 0
    }

    /// The lines logged so far that contain `text`.
    pub fn lines_containing(&self, text: &str) -> Vec<String> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|line| line.contains(text))
            .cloned()
            .collect()
    }

    /// How many lines logged so far contain `text`.
    pub fn logged_count(&self, text: &str) -> usize {
        self.lines_containing(text).len()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Kills the process with SIGKILL, as a node lost with its machine.
    pub fn sigkill(&self) {
        signal(&self.child.lock().expect("child lock"), "-KILL");
    }

    /// Whether the process has exited.
    pub fn exited(&self) -> bool {
        let mut child = self.child.lock().expect("child lock");
        child.try_wait().expect("the server's status").is_some()
    }

    /// Waits for the process to exit on its own (a crash), at most `deadline`.
    pub fn wait_exit(&self, deadline: Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            let mut child = self.child.lock().expect("child lock");
            if let Some(status) = child.try_wait().expect("the server's status") {
                return status;
            }
            assert!(started.elapsed() < deadline, "the server did not exit");
            drop(child);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit on its own.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.stop()
    }

    /// Like [`Server::terminate`], keeping the handle (and whatever owns
    /// its working directory).
    pub fn stop(&self) -> std::process::ExitStatus {
        let mut child = self.child.lock().expect("child lock");
        signal(&child, "-TERM");
        child.wait().expect("server exits")
    }
}

fn signal(child: &Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
}

impl Started {
    /// Starts the server listening on `listen`; its child and base URL
    /// once it has said where it listens. Its log lines go to `log`.
    fn spawn(
        &self,
        mut command: Command,
        listen: &str,
        log: &Arc<Mutex<Vec<String>>>,
    ) -> (Child, String) {
        command
            .args(["serve", "--listen", listen])
            .args(&self.extra)
            .current_dir(&self.workdir)
            .env_remove("BOMIZZEL_DATABASE_URL")
            .env_remove("BOMIZZEL_DATA_DIR")
            .env_remove("BOMIZZEL_JWT_SECRET")
            .env_remove("FRONTEND_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("bomizzel starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (found, address) = mpsc::channel();
        let lines = Arc::clone(log);
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
        (child, base_url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
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
