//! The search pointer: where the next `connect()` toward a destination will start looking for a local
//! port, inferred from the ports portradar sees allocated. Pure: no I/O, no clock.
//!
//! # What the kernel does (`__inet_hash_connect`, net/ipv4/inet_hashtables.c)
//!
//! A `connect()` on a socket without a local port scans the range `ip_local_port_range` from a start
//! point and takes the first port whose 4-tuple is free (ports held by `bind()`-ed sockets and
//! `ip_local_reserved_ports` are skipped). The start point is
//! `low + (perturb + port_offset) % n`, where `port_offset` is a keyed hash of (local ip, remote ip,
//! remote port) and `perturb` a counter that moves on after every pick. What changed across eras is that
//! counter and the scan step:
//!
//! * **Up to 4.5** (the article's 3.10): one global counter `hint` for every destination, scanned with
//!   step 1, `hint += i` after a pick that tried `i` ports. Toward one destination, successive
//!   `connect()`s get `last + 1`, but every `connect()` elsewhere on the host also moves the counter,
//!   which is why the article saw its start point drift with time on a busy machine.
//! * **4.6 to 5.11**: still one global counter, but the scan walks step 2 over the ports of the same
//!   parity as `low`, `hint += i + 2`; `bind(0)` (`inet_csk_find_open_port`) starts at a random odd
//!   offset, so it gets the other parity. The article's 4.19: `+2`, even ports for a range starting at
//!   1024, odd ones for 1025.
//! * **5.12 to 5.17**: the counter becomes `table_perturb`, 256 counters indexed by the destination's
//!   hash: each destination moves on by 2 per `connect()`, independently of the others.
//! * **Since 5.18** (mid-2022, and backported then to the maintained stable kernels down to 4.9): 65536
//!   counters, indexed by the low bits of a 64-bit siphash of the destination, whose high 32 bits are
//!   added to the offset; after a pick
//!   `table_perturb[index] += max(i, get_random_u32_below(8) * step) + step`. With no contention
//!   (`i` = 0) the start point therefore moves by a random even 2..16 after each `connect()`; when the
//!   scan had to skip `i` taken ports, by `i + 2` (the randomness vanishes under contention). The hash
//!   also mixes `jiffies / (10 * HZ)` (`EPHEMERAL_PORT_SHUFFLE_PERIOD`, net/core/secure_seq.c): every
//!   10 seconds each destination lands on another counter with another offset, and its start point
//!   jumps somewhere unrelated (seen on this machine, Linux 6.18).
//! * **Per-socket `IP_LOCAL_PORT_RANGE`** (6.3; scanned with step 1 and no parity since 6.8): the scan
//!   covers the socket's narrower range, and the pointer moves by a random 1..8.
//!
//! When the first parity is exhausted toward a destination, the scan falls back to the other one.
//!
//! # What the model cannot see
//!
//! The hash key (`net_secret`), the counters' random initial values, the random draw of each advance and
//! the 10-second epoch boundaries are secrets of the kernel. The model only sees ports, so it predicts a
//! *window*: `last + step ..= last + 8 * step` while increments look random, `last + step` while they
//! look fixed, widened by the largest overshoot seen recently (ports skipped under contention, or
//! allocations it never saw). It scores itself: every new port either lands in the window predicted
//! before it appeared or not. An increment too large to be a pointer step (more than 64 steps) is
//! counted as a jump — a 10-second reshuffle, or traffic the model missed — and left out of the
//! increment statistics.
//!
//! # Ordering what a snapshot shows
//!
//! Ports seen appear between two refreshes carry no timestamp; [`PointerTracker::observe_all`] orders
//! them by socket inode, which the kernel hands out increasing at socket creation. That breaks when:
//! inode numbers wrap at 2^32 (handled: the order is taken circularly, from the largest gap); sockets
//! are created long before their `connect()` (connection pools, pre-forked sockets); several CPUs create
//! sockets at once (`get_next_ino` gives each CPU batches of 1024 numbers, so inodes from different
//! threads interleave arbitrarily); and TIME_WAIT sockets have no inode at all (kept in the caller's
//! order, before the others). Connections opened and reset between two refreshes are never seen: the
//! next increment then looks larger.

use crate::settings::PortRange;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

/// How many of the latest ports toward a destination the estimate looks at.
pub const HISTORY: usize = 32;

/// The kernel's largest random advance, in steps: `max(0, rand(8) * step) + step`.
pub const RANDOM_REACH_STEPS: u32 = 8;

/// An increment of more than this many steps is a jump, not the pointer moving on.
const JUMP_STEPS: u32 = 64;

/// Increments needed before the model trusts its reading of the step and of the randomness; until
/// then the window is the prior.
pub const MIN_EVIDENCE: usize = 3;

/// Window before anything is known about a destination's step: covers +1 (3.10), +2 (4.x) and
/// +2..16 (2022 and later).
const PRIOR_REACH: u32 = 16;

