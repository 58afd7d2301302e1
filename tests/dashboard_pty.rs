//! End-to-end tests of the live dashboard: the real binary in a pseudo-terminal (portable-pty),
//! its screen parsed with vt100, against loopback workloads the tests create in a private network
//! namespace of their own (so that nothing else on the host shows up): listeners on two 127.0.0.0/8
//! addresses, connections to both and some TIME_WAIT. Screen conditions are awaited by polling the
//! parsed screen against a deadline.
//!
//! The workload tests need root (for the namespace, `common::Netns`) and skip without it (see
//! `common::have_root`); the TIME_WAIT test also runs `ss` and takes about a minute, TIME_WAIT
//! lasting 60 s. The terminal tests (SIGHUP, bracketed paste) run anywhere: they look at the
//! terminal, not at the sockets on screen.

mod common;

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const ROWS: u16 = 40;
const COLS: u16 = 120;
/// How long a screen condition may take to appear.
const DEADLINE: Duration = Duration::from_secs(15);
const PORT: u16 = 8000;

/// A listener on `ip:PORT` that holds each connection until the client closes it, then closes
/// its end: the client, closing first, keeps the TIME_WAIT.
fn serve(ip: Ipv4Addr) -> SocketAddr {
    let listener = TcpListener::bind((ip, PORT)).expect("listen");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.read_to_end(&mut Vec::new());
            });
        }
    });
    addr
}

/// Opens `n` connections to `addr` and keeps them.
fn connect(addr: SocketAddr, n: usize, kept: &mut Vec<TcpStream>) {
    kept.extend((0..n).map(|_| TcpStream::connect(addr).expect("connect")));
}

/// Opens and closes `n` connections to `addr`, leaving `n` TIME_WAIT sockets on this side.
fn time_wait(addr: SocketAddr, n: usize) {
    for _ in 0..n {
        drop(TcpStream::connect(addr).expect("connect"));
    }
}

