//! The tests' one simulated port allocator: `__inet_hash_connect` in miniature, in the three eras of
//! Linux the pointer model tells apart. Self-contained (std only), so the library's unit tests can
//! include it too (`#[path]`).

use std::collections::HashMap;
use std::hash::Hash;

/// A deterministic stand-in for the kernel's random draws (xorshift).
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n)) as u32
    }
}

/// How the kernel moves its counter after a pick that skipped `i` ports.
#[derive(Clone, Copy, Debug)]
pub enum Era {
    /// Up to 4.5: one global counter, step 1, `hint += i + 1`.
    GlobalStep1,
    /// 4.6 to 5.17: one global counter, step 2, `hint += i + 2`.
    GlobalStep2,
    /// Since 5.18: a counter per destination, `+= max(i, rand(8) * 2) + 2`.
    Perturbed,
}

/// The allocator of one host toward destinations `K`. Each destination has a secret start offset
/// (the kernel's keyed hash, drawn at random here) to which a counter is added: one counter for the
/// whole host in the global eras, one per destination since 5.18. The scan walks the ports of the
/// range's parity from there (all ports with step 1), then those of the other parity, and takes the
/// first one the caller says is free.
pub struct Allocator<K> {
    era: Era,
    low: u16,
    size: u32,
    offsets: HashMap<K, u32>,
    /// `None`: the global counter.
    counters: HashMap<Option<K>, u32>,
    rng: Rng,
}

impl<K: Hash + Eq + Clone> Allocator<K> {
    /// An allocator over the range `low..=high`, its random draws from `seed`.
    pub fn new(era: Era, low: u16, high: u16, seed: u64) -> Allocator<K> {
        Allocator {
            era,
            low,
            size: u32::from(high - low) + 1,
            offsets: HashMap::new(),
            counters: HashMap::new(),
            rng: Rng(seed),
        }
    }

    fn step(&self) -> u32 {
        match self.era {
            Era::GlobalStep1 => 1,
            Era::GlobalStep2 | Era::Perturbed => 2,
        }
    }

    fn counter_key(&self, dest: &K) -> Option<K> {
        match self.era {
            Era::GlobalStep1 | Era::GlobalStep2 => None,
            Era::Perturbed => Some(dest.clone()),
        }
    }

    /// The port a connect() toward `dest` gets, among those `free` accepts; `None` when none is.
    pub fn connect(&mut self, dest: &K, free: impl Fn(u16) -> bool) -> Option<u16> {
        let step = self.step();
        let scanned = if step == 2 { self.size & !1 } else { self.size };
        let offset = match self.offsets.get(dest) {
            Some(offset) => *offset,
            None => {
                let offset = self.rng.below(scanned);
                self.offsets.insert(dest.clone(), offset);
                offset
            }
        };
        let counter_key = self.counter_key(dest);
        let counter = self.counters.get(&counter_key).copied().unwrap_or(0);
        let mut start = (counter + offset) % scanned;
        if step == 2 {
            start &= !1;
        }
        for parity in 0..step {
            for i in (0..scanned).step_by(step as usize) {
                let port = self.low + ((start + i) % scanned + parity) as u16;
                if !free(port) {
                    continue;
                }
                let advance = match self.era {
                    Era::GlobalStep1 | Era::GlobalStep2 => i + step,
                    Era::Perturbed => i.max(self.rng.below(8) * step) + step,
                };
                *self.counters.entry(counter_key).or_insert(0) += advance;
                return Some(port);
            }
        }
        None
    }

    /// Moves `dest`'s start offset on by `by`, as a change of the kernel's hash does.
    pub fn reshuffle(&mut self, dest: &K, by: u32) {
        let offset = self.offsets.get(dest).copied().unwrap_or(0);
        self.offsets.insert(dest.clone(), offset + by);
    }

    /// A new 10-second epoch (since 5.18): every destination gets a fresh offset and counter.
    pub fn new_epoch(&mut self) {
        self.offsets.clear();
        self.counters.clear();
    }
}
