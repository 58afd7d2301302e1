//! Forecasts per destination: at the current rate of new connections, when does connect() to it start
//! failing with EADDRNOTAVAIL, or does it hold?
//!
//! Short-lived connections each hold their port for the TIME_WAIT period after they close (60 s, or
//! `tcp_tw_reuse_delay` when `tcp_tw_reuse` applies), so a destination can sustain
//! `usable ports / hold` new connections per second, where usable = free now + ports in TIME_WAIT
//! (they come back). Above that rate, the free ports plus the TIME_WAIT entries released so far run out
//! at the first second `t` where `free + released(t) − rate·t ≤ 0`; connections made from now on start
//! coming back only after one hold period, by which time the balance no longer moves.

use super::headroom::{Headroom, TIME_WAIT_MS};
use serde::Serialize;

/// The forecast of one destination, for its local ip with the least headroom.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// Smoothed new connections per second.
    pub rate_per_s: f64,
    /// The highest rate of short-lived connections the destination can keep up forever.
    pub sustainable_per_s: f64,
    /// Seconds until headroom reaches zero at the current rate; `None` when it holds.
    pub exhausted_in_s: Option<f64>,
    /// More than half of the range is in use toward this destination: connect() now scans the
    /// second parity as well and gets markedly slower.
    pub half_range_used: bool,
}

impl Forecast {
    pub fn holds(&self) -> bool {
        self.exhausted_in_s.is_none()
    }
}

/// Computes the forecast of a destination whose smoothed rate is known, from its tightest headroom
/// and the distinct ports of the range it uses.
pub(crate) fn forecast(
    h: &Headroom,
    rate_per_s: f64,
    ports_in_range: u32,
    range_size: u32,
    reuse_delay_ms: u32,
) -> Forecast {
    let hold_s = if h.tw_reuse_applies {
        f64::from(reuse_delay_ms.max(1)) / 1000.0
    } else {
        f64::from(TIME_WAIT_MS) / 1000.0
    };
    let time_wait: u32 = h.time_wait_remaining_s.iter().sum();
    let usable = f64::from(h.free + time_wait);
    let sustainable_per_s = usable / hold_s;
    Forecast {
        rate_per_s,
        sustainable_per_s,
        exhausted_in_s: (rate_per_s > sustainable_per_s)
            .then(|| exhaustion_s(h, rate_per_s, hold_s)),
        half_range_used: ports_in_range > range_size / 2,
    }
}

/// The first moment within one hold period where the free ports, plus the TIME_WAIT entries released
/// by then, no longer cover the connections made at `rate`.
/// Called only when `rate` exceeds the sustainable rate, so the balance goes negative within one hold.
fn exhaustion_s(h: &Headroom, rate: f64, hold_s: f64) -> f64 {
    // Entries in bucket 0 are due now.
    let mut available = f64::from(h.free + h.time_wait_remaining_s[0]);
    if available <= 0.0 {
        return 0.0;
    }
    // Within each second, the releases due at its end come after the connections made during it.
    let seconds = (hold_s.ceil() as usize).clamp(1, 60);
    for (second, released) in h.time_wait_remaining_s[1..=seconds].iter().enumerate() {
        if available - rate < 0.0 {
            return second as f64 + available / rate;
        }
        available += f64::from(*released) - rate;
    }
    hold_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headroom(free: u32, remaining: &[(usize, u32)], reuse: bool) -> Headroom {
        let mut time_wait_remaining_s = [0u32; 61];
        for (s, n) in remaining {
            time_wait_remaining_s[*s] = *n;
        }
        Headroom {
            local_ip: "127.0.0.1".parse().unwrap(),
            free,
            reusable_time_wait: 0,
            time_wait_freeing_10s: 0,
            time_wait_freeing_30s: 0,
            time_wait_freeing_60s: 0,
            time_wait_remaining_s,
            tw_reuse_applies: reuse,
        }
    }

    #[test]
    fn a_slow_rate_holds() {
        // 600 usable ports over 60 s of TIME_WAIT: 10 per second can go on forever.
        let h = headroom(300, &[(30, 300)], false);
        let f = forecast(&h, 9.0, 300, 1000, 1000);
        assert_eq!(f.sustainable_per_s, 10.0);
        assert!(f.holds());
        assert!(!f.half_range_used);
    }

    #[test]
    fn a_fast_rate_runs_out_when_free_ports_are_gone() {
        // 100 free, nothing in TIME_WAIT, 20 per second: empty after 5 s.
        let h = headroom(100, &[], false);
        let f = forecast(&h, 20.0, 600, 1000, 1000);
        assert_eq!(f.exhausted_in_s, Some(5.0));
        assert!(f.half_range_used);
    }

    #[test]
    fn releases_postpone_exhaustion() {
        // 100 free and 100 TIME_WAIT entries ending 2 s from now, at 50 per second: 100 last 2 s, the
        // release brings 100 more, which last 2 s: empty at 4 s.
        let h = headroom(100, &[(2, 100)], false);
        let f = forecast(&h, 50.0, 200, 1000, 1000);
        assert_eq!(f.exhausted_in_s, Some(4.0));
    }

    #[test]
    fn tw_reuse_makes_the_hold_short() {
        let h = headroom(100, &[], true);
        let f = forecast(&h, 90.0, 100, 1000, 1000);
        assert_eq!(f.sustainable_per_s, 100.0);
        assert!(f.holds());
    }
}