/// The key the kernel hashes to pick a destination's counter: (local ip, remote ip, remote port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DestinationKey {
    pub local_ip: IpAddr,
    pub remote: SocketAddr,
}

/// The scan step: 1 (up to 4.5, sockets with `IP_LOCAL_PORT_RANGE`) or 2 (one parity, 4.6 and later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "u8")]
pub enum Step {
    One,
    Two,
}

impl Step {
    /// The step in ports.
    pub fn ports(self) -> u32 {
        match self {
            Step::One => 1,
            Step::Two => 2,
        }
    }
}

impl From<Step> for u8 {
    fn from(step: Step) -> u8 {
        match step {
            Step::One => 1,
            Step::Two => 2,
        }
    }
}

/// Parity of the port numbers seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    Odd,
    Even,
    Mixed,
}

impl Parity {
    /// The parity of one port.
    pub fn of(port: u16) -> Parity {
        if port.is_multiple_of(2) {
            Parity::Even
        } else {
            Parity::Odd
        }
    }

    /// The parity shared by all `ports`, or `Mixed` (also for none).
    pub fn of_all(ports: impl IntoIterator<Item = u16>) -> Parity {
        let mut ports = ports.into_iter().map(Parity::of);
        let first = ports.next().unwrap_or(Parity::Mixed);
        if ports.all(|p| p == first) {
            first
        } else {
            Parity::Mixed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Parity::Odd => "odd",
            Parity::Even => "even",
            Parity::Mixed => "mixed",
        }
    }
}

/// What one observed port did to the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Inside the window predicted before it appeared.
    Hit,
    /// Outside it.
    Miss,
    /// First port seen toward its destination: nothing was predicted.
    Unpredicted,
    /// Not in the port range: not an auto-allocated port, ignored.
    OutsideRange,
}

/// How often the predicted window was right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Score {
    /// New ports that landed inside the window predicted before they appeared.
    pub hits: u64,
    /// New ports for which a window had been predicted.
    pub predicted: u64,
    /// New ports that opened a destination: no window yet.
    pub unpredicted: u64,
}

impl Score {
    /// Share of predicted ports that were hits, if any was predicted.
    pub fn rate(&self) -> Option<f64> {
        (self.predicted > 0).then(|| self.hits as f64 / self.predicted as f64)
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Hit => {
                self.hits += 1;
                self.predicted += 1;
            }
            Outcome::Miss => self.predicted += 1,
            Outcome::Unpredicted => self.unpredicted += 1,
            Outcome::OutsideRange => {}
        }
    }
}

/// The distribution of the increments (ring distances between successive ports, jumps left out).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IncrementStats {
    pub samples: u32,
    pub min: u32,
    pub max: u32,
    pub mean: f64,
    /// How many times each increment was seen.
    pub counts: BTreeMap<u32, u32>,
}

impl IncrementStats {
    fn of(increments: &[u32]) -> IncrementStats {
        let mut counts = BTreeMap::new();
        for &inc in increments {
            *counts.entry(inc).or_insert(0) += 1;
        }
        let sum: u64 = increments.iter().map(|&i| u64::from(i)).sum();
        IncrementStats {
            samples: increments.len() as u32,
            min: increments.iter().copied().min().unwrap_or(0),
            max: increments.iter().copied().max().unwrap_or(0),
            mean: if increments.is_empty() {
                0.0
            } else {
                sum as f64 / increments.len() as f64
            },
            counts,
        }
    }
}

/// The ports a scan with one step visits, as a circle: positions `0..len` from `low`. With step 2 the
/// kernel rounds the range size down to even, so the top port of an odd-sized range is never scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ring {
    low: u16,
    len: u32,
}

impl Ring {
    fn new(range: PortRange, step: Step) -> Ring {
        let size = range.size();
        let len = if step == Step::Two && size > 1 {
            size & !1
        } else {
            size
        };
        Ring {
            low: range.low,
            len,
        }
    }

    fn position(&self, port: u16) -> u32 {
        u32::from(port).saturating_sub(u32::from(self.low)) % self.len
    }

    /// How far forward `to` lies from `from`, in `1..=len` (the same port again is a full turn).
    fn forward(&self, from: u16, to: u16) -> u32 {
        let d = (self.position(to) + self.len - self.position(from)) % self.len;
        if d == 0 { self.len } else { d }
    }

    fn advance(&self, port: u16, by: u32) -> u16 {
        let pos = (self.position(port) + by % self.len) % self.len;
        // pos < len <= 65536 - low, so the sum fits in a port.
        (u32::from(self.low) + pos) as u16
    }
}

