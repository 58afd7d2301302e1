//! The `/` filter prompt: a one-line editor for a filter expression, with the parser's error shown
//! under it until the text is edited. The previous filter stays in force until one parses. A paste
//! arrives whole: its line breaks and tabs become spaces, and the text stops at [`MAX_CHARS`], with
//! a note saying so.

use super::format::thousands;
use super::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};

/// What a key did to the prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptEvent {
    Edited,
    Cancel,
    Submit,
}

/// The longest filter the prompt holds, in characters.
pub const MAX_CHARS: usize = 4096;

const LABEL: &str = "filter: ";
const HINT: &str =
    "Enter applies · Esc cancels · e.g. dst 10.0.0.5:443 · dport = :5432 and state time-wait";

/// The prompt's text, cursor, and error or note.
#[derive(Clone, Debug, Default)]
pub struct Prompt {
    text: Vec<char>,
    cursor: usize,
    error: Option<String>,
    /// Said under the prompt until the next edit: the text was cut at [`MAX_CHARS`].
    full: bool,
}

impl Prompt {
    /// A prompt holding `initial`, the cursor at its end.
    pub fn new(initial: &str) -> Prompt {
        let text: Vec<char> = initial.chars().collect();
        Prompt {
            cursor: text.len(),
            text,
            error: None,
            full: false,
        }
    }

    /// Inserts `chars` at the cursor, as many as fit under [`MAX_CHARS`]; notes when some did not.
    fn insert(&mut self, chars: impl Iterator<Item = char>) {
        let room = MAX_CHARS.saturating_sub(self.text.len());
        let mut chars = chars.peekable();
        let fitting: Vec<char> = chars.by_ref().take(room).collect();
        self.full = chars.peek().is_some();
        let n = fitting.len();
        self.text.splice(self.cursor..self.cursor, fitting);
        self.cursor += n;
        self.error = None;
    }

    /// Inserts pasted text at the cursor: line breaks and tabs become spaces (a CR LF pair one
    /// space), other control characters are dropped.
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", " ");
        let chars = text
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .filter(|c| !c.is_control());
        self.insert(chars);
    }

    pub fn text(&self) -> String {
        self.text.iter().collect()
    }

    /// Shows why the text was refused.
    pub fn fail(&mut self, error: String) {
        self.error = Some(error);
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> PromptEvent {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Enter => return PromptEvent::Submit,
            KeyCode::Esc => return PromptEvent::Cancel,
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.text.len(),
            KeyCode::Char('u') if ctrl => {
                self.text.drain(..self.cursor);
                self.cursor = 0;
            }
            KeyCode::Char('w') if ctrl => {
                let mut start = self.cursor;
                while start > 0 && self.text[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.text[start - 1] != ' ' {
                    start -= 1;
                }
                self.text.drain(start..self.cursor);
                self.cursor = start;
            }
            KeyCode::Char(c) if !ctrl => {
                self.insert(std::iter::once(c));
                return PromptEvent::Edited;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.text.remove(self.cursor);
            }
            KeyCode::Delete if self.cursor < self.text.len() => {
                self.text.remove(self.cursor);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.text.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.text.len(),
            _ => return PromptEvent::Edited,
        }
        self.error = None;
        self.full = false;
        PromptEvent::Edited
    }

    /// Draws the prompt on the first row of `area` and the error (or a hint) on the second;
    /// returns where the terminal's cursor goes.
    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: Theme) -> Position {
        let width = usize::from(area.width);
        buf.set_stringn(area.x, area.y, LABEL, width, theme.bold());
        let room = width.saturating_sub(LABEL.len() + 1).max(1);
        // Scroll so that the cursor stays visible.
        let first = self.cursor.saturating_sub(room);
        let shown: String = self.text[first..].iter().take(room).collect();
        let x = area.x + LABEL.len() as u16;
        if x < area.right() {
            buf.set_stringn(x, area.y, &shown, room, ratatui::style::Style::new());
        }
        if area.height > 1 {
            let (line, style) = match &self.error {
                Some(e) => (format!("✗ {e}"), theme.error()),
                None if self.full => (
                    format!("⚠ cut at {} characters", thousands(MAX_CHARS as u64)),
                    theme.warning(),
                ),
                None => (HINT.to_string(), theme.dim()),
            };
            buf.set_stringn(area.x, area.y + 1, &line, width, style);
        }
        let col = (LABEL.len() + self.cursor - first).min(width.saturating_sub(1));
        Position::new(area.x + col as u16, area.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(p: &mut Prompt, s: &str) {
        for c in s.chars() {
            p.on_key(&KeyEvent::from(KeyCode::Char(c)));
        }
    }

    #[test]
    fn edits_like_a_shell_line() {
        let mut p = Prompt::new("dst 10.0.0.5");
        typed(&mut p, ":443");
        assert_eq!(p.text(), "dst 10.0.0.5:443");
        p.on_key(&KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(p.text(), "dst ");
        p.on_key(&KeyEvent::from(KeyCode::Home));
        typed(&mut p, "not ");
        p.on_key(&KeyEvent::from(KeyCode::End));
        p.on_key(&KeyEvent::from(KeyCode::Backspace));
        assert_eq!(p.text(), "not dst");
        p.fail("bad".into());
        assert_eq!(p.error.as_deref(), Some("bad"));
        typed(&mut p, "x");
        assert_eq!(p.error, None, "editing clears the error");
        assert_eq!(
            p.on_key(&KeyEvent::from(KeyCode::Enter)),
            PromptEvent::Submit
        );
        assert_eq!(p.on_key(&KeyEvent::from(KeyCode::Esc)), PromptEvent::Cancel);
    }

    #[test]
    fn a_paste_is_one_line_of_text_at_the_cursor() {
        let mut p = Prompt::new("dst 10.0.0.5 and");
        p.on_key(&KeyEvent::from(KeyCode::Home));
        p.paste("state\r\nestablished\n\tand\x07 ");
        assert_eq!(p.text(), "state established  and dst 10.0.0.5 and");
        assert_eq!(p.cursor, "state established  and ".len());
        assert!(!p.full);
    }

    #[test]
    fn a_long_paste_is_cut_with_a_note_until_the_next_edit() {
        let mut p = Prompt::new("dst ");
        p.paste(&"x".repeat(200_000));
        assert_eq!(p.text.len(), MAX_CHARS);
        assert_eq!(p.cursor, MAX_CHARS);
        assert!(p.full);
        let mut buf = Buffer::empty(Rect::new(0, 0, 60, 2));
        p.render(buf.area, &mut buf, Theme::new(false));
        let note: String = (0..60).map(|x| buf[(x, 1)].symbol().to_string()).collect();
        assert_eq!(note.trim_end(), "⚠ cut at 4,096 characters");
        typed(&mut p, "y");
        assert_eq!(p.text.len(), MAX_CHARS, "typing stops at the cap too");
        assert!(p.full);
        p.on_key(&KeyEvent::from(KeyCode::Backspace));
        assert!(!p.full, "an edit clears the note");
        typed(&mut p, "y");
        assert_eq!(p.text.len(), MAX_CHARS);
        assert!(!p.full);
    }
}
