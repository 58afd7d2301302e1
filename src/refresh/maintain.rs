//! The refresher's table kept from allocator events between full dumps ([`Maintenance`]): each
//! refresh applies the state changes the event thread queued since the last one
//! ([`crate::collect::maintained`]) instead of dumping, and a full dump (a resync) comes
//! - at once when the table cannot be trusted: the first refresh, a filter (filtered refreshes dump as
//!   before; the maintained table holds every socket), a failed dump, a lost record or an overflowed
//!   queue;
//! - at every refresh while a dump is cheap ([`CHEAP_DUMP`]): small tables behave as without events;
//! - every [`RESYNC_PERIOD`] otherwise, or less often when a dump is so slow that resyncs would take
//!   more than 1/[`MAX_RESYNC_SHARE`] of a core.
//!
//! Each resync compares the maintained table with the dump ([`Resync`]) and tells the ledger the
//! count of differences, which the dashboard's header shows, and how many the dump's window and the
//! records lost since the one-but-last resync (each hid at most one change) explain.

use super::feed::lock;
use crate::collect::maintained::{Maintained, Resync, Window};
use crate::collect::{CollectError, Collector, Query, Source, Table};
use crate::events::{Change, Ledger, boottime_ns};
use crate::model::ResyncFound;
use crate::socket::SockRecord;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A dump faster than this is taken at every refresh.
pub const CHEAP_DUMP: Duration = Duration::from_millis(50);
/// How often an expensive table is dumped again.
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);
/// Resyncs take at most 1/this of a core: the period stretches to this many times the dump.
pub const MAX_RESYNC_SHARE: u32 = 25;
/// The longest a resync waits for the event thread to read the changes made while it dumped (it
/// reads at least every 20 ms).
const CATCH_UP_WAIT: Duration = Duration::from_millis(250);

/// The maintained table's state between refreshes.
pub struct Maintenance {
    ledger: Arc<Mutex<Ledger>>,
    model: Maintained,
    /// The table is the maintained one: changes may apply to it.
    valid: bool,
    /// Lost records seen at the last refresh.
    lost: u64,
    /// Lost records seen at the one-but-last and the last resync. A record lost since the
    /// one-but-last explains one difference now: a change lost during a resync's dump can leave
    /// the socket's earlier change, applied again on top of that dump, wrong until this one.
    lost_at_resyncs: [u64; 2],
    /// When the last resync's dump ran and how long it took.
    last_dump: Option<(Instant, Duration)>,
    /// Set by [`Maintenance::set_period`]: resync exactly this often, whatever a dump costs.
    period: Option<Duration>,
    /// The last refresh dumped a table too big to dump at every refresh: its cost is spread over
    /// the resync period, not over one interval.
    amortized: bool,
    resyncs: u64,
    last_resync: Option<Resync>,
    /// Scratch: changes taken from the ledger, and those to apply after a dump.
    taken: Vec<Change>,
    since: Vec<Change>,
}

impl Maintenance {
    /// Maintenance from the changes queued in `ledger`.
    pub fn new(ledger: Arc<Mutex<Ledger>>) -> Maintenance {
        Maintenance {
            ledger,
            model: Maintained::new(),
            valid: false,
            lost: 0,
            lost_at_resyncs: [0; 2],
            last_dump: None,
            period: None,
            amortized: false,
            resyncs: 0,
            last_resync: None,
            taken: Vec::new(),
            since: Vec::new(),
        }
    }

    /// Resyncs a table that is expensive to dump every `period`, whatever a dump costs (by default:
    /// every [`RESYNC_PERIOD`], or 25 dumps' time when that is longer).
    pub fn set_period(&mut self, period: Duration) {
        self.period = Some(period);
    }

    /// The table no longer is the maintained one (another filter): the next update dumps, and the
    /// last resync's comparison, which says nothing of this table, is forgotten.
    pub fn invalidate(&mut self) {
        self.valid = false;
        lock(&self.ledger).changes().set_resync(None);
    }

    /// Whether the last update dumped a table too big to dump at every refresh.
    pub fn amortized(&self) -> bool {
        self.amortized
    }

    /// Resyncs so far, and what the last one that could compare found.
    pub fn resyncs(&self) -> (u64, Option<Resync>) {
        (self.resyncs, self.last_resync)
    }

