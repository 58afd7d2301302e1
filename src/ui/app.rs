//! The dashboard's state and what keys and reports do to it. Pure: no terminal, no thread. The UI
//! loop feeds it key events and refresh reports, sends the commands it returns to the refresh
//! worker, and redraws when told to.

use super::cursor::{Cursor, Move};
use super::keys::{self, Action, ReplayAction};
use super::live::EventsStatus;
use super::panels::Panel;
use super::panels::timeline::Timeline;
use super::prompt::{Prompt, PromptEvent};
use super::recent::Recent;
use super::sort::SortKey;
use super::theme::{NEEDLES, Theme};
use crate::events::LivePick;
use crate::filter::Filter;
use crate::model::{Destination, Snapshot};
use crate::pointer::PointerEstimate;
use crate::refresh::{Command, Report};
use crate::socket::{Endpoint, SockRecord, TcpState};
use crossterm::event::{KeyEvent, KeyEventKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Allocations the dial's trail remembers.
const TRAIL: usize = 8;
/// TIME_WAIT counts the sparkline remembers (ten minutes at the default interval).
const TW_HISTORY: usize = 600;
/// The refresh intervals `+` and `-` step through, in milliseconds.
const INTERVALS_MS: [u64; 10] = [100, 200, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000];

/// How the dashboard starts.
#[derive(Clone, Debug)]
pub struct Config {
    /// This host's name, for the header.
    pub host: String,
    pub interval: Duration,
    pub no_color: bool,
    /// Draw in plain characters (no braille, no box drawing).
    pub ascii: bool,
    /// The filter given on the command line.
    pub filter: Option<Filter>,
}

/// What the UI loop should do after an event.
#[derive(Clone, Debug)]
pub enum Reaction {
    /// Nothing changed.
    Ignored,
    Redraw,
    /// Send this to the refresh worker, then redraw.
    Send(Command),
    /// Move the replay, then redraw.
    Replay(ReplayAction),
    /// Esc with nothing to clear, on a dashboard opened from another view (a namespace's, from the
    /// namespaces view): go back there.
    Back,
    Quit,
}

/// The snapshot on screen and what the UI derived from it.
pub(crate) struct View {
    pub snapshot: Arc<Snapshot>,
    pub epoch: u64,
    /// Destination indices in the current sort order.
    pub order: Vec<u32>,
    /// Index of the destination the dial is focused on, if it is in the snapshot.
    pub focus: Option<usize>,
    /// The destinations with a needle on the unfocused dial, most active first: (colour slot,
    /// destination index).
    pub needles: Vec<(usize, u32)>,
}

/// The dashboard's state: the snapshot on screen and everything around it (selection, prompt,
/// filter, freeze, history for the trail and the sparkline).
pub struct App {
    pub(crate) theme: Theme,
    pub(crate) host: String,
    pub(crate) interval: Duration,
    pub(crate) frozen: bool,
    pub(crate) filter: Option<Filter>,
    /// Bumped on every filter change; reports of other epochs are stale.
    epoch: u64,
    pub(crate) view: Option<View>,
    /// How long the last refresh took.
    pub(crate) took: Option<Duration>,
    /// Why the last refresh failed, while it keeps failing.
    pub(crate) error: Option<String>,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) help: bool,
    /// The consumers view of the selected destination is open.
    pub(crate) consumers: bool,
    pub(crate) panel: Panel,
    pub(crate) sort: SortKey,
    pub(crate) destinations: Cursor,
    /// The selected destination, followed across snapshots and sorts.
    selected: Option<Endpoint>,
    pub(crate) reuse: Cursor,
    /// The destination the dial is focused on (Enter).
    focus: Option<Endpoint>,
    /// Which destination holds each needle colour, so that a needle keeps its colour while its
    /// destination stays among the most active.
    needle_slots: [Option<Endpoint>; NEEDLES],
    /// Recent auto-allocated ports, oldest first, kept across snapshots.
    pub(crate) trail: Recent<u16>,
    pub(crate) time_wait_counts: Recent<u32>,
    /// Where a replay stands; `None` live.
    pub(crate) timeline: Option<Timeline>,
    /// Whether allocator events feed the dashboard; `None` when nobody said (a replay, a test).
    pub(crate) events: Option<EventsStatus>,
    /// The latest pick taken from the events, by number.
    last_pick: u64,
    /// Pointer estimates updated by picks since the snapshot on screen, per destination.
    live_pointers: HashMap<Endpoint, PointerEstimate>,
    /// Opened from another view, which Esc goes back to.
    nested: bool,
}