/// Where the next `connect()` toward a destination is expected to land: the ports
/// `anchor + nearest ..= anchor + farthest` (circularly, every `step`-th port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortWindow {
    /// First port of the window (where the needle points).
    pub first: u16,
    /// Last port of the window (may be below `first`: the window wraps around the range).
    pub last: u16,
    /// Number of candidate ports in the window.
    pub ports: u32,
    #[serde(skip)]
    anchor: u16,
    #[serde(skip)]
    nearest: u32,
    #[serde(skip)]
    farthest: u32,
    #[serde(skip)]
    step: Step,
    #[serde(skip)]
    ring: Ring,
}

impl PortWindow {
    fn new(ring: Ring, anchor: u16, step: Step, reach: u32) -> PortWindow {
        let s = step.ports();
        let nearest = s.min(ring.len);
        let farthest = reach.clamp(nearest, ring.len);
        PortWindow {
            first: ring.advance(anchor, nearest),
            last: ring.advance(anchor, farthest),
            ports: (farthest - nearest) / s + 1,
            anchor,
            nearest,
            farthest,
            step,
            ring,
        }
    }

    /// Whether `port` is one of the window's candidates.
    pub fn contains(&self, port: u16) -> bool {
        let in_ring = port >= self.ring.low && u32::from(port - self.ring.low) < self.ring.len;
        let d = self.ring.forward(self.anchor, port);
        in_ring
            && (self.nearest..=self.farthest).contains(&d)
            && (d - self.nearest).is_multiple_of(self.step.ports())
    }
}

/// What the model infers about one destination's pointer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PointerEstimate {
    /// The newest port seen toward the destination.
    pub last_port: u16,
    /// Ports seen toward it since tracking began.
    pub seen: u64,
    /// 2 when every recent port has the same parity, 1 otherwise; unknown from a single port.
    pub step: Option<Step>,
    pub parity: Parity,
    pub increments: IncrementStats,
    /// Recent increments too large to be a pointer step (10-second reshuffles, unseen traffic).
    pub jumps: u32,
    /// The increments vary: at least two, and a quarter of them, differ from the step.
    pub randomized: bool,
    /// Where the next `connect()` is expected to land (the prior, `last + 1 ..= last + 16` with either
    /// parity, until three increments were seen).
    pub window: PortWindow,
    /// How often this destination's window was right.
    pub score: Score,
    /// How many busy ports of its parity lay just before the latest port, when allocator events
    /// showed the pick and the destination's occupancy at that moment: the scan skipped at most
    /// that many (see [`skip_run`]). `None` without events.
    pub skipped: Option<u32>,
}

/// One auto-allocated port seen appear between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub key: DestinationKey,
    pub port: u16,
    /// Socket inode (0: none, as for TIME_WAIT sockets).
    pub inode: u32,
}

/// The pointer model of every destination seen, and its running score.
#[derive(Clone, Debug)]
pub struct PointerTracker {
    range: PortRange,
    tracks: HashMap<DestinationKey, Track>,
    score: Score,
}

#[derive(Clone, Debug)]
struct Track {
    ports: VecDeque<u16>,
    estimate: PointerEstimate,
}

impl PointerTracker {
    /// A tracker for connect()s that allocate from `range` (`ip_local_port_range`, or the range a
    /// socket option narrowed it to).
    pub fn new(range: PortRange) -> PointerTracker {
        PointerTracker {
            range,
            tracks: HashMap::new(),
            score: Score::default(),
        }
    }

    pub fn range(&self) -> PortRange {
        self.range
    }

    /// Records that `port` was allocated toward `key`, after every port observed before it. Returns
    /// whether it landed in the window predicted for it.
    pub fn observe(&mut self, key: DestinationKey, port: u16) -> Outcome {
        if !self.range.contains(port) {
            return Outcome::OutsideRange;
        }
        let range = self.range;
        let outcome = match self.tracks.get_mut(&key) {
            Some(track) => track.push(range, port),
            None => {
                self.tracks.insert(key, Track::start(range, port));
                Outcome::Unpredicted
            }
        };
        self.score.record(outcome);
        outcome
    }

    /// Records a pick seen as it happened (an allocator event) that had `skipped` busy ports before
    /// it ([`skip_run`]): scored like [`PointerTracker::observe`], and the estimate remembers the
    /// skip.
    pub fn observe_pick(&mut self, key: DestinationKey, port: u16, skipped: u32) -> Outcome {
        let outcome = self.observe(key, port);
        if let Some(track) = self.tracks.get_mut(&key) {
            track.estimate.skipped = Some(skipped);
        }
        outcome
    }

    /// Records the ports that appeared between two snapshots, ordered by socket inode as well as the
    /// data allows (see the module documentation). Returns the score of this batch alone.
    pub fn observe_all(&mut self, allocations: impl IntoIterator<Item = Allocation>) -> Score {
        let mut batch = Score::default();
        for a in creation_order(allocations.into_iter().collect()) {
            batch.record(self.observe(a.key, a.port));
        }
        batch
    }

