//! What earlier refreshes saw: the connections of the previous table, so a refresh can tell new
//! connections (for rates and for the allocations the dial's pointer follows) from old ones.
//!
//! A connection is its 4-tuple plus its socket cookie: connect() may take over a TIME_WAIT entry
//! (`tcp_tw_reuse`), which keeps the tuple, but the new socket has a cookie of its own. A socket that
//! merely moves on keeps its cookie, into TIME_WAIT too (the timewait minisocket inherits it once a
//! dump has given the socket one). Two changes of cookie are not new connections: an accepted
//! socket replacing its request socket (NEW_SYN_RECV), and a socket turning into a timewait
//! minisocket on a kernel that does not carry the cookie over.

use super::portgroups::PortGroups;
use super::recent::RecentPorts;
use super::{Destination, Direction, Input, PortFacts};
use crate::pointer::{self, Allocation, DestinationKey, PointerTracker, Score, creation_order};
use crate::settings::PortRange;
use crate::socket::{Endpoint, SockRecord, TcpState, TimerKind};
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

/// Time constant of the rate smoothing: a step change shows two thirds of itself after this long.
const RATE_TAU_S: f64 = 5.0;

/// State kept between refreshes. Buffers are reused, so a refresh allocates nothing once warm.
#[derive(Debug, Default)]
pub struct History {
    prev: Vec<Conn>,
    next: Vec<Conn>,
    /// The tuples of this table's connections that are new since the previous one, sorted.
    fresh: Vec<u64>,
    prev_time: Option<SystemTime>,
    /// Smoothed new connections per second, per destination seen in the previous refresh.
    rates: FxHashMap<Endpoint, f64>,
    /// The search-pointer model, fed with the ports allocated between refreshes.
    pointer: Option<PointerTracker>,
    /// Listener ports and client binds seen lately.
    ports: RecentPorts,
}

/// One connection of a table, sorted by tuple: 16 bytes, two of them per socket are kept.
#[derive(Clone, Copy, Debug, Default)]
struct Conn {
    tuple: u64,
    /// The socket cookie in the low 56 bits (0 when unknown: procfs, or a socket no dump has asked
    /// for one; the kernel counts cookies up from 1, so 56 bits do not run out), the state in the
    /// next 7 and whether it is a timewait minisocket in the top one.
    packed: u64,
}

const COOKIE_BITS: u32 = 56;
const COOKIE_MASK: u64 = (1 << COOKIE_BITS) - 1;
const MINISOCKET: u64 = 1 << 63;

impl Conn {
    fn new(tuple: u64, cookie: u64, state: TcpState, minisocket: bool) -> Conn {
        let flag = if minisocket { MINISOCKET } else { 0 };
        Conn {
            tuple,
            packed: (cookie & COOKIE_MASK)
                | (u64::from(state.kernel_number()) << COOKIE_BITS)
                | flag,
        }
    }

    fn of(r: &SockRecord) -> Conn {
        let minisocket = r.state == TcpState::TimeWait || r.timer == TimerKind::Timewait;
        Conn::new(
            tuple_hash(&r.local, &r.remote),
            r.cookie,
            r.state,
            minisocket,
        )
    }

    fn cookie(&self) -> u64 {
        self.packed & COOKIE_MASK
    }

    fn state(&self) -> Option<TcpState> {
        TcpState::from_kernel(((self.packed & !MINISOCKET) >> COOKIE_BITS) as u8)
    }

    fn minisocket(&self) -> bool {
        self.packed & MINISOCKET != 0
    }

    /// Whether `self`, with the same tuple as `before`, is another connection.
    fn replaced(&self, before: &Conn) -> bool {
        let (now, then) = (self.cookie(), before.cookie());
        if now == 0 || then == 0 || now == then {
            return false;
        }
        match before.state() {
            // Only connect() takes over a TIME_WAIT tuple.
            Some(TcpState::TimeWait) => true,
            Some(TcpState::NewSynRecv) => false,
            _ => !self.minisocket(),
        }
    }
}

/// Whether `r` is a connection, or a socket caught in CLOSE with its peer still set: a dump that races
/// a socket into TIME_WAIT reports the full socket it had already picked as CLOSE, so its tuple must
/// not look new when the next refresh sees the timewait entry.
fn holds_tuple(r: &SockRecord) -> bool {
    r.state.is_connection() || (r.state == TcpState::Close && r.remote.port != 0)
}

/// The previous refresh as one aggregation sees it.
pub(crate) struct Seen<'h> {
    /// The tuples of the connections new since the previous refresh (`None` on the first): few in a steady table, so
    /// looking one up stays in cache, unlike a search of the whole previous table.
    fresh: Option<&'h [u64]>,
    /// This table's connections, sorted by tuple.
    now: &'h [Conn],
    pub elapsed_s: Option<f64>,
}

