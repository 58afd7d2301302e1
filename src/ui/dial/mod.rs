//! The dial widget: the port range as a braille ring (see [`geometry`] for where ports sit and
//! [`ring`] for what is drawn), the range's ends labelled at the top, a block of text in the
//! middle (what the ring is about, its headroom, the needle's port), a caption on the bottom
//! border, and legends below: the named needles, then the port uses. With a plain-character theme
//! the ring is a grid of characters, one per port use, and the whole widget is ASCII.
//!
//! Needles are inputs: the caller decides what each points at (the start of a pointer model's
//! window, or the newest allocation) and says so in the centre text and the caption. A needle among
//! several carries a label, drawn on it and before its name in the legend, so that needles stay
//! apart without colour; those the legend has no room for are not drawn.

pub mod geometry;
mod grid;
mod legend;
mod ring;

use crate::model::PortMap;
use crate::settings::PortRange;
use crate::ui::ascii;
use crate::ui::format::wrap;
use crate::ui::theme::Theme;
use geometry::DialGeometry;
use grid::Grid;
use legend::Legend;
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::canvas::Canvas;
use ratatui::widgets::{Block, Widget};
use ring::Ring;

/// A needle: where it points, the predicted window that starts there, its colour and its name.
#[derive(Clone, Debug, PartialEq)]
pub struct Needle {
    pub port: u16,
    /// The last port of the window starting at `port`, drawn as an arc, if one is predicted.
    pub window_end: Option<u16>,
    pub color: Color,
    /// Its label and what the legend calls it; `None` for a lone needle, which the title or the
    /// centre explains.
    pub legend: Option<(char, String)>,
}

/// The dial over one port map.
pub struct Dial<'a> {
    ports: &'a PortMap,
    range: PortRange,
    theme: Theme,
    title: Line<'a>,
    caption: Line<'a>,
    centre: Vec<(String, Style)>,
    needles: Vec<Needle>,
    trail: &'a [u16],
}

/// Rows of canvas under which the ring is too small to read; the legends go first.
const MIN_CANVAS_ROWS: u16 = 7;
/// Most rows the needles' legend may take.
const NEEDLE_ROWS: usize = 3;
/// Where along a needle its label may go, in dots inward from where it meets its window: there,
/// else on the ring just outside, else further in.
const LABEL_OFFSETS: [f64; 4] = [0.0, -4.0, 4.0, 8.0];

