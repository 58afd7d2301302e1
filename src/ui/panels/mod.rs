//! The dashboard's panels: the header and footer around the screen, and the three panels beside
//! the dial that Tab moves between. A panel with too little room collapses to a one-line summary.

pub mod consumers;
pub mod destinations;
pub mod dial;
pub mod footer;
pub mod header;
pub mod namespaces;
pub mod reuse;
pub mod timeline;
pub mod timewait;

use super::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

/// The panels Tab cycles through, in screen order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Panel {
    #[default]
    Destinations,
    Reuse,
    TimeWait,
}

impl Panel {
    pub const ALL: [Panel; 3] = [Panel::Destinations, Panel::Reuse, Panel::TimeWait];

    pub fn next(self) -> Panel {
        Panel::ALL[(self as usize + 1) % Panel::ALL.len()]
    }

    pub fn previous(self) -> Panel {
        Panel::ALL[(self as usize + Panel::ALL.len() - 1) % Panel::ALL.len()]
    }

    pub fn title(self) -> &'static str {
        match self {
            Panel::Destinations => "Destinations",
            Panel::Reuse => "Reused local ports",
            Panel::TimeWait => "TIME_WAIT",
        }
    }
}

/// A panel's frame: its title (bold when focused) and a summary on the right of the top border.
pub fn block<'a>(panel: Panel, detail: String, focused: bool, theme: Theme) -> Block<'a> {
    let title = if focused {
        theme.bold()
    } else {
        Default::default()
    };
    let mut spans = vec![Span::styled(format!(" {} ", panel.title()), title)];
    if !detail.is_empty() {
        spans.push(Span::raw(format!("{detail} ")));
    }
    Block::bordered()
        .border_style(theme.border(focused))
        .title(Line::from(spans))
}

/// A dim line in place of a panel's content (`waiting for the first refresh…`, `none`).
pub fn placeholder(text: &str, inner: Rect, buf: &mut Buffer, theme: Theme) {
    buf.set_stringn(
        inner.x,
        inner.y,
        text,
        usize::from(inner.width),
        theme.dim(),
    );
}

/// A collapsed panel: one line with a marker, its title and `summary`.
pub fn render_collapsed(
    panel: Panel,
    summary: &str,
    focused: bool,
    area: Rect,
    buf: &mut Buffer,
    theme: Theme,
) {
    let marker = if focused { "▶" } else { "▸" };
    let line = Line::from(vec![
        Span::styled(
            format!("{marker} {} ", panel.title()),
            theme.border(focused),
        ),
        Span::raw(summary.to_string()),
    ]);
    line.render(area, buf);
}
