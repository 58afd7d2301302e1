//! The socket table maintained from allocator events between full dumps: [`Maintained`] keeps the
//! records of a [`Table`] current by applying each TCP state change ([`Change`]) by socket cookie,
//! and compares itself with each fresh dump ([`Maintained::resync`]).
//!
//! How a change applies:
//! - into any state but CLOSE: the socket is updated, or added when its cookie is new (CLOSE→SYN_SENT
//!   for connect(), LISTEN→SYN_RECV for the passive side's new socket); its ends are taken from the
//!   change once their ports are set;
//! - FIN_WAIT2→CLOSE or CLOSING→CLOSE: the socket becomes a timewait socket, which keeps the cookie
//!   and has no event of its own. Usually that is TIME_WAIT; a closed socket whose peer has not sent
//!   its FIN yet waits in a timewait socket too, which dumps show as FIN_WAIT2 until that FIN comes
//!   (no event either; nor when a dumped one gets that FIN and turns TIME_WAIT): a resync counts
//!   that difference as untraced. It ends [`TIME_WAIT_NS`] later (plus
//!   [`TIME_WAIT_LATE_NS`]: the kernel's timer wheel fires late, by up to its granularity, 2 s at
//!   HZ=250), or at once when a new socket takes its 4-tuple over (tcp_tw_reuse, or a SYN reopening
//!   a server-side TIME_WAIT): a 4-tuple is in one socket at a time;
//! - any other change into CLOSE: the socket is gone.
//!
//! Some sockets never make an event: sockets bound but not connected (BOUND_INACTIVE), request
//! sockets (NEW_SYN_RECV) and the FIN_WAIT2 timewait sockets above; and a TIME_WAIT can end early
//! without one (an RST from the peer, with `tcp_rfc1337` 0, or a SYN reopening it). Nor do a few
//! sockets on their way from FIN_WAIT1 into TIME_WAIT: under churn on Linux 6.18, about one closing
//! connection in several thousand reaches TIME_WAIT with no FIN_WAIT2 and no CLOSE record, while a
//! counter in the program showed that every run of it reached user space (the kernel did not run it
//! for those changes, and counted no recursion miss either): such a socket stays in FIN_WAIT1 here.
//! All of these come with the dumps only, and a resync counts them among the differences as
//! "untraced". Listeners do make one (CLOSE→LISTEN) on current kernels; where
//! listen() sets the state without the tracepoint (older kernels), a new listener shows at the next
//! resync and counts as a plain difference.
//!
//! A resync compares the table as maintained up to the dump with the dump, socket by socket
//! ([`Diff`]). A dump is not atomic: it walks the hash tables for a while, and each change made
//! meanwhile may or may not be in it. So what the differences should stay within
//! ([`Resync::explained`]) is: the changes stamped inside the dump's window, the TIME_WAIT sockets
//! whose end falls near it (when exactly the kernel's timer fires is not known to the millisecond),
//! and the untraced sockets.

use super::Table;
use crate::events::Change;
use crate::socket::{Endpoint, SockRecord, TcpState, TimerKind};
use rustc_hash::{FxHashMap, FxHasher};
use std::hash::{Hash, Hasher};

/// How long TIME_WAIT lasts (TCP_TIMEWAIT_LEN).
pub const TIME_WAIT_NS: u64 = 60 * NS_PER_S;
/// How much later than [`TIME_WAIT_NS`] the maintained table ends a TIME_WAIT: the kernel's timer
/// fires between 0 and one timer-wheel granularity late (2.048 s at HZ=250), half of that on average.
pub const TIME_WAIT_LATE_NS: u64 = NS_PER_S;
/// The widest that lateness can be (5.12 s at HZ=100), for what a resync explains.
pub const TIME_WAIT_SLACK_NS: u64 = 5_200_000_000;
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MS: u64 = 1_000_000;

