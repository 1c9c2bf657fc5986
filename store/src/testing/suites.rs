//! Suites that need something from outside Rust set themselves up where they
//! can, and say where it is seen when they cannot.
//!
//! The PostgreSQL tests need a server, the Socket.IO tests the pinned
//! socket.io-client, the console's browser test playwright-core and Debian's
//! chromium. Without them such a test returns early and passes, and a notice
//! it printed would be lost: libtest captures what a passing test prints with
//! `println!` and `eprintln!`, so `cargo test --workspace` would report every
//! test passed and a newcomer would believe these suites ran. Hence:
//!
//! - [`npm_client`] installs a Node.js test client from its lockfile
//!   (`npm ci`) when node and npm are on PATH and the client is missing: once,
//!   also when several test processes ask at the same time.
//! - A test that still cannot run calls [`skip`]. When the suite's
//!   `BOMIZZEL_REQUIRE_*` variable is `1` (CI sets them all) that is a
//!   failure. Otherwise it writes one line per suite and test binary straight
//!   to the process's stderr (libtest redirects only the print macros, not
//!   writes to [`std::io::stderr`]), and records the skip for this run next to
//!   the test binaries.
//! - `store/tests/zz_skipped_suites.rs`, the last test binary that
//!   `cargo test --workspace` runs (cargo runs them sorted by package name,
//!   then target name, and `bomizzel-store` sorts last), calls
//!   [`print_summary`]: one line per skipped suite with the one command that
//!   enables it. Only the doc-tests, which run none, come after it.
//!
//! A run is told apart from earlier ones by the id and start time of the
//! process that started the test binaries (cargo), so records from an
//! interrupted run are never reported by a later one.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A suite that can be skipped: what the summary calls it and the variable
/// that makes a skip a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    /// "PostgreSQL", "Socket.IO", "browser".
    pub name: &'static str,
    /// `1` makes a skip a failure (CI).
    pub require_variable: &'static str,
}

/// Why a suite cannot run here, and the one command that enables it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub reason: String,
    pub command: String,
}

impl Skip {
    pub fn new(reason: impl Into<String>, command: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            command: command.into(),
        }
    }
}

/// Says that `test` of `suite` did not run and why: a failure when the
/// suite's require variable is `1`, otherwise one line on stderr per suite
/// and test binary, and a record for the end-of-run summary.
pub fn skip(suite: &Suite, test: &str, why: &Skip) {
    let Skip { reason, command } = why;
    assert!(
        std::env::var(suite.require_variable).as_deref() != Ok("1"),
        "{}=1 but the {} tests cannot run: {reason}; to run them: {command}",
        suite.require_variable,
        suite.name,
    );
    let binary = binary_name();
    static SAID: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let first = SAID
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(suite.name);
    if first {
        // Not `eprintln!`: libtest would capture it.
        let _ = writeln!(
            std::io::stderr(),
            "skipped the {} tests of {binary}: {reason}; to run them: {command}",
            suite.name
        );
    }
    let record = [suite.name, &binary, test, reason, command]
        .map(|field| field.replace(['\t', '\n', '\r'], " "))
        .join("\t");
    let directory = setup_directory();
    let written = fs::create_dir_all(&directory).and_then(|()| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(directory.join(format!("skipped-{}.tsv", run_id())))?
            // One write of one line: appends from parallel processes do not mix.
            .write_all(format!("{record}\n").as_bytes())
    });
    if let Err(e) = written {
        let _ = writeln!(std::io::stderr(), "cannot record the skip of {test}: {e}");
    }
}

/// Prints one line per suite skipped in this run, then forgets the run.
pub fn print_summary() {
    let directory = setup_directory();
    let records = directory.join(format!("skipped-{}.tsv", run_id()));
    let text = fs::read_to_string(&records).unwrap_or_default();
    let _ = fs::remove_file(&records);
    remove_stale_records(&directory);

    let mut skipped: Vec<Skipped> = Vec::new();
    for line in text.lines() {
        let [suite, binary, test, reason, command] = match line.split('\t').collect::<Vec<_>>()[..]
        {
            [a, b, c, d, e] => [a, b, c, d, e],
            _ => continue,
        };
        let index = match skipped.iter().position(|s| s.suite == suite) {
            Some(index) => index,
            None => {
                skipped.push(Skipped {
                    suite: suite.to_owned(),
                    tests: HashSet::new(),
                    binaries: Vec::new(),
                    why: Skip::new(reason, command),
                });
                skipped.len() - 1
            }
        };
        let entry = &mut skipped[index];
        entry.tests.insert(format!("{binary}::{test}"));
        if !entry.binaries.iter().any(|b| b == binary) {
            entry.binaries.push(binary.to_owned());
        }
    }
    if skipped.is_empty() {
        println!("no test skipped its suite in this run");
    }
    for Skipped {
        suite,
        tests,
        binaries,
        why: Skip { reason, command },
    } in skipped
    {
        let count = match tests.len() {
            1 => "1 test".to_owned(),
            n => format!("{n} tests"),
        };
        println!(
            "skipped the {suite} suite, {count} in {}: {reason}; to run it: {command}",
            binaries.join(", ")
        );
    }
}

/// One suite's skips in a run, in the order first seen; the first reason
/// and command stand for all.
struct Skipped {
    suite: String,
    tests: HashSet<String>,
    binaries: Vec<String>,
    why: Skip,
}

