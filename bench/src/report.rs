//! What every benchmark reports with: latency histograms (HdrHistogram,
//! microsecond resolution, 3 significant digits) and their percentiles, CPU
//! use sampled from `/proc` over the measured window (this process and its
//! threads, the database's processes, the rest of the machine), a
//! description of the machine, a plain-text table for the terminal and the JSON file written to
//! `--out`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Latencies in microseconds, from 1 µs to one hour.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(
            Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("1 µs to 1 h with 3 significant digits are valid bounds"),
        )
    }
}

impl Latency {
    pub fn record(&mut self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        self.0
            .add(&other.0)
            .expect("histograms with the same bounds always add");
    }

    pub fn summary(&self) -> LatencySummary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let h = &self.0;
        LatencySummary {
            samples: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Percentiles of a [`Latency`], in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The machine a report was made on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process (like `nproc`).
    pub nproc: usize,
    pub cpu_model: Option<String>,
    pub memory_gib: Option<f64>,
    pub os: &'static str,
    pub arch: &'static str,
    pub kernel: Option<String>,
    /// When the report was made (UTC, RFC 3339).
    pub date: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").map(str::to_owned),
            memory_gib: field(&meminfo, "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kib| (kib / (1024.0 * 1024.0) * 10.0).round() / 10.0),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_owned()),
            date: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// CPU time spent between [`CpuSampler::start`] and [`CpuSampler::finish`],
/// in cores (1.0 = one CPU busy the whole time). Linux only.
#[derive(Debug, Clone, Serialize)]
pub struct CpuUsage {
    /// This process: the benchmark client and, for SQLite, the database too.
    pub bench_process_cores: f64,
    /// The busiest threads of this process (name as the kernel keeps it,
    /// 15 characters at most), busiest first: a thread near 1.0 is a serial
    /// bottleneck.
    pub bench_threads: Vec<ThreadUsage>,
    /// The processes given to [`CpuSampler::start`]: the run's own
    /// PostgreSQL backends, not the server's shared background processes.
    pub database_cores: f64,
    /// Whole machine, busy (neither idle nor waiting for I/O).
    pub system_busy_cores: f64,
    /// Whole machine, idle while waiting for I/O.
    pub system_iowait_cores: f64,
    /// Busy with neither of the above: the PostgreSQL server's background
    /// processes, the kernel, and other work disturbing the benchmark.
    pub other_cores: f64,
    pub cpus: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadUsage {
    pub name: String,
    pub tid: u32,
    pub cores: f64,
}

/// Threads below this share of a core are left out of [`CpuUsage`].
const THREAD_THRESHOLD_CORES: f64 = 0.02;

#[derive(Debug, Clone)]
pub struct CpuSampler {
    watched: Vec<u32>,
    before: Option<Ticks>,
}

#[derive(Debug, Clone)]
struct Ticks {
    own: u64,
    threads: HashMap<u32, (String, u64)>,
    watched: u64,
    total: u64,
    idle: u64,
    iowait: u64,
    cpus: usize,
}

impl CpuSampler {
    /// Starts counting for this process, its threads and the `watched`
    /// processes.
    pub fn start(watched: Vec<u32>) -> Self {
        let before = Ticks::read(&watched);
        Self { watched, before }
    }

    /// `None` when `/proc` cannot be read. Clock-tick units cancel out:
    /// process ticks are divided by the machine's total ticks.
    pub fn finish(&self) -> Option<CpuUsage> {
        let before = self.before.as_ref()?;
        let after = Ticks::read(&self.watched)?;
        let total = after.total.checked_sub(before.total).filter(|t| *t > 0)? as f64;
        let cpus = after.cpus as f64;
        let cores = |ticks: u64| (ticks as f64 / total * cpus * 100.0).round() / 100.0;
        let idle = after.idle.saturating_sub(before.idle);
        let iowait = after.iowait.saturating_sub(before.iowait);
        let busy = (total as u64).saturating_sub(idle + iowait);
        let own = after.own.saturating_sub(before.own);
        // Processes that exited in between take their ticks with them.
        let watched = after.watched.saturating_sub(before.watched);
        let mut bench_threads: Vec<ThreadUsage> = after
            .threads
            .iter()
            .map(|(tid, (name, ticks))| {
                let earlier = before.threads.get(tid).map_or(0, |(_, t)| *t);
                ThreadUsage {
                    name: name.clone(),
                    tid: *tid,
                    cores: cores(ticks.saturating_sub(earlier)),
                }
            })
            .filter(|t| t.cores >= THREAD_THRESHOLD_CORES)
            .collect();
        bench_threads.sort_by(|a, b| b.cores.total_cmp(&a.cores));
        Some(CpuUsage {
            bench_process_cores: cores(own),
            bench_threads,
            database_cores: cores(watched),
            system_busy_cores: cores(busy),
            system_iowait_cores: cores(iowait),
            other_cores: cores(busy.saturating_sub(own + watched)),
            cpus: after.cpus,
        })
    }
}

impl Ticks {
    fn read(watched: &[u32]) -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest is inside user).
        let total = cpu.iter().take(8).sum();
        let cpus = stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count();
        let own = process_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?.1;
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            if let Ok(text) = std::fs::read_to_string(entry.path().join("stat"))
                && let Some((name, ticks)) = process_ticks(&text)
            {
                threads.insert(tid, (name.to_owned(), ticks));
            }
        }
        let watched = watched
            .iter()
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
            .filter_map(|text| process_ticks(&text).map(|(_, ticks)| ticks))
            .sum();
        Some(Self {
            own,
            threads,
            watched,
            total,
            idle: *cpu.get(3)?,
            iowait: *cpu.get(4)?,
            cpus,
        })
    }
}

/// A process's (or thread's) name and user + system ticks from its
/// `/proc/PID/stat`.
fn process_ticks(stat: &str) -> Option<(&str, u64)> {
    let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// A plain-text table: first column left-aligned, the others right-aligned.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                match i {
                    0 => write!(f, "{cell:<width$}")?,
                    _ => write!(f, "  {cell:>width$}")?,
                }
            }
            writeln!(f)
        };
        line(f, &self.header)?;
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, &rule)?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

/// Writes `value` as pretty JSON to `path`, creating its parent directories.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_out_in_milliseconds() {
        let mut latency = Latency::default();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        let mut other = Latency::default();
        other.record(Duration::from_secs(2));
        latency.merge(&other);
        let summary = latency.summary();
        assert_eq!(summary.samples, 101);
        assert!((summary.p50_ms - 51.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 2000.0).abs() < 2.0, "{summary:?}");
    }

    #[test]
    fn reads_process_ticks_even_with_odd_names() {
        let stat = "42 (post gres) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0 1 1 1";
        assert_eq!(process_ticks(stat), Some(("post gres", 10)));
    }

    #[test]
    fn aligns_table_columns() {
        let mut table = Table::new(&["backend", "events/s"]);
        table.row(vec!["sqlite".into(), "12345".into()]);
        assert_eq!(
            table.to_string(),
            "backend  events/s\n-------  --------\nsqlite      12345\n"
        );
    }
}
