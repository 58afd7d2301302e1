//! [`Connectors`]: the process that called connect() for each connection the allocator events saw,
//! by its two ends, so that a socket `/proc` cannot attribute still has its process: a TIME_WAIT
//! has no inode, and a short-lived connection is gone before a process walk finds it.
//!
//! Bounded ([`MAX_CONNECTORS`]) and aged: an entry stays while its connection is in the dumps
//! ([`Connectors::seen`]) and [`KEEP_NS`] after, a TIME_WAIT's minute and some refreshes. A full
//! map is swept for aged entries at most every [`SWEEP_EVERY_NS`] between dumps: under churn
//! faster than the map holds, a sweep per connect() would walk the whole map each time.

use crate::socket::Endpoint;
use rustc_hash::FxHashMap;

/// Connections remembered at most; a new one finding the map full is not remembered.
pub const MAX_CONNECTORS: usize = 1 << 16;
/// How long an entry outlives the last dump its connection was in (or its connect()).
pub const KEEP_NS: u64 = 70 * 1_000_000_000;
/// How often a full map looks for aged entries to make room for a newcomer.
pub const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// Who connected, and when its connection was last known to exist.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Connector {
    pid: u32,
    comm: String,
    seen_ns: u64,
}

/// The connect() callers of recent connections, by (local, remote).
#[derive(Clone, Debug, Default)]
pub struct Connectors {
    by_ends: FxHashMap<(Endpoint, Endpoint), Connector>,
    /// When a full map may be swept again.
    next_sweep_ns: u64,
}

impl Connectors {
    /// Remembers that `pid` (`comm`) connected `local` to `remote` at boot-clock time `now_ns`.
    pub fn connected(
        &mut self,
        local: Endpoint,
        remote: Endpoint,
        pid: u32,
        comm: &str,
        now_ns: u64,
    ) {
        let connector = Connector {
            pid,
            comm: comm.to_string(),
            seen_ns: now_ns,
        };
        if self.by_ends.len() >= MAX_CONNECTORS && !self.by_ends.contains_key(&(local, remote)) {
            if now_ns >= self.next_sweep_ns {
                self.forget_before(now_ns.saturating_sub(KEEP_NS));
                self.next_sweep_ns = now_ns.saturating_add(SWEEP_EVERY_NS);
            }
            if self.by_ends.len() >= MAX_CONNECTORS {
                return;
            }
        }
        self.by_ends.insert((local, remote), connector);
    }

    /// Marks the connection `local` → `remote`, found by a dump taken at `now_ns`, as alive.
    pub fn seen(&mut self, local: Endpoint, remote: Endpoint, now_ns: u64) {
        if let Some(c) = self.by_ends.get_mut(&(local, remote)) {
            c.seen_ns = c.seen_ns.max(now_ns);
        }
    }

    /// Forgets the connections no dump has found for [`KEEP_NS`] before `now_ns` (call once the
    /// dump's connections were [`Connectors::seen`]).
    pub fn forget_unseen(&mut self, now_ns: u64) {
        self.forget_before(now_ns.saturating_sub(KEEP_NS));
    }

    fn forget_before(&mut self, ns: u64) {
        self.by_ends.retain(|_, c| c.seen_ns >= ns);
    }

    /// The process that connected `local` to `remote`, as (pid, command), when remembered.
    pub fn get(&self, local: Endpoint, remote: Endpoint) -> Option<(u32, &str)> {
        let c = self.by_ends.get(&(local, remote))?;
        Some((c.pid, c.comm.as_str()))
    }

