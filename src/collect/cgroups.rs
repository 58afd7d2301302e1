//! [`Cgroups`]: the cgroup id of each socket of a table, kept beside the records (a record stays 64
//! bytes) as a 4-byte index into the distinct ids seen, since a host has far fewer cgroups than
//! sockets: 4 MB at a million sockets where the ids themselves would take 8.

use rustc_hash::FxHashMap;

/// Distinct ids kept across refreshes before the interning starts over.
const MAX_DISTINCT: usize = 1 << 16;

/// The cgroup ids of a table's records, index for index.
#[derive(Clone, Debug)]
pub struct Cgroups {
    /// Per record: an index into `ids`.
    of: Vec<u32>,
    /// The distinct ids seen; `ids[0]` is 0, "none".
    ids: Vec<u64>,
    index: FxHashMap<u64, u32>,
    /// The last id pushed and its index: neighbouring sockets mostly share a cgroup.
    last: (u64, u32),
}

impl Default for Cgroups {
    fn default() -> Self {
        Cgroups {
            of: Vec::new(),
            ids: vec![0],
            index: [(0, 0)].into_iter().collect(),
            last: (0, 0),
        }
    }
}

impl Cgroups {
    /// Appends the id of the next record (0: none).
    pub fn push(&mut self, id: u64) {
        let at = self.intern(id);
        self.of.push(at);
    }

    /// Sets the id of record `i` (no-op past the end).
    pub fn set(&mut self, i: usize, id: u64) {
        let at = self.intern(id);
        if let Some(slot) = self.of.get_mut(i) {
            *slot = at;
        }
    }

    /// Removes record `i`'s id, the last record's taking its place (as `Vec::swap_remove`).
    pub fn swap_remove(&mut self, i: usize) {
        if i < self.of.len() {
            self.of.swap_remove(i);
        }
    }

    /// The index of `id` in the distinct ids, added when new.
    fn intern(&mut self, id: u64) -> u32 {
        if id != self.last.0 {
            let ids = &mut self.ids;
            let at = *self.index.entry(id).or_insert_with(|| {
                ids.push(id);
                u32::try_from(ids.len() - 1).unwrap_or(0)
            });
            self.last = (id, at);
        }
        self.last.1
    }

    /// The cgroup id of record `i`; 0 when it has none or `i` is past the end.
    pub fn id(&self, i: usize) -> u64 {
        self.of
            .get(i)
            .and_then(|at| self.ids.get(*at as usize))
            .copied()
            .unwrap_or(0)
    }

    /// The distinct ids of the table (and maybe of earlier ones), 0 included.
    pub fn distinct(&self) -> &[u64] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.of.is_empty()
    }

    /// Pads with "none" up to `len` records (procfs gives no ids).
    pub fn pad_to(&mut self, len: usize) {
        self.of.resize(len.max(self.of.len()), 0);
    }

    pub fn reserve(&mut self, n: usize) {
        self.of.reserve(n);
    }

    /// Forgets the records' ids; the distinct ids stay unless there are too many.
    pub fn clear(&mut self) {
        self.of.clear();
        if self.ids.len() > MAX_DISTINCT {
            *self = Cgroups {
                of: std::mem::take(&mut self.of),
                ..Cgroups::default()
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_index_for_index() {
        let mut c = Cgroups::default();
        for id in [7, 7, 0, 9, 7] {
            c.push(id);
        }
        assert_eq!(
            (0..6).map(|i| c.id(i)).collect::<Vec<_>>(),
            vec![7, 7, 0, 9, 7, 0]
        );
        assert_eq!(c.distinct(), &[0, 7, 9]);
        c.pad_to(7);
        assert_eq!((c.len(), c.id(6)), (7, 0));
        c.clear();
        assert!(c.is_empty());
        c.push(9);
        assert_eq!(c.id(0), 9);
    }

    #[test]
    fn ids_can_be_set_and_removed_in_place() {
        let mut c = Cgroups::default();
        for id in [1, 2, 3] {
            c.push(id);
        }
        c.set(0, 5);
        c.swap_remove(1);
        assert_eq!((c.len(), c.id(0), c.id(1)), (2, 5, 3));
        c.swap_remove(9);
        c.set(9, 1);
        assert_eq!(c.len(), 2);
    }
}
