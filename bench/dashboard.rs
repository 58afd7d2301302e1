//! `measure dashboard --netns NS --portradar BIN`: the live dashboard as a user runs it
//! (`portradar -N NS`, the real binary) in a pseudo-terminal of [`crate::SCREEN`], watched only from
//! outside, so it measures whatever the dashboard and its refresh engine do. `bench/run.sh` runs it
//! while bench/churn.py opens and closes connections in NS.
//!
//! After the first snapshot shows and a warm-up, it presses `?` to open the help and again to
//! close it, [`DashboardArgs::opens`] times, and times every key from its write to the terminal
//! until the output that opens or closes the help has come back (the moment it was read). Then,
//! over a window, it takes the share of one core the process used (utime + stime of every thread,
//! from `/proc/PID/stat`) and how old the view gets: under churn the header's socket total differs
//! from one snapshot to the next, so its changes are the refreshes the user sees; the gaps between
//! them are how long the screen stood still. It also notes the intervals the header states at the
//! end ("every 1 s", and "interval stretched to …" after a slow refresh), and the machine's load
//! average then. Prints raw samples (`dash_*`).

use anyhow::{Context, Result, anyhow, bail, ensure};
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The network namespace to watch (`portradar -N NS`).
    #[arg(long)]
    netns: String,
    /// The portradar binary.
    #[arg(long)]
    portradar: PathBuf,
    /// Seconds from the first snapshot on screen to the keys.
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// Seconds of the CPU window, after the keys.
    #[arg(long, default_value_t = 30.0)]
    window: f64,
    /// Times the help is opened and closed (two timed keys each).
    #[arg(long, default_value_t = 10)]
    opens: usize,
}

/// The help overlay's title: on screen exactly while the help is open.
const HELP_TITLE: &str = "any other key closes";
/// How long the first snapshot may take to show (a million sockets on a busy machine).
const FIRST_SNAPSHOT: Duration = Duration::from_secs(120);
/// How long a key may take to change the screen before the run fails.
const KEY_DEADLINE: Duration = Duration::from_secs(10);
/// How long the dashboard may take to quit after `q`.
const QUIT_DEADLINE: Duration = Duration::from_secs(10);
/// The synchronized update around each frame (crossterm's Begin/EndSynchronizedUpdate).
const FRAME_BEGIN: &[u8] = b"\x1b[?2026h";
const FRAME_END: &[u8] = b"\x1b[?2026l";
/// Header rows searched for the socket total and the interval.
const HEADER_ROWS: usize = 6;

/// What the terminal shows, updated by the reader thread after every chunk of output.
struct Screen {
    parser: vt100::Parser,
    /// The header's socket total, and every time it changed (when the output was read).
    total: Option<u64>,
    changes: Vec<Instant>,
    /// Whether the help is open, and when the output that last opened or closed it was read.
    help: bool,
    help_at: Option<Instant>,
    /// The terminal was closed: the dashboard exited.
    closed: bool,
}

/// The screen and a signal for every change of it.
type Shared = Arc<(Mutex<Screen>, Condvar)>;

pub fn dashboard(args: &DashboardArgs) -> Result<()> {
    let (cols, rows) = crate::SCREEN;
    let pair = native_pty_system()
        .openpty(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| anyhow!("openpty: {e}"))?;
    // portable-pty looks a relative program up in PATH.
    let program = std::fs::canonicalize(&args.portradar)
        .with_context(|| format!("{}", args.portradar.display()))?;
    let mut cmd = CommandBuilder::new(program);
    cmd.args(["-N", &args.netns]);
    cmd.cwd(std::env::current_dir()?);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| anyhow!("starting {}: {e}", args.portradar.display()))?;
    drop(pair.slave);
    let pid = child.process_id().context("the dashboard's pid")?;
    let shared: Shared = Arc::new((
        Mutex::new(Screen {
            parser: vt100::Parser::new(rows.try_into()?, cols.try_into()?, 0),
            total: None,
            changes: Vec::new(),
            help: false,
            help_at: None,
            closed: false,
        }),
        Condvar::new(),
    ));
    let reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| anyhow!("pty reader: {e}"))?;
    let watcher = Arc::clone(&shared);
    std::thread::spawn(move || read(reader, &watcher));
    let mut writer = pair
        .master
        .take_writer()
        .map_err(|e| anyhow!("pty writer: {e}"))?;

    let measured = measure(args, pid, &shared, &mut *writer);
    let quit = writer
        .write_all(b"q")
        .and_then(|()| writer.flush())
        .map_err(anyhow::Error::from)
        .and_then(|()| wait_exit(&mut *child));
    if quit.is_err() {
        let _ = child.kill();
    }
    measured?;
    quit
}

