//! The dial panel: what the dial shows for the dashboard's state. Focused on a destination, it says
//! how many more connect() calls to it can succeed ("12,431 free of 28,232"); otherwise how many
//! ports of the range no socket uses. The needle follows the newest allocation, labelled inferred.

use crate::model::PortUse;
use crate::ui::app::App;
use crate::ui::dial::{Dial, Needle};
use crate::ui::format::thousands;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Widget};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let theme = app.theme;
    let Some(snapshot) = app.snapshot() else {
        let block = Block::bordered().title(" Port range ").border_style(theme.border(false));
        let inner = block.inner(area);
        block.render(area, buf);
        buf.set_stringn(inner.x, inner.y, "waiting for the first refresh…", usize::from(inner.width), theme.dim());
        return;
    };
    let range = snapshot.settings.port_range;
    let size = thousands(u64::from(range.size()));
    let (title, centre) = match app.focused_destination() {
        Some(d) => {
            let tightest = d.headroom.iter().min_by_key(|h| h.free);
            let free = tightest.map_or(range.size(), |h| h.free);
            let mut lines = vec![
                (d.remote.to_string(), theme.bold()),
                (format!("{} free of {size}", thousands(u64::from(free))), theme.bold()),
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
            let scope = if app.filter.is_some() { "filtered sockets" } else { "all sockets" };
            let lines = vec![(format!("{} unused of {size}", thousands(u64::from(unused))), Style::new())];
            (format!(" Port range · {scope} "), lines)
        }
    };
    let trail: Vec<u16> = app.trail.newest(usize::MAX).collect();
    let needle = app.trail.last().map(|port| Needle {
        port,
        label: format!("needle {port} (inferred)"),
    });
    Dial::new(&snapshot.ports, range, theme)
        .title(title)
        .centre(centre)
        .needle(needle)
        .trail(&trail)
        .render(area, buf);
}
