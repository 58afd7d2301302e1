//! Load generator for benchmarks and scale tests: builds a given TCP socket table on loopback inside a
//! private network namespace, holds it, and removes everything it made.
//!
//! ```text
//! cargo run --release --example loadgen -- --established N --destinations K --time-wait M \
//!     --shared-ports S [--netns NAME] [--hold]
//! ```
//! It makes K listeners (127.0.1.1:80, 127.0.1.2:80, …), N established connections to them (2N
//! ESTABLISHED sockets: client and accepted server end), M client-side TIME_WAIT sockets, and S local
//! ports of 127.0.0.1 bound with SO_REUSEADDR, each shared by one connection to every destination.
//! Connections and TIME_WAIT are spread evenly over the destinations. One process may hold only so
//! many descriptors (20000 here, and each connection takes two), so the connections live in worker
//! processes. Inside the namespace it widens `ip_local_port_range`, raises `tcp_max_tw_buckets` and
//! `somaxconn`, and sets `tcp_tw_reuse` to 0 so that connect() never recycles the TIME_WAIT sockets.
//!
//! Once a sock_diag dump of the namespace shows the planned table (it waits a few seconds for the
//! last FINs, and warns on stderr if the table differs), it prints one line on stdout, what
//! `ss -tan` in the namespace shows:
//! `READY netns=NAME sockets=… established=… time_wait=… listen=… connections=N workers=W
//! shared_ports=P,… destinations=127.0.1.1:80=C,…` (C: client sockets toward that destination). It
//! holds the table until stdin closes (or, with `--hold`, forever), or until SIGINT, SIGTERM or
//! SIGHUP; then it kills its workers and deletes the namespace. The TIME_WAIT sockets, made last,
//! live 60 s from their making (which ends just before READY): the table is static until then, then
//! they drain.

mod netns;
mod plan;
mod sockets;
mod worker;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use plan::{Expected, Plan, route};
use portradar::collect::{ALL_STATES, Collector, Families};
use portradar::filter::KernelFilter;
use portradar::model::StateCounts;
use portradar::socket::TcpState;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::Write;
use std::ops::Range;
use std::os::fd::RawFd;
use std::process::{Child, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long to wait for the kernel's table to match the plan before READY.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Build a TCP socket table on loopback in a private network namespace, hold it, clean up."
)]
struct Cli {
    /// Name of the network namespace to create (default: portradar-load-PID).
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
    /// Established connections (each is two ESTABLISHED sockets on loopback).
    #[arg(long, value_name = "N", default_value_t = 0)]
    established: u64,
    /// Destinations 127.0.1.1:80 … 127.0.1.K:80.
    #[arg(long, value_name = "K", default_value_t = 1)]
    destinations: u64,
    /// Client-side TIME_WAIT sockets.
    #[arg(long, value_name = "M", default_value_t = 0)]
    time_wait: u64,
    /// Local ports bound with SO_REUSEADDR, each connected to every destination (part of N).
    #[arg(long, value_name = "S", default_value_t = 0)]
    shared_ports: u64,
    /// Ignore stdin: hold the table until a signal.
    #[arg(long)]
    hold: bool,
    /// Internal: run as a worker holding connections FIRST-END.
    #[arg(long, hide = true, value_parser = parse_block, requires = "listen_fds")]
    worker: Option<Range<u64>>,
    /// Internal: the inherited listeners of a worker.
    #[arg(long, hide = true, value_delimiter = ',')]
    listen_fds: Vec<RawFd>,
}

fn parse_block(s: &str) -> Result<Range<u64>, String> {
    let (a, b) = s.split_once('-').ok_or("expected FIRST-END")?;
    let parse = |n: &str| n.parse::<u64>().map_err(|e| e.to_string());
    Ok(parse(a)?..parse(b)?)
}

/// Set once a signal started the teardown: errors after that are its consequence, not news.
static STOPPING: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (who, result) = match &cli.worker {
        Some(block) => (
            "loadgen worker",
            worker::run(block.clone(), &cli.listen_fds),
        ),
        None => ("loadgen", run(&cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if STOPPING.load(Ordering::SeqCst) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{who}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What must be undone, shared by the main thread and the signal thread.
#[derive(Default)]
struct Teardown {
    netns: Option<String>,
    workers: Vec<Child>,
    done: bool,
}

impl Teardown {
    /// Kills the workers, waits for them and deletes the namespace. Idempotent.
    fn run(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
        }
        for mut w in self.workers.drain(..) {
            let _ = w.wait();
        }
        if let Some(name) = self.netns.take() {
            netns::delete(&name);
        }
        self.done = true;
    }

    /// Records a started worker, or kills it when the teardown already ran.
    fn adopt(&mut self, mut child: Child) {
        if self.done {
            let _ = child.kill();
            let _ = child.wait();
        } else {
            self.workers.push(child);
        }
    }
}

type Shared = Arc<Mutex<Teardown>>;

fn lock(shared: &Shared) -> MutexGuard<'_, Teardown> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs the teardown when the main thread leaves `run`, by return, error or panic.
struct Guard(Shared);

impl Drop for Guard {
    fn drop(&mut self) {
        lock(&self.0).run();
    }
}

/// On SIGINT, SIGTERM or SIGHUP: tear down and exit with 128 + the signal number.
fn stop_on_signals(shared: Shared) -> Result<()> {
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            STOPPING.store(true, Ordering::SeqCst);
            // Exit whatever the teardown meets: a warning printed to a closed stderr (the
            // terminal that sent SIGHUP is gone) panics, and this thread dying would leave the
            // process holding nothing, for ever.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock(&shared).run()));
            std::process::exit(128 + signal);
        }
    });
    Ok(())
}