/// Takes the dashboard's output until the terminal closes, keeping [`Screen`] up to date. The
/// screen is looked at only between frames: the dashboard draws each inside a synchronized update,
/// and output read in the middle of one may hold a half-written number.
fn read(mut reader: Box<dyn Read + Send>, shared: &Shared) {
    let (screen, changed) = &**shared;
    let mut buf = vec![0u8; 1 << 16];
    // The last bytes of the previous chunk, for a marker split between two reads.
    let mut seam: Vec<u8> = Vec::new();
    let mut in_frame = false;
    while let Ok(n @ 1..) = reader.read(&mut buf) {
        let at = Instant::now();
        let mut s = lock(screen);
        s.parser.process(&buf[..n]);
        seam.extend_from_slice(&buf[..n]);
        let begin = seam
            .windows(FRAME_BEGIN.len())
            .rposition(|w| w == FRAME_BEGIN);
        let end = seam.windows(FRAME_END.len()).rposition(|w| w == FRAME_END);
        in_frame = match (begin, end) {
            (Some(b), Some(e)) => b > e,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => in_frame,
        };
        seam.drain(..seam.len().saturating_sub(FRAME_END.len() - 1));
        if in_frame {
            continue;
        }
        let text = s.parser.screen().contents();
        if let Some(total) = socket_total(&text)
            && s.total != Some(total)
        {
            s.total = Some(total);
            s.changes.push(at);
        }
        let help = text.contains(HELP_TITLE);
        if help != s.help {
            s.help = help;
            s.help_at = Some(at);
        }
        drop(s);
        changed.notify_all();
    }
    lock(screen).closed = true;
    changed.notify_all();
}

fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    screen.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until `ready` gives a value, failing after `deadline` or when the dashboard exits.
fn wait_for<T>(
    shared: &Shared,
    deadline: Duration,
    what: &str,
    ready: impl Fn(&Screen) -> Option<T>,
) -> Result<T> {
    let (screen, changed) = &**shared;
    let end = Instant::now() + deadline;
    let mut s = lock(screen);
    loop {
        if let Some(value) = ready(&s) {
            return Ok(value);
        }
        let text = s.parser.screen().contents();
        ensure!(
            !s.closed,
            "the dashboard exited waiting for {what}; screen:\n{text}"
        );
        let left = end.saturating_duration_since(Instant::now());
        ensure!(
            !left.is_zero(),
            "timed out waiting for {what}; screen:\n{text}"
        );
        s = changed
            .wait_timeout(s, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn measure(args: &DashboardArgs, pid: u32, shared: &Shared, writer: &mut dyn Write) -> Result<()> {
    wait_for(shared, FIRST_SNAPSHOT, "the first snapshot", |s| s.total)?;
    std::thread::sleep(Duration::from_secs_f64(args.warmup));

    for i in 0..2 * args.opens {
        let was = lock(&shared.0).help;
        let sent = Instant::now();
        writer.write_all(b"?")?;
        writer.flush()?;
        let what = if was {
            "the help to close"
        } else {
            "the help to open"
        };
        let at = wait_for(shared, KEY_DEADLINE, what, |s| {
            (s.help != was).then_some(s.help_at).flatten()
        })?;
        crate::sample("dash_key", at.saturating_duration_since(sent).as_secs_f64());
        // Pauses of 200 to 390 ms, so that keys land at different points of the refresh cycle.
        std::thread::sleep(Duration::from_millis(200 + (i as u64 * 70) % 190));
    }

    let hz = clock_ticks()?;
    let (start, ticks_before) = (Instant::now(), cpu_ticks(pid)?);
    let total_before = lock(&shared.0).total;
    std::thread::sleep(Duration::from_secs_f64(args.window));
    let ticks = cpu_ticks(pid)? - ticks_before;
    let end = Instant::now();
    let window = end.duration_since(start).as_secs_f64();
    let s = lock(&shared.0);
    ensure!(!s.closed, "the dashboard exited during the window");
    crate::sample("dash_window", window);
    crate::sample("dash_cpu", 100.0 * ticks as f64 / hz / window);
    // The view's age: the gaps between changes, up to the window's end for the last one.
    let seen: Vec<Instant> = s
        .changes
        .iter()
        .copied()
        .filter(|t| (start..=end).contains(t))
        .collect();
    crate::sample("dash_refreshes", seen.len());
    let mut gaps = Vec::new();
    let mut last = s.changes.iter().copied().rfind(|t| *t < start);
    for t in seen.iter().copied().chain([end]) {
        if let Some(before) = last {
            gaps.push(t.duration_since(before).as_secs_f64());
        }
        last = Some(t);
    }
    for gap in gaps {
        crate::sample("dash_gap", gap);
    }
    let text = s.parser.screen().contents();
    if let Some(total) = total_before {
        crate::sample("dash_sockets_start", total);
    }
    if let Some(total) = s.total {
        crate::sample("dash_sockets_end", total);
    }
    // Other work on the machine delays the dashboard and this process alike.
    crate::sample("dash_load", load_average()?);
    for (key, label) in [
        ("dash_header_every", "every "),
        ("dash_header_stretched", "interval stretched to "),
    ] {
        if let Some(interval) = header_interval(&text, label) {
            crate::sample(key, interval);
        }
    }
    Ok(())
}

/// Waits for the dashboard to exit after `q`.
fn wait_exit(child: &mut (dyn Child + Send + Sync)) -> Result<()> {
    let end = Instant::now() + QUIT_DEADLINE;
    loop {
        if let Some(status) = child.try_wait()? {
            ensure!(status.success(), "the dashboard exited with {status:?}");
            return Ok(());
        }
        if Instant::now() >= end {
            bail!("the dashboard did not quit on q");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The machine's load average over the last minute.
fn load_average() -> Result<f64> {
    let loadavg = std::fs::read_to_string("/proc/loadavg")?;
    Ok(loadavg
        .split_whitespace()
        .next()
        .context("an empty /proc/loadavg")?
        .parse()?)
}

/// The kernel's clock ticks a second, the unit of `/proc/PID/stat`'s times.
fn clock_ticks() -> Result<f64> {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ensure!(hz > 0, "sysconf(_SC_CLK_TCK): {hz}");
    Ok(hz as f64)
}

/// CPU time of process `pid` so far, every thread, user and system, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("the dashboard (pid {pid}) is gone"))?;
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("a /proc/PID/stat line")?
        .1
        .split_whitespace()
        .collect();
    let field =
        |n: usize| -> Result<u64> { Ok(fields.get(n - 3).context("a short stat line")?.parse()?) };
    Ok(field(14)? + field(15)?)
}

/// The header's socket total ("1,000,025 sockets"), if the screen shows one.
fn socket_total(text: &str) -> Option<u64> {
    text.lines().take(HEADER_ROWS).find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.windows(2).find_map(|w| {
            let count = w[0].trim_start_matches(|c: char| !c.is_ascii_digit());
            (w[1].starts_with("socket") && !count.is_empty())
                .then(|| count.replace(',', "").parse().ok())
                .flatten()
        })
    })
}

/// An interval the header states after `label`, in seconds: "every 1 s", or "interval stretched
/// to 4.2 s" after a slow refresh.
fn header_interval(text: &str, label: &str) -> Option<f64> {
    text.lines().take(HEADER_ROWS).find_map(|line| {
        let mut words = line.split_once(label)?.1.split_whitespace();
        let value: f64 = words.next()?.parse().ok()?;
        match words.next()?.trim_end_matches(|c: char| !c.is_alphabetic()) {
            "s" => Some(value),
            "ms" => Some(value / 1e3),
            _ => None,
        }
    })
}
