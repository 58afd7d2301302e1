//! Where everything goes. The header and the footer (or the filter prompt) span the width; the dial
//! sits left of the panels (above them on a narrow screen) and keeps its place at any size; the
//! panels share what is left: the focused one is always expanded, the others in the order
//! destinations, TIME_WAIT, reuse while they fit, and the rest collapse to one line each.

use super::panels::Panel;
use ratatui::layout::Rect;

/// The smallest screen the dashboard draws on.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// Widths from which the dial goes beside the panels rather than above them.
const SIDE_BY_SIDE: u16 = 76;
/// The order panels expand in when there is room for some only.
const EXPAND_ORDER: [Panel; 3] = [Panel::Destinations, Panel::TimeWait, Panel::Reuse];

/// Rows a panel needs to be worth expanding (borders included).
fn min_rows(panel: Panel) -> u16 {
    match panel {
        Panel::Destinations => 5,
        Panel::Reuse => 4,
        Panel::TimeWait => 6,
    }
}

/// Rows a panel is comfortable with; beyond them, spare rows go to the first expanded panel.
fn preferred_rows(panel: Panel) -> u16 {
    match panel {
        Panel::Destinations => 12,
        Panel::Reuse => 10,
        Panel::TimeWait => 12,
    }
}

/// The screen's areas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub dial: Rect,
    /// Each panel's area, and whether it is expanded (or a one-line summary).
    pub panels: Vec<(Panel, Rect, bool)>,
    /// The footer, or the prompt and its error line.
    pub bottom: Rect,
}

/// Lays out `area` with `header` rows on top and `bottom` rows below; `None` when it is smaller than
/// [`MIN_WIDTH`] x [`MIN_HEIGHT`].
pub fn compute(area: Rect, header: u16, bottom: u16, focus: Panel) -> Option<Areas> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        return None;
    }
    let body_height = area.height.saturating_sub(header + bottom);
    let body = Rect {
        y: area.y + header,
        height: body_height,
        ..area
    };
    let (dial, column) = if area.width >= SIDE_BY_SIDE {
        // A circle of braille dots is twice as wide in cells as it is tall.
        let wanted = body.height * 2 + 2;
        // Up to half a wide screen, a little less on a narrow one where the panels need room.
        let share = if area.width >= 120 {
            area.width / 2
        } else {
            area.width * 9 / 20
        };
        let width = wanted.min(share).max(30);
        let dial = Rect { width, ..body };
        (
            dial,
            Rect {
                x: body.x + width,
                width: body.width - width,
                ..body
            },
        )
    } else {
        let height = (body.height * 3 / 5).max(10).min(body.height);
        let dial = Rect { height, ..body };
        (
            dial,
            Rect {
                y: body.y + height,
                height: body.height - height,
                ..body
            },
        )
    };
    Some(Areas {
        header: Rect {
            height: header,
            ..area
        },
        dial,
        panels: stack(column, focus),
        bottom: Rect {
            y: area.bottom() - bottom,
            height: bottom,
            ..area
        },
    })
}

/// Stacks the panels in `column`, in screen order.
fn stack(column: Rect, focus: Panel) -> Vec<(Panel, Rect, bool)> {
    let mut expanded = [false; 3];
    expanded[focus as usize] = true;
    let need = |expanded: &[bool; 3]| -> u16 {
        Panel::ALL
            .iter()
            .map(|p| {
                if expanded[*p as usize] {
                    min_rows(*p)
                } else {
                    1
                }
            })
            .sum()
    };
    for p in EXPAND_ORDER {
        let mut more = expanded;
        more[p as usize] = true;
        if need(&more) <= column.height {
            expanded = more;
        }
    }
    // Everyone gets its minimum, then the spare rows go in expansion order up to what each
    // prefers, and what is still left to the first expanded panel.
    let mut rows: Vec<u16> = Panel::ALL
        .iter()
        .map(|p| {
            if expanded[*p as usize] {
                min_rows(*p)
            } else {
                1
            }
        })
        .collect();
    let mut spare = column.height.saturating_sub(rows.iter().sum());
    for p in EXPAND_ORDER.iter().filter(|p| expanded[**p as usize]) {
        let grow = preferred_rows(*p)
            .saturating_sub(rows[*p as usize])
            .min(spare);
        rows[*p as usize] += grow;
        spare -= grow;
    }
    if let Some(p) = EXPAND_ORDER.iter().find(|p| expanded[**p as usize]) {
        rows[*p as usize] += spare;
    }
    let mut y = column.y;
    Panel::ALL
        .iter()
        .map(|p| {
            let height = rows[*p as usize].min(column.bottom().saturating_sub(y));
            let area = Rect {
                y,
                height,
                ..column
            };
            y += height;
            (*p, area, expanded[*p as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heights(areas: &Areas) -> Vec<(Panel, u16, bool)> {
        areas
            .panels
            .iter()
            .map(|(p, r, e)| (*p, r.height, *e))
            .collect()
    }

    #[test]
    fn a_small_screen_collapses_reuse_first_and_keeps_the_dial() {
        let a = compute(Rect::new(0, 0, 80, 24), 3, 1, Panel::Destinations).unwrap();
        assert_eq!(a.dial.height, 20);
        assert!(a.dial.width >= 30);
        let h = heights(&a);
        assert_eq!(h.iter().map(|(_, r, _)| r).sum::<u16>(), 20);
        assert_eq!(h[1], (Panel::Reuse, 4, true));
        // Focusing reuse keeps it expanded.
        let a = compute(Rect::new(0, 0, 80, 18), 3, 1, Panel::Reuse).unwrap();
        let h = heights(&a);
        assert!(h[1].2, "the focused panel is expanded: {h:?}");
        assert_eq!(h.iter().map(|(_, r, _)| r).sum::<u16>(), 14);
    }

    #[test]
    fn a_large_screen_expands_everything() {
        let a = compute(Rect::new(0, 0, 160, 48), 3, 1, Panel::TimeWait).unwrap();
        assert!(heights(&a).iter().all(|(_, _, e)| *e));
        assert_eq!(a.dial.width, 80);
        assert_eq!(a.bottom, Rect::new(0, 47, 160, 1));
    }

    #[test]
    fn too_small_is_none() {
        assert!(compute(Rect::new(0, 0, 59, 30), 2, 1, Panel::Reuse).is_none());
        assert!(compute(Rect::new(0, 0, 100, 15), 2, 1, Panel::Reuse).is_none());
        assert!(compute(Rect::new(0, 0, 60, 16), 3, 2, Panel::Reuse).is_some());
    }
}
