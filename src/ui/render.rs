//! One frame of the dashboard, from the [`App`] alone: header, dial, panels, footer or prompt, and
//! the help on top. Works from the snapshot's aggregates and builds only what is visible, so a
//! frame costs the same whatever the size of the socket table.

use super::app::App;
use super::ascii;
use super::help;
use super::layout;
use super::panels::{self, Panel};
use super::too_small;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

/// Header lines on screens shorter than this, and one more on taller ones.
const TALL: u16 = 30;

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    let theme = app.theme;
    let max_header = if area.height >= TALL { 4 } else { 3 };
    let header = panels::header::lines(app, area.width, max_header);
    let bottom = if app.prompt.is_some() { 2 } else { 1 };
    let Some(areas) = layout::compute(area, header.len() as u16, bottom, app.panel) else {
        too_small::render(area, frame.buffer_mut(), theme);
        return;
    };
    let buf = frame.buffer_mut();
    for (y, line) in (areas.header.y..).zip(&header) {
        line.render(
            Rect {
                y,
                height: 1,
                ..areas.header
            },
            buf,
        );
    }
    panels::dial::render(app, areas.dial, buf);
    for (panel, rect, expanded) in &areas.panels {
        let focused = *panel == app.panel;
        let render = match panel {
            Panel::Destinations => panels::destinations::render,
            Panel::Reuse => panels::reuse::render,
            Panel::TimeWait => panels::timewait::render,
        };
        render(app, *rect, buf, focused, *expanded);
    }
    let cursor = match &app.prompt {
        Some(prompt) => Some(prompt.render(areas.bottom, buf, theme)),
        None => {
            panels::footer::render(areas.bottom, buf, theme, app.timeline.is_some());
            None
        }
    };
    if app.consumers {
        panels::consumers::render(app, area, buf);
    }
    if app.help {
        help::render(area, buf, theme, app.timeline.is_some());
    }
    if theme.ascii() {
        ascii::downgrade(buf, area);
    }
    if let Some(position) = cursor.filter(|_| !app.help) {
        frame.set_cursor_position(position);
    }
}