    /// The current estimate for a destination, once a port was seen toward it.
    pub fn estimate(&self, key: &DestinationKey) -> Option<&PointerEstimate> {
        self.tracks.get(key).map(|t| &t.estimate)
    }

    /// Every tracked destination with its estimate, in no particular order.
    pub fn destinations(&self) -> impl Iterator<Item = (&DestinationKey, &PointerEstimate)> {
        self.tracks.iter().map(|(k, t)| (k, &t.estimate))
    }

    /// Forgets the destinations `keep` rejects (gone from the table, say); the running score stays.
    pub fn retain(&mut self, mut keep: impl FnMut(&DestinationKey) -> bool) {
        self.tracks.retain(|k, _| keep(k));
    }

    /// The running score over every destination.
    pub fn score(&self) -> Score {
        self.score
    }

    /// Learns from ports allocated before tracking began (the sockets of the first snapshot) without
    /// scoring them: they were not predicted before they appeared, and a connection pool's sequential
    /// ports would otherwise inflate the score.
    pub fn seed(&mut self, allocations: impl IntoIterator<Item = Allocation>) {
        self.observe_all(allocations);
        self.score = Score::default();
        for track in self.tracks.values_mut() {
            track.estimate.score = Score::default();
        }
    }
}

impl Track {
    fn start(range: PortRange, port: u16) -> Track {
        let ports = VecDeque::from([port]);
        let mut score = Score::default();
        score.record(Outcome::Unpredicted);
        let estimate = estimate(range, &ports, 1, score);
        Track { ports, estimate }
    }

    fn push(&mut self, range: PortRange, port: u16) -> Outcome {
        let outcome = if self.estimate.window.contains(port) {
            Outcome::Hit
        } else {
            Outcome::Miss
        };
        if self.ports.len() == HISTORY {
            self.ports.pop_front();
        }
        self.ports.push_back(port);
        let mut score = self.estimate.score;
        score.record(outcome);
        self.estimate = estimate(range, &self.ports, self.estimate.seen + 1, score);
        outcome
    }
}

/// The estimate from the latest ports toward one destination (oldest first, at least one), carrying
/// over how many were seen and the destination's score.
fn estimate(range: PortRange, ports: &VecDeque<u16>, seen: u64, score: Score) -> PointerEstimate {
    let last_port = *ports.back().expect("a track holds at least one port");
    let parity = Parity::of_all(ports.iter().copied());
    let step = (ports.len() > 1).then_some(if parity == Parity::Mixed {
        Step::One
    } else {
        Step::Two
    });
    let increments = step.map_or_else(Increments::default, |s| {
        Increments::of(Ring::new(range, s), s, ports)
    });
    PointerEstimate {
        last_port,
        seen,
        step,
        parity,
        window: increments.window(range, last_port),
        increments: IncrementStats::of(&increments.moves),
        jumps: increments.jumps,
        randomized: increments.randomized,
        score,
        skipped: None,
    }
}

/// The longest run [`skip_run`] counts: it stops there (a pick under that much contention cost the
/// kernel far more than the count costs), and shows as "at least".
pub const SKIP_RUN_LIMIT: u32 = 4096;

/// The run of busy ports of `port`'s parity just before it (scanning backwards around the range):
/// the kernel's search started somewhere in that run, so a pick skipped at most that many ports.
/// 0 for a port outside the range or past the even-sized ring the two-step scan walks; at most
/// [`SKIP_RUN_LIMIT`].
pub fn skip_run(range: PortRange, port: u16, busy: impl Fn(u16) -> bool) -> u32 {
    let ring = Ring::new(range, Step::Two);
    if !range.contains(port) || u32::from(port - range.low) >= ring.len {
        return 0;
    }
    let back = ring.len.saturating_sub(2);
    let mut run = 0;
    let mut at = port;
    // The other ports of the parity: half the ring, less the pick itself.
    for _ in 1..(ring.len / 2).min(SKIP_RUN_LIMIT + 1) {
        at = ring.advance(at, back);
        if !busy(at) {
            break;
        }
        run += 1;
    }
    run
}

/// The ring distances between successive ports, read under one step.
#[derive(Default)]
struct Increments {
    step: Option<Step>,
    /// Distances short enough to be the pointer moving on.
    moves: Vec<u32>,
    jumps: u32,
    randomized: bool,
}

impl Increments {
    fn of(ring: Ring, step: Step, ports: &VecDeque<u16>) -> Increments {
        let (moves, jumps): (Vec<u32>, Vec<u32>) = ports
            .iter()
            .zip(ports.iter().skip(1))
            .map(|(&a, &b)| ring.forward(a, b))
            .partition(|&d| d <= JUMP_STEPS * step.ports());
        let irregular = moves.iter().filter(|&&d| d != step.ports()).count() + jumps.len();
        let total = moves.len() + jumps.len();
        Increments {
            step: (total >= MIN_EVIDENCE).then_some(step),
            randomized: irregular >= 2 && 4 * irregular >= total,
            moves,
            jumps: jumps.len() as u32,
        }
    }

