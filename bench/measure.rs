//! Bench-only measuring instrument, run by `bench/run.sh`.
//!
//! `measure round --netns NS --portradar BIN --expect N` runs one round on the table a load generator
//! holds in namespace NS (N sockets, from its READY line). It enters the namespace and times, all on
//! the same table: `ss -tan > /dev/null`; the `portradar snapshot --format summary` process and its
//! peak RSS, the same filtered (`dst ADDR`), and `snapshot --watch 200 --count 25 --format json`
//! (its time, and its totals against `ss -tan`); the in-process `Refresher::refresh` (the first of a process, then three in a row after a
//! warm-up as a dashboard makes them, then one more seconds later, which on a large table re-reads
//! the bind side that portradar otherwise caches for a while); a dump that parses records without
//! aggregating them; the floor, a sock_diag dump that only counts the messages it receives (states
//! 1-12 and 1-13, one dump per family as `ss` does, and 1-12 in one walk for both families); a
//! filtered refresh against `ss -tan dst ADDR`; and dashboard frames drawn from the refreshed
//! snapshot into a ratatui `TestBackend`; attribution (refreshes with the dashboard's process lookup
//! and their /proc time, one lookup of every socket's process) and the cost of one more namespace
//! (a refresh of an empty one). It prints raw samples, `key<TAB>value` lines, and checks
//! at the end that the table still holds N sockets. `measure report FILE` reads the samples of
//! several rounds and prints `metric<TAB>target<TAB>value` rows (medians; maxima for memory and the
//! slowest refresh), which `run.sh` joins into a table.
//!
//! `measure dashboard --netns NS --portradar BIN` runs the live dashboard in a pseudo-terminal on
//! the table of NS and prints its CPU over a window, how often its view changed, and how fast keys
//! change its screen (see `dashboard.rs`); `report` turns those samples into rows too.
//!
//! `measure connects --netns NS [--rate R]` makes connections on loopback in NS, in a tight loop or
//! at R a second, and prints how many it made a second (`bench/events.sh`: the cost of allocator
//! events; see `connects.rs`).
//!
//! `ss` and the portradar process are started from inside the namespace, so neither pays for
//! `ip netns exec`.

mod connects;
mod dashboard;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use portradar::attribution::{ProcessLookup, ProcessScope};
use portradar::collect::{ALL_STATES, Collector, Families};
use portradar::filter::{Filter, KernelFilter};
use portradar::refresh::namespaces::read_all;
use portradar::refresh::{Refresher, Report};
use portradar::ui::{App, Config, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
#[command(
    name = "measure",
    about = "Time portradar, ss and a bare dump in a namespace."
)]
enum Cli {
    /// Time every contender once on the table of a namespace; print raw samples.
    Round(RoundArgs),
    /// Summarize the raw samples of several rounds into table rows.
    Report {
        /// A file of `round` output.
        samples: PathBuf,
        /// The address of the filtered comparison, for the row names.
        #[arg(long, default_value = DST)]
        dst: String,
    },
    /// Make connections on loopback in a namespace, as fast as possible or at a rate.
    Connects(connects::ConnectsArgs),
    /// Run the dashboard in a pseudo-terminal on a namespace; print its CPU, refreshes and key times.
    Dashboard(dashboard::DashboardArgs),
}

#[derive(Debug, clap::Args)]
struct RoundArgs {
    /// The network namespace holding the table.
    #[arg(long)]
    netns: String,
    /// Sockets the table should hold (the load generator's READY `sockets=`).
    #[arg(long)]
    expect: u64,
    /// Address for the filtered comparison (`dst ADDR`).
    #[arg(long, default_value = DST)]
    dst: String,
    /// The portradar binary to time as a process.
    #[arg(long)]
    portradar: PathBuf,
}

const DST: &str = "127.0.1.1";
/// inet_diag state mask of states 1 to 12 (all but BOUND_INACTIVE).
const STATES_1_12: u32 = ALL_STATES & !(1 << 13);
/// Refreshes timed in a row (after a warm-up), as a dashboard makes them.
const BACK_TO_BACK: usize = 3;
/// Frames drawn per round (the first of a terminal draws every cell, later ones diff).
const FRAMES: usize = 10;
/// The terminal size frames are drawn at.
const SCREEN: (u16, u16) = (160, 48);

