//! The live dashboard (`portradar` with no subcommand): the port range as a radar dial, the
//! destinations eating ports, local ports reused across 4-tuples and TIME_WAIT draining.
//!
//! Two threads: the refresh worker ([`crate::refresh::worker`]) dumps and aggregates every interval
//! and hands immutable snapshots over; the UI thread polls keys with a short timeout, takes
//! snapshots as they come and redraws only after a key, a resize or a new snapshot. This module only
//! draws and handles keys. [`App`] holds the state and
//! [`draw`] renders it; both are pure, so tests drive them with ratatui's `TestBackend`.

mod all_netns;
mod app;
mod ascii;
mod cursor;
mod dial;
mod format;
mod help;
mod keys;
mod layout;
mod outlook;
mod pack;
mod panels;
mod prompt;
mod recent;
mod render;
mod signals;
mod sort;
mod terminal;
mod theme;
mod too_small;

pub use app::{App, Config, Reaction};
pub use dial::{Dial, Needle};
pub use keys::{KEYS, KeyHelp};
pub use layout::{MIN_HEIGHT, MIN_WIDTH};
pub use render::draw;
pub use theme::Theme;

use crate::collect::Families;
use crate::filter::Filter;
use crate::refresh::{Refresher, Start, Worker};
use crossterm::event::{self, Event};
use std::io::IsTerminal;
use std::sync::mpsc::TryRecvError;
use std::time::Duration;

/// How the dashboard was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub interval_ms: u64,
    pub families: Families,
    pub netns: Option<String>,
    pub no_color: bool,
    /// Draw in plain characters, for terminals without braille or box drawing (`--ascii`, or
    /// TERM=dumb / TERM=linux).
    pub ascii: bool,
    pub filter: Option<Filter>,
    /// Every network namespace of the host (`--all-netns`): the namespaces view first.
    pub all_netns: bool,
}

/// Why the dashboard could not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error(
        "the dashboard needs a terminal, and stdout is not one; \
         use `portradar snapshot` (--format table|json|summary) for output to a file or a pipe"
    )]
    NotATerminal,
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error("the refresh thread stopped")]
    WorkerStopped,
}

/// How long the UI waits for a key before it looks for a new snapshot.
const POLL: Duration = Duration::from_millis(50);

/// Runs the dashboard until the user quits or a termination signal arrives.
pub fn run(options: Options) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        return Err(UiError::NotATerminal.into());
    }
    let stop = signals::Stop::register().map_err(UiError::from)?;
    if options.all_netns {
        return all_netns::run(&options, &stop);
    }
    let interval = Duration::from_millis(options.interval_ms);
    let mut refresher = Refresher::new(options.netns, options.families, options.filter.clone());
    refresher.set_process_lookup(Some(crate::attribution::ProcessLookup::DASHBOARD));
    let start = Start {
        interval,
        sockets: false,
    };
    let worker = Worker::spawn(refresher, start).map_err(UiError::from)?;
    let mut app = App::new(Config {
        host: hostname(),
        interval,
        no_color: options.no_color,
        ascii: options.ascii,
        filter: options.filter,
    });
    let mut session = terminal::Session::enter().map_err(UiError::from)?;
    event_loop(&mut session, &mut app, &worker, &stop)?;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn event_loop(
    session: &mut terminal::Session,
    app: &mut App,
    worker: &Worker,
    stop: &signals::Stop,
) -> Result<(), UiError> {
    let mut dirty = true;
    loop {
        if stop.requested() {
            return Ok(());
        }
        if dirty {
            session.draw(|frame| draw(frame, app))?;
            dirty = false;
        }
        // Take every event already waiting before drawing again.
        let mut timeout = POLL;
        while event::poll(timeout)? {
            timeout = Duration::ZERO;
            match event::read()? {
                Event::Key(key) => match app.on_key(key) {
                    Reaction::Quit => return Ok(()),
                    Reaction::Send(command) => {
                        // A stopped worker shows up below as a closed channel.
                        worker.send(command);
                        dirty = true;
                    }
                    Reaction::Redraw => dirty = true,
                    Reaction::Ignored | Reaction::Back => {}
                },
                Event::Paste(text) => dirty |= !matches!(app.on_paste(&text), Reaction::Ignored),
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
        loop {
            match worker.try_recv() {
                Ok(report) => dirty |= app.on_report(report),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(UiError::WorkerStopped),
            }
        }
    }
}
