//! The dial panel: what the dial shows for the dashboard's state.
//!
//! Focused on a destination (Enter, or a filter that leaves one), the ring holds that destination's
//! ports; the middle says how many more connect() calls to it can succeed ("12,431 free of 28,232"),
//! where the next one should start and the outlook ("full in 4m05s", "holds at 13.0/s", the
//! half-range warning); the needle points at the start of the window the pointer model predicts,
//! and the window is drawn as an arc. Otherwise the ring holds every port, the middle says how many
//! no socket uses, and the most active destinations have a needle each (chosen and coloured by the
//! app, once per snapshot), named in the legend. Either way the bottom border says the pointer is
//! inferred and how often its window was right (the focused destination's score, or the running
//! one); with no estimate at all, a lone needle points at the newest allocated port.

use super::placeholder;
use crate::model::{Destination, PortUse, Snapshot};
use crate::pointer::{PointerEstimate, Score};
use crate::ui::app::App;
use crate::ui::dial::{Dial, Needle};
use crate::ui::format::thousands;
use crate::ui::live;
use crate::ui::outlook::{self, Outlook};
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Widget};

/// What the dial shows besides the ports.
struct Face {
    title: String,
    centre: Vec<(String, Style)>,
    needles: Vec<Needle>,
    caption: Line<'static>,
}

/// A needle at the start of `p`'s window, with the window as its arc.
fn pointer_needle(p: &PointerEstimate, color: Color, legend: Option<(char, String)>) -> Needle {
    Needle {
        port: p.window.first,
        window_end: Some(p.window.last),
        color,
        legend,
    }
}

/// The needle at the newest allocated port, when no destination has an estimate, and its line.
fn newest_allocation(app: &App) -> (Vec<Needle>, Option<(String, Style)>) {
    let Some(port) = app.trail.last() else {
        return (Vec::new(), None);
    };
    let needle = Needle {
        port,
        window_end: None,
        color: app.theme.needle(0),
        legend: None,
    };
    (
        vec![needle],
        Some((format!("newest port {port}"), app.theme.dim())),
    )
}

/// ` needles inferred · 97% right `: a percentage floored, so 100% means every window held.
fn caption(what: &str, score: &Score, theme: Theme) -> Line<'static> {
    let right = score.rate().map_or("not scored yet".to_string(), |r| {
        format!("{:.0}% right", (r * 100.0).floor())
    });
    Line::styled(format!(" {what} inferred · {right} "), theme.dim())
}

fn focused(app: &App, snapshot: &Snapshot, d: &Destination) -> Face {
    let theme = app.theme;
    let size = snapshot.settings.port_range.size();
    let tightest = d.headroom.iter().min_by_key(|h| h.free);
    let free = thousands(u64::from(tightest.map_or(size, |h| h.free)));
    // The title names the destination. A destination running out says so before its pointer.
    let mut centre = vec![(
        format!("{free} free of {}", thousands(u64::from(size))),
        theme.bold(),
    )];
    let outlook = Outlook::of(d, size);
    let urgent = outlook.runs_out();
    let outlook = outlook
        .phrase()
        .map(|p| (p, outlook::urgency(d, size, theme)));
    if urgent {
        centre.extend(outlook.clone());
    }
    let (needles, caption) = match app.pointer_of(d) {
        Some(p) => {
            let next = format!("next → {} (inferred)", p.window.first);
            centre.push((next, theme.bold()));
            centre.extend(live::skipped(p).map(|s| (s, theme.warning())));
            let needle = pointer_needle(p, theme.needle(0), None);
            (vec![needle], caption("pointer", &p.score, theme))
        }
        None => {
            let (needles, line) = newest_allocation(app);
            centre.extend(line);
            (needles, Line::default())
        }
    };
    if !urgent {
        centre.extend(outlook);
    }
    if outlook::half_range_used(d) {
        centre.push((outlook::HALF_RANGE.into(), theme.warning()));
    }
    if let (Some(h), true) = (tightest, d.headroom.len() > 1) {
        centre.push((format!("from {}", h.local_ip), theme.dim()));
    }
    if let Some(h) = tightest.filter(|h| h.reusable_time_wait > 0) {
        let n = thousands(u64::from(h.reusable_time_wait));
        centre.push((format!("+{n} reusable TIME_WAIT"), theme.dim()));
    }
    Face {
        title: format!(" Port range · dst {} ", d.remote),
        centre,
        needles,
        caption,
    }
}

fn overview(app: &App, snapshot: &Snapshot) -> Face {
    let theme = app.theme;
    let size = thousands(u64::from(snapshot.settings.port_range.size()));
    let unused = snapshot.ports.counts(0, snapshot.ports.len())[PortUse::Free as usize];
    let scope = if app.filter.is_some() {
        "filtered sockets"
    } else {
        "all sockets"
    };
    let mut centre = vec![(
        format!("{} unused of {size}", thousands(u64::from(unused))),
        Style::new(),
    )];
    let pointed = app.view.as_ref().map_or(&[][..], |v| &v.needles);
    let needles: Vec<Needle> = pointed
        .iter()
        .filter_map(|(slot, i)| {
            let d = snapshot.destinations.get(*i as usize)?;
            let p = app.pointer_of(d)?;
            let label = char::from_digit(*slot as u32 + 1, 10)?;
            let legend = Some((label, d.remote.to_string()));
            Some(pointer_needle(p, theme.needle(*slot), legend))
        })
        .collect();
    let (needles, caption) = if needles.is_empty() {
        let (needles, line) = newest_allocation(app);
        centre.extend(line);
        (needles, Line::default())
    } else {
        let score = &snapshot.allocations.score;
        (needles, caption("needles", score, theme))
    };
    Face {
        title: format!(" Port range · {scope} "),
        centre,
        needles,
        caption,
    }
}

fn waiting(area: Rect, buf: &mut Buffer, theme: Theme) {
    let block = Block::bordered()
        .title(" Port range ")
        .border_style(theme.border(false));
    let inner = block.inner(area);
    block.render(area, buf);
    placeholder("waiting for the first refresh…", inner, buf, theme);
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let Some(snapshot) = app.snapshot() else {
        waiting(area, buf, theme);
        return;
    };
    let face = match app.focused_destination() {
        Some(d) => focused(app, snapshot, d),
        None => overview(app, snapshot),
    };
    let trail: Vec<u16> = app.trail.newest(usize::MAX).collect();
    Dial::new(&snapshot.ports, snapshot.settings.port_range, theme)
        .title(face.title)
        .caption(face.caption)
        .centre(face.centre)
        .needles(face.needles)
        .trail(&trail)
        .render(area, buf);
}
