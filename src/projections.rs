//! `bomizzel projections status|rebuild`: operators' view of the projections.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use bomizzel_projections::{
    Projection, REBUILD_BATCH_SIZE, Runner, RunnerSettings, checkpoint, registry,
};
use bomizzel_store::EventStore;
use indicatif::{ProgressBar, ProgressStyle};

/// Prints each projection's position, the log's head, the lag and the state.
pub async fn status(store: &EventStore) -> anyhow::Result<()> {
    let head = store.head().await?;
    let stored = checkpoint::all(store.database()).await?;
    println!(
        "{:<16} {:>10} {:>10} {:>10}  {:<12} error",
        "projection", "position", "head", "lag", "state"
    );
    for name in registry::names() {
        let found = stored.iter().find(|c| c.name == name);
        let (position, state, error) = match found {
            Some(c) => (
                c.position,
                c.state.as_str(),
                c.error.clone().unwrap_or_default(),
            ),
            None => (0, "not_started", String::new()),
        };
        println!(
            "{name:<16} {position:>10} {head:>10} {:>10}  {state:<12} {error}",
            head - position
        );
    }
    Ok(())
}

/// Rebuilds `target` (a projection's name or `all`) from position 0.
///
/// Each read model is emptied and its state set to `rebuilding` in one
/// transaction; queries on it answer 503 until it has caught up again. Then
/// the log is read once, each batch of [`REBUILD_BATCH_SIZE`] events applied
/// to every chosen projection in one transaction. A running server's own
/// runners may take part: the conditional checkpoints keep each event
/// applied once.
pub async fn rebuild(store: &EventStore, target: &str) -> anyhow::Result<()> {
    let chosen: Vec<Arc<dyn Projection>> = if target == "all" {
        registry::all()
    } else {
        match registry::by_name(target) {
            Some(projection) => vec![projection],
            None => bail!(
                "unknown projection {target:?}: expected one of {} or all",
                registry::names().join(", ")
            ),
        }
    };
    for projection in &chosen {
        checkpoint::reset(store.database(), projection.as_ref())
            .await
            .with_context(|| format!("cannot reset projection {}", projection.name()))?;
    }
    let settings = RunnerSettings {
        batch_size: REBUILD_BATCH_SIZE,
        ..RunnerSettings::default()
    };
    let runner = Runner::together(store.clone(), chosen, settings);
    let name = runner.name().to_owned();
    let bar = ProgressBar::new(store.head().await?.max(0) as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(name.clone());
    let started = Instant::now();
    let position = runner
        .catch_up(|position, head| {
            bar.set_length(head.max(0) as u64);
            bar.set_position(position.max(0) as u64);
        })
        .await
        .with_context(|| format!("rebuild of {name} stopped"))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "rebuilt {name}: {position} events in {seconds:.2} s ({:.0} events/s)",
        position as f64 / seconds.max(1e-9)
    );
    Ok(())
}