    /// Brings `table` up to date for `query`: applies the queued changes, or dumps when a resync is
    /// due (see the module's documentation).
    pub fn update(
        &mut self,
        collector: &mut Collector,
        query: &Query,
        table: &mut Table,
    ) -> Result<(), CollectError> {
        let (overflowed, lost, caught_up) = {
            let mut ledger = lock(&self.ledger);
            let lost = ledger.lost();
            let changes = ledger.changes();
            (
                changes.take_into(&mut self.taken),
                lost,
                changes.caught_up(),
            )
        };
        let lost_more = lost > self.lost;
        self.lost = lost;
        self.amortized = false;
        if query.filter.is_some() {
            self.taken.clear();
            self.valid = false;
            return collector.collect(query, table);
        }
        if self.valid && !overflowed && !lost_more && !self.due() {
            for c in self.taken.drain(..).filter(|c| wanted(query, c)) {
                self.model.apply(table, &c);
            }
            self.model.age(table, boottime_ns());
            return Ok(());
        }
        self.valid &= !overflowed;
        self.resync(collector, query, table, caught_up)
    }

    /// A resync is due: never dumped, a cheap table, or the period is over.
    fn due(&self) -> bool {
        self.last_dump.is_none_or(|(at, took)| {
            let period =
                (self.period).unwrap_or_else(|| RESYNC_PERIOD.max(took * MAX_RESYNC_SHARE));
            took < CHEAP_DUMP || at.elapsed() >= period
        })
    }

    /// Dumps into `table`, compares the maintained table with the dump when it is valid, and starts
    /// over from the dump. Changes stamped before `caught_up` were all queued: those apply to the
    /// maintained table before the comparison; the later ones apply again on top of the dump.
    fn resync(
        &mut self,
        collector: &mut Collector,
        query: &Query,
        table: &mut Table,
        caught_up: u64,
    ) -> Result<(), CollectError> {
        self.since.clear();
        for c in self.taken.drain(..).filter(|c| wanted(query, c)) {
            if c.time_ns >= caught_up {
                self.since.push(c);
            } else if self.valid {
                self.model.apply(table, &c);
            }
        }
        let start = boottime_ns();
        if self.valid {
            self.model.age(table, start);
        }
        let began = Instant::now();
        let dumped = collector.collect(query, table);
        let took = began.elapsed();
        let end = boottime_ns();
        if dumped.is_err() || table.source != Source::Netlink {
            // Procfs has no cookies: no maintenance there.
            self.valid = false;
            return dumped;
        }
        self.wait_for_changes_until(end);
        let overflowed = lock(&self.ledger).changes().take_into(&mut self.taken);
        self.since
            .extend(self.taken.drain(..).filter(|c| wanted(query, c)));
        let window = Window {
            from: caught_up,
            start,
            end,
        };
        // A record lost hid at most one change: one difference more (see `lost_at_resyncs`).
        let losses = self.lost - self.lost_at_resyncs[0];
        self.lost_at_resyncs = [self.lost_at_resyncs[1], self.lost];
        if self.valid {
            let mut found = self.model.resync(table, window, &self.since);
            found.explained += losses;
            lock(&self.ledger).changes().set_resync(Some(ResyncFound {
                differences: found.diff.total(),
                explainable: found.explained,
            }));
            self.last_resync = Some(found);
        } else {
            self.model.start_over(table, window, &self.since);
        }
        self.model.age(table, boottime_ns());
        self.resyncs += 1;
        self.valid = !overflowed;
        self.last_dump = Some((began, took));
        self.amortized = took >= CHEAP_DUMP;
        Ok(())
    }
}

impl Maintenance {
    /// Waits until the event thread has queued every change stamped before `ns` (boot clock), so
    /// that the changes made while a dump ran are taken with it; at most [`CATCH_UP_WAIT`], and not
    /// at all once events stopped.
    fn wait_for_changes_until(&self, ns: u64) {
        let deadline = Instant::now() + CATCH_UP_WAIT;
        loop {
            let ledger = lock(&self.ledger);
            if ledger.stopped().is_some() || ledger.changes_caught_up() >= ns {
                return;
            }
            drop(ledger);
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Whether a change concerns the families `query` dumps.
fn wanted(query: &Query, c: &Change) -> bool {
    let socket = SockRecord::new(c.local, c.remote, c.new);
    query.families.contains(socket.family())
}
