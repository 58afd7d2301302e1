//! The dial's drawing: the ring of the range, the bars of the ports in use outside it, the ticks of
//! blocked ports inside it, the trail of recent allocations, the needles' predicted windows as arcs
//! along the inside of the ring, and the needles. Everything is painted straight onto dots, in this
//! order, so that a cell shows the colour (and in plain characters the character) of the last thing
//! drawn in it. The dots are a braille canvas's, or those of a [`Grid`](super::grid::Grid) of plain
//! characters, with as many dots per cell, so that both draw the same ring.

use super::Needle;
use super::geometry::{DialGeometry, END, START, polar, wrap};
use crate::model::{PortMap, PortUse};
use crate::ui::ascii;
use crate::ui::theme::{Texture, Theme};
use ratatui::style::Color;
use ratatui::widgets::canvas::{Painter, Shape};

/// Connection uses, drawn as bars outward from the ring, innermost first.
const BAR_USES: [PortUse; 3] = [PortUse::Established, PortUse::Other, PortUse::TimeWait];
/// Ports connect() skips, drawn as ticks inward from the ring (the later wins a shared cell).
const TICK_USES: [PortUse; 2] = [PortUse::Bound, PortUse::Reserved];
/// Length of the ticks of blocked ports, in dots.
const TICK: f64 = 2.0;
/// Length of the newest trail mark, in dots; older ones are a dot shorter each.
const TRAIL: f64 = 4.0;
/// Thickness of a window's arc, in dots.
const WINDOW: f64 = 2.0;
/// The shortest arc a window is drawn as, in dots along the ring: on a wide range a window of a
/// few ports is far narrower than a dot.
const MIN_WINDOW: f64 = 3.0;

/// How a thing is painted: its colour, its texture and its plain character.
#[derive(Clone, Copy)]
struct Paint {
    color: Color,
    texture: Texture,
    mark: char,
}

/// Where the ring's dots go.
pub(super) trait Dots {
    /// Paints the dot at (`x`, `y`), inside the canvas.
    fn paint(&mut self, x: usize, y: usize, color: Color, mark: char);
}

impl Dots for Painter<'_, '_> {
    fn paint(&mut self, x: usize, y: usize, color: Color, _: char) {
        Painter::paint(self, x, y, color);
    }
}

/// Everything the ring shows, placed on a canvas of `size` braille dots.
pub(super) struct Ring<'a> {
    pub geometry: DialGeometry,
    pub ports: &'a PortMap,
    pub theme: Theme,
    /// Canvas size in dots.
    pub size: (usize, usize),
    pub centre: (f64, f64),
    /// Radius of the ring, in dots.
    pub radius: f64,
    /// Longest bar, in dots.
    pub bar: f64,
    pub needles: &'a [Needle],
    /// Recent allocations, oldest first.
    pub trail: &'a [u16],
}

