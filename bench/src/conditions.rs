//! The machine's load around a measurement, from `/proc/loadavg`, noted
//! with every result of the `rebuild`, `lag` and `http` benchmarks: this
//! machine is shared, and a result taken while other work ran says so.

use serde::Serialize;

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
        let one = |l: &Option<LoadAverage>| l.as_ref().map_or("?".to_owned(), |l| format!("{:.2}", l.one));
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
