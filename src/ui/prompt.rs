//! The `/` filter prompt: a one-line editor for a filter expression, with the parser's error shown
//! under it until the text is edited. The previous filter stays in force until one parses.

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

const LABEL: &str = "filter: ";
const HINT: &str =
    "Enter applies · Esc cancels · e.g. dst 10.0.0.5:443 · dport = :5432 and state time-wait";

/// The prompt's text, cursor and error.
#[derive(Clone, Debug, Default)]
pub struct Prompt {
    text: Vec<char>,
    cursor: usize,
    error: Option<String>,
}

impl Prompt {
    /// A prompt holding `initial`, the cursor at its end.
    pub fn new(initial: &str) -> Prompt {
        let text: Vec<char> = initial.chars().collect();
        Prompt {
            cursor: text.len(),
            text,
            error: None,
        }
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
                self.text.insert(self.cursor, c);
                self.cursor += 1;
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
}
