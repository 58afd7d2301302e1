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

use common::pty::{DEADLINE, Term};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const COLS: u16 = 120;
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

    let mut d = Term::start(&["--interval", "200"], COLS);
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
    // Ports in use toward it, as the kernel has them: the 6 held connections and the TIME_WAIT
    // sockets of the 4 closed ones. One CI run saw only 2 of those 4, unexplained; what portradar
    // must show is the kernel's count.
    let dst = first.ip().to_string();
    let kernel = common::ss("", &["dst", &dst]);
    assert!(
        (6..=10).contains(&kernel.len()),
        "the held connections and their TIME_WAIT: {kernel:#?}"
    );
    assert!(
        row_of(&screen, &a)
            .unwrap()
            .contains(&format!(" {} ", kernel.len())),
        "{} sockets to {a}, as ss -tan dst {dst} has them:\n{screen}\n{kernel:#?}",
        kernel.len()
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
fn agreed(d: &Term) -> (u64, u64) {
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
    let d = Term::start(&["--interval", "200"], COLS);
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
    let mut d = Term::start(&["--interval", "200"], COLS);
    d.wait_for("the dashboard", |s| s.contains("Port range"));
    let out = d.output();
    assert!(
        holds(&out, "\x1b[?1049h"),
        "the alternate screen was entered"
    );
    assert!(holds(&out, "\x1b[?2004h"), "bracketed paste was enabled");
    let before = out.len();
    let pid = d.pid() as libc::pid_t;
    // SAFETY: a signal to the child this test spawned and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let status = d.wait_exit("SIGHUP");
    assert_eq!(status.exit_code(), 129, "{status:?}");
    let restore = ["\x1b[?1049l", "\x1b[?25h", "\x1b[?2004l"];
    // The reader may still be taking the last bytes in.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let after = d.output()[before..].to_vec();
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
    assert!(!d.alternate_screen() && !d.cursor_hidden());
}

#[test]
fn a_pasted_filter_is_text_not_keys() {
    let mut d = Term::start(&["--interval", "200"], COLS);
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