impl History {
    /// Records this table's connections and returns what the previous refresh saw.
    pub(crate) fn advance(&mut self, records: &[SockRecord], now: SystemTime) -> Seen<'_> {
        self.next = sorted_connections(records, std::mem::take(&mut self.next));
        // This table's connections become `prev` for the next refresh; `next` now holds the old ones.
        std::mem::swap(&mut self.prev, &mut self.next);
        new_connections(&self.prev, &self.next, &mut self.fresh);
        let had = self.prev_time.replace(now);
        Seen {
            fresh: had.map(|_| self.fresh.as_slice()),
            now: &self.prev,
            elapsed_s: had
                .and_then(|t| now.duration_since(t).ok())
                .map(|d| d.as_secs_f64()),
        }
    }
}

impl History {
    /// Adds the listener ports and client binds of recent refreshes to `facts`, remembering this
    /// table's.
    pub(crate) fn recall_ports(&mut self, facts: &mut PortFacts, now: SystemTime) {
        self.ports.update(facts, now);
    }

    /// Updates each destination's smoothed rate from its new connections over `elapsed_s`, and
    /// forgets destinations that are gone.
    pub(crate) fn smooth_rates(&mut self, dests: &mut [Destination], elapsed_s: Option<f64>) {
        let Some(dt) = elapsed_s.filter(|dt| *dt > 0.0) else {
            return;
        };
        let alpha = 1.0 - (-dt / RATE_TAU_S).exp();
        let mut next = FxHashMap::with_capacity_and_hasher(dests.len(), Default::default());
        for d in dests {
            let now = f64::from(d.new_since_last) / dt;
            let rate = match self.rates.get(&d.remote) {
                Some(prev) => prev + alpha * (now - prev),
                None => now,
            };
            d.new_per_s = Some(rate);
            next.insert(d.remote, rate);
        }
        self.rates = next;
    }
}

impl History {
    /// Feeds the pointer model this refresh's allocations (in creation order; on the first refresh
    /// they only seed it, unscored), forgets destinations that are gone, attaches each destination's
    /// estimate, and returns the running score.
    pub(crate) fn track_pointers(
        &mut self,
        range: PortRange,
        allocations: &[Allocation],
        dests: &mut [Destination],
    ) -> Score {
        let tracker = match &mut self.pointer {
            Some(t) if t.range() == range => {
                for a in allocations {
                    t.observe(a.key, a.port);
                }
                t
            }
            slot => {
                let t = slot.insert(PointerTracker::new(range));
                t.seed(allocations.iter().copied());
                t
            }
        };
        let keys: FxHashSet<DestinationKey> = dests.iter().filter_map(pointer_key).collect();
        tracker.retain(|k| keys.contains(k));
        for d in dests.iter_mut() {
            d.pointer = pointer_key(d).and_then(|k| tracker.estimate(&k)).cloned();
        }
        tracker.score()
    }
}

/// The pointer a destination is shown with: that of its local ip with the least headroom.
pub(super) fn pointer_key(d: &Destination) -> Option<DestinationKey> {
    let h = d.tightest()?;
    Some(DestinationKey {
        local_ip: h.local_ip,
        remote: SocketAddr::new(d.remote.ip, d.remote.port),
    })
}

impl Seen<'_> {
    /// Whether `r` is new since the previous refresh; `None` on the first refresh.
    pub fn is_new(&self, r: &SockRecord) -> Option<bool> {
        self.fresh.map(|fresh| {
            fresh
                .binary_search(&tuple_hash(&r.local, &r.remote))
                .is_ok()
        })
    }

    /// Whether this table holds a connection from `local` to `remote` (or a socket caught closing
    /// with that peer), by a binary search of its connections rather than a pass over the table.
    pub fn holds(&self, local: &Endpoint, remote: &Endpoint) -> bool {
        let tuple = tuple_hash(local, remote);
        self.now.binary_search_by_key(&tuple, |c| c.tuple).is_ok()
    }

    /// Outbound sockets whose port the kernel picked from the range and that are new since the
    /// previous refresh, in creation order as well as inodes tell it. On the first refresh every such
    /// socket is "new": only the newest [`pointer::HISTORY`] per destination are kept, which is all
    /// the pointer model looks at, so a million-socket table does not make a million allocations.
    pub fn allocations(&self, input: &Input<'_>, facts: &PortFacts) -> Vec<Allocation> {
        let range = input.settings.port_range;
        let auto = input.records.iter().filter(|r| {
            facts.direction(r) == Direction::Outbound
                && range.contains(r.local.port)
                && !facts.blocked.contains(r.local.port)
        });
        let picked: Vec<Allocation> = match self.fresh {
            Some(_) => auto
                .filter(|r| self.is_new(r) == Some(true))
                .map(allocation)
                .collect(),
            None => newest_per_destination(auto),
        };
        creation_order(picked)
    }
}