fn run(cli: &Cli) -> Result<()> {
    let nofile = raise_nofile()?;
    let plan = Plan::new(
        cli.established,
        cli.destinations,
        cli.time_wait,
        cli.shared_ports,
        nofile,
    )?;
    // SAFETY: geteuid has no preconditions.
    ensure!(
        unsafe { libc::geteuid() } == 0,
        "needs root: it creates a network namespace (`ip netns add`) and sets sysctls in it; \
         run it with sudo"
    );
    let name = cli
        .netns
        .clone()
        .unwrap_or_else(|| format!("portradar-load-{}", std::process::id()));
    let shared = Shared::default();
    let _guard = Guard(Arc::clone(&shared));
    stop_on_signals(Arc::clone(&shared))?;
    {
        let mut teardown = lock(&shared);
        netns::add(&name)?;
        teardown.netns = Some(name.clone());
    }
    netns::loopback_up(&name)?;
    // Everything this thread opens or starts from here on lives in the namespace.
    portradar::collect::netns::enter(&portradar::collect::netns::NetnsSpec::Name(name.clone()))?;
    netns::configure(plan::PORT_RANGE, plan.time_wait)?;

    let started = Instant::now();
    let listeners = plan
        .destinations
        .iter()
        .map(|d| sockets::listen(*d))
        .collect::<Result<Vec<_>>>()?;
    let k = listeners.len();
    let mut held = Vec::new();
    for i in 0..(plan.shared_ports.len() * k) as u64 {
        let d = route(i, k);
        let port = plan.shared_ports[i as usize / k];
        let (client, server) = sockets::shared_pair(&listeners[d], port, plan.destinations[d])?;
        held.extend([client, server]);
    }
    eprintln!(
        "loadgen: netns {name}: {} connections in {} worker processes, toward {k} destinations",
        plan.connections,
        plan.workers.len()
    );
    let mut handles = Vec::new();
    for block in &plan.workers {
        let (child, handle) = worker::spawn(block, &listeners)?;
        lock(&shared).adopt(child);
        handles.push(handle);
    }
    for handle in &mut handles {
        handle.wait_ready()?;
    }
    eprintln!(
        "loadgen: {} connections in {:.1?}",
        plan.connections,
        started.elapsed()
    );

    // Only this process accepts from now on, so each accepted end is its own client's.
    let started = Instant::now();
    for i in 0..plan.time_wait {
        let d = route(i, k);
        sockets::time_wait(&listeners[d], plan.destinations[d])?;
    }
    eprintln!(
        "loadgen: {} TIME_WAIT in {:.1?}",
        plan.time_wait,
        started.elapsed()
    );

    settle(plan.expected())?;
    // One write, so a reader polling the output never sees half a line.
    let line = format!("{}\n", plan.ready_line(&name));
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.flush()?;
    if cli.hold {
        loop {
            std::thread::park();
        }
    }
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    Ok(())
}

/// Waits until the kernel's table holds the `expected` sockets (the last FINs may still be in
/// flight), or says on stderr how it differs.
fn settle(expected: Expected) -> Result<()> {
    let mut collector = Collector::open();
    let all = KernelFilter {
        states: ALL_STATES,
        bytecode: Vec::new(),
        exact: true,
    };
    let mut records = Vec::new();
    let deadline = Instant::now() + SETTLE;
    loop {
        records.clear();
        collector.dump_kernel(Families::BOTH, &all, &mut records)?;
        let mut counts = StateCounts::default();
        records.iter().for_each(|r| counts.add(r.state));
        let have = Expected {
            established: counts.get(TcpState::Established).into(),
            time_wait: counts.get(TcpState::TimeWait).into(),
            listen: counts.get(TcpState::Listen).into(),
        };
        if have == expected && counts.total() == expected.total() {
            return Ok(());
        }
        if Instant::now() > deadline {
            eprintln!(
                "loadgen: warning: the kernel shows {} sockets ({have:?}), not the {} planned \
                 ({expected:?})",
                counts.total(),
                expected.total()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Raises the soft descriptor limit to the hard one (workers inherit it) and returns it.
fn raise_nofile() -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        ensure!(
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0,
            "getrlimit: {}",
            std::io::Error::last_os_error()
        );
        limit.rlim_cur = limit.rlim_max;
        ensure!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0,
            "setrlimit: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(limit.rlim_cur)
}