/// One socket of the maintained table: where its record is and the state it is in.
#[derive(Clone, Copy, Debug)]
struct Slot {
    index: u32,
    state: TcpState,
}

/// The index of a table maintained from state changes. The records themselves stay in the caller's
/// [`Table`] (with their cgroup ids), so a refresh reads them as it reads a dump.
#[derive(Debug, Default)]
pub struct Maintained {
    /// Cookie → the socket's record.
    slots: FxHashMap<u64, Slot>,
    /// Per record, index for index: when its timewait socket ends (boot clock, ns), 0 for full
    /// sockets.
    ends: Vec<u64>,
    /// The TIME_WAIT sockets by the hash of their 4-tuple ([`tuple_key`]) → cookie.
    time_wait: FxHashMap<u64, u64>,
    /// Scratch for a resync: which records of the maintained table the dump had.
    seen: Vec<bool>,
}

/// Sockets on which a maintained table and a dump disagree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// In the dump, not in the maintained table.
    pub missing: u64,
    /// In the maintained table, not in the dump.
    pub extra: u64,
    /// In both, in another state.
    pub state: u64,
    /// Of all those, the ones no event can show: BOUND_INACTIVE and NEW_SYN_RECV sockets, timewait
    /// sockets still in FIN_WAIT2 or gone from it to TIME_WAIT, FIN_WAIT1 sockets the kernel took
    /// into TIME_WAIT silently, and TIME_WAIT sockets the kernel ended early (a peer's RST or SYN
    /// ends one without an event).
    pub untraced: u64,
}

impl Diff {
    /// Sockets present on one side only or in another state.
    pub fn total(&self) -> u64 {
        self.missing + self.extra + self.state
    }
}

/// When a resync's dump ran (boot clock, ns): changes stamped before `from` are in the maintained
/// table it is compared with; the dump started at `start` and ended at `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: u64,
    pub start: u64,
    pub end: u64,
}

/// What a resync found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resync {
    pub diff: Diff,
    /// How many differences the dump's non-atomicity and the untraced sockets explain: the
    /// untraced differences, the changes stamped inside the window, and the TIME_WAIT sockets
    /// (maintained or dumped) whose end lies within [`TIME_WAIT_SLACK_NS`] of it.
    pub explained: u64,
}

impl Maintained {
    /// An empty table; [`Maintained::reset`] fills it from a dump.
    pub fn new() -> Maintained {
        Maintained::default()
    }

    /// Sockets in the table.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Starts over from the dump in `table`, read at about `dumped_ns` (boot clock): indexes its
    /// records by cookie, drops a second record of a cookie (a socket met twice by a walk), and
    /// dates each timewait socket's end (TIME_WAIT, or FIN_WAIT2 with the timewait timer) from its
    /// remaining time.
    pub fn reset(&mut self, table: &mut Table, dumped_ns: u64) {
        self.slots.clear();
        self.ends.clear();
        self.time_wait.clear();
        self.slots.reserve(table.records.len());
        self.ends.reserve(table.records.len());
        let mut i = 0;
        while i < table.records.len() {
            let r = table.records[i];
            if self.slots.contains_key(&r.cookie) {
                table.records.swap_remove(i);
                table.cgroups.swap_remove(i);
                continue;
            }
            let slot = Slot {
                index: index(i),
                state: r.state,
            };
            self.slots.insert(r.cookie, slot);
            if is_timewait(&r) {
                let end = dumped_ns + u64::from(r.expires_ms) * NS_PER_MS + TIME_WAIT_LATE_NS;
                self.ends.push(end);
                self.time_wait
                    .insert(tuple_key(r.local, r.remote), r.cookie);
            } else {
                self.ends.push(0);
            }
            i += 1;
        }
    }

