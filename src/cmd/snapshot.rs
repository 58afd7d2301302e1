//! `portradar snapshot`: one refresh printed as a table, a summary or JSON; with `--watch MS`, one
//! every MS milliseconds from the refresh worker, each printed and flushed as it comes (JSON: one
//! object per line), until `--count` refreshes, SIGINT/SIGTERM or a closed pipe. A watch also
//! watches the kernel's port allocator (allocator events, unless `--no-events`): picks and failed
//! connect()s per destination, counted from the start; when events are unavailable, one line on
//! stderr says why and their fields stay null. With events, the watch's refresher keeps the socket
//! table from the sockets' state changes between full dumps (`refresh::maintain`): on a large table
//! only the first snapshot and a periodic resync pay for a dump.

use super::{enter_netns, parse_filter};
use crate::cli::{Format, SnapshotArgs};
use anyhow::{Context, Result, bail};
use portradar::attribution::{ProcessLookup, ProcessScope};
use portradar::filter::Filter;
use portradar::model::Snapshot;
use portradar::output::{self, json::Layout, json::SocketList};
use portradar::record::{Player, Recording, Truncation, when};
use portradar::refresh::Refresh;
use portradar::refresh::feed::lock;
use portradar::refresh::{Refresher, Start, Worker};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

/// How often a watch looks for a termination signal while it waits for the next refresh.
const POLL: Duration = Duration::from_millis(50);

/// Most time `--processes` spends reading /proc for one snapshot (a watch: per refresh).
const PROCESS_BUDGET: Duration = Duration::from_secs(5);

/// The process lookup `--processes` asks for: the sockets toward destinations, or with `--sockets`
/// every socket.
fn process_lookup(args: &SnapshotArgs) -> Option<ProcessLookup> {
    args.processes.then_some(ProcessLookup {
        scope: if args.sockets {
            ProcessScope::All
        } else {
            ProcessScope::TopDestinations(usize::MAX)
        },
        budget: PROCESS_BUDGET,
    })
}

/// Runs the command in the namespace already entered.
pub fn run(args: &SnapshotArgs) -> Result<()> {
    let filter = parse_filter(&args.filter)?;
    if let Some(path) = &args.from {
        let mut out = io::BufWriter::new(io::stdout().lock());
        return match from_recording(path, filter, args, &mut out) {
            Err(e) if is_broken_pipe(&e) => Ok(()),
            r => r,
        };
    }
    enter_netns(&args.scope)?;
    if args.all_netns {
        return super::all_netns::snapshot(args, filter, process_lookup(args));
    }
    let mut refresher = Refresher::new(
        args.scope.netns().map(ToString::to_string),
        args.scope.families(),
        filter,
    );
    refresher.set_process_lookup(process_lookup(args));
    let mut out = io::BufWriter::new(io::stdout().lock());
    let printed = match args.watch {
        None => once(refresher, args, &mut out),
        Some(ms) => watch(refresher, args, Duration::from_millis(ms), &mut out),
    };
    match printed {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        r => r,
    }
}

fn once(mut refresher: Refresher, args: &SnapshotArgs, out: &mut impl Write) -> Result<()> {
    let snap = refresher.refresh().context("reading the socket table")?;
    tell_fallback(&snap);
    let sockets = args.sockets.then(|| SocketList {
        records: refresher.records(),
        cgroups: Some(refresher.cgroups()),
        who: Some(refresher.attribution()),
    });
    print(&snap, sockets, args.format, Layout::Pretty, out)
}