    /// The window after `last`: the prior until the step is established, then `step` (fixed
    /// increments) or `8 * step` (random ones) ahead, widened by the largest recent overshoot.
    fn window(&self, range: PortRange, last: u16) -> PortWindow {
        let (step, base) = match self.step {
            None => (Step::One, PRIOR_REACH),
            Some(s) if self.randomized => (s, RANDOM_REACH_STEPS * s.ports()),
            Some(s) => (s, s.ports()),
        };
        let overshoot = self
            .moves
            .iter()
            .map(|d| d.saturating_sub(base))
            .max()
            .unwrap_or(0);
        let ring = Ring::new(range, step);
        PortWindow::new(ring, last, step, base + overshoot)
    }
}

/// Orders allocations as they were most likely made: those without an inode first (in the given
/// order), then by inode taken circularly — starting after the largest gap, so a wrap at 2^32 keeps
/// the newest last.
pub fn creation_order(allocations: Vec<Allocation>) -> Vec<Allocation> {
    let (mut ordered, mut known): (Vec<_>, Vec<_>) =
        allocations.into_iter().partition(|a| a.inode == 0);
    known.sort_by_key(|a| a.inode);
    let gap_after = |i: usize| {
        let next = known[(i + 1) % known.len()].inode;
        next.wrapping_sub(known[i].inode)
    };
    let start = (0..known.len())
        .max_by_key(|&i| gap_after(i))
        .map_or(0, |i| (i + 1) % known.len());
    known.rotate_left(start);
    ordered.extend(known);
    ordered
}

#[cfg(test)]
#[path = "../tests/common/allocator.rs"]
#[allow(dead_code)] // the dashboard's render tests use the rest
mod allocator;

#[cfg(test)]
mod tests {
    use super::allocator::{Allocator, Era, Rng};
    use super::*;
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    #[test]
    fn seeding_learns_without_scoring() {
        let mut t = PointerTracker::new(range(1000, 1999));
        let seed = (0..5).map(|i| Allocation {
            key: key(80),
            port: 1000 + 2 * i,
            inode: 10 + u32::from(i),
        });
        t.seed(seed);
        assert_eq!(t.score(), Score::default());
        let e = t.estimate(&key(80)).unwrap();
        assert_eq!(
            (e.last_port, e.step, e.score),
            (1008, Some(Step::Two), Score::default())
        );
        assert_eq!(t.observe(key(80), 1010), Outcome::Hit);
        assert_eq!(t.score().hits, 1);
    }

    fn key(remote_port: u16) -> DestinationKey {
        DestinationKey {
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            remote: SocketAddr::from(([10, 0, 0, 1], remote_port)),
        }
    }

    fn range(low: u16, high: u16) -> PortRange {
        PortRange { low, high }
    }

    /// `__inet_hash_connect` toward destination ports of one remote host, with ports that someone
    /// else holds (`taken`), on the tests' simulated allocator.
    struct Kernel {
        range: PortRange,
        taken: HashSet<u16>,
        allocator: Allocator<u16>,
    }

    impl Kernel {
        fn new(era: Era, range: PortRange) -> Kernel {
            Kernel {
                range,
                taken: HashSet::new(),
                allocator: Allocator::new(era, range.low, range.high, 0x2545_f491_4f6c_dd1d),
            }
        }

        fn connect(&mut self, dest: u16) -> u16 {
            let taken = &self.taken;
            (self.allocator)
                .connect(&dest, |port| !taken.contains(&port))
                .expect("a free port")
        }

        fn reshuffle(&mut self, dest: u16, by: u32) {
            self.allocator.reshuffle(&dest, by);
        }
    }

    /// Feeds `(destination, port)` pairs to a tracker.
    fn track(range: PortRange, seq: &[(u16, u16)]) -> PointerTracker {
        let mut tracker = PointerTracker::new(range);
        for &(dest, port) in seq {
            tracker.observe(key(dest), port);
        }
        tracker
    }

    /// Runs `n` connects through the simulated kernel, destinations chosen by `pick`.
    fn simulate(
        kernel: &mut Kernel,
        n: usize,
        mut pick: impl FnMut(usize) -> u16,
    ) -> Vec<(u16, u16)> {
        (0..n)
            .map(|i| {
                let dest = pick(i);
                (dest, kernel.connect(dest))
            })
            .collect()
    }

    fn ports_of(seq: &[(u16, u16)], dest: u16) -> Vec<u16> {
        seq.iter()
            .filter(|(d, _)| *d == dest)
            .map(|&(_, p)| p)
            .collect()
    }

