//! The events of one network namespace, tallied for the dashboard and `snapshot --watch`: picks and
//! failed port searches per destination (with the processes that failed, and the failures of the
//! last minute), the picks since the last refresh, and a pointer model fed with every pick as it
//! happens, scored on each, with the run of busy ports each pick had to skip.
//!
//! One thread records events; the refresh takes what it needs at each refresh ([`Ledger::take`])
//! and hands back the occupancy it dumped ([`Ledger::set_occupancy`]), against which the skips of
//! the next picks are counted; the UI reads the latest picks ([`Ledger::picks_after`]). Everything is
//! bounded: destinations that had no event for a while are forgotten, and so are picks nobody took.
//!
//! The ledger also carries the namespace's state changes to the refresher ([`Ledger::changes`]), for
//! the socket table it maintains between dumps, and what its last resync found.

use super::{Changes, Connectors, Event, EventKind};
use crate::model::{DestinationEvents, EventInput, EventsSummary, Failer, PickSeen, ResyncFound};
use crate::pointer::{DestinationKey, PointerEstimate, PointerTracker, skip_run};
use crate::portset::PortSet;
use crate::settings::PortRange;
use crate::socket::Endpoint;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Processes remembered per destination (the ones with the fewest failures make room).
const MAX_FAILERS: usize = 8;
/// Picks kept for the next refresh at most; the rest are only counted.
const MAX_PENDING: usize = 1 << 16;
/// Picks kept for the UI.
const MAX_RECENT: usize = 64;
/// A destination without events for this long, and absent from the last dump, is forgotten.
const FORGET_NS: u64 = 600 * NS_PER_S;
const NS_PER_S: u64 = 1_000_000_000;
/// Seconds of failures counted as "the last minute".
const MINUTE_S: u64 = 60;

/// One pick as the UI sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivePick {
    /// Counts picks since the ledger began, from 1.
    pub seq: u64,
    pub local: Endpoint,
    pub remote: Endpoint,
    /// The busy ports of its parity before it, against the occupancy known at the time.
    pub skipped: u32,
}

/// One destination's counts.
#[derive(Debug, Default)]
struct Tally {
    picks: u64,
    failures: u64,
    /// Failures per second of the boot clock, the last minute's.
    recent_failures: VecDeque<(u64, u64)>,
    failing: Vec<Failer>,
    last_event_ns: u64,
}

impl Tally {
    fn fail(&mut self, e: &Event) {
        self.failures += 1;
        let second = e.time_ns / NS_PER_S;
        match self.recent_failures.back_mut() {
            Some((s, n)) if *s == second => *n += 1,
            _ => self.recent_failures.push_back((second, 1)),
        }
        self.forget_failures_before(second.saturating_sub(MINUTE_S - 1));
        let known = (self.failing.iter()).position(|f| f.pid == e.pid && f.comm == e.comm);
        let least = (self.failing.iter().enumerate())
            .min_by_key(|(_, f)| f.count)
            .map(|(i, _)| i);
        match (known, least) {
            (Some(i), _) => self.failing[i].count += 1,
            (None, _) if self.failing.len() < MAX_FAILERS => self.failing.push(Failer {
                pid: e.pid,
                comm: e.comm.clone(),
                count: 1,
            }),
            // The process with the fewest failures gives way; its count carries over.
            (None, Some(i)) => {
                let f = &mut self.failing[i];
                f.pid = e.pid;
                f.comm = e.comm.clone();
                f.count += 1;
            }
            (None, None) => {}
        }
        self.failing.sort_by_key(|f| std::cmp::Reverse(f.count));
    }

    fn forget_failures_before(&mut self, second: u64) {
        while self
            .recent_failures
            .front()
            .is_some_and(|(s, _)| *s < second)
        {
            self.recent_failures.pop_front();
        }
    }

    fn counts(&self, now_s: u64) -> DestinationEvents {
        let since = now_s.saturating_sub(MINUTE_S - 1);
        DestinationEvents {
            picks: self.picks,
            failures: self.failures,
            failures_last_minute: (self.recent_failures.iter())
                .filter(|(s, _)| *s >= since)
                .map(|(_, n)| n)
                .sum(),
            failing: self.failing.clone(),
        }
    }
}