impl App {
    pub fn new(config: Config) -> App {
        App {
            theme: Theme::new(!config.no_color).with_ascii(config.ascii),
            host: config.host,
            interval: config.interval,
            frozen: false,
            filter: config.filter,
            epoch: 0,
            view: None,
            took: None,
            error: None,
            prompt: None,
            help: false,
            consumers: false,
            panel: Panel::default(),
            sort: SortKey::default(),
            destinations: Cursor::default(),
            selected: None,
            reuse: Cursor::default(),
            focus: None,
            needle_slots: [None; NEEDLES],
            trail: Recent::new(TRAIL),
            time_wait_counts: Recent::new(TW_HISTORY),
            timeline: None,
            events: None,
            last_pick: 0,
            live_pointers: HashMap::new(),
            nested: false,
        }
    }

    /// Says whether allocator events feed the dashboard (the header shows it).
    pub fn set_events(&mut self, status: EventsStatus) {
        self.events = Some(status);
    }

    /// The number of the latest pick taken: ask the events for those after it.
    pub fn last_pick(&self) -> u64 {
        self.last_pick
    }

    /// Takes picks as they happen, oldest first, each with its destination's pointer estimate
    /// after it: the trail and the needles move at once. Picks the filter rejects only count as
    /// taken. Returns whether to redraw.
    pub fn on_picks(&mut self, picks: Vec<(LivePick, Option<PointerEstimate>)>) -> bool {
        let mut shown = false;
        for (pick, estimate) in picks {
            self.last_pick = self.last_pick.max(pick.seq);
            let record = SockRecord::new(pick.local, pick.remote, TcpState::Established);
            if self.frozen || self.filter.as_ref().is_some_and(|f| !f.matches(&record)) {
                continue;
            }
            self.trail.push(pick.local.port);
            if let Some(e) = estimate {
                self.live_pointers.insert(pick.remote, e);
            }
            shown = true;
        }
        shown
    }

    /// The pointer estimate to show for `d`: the one updated by the latest pick, when it is newer
    /// than the snapshot's.
    pub(crate) fn pointer_of<'a>(&'a self, d: &'a Destination) -> Option<&'a PointerEstimate> {
        let live = self.live_pointers.get(&d.remote);
        match (live, &d.pointer) {
            (Some(l), Some(p)) if l.seen <= p.seen => Some(p),
            (Some(l), _) => Some(l),
            (None, p) => p.as_ref(),
        }
    }

    /// A dashboard opened from another view: Esc with nothing to clear answers [`Reaction::Back`].
    pub fn nested(mut self) -> App {
        self.nested = true;
        self
    }

    pub(crate) fn snapshot(&self) -> Option<&Snapshot> {
        self.view.as_ref().map(|v| v.snapshot.as_ref())
    }

    /// True while the snapshot on screen predates the current filter.
    pub(crate) fn filter_pending(&self) -> bool {
        self.view.as_ref().is_some_and(|v| v.epoch != self.epoch)
    }

    /// The destination the dial is about: the one focused with Enter, or the only one a filter
    /// left.
    pub(crate) fn focused_destination(&self) -> Option<&Destination> {
        let view = self.view.as_ref()?;
        view.snapshot.destinations.get(view.focus?)
    }

    /// Finds the focused destination in the snapshot on screen.
    fn refocus(&mut self) {
        let filtered = self.filter.is_some();
        let Some(view) = &mut self.view else { return };
        let dests = &view.snapshot.destinations;
        view.focus = match self.focus {
            Some(remote) => dests.iter().position(|d| d.remote == remote),
            None if filtered && dests.len() == 1 => Some(0),
            None => None,
        };
    }

    /// The destination under the cursor.
    pub(crate) fn selected_destination(&self) -> Option<&Destination> {
        let view = self.view.as_ref()?;
        let index = *view.order.get(self.destinations.selected())?;
        view.snapshot.destinations.get(index as usize)
    }

    /// Takes a refresh report: a new snapshot replaces the one on screen unless it is stale or the
    /// display is frozen; a failure is shown while the last good snapshot stays. Returns whether to
    /// redraw.
    pub fn on_report(&mut self, report: Report) -> bool {
        let current_shown = self.view.as_ref().is_some_and(|v| v.epoch == self.epoch);
        // A paused replay still shows the tables the user steps to.
        let held = self.frozen && current_shown && self.timeline.is_none();
        if report.epoch != self.epoch || held {
            return false;
        }
        self.took = Some(report.took);
        match report.outcome {
            Ok(snapshot) => {
                self.error = None;
                self.show(snapshot);
            }
            Err(e) => self.error = Some(e),
        }
        true
    }

