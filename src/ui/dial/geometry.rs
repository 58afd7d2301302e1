//! Where the ports of the range sit on the dial. Angles are in radians, clockwise from 12 o'clock;
//! the range runs clockwise from just right of the top to just left of it, leaving a small gap at
//! the top between its two ends, where their labels go. Each port owns an equal slice of the sweep
//! and its angle is the middle of that slice. The sweep is cut into arcs (as many as the ring has
//! room for); arc `k` holds the range offsets `⌈k·size/arcs⌉ .. ⌈(k+1)·size/arcs⌉`.

use crate::settings::PortRange;
use std::f64::consts::TAU;
use std::ops::Range;

/// Half the gap at the top of the dial.
const HALF_GAP: f64 = TAU / 72.0;
/// Where the range starts.
pub const START: f64 = HALF_GAP;
/// Where the range ends.
pub const END: f64 = TAU - HALF_GAP;
/// Braille dots of ring per arc.
const DOTS_PER_ARC: f64 = 2.0;

/// The mapping between ports, angles and arcs for one range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DialGeometry {
    low: u16,
    size: u32,
    arcs: u32,
}

impl DialGeometry {
    /// `arcs` arcs over `range` (at least one, at most one per port).
    pub fn new(range: PortRange, arcs: u32) -> DialGeometry {
        let size = range.size();
        DialGeometry {
            low: range.low,
            size,
            arcs: arcs.clamp(1, size),
        }
    }

    /// As many arcs as a ring of `radius` braille dots has room for.
    pub fn for_radius(range: PortRange, radius: f64) -> DialGeometry {
        let arcs = (radius * (END - START) / DOTS_PER_ARC).round().max(1.0);
        DialGeometry::new(range, arcs as u32)
    }

    pub fn arcs(&self) -> u32 {
        self.arcs
    }

    /// The angle one port's slice covers.
    fn slice(&self) -> f64 {
        (END - START) / f64::from(self.size)
    }

    /// The offset of `port` in the range, clamped to it.
    fn offset(&self, port: u16) -> u32 {
        u32::from(port.saturating_sub(self.low)).min(self.size - 1)
    }

    /// The middle of `port`'s slice (ports outside the range are clamped to its ends).
    pub fn angle_of(&self, port: u16) -> f64 {
        START + (f64::from(self.offset(port)) + 0.5) * self.slice()
    }

    /// Where the ports `first ..= last` start and how wide an angle they cover, going clockwise from
    /// `first` and on past the range's high end to its low end when `last` comes before `first`.
    pub fn sweep(&self, first: u16, last: u16) -> (f64, f64) {
        let (a, b) = (self.offset(first), self.offset(last));
        let ports = if b >= a { b - a } else { self.size - a + b } + 1;
        (
            START + f64::from(a) * self.slice(),
            f64::from(ports) * self.slice(),
        )
    }

    /// The port whose slice holds `angle`; `None` in the gap at the top. The tests' inverse of
    /// [`DialGeometry::angle_of`].
    #[cfg(test)]
    pub fn port_at(&self, angle: f64) -> Option<u16> {
        let offset = ((angle - START) / self.slice()).floor();
        (0.0..f64::from(self.size))
            .contains(&offset)
            .then(|| (u32::from(self.low) + offset as u32) as u16)
    }

    /// The arc holding `port` (clamped to the range). The tests' inverse of
    /// [`DialGeometry::arc_offsets`].
    #[cfg(test)]
    pub fn arc_of(&self, port: u16) -> u32 {
        (u64::from(self.offset(port)) * u64::from(self.arcs) / u64::from(self.size)) as u32
    }

    /// The range offsets arc `arc` holds.
    pub fn arc_offsets(&self, arc: u32) -> Range<usize> {
        let boundary =
            |k: u32| (u64::from(k) * u64::from(self.size)).div_ceil(u64::from(self.arcs)) as usize;
        boundary(arc)..boundary(arc + 1)
    }

    /// The angles arc `arc` spans: from the start of its first port's slice to the end of its last.
    pub fn arc_span(&self, arc: u32) -> Range<f64> {
        let ports = self.arc_offsets(arc);
        START + ports.start as f64 * self.slice()..START + ports.end as f64 * self.slice()
    }
}

/// `angle` brought back into the sweep when it went past the range's high end (a [`sweep`] that
/// wraps around goes on from the low end).
///
/// [`sweep`]: DialGeometry::sweep
pub fn wrap(angle: f64) -> f64 {
    if angle >= END {
        angle - (END - START)
    } else {
        angle
    }
}

