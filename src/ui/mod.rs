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
mod live;
mod outlook;
mod pack;
mod panels;
mod popup;
mod prompt;
mod recent;
mod render;
mod replay;
mod signals;
mod sort;
mod terminal;
mod theme;
mod too_small;

pub use app::{App, Config, Reaction};
pub use dial::{Dial, Needle};
pub use keys::{KEYS, KeyHelp};
pub use layout::{MIN_HEIGHT, MIN_WIDTH};
pub use live::EventsStatus;
pub use render::draw;
pub use replay::{ReplayOptions, replay};
pub use theme::Theme;

use crate::collect::Families;
use crate::events::Ledger;
use crate::filter::Filter;
use crate::record::{Recorded, Scope};
use crate::refresh::feed::lock;
use crate::refresh::{Command, EventFeed, Refresher, Report, Start, Worker};
use crossterm::event::{self, Event};
use keys::ReplayAction;
use panels::timeline::Timeline;
use std::io::IsTerminal;
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex};
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
    /// Record every refresh to this file too (`--record`).
    pub record: Option<std::path::PathBuf>,
    /// Watch the kernel's port allocator (allocator events); false for `--no-events`.
    pub events: bool,
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
    let mut refresher = Refresher::new(
        options.netns.clone(),
        options.families,
        options.filter.clone(),
    );
    refresher.set_process_lookup(Some(crate::attribution::ProcessLookup::DASHBOARD));
    let (event_feed, status) = if options.events {
        match EventFeed::start() {
            Ok(f) => (Some(f), EventsStatus::Live),
            Err(e) => (None, EventsStatus::Off(e.to_string())),
        }
    } else {
        (None, EventsStatus::Off("events off: --no-events".into()))
    };
    let ledger = event_feed.as_ref().map(EventFeed::ledger);
    let refresher = match &ledger {
        Some(l) => refresher.with_events(Arc::clone(l)),
        None => refresher,
    };
    let start = Start {
        interval,
        sockets: false,
    };
    let worker = match &options.record {
        Some(path) => {
            let scope = Scope {
                netns: options.netns,
                families: options.families,
                interval_ms: options.interval_ms,
                filter: options.filter.clone(),
            };
            let (recorded, _) = Recorded::wrap(path, scope, refresher)?;
            Worker::spawn(recorded, start)
        }
        None => Worker::spawn(refresher, start),
    }
    .map_err(UiError::from)?;
    let mut app = App::new(Config {
        host: crate::collect::sysctl::hostname(),
        interval,
        no_color: options.no_color,
        ascii: options.ascii,
        filter: options.filter,
    });
    app.set_events(status);
    let mut session = terminal::Session::enter().map_err(UiError::from)?;
    event_loop(
        &mut session,
        &mut app,
        &mut Live(worker),
        ledger.as_deref(),
        &stop,
    )?;
    Ok(())
}

/// Where the dashboard's snapshots come from, and where its commands go: the refresh worker
/// live, a recording's player in a replay.
trait Feed {
    fn send(&mut self, command: Command);
    /// The next report, if one is ready.
    fn poll(&mut self) -> Result<Option<Report>, UiError>;
    /// A replay key; live there is no replay.
    fn replay(&mut self, _action: ReplayAction) {}
    /// Where a replay stands, shown in the header.
    fn timeline(&self) -> Option<Timeline> {
        None
    }
}

/// The live feed: the refresh worker.
struct Live(Worker);

impl Feed for Live {
    fn send(&mut self, command: Command) {
        // A stopped worker shows up in `poll` as a closed channel.
        self.0.send(command);
    }

    fn poll(&mut self) -> Result<Option<Report>, UiError> {
        match self.0.try_recv() {
            Ok(report) => Ok(Some(report)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(UiError::WorkerStopped),
        }
    }
}

fn event_loop(
    session: &mut terminal::Session,
    app: &mut App,
    feed: &mut dyn Feed,
    ledger: Option<&Mutex<Ledger>>,
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
                        feed.send(command);
                        dirty = true;
                    }
                    Reaction::Replay(action) => {
                        feed.replay(action);
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
        while let Some(report) = feed.poll()? {
            dirty |= app.on_report(report);
        }
        if let Some(timeline) = feed.timeline() {
            dirty |= app.set_timeline(timeline);
        }
        if let Some(ledger) = ledger {
            dirty |= take_picks(app, ledger);
        }
    }
}

/// Hands the picks made since the last look to the app, and says so once events stopped; returns
/// whether to redraw.
fn take_picks(app: &mut App, ledger: &Mutex<Ledger>) -> bool {
    let (picks, stopped) = {
        let l = lock(ledger);
        (
            l.picks_after(app.last_pick()),
            l.stopped().map(str::to_string),
        )
    };
    let mut dirty = !picks.is_empty() && app.on_picks(picks);
    if let Some(reason) = stopped
        && app.events == Some(EventsStatus::Live)
    {
        app.set_events(EventsStatus::Off(reason));
        dirty = true;
    }
    dirty
}