    fn show(&mut self, snapshot: Arc<Snapshot>) {
        // The first refresh of a filter sees every socket as new: those are no allocations. With
        // events the trail follows the picks themselves.
        if snapshot.elapsed_s.is_some() && self.events != Some(EventsStatus::Live) {
            for port in &snapshot.allocations.recent {
                self.trail.push(*port);
            }
        }
        self.time_wait_counts.push(snapshot.time_wait.count);
        let order = self.sort.order(&snapshot.destinations);
        self.view = Some(View {
            snapshot,
            epoch: self.epoch,
            order,
            focus: None,
            needles: Vec::new(),
        });
        self.refocus();
        self.assign_needles();
        self.reselect();
        let groups = self.snapshot().map_or(0, |s| s.reused_ports.len());
        self.reuse.select(self.reuse.selected(), groups);
    }

    /// Gives needles to the most active destinations with a pointer estimate and a known rate (by
    /// rate, then ports used) when the dial is not focused: those already holding a colour keep
    /// it, newcomers take the free ones, busiest first. On the first refresh of a filter no rate is
    /// known yet, so there are no needles.
    fn assign_needles(&mut self) {
        let Some(view) = &mut self.view else { return };
        view.needles.clear();
        if view.focus.is_some() {
            return;
        }
        let dests = &view.snapshot.destinations;
        let by_activity =
            |a: &u32, b: &u32| SortKey::Rate.compare(&dests[*a as usize], &dests[*b as usize]);
        let mut top: Vec<u32> = (0..dests.len() as u32)
            .filter(|i| {
                let d = &dests[*i as usize];
                (d.pointer.is_some() || self.live_pointers.contains_key(&d.remote))
                    && d.new_per_s.is_some()
            })
            .collect();
        if top.len() > NEEDLES {
            top.select_nth_unstable_by(NEEDLES - 1, by_activity);
            top.truncate(NEEDLES);
        }
        top.sort_by(by_activity);
        let remote = |i: u32| dests[i as usize].remote;
        for slot in &mut self.needle_slots {
            if slot.is_some_and(|r| !top.iter().any(|i| remote(*i) == r)) {
                *slot = None;
            }
        }
        for i in top {
            let r = Some(remote(i));
            let slot = match self.needle_slots.iter().position(|s| *s == r) {
                Some(slot) => slot,
                None => {
                    let free = self.needle_slots.iter().position(Option::is_none);
                    let slot = free.expect("a slot per needle");
                    self.needle_slots[slot] = r;
                    slot
                }
            };
            view.needles.push((slot, i));
        }
    }

    /// Puts the cursor back on the selected destination after a new snapshot or sort.
    fn reselect(&mut self) {
        let Some(view) = &self.view else { return };
        let dests = &view.snapshot.destinations;
        let found = self.selected.and_then(|remote| {
            view.order
                .iter()
                .position(|i| dests[*i as usize].remote == remote)
        });
        match found {
            Some(i) => self.destinations.select(i, view.order.len()),
            None => self
                .destinations
                .select(self.destinations.selected(), view.order.len()),
        }
        self.selected = self.selected_destination().map(|d| d.remote);
    }

