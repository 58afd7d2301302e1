//! `portradar record FILE`: a refresh every interval, each table appended to FILE, until
//! `--duration`, SIGINT or SIGTERM; what it did goes to stderr, and so do the faults it works
//! around (the namespace deleted under it, settings it can no longer read) when they change.

use super::enter_netns;
use super::snapshot::stop_on_signals;
use crate::cli::RecordArgs;
use anyhow::{Context, Result};
use portradar::record::{Opened, Recorded, Scope};
use portradar::refresh::effective_interval;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the wait between refreshes looks for a termination signal.
const POLL: Duration = Duration::from_millis(50);

pub fn run(args: &RecordArgs) -> Result<()> {
    enter_netns(&args.scope)?;
    let interval = Duration::from_millis(args.interval);
    let scope = Scope {
        netns: args.scope.netns().map(ToString::to_string),
        families: args.scope.families(),
        interval_ms: args.interval,
        filter: None,
    };
    let (mut recorded, opened) = Recorded::open(&args.file, scope)?;
    let file = args.file.display();
    match opened {
        Opened::Created => note!("portradar: recording to {file}"),
        Opened::Continued { tables, cut: 0 } => {
            note!("portradar: continuing {file} after its {tables} tables")
        }
        Opened::Continued { tables, cut } => note!(
            "portradar: continuing {file} after its {tables} tables; dropped {cut} bytes of a torn last frame"
        ),
    }
    let stop = stop_on_signals().context("installing signal handlers")?;
    let end = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    // How many warnings the last refresh had: they are told when that changes, not every refresh.
    let mut warned = 0;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let (snapshot, failed) = recorded
            .refresh_recorded()
            .context("reading the socket table")?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        let warnings = &snapshot.meta.warnings;
        if warnings.len() != warned {
            for w in warnings {
                note!("portradar: {w}");
            }
            warned = warnings.len();
        }
        let next = started + effective_interval(interval, started.elapsed());
        if end.is_some_and(|end| next > end) {
            break;
        }
        while !stop.load(Ordering::Relaxed) && Instant::now() < next {
            std::thread::sleep(POLL.min(next.saturating_duration_since(Instant::now())));
        }
    }
    if let Some((frames, bytes)) = recorded.written() {
        note!("portradar: recorded {frames} tables, {bytes} bytes, to {file}");
    }
    Ok(())
}
