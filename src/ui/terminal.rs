//! The terminal session: raw mode, the alternate screen and bracketed paste on entry, and their
//! undoing whatever happens next: on drop (quit, error, signal), from a panic hook that restores the
//! terminal before the panic message is printed, and on SIGHUP from the signal thread. Restoring is
//! idempotent. Each frame is drawn inside a synchronized update, so terminals that support it never
//! show a half-drawn frame, and with stdout locked, so that a restore from another thread comes
//! between two frames, never inside one.

use crossterm::cursor::Show;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{
    BeginSynchronizedUpdate, Clear, ClearType, EndSynchronizedUpdate, EnterAlternateScreen,
    LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::backend::CrosstermBackend;
use ratatui::{Frame, Terminal};
use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// True while the terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Set when SIGHUP restores the terminal on its way to exiting the process.
static HUNG_UP: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Leaves raw mode, bracketed paste and the alternate screen if the dashboard entered them, and
/// shows the cursor.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        // Between two frames.
        let mut out = io::stdout().lock();
        // Nothing useful can be done about a failure here: the terminal may be gone.
        let _ = disable_raw_mode();
        let _ = execute!(out, DisableBracketedPaste, LeaveAlternateScreen, Show);
    }
}

/// [`restore`] on SIGHUP, whose thread exits the process next: the UI thread's next frame waits
/// for that exit instead of failing.
pub fn restore_on_hangup() {
    HUNG_UP.store(true, Ordering::SeqCst);
    restore();
}

/// The dashboard's hold on the terminal.
pub struct Session {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Session {
    /// Switches the terminal to raw mode and the alternate screen.
    pub fn enter() -> io::Result<Session> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, Drop restores whatever fails.
        let mut session = Session {
            terminal: Terminal::new(CrosstermBackend::new(io::stdout()))?,
        };
        // Cleared without ratatui's `clear`, which asks the terminal where its cursor is: a query
        // some terminals never answer.
        execute!(
            session.terminal.backend_mut(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            Clear(ClearType::All)
        )?;
        Ok(session)
    }

    /// Draws one frame. Fails if the terminal was restored behind the session's back by a panic on
    /// another thread; after SIGHUP, waits for the process to exit.
    pub fn draw(&mut self, render: impl FnOnce(&mut Frame)) -> io::Result<()> {
        let frame = io::stdout().lock();
        if !ACTIVE.load(Ordering::SeqCst) {
            drop(frame);
            while HUNG_UP.load(Ordering::SeqCst) {
                std::thread::park();
            }
            return Err(io::Error::other("the terminal was restored after a panic"));
        }
        execute!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        let drawn = self.terminal.draw(render).map(|_| ());
        execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        drop(frame);
        drawn
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore();
    }
}
