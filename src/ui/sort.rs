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
    /// Time to exhaustion at the current rate, soonest first (full ones first, holding ones last).
    FullIn,
    TimeWait,
    Sockets,
    /// New connections per second, fastest first.
    Rate,
    Address,
}

impl SortKey {
    const CYCLE: [SortKey; 7] = [
        SortKey::PortsUsed,
        SortKey::Headroom,
        SortKey::FullIn,
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
            SortKey::FullIn => "full in ▲",
            SortKey::TimeWait => "TIME_WAIT ▼",
            SortKey::Sockets => "sockets ▼",
            SortKey::Rate => "new/s ▼",
            SortKey::Address => "address ▲",
        }
    }

    /// `a` before `b` in this order; ties go to the most ports used, then the address.
    pub(super) fn compare(self, a: &Destination, b: &Destination) -> Ordering {
        let rate = |d: &Destination| d.new_per_s.unwrap_or(-1.0);
        let full_in = |d: &Destination| match d.min_free() {
            Some(0) => 0.0,
            _ => (d.forecast.as_ref())
                .and_then(|f| f.exhausted_in_s)
                .unwrap_or(f64::INFINITY),
        };
        let primary = match self {
            SortKey::PortsUsed => b.ports_in_range.cmp(&a.ports_in_range),
            SortKey::Headroom => a.min_free().cmp(&b.min_free()),
            SortKey::FullIn => full_in(a).total_cmp(&full_in(b)),
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
    use crate::model::{Forecast, Headroom, StateCounts};
    use crate::socket::Endpoint;

    /// A destination on `port` with `free` ports left, running out after `exhausted_in_s`.
    fn dest(port: u16, free: u32, exhausted_in_s: Option<f64>) -> Destination {
        let local_ip = "127.0.0.1".parse().unwrap();
        Destination {
            remote: Endpoint::new("127.0.0.2".parse().unwrap(), port),
            sockets: 0,
            by_state: StateCounts::default(),
            local_ips: vec![local_ip],
            ports_in_range: 0,
            headroom: vec![Headroom {
                local_ip,
                free,
                reusable_time_wait: 0,
                time_wait_freeing_10s: 0,
                time_wait_freeing_30s: 0,
                time_wait_freeing_60s: 0,
                time_wait_remaining_s: [0; 61],
                tw_reuse_applies: false,
            }],
            new_per_s: Some(1.0),
            forecast: Some(Forecast {
                rate_per_s: 1.0,
                sustainable_per_s: 1.0,
                exhausted_in_s,
                half_range_used: false,
            }),
            pointer: None,
            picks: None,
            connect_failures: None,
            failures_last_minute: None,
            failing: Vec::new(),
            consumers: None,
            new_since_last: 0,
        }
    }

    #[test]
    fn full_in_puts_the_full_first_and_the_holding_last() {
        let dests = [
            dest(1, 100, None),
            dest(2, 100, Some(300.0)),
            dest(3, 0, None),
            dest(4, 100, Some(20.0)),
        ];
        assert_eq!(SortKey::FullIn.order(&dests), [2, 3, 1, 0]);
    }

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