    /// Those of the connections `wanted`, in a map of their own (what a refresh hands over).
    pub fn subset(&self, wanted: impl IntoIterator<Item = (Endpoint, Endpoint)>) -> Connectors {
        let by_ends = wanted
            .into_iter()
            .filter_map(|ends| Some((ends, self.by_ends.get(&ends)?.clone())))
            .collect();
        Connectors {
            by_ends,
            next_sweep_ns: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ends(port: u16) -> (Endpoint, Endpoint) {
        (
            Endpoint::new("10.0.0.1".parse().unwrap(), port),
            Endpoint::new("10.0.0.2".parse().unwrap(), 443),
        )
    }

    #[test]
    fn a_connection_keeps_its_process_while_dumped_and_70_seconds_after() {
        let mut c = Connectors::default();
        let (l, r) = ends(40000);
        c.connected(l, r, 42, "curl", 0);
        assert_eq!(c.get(l, r), Some((42, "curl")));
        // Dumped for five minutes (a long connection, then its TIME_WAIT).
        for t in (10..=300).step_by(10) {
            c.seen(l, r, t * S);
            c.forget_unseen(t * S);
        }
        assert_eq!(c.get(l, r), Some((42, "curl")));
        c.forget_unseen(300 * S + KEEP_NS);
        assert_eq!(
            c.get(l, r),
            Some((42, "curl")),
            "kept 70 s past the last dump"
        );
        c.forget_unseen(300 * S + KEEP_NS + 1);
        assert_eq!(c.get(l, r), None, "forgotten after");
        assert!(c.is_empty());
    }

    #[test]
    fn a_port_reused_toward_the_same_destination_names_its_new_process() {
        let mut c = Connectors::default();
        let (l, r) = ends(40000);
        c.connected(l, r, 42, "curl", 0);
        c.connected(l, r, 43, "wget", S);
        assert_eq!(c.get(l, r), Some((43, "wget")));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_map_makes_room_from_aged_entries_only() {
        let mut c = Connectors::default();
        for port in 0..MAX_CONNECTORS {
            let (l, r) = ends(port as u16);
            c.connected(l, r, 1, "old", 0);
        }
        let (l, r) = (
            ends(40000).0,
            Endpoint::new("10.0.0.3".parse().unwrap(), 80),
        );
        // Full of entries younger than KEEP_NS: the newcomer is not remembered.
        let mut full = c.clone();
        full.connected(l, r, 2, "new", S);
        assert_eq!(full.len(), MAX_CONNECTORS);
        assert_eq!(full.get(l, r), None);
        // Once they are old, they make room.
        c.connected(l, r, 2, "new", KEEP_NS + S);
        assert_eq!(c.get(l, r), Some((2, "new")));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_map_is_swept_at_most_once_a_second() {
        let mut c = Connectors::default();
        for port in 0..MAX_CONNECTORS {
            let (l, r) = ends(port as u16);
            c.connected(l, r, 1, "old", port as u64);
        }
        let newcomer = |port| (ends(port).0, Endpoint::new("10.0.0.3".parse().unwrap(), 80));
        // A sweep now frees nothing (no entry is older than KEEP_NS yet)...
        let (l, r) = newcomer(1);
        c.connected(l, r, 2, "new", KEEP_NS - 1);
        assert_eq!(c.get(l, r), None);
        // ...and the next waits a second, though entries have aged meanwhile.
        let (l, r) = newcomer(2);
        c.connected(l, r, 2, "new", KEEP_NS + 1_000);
        assert_eq!(c.get(l, r), None, "no sweep within the second");
        let (l, r) = newcomer(3);
        c.connected(l, r, 2, "new", KEEP_NS - 1 + SWEEP_EVERY_NS);
        assert_eq!(c.get(l, r), Some((2, "new")), "swept a second later");
        assert!(c.len() < MAX_CONNECTORS);
    }

    #[test]
    fn a_subset_holds_only_the_connections_asked_for() {
        let mut c = Connectors::default();
        let (a, b) = (ends(40000), ends(40001));
        c.connected(a.0, a.1, 42, "curl", 0);
        c.connected(b.0, b.1, 43, "wget", 0);
        let s = c.subset([a, ends(40002)]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(a.0, a.1), Some((42, "curl")));
    }
}
