//! The commands: the dashboard (no subcommand), `snapshot`, `probe`, `events`, `export`, `record`,
//! `replay`, `completions` and `man`, each run from its parsed arguments, and what they share:
//! entering `--netns`, parsing the filter words, writing to stdout and notes to stderr. Errors go
//! up as they are; `exit` tells usage errors from failures.

/// Writes one line to stderr. A closed stderr (`2>&1 | head`, a reader that went away) must not
/// stop a long-running command, so a failed write is dropped where `eprintln!` would panic.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod all_netns;
mod completions;
mod dashboard;
mod events;
mod export;
mod man;
mod record;
mod replay;
mod snapshot;

use crate::cli::{Cli, Command, SocketScope};
use anyhow::{Context, Result};
use portradar::filter::Filter;
use portradar::refresh::{EventFeed, Refresher};
use std::io::{self, Write};

/// Runs the command the command line asks for.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => dashboard::run(&cli.dashboard),
        Some(Command::Snapshot(args)) => snapshot::run(&args),
        Some(Command::Probe(args)) => Ok(portradar::probe::run(&args)?),
        Some(Command::Completions(args)) => completions::run(args.shell),
        Some(Command::Man) => man::run(),
        Some(Command::Events(args)) => events::run(&args),
        Some(Command::Export(args)) => export::run(&args),
        Some(Command::Record(args)) => record::run(&args),
        Some(Command::Replay(args)) => replay::run(&args),
    }
}

/// Enters `--netns` before any other thread exists, so every later read, and every thread started
/// later, is in that namespace.
fn enter_netns(scope: &SocketScope) -> Result<()> {
    match scope.netns() {
        Some(spec) => Ok(portradar::collect::netns::enter(spec)?),
        None => Ok(()),
    }
}

/// Parses the filter words; none means no filter.
fn parse_filter(words: &[String]) -> Result<Option<Filter>> {
    if words.is_empty() {
        return Ok(None);
    }
    Ok(Some(Filter::parse(&words.join(" "))?))
}

/// Writes `what` to stdout through a buffer. A closed pipe (`| head`) is the reader's choice, not
/// an error.
fn write_stdout(what: &str, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result.with_context(|| format!("writing {what}")),
    }
}

/// Attaches allocator events to `refresher` before its first refresh, unless `no_events`. When
/// they are unavailable, one note says why and what goes without (`without`). The feed returned
/// must outlive the refreshes.
fn with_events(
    refresher: Refresher,
    no_events: bool,
    without: &str,
) -> (Refresher, Option<EventFeed>) {
    if no_events {
        return (refresher, None);
    }
    match EventFeed::start() {
        Ok(feed) => (refresher.with_events(feed.ledger()), Some(feed)),
        Err(e) => {
            note!("portradar: {e}; {without}");
            (refresher, None)
        }
    }
}