impl Ring<'_> {
    /// Inside the ticks, the radius where windows' arcs begin and trail marks start inward from;
    /// needles stop there.
    pub fn inner_radius(&self) -> f64 {
        self.radius - TICK - WINDOW
    }

    /// The braille dot where the label of a needle pointing at `port` goes: where it meets its
    /// window, inside the ring, or `inward` dots further in.
    pub fn label_dot(&self, port: u16, inward: f64) -> (f64, f64) {
        let r = self.inner_radius() + WINDOW / 2.0 - inward;
        polar(
            self.centre.0,
            self.centre.1,
            r,
            self.geometry.angle_of(port),
        )
    }

    fn dot(&self, dots: &mut impl Dots, radius: f64, angle: f64, paint: Paint) {
        let (x, y) = polar(self.centre.0, self.centre.1, radius, angle);
        let (x, y) = (x.round(), y.round());
        if x < 0.0 || y < 0.0 {
            return;
        }
        let (x, y) = (x as usize, y as usize);
        if x < self.size.0 && y < self.size.1 && paint.texture.covers(x, y) {
            dots.paint(x, y, paint.color, paint.mark);
        }
    }

    /// Paints the band between radii `radii.0` and `radii.1` over the angles `angles.0..angles.1`
    /// (going on from the range's start past its end).
    fn band(&self, dots: &mut impl Dots, radii: (f64, f64), angles: (f64, f64), paint: Paint) {
        let step = 0.5 / radii.1.max(1.0);
        let mut r = radii.0;
        while r < radii.1 {
            let mut a = angles.0;
            while a < angles.1 {
                self.dot(dots, r, wrap(a), paint);
                a += step;
            }
            r += 1.0;
        }
    }

    fn paint_of(&self, u: PortUse) -> Paint {
        Paint {
            color: self.theme.port_use(u),
            texture: self.theme.texture(u),
            mark: ascii::mark(u),
        }
    }

    /// The arc of a needle's window, from its port to `last`, along the inside of the ticks.
    fn draw_window(&self, dots: &mut impl Dots, needle: &Needle, last: u16) {
        let (start, len) = self.geometry.sweep(needle.port, last);
        let len = len.max(MIN_WINDOW / self.radius);
        let inner = self.inner_radius();
        let paint = Paint {
            color: needle.color,
            texture: Texture::Solid,
            mark: ascii::WINDOW,
        };
        self.band(dots, (inner, inner + WINDOW), (start, start + len), paint);
    }

    /// A radial stroke at `angle` from `from` to `to` (exclusive) in solid `color`, or `mark`.
    fn stroke(
        &self,
        dots: &mut impl Dots,
        angle: f64,
        (from, to): (f64, f64),
        color: Color,
        mark: char,
    ) {
        let paint = Paint {
            color,
            texture: Texture::Solid,
            mark,
        };
        let mut r = from;
        while r < to {
            self.dot(dots, r, angle, paint);
            r += 0.5;
        }
    }

    fn draw_arc(&self, dots: &mut impl Dots, arc: u32) {
        let offsets = self.geometry.arc_offsets(arc);
        let span = self.geometry.arc_span(arc);
        let counts = self.ports.counts(offsets.start, offsets.end);
        let total = offsets.len() as f64;
        let angles = (span.start, span.end);
        let used: u32 = BAR_USES.iter().map(|u| counts[*u as usize]).sum();
        if used > 0 {
            // The bar's length is the share of the arc's ports in use, at least one dot.
            let len = (f64::from(used) / total * self.bar)
                .ceil()
                .clamp(1.0, self.bar);
            let mut done = 0;
            let mut inner = 0.0;
            for u in BAR_USES {
                done += counts[u as usize];
                let outer = (f64::from(done) / f64::from(used) * len).round();
                if outer > inner {
                    let base = self.radius + 1.0;
                    let radii = (base + inner, base + outer);
                    self.band(dots, radii, angles, self.paint_of(u));
                    inner = outer;
                }
            }
        }
        for u in TICK_USES {
            if counts[u as usize] > 0 {
                let radii = (self.radius - TICK, self.radius);
                self.band(dots, radii, angles, self.paint_of(u));
            }
        }
    }

    /// Paints everything onto `dots`.
    pub fn paint(&self, dots: &mut impl Dots) {
        let step = 0.5 / self.radius.max(1.0);
        let mut a = START;
        while a < END {
            let ring = Paint {
                texture: Texture::Solid,
                ..self.paint_of(PortUse::Free)
            };
            self.dot(dots, self.radius, a, ring);
            a += step;
        }
        for arc in 0..self.geometry.arcs() {
            self.draw_arc(dots, arc);
        }
        let inner = self.inner_radius();
        for (age, port) in self.trail.iter().rev().enumerate() {
            let len = (TRAIL - age as f64).max(1.0);
            let color = if age == 0 {
                self.theme.needle(0)
            } else {
                self.theme.trail()
            };
            let angle = self.geometry.angle_of(*port);
            self.stroke(dots, angle, (inner - len, inner), color, ascii::TRAIL);
        }
        for needle in self.needles {
            if let Some(last) = needle.window_end {
                self.draw_window(dots, needle, last);
            }
        }
        for needle in self.needles {
            let angle = self.geometry.angle_of(needle.port);
            self.stroke(dots, angle, (0.0, inner), needle.color, ascii::NEEDLE);
        }
    }
}

impl Shape for Ring<'_> {
    fn draw(&self, painter: &mut Painter) {
        self.paint(painter);
    }
}