fn main() -> Result<()> {
    match Cli::parse() {
        Cli::Round(args) => round(&args),
        Cli::Report { samples, dst } => report(&std::fs::read_to_string(samples)?, &dst),
        Cli::Connects(args) => connects::connects(&args),
        Cli::Dashboard(args) => dashboard::dashboard(&args),
    }
}

/// Prints one raw sample.
fn sample(key: &str, value: impl std::fmt::Display) {
    println!("{key}\t{value}");
}

fn round(cli: &RoundArgs) -> Result<()> {
    portradar::collect::netns::enter(&cli.netns.parse()?)?;
    let dst = Filter::parse(&format!("dst {}", cli.dst))?;
    let mut full = Refresher::new(Some(cli.netns.clone()), Families::BOTH, None);
    let mut filtered = Refresher::new(Some(cli.netns.clone()), Families::BOTH, Some(dst));
    let mut collector = Collector::open();
    let mut floor = Floor::open()?;
    let all = KernelFilter {
        states: ALL_STATES,
        bytecode: Vec::new(),
        exact: true,
    };
    let mut records = Vec::new();

    // First, while this process is still small: a child's peak RSS (ru_maxrss) counts the memory of
    // the process that spawned it, up to its exec.
    let (took, rss) = process(cli, &[])?;
    sample("process", took.as_secs_f64());
    sample("process_rss", rss);
    let (took, _) = process(cli, &["dst", &cli.dst])?;
    sample("process_dst", took.as_secs_f64());
    watch(cli)?;

    // Warm-up: the first refresh of a process sizes its buffers and reads the bind side, the second
    // fills the history; later ones reuse both, as the dashboard's do.
    let cold = time(|| full.refresh().map(drop))?;
    full.refresh()?;
    sample("refresher_rss", vm_hwm_kib()?);
    sample("cold", cold.as_secs_f64());
    collector.dump_kernel(Families::BOTH, &all, &mut records)?;
    for _ in 0..BACK_TO_BACK {
        let took = time(|| full.refresh().map(drop))?;
        sample("refresh", took.as_secs_f64());
    }

    let ss = time(|| run(Command::new("ss").arg("-tan")))?;
    sample("ss", ss.as_secs_f64());
    // Seconds after the warm-up: on a large table this one reads the bind side again.
    let start = Instant::now();
    let snapshot = full.refresh()?;
    sample("refresh_late", start.elapsed().as_secs_f64());
    let parse = time(|| {
        records.clear();
        collector.dump_kernel(Families::BOTH, &all, &mut records)
    })?;
    sample("parse", parse.as_secs_f64());
    let floor_12 = time(|| floor.count(STATES_1_12).map(drop))?;
    sample("floor_12", floor_12.as_secs_f64());
    let one_walk = time(|| floor.dump(Walk::Both, STATES_1_12).map(drop))?;
    sample("one_walk_12", one_walk.as_secs_f64());
    let ss_dst = time(|| run(Command::new("ss").args(["-tan", "dst", &cli.dst])))?;
    sample("ss_dst", ss_dst.as_secs_f64());
    filtered.refresh()?;
    for _ in 0..BACK_TO_BACK {
        let took = time(|| filtered.refresh().map(drop))?;
        sample("refresh_dst", took.as_secs_f64());
    }
    frames(snapshot)?;
    attribution(cli)?;
    // Last, so its count shows whether the table still stood at the end of the round.
    let start = Instant::now();
    let sockets = floor.count(ALL_STATES)?;
    sample("floor_13", start.elapsed().as_secs_f64());
    sample("sockets", sockets);
    sample("expected", cli.expect);
    Ok(())
}

/// Refreshes made with the dashboard's process lookup, to see how many it takes to finish.
const ATTRIBUTED_REFRESHES: usize = 10;

