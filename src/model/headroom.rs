//! Headroom of one (local ip, destination) pair: how many more connect() calls can succeed now, and
//! how the pair's TIME_WAIT entries come back.
//!
//! connect() searches the ephemeral range for a port that is not reserved, not held by a bind()-ed
//! socket (listeners, explicit binds: their bind bucket makes connect() skip the port for every
//! destination) and not already paired with the same local ip and destination (the 4-tuple must be
//! unique; TIME_WAIT holds it too). So
//! `free = range size − |reserved ∪ bound| − ports paired with (local ip, destination) outside that set`.

use crate::settings::KernelSettings;
use crate::socket::{SockRecord, TcpState};
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

/// Running totals of one (local ip, destination) pair.
pub(crate) struct HeadroomAcc {
    local_ip: IpAddr,
    /// Ports in the range, outside the blocked set, paired with this destination.
    taken: u32,
    reusable: u32,
    freeing: [u32; 3],
    remaining: [u32; 61],
    tw_reuse_applies: bool,
}

impl HeadroomAcc {
    /// An empty pair for the local ip of `r`.
    pub fn new(r: &SockRecord, settings: &KernelSettings) -> HeadroomAcc {
        HeadroomAcc {
            local_ip: r.local.ip,
            taken: 0,
            reusable: 0,
            freeing: [0; 3],
            remaining: [0; 61],
            tw_reuse_applies: tw_reuse_applies(r, settings.tcp_tw_reuse),
        }
    }

    pub fn local_ip(&self) -> IpAddr {
        self.local_ip
    }

    /// Counts a connection whose in-range, unblocked port it holds toward its destination.
    pub fn count_taken(&mut self, r: &SockRecord, settings: &KernelSettings) {
        self.taken += 1;
        if r.state != TcpState::TimeWait {
            return;
        }
        for (slot, secs) in self.freeing.iter_mut().zip([10, 30, 60]) {
            *slot += u32::from(r.expires_ms <= secs * 1000);
        }
        self.remaining[r.expires_ms.div_ceil(1000).min(60) as usize] += 1;
        let age_ms = TIME_WAIT_MS.saturating_sub(r.expires_ms);
        self.reusable +=
            u32::from(self.tw_reuse_applies && age_ms > settings.tcp_tw_reuse_delay_ms);
    }

    /// The headroom, out of `usable` ports (the range minus the blocked ones).
    pub fn finish(&self, usable: u32) -> Headroom {
        Headroom {
            local_ip: self.local_ip,
            free: usable.saturating_sub(self.taken),
            reusable_time_wait: self.reusable,
            time_wait_freeing_10s: self.freeing[0],
            time_wait_freeing_30s: self.freeing[1],
            time_wait_freeing_60s: self.freeing[2],
            time_wait_remaining_s: self.remaining,
            tw_reuse_applies: self.tw_reuse_applies,
        }
    }
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
