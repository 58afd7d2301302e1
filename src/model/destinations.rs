//! Outbound connections grouped by destination (remote ip:port), with the headroom of every
//! (local ip, destination) pair (see [`super::headroom`]).

use super::events::Failer;
use super::forecast::Forecast;
use super::headroom::{Headroom, HeadroomAcc};
use super::history::Seen;
use super::portgroups::PortGroups;
use super::{Direction, Input, PortFacts, StateCounts};
use crate::pointer::PointerEstimate;
use crate::settings::KernelSettings;
use crate::socket::{Endpoint, SockRecord, TcpState};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::net::IpAddr;

/// Outbound connections toward one remote endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Destination {
    pub remote: Endpoint,
    pub sockets: u32,
    pub by_state: StateCounts,
    pub local_ips: Vec<IpAddr>,
    /// Distinct local ports inside the ephemeral range used toward this destination.
    pub ports_in_range: u32,
    pub headroom: Vec<Headroom>,
    /// New connections per second, smoothed over the last refreshes; `None` on the first.
    pub new_per_s: Option<f64>,
    /// Where this destination is heading at its current rate; `None` until a rate is known.
    pub forecast: Option<Forecast>,
    /// The inferred search pointer toward it (from its local ip with the least headroom), once a
    /// port allocated toward it was seen.
    pub pointer: Option<PointerEstimate>,
    /// Ports the kernel picked for connect()s toward it since allocator events started; `None`
    /// without events.
    pub picks: Option<u64>,
    /// connect()s toward it whose port search failed (EADDRNOTAVAIL) since events started, and in
    /// the last minute; `None` without events.
    pub connect_failures: Option<u64>,
    pub failures_last_minute: Option<u64>,
    /// The processes whose connect()s failed, most failures first (empty without events).
    pub failing: Vec<Failer>,
    /// Who holds its ports, most sockets first ([`super::consumers::attach`]); `None` until
    /// attributed.
    pub consumers: Option<Vec<super::Consumer>>,
    /// New connections seen since the previous refresh (the input of `new_per_s`).
    #[serde(skip)]
    pub new_since_last: u32,
}

impl Destination {
    pub fn time_wait(&self) -> u32 {
        self.by_state.get(TcpState::TimeWait)
    }

    /// The smallest headroom over this destination's local ips.
    pub fn min_free(&self) -> Option<u32> {
        self.tightest().map(|h| h.free)
    }

    /// The headroom of the local ip with the fewest free ports.
    pub fn tightest(&self) -> Option<&Headroom> {
        self.headroom.iter().min_by_key(|h| h.free)
    }
}

struct DestAcc {
    remote: Endpoint,
    sockets: u32,
    new: u32,
    by_state: StateCounts,
    pairs: Vec<HeadroomAcc>,
}

/// Groups the outbound connections of the table by destination.
pub(crate) fn aggregate(input: &Input<'_>, facts: &PortFacts, seen: &Seen<'_>) -> Vec<Destination> {
    let settings = input.settings;
    let range = settings.port_range;
    let mut index: FxHashMap<Endpoint, usize> = FxHashMap::default();
    let mut accs: Vec<DestAcc> = Vec::new();
    let outbound = || (input.records.iter()).filter(|r| facts.direction(r) == Direction::Outbound);
    // The destination index of every in-range port by port, to count distinct ports.
    let mut ports = PortGroups::with_counts(
        outbound()
            .map(|r| r.local.port)
            .filter(|p| range.contains(*p)),
    );
    for r in outbound() {
        let i = *index.entry(r.remote).or_insert_with(|| {
            accs.push(DestAcc {
                remote: r.remote,
                sockets: 0,
                new: 0,
                by_state: StateCounts::default(),
                pairs: Vec::new(),
            });
            accs.len() - 1
        });
        let acc = &mut accs[i];
        acc.sockets += 1;
        acc.by_state.add(r.state);
        acc.new += u32::from(seen.is_new(r) == Some(true));
        let pair = pair_acc(&mut acc.pairs, r, settings);
        if range.contains(r.local.port) {
            ports.place(r.local.port, i as u32);
            if !facts.blocked.contains(r.local.port) {
                pair.count_taken(r, settings);
            }
        }
    }
    let distinct = distinct_ports(ports, accs.len());
    let blocked_in_range = facts.blocked.count_in(range.low, range.high);
    let mut out: Vec<Destination> = accs
        .into_iter()
        .zip(distinct)
        .map(|(acc, ports_in_range)| finish(acc, ports_in_range, range.size() - blocked_in_range))
        .collect();
    out.sort_by(|a, b| {
        (b.ports_in_range, b.sockets, a.remote).cmp(&(a.ports_in_range, a.sockets, b.remote))
    });
    out
}

fn pair_acc<'a>(
    pairs: &'a mut Vec<HeadroomAcc>,
    r: &SockRecord,
    settings: &KernelSettings,
) -> &'a mut HeadroomAcc {
    let i = match pairs.iter().position(|p| p.local_ip() == r.local.ip) {
        Some(i) => i,
        None => {
            pairs.push(HeadroomAcc::new(r, settings));
            pairs.len() - 1
        }
    };
    &mut pairs[i]
}

