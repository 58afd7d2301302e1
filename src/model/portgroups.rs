//! Items grouped by a port (or any 16-bit key) with a counting sort: two linear passes and no
//! comparison, where sorting the items of a million-socket table would cost far more.

/// Number of possible ports.
const PORTS: usize = 1 << 16;

/// Items grouped by port, each group in the order its items were placed, groups by rising port.
pub(crate) struct PortGroups<T> {
    /// Before placing, where each port's group starts; once every item is placed, where it ends.
    cursor: Vec<u32>,
    items: Vec<T>,
}

impl<T: Copy + Default> PortGroups<T> {
    /// Room for one item per port of `ports` (in any order), to be filled with [`PortGroups::place`].
    pub fn with_counts(ports: impl Iterator<Item = u16>) -> PortGroups<T> {
        PortGroups::with_counts_in(ports, Vec::new())
    }

    /// [`PortGroups::with_counts`] in the allocation of `items` (emptied first).
    fn with_counts_in(ports: impl Iterator<Item = u16>, mut items: Vec<T>) -> PortGroups<T> {
        let mut cursor = vec![0u32; PORTS];
        for p in ports {
            cursor[usize::from(p)] += 1;
        }
        let mut start = 0;
        for slot in &mut cursor {
            let count = *slot;
            *slot = start;
            start += count;
        }
        items.clear();
        items.resize(start as usize, T::default());
        PortGroups { cursor, items }
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
        let mut groups = PortGroups::with_counts_in(pairs.clone().map(|(p, _)| p), items);
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
        let at = &mut self.cursor[usize::from(port)];
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
