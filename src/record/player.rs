//! [`Player`]: snapshots from a recording, as the live refresher makes them from the kernel. It
//! builds the model over the recorded tables in order with one history, so rates and allocations
//! come out as they did live; a seek backwards or far ahead starts again from the keyframe before
//! the target. A filter applies in user space ([`Filter::matches`]) to the recorded table.

use super::{RecordError, Recording, moment::Moment};
use crate::filter::Filter;
use crate::model::{self, History, Input, Meta, Snapshot};
use crate::refresh::Refresh;
use crate::socket::SockRecord;

/// A seek at most this many tables ahead walks through them instead of restarting at a keyframe.
const WALK: usize = 120;

/// Plays a recording.
pub struct Player {
    recording: Recording,
    /// The table built last, its index and snapshot.
    current: Option<(usize, Moment, Snapshot)>,
    history: History,
    filter: Option<Filter>,
    /// The sockets of the last snapshot, filtered.
    records: Vec<SockRecord>,
    /// The table `refresh` shows.
    target: usize,
}

impl Player {
    /// A player at the recording's first table.
    pub fn new(recording: Recording) -> Player {
        Player {
            recording,
            current: None,
            history: History::default(),
            filter: None,
            records: Vec::new(),
            target: 0,
        }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }

    /// The table `refresh` shows next.
    pub fn target(&self) -> usize {
        self.target
    }

    pub fn seek(&mut self, i: usize) {
        self.target = i.min(self.recording.len() - 1);
    }

    /// The snapshot of table `i`.
    pub fn snapshot_at(&mut self, i: usize) -> Result<&Snapshot, RecordError> {
        let i = i.min(self.recording.len() - 1);
        let from = match self.current.take() {
            Some((c, m, s)) if c == i => {
                self.current = Some((c, m, s));
                return Ok(&self.current.as_ref().expect("just put back").2);
            }
            Some((c, m, _)) if c < i && i - c <= WALK => Some((c, m)),
            _ => None,
        };
        let (mut at, mut moment) = match from {
            Some((c, mut m)) => {
                self.recording.advance(&mut m, c + 1)?;
                (c + 1, m)
            }
            None => {
                let key = self.recording.keyframe_before(i);
                self.history = History::default();
                (key, self.recording.moment(key)?)
            }
        };
        loop {
            let snapshot = self.build(&moment);
            if at == i {
                self.current = Some((at, moment, snapshot));
                return Ok(&self.current.as_ref().expect("just set").2);
            }
            at += 1;
            self.recording.advance(&mut moment, at)?;
        }
    }

    /// The snapshot of one table, through the history.
    fn build(&mut self, moment: &Moment) -> Snapshot {
        self.records.clear();
        self.records.extend(
            moment
                .records
                .iter()
                .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r))),
        );
        let input = Input {
            records: &self.records,
            listen_ports: &moment.listen_ports,
            explicit_bind_ports: &moment.explicit_bind_ports,
            settings: &moment.settings,
        };
        let filter = match &self.filter {
            Some(f) => Some(f.text().to_string()),
            None => moment.filter.clone(),
        };
        let meta = Meta {
            taken_at: moment.taken_at,
            source: moment.source,
            fallback: moment.fallback.clone(),
            netns: self.recording.host.netns.clone(),
            filter,
            bind_side_read_at: moment.bind_side_read_at,
            warnings: Vec::new(),
        };
        model::build(&input, meta, &mut self.history)
    }
}

impl Refresh for Player {
    /// The snapshot of the table [`Player::seek`] chose.
    fn refresh(&mut self) -> Result<Snapshot, String> {
        self.snapshot_at(self.target)
            .cloned()
            .map_err(|e| e.to_string())
    }

    /// Filters from now on, with a fresh history (from the keyframe before the target).
    fn set_filter(&mut self, filter: Option<Filter>) {
        self.filter = filter;
        self.current = None;
    }

    fn records(&self) -> &[SockRecord] {
        &self.records
    }
}