/// The dashboard running in a pseudo-terminal.
struct Dashboard {
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte the dashboard wrote to the terminal.
    output: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Dashboard {
    fn start(args: &[&str]) -> Dashboard {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
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
            COLS.try_into().unwrap(),
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
        Dashboard {
            screen,
            output,
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

    /// Polls the screen until `ok` holds, and returns it.
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
                "timed out waiting for {what}; screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many bytes the dashboard wrote so far.
    fn written(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    /// Waits until the dashboard exits and returns its status.
    fn wait_exit(&mut self, why: &str) -> portable_pty::ExitStatus {
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
    fn quit(mut self) -> (portable_pty::ExitStatus, bool) {
        self.send("q");
        let status = self.wait_exit("q");
        // Let the reader take the last bytes (leaving the alternate screen) in.
        let settle = Instant::now() + Duration::from_secs(2);
        while self.screen.lock().unwrap().screen().alternate_screen() && Instant::now() < settle {
            thread::sleep(Duration::from_millis(10));
        }
        let left = !self.screen.lock().unwrap().screen().alternate_screen();
        (status, left)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// The line of the destinations panel for `dst`, if on screen.
fn row_of<'s>(screen: &'s str, dst: &str) -> Option<&'s str> {
    screen.lines().find(|l| l.contains(&format!("│{dst} ")))
}

/// Whether the dial's legend names a needle for `dst` (`━N dst`).
fn has_needle(screen: &str, dst: &str) -> bool {
    (1..=4).any(|n| screen.contains(&format!("━{n} {dst}")))
}

#[test]
fn filter_focus_freeze_and_quit_on_a_live_workload() {
    let Some(ns) = common::Netns::for_test("dashboard-focus") else {
        return;
    };
    ns.run(filter_focus_freeze_and_quit_in_this_namespace);
}

fn filter_focus_freeze_and_quit_in_this_namespace() {
    let first = serve(Ipv4Addr::new(127, 0, 0, 2));
    let second = serve(Ipv4Addr::new(127, 0, 0, 3));
    let mut kept = Vec::new();
    connect(first, 6, &mut kept);
    connect(second, 3, &mut kept);
    time_wait(first, 4);
    time_wait(second, 2);
    let (a, b) = (first.to_string(), second.to_string());

    let mut d = Dashboard::start(&["--interval", "200"]);
    d.wait_for("both destinations", |s| {
        row_of(s, &a).is_some() && row_of(s, &b).is_some()
    });
    d.wait_for("a needle per destination and the running score", |s| {
        has_needle(s, &a) && has_needle(s, &b) && s.contains("needles inferred ·")
    });

    d.send("/dst 127.0.0.2\r");
    // The filter leaves one destination: the dial focuses on it, its pointer and its outlook.
    let screen = d.wait_for("only the first destination", |s| {
        s.contains("filter dst 127.0.0.2")
            && !s.contains("applying")
            && row_of(s, &a).is_some()
            && !s.contains(&b)
            && s.contains("pointer inferred ·")
            && s.contains("TIME_WAIT frees")
            && s.contains("holds")
    });
    assert!(
        screen.contains("next →") && screen.contains("(inferred)"),
        "the focused pointer:\n{screen}"
    );
    assert!(
        row_of(&screen, &a).unwrap().contains(" 10 "),
        "10 sockets to {a}:\n{screen}"
    );

    d.send("\x1b");
    d.wait_for("both destinations back", |s| {
        !s.contains("filter dst") && row_of(s, &a).is_some() && row_of(s, &b).is_some()
    });

    d.send(" ");
    let frozen = d.wait_for("the frozen header", |s| s.contains("FROZEN"));
    let frozen_row = row_of(&frozen, &a).unwrap().to_string();
    connect(first, 5, &mut kept);
    // Five refresh intervals: the collector would have seen the new connections by now.
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(d.contents(), frozen, "the screen changed while frozen");
    d.send(" ");
    let live = d.wait_for("new connections once live again", |s| {
        s.contains("● live") && row_of(s, &a).is_some_and(|r| r != frozen_row)
    });
    assert!(
        row_of(&live, &a).unwrap().contains(" 15 "),
        "15 sockets to {a}:\n{live}"
    );

    let (status, left) = d.quit();
    assert!(status.success(), "exit status {status:?}");
    assert!(left, "the alternate screen was left");
}

/// (TIME_WAIT sockets, those whose timer ends within 10 s) as `ss -Htano state time-wait` sees
/// them, in this thread's namespace.
fn ss_time_wait() -> (u64, u64) {
    let timers: Vec<u64> = common::ss("o", &["state", "time-wait"])
        .iter()
        .map(|s| s.timer.expect("a timewait timer").ms)
        .collect();
    (
        timers.len() as u64,
        timers.iter().filter(|ms| **ms <= 10_000).count() as u64,
    )
}

/// (TIME_WAIT sockets, ports free in 10 s) as the TIME_WAIT panel says.
fn panel_time_wait(screen: &str) -> Option<(u64, u64)> {
    // The number at the end of `s`, thousands separators and all.
    let number = |s: &str| {
        let start = s
            .rfind(|c: char| !c.is_ascii_digit() && c != ',')
            .map_or(0, |i| i + s[i..].chars().next().unwrap().len_utf8());
        s[start..].replace(',', "").parse::<u64>().ok()
    };
    // `N sockets · M ports free in 10 s`, or `1 socket`, `1 port`.
    let line = screen.lines().find(|l| l.contains(" free in 10 s"))?;
    let before = &line[..line.find(" free in 10 s")?];
    let (sockets, free) = before.rsplit_once(" · ")?;
    let sockets = sockets
        .trim_end_matches(" sockets")
        .trim_end_matches(" socket");
    let free = free.trim_end_matches(" ports").trim_end_matches(" port");
    Some((number(sockets)?, number(free)?))
}

/// Waits until the panel and ss agree (they may differ for a refresh) and returns what they say.
fn agreed(d: &Dashboard) -> (u64, u64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let panel = panel_time_wait(&d.contents());
        let ss = ss_time_wait();
        if panel == Some(ss) {
            return ss;
        }
        assert!(
            Instant::now() < deadline,
            "panel {panel:?} and ss {ss:?} disagree:\n{}",
            d.contents()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn time_wait_panel_agrees_with_ss() {
    let Some(ns) = common::Netns::for_test("dashboard-timewait") else {
        return;
    };
    ns.run(time_wait_panel_agrees_with_ss_in_this_namespace);
}

fn time_wait_panel_agrees_with_ss_in_this_namespace() {
    let first = serve(Ipv4Addr::new(127, 0, 0, 2));
    let second = serve(Ipv4Addr::new(127, 0, 0, 3));
    // An old batch, whose timers are under 10 s by the time the young one is made.
    time_wait(first, 30);
    let old = Instant::now();
    let d = Dashboard::start(&["--interval", "200"]);
    // The kernel may recycle a TIME_WAIT entry of a fast loopback burst: ss is the reference.
    let (old_batch, _) = agreed(&d);
    assert!(old_batch >= 25, "{old_batch} TIME_WAIT sockets out of 30");
    thread::sleep(Duration::from_secs(51).saturating_sub(old.elapsed()));
    time_wait(second, 20);
    let (count, free_10s) = agreed(&d);
    assert_eq!(free_10s, old_batch, "the old batch is about to go");
    assert!(
        count > old_batch,
        "the young batch has most of a minute left"
    );
    let (status, left) = d.quit();
    assert!(status.success() && left);
}

/// Whether `bytes` holds `sequence`.
fn holds(bytes: &[u8], sequence: &str) -> bool {
    bytes
        .windows(sequence.len())
        .any(|w| w == sequence.as_bytes())
}

#[test]
fn sighup_restores_the_terminal_and_exits_129() {
    let mut d = Dashboard::start(&["--interval", "200"]);
    d.wait_for("the dashboard", |s| s.contains("Port range"));
    {
        let out = d.output.lock().unwrap();
        assert!(
            holds(&out, "\x1b[?1049h"),
            "the alternate screen was entered"
        );
        assert!(holds(&out, "\x1b[?2004h"), "bracketed paste was enabled");
    }
    let before = d.written();
    let pid = d.child.process_id().expect("a pid") as libc::pid_t;
    // SAFETY: a signal to the child this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let status = d.wait_exit("SIGHUP");
    assert_eq!(status.exit_code(), 129, "{status:?}");
    let restore = ["\x1b[?1049l", "\x1b[?25h", "\x1b[?2004l"];
    // The reader may still be taking the last bytes in.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let after = d.output.lock().unwrap()[before..].to_vec();
        if restore.iter().all(|s| holds(&after, s)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restore sequences missing after SIGHUP: {:?}",
            String::from_utf8_lossy(&after)
        );
        thread::sleep(Duration::from_millis(20));
    }
    let parser = d.screen.lock().unwrap();
    assert!(!parser.screen().alternate_screen() && !parser.screen().hide_cursor());
}

#[test]
fn a_pasted_filter_is_text_not_keys() {
    let mut d = Dashboard::start(&["--interval", "200"]);
    d.wait_for("the dashboard", |s| s.contains("Port range"));
    d.send("/");
    d.wait_for("the prompt", |s| s.contains("filter: "));
    // As keys, the line break would submit the first line and the rest would act as hotkeys:
    // `o`, `r`, then space freezes, `s` sorts...
    d.send("\x1b[200~dport = :8000\nor sport = :9000\x1b[201~");
    d.wait_for("the paste in the prompt", |s| {
        s.contains("filter: dport = :8000 or sport = :9000")
    });
    d.send("\r");
    let screen = d.wait_for("the pasted filter applied", |s| {
        s.contains("filter dport = :8000 or sport = :9000") && !s.contains("filter: ")
    });
    assert!(
        !screen.contains("FROZEN"),
        "no key of the paste acted:\n{screen}"
    );
    let (status, left) = d.quit();
    assert!(status.success() && left, "{status:?}");
}