/// The tallies of one namespace's events.
#[derive(Debug)]
pub struct Ledger {
    netns: u32,
    picks: u64,
    failures: u64,
    lost: u64,
    tallies: FxHashMap<Endpoint, Tally>,
    /// Picks since the last [`Ledger::take`].
    pending: Vec<PickSeen>,
    recent: VecDeque<LivePick>,
    tracker: Option<PointerTracker>,
    /// Ports in use toward each destination the model tracks: the last dump's, plus later picks.
    occupancy: FxHashMap<DestinationKey, FxHashSet<u16>>,
    /// Ports no connect() may take: reserved, listening, bound.
    blocked: PortSet,
    /// Why events stopped, once they did.
    stopped: Option<String>,
    /// Who connected each recent connection.
    connectors: Connectors,
    changes: Changes,
}

impl Ledger {
    /// An empty ledger for the namespace with inode `netns`.
    pub fn new(netns: u32) -> Ledger {
        Ledger {
            netns,
            picks: 0,
            failures: 0,
            lost: 0,
            tallies: FxHashMap::default(),
            pending: Vec::new(),
            recent: VecDeque::with_capacity(MAX_RECENT),
            tracker: None,
            occupancy: FxHashMap::default(),
            blocked: PortSet::new(),
            stopped: None,
            connectors: Connectors::default(),
            changes: Changes::default(),
        }
    }

    /// The inode of the namespace whose events are kept.
    pub fn netns(&self) -> u32 {
        self.netns
    }

    /// What the last resync of the maintained socket table with a dump found.
    pub fn resync(&self) -> Option<ResyncFound> {
        self.changes.resync()
    }

    /// The boot-clock time before which every state change has been queued
    /// ([`Changes::caught_up`]).
    pub fn changes_caught_up(&self) -> u64 {
        self.changes.caught_up()
    }

    /// The namespace's state changes not yet taken, for the maintained socket table.
    pub fn changes(&mut self) -> &mut Changes {
        &mut self.changes
    }

    /// Tallies one event; events of other namespaces and bound ports are left out.
    pub fn record(&mut self, e: &Event) {
        if e.netns != self.netns {
            return;
        }
        match e.kind {
            EventKind::Pick | EventKind::NoPort => self.pick(e),
            EventKind::Fail => {
                self.failures += 1;
                self.tally(e).fail(e);
            }
            EventKind::Bound => {}
        }
    }

    fn tally(&mut self, e: &Event) -> &mut Tally {
        let t = self.tallies.entry(e.remote).or_default();
        t.last_event_ns = e.time_ns;
        t
    }

    fn pick(&mut self, e: &Event) {
        self.picks += 1;
        (self.connectors).connected(e.local, e.remote, e.pid, &e.comm, e.time_ns);
        self.tally(e).picks += 1;
        let key = DestinationKey {
            local_ip: e.local.ip,
            remote: SocketAddr::new(e.remote.ip, e.remote.port),
        };
        let port = e.local.port;
        let mut skipped = 0;
        if let Some(tracker) = &mut self.tracker {
            let busy = self.occupancy.entry(key).or_default();
            let blocked = &self.blocked;
            skipped = skip_run(tracker.range(), port, |p| {
                busy.contains(&p) || blocked.contains(p)
            });
            busy.insert(port);
            tracker.observe_pick(key, port, skipped);
        }
        if self.pending.len() < MAX_PENDING {
            self.pending.push(PickSeen {
                local: e.local,
                remote: e.remote,
            });
        }
        if self.recent.len() == MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(LivePick {
            seq: self.picks,
            local: e.local,
            remote: e.remote,
            skipped,
        });
    }

    /// Sets the records lost so far.
    pub fn set_lost(&mut self, lost: u64) {
        self.lost = lost;
    }

    /// Records lost so far (a lost state change leaves the maintained table wrong until a resync).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Events stopped (the reader failed): says why from now on.
    pub fn stop(&mut self, reason: String) {
        self.stopped = Some(reason);
    }

    /// Who connected each recent connection (see [`Connectors`]).
    pub fn connectors(&self) -> &Connectors {
        &self.connectors
    }

