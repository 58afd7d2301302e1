//! `portradar --all-netns`: the namespaces view first — every network namespace of the host, read
//! one after the other over the refresh interval by a sweeping thread, the tightest headroom first —
//! and, on Enter, that namespace's own dashboard, refreshed by a worker whose thread lives in it;
//! Esc (with nothing to clear) comes back. The UI thread never reads the kernel.

use super::app::{App, Config, Reaction};
use super::keys::{self, Action};
use super::panels::namespaces::NamespacesView;
use super::{Options, UiError, draw, signals, terminal};
use crate::attribution::ProcessLookup;
use crate::collect::namespaces;
use crate::collect::sysctl::hostname;
use crate::refresh::namespaces::{LazyNs, Sweeper};
use crate::refresh::{Start, Worker};
use crossterm::event::{self, Event, KeyEventKind};
use std::sync::mpsc::TryRecvError;
use std::time::Duration;

/// How long the UI waits for a key before it looks for new readings.
const POLL: Duration = Duration::from_millis(50);

/// Runs the namespaces view until the user quits or a termination signal arrives.
pub fn run(options: &Options, stop: &signals::Stop) -> anyhow::Result<()> {
    let interval = Duration::from_millis(options.interval_ms);
    let found = namespaces::discover();
    let sweeper = Sweeper::spawn(found, options.families, options.filter.clone(), interval)
        .map_err(UiError::from)?;
    let mut view = NamespacesView::default();
    let mut open: Option<(App, Worker)> = None;
    let mut session = terminal::Session::enter().map_err(UiError::from)?;
    let theme = super::Theme::new(!options.no_color).with_ascii(options.ascii);
    let mut dirty = true;
    loop {
        if stop.requested() {
            return Ok(());
        }
        if dirty {
            session
                .draw(|frame| match &open {
                    Some((app, _)) => draw(frame, app),
                    None => {
                        let area = frame.area();
                        view.render(area, frame.buffer_mut(), theme, interval);
                    }
                })
                .map_err(UiError::from)?;
            dirty = false;
        }
        let mut timeout = POLL;
        while event::poll(timeout).map_err(UiError::from)? {
            timeout = Duration::ZERO;
            let Event::Key(key) = event::read().map_err(UiError::from)? else {
                dirty = true;
                continue;
            };
            dirty = true;
            if let Some((app, worker)) = &mut open {
                match app.on_key(key) {
                    Reaction::Quit => return Ok(()),
                    Reaction::Back => open = None,
                    Reaction::Send(command) => {
                        worker.send(command);
                    }
                    Reaction::Redraw | Reaction::Ignored | Reaction::Replay(_) => {}
                }
                continue;
            }
            if key.kind == KeyEventKind::Release {
                continue;
            }
            if keys::is_interrupt(&key) {
                return Ok(());
            }
            match keys::action(&key) {
                Some(Action::Quit) => return Ok(()),
                Some(Action::Move(m)) => view.apply(m),
                Some(Action::FocusSelected) => {
                    if let Some(selected) = view.selected() {
                        let refresher = LazyNs::new(
                            selected.namespace.clone(),
                            options.families,
                            options.filter.clone(),
                            Some(ProcessLookup::DASHBOARD),
                        );
                        let start = Start {
                            interval,
                            sockets: false,
                        };
                        let worker = Worker::spawn(refresher, start).map_err(UiError::from)?;
                        let app = App::new(Config {
                            host: hostname(),
                            interval,
                            no_color: options.no_color,
                            ascii: options.ascii,
                            filter: options.filter.clone(),
                        })
                        .nested();
                        open = Some((app, worker));
                    }
                }
                _ => {}
            }
        }
        loop {
            match sweeper.try_recv() {
                Ok(summary) => {
                    view.update(summary);
                    dirty |= open.is_none();
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Err(UiError::WorkerStopped.into()),
            }
        }
        if let Some((app, worker)) = &mut open {
            loop {
                match worker.try_recv() {
                    Ok(report) => dirty |= app.on_report(report),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Err(UiError::WorkerStopped.into()),
                }
            }
        }
    }
}