    /// Applies one state change to the table (see the module's documentation).
    pub fn apply(&mut self, table: &mut Table, c: &Change) {
        if c.new != TcpState::Close {
            self.upsert(table, c, c.new);
            return;
        }
        let to_time_wait = matches!(c.old, TcpState::FinWait2 | TcpState::Closing);
        if !(to_time_wait && c.local.port != 0 && c.remote.port != 0) {
            return self.remove(table, c.cookie);
        }
        let i = self.upsert(table, c, TcpState::TimeWait);
        self.ends[i] = c.time_ns + TIME_WAIT_NS + TIME_WAIT_LATE_NS;
        let r = &mut table.records[i];
        r.timer = TimerKind::Timewait;
        r.expires_ms = ms(TIME_WAIT_NS);
        self.time_wait
            .insert(tuple_key(r.local, r.remote), c.cookie);
    }

    /// Ends the TIME_WAIT sockets whose time is up at `now_ns` (boot clock) and sets the remaining
    /// time of the others, as a dump shows it.
    pub fn age(&mut self, table: &mut Table, now_ns: u64) {
        let mut i = 0;
        while i < table.records.len() {
            let end = self.ends[i];
            if end == 0 {
                i += 1;
            } else if end <= now_ns {
                // The last record takes index i: look at it next.
                self.remove(table, table.records[i].cookie);
            } else {
                let nominal = end.saturating_sub(TIME_WAIT_LATE_NS);
                table.records[i].expires_ms = ms(nominal.saturating_sub(now_ns));
                i += 1;
            }
        }
    }

    /// Compares the table as maintained (its records already replaced by a fresh dump in `table`)
    /// with that dump, taken in `window`; then starts over from the dump ([`Maintained::reset`]) and
    /// applies `since`, the changes stamped from `window.from` on, oldest first.
    pub fn resync(&mut self, table: &mut Table, window: Window, since: &[Change]) -> Resync {
        let diff = self.diff(&table.records);
        let in_window = since.iter().filter(|c| c.time_ns <= window.end).count() as u64;
        let resync = Resync {
            diff,
            explained: diff.untraced + in_window + self.ending_near(&table.records, window),
        };
        self.start_over(table, window, since);
        resync
    }

    /// Starts over from the dump in `table`, taken in `window` ([`Maintained::reset`]), and applies
    /// `since`, the changes stamped from `window.from` on, oldest first: the dump may or may not
    /// show each, and applying one again leaves the socket as it was.
    pub fn start_over(&mut self, table: &mut Table, window: Window, since: &[Change]) {
        self.reset(table, window.start / 2 + window.end / 2);
        for c in since {
            self.apply(table, c);
        }
    }

    /// The differences between the maintained states and `dump`.
    fn diff(&mut self, dump: &[SockRecord]) -> Diff {
        let untraced = |s: TcpState| matches!(s, TcpState::BoundInactive | TcpState::NewSynRecv);
        // A timewait socket waiting for its peer's FIN shows as FIN_WAIT2 and becomes TIME_WAIT
        // when the FIN comes, without an event: either side may have it in the other state. And
        // the kernel takes a few sockets from FIN_WAIT1 into a timewait socket without running
        // the tracepoint on the way (see the module's documentation).
        let silent = |was: TcpState, was_timewait: bool, r: &SockRecord| match was {
            TcpState::TimeWait => r.state == TcpState::FinWait2,
            TcpState::FinWait2 => was_timewait && r.state == TcpState::TimeWait,
            TcpState::FinWait1 => is_timewait(r),
            _ => false,
        };
        let mut d = Diff::default();
        self.seen.clear();
        self.seen.resize(self.ends.len(), false);
        for r in dump {
            match self.slots.get(&r.cookie) {
                None => {
                    d.missing += 1;
                    d.untraced += u64::from(untraced(r.state));
                }
                Some(slot) => {
                    let i = slot.index as usize;
                    self.seen[i] = true;
                    if slot.state != r.state {
                        d.state += 1;
                        d.untraced += u64::from(
                            untraced(slot.state)
                                || untraced(r.state)
                                || silent(slot.state, self.ends[i] != 0, r),
                        );
                    }
                }
            }
        }
        for slot in self.slots.values() {
            if !self.seen[slot.index as usize] {
                d.extra += 1;
                // close() of a bound socket makes no event, nor does the end of a TIME_WAIT: on its
                // timer, or early on the peer's RST (`tcp_rfc1337` 0) or SYN; nor that of a
                // FIN_WAIT1 socket the kernel took into TIME_WAIT silently.
                let silent_end = matches!(slot.state, TcpState::TimeWait | TcpState::FinWait1);
                d.untraced += u64::from(untraced(slot.state) || silent_end);
            }
        }
        d
    }

