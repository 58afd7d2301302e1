//! What allocator events add to a snapshot: counts since they started (picks and failed port
//! searches per destination, with the processes that failed), the connections that lived and died
//! between two dumps (they count as new), and the pointer estimates of a model fed with every pick.
//! The model only takes them as an [`EventInput`]; watching the kernel is `crate::events`' job.

use super::Destination;
use super::history::Seen;
use crate::pointer::{DestinationKey, PointerEstimate, Score};
use crate::socket::Endpoint;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// The `events` block of a snapshot: where events come from and what was counted since the start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventsSummary {
    /// `"bpf"`: the allocator watcher on the `sock:inet_sock_set_state` tracepoint.
    pub source: String,
    /// Ports the kernel picked for a connect() in this namespace.
    pub picks: u64,
    /// connect()s whose port search failed (EADDRNOTAVAIL) in this namespace.
    pub failures: u64,
    /// Records lost (ring buffer full, or a run of the program the kernel skipped): each hides at
    /// most one event.
    pub lost: u64,
    /// What the last resync of the table kept from events found against a full dump; `None` until
    /// a resync has compared (and while a filter has the table dumped at every refresh).
    pub resync: Option<ResyncFound>,
}

/// What a resync of the table kept from events found against a full dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ResyncFound {
    /// Sockets present on one side only, or in another state.
    pub differences: u64,
    /// How many differences the dump's own non-atomicity and the sockets no event shows can
    /// explain: a table kept right stays within it (0 on a quiet host).
    pub explainable: u64,
}

impl ResyncFound {
    /// More differences than the churn during the dump explains: the kept table drifted.
    pub fn drifted(&self) -> bool {
        self.differences > self.explainable
    }
}

/// A process whose connect()s toward a destination failed, and how many times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failer {
    pub pid: u32,
    pub comm: String,
    pub count: u64,
}

/// What events counted toward one destination since they started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationEvents {
    pub picks: u64,
    pub failures: u64,
    pub failures_last_minute: u64,
    /// The processes that failed, most failures first.
    pub failing: Vec<Failer>,
}

/// A port the kernel picked since the previous refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PickSeen {
    pub local: Endpoint,
    pub remote: Endpoint,
}

/// Allocator events as one refresh takes them.
#[derive(Clone, Debug, Default)]
pub struct EventInput {
    pub summary: Option<EventsSummary>,
    /// Counts per destination (remote endpoint), for those that had events.
    pub destinations: FxHashMap<Endpoint, DestinationEvents>,
    /// The picks since the previous refresh, in the order they happened (already filtered).
    pub picks: Vec<PickSeen>,
    /// The pointer model fed with every pick: its estimates and running score.
    pub pointers: FxHashMap<DestinationKey, PointerEstimate>,
    pub score: Score,
}

/// Fills each destination's event counts (zero when it had none).
pub(crate) fn count(dests: &mut [Destination], events: &EventInput) {
    for d in dests {
        let e = events
            .destinations
            .get(&d.remote)
            .cloned()
            .unwrap_or_default();
        d.picks = Some(e.picks);
        d.connect_failures = Some(e.failures);
        d.failures_last_minute = Some(e.failures_last_minute);
        d.failing = e.failing;
    }
}

/// Counts the picks whose connection is gone from the table `seen` holds (it lived and died
/// between two dumps) as new connections of their destination, and returns how many there were.
pub(crate) fn count_short_lived(
    dests: &mut [Destination],
    seen: &Seen<'_>,
    picks: &[PickSeen],
) -> usize {
    if picks.is_empty() {
        return 0;
    }
    let index: FxHashMap<Endpoint, usize> = dests
        .iter()
        .enumerate()
        .map(|(i, d)| (d.remote, i))
        .collect();
    let mut gone = 0;
    for p in picks.iter().filter(|p| !seen.holds(&p.local, &p.remote)) {
        gone += 1;
        if let Some(&i) = index.get(&p.remote) {
            dests[i].new_since_last += 1;
        }
    }
    gone
}

#[cfg(test)]
mod tests {
    use crate::model::testkit::rec;
    use crate::model::{DestinationEvents, build, build_with_events};
    use crate::model::{EventInput, EventsSummary, Failer, History, Input, Meta, PickSeen};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::*;
    use std::time::{Duration, SystemTime};

    fn pick(local: &str, remote: &str) -> PickSeen {
        PickSeen {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
        }
    }

    #[test]
    fn events_fill_counts_and_short_lived_connections_count_as_new() {
        let settings = KernelSettings::with_range(1000, 1009);
        let meta = |s: u64| {
            Meta::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(s),
                crate::collect::Source::Netlink,
            )
        };
        let input = |records| Input {
            records,
            listen_ports: &[],
            explicit_bind_ports: &[],
            settings: &settings,
        };
        let first = [rec("127.0.0.1:1000", "127.0.0.2:80", Established)];
        let later = [
            rec("127.0.0.1:1000", "127.0.0.2:80", Established),
            rec("127.0.0.1:1002", "127.0.0.2:80", Established),
        ];
        let mut h = History::default();
        build(&input(&first), meta(0), &mut h);
        let mut events = EventInput {
            summary: Some(EventsSummary {
                source: "bpf".into(),
                picks: 3,
                failures: 2,
                lost: 0,
                resync: None,
            }),
            // 1002 is still there; 1004 and 1006 came and went between the dumps.
            picks: vec![
                pick("127.0.0.1:1002", "127.0.0.2:80"),
                pick("127.0.0.1:1004", "127.0.0.2:80"),
                pick("127.0.0.1:1006", "127.0.0.2:80"),
            ],
            ..EventInput::default()
        };
        let failing = vec![Failer {
            pid: 7,
            comm: "curl".into(),
            count: 2,
        }];
        events.destinations.insert(
            "127.0.0.2:80".parse().unwrap(),
            DestinationEvents {
                picks: 3,
                failures: 2,
                failures_last_minute: 1,
                failing: failing.clone(),
            },
        );
        let snap = build_with_events(&input(&later), meta(1), &mut h, Some(&events));
        let d = &snap.destinations[0];
        assert_eq!(
            (d.picks, d.connect_failures, d.failures_last_minute),
            (Some(3), Some(2), Some(1))
        );
        assert_eq!(d.failing, failing);
        assert_eq!(d.new_since_last, 3, "one new in the dump, two short-lived");
        assert_eq!(d.new_per_s, Some(3.0));
        assert_eq!(snap.allocations.recent, [1002, 1004, 1006]);
        assert_eq!(snap.allocations.count, 3);
        assert_eq!(snap.events, events.summary);
        // Without events the counts are unknown, not zero.
        let plain = build(&input(&later), meta(2), &mut h);
        assert_eq!(plain.events, None);
        let d = &plain.destinations[0];
        assert_eq!((d.picks, d.connect_failures), (None, None));
    }
}