    #[test]
    fn step_one_global_counter_is_step_one_mixed_and_fixed() {
        let mut kernel = Kernel::new(Era::GlobalStep1, range(10000, 10999));
        let seq = simulate(&mut kernel, 40, |_| 80);
        let tracker = track(kernel.range, &seq);
        let e = tracker.estimate(&key(80)).unwrap();
        assert_eq!(e.step, Some(Step::One));
        assert_eq!(e.parity, Parity::Mixed);
        assert!(!e.randomized);
        assert_eq!(e.increments.counts, BTreeMap::from([(1, 31)]));
        assert_eq!(
            (e.window.first, e.window.last),
            (e.last_port + 1, e.last_port + 1)
        );
        // First port unpredicted, then every +1 lands in the window (the prior covers +1 too).
        assert_eq!(
            tracker.score(),
            Score {
                hits: 39,
                predicted: 39,
                unpredicted: 1
            }
        );
    }

    #[test]
    fn step_one_global_counter_interleaved_destinations_share_the_counter() {
        let mut kernel = Kernel::new(Era::GlobalStep1, range(10000, 10999));
        let pattern = [80, 443, 80, 8080, 443, 8080, 8080, 80, 443];
        let seq = simulate(&mut kernel, 90, |i| pattern[i % pattern.len()]);
        for dest in [80, 443, 8080] {
            let ports = ports_of(&seq, dest);
            let size = kernel.range.size();
            let gaps: Vec<u32> = (ports.windows(2))
                .map(|w| (u32::from(w[1]) + size - u32::from(w[0])) % size)
                .collect();
            // Every connect elsewhere moved the shared counter: 1 + the connects made in between
            // (around the end of the range too).
            assert!(gaps.iter().all(|g| (1..=8).contains(g)), "{dest}: {gaps:?}");
            let tracker = track(kernel.range, &seq);
            let e = tracker.estimate(&key(dest)).unwrap();
            assert_eq!(
                (e.step, e.parity),
                (Some(Step::One), Parity::Mixed),
                "destination {dest}"
            );
            assert!(
                e.randomized,
                "destination {dest}: increments vary from its point of view"
            );
        }
        // All increments are within the 1..8 window that varying increments get: every port is a hit.
        let score = track(kernel.range, &seq).score();
        assert_eq!(
            score,
            Score {
                hits: 87,
                predicted: 87,
                unpredicted: 3
            }
        );
    }

    #[test]
    fn step_two_global_counter_follows_the_parity_of_low() {
        for (low, parity) in [(1024, Parity::Even), (1025, Parity::Odd)] {
            let mut kernel = Kernel::new(Era::GlobalStep2, range(low, low + 2000));
            let seq = simulate(&mut kernel, 30, |_| 80);
            let tracker = track(kernel.range, &seq);
            let e = tracker.estimate(&key(80)).unwrap();
            assert_eq!(e.step, Some(Step::Two));
            assert_eq!(e.parity, parity);
            assert!(!e.randomized);
            assert_eq!(e.increments.counts, BTreeMap::from([(2, 29)]));
            assert_eq!(e.window.ports, 1);
            assert_eq!(
                tracker.score(),
                Score {
                    hits: 29,
                    predicted: 29,
                    unpredicted: 1
                }
            );
        }
    }

    #[test]
    fn step_two_under_contention_misses_once_then_widens() {
        // The article's 4.19 pattern: +2 each time, until bound ports force the scan to skip ahead.
        let mut kernel = Kernel::new(Era::GlobalStep2, range(20000, 29999));
        let first = kernel.connect(80);
        kernel.taken.extend((first + 20..first + 26).step_by(2)); // three ports of the parity in use
        let mut seq = vec![(80, first)];
        seq.extend(simulate(&mut kernel, 30, |_| 80));
        let ports = ports_of(&seq, 80);
        let skip = ports.windows(2).position(|w| w[1] - w[0] != 2).unwrap();
        assert_eq!(
            ports[skip + 1] - ports[skip],
            8,
            "the scan skipped three ports"
        );
        let tracker = track(kernel.range, &seq);
        let e = tracker.estimate(&key(80)).unwrap();
        assert_eq!(
            (e.step, e.parity, e.randomized),
            (Some(Step::Two), Parity::Even, false)
        );
        // The only miss is the skip; the window then reaches as far as the overshoot.
        assert_eq!(
            tracker.score(),
            Score {
                hits: 29,
                predicted: 30,
                unpredicted: 1
            }
        );
        assert_eq!(e.window.ports, 4);
    }

