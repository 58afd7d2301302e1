//! The dashboard records while it runs (`--record`), and `replay` shows the recording: the real
//! binary in a pseudo-terminal (portable-pty), its screen parsed with vt100. The dashboard reads a
//! private namespace of the test's own (root; skipped without it, see `common::have_root`).

mod common;

use common::Netns;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use portradar::record::Recording;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a condition may take to hold.
const DEADLINE: Duration = Duration::from_secs(20);

/// portradar in a 140×40 pseudo-terminal.
struct Term {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Term {
    fn start(args: &[&str]) -> Term {
        let size = PtySize {
            rows: 40,
            cols: 140,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system().openpty(size).expect("openpty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_portradar"));
        cmd.args(args);
        cmd.cwd(std::env::current_dir().expect("a working directory"));
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).expect("spawn portradar");
        drop(pair.slave);
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            40u16.try_into().unwrap(),
            140u16.try_into().unwrap(),
            0,
        )));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let parser = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                parser.lock().unwrap().process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().unwrap();
        Term {
            screen,
            writer,
            child,
            _master: pair.master,
        }
    }

    fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Polls until `ok` holds on the screen, and returns the screen.
    fn wait_for(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
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
                "timed out waiting for {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn quit(mut self) {
        self.send("q");
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "portradar did not quit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// The table number the replay's header shows (`table N/M`).
fn table_shown(screen: &str) -> Option<usize> {
    let at = screen.find("table ")?;
    let digits: String = screen[at + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn the_dashboard_records_and_replay_steps_through_it() {
    let Some(ns) = Netns::for_test("rec-pty") else {
        return;
    };
    let path = std::env::temp_dir().join(format!("portradar-pty-{}.rec", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let file = path.to_str().unwrap();
    let netns = ns.path();
    let mut live = Term::start(&["--record", file, "--interval", "100", "-N", &netns]);
    live.wait_for("the first refresh", |s| {
        s.contains("LISTEN") || s.contains("socket")
    });
    let deadline = Instant::now() + DEADLINE;
    while Recording::open(&path).map_or(0, |r| r.len()) < 5 {
        assert!(Instant::now() < deadline, "the dashboard records no tables");
        std::thread::sleep(Duration::from_millis(50));
    }
    live.quit();
    let recording = Recording::open(&path).unwrap();
    assert!(recording.truncation.is_none());
    assert_eq!(recording.host.netns.as_deref(), Some(netns.as_str()));
    let tables = recording.len();

    let mut replay = Term::start(&["replay", file]);
    // Played at 1×, the recording (half a second) ends soon: the replay pauses at its last table.
    let end = format!("table {tables}/{tables}");
    let screen = replay.wait_for("the end", |s| {
        s.contains("replay ❚❚ 1×") && s.contains(&end)
    });
    assert!(
        screen.contains("──") || screen.contains("━━"),
        "the bar: {screen}"
    );
    replay.send("\x1b[D");
    replay.wait_for("a step back", |s| table_shown(s) == Some(tables - 1));
    replay.send("[");
    replay.wait_for("a jump to the start", |s| table_shown(s) == Some(1));
    replay.send("]");
    replay.wait_for("a jump to the end", |s| table_shown(s) == Some(tables));
    replay.send(">");
    replay.wait_for("a faster speed", |s| s.contains("replay ❚❚ 2×"));
    replay.quit();
    let _ = std::fs::remove_file(&path);
}