    /// TIME_WAIT sockets, maintained or in `dump`, whose end may fall inside `window`.
    fn ending_near(&self, dump: &[SockRecord], window: Window) -> u64 {
        let (low, high) = (
            window.from.saturating_sub(TIME_WAIT_SLACK_NS),
            window.end + TIME_WAIT_SLACK_NS,
        );
        let maintained = (self.ends.iter())
            .filter(|&&end| end != 0 && (low..=high).contains(&end))
            .count();
        let walk = window.end.saturating_sub(window.start);
        let dumped = (dump.iter())
            .filter(|r| is_timewait(r))
            .filter(|r| u64::from(r.expires_ms) * NS_PER_MS <= walk + TIME_WAIT_SLACK_NS)
            .count();
        (maintained + dumped) as u64
    }

    /// Sets the socket of `c` in `state`, adding it when new; returns its index.
    fn upsert(&mut self, table: &mut Table, c: &Change, state: TcpState) -> usize {
        let i = match self.slots.get_mut(&c.cookie) {
            Some(slot) => {
                slot.state = state;
                let i = slot.index as usize;
                if state != TcpState::TimeWait {
                    self.ends[i] = 0;
                }
                let r = &mut table.records[i];
                r.state = state;
                if c.local.port != 0 {
                    r.local = c.local;
                }
                if c.remote.port != 0 {
                    r.remote = c.remote;
                }
                if c.old == TcpState::Close && c.new == TcpState::SynSent {
                    table.cgroups.set(i, c.cgroup);
                }
                i
            }
            None => {
                let i = table.records.len();
                let mut r = SockRecord::new(c.local, c.remote, state);
                r.cookie = c.cookie;
                table.records.push(r);
                // Only connect() runs in the socket's own task.
                let own = c.old == TcpState::Close && c.new == TcpState::SynSent;
                table.cgroups.push(if own { c.cgroup } else { 0 });
                self.ends.push(0);
                self.slots.insert(
                    c.cookie,
                    Slot {
                        index: index(i),
                        state,
                    },
                );
                i
            }
        };
        let r = table.records[i];
        if state != TcpState::TimeWait && r.local.port != 0 && r.remote.port != 0 {
            self.take_over(table, r.local, r.remote, r.cookie);
        }
        i
    }

    /// Ends the TIME_WAIT socket with the 4-tuple `local`–`remote`, if there is one other than
    /// `cookie`: the new socket took the tuple over.
    fn take_over(&mut self, table: &mut Table, local: Endpoint, remote: Endpoint, cookie: u64) {
        let key = tuple_key(local, remote);
        let Some(&old) = self.time_wait.get(&key) else {
            return;
        };
        let same = (self.slots.get(&old)).is_some_and(|s| {
            let r = &table.records[s.index as usize];
            s.state == TcpState::TimeWait && r.local == local && r.remote == remote
        });
        if old != cookie && same {
            self.remove(table, old);
        }
    }