impl<'a> Dial<'a> {
    /// `ports` maps `range`, one use per port.
    pub fn new(ports: &'a PortMap, range: PortRange, theme: Theme) -> Dial<'a> {
        Dial {
            ports,
            range,
            theme,
            title: Line::default(),
            caption: Line::default(),
            centre: Vec::new(),
            needles: Vec::new(),
            trail: &[],
        }
    }

    pub fn title(mut self, title: impl Into<Line<'a>>) -> Dial<'a> {
        self.title = title.into();
        self
    }

    /// A line on the bottom border.
    pub fn caption(mut self, caption: impl Into<Line<'a>>) -> Dial<'a> {
        self.caption = caption.into();
        self
    }

    /// Lines for the middle of the ring, word-wrapped to fit inside it.
    pub fn centre(mut self, lines: Vec<(String, Style)>) -> Dial<'a> {
        self.centre = lines;
        self
    }

    /// The needles, those with a legend entry in the order it lists them.
    pub fn needles(mut self, needles: Vec<Needle>) -> Dial<'a> {
        self.needles = needles;
        self
    }

    /// Recent allocations, oldest first: drawn as marks fading with age.
    pub fn trail(mut self, trail: &'a [u16]) -> Dial<'a> {
        self.trail = trail;
        self
    }

    /// Writes each listed needle's label on the needle where it meets its window, or a row out or
    /// in along the needle when that cell holds another label or `text` (the range's ends, the
    /// centre's lines); drawn last.
    fn render_labels(&self, ring: &Ring, area: Rect, text: &[Rect], buf: &mut Buffer) {
        let drawing = |col: u16, row: u16| {
            let cell = Position::new(area.x + col, area.y + row);
            !text.iter().any(|t| t.contains(cell))
        };
        let mut taken: Vec<(u16, u16)> = Vec::new();
        for needle in &self.needles {
            let Some((label, _)) = &needle.legend else {
                continue;
            };
            let cells = LABEL_OFFSETS.iter().map(|inward| {
                let (x, y) = ring.label_dot(needle.port, *inward);
                ((x / 2.0).floor() as u16, (y / 4.0).floor() as u16)
            });
            let free = cells
                .filter(|(col, row)| *col < area.width && *row < area.height)
                .filter(|(col, row)| drawing(*col, *row))
                .find(|cell| !taken.contains(cell));
            if let Some((col, row)) = free {
                taken.push((col, row));
                let style = self.theme.bold().fg(needle.color);
                buf.set_string(area.x + col, area.y + row, label.to_string(), style);
            }
        }
    }

    /// Writes the range's ends on `row`, on each side of the gap at 12 o'clock; returns where.
    fn render_ends(&self, area: Rect, row: u16, centre_col: u16, buf: &mut Buffer) -> Vec<Rect> {
        let low = format!("{}→", self.range.low);
        let high = self.range.high.to_string();
        let style = self.theme.bold();
        let (x, y) = (area.x + centre_col + 1, area.y + row);
        let mut written = Vec::new();
        if x < area.right() {
            let (end, _) = buf.set_stringn(x, y, &low, usize::from(area.right() - x), style);
            written.push(Rect::new(x, y, end - x, 1));
        }
        if let Some(x) = (area.x + centre_col).checked_sub(high.len() as u16 + 1)
            && x >= area.x
        {
            buf.set_string(x, y, &high, style);
            written.push(Rect::new(x, y, high.len() as u16, 1));
        }
        written
    }

    /// Writes the centre text in the widest box inscribed in a circle of `radius` dots around
    /// `centre` that holds the most lines; lines that do not fit are left out whole, the last first.
    /// Returns where.
    fn render_centre(
        &self,
        area: Rect,
        centre: (f64, f64),
        radius: f64,
        buf: &mut Buffer,
    ) -> Vec<Rect> {
        let lines = &self.centre;
        // A box of `w` cells by `n` rows reaches (w, 2n) dots from the centre.
        let width_for =
            |n: usize| (radius * radius - (2.0 * n as f64).powi(2)).max(0.0).sqrt() as usize;
        let mut best: (usize, Vec<(String, Style)>) = (usize::MAX, Vec::new());
        for rows in (1..).take_while(|n| width_for(*n) >= 4) {
            let (kept, lost) = fit(lines, width_for(rows), rows);
            if lost < best.0 {
                best = (lost, kept);
            }
            if lost == 0 {
                break;
            }
        }
        let shown = best.1;
        let (cx, cy) = ((centre.0 / 2.0) as u16, (centre.1 / 4.0) as u16);
        let top = (area.y + cy).saturating_sub((shown.len().saturating_sub(1) / 2) as u16);
        let mut written = Vec::new();
        for (i, (text, style)) in shown.iter().enumerate() {
            let len = text.chars().count() as u16;
            let x = (area.x + cx)
                .saturating_sub(len.saturating_sub(1) / 2)
                .max(area.x);
            let y = top + i as u16;
            if y < area.bottom() && x < area.right() {
                let (end, _) = buf.set_stringn(x, y, text, usize::from(area.right() - x), *style);
                written.push(Rect::new(x, y, end - x, 1));
            }
        }
        written
    }

    /// Draws the ring in `canvas`, with the range's ends, the centre's text and, with `labels`, the
    /// needles' labels.
    fn render_ring(&self, canvas: Rect, labels: bool, buf: &mut Buffer) {
        // Dots: 2 per column, 4 per row. A row above the ring holds the range's ends; the ring
        // and that row are centred in the canvas.
        let (w, h) = (
            usize::from(canvas.width) * 2,
            usize::from(canvas.height) * 4,
        );
        let outer = ((w - 1) as f64 / 2.0).min((h - 5) as f64 / 2.0) - 0.5;
        let slack = ((h as f64 - 5.0 - 2.0 * outer) / 2.0).floor().max(0.0);
        let centre = ((w - 1) as f64 / 2.0, slack + 4.0 + outer);
        let label_row = ((slack as u16 + 4) / 4).saturating_sub(1);
        let bar = (outer * 0.22).round().clamp(2.0, 10.0);
        let radius = outer - bar;
        if radius < 6.0 {
            return;
        }
        let ring = Ring {
            geometry: DialGeometry::for_radius(self.range, radius),
            ports: self.ports,
            theme: self.theme,
            size: (w, h),
            centre,
            radius,
            bar,
            needles: &self.needles,
            trail: self.trail,
        };
        let text_radius = ring.inner_radius() - 1.0;
        if self.theme.ascii() {
            Grid::of(&ring, canvas).render(canvas, buf);
        } else {
            Canvas::default()
                .marker(Marker::Braille)
                .x_bounds([0.0, (w - 1) as f64])
                .y_bounds([0.0, (h - 1) as f64])
                .paint(|ctx| ctx.draw(&ring))
                .render(canvas, buf);
        }
        let mut text = self.render_ends(canvas, label_row, (centre.0 / 2.0) as u16, buf);
        text.extend(self.render_centre(canvas, centre, text_radius, buf));
        if labels {
            self.render_labels(&ring, canvas, &text, buf);
        }
    }
}

/// Word-wraps `lines` to `width` columns and keeps the first ones whose rows fit in `rows`;
/// returns the rows kept and how many lines were left out.
fn fit(lines: &[(String, Style)], width: usize, rows: usize) -> (Vec<(String, Style)>, usize) {
    let mut kept = Vec::new();
    for (i, (text, style)) in lines.iter().enumerate() {
        let wrapped = wrap(text, width);
        if kept.len() + wrapped.len() > rows || wrapped.iter().any(|w| w.chars().count() > width) {
            return (kept, lines.len() - i);
        }
        kept.extend(wrapped.into_iter().map(|w| (w, *style)));
    }
    (kept, 0)
}

impl Widget for Dial<'_> {
    fn render(mut self, area: Rect, buf: &mut Buffer) {
        let theme = self.theme;
        let block = Block::bordered()
            .title(self.title.clone())
            .title_bottom(self.caption.clone())
            .border_style(self.theme.border(false));
        let inner = block.inner(area);
        block.render(area, buf);
        // Legends below the ring while it keeps its minimum size: the needles', then the uses'.
        let entries = (self.needles.iter()).filter_map(|n| {
            n.legend
                .as_ref()
                .map(|(label, name)| (*label, n.color, &name[..]))
        });
        let mut room = usize::from(inner.height.saturating_sub(MIN_CANVAS_ROWS));
        let mut fits = |legend: &Legend| {
            let fits = legend.rows() <= room;
            if fits {
                room -= legend.rows();
            }
            fits
        };
        let needle_legend = Some(Legend::needles(
            entries,
            inner.width,
            NEEDLE_ROWS,
            self.theme,
        ))
        .filter(&mut fits);
        let use_legend = Some(Legend::uses(self.ports, inner.width, self.theme)).filter(&mut fits);
        let legends: Vec<&Legend> = needle_legend.iter().chain(&use_legend).collect();
        // Needles without a place in the legend are not drawn, but for the first.
        let listed = needle_legend.as_ref().map_or(0, Legend::len);
        let mut seen = 0;
        self.needles.retain(|n| {
            seen += usize::from(n.legend.is_some());
            n.legend.is_none() || seen <= listed.max(1)
        });
        let legend_rows: u16 = legends.iter().map(|l| l.rows() as u16).sum();
        let canvas_rows = inner.height - legend_rows;
        let canvas = Rect {
            height: canvas_rows,
            ..inner
        };
        let mut y = inner.y + canvas_rows;
        for legend in legends {
            let rows = legend.rows() as u16;
            legend.render(
                Rect {
                    y,
                    height: rows,
                    ..inner
                },
                buf,
            );
            y += rows;
        }
        if canvas.width >= 4 && canvas.height >= 3 {
            self.render_ring(canvas, listed > 0, buf);
        }
        if theme.ascii() {
            ascii::downgrade(buf, area);
        }
    }
}
