//! The orders the destinations panel cycles through with `s`. Sorting happens once per snapshot (or
//! key press), never per frame: the panel keeps the resulting order of indices.

use crate::model::Destination;
use std::cmp::Ordering;

/// What the destinations are sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Ports of the range used, most first (the model's own order).
    #[default]
    PortsUsed,
    /// Headroom, least first: the destinations closest to running out.
    Headroom,
    TimeWait,
    Sockets,
    /// New connections per second, fastest first.
    Rate,
    Address,
}

impl SortKey {
    const CYCLE: [SortKey; 6] = [
        SortKey::PortsUsed,
        SortKey::Headroom,
        SortKey::TimeWait,
        SortKey::Sockets,
        SortKey::Rate,
        SortKey::Address,
    ];

    pub fn next(self) -> SortKey {
        let i = SortKey::CYCLE.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::CYCLE[(i + 1) % SortKey::CYCLE.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::PortsUsed => "ports used ▼",
            SortKey::Headroom => "free ▲",
            SortKey::TimeWait => "TIME_WAIT ▼",
            SortKey::Sockets => "sockets ▼",
            SortKey::Rate => "new/s ▼",
            SortKey::Address => "address ▲",
        }
    }

    fn compare(self, a: &Destination, b: &Destination) -> Ordering {
        let rate = |d: &Destination| d.new_per_s.unwrap_or(-1.0);
        let primary = match self {
            SortKey::PortsUsed => b.ports_in_range.cmp(&a.ports_in_range),
            SortKey::Headroom => a.min_free().cmp(&b.min_free()),
            SortKey::TimeWait => b.time_wait().cmp(&a.time_wait()),
            SortKey::Sockets => b.sockets.cmp(&a.sockets),
            SortKey::Rate => rate(b).total_cmp(&rate(a)),
            SortKey::Address => a.remote.cmp(&b.remote),
        };
        primary
            .then(b.ports_in_range.cmp(&a.ports_in_range))
            .then(a.remote.cmp(&b.remote))
    }

    /// Indices into `destinations` in this order.
    pub fn order(self, destinations: &[Destination]) -> Vec<u32> {
        let mut order: Vec<u32> = (0..destinations.len() as u32).collect();
        order.sort_by(|a, b| self.compare(&destinations[*a as usize], &destinations[*b as usize]));
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_visits_every_key_and_comes_back() {
        let mut k = SortKey::default();
        let mut seen = vec![k];
        for _ in 1..SortKey::CYCLE.len() {
            k = k.next();
            assert!(!seen.contains(&k));
            seen.push(k);
        }
        assert_eq!(k.next(), SortKey::default());
    }
}
