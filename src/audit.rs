//! `bomizzel audit verify|head|export`: an auditor's tools on the log's hash
//! chains (docs/audit.md).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, bail};
use bomizzel_store::EventStore;
use bomizzel_store::audit::verify::{Anchor, verify as walk};
use bomizzel_store::chain::to_hex;
use indicatif::{ProgressBar, ProgressStyle};

/// Events per read of an export.
const EXPORT_PAGE: i64 = 10_000;

/// Walks the log from `from` with a progress bar; an error (non-zero exit)
/// names the first position that fails and why.
pub async fn verify(store: &EventStore, from: i64, anchor: Option<Anchor>) -> anyhow::Result<()> {
    if let Some(anchor) = anchor.filter(|a| a.position < from) {
        bail!(
            "the anchor at {} is before --from {from}: the walk must pass it",
            anchor.position
        );
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("verify [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let outcome = walk(store, from, anchor, |checked, total| {
        bar.set_length(total);
        bar.set_position(checked);
    })
    .await
    .context("cannot walk the log")?;
    bar.finish_and_clear();
    let intact = match outcome {
        Ok(intact) => intact,
        Err(broken) => bail!("the log is not intact: {broken}"),
    };
    let seconds = started.elapsed().as_secs_f64();
    let head = intact
        .head
        .map(|(position, hash)| format!("{position}:{}", to_hex(&hash)))
        .unwrap_or_else(|| "empty".to_owned());
    let anchored = anchor.map_or(String::new(), |a| {
        format!(", anchor at {} matches", a.position)
    });
    println!(
        "intact: {} events from position {from} in {seconds:.2} s ({:.0} events/s){anchored}; head {head}",
        intact.checked,
        intact.checked as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Prints the newest `POSITION:HASH`, the anchor an auditor keeps.
pub async fn head(store: &EventStore) -> anyhow::Result<()> {
    match store.chain_head().await? {
        None => bail!("the log is empty: there is no head to keep"),
        Some((_, None)) => bail!("the newest event has no hash: run `bomizzel migrate`"),
        Some((position, Some(hash))) => println!("{position}:{}", to_hex(&hash)),
    }
    Ok(())
}

/// Writes the events at positions `from..=to` as JSON lines on stdout.
pub async fn export(store: &EventStore, from: i64, to: Option<i64>) -> anyhow::Result<()> {
    let head = store.head().await?;
    let to = to.unwrap_or(head).min(head);
    if from < 1 || from > to {
        bail!("nothing to export from {from} to {to} (the log's head is {head})");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut next = from;
    while next <= to {
        let page = store
            .audit_range(next, (next + EXPORT_PAGE - 1).min(to))
            .await?;
        let Some(last) = page.last().map(|event| event.position) else {
            break;
        };
        for line in store.export_lines(&page).await? {
            writeln!(out, "{line}")?;
        }
        next = last + 1;
    }
    out.flush()?;
    Ok(())
}