fn watch(
    refresher: Refresher,
    args: &SnapshotArgs,
    every: Duration,
    out: &mut impl Write,
) -> Result<()> {
    let stop = stop_on_signals().context("installing signal handlers")?;
    // Attached before the first refresh, so the first snapshot printed means events are live.
    let (refresher, feed) = super::with_events(refresher, args.no_events, "event fields are null");
    let start = Start {
        interval: every,
        sockets: args.sockets,
    };
    let worker = Worker::spawn(refresher, start).context("starting the refresh thread")?;
    let mut printed = 0u64;
    let mut told = false;
    let mut told_stopped = false;
    while args.count.is_none_or(|n| printed < n) && !stop.load(Ordering::Relaxed) {
        let report = match worker.recv_timeout(POLL) {
            Ok(report) => report,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => bail!("the refresh thread stopped"),
        };
        let snap = report
            .outcome
            .map_err(anyhow::Error::msg)
            .context("reading the socket table")?;
        if let Some(feed) = feed.as_ref().filter(|_| !told_stopped)
            && let Some(reason) = lock(&feed.ledger()).stopped()
        {
            note!("portradar: {reason}; event counts stop here");
            told_stopped = true;
        }
        if !told {
            told = tell_fallback(&snap);
        }
        // Text formats start with a header line holding the time: a blank line sets them apart.
        if printed > 0 && args.format != Format::Json {
            out.write_all(b"\n")?;
        }
        let sockets = report.sockets.as_ref().map(|s| SocketList {
            records: &s.records,
            cgroups: Some(&s.cgroups),
            who: Some(&s.who),
        });
        print(&snap, sockets, args.format, Layout::Line, out)?;
        printed += 1;
    }
    Ok(())
}

/// `--from FILE`: the recording's table at `--at` (default: its end); with `--watch MS`, its state
/// every MS of recorded time from `--at` (default: its start) to its end, as fast as it prints.
fn from_recording(
    path: &Path,
    filter: Option<Filter>,
    args: &SnapshotArgs,
    out: &mut impl Write,
) -> Result<()> {
    let recording = Recording::open(path)?;
    if let Some(t) = recording.truncation {
        note!("{}", truncation_note(path, t));
    }
    let at = match &args.at {
        Some(text) => Some(when::parse(text, recording.start())?),
        None => None,
    };
    let end = recording.end();
    let mut player = Player::new(recording);
    player.set_filter(filter);
    let Some(ms) = args.watch else {
        let i = player.recording().index_at(at.unwrap_or(end));
        let snap = player.snapshot_at(i)?.clone();
        let sockets = args.sockets.then(|| SocketList::plain(player.records()));
        return print(&snap, sockets, args.format, Layout::Pretty, out);
    };
    let stop = stop_on_signals().context("installing signal handlers")?;
    let step = Duration::from_millis(ms);
    let mut t = at.unwrap_or(player.recording().start());
    let mut shown = None;
    let mut printed = 0u64;
    while args.count.is_none_or(|n| printed < n) && !stop.load(Ordering::Relaxed) {
        let i = player.recording().index_at(t.min(end));
        if shown != Some(i) {
            let snap = player.snapshot_at(i)?.clone();
            if printed > 0 && args.format != Format::Json {
                out.write_all(b"\n")?;
            }
            let sockets = args.sockets.then(|| SocketList::plain(player.records()));
            print(&snap, sockets, args.format, Layout::Line, out)?;
            printed += 1;
            shown = Some(i);
        }
        if t >= end {
            break;
        }
        t += step;
    }
    Ok(())
}

/// The one line that says a recording was read up to its last whole frame.
pub(super) fn truncation_note(path: &Path, t: Truncation) -> String {
    format!(
        "portradar: {}: the last {} bytes are not a whole frame (cut off while writing?); read up to byte {}",
        path.display(),
        t.ignored,
        t.valid_len
    )
}

/// Writes one snapshot in `format` and flushes it.
pub(super) fn print(
    snap: &Snapshot,
    sockets: Option<SocketList<'_>>,
    format: Format,
    layout: Layout,
    out: &mut impl Write,
) -> Result<()> {
    match format {
        Format::Table => out.write_all(output::table::render(snap).as_bytes()),
        Format::Summary => out.write_all(output::summary::render(snap).as_bytes()),
        Format::Json => output::json::write_with(snap, sockets, layout, out),
    }
    .and_then(|()| out.flush())
    .context("writing the snapshot")
}

/// Says on stderr why procfs is read instead of netlink, if it is; returns whether it did. (The
/// dashboard says it in its header instead: stderr is under its screen.)
pub(super) fn tell_fallback(snap: &Snapshot) -> bool {
    let Some(reason) = &snap.meta.fallback else {
        return false;
    };
    note!(
        "portradar: sock_diag netlink unavailable ({reason}); reading /proc/net/tcp and /proc/net/tcp6 instead"
    );
    true
}

/// A flag set by SIGINT or SIGTERM, so a watch ends after a whole snapshot; a second signal
/// terminates at once.
pub(super) fn stop_on_signals() -> io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag))?;
        signal_hook::flag::register(signal, Arc::clone(&flag))?;
    }
    Ok(flag)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
