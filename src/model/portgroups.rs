//! Items grouped by a port (or any 16-bit key) with a counting sort: two linear passes and no
//! comparison, where sorting the items of a million-socket table would cost far more. A few items
//! (a small table) count into a sorted list of their ports instead of one counter per possible
//! port, so that grouping them costs what they are, not 65,536 counters.

/// Number of possible ports.
const PORTS: usize = 1 << 16;

/// Below this many items, the counters are kept for the items' ports only.
const SPARSE_BELOW: usize = PORTS / 64;

/// Items grouped by port, each group in the order its items were placed, groups by rising port.
pub(crate) struct PortGroups<T> {
    /// The ports that have a counter, rising; `None` when every port has one (`cursor[port]`).
    ports: Option<Vec<u16>>,
    /// Before placing, where each counter's group starts; once every item is placed, where it ends.
    cursor: Vec<u32>,
    items: Vec<T>,
}

impl<T: Copy + Default> PortGroups<T> {
    /// Room for one item per port of `ports` (in any order), to be filled with [`PortGroups::place`].
    pub fn with_counts(ports: impl Iterator<Item = u16>) -> PortGroups<T> {
        PortGroups::with_counts_in(ports, Vec::new(), SPARSE_BELOW)
    }

    /// [`PortGroups::with_counts`] in the allocation of `items` (emptied first), with counters for
    /// the items' ports only when there can be fewer than `sparse_below` items.
    fn with_counts_in(
        ports: impl Iterator<Item = u16>,
        mut items: Vec<T>,
        sparse_below: usize,
    ) -> PortGroups<T> {
        let (ports, mut cursor) = match ports.size_hint() {
            (_, Some(most)) if most < sparse_below => {
                let mut all: Vec<u16> = ports.collect();
                all.sort_unstable();
                let mut distinct: Vec<u16> = Vec::new();
                let mut counts = Vec::new();
                for p in all {
                    if distinct.last() == Some(&p) {
                        *counts.last_mut().expect("a count per port") += 1;
                    } else {
                        distinct.push(p);
                        counts.push(1u32);
                    }
                }
                (Some(distinct), counts)
            }
            _ => {
                let mut cursor = vec![0u32; PORTS];
                for p in ports {
                    cursor[usize::from(p)] += 1;
                }
                (None, cursor)
            }
        };
        let mut start = 0;
        for slot in &mut cursor {
            let count = *slot;
            *slot = start;
            start += count;
        }
        items.clear();
        items.resize(start as usize, T::default());
        PortGroups {
            ports,
            cursor,
            items,
        }
    }

    /// The (port, item) pairs grouped by port (`pairs` is walked twice).
    pub fn from_pairs(pairs: impl Iterator<Item = (u16, T)> + Clone) -> PortGroups<T> {
        PortGroups::from_pairs_in(pairs, Vec::new())
    }

    /// [`PortGroups::from_pairs`] in the allocation of `items` (emptied first), which
    /// [`PortGroups::into_items`] gives back.
    pub fn from_pairs_in(
        pairs: impl Iterator<Item = (u16, T)> + Clone,
        items: Vec<T>,
    ) -> PortGroups<T> {
        PortGroups::placed(pairs, items, SPARSE_BELOW)
    }

    /// [`PortGroups::from_pairs_in`] with the given sparse threshold.
    fn placed(
        pairs: impl Iterator<Item = (u16, T)> + Clone,
        items: Vec<T>,
        sparse_below: usize,
    ) -> PortGroups<T> {
        let ports = pairs.clone().map(|(p, _)| p);
        let mut groups = PortGroups::with_counts_in(ports, items, sparse_below);
        for (p, item) in pairs {
            groups.place(p, item);
        }
        groups
    }

    /// Every item, group after group.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// Puts `item` in the group of `port`, after those placed there before; the counts given to
    /// [`PortGroups::with_counts`] must have made room for it.
    pub fn place(&mut self, port: u16, item: T) {
        let counter = match &self.ports {
            None => usize::from(port),
            Some(ports) => ports
                .binary_search(&port)
                .expect("a port counted by with_counts"),
        };
        let at = &mut self.cursor[counter];
        self.items[*at as usize] = item;
        *at += 1;
    }

    /// The non-empty groups by rising port, once every item is placed.
    pub fn groups_mut(&mut self) -> impl Iterator<Item = &mut [T]> {
        let mut rest = self.items.as_mut_slice();
        let mut start = 0;
        self.cursor.iter().filter_map(move |&end| {
            let (group, tail) = std::mem::take(&mut rest).split_at_mut((end - start) as usize);
            rest = tail;
            start = end;
            (!group.is_empty()).then_some(group)
        })
    }

    /// The non-empty groups by rising port, once every item is placed.
    pub fn groups(&self) -> impl Iterator<Item = &[T]> {
        let starts = std::iter::once(0).chain(self.cursor.iter().copied());
        starts
            .zip(&self.cursor)
            .map(|(start, &end)| &self.items[start as usize..end as usize])
            .filter(|group| !group.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The groups of `pairs` with counters for every port and for the items' ports only.
    fn both_layouts(pairs: &[(u16, u32)]) -> [Vec<Vec<u32>>; 2] {
        [0, usize::MAX].map(|sparse_below| {
            let g = PortGroups::placed(pairs.iter().copied(), Vec::new(), sparse_below);
            assert_eq!(g.ports.is_some(), sparse_below > pairs.len());
            g.groups().map(<[u32]>::to_vec).collect()
        })
    }

    #[test]
    fn both_layouts_group_alike() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for n in [0, 1, 2, 7, 100, 3000] {
            let pairs: Vec<(u16, u32)> = (0..n)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    // Few distinct ports, so that groups hold several items.
                    ((seed % 97) as u16 * 677, i)
                })
                .collect();
            let mut sorted = pairs.clone();
            sorted.sort_by_key(|&(port, _)| port);
            let expected: Vec<Vec<u32>> = sorted
                .chunk_by(|a, b| a.0 == b.0)
                .map(|run| run.iter().map(|&(_, i)| i).collect())
                .collect();
            let [dense, sparse] = both_layouts(&pairs);
            assert_eq!(dense, expected, "{n} items, a counter per port");
            assert_eq!(sparse, expected, "{n} items, counters for their ports");
        }
    }

    #[test]
    fn groups_by_rising_port_in_placing_order() {
        let pairs = [(7u16, 'a'), (65535, 'b'), (0, 'c'), (7, 'd'), (0, 'e')];
        let mut g = PortGroups::from_pairs(pairs.into_iter());
        let groups: Vec<Vec<char>> = g.groups().map(<[char]>::to_vec).collect();
        assert_eq!(groups, [vec!['c', 'e'], vec!['a', 'd'], vec!['b']]);
        for group in g.groups_mut() {
            group.reverse();
        }
        let groups: Vec<Vec<char>> = g.groups().map(<[char]>::to_vec).collect();
        assert_eq!(groups, [vec!['e', 'c'], vec!['d', 'a'], vec!['b']]);
        assert_eq!(
            PortGroups::<u8>::from_pairs(std::iter::empty())
                .groups()
                .count(),
            0
        );
    }
}
