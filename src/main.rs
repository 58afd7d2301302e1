//! The `portradar` binary: parses the command line, enters the network namespace asked for, and hands
//! over to the dashboard, `snapshot` or `probe`. Errors print as one line; usage errors exit with 2.

mod cli;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, Global, SnapshotArgs};
use portradar::filter::Filter;
use portradar::output;
use portradar::refresh::Refresher;
use std::io::Write;
use std::process::ExitCode;

/// A mistake in what the user asked for (exit status 2), as opposed to a failure while doing it (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portradar: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Probe(args)) => portradar::probe::run(&args).map_err(|e| {
            if e.is_usage() {
                UsageError(e.to_string()).into()
            } else {
                anyhow::Error::new(e)
            }
        }),
        Some(Command::Snapshot(args)) => {
            enter_netns(&cli.global)?;
            snapshot(&cli.global, &args)
        }
        None => {
            enter_netns(&cli.global)?;
            let filter = parse_filter(&cli.filter)?;
            dashboard(&cli.global, filter)
        }
    }
}

/// Enters `--netns NAME` before any other thread exists, so every later read sees that namespace.
fn enter_netns(global: &Global) -> Result<()> {
    match &global.netns {
        Some(name) => {
            portradar::collect::netns::enter(name).map_err(|e| UsageError(e.to_string()).into())
        }
        None => Ok(()),
    }
}

/// Parses trailing filter words; none means no filter.
fn parse_filter(words: &[String]) -> Result<Option<Filter>> {
    if words.is_empty() {
        return Ok(None);
    }
    Filter::parse(&words.join(" "))
        .map(Some)
        .map_err(|e| UsageError(e.to_string()).into())
}

fn snapshot(global: &Global, args: &SnapshotArgs) -> Result<()> {
    let filter = parse_filter(&args.filter)?;
    let mut refresher = Refresher::new(global.netns.clone());
    let snap = refresher
        .refresh(global.families(), filter.as_ref())
        .context("reading the socket table")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        cli::Format::Table => out.write_all(output::table::render(&snap).as_bytes()),
        cli::Format::Summary => out.write_all(output::summary::render(&snap).as_bytes()),
        cli::Format::Json => {
            let sockets = args.sockets.then(|| refresher.records());
            output::json::write(&snap, sockets, &mut out)
        }
    };
    match written.and_then(|_| out.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing the snapshot"),
    }
}

fn dashboard(global: &Global, filter: Option<Filter>) -> Result<()> {
    let no_color = global.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    portradar::ui::run(portradar::ui::Options {
        interval_ms: global.interval,
        families: global.families(),
        netns: global.netns.clone(),
        no_color,
        ascii: false,
        filter,
    })
}