/// Makes sure node is on PATH and `package` of the Node.js client in
/// `folder` (relative to `workspace`, with its package-lock.json) is
/// installed. When it is not and npm is on PATH, runs
/// `npm ci --prefix <folder>` once: one test process at a time, the others
/// wait for it. `Err` says what is missing and the command that installs it.
pub fn npm_client(workspace: &Path, folder: &str, package: &str) -> Result<(), Skip> {
    // One outcome per client and process; the lock also makes this process's
    // tests wait for one install.
    static OUTCOMES: Mutex<Option<HashMap<PathBuf, Result<(), Skip>>>> = Mutex::new(None);
    let mut outcomes = OUTCOMES.lock().unwrap_or_else(PoisonError::into_inner);
    let outcomes = outcomes.get_or_insert_with(HashMap::new);
    let client = workspace.join(folder);
    if let Some(outcome) = outcomes.get(&client) {
        return outcome.clone();
    }
    let outcome = install_npm_client(workspace, folder, package);
    outcomes.insert(client, outcome.clone());
    outcome
}

fn install_npm_client(workspace: &Path, folder: &str, package: &str) -> Result<(), Skip> {
    let command = format!("npm ci --prefix {folder}");
    let on_path = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    let install_node = "install Node.js 20 with npm (the tests then install their client)";
    if !on_path("node") {
        return Err(Skip::new("node is not on PATH", install_node));
    }
    let installed = || {
        workspace
            .join(folder)
            .join("node_modules")
            .join(package)
            .is_dir()
    };
    if installed() {
        return Ok(());
    }
    if !on_path("npm") {
        return Err(Skip::new("npm is not on PATH", install_node));
    }
    let directory = setup_directory();
    fs::create_dir_all(&directory).map_err(|e| {
        Skip::new(
            format!("cannot create {}: {e}", directory.display()),
            &command,
        )
    })?;
    let lock = directory.join(format!("npm-ci-{}.lock", folder.replace(['/', '\\'], "-")));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if installed() {
            return Ok(());
        }
        match File::create_new(&lock) {
            Ok(_) => {
                let _unlock = RemoveOnDrop(&lock);
                return npm_ci(workspace, folder, &command);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                if age(&lock) > Some(Duration::from_secs(600)) {
                    // Left by a process that was killed while installing.
                    let _ = fs::remove_file(&lock);
                    continue;
                }
                if Instant::now() > deadline {
                    return Err(Skip::new(
                        format!(
                            "another test process has been installing it for 5 minutes ({})",
                            lock.display()
                        ),
                        command,
                    ));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => {
                return Err(Skip::new(
                    format!("cannot create {}: {e}", lock.display()),
                    command,
                ));
            }
        }
    }
}

fn npm_ci(workspace: &Path, folder: &str, command: &str) -> Result<(), Skip> {
    let _ = writeln!(
        std::io::stderr(),
        "installing the test client in {folder} from its lockfile: npm ci --prefix {folder}"
    );
    let output = Command::new("npm")
        .args(["ci", "--prefix", folder, "--no-audit", "--no-fund"])
        .current_dir(workspace)
        .output()
        .map_err(|e| Skip::new(format!("npm does not run: {e}"), command))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err(Skip::new(
        format!(
            "`npm ci` failed ({}): {}",
            output.status,
            last.unwrap_or("no output")
        ),
        command,
    ))
}

struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.0);
    }
}

fn age(path: &Path) -> Option<Duration> {
    let modified = fs::metadata(path).ok()?.modified().ok()?;
    SystemTime::now().duration_since(modified).ok()
}

/// Records of runs whose summary never ran (a failing test stops cargo).
fn remove_stale_records(directory: &Path) {
    let Ok(entries) = fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_record = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("skipped-"));
        if is_record && age(&path) > Some(Duration::from_secs(24 * 60 * 60)) {
            let _ = fs::remove_file(path);
        }
    }
}

/// `target/<profile>/test-setup`: test binaries run from
/// `target/<profile>/deps`.
fn setup_directory() -> PathBuf {
    let executable = std::env::current_exe().unwrap_or_default();
    let mut directory = executable.parent().unwrap_or(Path::new(".")).to_owned();
    if directory.file_name().is_some_and(|name| name == "deps") {
        directory.pop();
    }
    directory.join("test-setup")
}

/// The test binary's name without cargo's hash: `api`, `contract`.
fn binary_name() -> String {
    let executable = std::env::current_exe().unwrap_or_default();
    let stem = executable
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, _hash)) => name.to_owned(),
        None => stem,
    }
}

/// The process that runs the test binaries (cargo): its id and, where
/// `/proc` tells, its start time, so that a reused id is another run.
fn run_id() -> String {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let started = fs::read_to_string(format!("/proc/{parent}/stat"))
            .ok()
            .and_then(|stat| {
                // Field 22, counted after the parenthesised command name.
                let (_, fields) = stat.rsplit_once(')')?;
                fields.split_whitespace().nth(19).map(str::to_owned)
            });
        match started {
            Some(started) => format!("{parent}-{started}"),
            None => parent.to_string(),
        }
    }
    #[cfg(not(unix))]
    {
        "run".to_owned()
    }
}