/// The cost of attribution and of other namespaces: refreshes with the dashboard's process lookup
/// (its /proc time per refresh, which must stay within its budget, and whether it is still partial
/// after [`ATTRIBUTED_REFRESHES`]), one `snapshot --processes --sockets` lookup of every socket, and
/// a refresh of an empty namespace, which walks the connection hash the namespaces share.
fn attribution(cli: &RoundArgs) -> Result<()> {
    let mut dashboard = Refresher::new(Some(cli.netns.clone()), Families::BOTH, None);
    dashboard.set_process_lookup(Some(ProcessLookup::DASHBOARD));
    let mut partial = true;
    for _ in 0..ATTRIBUTED_REFRESHES {
        let start = Instant::now();
        let snap = dashboard.refresh()?;
        sample("attrib_refresh", start.elapsed().as_secs_f64());
        let r = snap.processes.context("the lookup ran")?;
        sample("attrib_proc", r.took.as_secs_f64());
        partial = r.partial;
    }
    sample("attrib_partial", u8::from(partial));
    let mut all = Refresher::new(Some(cli.netns.clone()), Families::BOTH, None);
    all.set_process_lookup(Some(ProcessLookup {
        scope: ProcessScope::All,
        budget: Duration::from_secs(30),
    }));
    let r = all.refresh()?.processes.context("the lookup ran")?;
    sample("attrib_all", r.took.as_secs_f64());
    sample("attrib_all_partial", u8::from(r.partial));
    let name = format!("measure-empty-{}", std::process::id());
    run(Command::new("ip").args(["netns", "add", &name]))?;
    let empty = portradar::collect::namespaces::discover()
        .into_iter()
        .find(|ns| ns.label == name);
    let timed = empty.map(|ns| {
        let mut read = read_all(vec![ns], Families::BOTH, None, None);
        let took: Vec<f64> = read
            .iter_mut()
            .map(|(r, _)| r.refresh().took.as_secs_f64())
            .collect();
        took
    });
    run(Command::new("ip").args(["netns", "del", &name]))?;
    let took = timed.context("the empty namespace is found")?;
    sample("empty_netns", took.first().copied().context("read")?);
    Ok(())
}

