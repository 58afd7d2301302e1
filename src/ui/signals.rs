//! Termination signals (SIGTERM, SIGINT, SIGQUIT) become a flag the UI loop checks between key
//! polls, so that it quits the normal way and restores the terminal. A second signal while the first
//! is being handled terminates at once. SIGHUP means the terminal itself is gone (window closed, ssh
//! dropped): there is nothing left to restore, and reads from it would only return end-of-file, so it
//! terminates at once with status 129.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGQUIT,
];

/// Exit status after SIGHUP: 128 + the signal number, as a shell reports it.
const HANGUP_STATUS: i32 = 128 + signal_hook::consts::SIGHUP;

/// Set once a termination signal arrived.
#[derive(Clone, Debug)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Installs the handlers.
    pub fn register() -> io::Result<Stop> {
        let flag = Arc::new(AtomicBool::new(false));
        for signal in SIGNALS {
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag))?;
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
        }
        let always = Arc::new(AtomicBool::new(true));
        signal_hook::flag::register_conditional_shutdown(
            signal_hook::consts::SIGHUP,
            HANGUP_STATUS,
            always,
        )?;
        Ok(Stop(flag))
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