    /// Why events stopped, if they did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// What a refresh at boot-clock time `now_ns` needs, for ports of `range`: the counts, the picks
    /// since the previous take (those `keep` accepts), and the pointer model's estimates. A new range
    /// starts a new pointer model.
    pub fn take(
        &mut self,
        range: PortRange,
        now_ns: u64,
        keep: impl Fn(&PickSeen) -> bool,
    ) -> EventInput {
        if self.tracker.as_ref().is_none_or(|t| t.range() != range) {
            self.tracker = Some(PointerTracker::new(range));
            self.occupancy.clear();
        }
        let now_s = now_ns / NS_PER_S;
        let tracker = self.tracker.as_ref();
        EventInput {
            summary: Some(EventsSummary {
                source: "bpf".into(),
                picks: self.picks,
                failures: self.failures,
                lost: self.lost,
                resync: self.resync(),
            }),
            destinations: (self.tallies.iter())
                .map(|(remote, t)| (*remote, t.counts(now_s)))
                .collect(),
            picks: self.pending.drain(..).filter(|p| keep(p)).collect(),
            pointers: tracker
                .map(|t| t.destinations().map(|(k, e)| (*k, e.clone())).collect())
                .unwrap_or_default(),
            score: tracker.map(PointerTracker::score).unwrap_or_default(),
        }
    }

    /// The ports a dump found in use toward each destination (`(local ip, remote)`, local port) and
    /// the ports blocked for all; forgets destinations gone from the dump without a recent event.
    pub fn set_occupancy(
        &mut self,
        used: impl IntoIterator<Item = (DestinationKey, u16)>,
        blocked: PortSet,
        now_ns: u64,
    ) {
        self.blocked = blocked;
        let tracker = self.tracker.as_ref();
        let tracked = |k: &DestinationKey| tracker.is_some_and(|t| t.estimate(k).is_some());
        let mut occupancy: FxHashMap<DestinationKey, FxHashSet<u16>> = FxHashMap::default();
        let mut dumped: FxHashSet<SocketAddr> = FxHashSet::default();
        for (key, port) in used {
            dumped.insert(key.remote);
            let remote = Endpoint::new(key.remote.ip(), key.remote.port());
            self.connectors
                .seen(Endpoint::new(key.local_ip, port), remote, now_ns);
            if tracked(&key) {
                occupancy.entry(key).or_default().insert(port);
            }
        }
        self.occupancy = occupancy;
        self.connectors.forget_unseen(now_ns);
        let fresh = |t: &Tally| now_ns.saturating_sub(t.last_event_ns) < FORGET_NS;
        self.tallies.retain(|remote, t| {
            fresh(t) || dumped.contains(&SocketAddr::new(remote.ip, remote.port))
        });
        let remembered: FxHashSet<SocketAddr> = (self.tallies.keys())
            .map(|r| SocketAddr::new(r.ip, r.port))
            .collect();
        if let Some(t) = &mut self.tracker {
            t.retain(|k| remembered.contains(&k.remote) || dumped.contains(&k.remote));
        }
    }

