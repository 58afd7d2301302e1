//! portradar in a pseudo-terminal (portable-pty), its screen parsed with vt100: start it with a
//! size, read the screen, wait for a screen condition against a deadline, send keys, quit or wait
//! for its exit. Everything it writes is kept too, for tests of the raw terminal sequences. It is
//! killed when dropped.

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The terminal's height.
pub const ROWS: u16 = 40;
/// How long a condition may take to hold.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// portradar running in a pseudo-terminal.
pub struct Term {
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte portradar wrote to the terminal.
    output: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Term {
    /// Runs `portradar args` in a terminal of `ROWS` × `cols`, in colour (`TERM=xterm-256color`,
    /// without `NO_COLOR`).
    pub fn start(args: &[&str], cols: u16) -> Term {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_portradar"));
        cmd.args(args);
        // Not the home directory, which portable-pty picks by default and may not be readable.
        cmd.cwd(std::env::current_dir().expect("a working directory"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let child = pair.slave.spawn_command(cmd).expect("spawn portradar");
        drop(pair.slave);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            cols.try_into().expect("a width"),
            0,
        )));
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let (parser, written) = (Arc::clone(&screen), Arc::clone(&output));
        thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                written.lock().unwrap().extend_from_slice(&buf[..n]);
                parser.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().unwrap();
        Term {
            screen,
            output,
            writer,
            child,
            _master: pair.master,
        }
    }

    /// The screen's text.
    pub fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Every byte portradar wrote so far.
    pub fn output(&self) -> Vec<u8> {
        self.output.lock().unwrap().clone()
    }

    /// Whether the terminal shows the alternate screen.
    pub fn alternate_screen(&self) -> bool {
        self.screen.lock().unwrap().screen().alternate_screen()
    }

    /// Whether the cursor is hidden.
    pub fn cursor_hidden(&self) -> bool {
        self.screen.lock().unwrap().screen().hide_cursor()
    }

    /// portradar's process id.
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("a pid")
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Polls the screen until `ok` holds, and returns it; fails if portradar exits first or the
    /// deadline passes, naming `what` and showing the screen.
    pub fn wait_for(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.contents();
            if ok(&screen) {
                return screen;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("portradar exited ({status:?}) waiting for {what}; screen:\n{screen}");
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until portradar exits and returns its status; fails naming `why` it should have.
    pub fn wait_exit(&mut self, why: &str) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "portradar did not exit on {why}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses `q` and returns the exit status and whether the alternate screen was left.
    pub fn quit(mut self) -> (ExitStatus, bool) {
        self.send("q");
        let status = self.wait_exit("q");
        // Let the reader take the last bytes (leaving the alternate screen) in.
        let settle = Instant::now() + Duration::from_secs(2);
        while self.alternate_screen() && Instant::now() < settle {
            thread::sleep(Duration::from_millis(10));
        }
        (status, !self.alternate_screen())
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