fn allocation(r: &SockRecord) -> Allocation {
    Allocation {
        key: DestinationKey {
            local_ip: r.local.ip,
            remote: SocketAddr::new(r.remote.ip, r.remote.port),
        },
        port: r.local.port,
        inode: r.inode,
    }
}

/// The newest [`pointer::HISTORY`] sockets (by inode) toward each destination.
fn newest_per_destination<'a>(records: impl Iterator<Item = &'a SockRecord>) -> Vec<Allocation> {
    let mut per_key: FxHashMap<DestinationKey, Vec<Allocation>> = FxHashMap::default();
    for r in records {
        let a = allocation(r);
        let kept = per_key.entry(a.key).or_default();
        kept.push(a);
        if kept.len() >= 4 * pointer::HISTORY {
            keep_newest(kept);
        }
    }
    per_key
        .into_values()
        .flat_map(|mut kept| {
            keep_newest(&mut kept);
            kept
        })
        .collect()
}

/// Keeps the last [`pointer::HISTORY`] by inode; equal inodes (TIME_WAIT has none) keep the table's
/// order.
fn keep_newest(kept: &mut Vec<Allocation>) {
    kept.sort_by_key(|a| a.inode);
    let excess = kept.len().saturating_sub(pointer::HISTORY);
    kept.drain(..excess);
}

/// The connections of `records` sorted by tuple, in the allocation of `buffer`: grouped by the top
/// 16 bits of their tuple hash (well mixed, so a group holds a handful even in a million), then each
/// group sorted.
fn sorted_connections(records: &[SockRecord], buffer: Vec<Conn>) -> Vec<Conn> {
    let conns = records.iter().filter(|r| holds_tuple(r)).map(Conn::of);
    let mut groups = PortGroups::from_pairs_in(conns.map(|c| ((c.tuple >> 48) as u16, c)), buffer);
    for group in groups.groups_mut() {
        group.sort_unstable_by_key(|c| c.tuple);
    }
    groups.into_items()
}

/// Fills `out` with the tuples of `now` that are new connections since `before` (both sorted by
/// tuple), in one linear pass.
fn new_connections(now: &[Conn], before: &[Conn], out: &mut Vec<u64>) {
    out.clear();
    let mut old = before.iter().peekable();
    for s in now {
        while old.next_if(|o| o.tuple < s.tuple).is_some() {}
        let is_new = match old.peek() {
            Some(o) if o.tuple == s.tuple => s.replaced(o),
            _ => true,
        };
        if is_new {
            out.push(s.tuple);
        }
    }
}