    /// Removes the socket with `cookie`, if present; the last record takes its place.
    fn remove(&mut self, table: &mut Table, cookie: u64) {
        let Some(slot) = self.slots.remove(&cookie) else {
            return;
        };
        let i = slot.index as usize;
        if self.ends[i] != 0 {
            let r = &table.records[i];
            let key = tuple_key(r.local, r.remote);
            if self.time_wait.get(&key) == Some(&cookie) {
                self.time_wait.remove(&key);
            }
        }
        table.records.swap_remove(i);
        table.cgroups.swap_remove(i);
        self.ends.swap_remove(i);
        if let Some(moved) = table.records.get(i)
            && let Some(s) = self.slots.get_mut(&moved.cookie)
        {
            s.index = index(i);
        }
    }
}

/// A timewait socket (TIME_WAIT, or FIN_WAIT2 waiting for the peer's FIN after close()): the
/// timewait timer runs on it, and it ends without an event.
fn is_timewait(r: &SockRecord) -> bool {
    r.state == TcpState::TimeWait || r.timer == TimerKind::Timewait
}

/// A record's position as stored (a table holds far fewer than 2^32 sockets).
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Nanoseconds as whole milliseconds, saturating.
fn ms(ns: u64) -> u32 {
    u32::try_from(ns / NS_PER_MS).unwrap_or(u32::MAX)
}

