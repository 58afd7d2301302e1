//! Signals. Termination signals (SIGTERM, SIGINT, SIGQUIT) become a flag the UI loop checks between
//! key polls, so that it quits the normal way and restores the terminal; a second one while the
//! first is being handled terminates at once.
//!
//! SIGHUP is handled on a thread of its own, because the UI thread may never come back to look at a
//! flag: once the terminal is gone, crossterm spins reading end-of-file. That thread restores the
//! terminal (it may still be there: `kill -HUP`, a multiplexer detaching) on yet another thread,
//! waits for it a short while at most (a write to a terminal nobody reads can block for ever), and
//! exits with status 129.

use super::terminal;
use signal_hook::consts::SIGHUP;
use signal_hook::iterator::Signals;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGQUIT,
];

/// Exit status after SIGHUP: 128 + the signal number, as a shell reports it.
const HANGUP_STATUS: i32 = 128 + SIGHUP;
/// The longest SIGHUP waits for the terminal to be restored before exiting without it.
const RESTORE_WAIT: Duration = Duration::from_millis(500);

/// Set once a termination signal arrived.
#[derive(Clone, Debug)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Installs the handlers and starts the SIGHUP thread.
    pub fn register() -> io::Result<Stop> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in SIGNALS {
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag))?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        let mut hangups = Signals::new([SIGHUP])?;
        thread::Builder::new()
            .name("sighup".into())
            .spawn(move || {
                if hangups.forever().next().is_some() {
                    hang_up();
                }
            })?;
        Ok(Stop(flag))
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Restores the terminal if that takes no longer than [`RESTORE_WAIT`], then exits with 129.
fn hang_up() -> ! {
    let (done, restored) = mpsc::channel();
    let restorer = thread::Builder::new()
        .name("restore".into())
        .spawn(move || {
            terminal::restore_on_hangup();
            let _ = done.send(());
        });
    if restorer.is_ok() {
        let _ = restored.recv_timeout(RESTORE_WAIT);
    }
    std::process::exit(HANGUP_STATUS);
}
