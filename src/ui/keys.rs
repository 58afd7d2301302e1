//! The keys of the dashboard: what each one does, and the one table the footer
//! and the help overlay are both written from.

use super::cursor::Move;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for outside the prompt and the help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    OpenPrompt,
    ClearFilter,
    NextPanel,
    PreviousPanel,
    Move(Move),
    FocusSelected,
    CycleSort,
    ToggleFreeze,
    LongerInterval,
    ShorterInterval,
    /// Show who holds the selected destination's ports.
    Consumers,
}

/// One line of key help: the keys, a word for the footer, a sentence for the help overlay.
pub struct KeyHelp {
    pub keys: &'static str,
    pub short: &'static str,
    pub long: &'static str,
}

/// Every key, in the order the footer shows them (it drops the last ones first).
pub const KEYS: [KeyHelp; 11] = [
    KeyHelp {
        keys: "q",
        short: "quit",
        long: "quit (also Ctrl-C)",
    },
    KeyHelp {
        keys: "?",
        short: "help",
        long: "show or hide this help",
    },
    KeyHelp {
        keys: "/",
        short: "filter",
        long: "type a filter: Enter applies it, Esc cancels",
    },
    KeyHelp {
        keys: "Esc",
        short: "clear",
        long: "clear the filter and the dial's focus",
    },
    KeyHelp {
        keys: "⏎",
        short: "focus",
        long: "focus the dial on the selected destination (filter dst IP:PORT)",
    },
    KeyHelp {
        keys: "space",
        short: "freeze",
        long: "freeze or resume the display",
    },
    KeyHelp {
        keys: "Tab",
        short: "panel",
        long: "next panel (Shift-Tab: previous)",
    },
    KeyHelp {
        keys: "↑↓",
        short: "move",
        long: "move the selection (also j k, PgUp PgDn, Home End)",
    },
    KeyHelp {
        keys: "s",
        short: "sort",
        long: "cycle the destinations' sort order",
    },
    KeyHelp {
        keys: "+-",
        short: "interval",
        long: "longer or shorter refresh interval",
    },
    KeyHelp {
        keys: "c",
        short: "consumers",
        long: "who holds the selected destination's ports (Esc closes)",
    },
];

/// True for Ctrl-C, which quits from anywhere (raw mode turns it into a key).
pub fn is_interrupt(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && matches!(key.code, KeyCode::Char('c' | 'C'))
}

/// The action of `key` on the dashboard itself.
pub fn action(key: &KeyEvent) -> Option<Action> {
    if key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    {
        return None;
    }
    let action = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Char('/') => Action::OpenPrompt,
        KeyCode::Esc => Action::ClearFilter,
        KeyCode::Tab => Action::NextPanel,
        KeyCode::BackTab => Action::PreviousPanel,
        KeyCode::Up | KeyCode::Char('k') => Action::Move(Move::Up),
        KeyCode::Down | KeyCode::Char('j') => Action::Move(Move::Down),
        KeyCode::PageUp => Action::Move(Move::PageUp),
        KeyCode::PageDown => Action::Move(Move::PageDown),
        KeyCode::Home => Action::Move(Move::Home),
        KeyCode::End => Action::Move(Move::End),
        KeyCode::Enter => Action::FocusSelected,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char(' ') => Action::ToggleFreeze,
        KeyCode::Char('+' | '=') => Action::LongerInterval,
        KeyCode::Char('-' | '_') => Action::ShorterInterval,
        KeyCode::Char('c') => Action::Consumers,
        _ => return None,
    };
    Some(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_as_documented() {
        let key = |c| KeyEvent::from(KeyCode::Char(c));
        assert_eq!(action(&key('q')), Some(Action::Quit));
        assert_eq!(action(&key('j')), Some(Action::Move(Move::Down)));
        assert_eq!(action(&key(' ')), Some(Action::ToggleFreeze));
        assert_eq!(action(&key('c')), Some(Action::Consumers));
        assert_eq!(
            action(&KeyEvent::from(KeyCode::BackTab)),
            Some(Action::PreviousPanel)
        );
        assert_eq!(action(&KeyEvent::from(KeyCode::Char('x'))), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(is_interrupt(&ctrl_c) && action(&ctrl_c).is_none());
    }
}