/// The hash of a 4-tuple: the key of the TIME_WAIT index (a collision only hides a takeover until
/// the next resync).
fn tuple_key(local: Endpoint, remote: Endpoint) -> u64 {
    let mut h = FxHasher::default();
    (local, remote).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const S: u64 = NS_PER_S;

    fn end(port: u16) -> Endpoint {
        Endpoint::new([127, 0, 0, 1].into(), port)
    }

    fn change(cookie: u64, old: TcpState, new: TcpState, local: u16, remote: u16) -> Change {
        Change {
            time_ns: 100 * S,
            cookie,
            cgroup: 7,
            local: end(local),
            remote: end(remote),
            old,
            new,
        }
    }

    fn at(mut c: Change, time_ns: u64) -> Change {
        c.time_ns = time_ns;
        c
    }

    fn record(cookie: u64, state: TcpState, local: u16, remote: u16) -> SockRecord {
        let mut r = SockRecord::new(end(local), end(remote), state);
        r.cookie = cookie;
        r
    }

    fn table_of(records: &[SockRecord]) -> Table {
        let mut t = Table::new();
        for r in records {
            t.records.push(*r);
            t.cgroups.push(r.cookie);
        }
        t
    }

    /// Cookie → (state, local port, remote port) of every record.
    fn contents(t: &Table) -> BTreeMap<u64, (TcpState, u16, u16)> {
        (t.records.iter())
            .map(|r| (r.cookie, (r.state, r.local.port, r.remote.port)))
            .collect()
    }

    use TcpState::*;

    #[test]
    fn a_connection_lives_through_time_wait_and_ends_sixty_seconds_later() {
        let (mut m, mut t) = (Maintained::new(), Table::new());
        m.apply(&mut t, &change(1, Close, SynSent, 0, 80));
        assert_eq!(
            contents(&t)[&1],
            (SynSent, 0, 80),
            "the port is not chosen yet"
        );
        assert_eq!(t.cgroups.id(0), 7, "connect() runs in the socket's task");
        m.apply(&mut t, &change(1, SynSent, Established, 40000, 80));
        m.apply(&mut t, &change(1, Established, FinWait1, 40000, 80));
        m.apply(&mut t, &change(1, FinWait1, FinWait2, 40000, 80));
        m.apply(&mut t, &change(1, FinWait2, Close, 40000, 80));
        assert_eq!(contents(&t)[&1], (TimeWait, 40000, 80));
        m.age(&mut t, 130 * S);
        assert_eq!(t.records[0].expires_ms, 30_000);
        assert_eq!(t.records[0].timer, TimerKind::Timewait);
        m.age(&mut t, 160 * S + TIME_WAIT_LATE_NS - 1);
        assert_eq!(m.len(), 1, "the kernel's timer fires late");
        assert_eq!(t.records[0].expires_ms, 0);
        m.age(&mut t, 160 * S + TIME_WAIT_LATE_NS);
        assert!(m.is_empty() && t.records.is_empty() && t.cgroups.is_empty());
    }

    #[test]
    fn the_passive_side_takes_its_ends_from_the_first_change_that_has_them() {
        let (mut m, mut t) = (Maintained::new(), Table::new());
        // The new socket is a clone of the listener: wildcard address, no remote yet.
        let mut syn_recv = change(2, Listen, SynRecv, 80, 0);
        syn_recv.local.ip = [0, 0, 0, 0].into();
        m.apply(&mut t, &syn_recv);
        assert_eq!(t.records[0].local.ip.to_string(), "0.0.0.0");
        assert_eq!(
            t.cgroups.id(0),
            0,
            "softirq context: not the socket's cgroup"
        );
        m.apply(&mut t, &change(2, SynRecv, Established, 80, 40000));
        assert_eq!(contents(&t)[&2], (Established, 80, 40000));
        assert_eq!(t.records[0].local, end(80));
        for (old, new) in [
            (Established, CloseWait),
            (CloseWait, LastAck),
            (LastAck, Close),
        ] {
            m.apply(&mut t, &change(2, old, new, 80, 40000));
        }
        assert!(
            m.is_empty() && t.records.is_empty(),
            "LAST_ACK→CLOSE is the end"
        );
    }

    #[test]
    fn a_failed_port_search_leaves_nothing_and_a_closed_listener_goes() {
        let mut t = table_of(&[record(9, Listen, 80, 0)]);
        let mut m = Maintained::new();
        m.reset(&mut t, 0);
        m.apply(&mut t, &change(3, Close, SynSent, 0, 80));
        m.apply(&mut t, &change(3, SynSent, Close, 0, 80));
        assert_eq!(contents(&t).len(), 1);
        m.apply(&mut t, &change(9, Listen, Close, 80, 0));
        assert!(m.is_empty() && t.records.is_empty());
        // A change to a socket never seen into CLOSE is nothing to remove.
        m.apply(&mut t, &change(4, Established, Close, 1, 2));
        assert!(t.records.is_empty());
    }

    #[test]
    fn a_new_connection_on_the_tuple_of_a_time_wait_takes_it_over() {
        let mut tw = record(5, TimeWait, 40000, 80);
        tw.expires_ms = 50_000;
        let mut t = table_of(&[tw, record(6, Established, 40001, 80)]);
        let mut m = Maintained::new();
        m.reset(&mut t, 100 * S);
        m.apply(&mut t, &change(7, Close, SynSent, 0, 80));
        m.apply(&mut t, &change(7, SynSent, Established, 40001, 81));
        assert_eq!(contents(&t).len(), 3, "another tuple takes nothing over");
        m.apply(&mut t, &change(8, Close, SynSent, 0, 80));
        m.apply(&mut t, &change(8, SynSent, Established, 40000, 80));
        let left = contents(&t);
        assert_eq!(left.keys().copied().collect::<Vec<_>>(), [6, 7, 8]);
        // The cgroups follow their records through the removal.
        for (i, r) in t.records.iter().enumerate() {
            let expected = if r.cookie == 6 { 6 } else { 7 };
            assert_eq!(t.cgroups.id(i), expected, "record {i}");
        }
    }

    #[test]
    fn a_dump_dates_time_wait_ends_and_drops_a_socket_met_twice() {
        let mut tw = record(1, TimeWait, 40000, 80);
        tw.expires_ms = 2_000;
        let mut t = table_of(&[
            tw,
            record(2, Established, 1, 2),
            record(2, Established, 1, 2),
        ]);
        let mut m = Maintained::new();
        m.reset(&mut t, 10 * S);
        assert_eq!((m.len(), t.records.len(), t.cgroups.len()), (2, 2, 2));
        m.age(&mut t, 12 * S + TIME_WAIT_LATE_NS - 1);
        assert_eq!(m.len(), 2);
        m.age(&mut t, 12 * S + TIME_WAIT_LATE_NS);
        assert_eq!(contents(&t).keys().copied().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn changes_without_an_event_are_untraced_differences_and_timewait_sockets_age() {
        let (mut m, mut t) = (Maintained::new(), Table::new());
        for (old, new) in [
            (Close, SynSent),
            (SynSent, Established),
            (Established, FinWait1),
        ] {
            m.apply(&mut t, &change(1, old, new, 40000, 80));
        }
        // The ACK of its FIN: an orphan goes to FIN_WAIT2 and at once into a timewait socket.
        m.apply(&mut t, &change(1, FinWait1, FinWait2, 40000, 80));
        m.apply(&mut t, &change(1, FinWait2, Close, 40000, 80));
        let mut waiting = record(1, FinWait2, 40000, 80);
        waiting.timer = TimerKind::Timewait;
        waiting.expires_ms = 59_000;
        t = table_of(&[waiting]);
        let window = Window {
            from: 101 * S,
            start: 101 * S,
            end: 101 * S,
        };
        let r = m.resync(&mut t, window, &[]);
        assert_eq!((r.diff.state, r.diff.untraced, r.explained), (1, 1, 1));
        // The peer's FIN turns it TIME_WAIT, without an event either.
        let mut got_fin = record(1, TimeWait, 40000, 80);
        got_fin.timer = TimerKind::Timewait;
        got_fin.expires_ms = 59_000;
        t = table_of(&[got_fin]);
        let r = m.resync(&mut t, window, &[]);
        assert_eq!((r.diff.state, r.diff.untraced, r.explained), (1, 1, 1));
        // A FIN_WAIT1 socket the kernel took into TIME_WAIT silently: untraced, in either dump.
        let mut closing = table_of(&[record(3, FinWait1, 40002, 80)]);
        let mut fresh = Maintained::new();
        fresh.reset(&mut closing, 101 * S);
        closing = table_of(&[got_fin]);
        closing.records[0].cookie = 3;
        let r = fresh.resync(&mut closing, window, &[]);
        assert_eq!((r.diff.state, r.diff.untraced), (1, 1));
        let mut ended = table_of(&[record(3, FinWait1, 40002, 80)]);
        fresh.reset(&mut ended, 101 * S);
        let r = fresh.resync(&mut Table::new(), window, &[]);
        assert_eq!((r.diff.extra, r.diff.untraced), (1, 1));
        // A full FIN_WAIT2 socket (not closed yet) that shows TIME_WAIT has missed its event.
        let mut open = record(2, FinWait2, 40001, 80);
        open.timer = TimerKind::Off;
        let mut full = table_of(&[open]);
        let mut fresh = Maintained::new();
        fresh.reset(&mut full, 101 * S);
        full = table_of(&[record(2, TimeWait, 40001, 80)]);
        let r = fresh.resync(&mut full, window, &[]);
        assert_eq!((r.diff.state, r.diff.untraced), (1, 0));
        // From the dump on, it ends with its timer although no event comes.
        m.age(&mut t, 160 * S + TIME_WAIT_LATE_NS - 1);
        assert_eq!(m.len(), 1);
        m.age(&mut t, 160 * S + TIME_WAIT_LATE_NS);
        assert!(m.is_empty());
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn any_sequence_of_changes_leaves_the_index_and_the_records_in_step() {
        let states = [
            SynSent,
            SynRecv,
            Established,
            FinWait1,
            FinWait2,
            CloseWait,
            Close,
        ];
        let (mut m, mut t) = (Maintained::new(), Table::new());
        let mut expected: BTreeMap<u64, (TcpState, u16, u16)> = BTreeMap::new();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for step in 0..5000u64 {
            let cookie = 1 + rng.below(64);
            let new = states[rng.below(states.len() as u64) as usize];
            let old = expected.get(&cookie).map_or(Close, |e| e.0);
            // Distinct tuples per cookie: no takeover here.
            let c = at(change(cookie, old, new, 1000 + cookie as u16, 80), step);
            m.apply(&mut t, &c);
            match (old, new) {
                (FinWait2, Close) => expected.insert(cookie, (TimeWait, c.local.port, 80)),
                (_, Close) => expected.remove(&cookie),
                _ => expected.insert(cookie, (new, c.local.port, 80)),
            };
            assert_eq!(contents(&t), expected, "step {step}");
            assert_eq!(
                (m.len(), t.cgroups.len()),
                (t.records.len(), t.records.len())
            );
        }
        m.age(&mut t, u64::MAX);
        expected.retain(|_, e| e.0 != TimeWait);
        assert_eq!(contents(&t), expected);
    }

    #[test]
    fn a_resync_counts_each_kind_of_difference_and_starts_over_from_the_dump() {
        let mut t = table_of(&[
            record(1, Established, 1, 80),
            record(2, Established, 2, 80),
            record(3, Listen, 80, 0),
            record(4, BoundInactive, 5, 0),
        ]);
        let mut m = Maintained::new();
        m.reset(&mut t, 0);
        // Nothing changed: a quiet host's resync finds nothing.
        let window = Window {
            from: 10 * S,
            start: 10 * S,
            end: 11 * S,
        };
        assert_eq!(m.resync(&mut t, window, &[]), Resync::default());
        // The dump: 1 closed meanwhile and 2 moved on (events the table missed), a request socket
        // appeared and the bound socket went (untraced), 5 is new and its change lies inside the
        // window.
        t = table_of(&[
            record(2, CloseWait, 2, 80),
            record(3, Listen, 80, 0),
            record(6, NewSynRecv, 80, 4),
            record(5, Established, 3, 80),
        ]);
        let since = [
            at(change(5, SynSent, Established, 3, 80), 10 * S + 1),
            at(change(5, Established, FinWait1, 3, 80), 12 * S),
        ];
        let r = m.resync(&mut t, window, &since);
        assert_eq!(
            r.diff,
            Diff {
                missing: 2,
                extra: 2,
                state: 1,
                untraced: 2,
            }
        );
        assert_eq!(r.diff.total(), 5);
        assert_eq!(
            r.explained,
            2 + 1,
            "untraced, and one change inside the window"
        );
        let now = contents(&t);
        assert_eq!(
            now[&5],
            (FinWait1, 3, 80),
            "changes since the window's start apply"
        );
        assert_eq!(now.keys().copied().collect::<Vec<_>>(), [2, 3, 5, 6]);
    }

    #[test]
    fn time_wait_ends_near_the_dump_are_explained() {
        let mut tw = record(1, TimeWait, 1, 80);
        tw.expires_ms = 60_000;
        let mut t = table_of(&[tw]);
        let mut m = Maintained::new();
        m.reset(&mut t, 0);
        // The dump ran just as the maintained end passed: the kernel's timer may not have fired.
        let window = Window {
            from: 61 * S,
            start: 61 * S,
            end: 61 * S + 100_000_000,
        };
        m.age(&mut t, window.start);
        assert!(m.is_empty());
        let mut dumped = record(1, TimeWait, 1, 80);
        dumped.expires_ms = 0;
        t = table_of(&[dumped]);
        let r = m.resync(&mut t, window, &[]);
        assert_eq!((r.diff.missing, r.explained), (1, 1));
        // A TIME_WAIT the kernel ended long before its time (a peer's RST): untraced.
        let r = m.resync(&mut table_of(&[]), window, &[]);
        assert_eq!((r.diff.extra, r.diff.untraced), (1, 1));
    }
}
