//! Outbound connections grouped by destination (remote ip:port), with the headroom of every
//! (local ip, destination) pair: how many more connect() calls can succeed.
//!
//! connect() searches the ephemeral range for a port that is not reserved, not held by a bind()-ed
//! socket (listeners, explicit binds: their bind bucket makes connect() skip the port for every
//! destination) and not already paired with the same local ip and destination (the 4-tuple must be
//! unique; TIME_WAIT holds it too). So
//! `free = range size − |reserved ∪ bound| − ports paired with (local ip, destination) outside that set`.

use super::forecast::Forecast;
use super::history::Seen;
use super::{Direction, Input, PortFacts, StateCounts};
use crate::pointer::PointerEstimate;
use crate::settings::KernelSettings;
use crate::socket::{Endpoint, SockRecord, TcpState};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::net::IpAddr;

/// How long TIME_WAIT lasts (TCP_TIMEWAIT_LEN).
pub(crate) const TIME_WAIT_MS: u32 = 60_000;

/// Headroom of one local ip toward one destination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Headroom {
    pub local_ip: IpAddr,
    /// Further connect() calls that can succeed now without reusing TIME_WAIT.
    pub free: u32,
    /// Ports taken by this pair's TIME_WAIT sockets that connect() may reuse right now
    /// (`tcp_tw_reuse` 1, or 2 on loopback, and the entry older than a second).
    pub reusable_time_wait: u32,
    /// This pair's TIME_WAIT ports whose timer ends within 10 s, 30 s and 60 s.
    pub time_wait_freeing_10s: u32,
    pub time_wait_freeing_30s: u32,
    pub time_wait_freeing_60s: u32,
    /// This pair's TIME_WAIT ports by remaining whole seconds (rounded up, 0..=60).
    #[serde(skip)]
    pub time_wait_remaining_s: [u32; 61],
    /// Whether connect() from this pair may reuse TIME_WAIT entries once they are old enough.
    #[serde(skip)]
    pub tw_reuse_applies: bool,
}

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
        self.headroom.iter().map(|h| h.free).min()
    }
}

/// Running totals of one (local ip, destination) pair.
struct PairAcc {
    /// Ports in the range, outside the blocked set, paired with this destination.
    taken: u32,
    reusable: u32,
    freeing: [u32; 3],
    remaining: [u32; 61],
    tw_reuse_applies: bool,
}

struct DestAcc {
    remote: Endpoint,
    sockets: u32,
    new: u32,
    by_state: StateCounts,
    pairs: Vec<(IpAddr, PairAcc)>,
}

/// Groups the outbound connections of the table by destination.
pub(crate) fn aggregate(input: &Input<'_>, facts: &PortFacts, seen: &Seen<'_>) -> Vec<Destination> {
    let settings = input.settings;
    let range = settings.port_range;
    let mut index: FxHashMap<Endpoint, usize> = FxHashMap::default();
    let mut accs: Vec<DestAcc> = Vec::new();
    // (destination index, local port) of every in-range port, to count distinct ports.
    let mut ports: Vec<(u32, u16)> = Vec::new();
    for r in input.records {
        if facts.direction(r) != Direction::Outbound {
            continue;
        }
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
            ports.push((i as u32, r.local.port));
            if !facts.blocked.contains(r.local.port) {
                count_taken(pair, r, settings);
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
    pairs: &'a mut Vec<(IpAddr, PairAcc)>,
    r: &SockRecord,
    settings: &KernelSettings,
) -> &'a mut PairAcc {
    let ip = r.local.ip;
    let i = match pairs.iter().position(|(p, _)| *p == ip) {
        Some(i) => i,
        None => {
            pairs.push((
                ip,
                PairAcc {
                    taken: 0,
                    reusable: 0,
                    freeing: [0; 3],
                    remaining: [0; 61],
                    tw_reuse_applies: tw_reuse_applies(r, settings.tcp_tw_reuse),
                },
            ));
            pairs.len() - 1
        }
    };
    &mut pairs[i].1
}

/// Counts a connection whose in-range, unblocked port it holds toward its destination.
fn count_taken(pair: &mut PairAcc, r: &SockRecord, settings: &KernelSettings) {
    pair.taken += 1;
    if r.state != TcpState::TimeWait {
        return;
    }
    for (slot, secs) in pair.freeing.iter_mut().zip([10, 30, 60]) {
        *slot += u32::from(r.expires_ms <= secs * 1000);
    }
    pair.remaining[r.expires_ms.div_ceil(1000).min(60) as usize] += 1;
    let age_ms = TIME_WAIT_MS.saturating_sub(r.expires_ms);
    pair.reusable += u32::from(pair.tw_reuse_applies && age_ms > settings.tcp_tw_reuse_delay_ms);
}

/// Whether `tcp_tw_reuse` lets connect() take over this pair's TIME_WAIT entries once they are older
/// than `tcp_tw_reuse_delay` (`tcp_twsk_unique`): 1 everywhere, 2 on loopback only.
fn tw_reuse_applies(r: &SockRecord, tw_reuse: u8) -> bool {
    match tw_reuse {
        1 => true,
        2 => r.local.ip.is_loopback() || r.remote.ip.is_loopback(),
        _ => false,
    }
}

/// Distinct ports per destination index from (index, port) pairs.
fn distinct_ports(mut ports: Vec<(u32, u16)>, n: usize) -> Vec<u32> {
    ports.sort_unstable();
    ports.dedup();
    let mut counts = vec![0u32; n];
    for (i, _) in ports {
        counts[i as usize] += 1;
    }
    counts
}

fn finish(acc: DestAcc, ports_in_range: u32, usable: u32) -> Destination {
    let mut local_ips: Vec<IpAddr> = acc.pairs.iter().map(|(ip, _)| *ip).collect();
    local_ips.sort();
    let mut headroom: Vec<Headroom> = acc
        .pairs
        .iter()
        .map(|(ip, p)| Headroom {
            local_ip: *ip,
            free: usable.saturating_sub(p.taken),
            reusable_time_wait: p.reusable,
            time_wait_freeing_10s: p.freeing[0],
            time_wait_freeing_30s: p.freeing[1],
            time_wait_freeing_60s: p.freeing[2],
            time_wait_remaining_s: p.remaining,
            tw_reuse_applies: p.tw_reuse_applies,
        })
        .collect();
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