    #[test]
    fn randomised_per_destination_counters_stay_in_the_window() {
        let mut kernel = Kernel::new(Era::Perturbed, range(32768, 60999));
        let mut rng = Rng(99);
        let seq = simulate(&mut kernel, 200, |_| [80, 443][rng.below(2) as usize]);
        let tracker = track(kernel.range, &seq);
        for dest in [80, 443] {
            let e = tracker.estimate(&key(dest)).unwrap();
            assert_eq!(
                (e.step, e.parity),
                (Some(Step::Two), Parity::Even),
                "destination {dest}"
            );
            assert!(e.randomized, "destination {dest}");
            assert!(
                e.increments.min >= 2 && e.increments.max <= 16,
                "{:?}",
                e.increments
            );
            assert_eq!(e.jumps, 0);
            assert_eq!(e.window.ports, 8);
        }
        // Each destination has a counter of its own: interleaving does not disturb the other.
        assert_eq!(
            tracker.score(),
            Score {
                hits: 198,
                predicted: 198,
                unpredicted: 2
            }
        );
    }

    #[test]
    fn randomised_counter_skipping_a_taken_block_misses_only_the_skip() {
        let mut kernel = Kernel::new(Era::Perturbed, range(32768, 60999));
        let start = kernel.connect(80);
        // 40 ports bound by someone else, a little ahead of the pointer.
        kernel.taken.extend(start + 100..start + 140);
        let mut seq = vec![(80, start)];
        let mut rng = Rng(5);
        seq.extend(simulate(&mut kernel, 100, |_| {
            [80, 443][rng.below(2) as usize]
        }));
        let skip_at = (1..seq.len())
            .filter(|&i| seq[i].0 == 80)
            .filter(|&i| {
                let previous = seq[..i].iter().rev().find(|(d, _)| *d == 80).unwrap().1;
                seq[i].1 - previous > 16
            })
            .collect::<Vec<_>>();
        assert_eq!(skip_at.len(), 1, "destination 80 crossed the block once");
        let through_skip = track(kernel.range, &seq[..=skip_at[0]]);
        let w = through_skip.estimate(&key(80)).unwrap().window;
        assert!(w.ports > 8, "the window widened after the skip: {w:?}");
        let tracker = track(kernel.range, &seq);
        let e = tracker.estimate(&key(80)).unwrap();
        assert_eq!((e.step, e.parity), (Some(Step::Two), Parity::Even));
        let score = tracker.score();
        assert_eq!(score.unpredicted, 2);
        assert_eq!(
            score.hits,
            score.predicted - 1,
            "only the skip missed: {score:?}"
        );
    }

    #[test]
    fn a_reshuffle_is_one_miss_and_a_jump() {
        let mut kernel = Kernel::new(Era::Perturbed, range(32768, 60999));
        let mut seq = simulate(&mut kernel, 20, |_| 80);
        kernel.reshuffle(80, 9_000);
        seq.extend(simulate(&mut kernel, 20, |_| 80));
        let tracker = track(kernel.range, &seq);
        let e = tracker.estimate(&key(80)).unwrap();
        assert_eq!(e.jumps, 1);
        assert_eq!(
            e.increments.samples, 30,
            "history holds 32 ports: 31 increments, one a jump"
        );
        assert!(e.randomized && e.increments.max <= 16);
        assert_eq!(
            tracker.score(),
            Score {
                hits: 38,
                predicted: 39,
                unpredicted: 1
            }
        );
    }

    #[test]
    fn windows_wrap_around_the_range() {
        // The article's 1025-1034: connect() walks the odd ports 1025..1033 and wraps.
        let seq: Vec<_> = [1033, 1025, 1027, 1029, 1031, 1033, 1025]
            .map(|p| (80, p))
            .into();
        let tracker = track(range(1025, 1034), &seq);
        let e = tracker.estimate(&key(80)).unwrap();
        assert_eq!(
            (e.step, e.parity, e.randomized),
            (Some(Step::Two), Parity::Odd, false)
        );
        assert_eq!((e.window.first, e.window.last), (1027, 1027));
        assert_eq!(
            tracker.score(),
            Score {
                hits: 6,
                predicted: 6,
                unpredicted: 1
            }
        );
    }

    #[test]
    fn window_near_the_top_wraps_to_low() {
        let tracker = track(
            range(1000, 1099),
            &[(80, 1086), (80, 1090), (80, 1094), (80, 1098)],
        );
        let w = tracker.estimate(&key(80)).unwrap().window;
        assert_eq!((w.first, w.last, w.ports), (1000, 1014, 8));
        assert!(w.contains(1000) && w.contains(1014) && w.contains(1008));
        assert!(!w.contains(1098) && !w.contains(1001) && !w.contains(1016));
    }

    #[test]
    fn a_tiny_range_window_covers_the_whole_ring() {
        let tracker = track(
            range(1025, 1034),
            &[(80, 1025), (80, 1031), (80, 1027), (80, 1033)],
        );
        let w = tracker.estimate(&key(80)).unwrap().window;
        assert_eq!(w.ports, 5);
        assert!(
            [1025, 1027, 1029, 1031, 1033]
                .iter()
                .all(|&p| w.contains(p))
        );
        assert!(!w.contains(1026));
    }

