//! `portradar snapshot`: one refresh printed as a table, a summary or JSON; with `--watch MS`, one
//! every MS milliseconds from the refresh worker, each printed and flushed as it comes (JSON: one
//! object per line), until `--count` refreshes, SIGINT/SIGTERM or a closed pipe.

use super::{enter_netns, parse_filter};
use crate::cli::{Format, SnapshotArgs};
use anyhow::{Context, Result, bail};
use portradar::attribution::{ProcessLookup, ProcessScope};
use portradar::model::Snapshot;
use portradar::output::{self, json::Layout, json::SocketList};
use portradar::refresh::{Refresher, Start, Worker};
use std::io::{self, Write};
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
    enter_netns(&args.scope)?;
    let filter = parse_filter(&args.filter)?;
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
    let start = Start {
        interval: every,
        sockets: args.sockets,
    };
    let worker = Worker::spawn(refresher, start).context("starting the refresh thread")?;
    let mut printed = 0u64;
    let mut told = false;
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
        if !told {
            told = tell_fallback(&snap);
        }
        // Text formats start with a header line holding the time: a blank line sets them apart.
        if printed > 0 && args.format != Format::Json {
            out.write_all(b"\n")?;
        }
        let sockets = report.sockets.as_deref().map(SocketList::plain);
        print(&snap, sockets, args.format, Layout::Line, out)?;
        printed += 1;
    }
    Ok(())
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
    eprintln!(
        "portradar: sock_diag netlink unavailable ({reason}); reading /proc/net/tcp and /proc/net/tcp6 instead"
    );
    true
}

/// A flag set by SIGINT or SIGTERM, so a watch ends after a whole snapshot; a second signal
/// terminates at once.
fn stop_on_signals() -> io::Result<Arc<AtomicBool>> {
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