/// A 64-bit hash of a 4-tuple.
fn tuple_hash(local: &Endpoint, remote: &Endpoint) -> u64 {
    fn ep(e: &Endpoint) -> u128 {
        let ip = match e.ip {
            IpAddr::V4(ip) => u128::from(ip.to_bits()),
            IpAddr::V6(ip) => ip.to_bits(),
        };
        ip ^ (u128::from(e.port) << 112) ^ u128::from(e.port)
    }
    let mix = |x: u128| {
        let v = (x as u64) ^ ((x >> 64) as u64).rotate_left(29);
        (v ^ (v >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    };
    mix(ep(local)) ^ mix(ep(remote)).rotate_left(17)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::rec;
    use crate::socket::TcpState::*;
    use std::time::Duration;

    #[test]
    fn first_refresh_knows_nothing_then_new_tuples_show() {
        let mut h = History::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let a = rec("127.0.0.1:40000", "127.0.0.2:80", Established);
        let b = rec("127.0.0.1:40002", "127.0.0.2:80", Established);
        let seen = h.advance(&[a], t0);
        assert_eq!(seen.is_new(&a), None);
        assert_eq!(seen.elapsed_s, None);
        let seen = h.advance(&[a, b], t0 + Duration::from_secs(2));
        assert_eq!(seen.is_new(&a), Some(false));
        assert_eq!(seen.is_new(&b), Some(true));
        assert_eq!(seen.elapsed_s, Some(2.0));
        // Only the refresh just before counts: `c` was seen two refreshes ago, then went away.
        let c = rec("127.0.0.1:40004", "127.0.0.2:80", Established);
        h.advance(&[c], t0 + Duration::from_secs(3));
        h.advance(&[b], t0 + Duration::from_secs(4));
        let seen = h.advance(&[b, c], t0 + Duration::from_secs(5));
        assert_eq!(seen.is_new(&b), Some(false));
        assert_eq!(seen.is_new(&c), Some(true));
    }

    fn with(r: SockRecord, state: TcpState, cookie: u64) -> SockRecord {
        let timer = match state {
            TimeWait => TimerKind::Timewait,
            _ => TimerKind::Off,
        };
        SockRecord {
            state,
            cookie,
            timer,
            ..r
        }
    }

    /// Whether the second table shows `r` (as it is there) as new after the first.
    fn new_after(before: &[SockRecord], now: &[SockRecord], r: &SockRecord) -> Option<bool> {
        let mut h = History::default();
        let t0 = SystemTime::UNIX_EPOCH;
        h.advance(before, t0);
        h.advance(now, t0 + Duration::from_secs(1)).is_new(r)
    }

    #[test]
    fn a_taken_over_time_wait_tuple_is_a_new_connection() {
        let a = rec("127.0.0.1:40000", "127.0.0.2:80", Established);
        let tw = with(a, TimeWait, 7);
        // connect() took the tuple over: ESTABLISHED, or already closed again into TIME_WAIT.
        for state in [SynSent, Established, TimeWait] {
            let b = with(a, state, 8);
            assert_eq!(new_after(&[tw], &[b], &b), Some(true), "{state}");
        }
        assert_eq!(new_after(&[tw], &[tw], &tw), Some(false));
    }

    #[test]
    fn a_socket_moving_on_is_not_new() {
        let a = rec("127.0.0.1:40000", "127.0.0.2:80", Established);
        let est = with(a, Established, 7);
        for (state, cookie) in [(FinWait1, 7), (FinWait2, 7), (TimeWait, 7), (TimeWait, 9)] {
            // A timewait minisocket may get a cookie of its own on kernels that do not copy it.
            let later = with(a, state, cookie);
            assert_eq!(new_after(&[est], &[later], &later), Some(false), "{state}");
        }
        // The accepted socket has a cookie other than its request socket's.
        let req = with(a, NewSynRecv, 3);
        assert_eq!(new_after(&[req], &[est], &est), Some(false));
        // Without cookies (procfs), only the tuple counts.
        let (old, new) = (with(a, TimeWait, 0), with(a, Established, 0));
        assert_eq!(new_after(&[old], &[new], &new), Some(false));
        // A tuple closed and used again by a fresh connection, seen before it closed.
        let again = with(a, Established, 9);
        assert_eq!(new_after(&[est], &[again], &again), Some(true));
    }

    #[test]
    fn a_socket_caught_closing_is_not_new_in_time_wait() {
        let a = rec("127.0.0.1:40000", "127.0.0.2:80", Established);
        let mut h = History::default();
        let t0 = SystemTime::UNIX_EPOCH;
        let states = [Established, FinWait1, Close, TimeWait];
        for (i, state) in states.into_iter().enumerate() {
            let r = with(a, state, 7);
            let seen = h.advance(&[r], t0 + Duration::from_secs(i as u64));
            assert_eq!(seen.is_new(&r), (i > 0).then_some(false), "{state}");
        }
    }

    #[test]
    fn new_connections_keeps_what_is_new() {
        let s = |tuple, cookie| Conn::new(tuple, cookie, TimeWait, true);
        let mut out = vec![99];
        let before = [s(2, 1), s(3, 1), s(4, 1), s(8, 1), s(9, 1)];
        new_connections(&[s(1, 1), s(3, 1), s(5, 1), s(8, 2)], &before, &mut out);
        assert_eq!(out, vec![1, 5, 8]);
        new_connections(&[s(1, 1), s(2, 1)], &[], &mut out);
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn a_connection_packs_into_16_bytes_and_unpacks() {
        assert_eq!(std::mem::size_of::<Conn>(), 16);
        for state in [TimeWait, Established, NewSynRecv] {
            let c = Conn::new(5, 0x00ab_cdef_0123_4567, state, state == TimeWait);
            assert_eq!(c.cookie(), 0x00ab_cdef_0123_4567);
            assert_eq!(c.state(), Some(state));
            assert_eq!(c.minisocket(), state == TimeWait);
        }
    }

    #[test]
    fn swapped_ends_hash_differently() {
        let a = rec("127.0.0.1:40000", "127.0.0.2:80", Established);
        let b = rec("127.0.0.2:80", "127.0.0.1:40000", Established);
        assert_ne!(
            tuple_hash(&a.local, &a.remote),
            tuple_hash(&b.local, &b.remote)
        );
    }
}
