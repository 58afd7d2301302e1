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
    /// Replay only.
    Replay(ReplayAction),
    /// Show who holds the selected destination's ports.
    Consumers,
}

/// What a replay key asks of the player.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayAction {
    StepBack,
    StepForward,
    JumpBack,
    JumpForward,
    Slower,
    Faster,
}

/// One line of key help: the keys, a word for the footer, a sentence for the help overlay, and
/// where the key works.
pub struct KeyHelp {
    pub keys: &'static str,
    pub short: &'static str,
    pub long: &'static str,
    pub mode: Mode,
}

/// Where a key works: live, in a replay, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Both,
    Live,
    Replay,
}

/// The keys of the live dashboard (`replay` false) or of a replay, in the table's order.
pub fn keys_for(replay: bool) -> impl Iterator<Item = &'static KeyHelp> {
    let wanted = if replay { Mode::Replay } else { Mode::Live };
    KEYS.iter()
        .filter(move |k| k.mode == Mode::Both || k.mode == wanted)
}

/// Every key, in the order the footer shows them (it drops the last ones first).
pub const KEYS: [KeyHelp; 15] = [
    KeyHelp {
        keys: "q",
        short: "quit",
        long: "quit (also Ctrl-C)",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "?",
        short: "help",
        long: "show or hide this help",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "/",
        short: "filter",
        long: "type a filter: Enter applies it, Esc cancels",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "Esc",
        short: "clear",
        long: "clear the filter and the dial's focus",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "⏎",
        short: "focus",
        long: "focus the dial on the selected destination (filter dst IP:PORT)",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "space",
        short: "freeze",
        long: "freeze or resume the display",
        mode: Mode::Live,
    },
    KeyHelp {
        keys: "space",
        short: "pause",
        long: "replay: pause or play (at the end: play from the start)",
        mode: Mode::Replay,
    },
    KeyHelp {
        keys: "Tab",
        short: "panel",
        long: "next panel (Shift-Tab: previous)",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "↑↓",
        short: "move",
        long: "move the selection (also j k, PgUp PgDn, Home End)",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "s",
        short: "sort",
        long: "cycle the destinations' sort order",
        mode: Mode::Both,
    },
    KeyHelp {
        keys: "+-",
        short: "interval",
        long: "longer or shorter refresh interval",
        mode: Mode::Live,
    },
    KeyHelp {
        keys: "←→",
        short: "step",
        long: "replay: one table back or forward",
        mode: Mode::Replay,
    },
    KeyHelp {
        keys: "[]",
        short: "minute",
        long: "replay: jump a minute back or forward",
        mode: Mode::Replay,
    },
    KeyHelp {
        keys: "<>",
        short: "speed",
        long: "replay: slower or faster",
        mode: Mode::Replay,
    },
    KeyHelp {
        keys: "c",
        short: "consumers",
        long: "who holds the selected destination's ports (Esc closes)",
        mode: Mode::Live,
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
        KeyCode::Left => Action::Replay(ReplayAction::StepBack),
        KeyCode::Right => Action::Replay(ReplayAction::StepForward),
        KeyCode::Char('[') => Action::Replay(ReplayAction::JumpBack),
        KeyCode::Char(']') => Action::Replay(ReplayAction::JumpForward),
        KeyCode::Char('<' | ',') => Action::Replay(ReplayAction::Slower),
        KeyCode::Char('>' | '.') => Action::Replay(ReplayAction::Faster),
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
        assert_eq!(
            action(&KeyEvent::from(KeyCode::Right)),
            Some(Action::Replay(ReplayAction::StepForward))
        );
        assert!(keys_for(false).all(|k| k.mode != Mode::Replay));
        assert!(keys_for(true).any(|k| k.keys == "[]"));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(is_interrupt(&ctrl_c) && action(&ctrl_c).is_none());
    }
}