    /// The picks after pick number `seq` that are still kept (the latest [`MAX_RECENT`]), oldest
    /// first, and the pointer estimate of the destination of each one's `(local ip, remote)`.
    pub fn picks_after(&self, seq: u64) -> Vec<(LivePick, Option<PointerEstimate>)> {
        let tracker = self.tracker.as_ref();
        self.recent
            .iter()
            .filter(|p| p.seq > seq)
            .map(|p| {
                let key = DestinationKey {
                    local_ip: p.local.ip,
                    remote: SocketAddr::new(p.remote.ip, p.remote.port),
                };
                (*p, tracker.and_then(|t| t.estimate(&key)).cloned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::TcpState;

    const NS: u32 = 4_026_531_840;

    fn event(kind: EventKind, local_port: u16, time_s: u64, pid: u32) -> Event {
        Event {
            kind,
            time_ns: time_s * NS_PER_S,
            local: Endpoint::new([127, 0, 0, 1].into(), local_port),
            remote: Endpoint::new([127, 0, 0, 1].into(), 50001),
            state: TcpState::Established,
            pid,
            comm: format!("task{pid}"),
            cgroup: 1,
            netns: NS,
            cookie: u64::from(local_port),
        }
    }

    fn key() -> DestinationKey {
        DestinationKey {
            local_ip: [127, 0, 0, 1].into(),
            remote: "127.0.0.1:50001".parse().unwrap(),
        }
    }

    fn range() -> PortRange {
        PortRange {
            low: 40000,
            high: 40009,
        }
    }

    #[test]
    fn picks_and_failures_are_counted_per_destination_with_the_failing_processes() {
        let mut l = Ledger::new(NS);
        l.record(&event(EventKind::Pick, 40000, 100, 5));
        l.record(&event(EventKind::Bound, 41000, 100, 5));
        l.record(&event(EventKind::Fail, 0, 100, 5));
        l.record(&event(EventKind::Fail, 0, 150, 6));
        l.record(&event(EventKind::Fail, 0, 170, 6));
        let mut other = event(EventKind::Fail, 0, 170, 6);
        other.netns = NS + 1;
        l.record(&other);
        let input = l.take(range(), 171 * NS_PER_S, |_| true);
        assert_eq!(
            input.summary,
            Some(EventsSummary {
                source: "bpf".into(),
                picks: 1,
                failures: 3,
                lost: 0,
                resync: None,
            })
        );
        let d = &input.destinations[&"127.0.0.1:50001".parse().unwrap()];
        assert_eq!((d.picks, d.failures, d.failures_last_minute), (1, 3, 2));
        let failing: Vec<_> = d.failing.iter().map(|f| (f.pid, f.count)).collect();
        assert_eq!(failing, [(6, 2), (5, 1)]);
        assert_eq!(input.picks.len(), 1);
        assert!(
            l.take(range(), 171 * NS_PER_S, |_| true).picks.is_empty(),
            "taken once"
        );
    }

    #[test]
    fn every_pick_is_scored_and_skips_are_counted_against_the_dumped_occupancy() {
        let mut l = Ledger::new(NS);
        l.take(range(), 0, |_| true);
        l.record(&event(EventKind::Pick, 40000, 1, 5));
        let used = [(key(), 40000), (key(), 40002)];
        let mut blocked = PortSet::new();
        blocked.insert(40004);
        l.set_occupancy(used, blocked, NS_PER_S);
        // 40002 (dumped) and 40004 (blocked) lie before 40006, then 40000 (dumped), then free 40008.
        l.record(&event(EventKind::Pick, 40006, 2, 5));
        let picks = l.picks_after(0);
        assert_eq!(picks.len(), 2);
        assert_eq!(picks[1].0.skipped, 3);
        let estimate = picks[1].1.as_ref().expect("an estimate");
        assert_eq!((estimate.skipped, estimate.last_port), (Some(3), 40006));
        assert_eq!(estimate.score.predicted, 1, "the second pick was scored");
        assert_eq!(l.picks_after(1).len(), 1);
        let input = l.take(range(), 2 * NS_PER_S, |p| p.local.port != 40000);
        assert_eq!(input.picks.len(), 1, "the filter applies");
        assert_eq!(input.score.predicted, 1);
        assert!(input.pointers.contains_key(&key()));
    }

    #[test]
    fn who_connected_is_kept_while_dumped_and_forgotten_70_seconds_after() {
        use crate::events::connectors::KEEP_NS;
        let mut l = Ledger::new(NS);
        l.take(range(), 0, |_| true);
        let e = event(EventKind::Pick, 40000, 1, 5);
        l.record(&e);
        assert_eq!(l.connectors().get(e.local, e.remote), Some((5, "task5")));
        // Dumped (its TIME_WAIT, say) until second 100.
        l.set_occupancy([(key(), 40000)], PortSet::new(), 100 * NS_PER_S);
        l.set_occupancy([], PortSet::new(), 100 * NS_PER_S + KEEP_NS);
        assert_eq!(l.connectors().get(e.local, e.remote), Some((5, "task5")));
        l.set_occupancy([], PortSet::new(), 101 * NS_PER_S + KEEP_NS);
        assert!(l.connectors().is_empty());
    }

    #[test]
    fn quiet_destinations_gone_from_the_dump_are_forgotten() {
        let mut l = Ledger::new(NS);
        l.take(range(), 0, |_| true);
        l.record(&event(EventKind::Pick, 40000, 1, 5));
        l.set_occupancy([], PortSet::new(), 2 * NS_PER_S);
        assert_eq!(
            l.take(range(), 2 * NS_PER_S, |_| true).destinations.len(),
            1
        );
        l.set_occupancy([], PortSet::new(), 1000 * NS_PER_S);
        let input = l.take(range(), 1000 * NS_PER_S, |_| true);
        assert!(input.destinations.is_empty() && input.pointers.is_empty());
        assert_eq!(input.summary.unwrap().picks, 1, "totals stay");
    }
}
