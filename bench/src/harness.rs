//! What the `rebuild`, `lag` and `http` benchmarks share around a
//! measurement: one run per backend, each on a fresh database removed
//! whatever happens (Ctrl-C included); the machine's load before and after,
//! from `/proc/loadavg`, noted with every result because this machine is
//! shared and a result taken while other work ran must say so; the progress
//! bars; and the JSON report, which fails the command when a run did not
//! verify.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::backend::{Backend, BackendArgs, FreshDatabase};
use crate::report::{Machine, write_json};

/// Runs `run` once per chosen backend, each time with the URL of a
/// database created for it and removed afterwards (once `run` has finished
/// and dropped its connections).
pub async fn on_each_backend<T, F>(
    benchmark: &str,
    backends: &BackendArgs,
    run: impl FnMut(Backend, String) -> F,
) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>>,
{
    on_each_backend_keeping(benchmark, backends, None, run).await
}

/// [`on_each_backend`], or with `keep` on the data set kept under that name
/// (see [`FreshDatabase::kept`]), which is left in place afterwards.
pub async fn on_each_backend_keeping<T, F>(
    benchmark: &str,
    backends: &BackendArgs,
    keep: Option<&str>,
    mut run: impl FnMut(Backend, String) -> F,
) -> Result<Vec<T>>
where
    F: Future<Output = Result<T>>,
{
    let mut results = Vec::new();
    for backend in backends.backends() {
        let database = match keep {
            Some(name) => FreshDatabase::kept(backend, &backends.postgres_url, name).await?,
            None => FreshDatabase::create(backend, &backends.postgres_url).await?,
        };
        let outcome = tokio::select! {
            outcome = run(backend, database.url().to_owned()) => outcome,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        };
        let removed = database.remove().await;
        results.push(outcome.with_context(|| format!("{benchmark} on {backend}"))?);
        removed?;
    }
    Ok(results)
}

/// What a run found wrong, for [`Report::conclude`].
pub trait Verdict {
    fn backend(&self) -> Backend;
    /// Empty when everything verified.
    fn problems(&self) -> &[String];
}

/// Implements [`Verdict`] for a run result with `backend` and `problems`
/// fields, as every benchmark's has.
macro_rules! verdict_from_fields {
    ($run:ty) => {
        impl $crate::harness::Verdict for $run {
            fn backend(&self) -> $crate::backend::Backend {
                self.backend
            }

            fn problems(&self) -> &[String] {
                &self.problems
            }
        }
    };
}
pub(crate) use verdict_from_fields;

/// The JSON file a benchmark writes.
#[derive(Debug, Serialize)]
pub struct Report<C, R> {
    benchmark: &'static str,
    machine: Machine,
    config: C,
    runs: Vec<R>,
}

impl<C: Serialize, R: Serialize + Verdict> Report<C, R> {
    pub fn new(benchmark: &'static str, config: C, runs: Vec<R>) -> Self {
        Self {
            benchmark,
            machine: Machine::describe(),
            config,
            runs,
        }
    }

    /// Writes the report to `out`, then fails if any run did not verify.
    pub fn conclude(&self, out: &Path) -> Result<()> {
        write_json(out, self)?;
        println!("wrote {}", out.display());
        let failed: Vec<String> = self
            .runs
            .iter()
            .flat_map(|run| {
                run.problems()
                    .iter()
                    .map(move |problem| format!("{}: {problem}", run.backend()))
            })
            .collect();
        if !failed.is_empty() {
            bail!("verification failed: {}", failed.join("; "));
        }
        Ok(())
    }
}

/// A run's timeline: a warm-up, then the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub warmup_end: Instant,
    pub end: Instant,
}

impl Window {
    /// Starting now.
    pub fn new(warmup: Duration, measured: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            warmup_end: start + warmup,
            end: start + warmup + measured,
        }
    }

    /// Whether `instant` falls in the measured window.
    pub fn measures(&self, instant: Instant) -> bool {
        instant >= self.warmup_end && instant < self.end
    }

    /// The length of the measured window.
    pub fn measured(&self) -> Duration {
        self.end - self.warmup_end
    }
}

/// A bar counting `len` items.
pub fn count_bar(prefix: String, len: u64) -> ProgressBar {
    bar(
        len,
        prefix,
        "{prefix} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta}) {msg}",
    )
}

/// A bar over `total` time; set its position in milliseconds.
pub fn time_bar(prefix: String, total: Duration) -> ProgressBar {
    bar(
        total.as_millis() as u64,
        prefix,
        "{prefix} [{bar:30}] {elapsed:>3} {msg}",
    )
}

fn bar(len: u64, prefix: String, template: &str) -> ProgressBar {
    let progress = ProgressBar::new(len);
    progress.set_style(
        ProgressStyle::with_template(template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    progress.set_prefix(prefix);
    progress
}

/// `/proc/loadavg`: runnable-or-waiting tasks averaged over 1, 5 and 15
/// minutes, and the tasks runnable at that instant.
#[derive(Debug, Clone, Serialize)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
    pub runnable_now: u32,
}

impl LoadAverage {
    /// `None` when `/proc/loadavg` cannot be read (not Linux).
    pub fn now() -> Option<Self> {
        parse(&std::fs::read_to_string("/proc/loadavg").ok()?)
    }
}

/// Load before and after a measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Load {
    pub before: Option<LoadAverage>,
    pub after: Option<LoadAverage>,
}

impl Load {
    pub fn start() -> Self {
        Self {
            before: LoadAverage::now(),
            after: None,
        }
    }

    pub fn finish(self) -> Self {
        Self {
            after: LoadAverage::now(),
            ..self
        }
    }

    /// `"2.10 -> 2.85"`: the one-minute averages, for tables.
    pub fn brief(&self) -> String {
        let one = |l: &Option<LoadAverage>| {
            l.as_ref()
                .map_or("?".to_owned(), |l| format!("{:.2}", l.one))
        };
        format!("{} -> {}", one(&self.before), one(&self.after))
    }
}

fn parse(text: &str) -> Option<LoadAverage> {
    let mut fields = text.split_whitespace();
    let one = fields.next()?.parse().ok()?;
    let five = fields.next()?.parse().ok()?;
    let fifteen = fields.next()?.parse().ok()?;
    let runnable_now = fields.next()?.split_once('/')?.0.parse().ok()?;
    Some(LoadAverage {
        one,
        five,
        fifteen,
        runnable_now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_loadavg() {
        let load = parse("2.64 3.61 4.03 2/154 23721\n").unwrap();
        assert_eq!(load.one, 2.64);
        assert_eq!(load.fifteen, 4.03);
        assert_eq!(load.runnable_now, 2);
    }
}