/// The braille-dot position at `radius` and `angle` around (`cx`, `cy`), y growing downwards.
pub fn polar(cx: f64, cy: f64, radius: f64, angle: f64) -> (f64, f64) {
    (cx + radius * angle.sin(), cy - radius * angle.cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGES: [(u16, u16); 5] = [
        (32768, 60999),
        (1000, 1009),
        (1024, 65535),
        (5, 5),
        (0, 65535),
    ];

    fn geometries() -> impl Iterator<Item = DialGeometry> {
        RANGES.iter().flat_map(|&(low, high)| {
            [1, 7, 120, 360, 100_000]
                .into_iter()
                .map(move |arcs| DialGeometry::new(PortRange { low, high }, arcs))
        })
    }

    #[test]
    fn port_to_angle_and_back_is_exact_at_the_ends_and_monotonic() {
        for &(low, high) in &RANGES {
            let g = DialGeometry::new(PortRange { low, high }, 100);
            assert_eq!(g.port_at(g.angle_of(low)), Some(low));
            assert_eq!(g.port_at(g.angle_of(high)), Some(high));
            assert!(g.angle_of(low) > START && g.angle_of(high) < END);
            let mut last = f64::NEG_INFINITY;
            for port in low..=high {
                let a = g.angle_of(port);
                assert!(a > last, "angle of {port} does not grow");
                assert_eq!(g.port_at(a), Some(port));
                last = a;
            }
            assert_eq!(g.port_at(START / 2.0), None, "the gap holds no port");
            assert_eq!(g.port_at(END + HALF_GAP / 2.0), None);
        }
    }

    #[test]
    fn arcs_cover_the_range_once_and_every_port_lands_on_its_arc() {
        for g in geometries() {
            let mut next = 0;
            for arc in 0..g.arcs() {
                let ports = g.arc_offsets(arc);
                assert_eq!(ports.start, next, "arcs are contiguous");
                assert!(!ports.is_empty(), "arc {arc} of {g:?} is empty");
                next = ports.end;
            }
            assert_eq!(next, g.size as usize, "the arcs end with the range");
            for offset in 0..g.size {
                let port = (u32::from(g.low) + offset) as u16;
                let arc = g.arc_of(port);
                assert!(arc < g.arcs());
                assert!(
                    g.arc_offsets(arc).contains(&(offset as usize)),
                    "{port} not on arc {arc}"
                );
            }
        }
    }

    #[test]
    fn the_needle_points_into_the_arc_holding_its_port() {
        for g in geometries() {
            for offset in 0..g.size {
                let port = (u32::from(g.low) + offset) as u16;
                let span = g.arc_span(g.arc_of(port));
                assert!(
                    span.contains(&g.angle_of(port)),
                    "needle at {port} misses its arc"
                );
            }
        }
    }

    #[test]
    fn sweeps_cover_their_ports_and_wrap_past_the_high_end() {
        let g = DialGeometry::new(
            PortRange {
                low: 1000,
                high: 1099,
            },
            10,
        );
        let slice = (END - START) / 100.0;
        let (start, len) = g.sweep(1010, 1019);
        assert!((start - (START + 10.0 * slice)).abs() < 1e-9);
        assert!((len - 10.0 * slice).abs() < 1e-9);
        // 1095..=1099 then 1000..=1004: ten ports, from 1095's slice on, ending in 1004's.
        let (start, len) = g.sweep(1095, 1004);
        assert!((len - 10.0 * slice).abs() < 1e-9);
        let end = wrap(start + len - slice / 2.0);
        assert_eq!(g.port_at(end), Some(1004));
        assert_eq!(g.port_at(wrap(start + slice / 2.0)), Some(1095));
        assert_eq!(g.sweep(1050, 1050).1, slice, "one port is one slice");
    }

    #[test]
    fn arcs_follow_the_ring_size() {
        let range = PortRange {
            low: 32768,
            high: 60999,
        };
        assert_eq!(DialGeometry::for_radius(range, 30.0).arcs(), 92);
        let tiny = PortRange {
            low: 1000,
            high: 1003,
        };
        assert_eq!(DialGeometry::for_radius(tiny, 30.0).arcs(), 4);
        assert_eq!(polar(10.0, 10.0, 5.0, 0.0), (10.0, 5.0));
    }
}