    #[test]
    fn ports_outside_the_range_are_ignored() {
        let mut tracker = PointerTracker::new(range(32768, 60999));
        assert_eq!(tracker.observe(key(80), 443), Outcome::OutsideRange);
        assert!(tracker.estimate(&key(80)).is_none());
        assert_eq!(tracker.score(), Score::default());
    }

    #[test]
    fn a_single_port_has_no_step_yet_and_a_wide_prior() {
        let tracker = track(range(32768, 60999), &[(80, 40000)]);
        let e = tracker.estimate(&key(80)).unwrap();
        assert_eq!((e.step, e.parity), (None, Parity::Even));
        assert_eq!(
            (e.window.first, e.window.last, e.window.ports),
            (40001, 40016, 16)
        );
    }

    fn alloc(port: u16, inode: u32) -> Allocation {
        Allocation {
            key: key(80),
            port,
            inode,
        }
    }

    #[test]
    fn allocations_are_ordered_by_inode_across_a_wrap() {
        let shuffled = vec![
            alloc(40006, 3),
            alloc(40002, u32::MAX),
            alloc(40000, u32::MAX - 5),
            alloc(40004, 1),
        ];
        let order: Vec<u16> = creation_order(shuffled).iter().map(|a| a.port).collect();
        assert_eq!(order, [40000, 40002, 40004, 40006]);
    }

    #[test]
    fn allocations_without_inode_come_first_in_given_order() {
        let given = vec![
            alloc(40010, 20),
            alloc(40004, 0),
            alloc(40008, 10),
            alloc(40006, 0),
        ];
        let order: Vec<u16> = creation_order(given).iter().map(|a| a.port).collect();
        assert_eq!(order, [40004, 40006, 40008, 40010]);
        let mut tracker = PointerTracker::new(range(32768, 60999));
        tracker.observe(key(80), 40002);
        let batch = tracker.observe_all(vec![alloc(40006, 0), alloc(40010, 7), alloc(40008, 5)]);
        assert_eq!(
            batch,
            Score {
                hits: 3,
                predicted: 3,
                unpredicted: 0
            }
        );
        assert_eq!(
            tracker.score(),
            Score {
                hits: 3,
                predicted: 3,
                unpredicted: 1
            }
        );
    }

    #[test]
    fn retain_forgets_destinations_but_keeps_the_score() {
        let mut tracker = track(
            range(32768, 60999),
            &[(80, 40000), (80, 40002), (443, 50000)],
        );
        tracker.retain(|k| k.remote.port() == 443);
        assert!(tracker.estimate(&key(80)).is_none());
        assert_eq!(tracker.destinations().count(), 1);
        assert_eq!(tracker.score().predicted, 1);
    }

    #[test]
    fn the_skip_run_counts_busy_ports_of_the_parity_before_the_pick() {
        let r = range(40000, 40009);
        let busy = |ports: &'static [u16]| move |p: u16| ports.contains(&p);
        assert_eq!(skip_run(r, 40006, busy(&[40004, 40002, 40005])), 2);
        assert_eq!(
            skip_run(r, 40006, busy(&[40002])),
            0,
            "the run stops at a free port"
        );
        // Around the range: 40000 comes after 40008.
        assert_eq!(skip_run(r, 40002, busy(&[40000, 40008, 40006])), 3);
        // Every other even port busy: four, never the pick itself.
        let all = |p: u16| p.is_multiple_of(2);
        assert_eq!(skip_run(r, 40004, all), 4);
        assert_eq!(skip_run(r, 39000, all), 0, "outside the range");
        assert_eq!(skip_run(range(40000, 40000), 40000, all), 0);
        // An odd-sized range: the two-step scan never reaches its top port.
        assert_eq!(skip_run(range(40000, 40004), 40004, all), 0);
        assert_eq!(skip_run(range(40000, 40004), 40002, all), 1);
        // A long run is counted up to the limit.
        let wide = range(10000, 60000);
        assert_eq!(skip_run(wide, 50000, all), SKIP_RUN_LIMIT);
    }

    #[test]
    fn a_pick_keeps_its_skip_in_the_estimate() {
        let mut t = PointerTracker::new(range(40000, 40009));
        assert_eq!(t.observe_pick(key(80), 40000, 0), Outcome::Unpredicted);
        assert_eq!(t.estimate(&key(80)).unwrap().skipped, Some(0));
        t.observe_pick(key(80), 40004, 1);
        assert_eq!(t.estimate(&key(80)).unwrap().skipped, Some(1));
        t.observe(key(80), 40006);
        assert_eq!(
            t.estimate(&key(80)).unwrap().skipped,
            None,
            "a port seen in a dump"
        );
    }

    #[test]
    fn score_rate_is_none_until_something_was_predicted() {
        assert_eq!(Score::default().rate(), None);
        assert_eq!(
            Score {
                hits: 3,
                predicted: 4,
                unpredicted: 1
            }
            .rate(),
            Some(0.75)
        );
    }
}
