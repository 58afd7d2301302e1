//! `portradar events [--format text|json] [--all-netns] [FILTER]`: streams allocator events (ports
//! the kernel picks, connect()s on bound ports, failed port searches) one line each, flushed as they
//! come, until SIGINT/SIGTERM or a closed pipe.
//!
//! By default only the events of the network namespace portradar runs in (the one `--netns` entered)
//! are shown; `--all-netns` shows every namespace. The filter's address and port conditions apply to
//! the event's ends; a `state` condition tests the state the socket entered when the event was seen
//! (ESTABLISHED for most picks, SYN_SENT for `bound`, CLOSE for `fail`), which is rarely useful.
//! Once attached, one line on stderr says so: a caller can start connecting after it.

use super::{enter_netns, parse_filter};
use crate::cli::{EventsArgs, EventsFormat};
use anyhow::{Context, Result};
use portradar::events::{
    BootClock, Event, EventSource, json_line, json_lost_line, text_line, text_lost_line,
};
use portradar::filter::Filter;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::time::SystemTime;

/// Which events to print.
struct Selection {
    /// Namespace inode, or every namespace.
    netns: Option<u32>,
    filter: Option<Filter>,
    v4: bool,
    v6: bool,
}

impl Selection {
    fn shows(&self, e: &Event) -> bool {
        self.netns.is_none_or(|ns| ns == e.netns)
            && if e.local.ip.is_ipv4() {
                self.v4
            } else {
                self.v6
            }
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&e.as_record()))
    }
}

/// Runs until a termination signal or a closed stdout. The namespace to show is the one the process
/// is in when called.
pub fn run(args: &EventsArgs) -> Result<()> {
    enter_netns(&args.scope)?;
    let filter = parse_filter(&args.filter)?;
    let families = args.scope.families();
    let here = std::fs::metadata("/proc/thread-self/ns/net")
        .context("reading this network namespace")?
        .ino();
    let selection = Selection {
        netns: (!args.all_netns).then_some(here as u32),
        filter,
        v4: families.v4,
        v6: families.v6,
    };
    let (stop_rx, stop_tx) = UnixStream::pair().context("creating the signal pipe")?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(signal, stop_tx.try_clone()?)
            .context("installing signal handlers")?;
    }
    let mut source = EventSource::attach()?;
    match selection.netns {
        Some(ns) => note!("portradar: events attached (netns {ns})"),
        None => note!("portradar: events attached (all network namespaces)"),
    }
    let mut stream = Stream {
        clock: BootClock::now(),
        selection,
        format: args.format,
        reported_lost: 0,
        out: io::BufWriter::new(io::stdout().lock()),
    };
    match stream.follow(&mut source, &stop_rx) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("streaming events"),
    }
}

struct Stream<W: Write> {
    clock: BootClock,
    selection: Selection,
    format: EventsFormat,
    reported_lost: u64,
    out: W,
}

impl<W: Write> Stream<W> {
    /// Waits for records or a stop signal; prints events and new losses after every batch.
    fn follow(&mut self, source: &mut EventSource, stop: &UnixStream) -> io::Result<()> {
        loop {
            let wake = source.wait(Some(stop.as_fd()), None)?;
            let mut failed = Ok(());
            source.read(|_, event| {
                if let Some(e) = event
                    && self.selection.shows(&e)
                    && failed.is_ok()
                {
                    failed = self.print(&e);
                }
            });
            failed?;
            let lost = source.lost().map_err(io::Error::other)?;
            if lost > self.reported_lost {
                let line = match self.format {
                    EventsFormat::Json => {
                        json_lost_line(lost - self.reported_lost, SystemTime::now())
                    }
                    EventsFormat::Text => {
                        text_lost_line(lost - self.reported_lost, SystemTime::now())
                    }
                };
                writeln!(self.out, "{line}")?;
                self.reported_lost = lost;
            }
            self.out.flush()?;
            if wake.other {
                return Ok(());
            }
        }
    }

    fn print(&mut self, e: &Event) -> io::Result<()> {
        let line = match self.format {
            EventsFormat::Json => json_line(e, &self.clock),
            EventsFormat::Text => text_line(e, &self.clock),
        };
        writeln!(self.out, "{line}")
    }
}
