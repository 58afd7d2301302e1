//! A bounded history of the last values seen, oldest first: the dial's trail of allocations and
//! the TIME_WAIT count behind the sparkline.

use std::collections::VecDeque;

/// The last `capacity` values pushed.
#[derive(Clone, Debug)]
pub struct Recent<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T: Copy> Recent<T> {
    pub fn new(capacity: usize) -> Recent<T> {
        Recent {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `value`, forgetting the oldest one when full.
    pub fn push(&mut self, value: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(value);
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    pub fn last(&self) -> Option<T> {
        self.items.back().copied()
    }

    /// The newest `n` values (or fewer), oldest first.
    pub fn newest(&self, n: usize) -> impl Iterator<Item = T> + '_ {
        self.items
            .iter()
            .skip(self.items.len().saturating_sub(n))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_values_in_order() {
        let mut r = Recent::new(3);
        for v in 1..=5 {
            r.push(v);
        }
        assert_eq!(r.newest(10).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(r.newest(2).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(r.last(), Some(5));
        r.clear();
        assert_eq!((r.last(), r.newest(10).count()), (None, 0));
    }
}