/// Hands `snapshot` to a dashboard as a new report, then draws [`FRAMES`] frames of it.
fn frames(snapshot: portradar::model::Snapshot) -> Result<()> {
    let mut app = App::new(Config {
        host: "bench".into(),
        interval: Duration::from_secs(1),
        no_color: false,
        ascii: false,
        filter: None,
    });
    let report = Report {
        generation: 1,
        epoch: 0,
        took: Duration::ZERO,
        outcome: Ok(Arc::new(snapshot)),
        sockets: None,
    };
    let start = Instant::now();
    ensure!(app.on_report(report), "the dashboard ignored the snapshot");
    sample("on_report", start.elapsed().as_secs_f64());
    let mut terminal = Terminal::new(TestBackend::new(SCREEN.0, SCREEN.1))?;
    for _ in 0..FRAMES {
        let start = Instant::now();
        terminal.draw(|frame| draw(frame, &app))?;
        sample("frame", start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Prints the table rows, `metric<TAB>target<TAB>value`, from the samples of several rounds.
fn report(samples: &str, dst: &str) -> Result<()> {
    let mut by_key: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for line in samples.lines() {
        let (key, value) = line.split_once('\t').context("a KEY<TAB>VALUE line")?;
        by_key.entry(key).or_default().push(value.parse()?);
    }
    let get = |key: &str| by_key.get(key).map(Vec::as_slice).unwrap_or_default();
    let med = |key: &str| median(get(key));
    let rounds = get("ss").len();
    ensure!(rounds > 0, "no samples");
    let (sockets, expected) = (get("sockets"), get("expected"));
    let table = if sockets == expected {
        format!("{}", sockets[0])
    } else {
        format!("{sockets:?}, expected {expected:?} (the table changed during a round)")
    };
    let rss = |key: &str| mib(max(get(key)));
    let frame_ms = format!(
        "{:.2} ms (max {:.2}), {}x{}",
        med("frame") * 1e3,
        max(get("frame")) * 1e3,
        SCREEN.0,
        SCREEN.1
    );
    let rows = [
        ("sockets in the table", "", table),
        (
            "rounds, each on a fresh table (median)",
            "",
            rounds.to_string(),
        ),
        ("`ss -tan > /dev/null`", "", secs(med("ss"))),
        ("bare dump, states 1-12 (floor)", "", secs(med("floor_12"))),
        ("bare dump, states 1-13", "", secs(med("floor_13"))),
        (
            "bare dump, states 1-12, both families in one walk",
            "",
            secs(med("one_walk_12")),
        ),
        ("dump + parse, no aggregation", "", secs(med("parse"))),
        ("refresh, in process", "", secs(med("refresh"))),
        (
            "slowest refresh of a round (may re-read the bind side)",
            "",
            secs(max(&[get("refresh"), get("refresh_late")].concat())),
        ),
        ("first refresh of a process", "", secs(med("cold"))),
        (
            "`portradar snapshot --format summary`",
            "",
            secs(med("process")),
        ),
        (
            "snapshot process / ss",
            "≤ 0.6",
            ratio(med("process"), med("ss")),
        ),
        (
            "snapshot process / floor 1-13",
            "≤ 1.2",
            ratio(med("process"), med("floor_13")),
        ),
        (
            &*format!("`portradar snapshot --format summary dst {dst}`"),
            "",
            secs(med("process_dst")),
        ),
        (
            "filtered snapshot process / `ss -tan dst`",
            "≤ 1.0 (goal 0.8)",
            ratio(med("process_dst"), med("ss_dst")),
        ),
        (
            &*format!("`snapshot --watch 200 --count {WATCH_COUNT} --format json`"),
            "≤ 8 s",
            secs(med("watch")),
        ),
        (
            "its objects' totals against `ss -tan` (largest difference)",
            "≤ 0.1%",
            format!("{:.3}%", max(get("watch_vs_ss")) * 100.0),
        ),
        ("refresh / ss", "≤ 0.5", ratio(med("refresh"), med("ss"))),
        (
            "refresh / floor 1-12",
            "≤ 1.2",
            ratio(med("refresh"), med("floor_12")),
        ),
        (
            "refresh / floor 1-13",
            "",
            ratio(med("refresh"), med("floor_13")),
        ),
        (
            &*format!("filtered refresh `dst {dst}`"),
            "",
            secs(med("refresh_dst")),
        ),
        (&*format!("`ss -tan dst {dst}`"), "", secs(med("ss_dst"))),
        (
            "filtered refresh / ss",
            "≤ 1.0",
            ratio(med("refresh_dst"), med("ss_dst")),
        ),
        ("peak RSS, snapshot process", "< 100 MB", rss("process_rss")),
        (
            "peak RSS, in-process refresher",
            "≤ 64 MiB",
            rss("refresher_rss"),
        ),
        (
            "new snapshot to the dashboard (`App::on_report`)",
            "",
            secs(med("on_report")),
        ),
        ("frame render (`ui::draw`, TestBackend)", "< 5 ms", frame_ms),
        (
            "refresh with the dashboard's process lookup (max)",
            "",
            secs(max(get("attrib_refresh"))),
        ),
        (
            "its /proc time per refresh (max; budget 50 ms)",
            "≤ 0.06 s",
            secs(max(get("attrib_proc"))),
        ),
        (
            &*format!("still partial after {ATTRIBUTED_REFRESHES} refreshes (rounds)"),
            "",
            format!("{} of {rounds}", get("attrib_partial").iter().sum::<f64>()),
        ),
        (
            "`snapshot --processes --sockets`: /proc walk for every socket",
            "",
            secs(med("attrib_all")),
        ),
        (
            "refresh of an empty namespace (walks the shared hash)",
            "",
            secs(med("empty_netns")),
        ),
        (
            &*format!(
                "dashboard CPU (`portradar -N NS`, {}x{} pty), {:.0} connections/s coming and going, {:.0} s",
                SCREEN.0,
                SCREEN.1,
                med("churn_per_s"),
                med("dash_window"),
            ),
            "< 20% of a core",
            verdict(
                format!("{:.1}%", med("dash_cpu")),
                med("dash_cpu") < DASHBOARD_CPU,
            ),
        ),
        (
            "its view: refreshes in that window (header's socket total changing)",
            "",
            view_age(&get),
        ),
        (
            "its socket total, start → end of that window (with the churn's TIME_WAIT)",
            "",
            format!(
                "{:.0} → {:.0}",
                med("dash_sockets_start"),
                med("dash_sockets_end")
            ),
        ),
        (
            &*format!(
                "key to screen change (`?` opens / closes the help), {} keys",
                get("dash_key").len()
            ),
            "< 50 ms",
            key_response(get("dash_key")),
        ),
        (
            "load average (1 min) at the end of that window",
            "",
            format!(
                "{:.2} on {} CPUs",
                med("dash_load"),
                std::thread::available_parallelism().map_or(0, usize::from)
            ),
        ),
    ];
    for (metric, target, value) in rows {
        println!("{metric}\t{target}\t{value}");
    }
    Ok(())
}

/// The dashboard's CPU target, percent of one core.
const DASHBOARD_CPU: f64 = 20.0;
/// The key response target, seconds.
const KEY_RESPONSE: f64 = 0.050;

/// `value`, and whether it met its target.
fn verdict(value: String, met: bool) -> String {
    format!("{value} ({})", if met { "met" } else { "not met" })
}

/// How often the dashboard's view changed in the window, and the longest it stood still; with the
/// interval its header states.
fn view_age<'a>(get: &impl Fn(&str) -> &'a [f64]) -> String {
    let refreshes = median(get("dash_refreshes"));
    let window = median(get("dash_window"));
    let stated = |key: &str| match get(key) {
        [] => None,
        states => Some(secs(median(states))),
    };
    let header = match (stated("dash_header_every"), stated("dash_header_stretched")) {
        (Some(every), Some(stretched)) => {
            format!("header: every {every}, stretched to {stretched}")
        }
        (Some(every), None) => format!("header: every {every}"),
        (None, Some(stretched)) => format!("header: stretched to {stretched}"),
        (None, None) => "the header states no interval".into(),
    };
    format!(
        "{refreshes:.0} in {window:.0} s: every {}, longest still {}; {header}",
        secs(window / refreshes),
        secs(max(get("dash_gap"))),
    )
}

/// Median and worst key response, each against the target.
fn key_response(keys: &[f64]) -> String {
    let (med, worst) = (median(keys), max(keys));
    let verdict = match (med < KEY_RESPONSE, worst < KEY_RESPONSE) {
        (true, true) => "met",
        (true, false) => "median met, worst not",
        _ => "not met",
    };
    format!("{} median, max {} ({verdict})", secs(med), secs(worst))
}

/// Times `f`, failing when it fails.
fn time<E: Into<anyhow::Error>>(f: impl FnOnce() -> Result<(), E>) -> Result<Duration> {
    let start = Instant::now();
    f().map_err(Into::into)?;
    Ok(start.elapsed())
}

/// Runs `command` with its output thrown away, failing when it fails.
fn run(command: &mut Command) -> Result<()> {
    let status = command.stdout(Stdio::null()).status()?;
    ensure!(status.success(), "{command:?}: {status}");
    Ok(())
}

/// Times one `portradar snapshot --format summary` process, with `filter` appended, and returns its
/// peak RSS in KiB.
fn process(cli: &RoundArgs, filter: &[&str]) -> Result<(Duration, u64)> {
    let start = Instant::now();
    let child = Command::new(&cli.portradar)
        .args(["snapshot", "--netns", &cli.netns, "--format", "summary"])
        .args(filter)
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", cli.portradar.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it and `status` for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `child` is not waited for elsewhere.
    while unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        let e = std::io::Error::last_os_error();
        ensure!(e.kind() == std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    let took = start.elapsed();
    ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "portradar snapshot failed (wait status {status})"
    );
    Ok((took, usage.ru_maxrss as u64))
}

/// Objects of the `snapshot --watch` row.
const WATCH_COUNT: usize = 25;

/// Times one `portradar snapshot --watch 200 --count 25 --format json` process, and how far the
/// objects' socket totals stray from the lines of an `ss -tan` run right after it (the largest
/// relative difference).
fn watch(cli: &RoundArgs) -> Result<()> {
    let count = WATCH_COUNT.to_string();
    let start = Instant::now();
    let out = Command::new(&cli.portradar)
        .args(["snapshot", "--netns", &cli.netns, "--format", "json"])
        .args(["--watch", "200", "--count", &count])
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", cli.portradar.display()))?;
    let took = start.elapsed();
    ensure!(
        out.status.success(),
        "portradar snapshot --watch: {}",
        out.status
    );
    let ss = Command::new("ss").arg("-tan").output()?;
    ensure!(ss.status.success(), "ss -tan: {}", ss.status);
    // Less the header line.
    let ss_sockets = ss
        .stdout
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1) as f64;
    let mut objects = 0;
    let mut worst: f64 = 0.0;
    for object in serde_json::Deserializer::from_slice(&out.stdout).into_iter::<serde_json::Value>()
    {
        let sockets = object?["totals"]["sockets"]
            .as_f64()
            .context("an object without totals.sockets")?;
        worst = worst.max((sockets - ss_sockets).abs() / ss_sockets.max(1.0));
        objects += 1;
    }
    ensure!(
        objects == WATCH_COUNT,
        "{objects} objects, asked for {WATCH_COUNT}"
    );
    sample("watch", took.as_secs_f64());
    sample("watch_vs_ss", worst);
    Ok(())
}

/// The calling process's peak RSS (VmHWM) in KiB.
fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn secs(s: f64) -> String {
    if s < 0.01 {
        format!("{:.3} ms", s * 1e3)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}", a / b)
}

fn mib(kib: f64) -> String {
    format!("{:.1} MiB", kib / 1024.0)
}

/// The floor: TCP sock_diag dumps that count the messages they receive and look at nothing else,
/// with the same 32 KiB receive buffer as portradar.
struct Floor {
    socket: Socket,
    buf: Vec<u8>,
    seq: u32,
}

/// How a dump walks the kernel's tables.
#[derive(Clone, Copy)]
enum Walk {
    /// One family: SOCK_DIAG_BY_FAMILY with `struct inet_diag_req_v2`, as `ss` and portradar send
    /// it. Every such dump walks the whole table, whatever family its sockets are.
    Family(u8),
    /// Both families in one walk: the legacy TCPDIAG_GETSOCK with `struct inet_diag_req`, which the
    /// kernel serves as an AF_UNSPEC dump.
    Both,
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCPDIAG_GETSOCK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST_DUMP: u16 = 0x1 | 0x300;
const NLMSG_HDR_LEN: usize = 16;

impl Walk {
    /// The request: `nlmsghdr`, then `inet_diag_req_v2` (56 bytes, states at 4) or `inet_diag_req`
    /// (60 bytes, states at 52); and the type of the replies it brings.
    fn request(self, states: u32, seq: u32) -> (Vec<u8>, u16) {
        let (kind, payload, states_at) = match self {
            Walk::Family(_) => (SOCK_DIAG_BY_FAMILY, 56, 4),
            Walk::Both => (TCPDIAG_GETSOCK, 60, 52),
        };
        let len = NLMSG_HDR_LEN + payload;
        let mut req = vec![0u8; len];
        req[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        req[4..6].copy_from_slice(&kind.to_ne_bytes());
        req[6..8].copy_from_slice(&NLM_F_REQUEST_DUMP.to_ne_bytes());
        req[8..12].copy_from_slice(&seq.to_ne_bytes());
        let body = &mut req[NLMSG_HDR_LEN..];
        match self {
            Walk::Family(family) => (body[0], body[1]) = (family, libc::IPPROTO_TCP as u8),
            Walk::Both => body[0] = libc::AF_INET as u8,
        }
        body[states_at..states_at + 4].copy_from_slice(&states.to_ne_bytes());
        (req, kind)
    }
}

impl Floor {
    fn open() -> Result<Floor> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG).context("netlink socket")?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Floor {
            socket,
            buf: Vec::with_capacity(32 * 1024),
            seq: 0,
        })
    }

    /// Sockets in the `states` mask, one dump per family.
    fn count(&mut self, states: u32) -> Result<u64> {
        let mut n = 0;
        for family in [libc::AF_INET, libc::AF_INET6] {
            n += self.dump(Walk::Family(family as u8), states)?;
        }
        Ok(n)
    }

    fn dump(&mut self, walk: Walk, states: u32) -> Result<u64> {
        self.seq += 1;
        let (req, reply) = walk.request(states, self.seq);
        self.socket.send(&req, 0)?;
        let mut n = 0;
        loop {
            self.buf.clear();
            let len = self.socket.recv(&mut self.buf, 0)?;
            ensure!(len <= self.buf.len(), "a {len}-byte datagram was truncated");
            let mut at = 0;
            while at + NLMSG_HDR_LEN <= len {
                let msg = &self.buf[at..len];
                let msg_len = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
                ensure!(
                    (NLMSG_HDR_LEN..=msg.len()).contains(&msg_len),
                    "malformed netlink message"
                );
                match u16::from_ne_bytes([msg[4], msg[5]]) {
                    kind if kind == reply => n += 1,
                    NLMSG_DONE => return Ok(n),
                    NLMSG_ERROR => {
                        let errno = msg
                            .get(16..20)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        bail!("the kernel refused the dump (error {errno:?})")
                    }
                    _ => {}
                }
                at += msg_len.next_multiple_of(4);
            }
        }
    }
}
