//! A set of TCP ports as a flat 65536-bit bitmap: cheap to fill, to union and to count over a range.

/// A set of ports 0..=65535.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    words: Box<[u64; 1024]>,
}

impl Default for PortSet {
    fn default() -> Self {
        PortSet::new()
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl PortSet {
    pub fn new() -> PortSet {
        PortSet {
            words: Box::new([0; 1024]),
        }
    }

    pub fn insert(&mut self, port: u16) {
        self.words[usize::from(port >> 6)] |= 1 << (port & 63);
    }

    /// Appends the ports to `out` in increasing order and empties the set.
    pub fn drain_into(&mut self, out: &mut Vec<u16>) {
        out.extend(self.iter());
        self.clear();
    }

    /// Empties the set.
    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    pub fn contains(&self, port: u16) -> bool {
        self.words[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// Adds every port of `other`.
    pub fn union_with(&mut self, other: &PortSet) {
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a |= b;
        }
    }

    /// Number of ports of the set in `low..=high`.
    pub fn count_in(&self, low: u16, high: u16) -> u32 {
        self.count_union_in(None, low, high)
    }

    /// Number of ports in `low..=high` that are in this set or in `other`, without building the union.
    pub fn count_union_in(&self, other: Option<&PortSet>, low: u16, high: u16) -> u32 {
        if low > high {
            return 0;
        }
        let (first, last) = (usize::from(low >> 6), usize::from(high >> 6));
        (first..=last)
            .map(|i| {
                let mut word = self.words[i] | other.map_or(0, |o| o.words[i]);
                if i == first {
                    word &= u64::MAX << (low & 63);
                }
                if i == last {
                    word &= u64::MAX >> (63 - (high & 63));
                }
                word.count_ones()
            })
            .sum()
    }

    /// The ports of the set in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.iter_in(0, u16::MAX)
    }

    /// The ports of the set in `low..=high`, ascending, skipping empty words.
    pub fn iter_in(&self, low: u16, high: u16) -> impl Iterator<Item = u16> + '_ {
        let words = usize::from(low >> 6)..=usize::from(high >> 6);
        words
            .filter(move |i| self.words[*i] != 0)
            .flat_map(move |i| {
                let base = (i as u32) << 6;
                (0..64u32)
                    .filter(move |b| self.words[i] & (1 << b) != 0)
                    .map(move |b| (base + b) as u16)
            })
            .filter(move |p| (low..=high).contains(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_respect_both_ends_of_the_range() {
        let mut s = PortSet::new();
        for p in [0, 63, 64, 1000, 1001, 65535] {
            s.insert(p);
        }
        assert_eq!(s.count_in(0, 65535), 6);
        assert_eq!(s.count_in(63, 64), 2);
        assert_eq!(s.count_in(64, 999), 1);
        assert_eq!(s.count_in(1001, 65534), 1);
        assert_eq!(s.count_in(65535, 65535), 1);
        assert_eq!(s.count_in(2, 1), 0);
    }

    #[test]
    fn union_count_does_not_double_count() {
        let (mut a, mut b) = (PortSet::new(), PortSet::new());
        a.insert(10);
        a.insert(11);
        b.insert(11);
        b.insert(12);
        assert_eq!(a.count_union_in(Some(&b), 0, 100), 3);
        a.union_with(&b);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![10, 11, 12]);
    }
}