/// Distinct ports per destination index, from the destination indices grouped by port.
fn distinct_ports(mut ports: PortGroups<u32>, n: usize) -> Vec<u32> {
    let mut counts = vec![0u32; n];
    for group in ports.groups_mut() {
        group.sort_unstable();
        for run in group.chunk_by(|a, b| a == b) {
            counts[run[0] as usize] += 1;
        }
    }
    counts
}

fn finish(acc: DestAcc, ports_in_range: u32, usable: u32) -> Destination {
    let mut local_ips: Vec<IpAddr> = acc.pairs.iter().map(HeadroomAcc::local_ip).collect();
    local_ips.sort();
    let mut headroom: Vec<Headroom> = acc.pairs.iter().map(|p| p.finish(usable)).collect();
    headroom.sort_by_key(|h| h.local_ip);
    Destination {
        remote: acc.remote,
        sockets: acc.sockets,
        by_state: acc.by_state,
        local_ips,
        ports_in_range,
        headroom,
        new_per_s: None,
        forecast: None,
        pointer: None,
        picks: None,
        connect_failures: None,
        failures_last_minute: None,
        failing: Vec::new(),
        consumers: None,
        new_since_last: acc.new,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::testkit::{rec, snapshot, tw};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::*;

    #[test]
    fn headroom_subtracts_pairs_reserved_and_bound_ports() {
        let mut settings = KernelSettings::with_range(1000, 1009);
        settings.reserved_ports = vec![[1009, 1009]];
        let records = [
            rec("127.0.0.1:1000", "127.0.0.2:80", Established),
            rec("127.0.0.1:1002", "127.0.0.2:80", Established),
            // Another destination uses 1004: it does not lower 127.0.0.2:80's headroom.
            rec("127.0.0.1:1004", "127.0.0.3:80", Established),
            // A listener inside the range blocks its port for everybody.
            rec("127.0.0.1:1006", "0.0.0.0:0", Listen),
            // Inbound connection to that listener: not a destination.
            rec("127.0.0.1:1006", "127.0.0.9:5555", Established),
        ];
        let s = snapshot(&records, &settings, &[1008]);
        let d: Vec<_> = s
            .destinations
            .iter()
            .map(|d| (d.remote.to_string(), d.min_free()))
            .collect();
        // 10 ports − reserved 1009 − listener 1006 − explicit bind 1008 = 7 usable.
        assert_eq!(
            d,
            vec![
                ("127.0.0.2:80".to_string(), Some(5)),
                ("127.0.0.3:80".to_string(), Some(6))
            ]
        );
        assert_eq!(s.services.len(), 1);
    }

    #[test]
    fn time_wait_counts_as_taken_and_reports_reuse_and_release() {
        let mut settings = KernelSettings::with_range(1000, 1009);
        settings.tcp_tw_reuse = 0;
        let records = [
            tw("127.0.0.1:1000", "127.0.0.2:80", 5_000),
            tw("127.0.0.1:1001", "127.0.0.2:80", 59_500),
            tw("127.0.0.1:1002", "127.0.0.2:80", 45_000),
        ];
        let h = &snapshot(&records, &settings, &[]).destinations[0].headroom[0];
        assert_eq!((h.free, h.reusable_time_wait), (7, 0));
        assert_eq!(
            (
                h.time_wait_freeing_10s,
                h.time_wait_freeing_30s,
                h.time_wait_freeing_60s
            ),
            (1, 1, 3)
        );
        settings.tcp_tw_reuse = 1;
        let h = &snapshot(&records, &settings, &[]).destinations[0].headroom[0];
        // The entry with 59.5 s left is younger than a second: not reusable yet.
        assert_eq!((h.free, h.reusable_time_wait), (7, 2));
    }

    #[test]
    fn tw_reuse_2_applies_to_loopback_only() {
        let mut settings = KernelSettings::with_range(1000, 1009);
        settings.tcp_tw_reuse = 2;
        let records = [
            tw("127.0.0.1:1000", "127.0.0.2:80", 5_000),
            tw("10.0.0.1:1000", "10.0.0.2:80", 5_000),
        ];
        let s = snapshot(&records, &settings, &[]);
        let reusable: Vec<_> = s
            .destinations
            .iter()
            .map(|d| (d.remote.to_string(), d.headroom[0].reusable_time_wait))
            .collect();
        assert!(reusable.contains(&("127.0.0.2:80".into(), 1)));
        assert!(reusable.contains(&("10.0.0.2:80".into(), 0)));
    }

    #[test]
    fn headroom_is_per_local_ip_and_ports_are_distinct() {
        let settings = KernelSettings::with_range(1000, 1009);
        let records = [
            rec("127.0.0.1:1000", "127.0.0.2:80", Established),
            rec("127.0.0.5:1000", "127.0.0.2:80", Established),
            rec("127.0.0.5:1001", "127.0.0.2:80", SynSent),
        ];
        let d = &snapshot(&records, &settings, &[]).destinations[0];
        assert_eq!(d.ports_in_range, 2);
        assert_eq!(d.sockets, 3);
        let free: Vec<_> = d
            .headroom
            .iter()
            .map(|h| (h.local_ip.to_string(), h.free))
            .collect();
        assert_eq!(free, vec![("127.0.0.1".into(), 9), ("127.0.0.5".into(), 8)]);
    }
}