    /// Where the replay stands now; returns whether that changed.
    pub fn set_timeline(&mut self, timeline: Timeline) -> bool {
        let changed = self.timeline.as_ref() != Some(&timeline);
        // A replay pauses itself at the end: space plays it again.
        self.frozen = !timeline.playing;
        self.timeline = Some(timeline);
        changed
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Reaction {
        if key.kind == KeyEventKind::Release {
            return Reaction::Ignored;
        }
        if keys::is_interrupt(&key) {
            return Reaction::Quit;
        }
        if self.help {
            return match keys::action(&key) {
                Some(Action::Quit) => Reaction::Quit,
                _ => {
                    self.help = false;
                    Reaction::Redraw
                }
            };
        }
        if self.consumers {
            // Esc and c close the view; the other keys act as on the dashboard (moving changes
            // the destination it is about).
            match keys::action(&key) {
                Some(Action::ClearFilter | Action::Consumers) => {
                    self.consumers = false;
                    return Reaction::Redraw;
                }
                Some(Action::OpenPrompt | Action::Help) => self.consumers = false,
                _ => {}
            }
        }
        if let Some(prompt) = &mut self.prompt {
            return match prompt.on_key(&key) {
                PromptEvent::Edited => Reaction::Redraw,
                PromptEvent::Cancel => {
                    self.prompt = None;
                    Reaction::Redraw
                }
                PromptEvent::Submit => self.submit_prompt(),
            };
        }
        match keys::action(&key) {
            Some(action) => self.act(action),
            None => Reaction::Redraw,
        }
    }

    /// Pasted text goes into the prompt when it is open, and is ignored anywhere else.
    pub fn on_paste(&mut self, text: &str) -> Reaction {
        match &mut self.prompt {
            Some(prompt) if !self.help => {
                prompt.paste(text);
                Reaction::Redraw
            }
            _ => Reaction::Ignored,
        }
    }

    fn act(&mut self, action: Action) -> Reaction {
        match action {
            Action::Quit => return Reaction::Quit,
            Action::Help => self.help = true,
            Action::Consumers => self.consumers = true,
            Action::OpenPrompt => {
                self.prompt = Some(Prompt::new(self.filter.as_ref().map_or("", |f| f.text())));
            }
            Action::ClearFilter if self.filter.is_some() || self.focus.is_some() => {
                return self.set_filter(None, None);
            }
            Action::ClearFilter if self.nested => return Reaction::Back,
            Action::ClearFilter => {}
            Action::NextPanel => self.panel = self.panel.next(),
            Action::PreviousPanel => self.panel = self.panel.previous(),
            Action::Move(m) => self.move_selection(m),
            Action::FocusSelected => return self.focus_selected(),
            Action::CycleSort => {
                self.sort = self.sort.next();
                if let Some(view) = &mut self.view {
                    view.order = self.sort.order(&view.snapshot.destinations);
                }
                self.reselect();
            }
            Action::ToggleFreeze => {
                self.frozen = !self.frozen;
                return Reaction::Send(Command::Pause(self.frozen));
            }
            Action::LongerInterval | Action::ShorterInterval => {
                let ms = self.interval.as_millis() as u64;
                let next = if action == Action::LongerInterval {
                    INTERVALS_MS.iter().find(|s| **s > ms)
                } else {
                    INTERVALS_MS.iter().rev().find(|s| **s < ms)
                };
                if let Some(ms) = next {
                    self.interval = Duration::from_millis(*ms);
                    return Reaction::Send(Command::SetInterval(self.interval));
                }
            }
            Action::Replay(a) if self.timeline.is_some() => return Reaction::Replay(a),
            Action::Replay(_) => {}
        }
        Reaction::Redraw
    }

    fn move_selection(&mut self, m: Move) {
        match self.panel {
            Panel::Destinations => {
                let len = self.view.as_ref().map_or(0, |v| v.order.len());
                self.destinations.apply(m, len);
                self.selected = self.selected_destination().map(|d| d.remote);
            }
            Panel::Reuse => {
                let len = self.snapshot().map_or(0, |s| s.reused_ports.len());
                self.reuse.apply(m, len);
            }
            Panel::TimeWait => {}
        }
    }

    /// Enter on a destination: filter on it, so the kernel dumps only its sockets and the dial
    /// shows its ports.
    fn focus_selected(&mut self) -> Reaction {
        if self.panel != Panel::Destinations {
            return Reaction::Redraw;
        }
        let Some(remote) = self.selected_destination().map(|d| d.remote) else {
            return Reaction::Redraw;
        };
        self.set_filter(Some(Filter::dst(remote)), Some(remote))
    }

    fn submit_prompt(&mut self) -> Reaction {
        let Some(prompt) = &mut self.prompt else {
            return Reaction::Redraw;
        };
        let text = prompt.text();
        let filter = if text.trim().is_empty() {
            None
        } else {
            match Filter::parse(text.trim()) {
                Ok(filter) => Some(filter),
                Err(e) => {
                    prompt.fail(e.to_string());
                    return Reaction::Redraw;
                }
            }
        };
        self.prompt = None;
        self.set_filter(filter, None)
    }

    fn set_filter(&mut self, filter: Option<Filter>, focus: Option<Endpoint>) -> Reaction {
        self.epoch += 1;
        self.filter = filter.clone();
        self.focus = focus;
        self.refocus();
        self.assign_needles();
        self.trail.clear();
        self.time_wait_counts.clear();
        self.live_pointers.clear();
        Reaction::Send(Command::SetFilter {
            filter,
            epoch: self.epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyCode;

    fn app(interval_ms: u64) -> App {
        App::new(Config {
            host: "h".into(),
            interval: Duration::from_millis(interval_ms),
            no_color: false,
            ascii: false,
            filter: None,
        })
    }

    fn press(app: &mut App, code: KeyCode) -> Reaction {
        app.on_key(KeyEvent::from(code))
    }

    #[test]
    fn plus_and_minus_step_through_the_intervals() {
        let mut a = app(1500);
        assert!(
            matches!(press(&mut a, KeyCode::Char('+')), Reaction::Send(Command::SetInterval(d)) if d == Duration::from_secs(2))
        );
        assert!(
            matches!(press(&mut a, KeyCode::Char('-')), Reaction::Send(Command::SetInterval(d)) if d == Duration::from_secs(1))
        );
        let mut a = app(100);
        assert!(
            matches!(press(&mut a, KeyCode::Char('-')), Reaction::Redraw),
            "100 ms is the shortest"
        );
        let mut a = app(60_000);
        assert!(
            matches!(press(&mut a, KeyCode::Char('+')), Reaction::Redraw),
            "a minute is the longest"
        );
    }

    #[test]
    fn an_empty_prompt_clears_the_filter_and_esc_in_the_prompt_keeps_it() {
        let mut a = app(1000);
        a.filter = Filter::parse("dst 10.0.0.1").ok();
        assert!(a.filter.is_some());
        press(&mut a, KeyCode::Char('/'));
        assert_eq!(
            a.prompt.as_ref().map(Prompt::text).as_deref(),
            Some("dst 10.0.0.1")
        );
        press(&mut a, KeyCode::Esc);
        assert!(
            a.prompt.is_none() && a.filter.is_some(),
            "Esc in the prompt only closes it"
        );
        press(&mut a, KeyCode::Char('/'));
        a.prompt = Some(Prompt::new(""));
        let sent = press(&mut a, KeyCode::Enter);
        assert!(matches!(
            sent,
            Reaction::Send(Command::SetFilter {
                filter: None,
                epoch: 1
            })
        ));
        assert!(a.filter.is_none());
    }

    #[test]
    fn a_paste_fills_the_prompt_and_is_ignored_elsewhere() {
        let mut a = app(1000);
        assert!(matches!(a.on_paste("q\ns /"), Reaction::Ignored));
        assert!(a.prompt.is_none() && !a.frozen && !a.help, "no key acted");
        press(&mut a, KeyCode::Char('/'));
        assert!(matches!(
            a.on_paste("dst 10.0.0.1\nor dst 10.0.0.2"),
            Reaction::Redraw
        ));
        assert_eq!(
            a.prompt.as_ref().map(Prompt::text).as_deref(),
            Some("dst 10.0.0.1 or dst 10.0.0.2")
        );
        let Reaction::Send(Command::SetFilter {
            filter: Some(filter),
            ..
        }) = press(&mut a, KeyCode::Enter)
        else {
            panic!("the pasted filter applies");
        };
        assert_eq!(filter.text(), "dst 10.0.0.1 or dst 10.0.0.2");
    }

    #[test]
    fn picks_the_filter_rejects_or_a_frozen_screen_only_count_as_taken() {
        let pick = |seq, remote: &str| LivePick {
            seq,
            local: "127.0.0.1:40000".parse().unwrap(),
            remote: remote.parse().unwrap(),
            skipped: 0,
        };
        let mut a = app(1000);
        a.filter = Filter::parse("dst 10.0.0.1").ok();
        assert!(!a.on_picks(vec![(pick(1, "10.0.0.2:80"), None)]));
        assert_eq!((a.last_pick(), a.trail.last()), (1, None));
        assert!(a.on_picks(vec![(pick(2, "10.0.0.1:80"), None)]));
        assert_eq!((a.last_pick(), a.trail.last()), (2, Some(40000)));
        press(&mut a, KeyCode::Char(' '));
        assert!(a.frozen);
        assert!(!a.on_picks(vec![(pick(3, "10.0.0.1:80"), None)]));
        assert_eq!(a.last_pick(), 3);
    }

    #[test]
    fn ctrl_c_quits_from_the_prompt_and_the_help() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), crossterm::event::KeyModifiers::CONTROL);
        let mut a = app(1000);
        press(&mut a, KeyCode::Char('/'));
        assert!(matches!(a.on_key(ctrl_c), Reaction::Quit));
        let mut a = app(1000);
        press(&mut a, KeyCode::Char('?'));
        assert!(matches!(press(&mut a, KeyCode::Char('q')), Reaction::Quit));
    }
}
