//! A selection in a scrolling list: the selected index, and the first visible row, which rendering
//! adjusts so that the selection stays in view. Only the visible rows are ever built.

use std::cell::Cell;
use std::ops::Range;

/// A way to move the selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Move {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

/// The selection in a list and its scroll position.
#[derive(Debug, Default)]
pub struct Cursor {
    selected: usize,
    offset: Cell<usize>,
    /// Rows shown by the last render, for page moves.
    page: Cell<usize>,
}

impl Cursor {
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Selects `index`, clamped to a list of `len` items.
    pub fn select(&mut self, index: usize, len: usize) {
        self.selected = index.min(len.saturating_sub(1));
    }

    /// Moves the selection in a list of `len` items.
    pub fn apply(&mut self, m: Move, len: usize) {
        let page = self.page.get().max(1);
        let target = match m {
            Move::Up => self.selected.saturating_sub(1),
            Move::Down => self.selected + 1,
            Move::PageUp => self.selected.saturating_sub(page),
            Move::PageDown => self.selected + page,
            Move::Home => 0,
            Move::End => len,
        };
        self.select(target, len);
    }

    /// The items to show in `height` rows of a list of `len`, scrolled just enough to show the
    /// selection.
    pub fn window(&self, len: usize, height: usize) -> Range<usize> {
        self.page.set(height);
        let mut offset = self.offset.get().min(len.saturating_sub(height));
        if self.selected < offset {
            offset = self.selected;
        } else if height > 0 && self.selected >= offset + height {
            offset = self.selected + 1 - height;
        }
        self.offset.set(offset);
        offset..(offset + height).min(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_selection() {
        let mut c = Cursor::default();
        assert_eq!(c.window(100, 10), 0..10);
        c.apply(Move::PageDown, 100);
        c.apply(Move::Down, 100);
        assert_eq!(c.selected(), 11);
        assert_eq!(c.window(100, 10), 2..12);
        c.apply(Move::Up, 100);
        assert_eq!(
            c.window(100, 10),
            2..12,
            "moving inside the window does not scroll"
        );
        c.apply(Move::End, 100);
        assert_eq!((c.selected(), c.window(100, 10)), (99, 90..100));
        c.apply(Move::Home, 100);
        assert_eq!(c.window(100, 10), 0..10);
        c.select(50, 5);
        assert_eq!((c.selected(), c.window(5, 10)), (4, 0..5));
    }
}
