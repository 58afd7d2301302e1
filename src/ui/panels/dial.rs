//! The dial panel: what the dial shows for the dashboard's state. Focused on a destination (Enter, or
//! a filter that leaves one), the ring holds that destination's ports and the middle says how many
//! more connect() calls to it can succeed ("12,431 free of 28,232"); otherwise the ring holds every
//! port and the middle says how many no socket uses. The needle points where the pointer model
//! expects the next connect() toward the focused (or else the selected) destination to start, with
//! how often its window was right; with no estimate, at the newest allocated port.

use crate::model::{Destination, PortUse};
use crate::ui::app::App;
use crate::ui::dial::Dial;
use crate::ui::format::thousands;
use crate::ui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Widget};

/// The needle's port and the lines that explain it.
fn needle(
    app: &App,
    pointed: Option<&Destination>,
    focused: bool,
) -> (Option<u16>, Vec<(String, Style)>) {
    let theme = app.theme;
    match pointed.and_then(|d| d.pointer.as_ref().map(|p| (d, p))) {
        Some((d, p)) => {
            let next = format!("next → {} (inferred)", p.window.first);
            let mut lines = vec![(next, theme.bold())];
            if !focused {
                lines.push((format!("to {}", d.remote), theme.dim()));
            }
            if let Some(r) = p.score.rate() {
                lines.push((format!("{:.0}% right", r * 100.0), theme.dim()));
            }
            (Some(p.window.first), lines)
        }
        None => {
            let newest = app.trail.last();
            let lines = newest.map(|port| (format!("newest port {port}"), theme.dim()));
            (newest, lines.into_iter().collect())
        }
    }
}

fn waiting(area: Rect, buf: &mut Buffer, theme: Theme) {
    let block = Block::bordered()
        .title(" Port range ")
        .border_style(theme.border(false));
    let inner = block.inner(area);
    block.render(area, buf);
    let text = "waiting for the first refresh…";
    buf.set_stringn(
        inner.x,
        inner.y,
        text,
        usize::from(inner.width),
        theme.dim(),
    );
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let Some(snapshot) = app.snapshot() else {
        waiting(area, buf, theme);
        return;
    };
    let range = snapshot.settings.port_range;
    let size = thousands(u64::from(range.size()));
    let focused = app.focused_destination();
    let (title, mut centre) = match focused {
        Some(d) => {
            let tightest = d.headroom.iter().min_by_key(|h| h.free);
            let free = thousands(u64::from(tightest.map_or(range.size(), |h| h.free)));
            let mut lines = vec![
                (d.remote.to_string(), theme.bold()),
                (format!("{free} free of {size}"), theme.bold()),
            ];
            if let (Some(h), true) = (tightest, d.headroom.len() > 1) {
                lines.push((format!("from {}", h.local_ip), theme.dim()));
            }
            if let Some(h) = tightest.filter(|h| h.reusable_time_wait > 0) {
                let n = thousands(u64::from(h.reusable_time_wait));
                lines.push((format!("+{n} reusable TIME_WAIT"), theme.dim()));
            }
            (format!(" Port range · dst {} ", d.remote), lines)
        }
        None => {
            let unused = snapshot.ports.counts(0, snapshot.ports.len())[PortUse::Free as usize];
            let scope = if app.filter.is_some() {
                "filtered sockets"
            } else {
                "all sockets"
            };
            let unused = format!("{} unused of {size}", thousands(u64::from(unused)));
            (
                format!(" Port range · {scope} "),
                vec![(unused, Style::new())],
            )
        }
    };
    let pointed = focused.or_else(|| app.selected_destination());
    let (port, lines) = needle(app, pointed, focused.is_some());
    centre.extend(lines);
    let trail: Vec<u16> = app.trail.newest(usize::MAX).collect();
    Dial::new(&snapshot.ports, range, theme)
        .title(title)
        .centre(centre)
        .needle(port)
        .trail(&trail)
        .render(area, buf);
}
