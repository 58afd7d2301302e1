//! The dashboard records while it runs (`--record`), and `replay` shows the recording: the real
//! binary in a pseudo-terminal (portable-pty), its screen parsed with vt100. The dashboard reads a
//! private namespace of the test's own (root; skipped without it, see `common::have_root`).

mod common;

use common::Netns;
use common::pty::{DEADLINE, Term};
use portradar::record::Recording;
use std::time::{Duration, Instant};

/// The terminal's width.
const COLS: u16 = 140;

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
    let mut live = Term::start(&["--record", file, "--interval", "100", "-N", &netns], COLS);
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

    let mut replay = Term::start(&["replay", file], COLS);
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
