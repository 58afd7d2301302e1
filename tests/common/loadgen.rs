//! The load generator (`examples/loadgen`) seen from the tests: built on demand, started, its READY
//! line parsed, and stopped with a check that it left no namespace and no worker process behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The load generator's arguments for a table of about 100,000 sockets: 40,000 connections (both
/// ends) and 20,000 client TIME_WAIT toward four destinations, two local ports shared by all.
pub const TABLE_100K: [&str; 8] = [
    "--established",
    "40000",
    "--destinations",
    "4",
    "--time-wait",
    "20000",
    "--shared-ports",
    "2",
];

/// How long the load generator may take to stop (it kills its workers and deletes the namespace).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the load generator says it built (its READY line).
#[derive(Clone, Debug, Default)]
pub struct Ready {
    pub netns: String,
    pub sockets: u64,
    pub established: u64,
    pub time_wait: u64,
    pub listen: u64,
    pub workers: usize,
    pub shared_ports: Vec<u16>,
    /// Each destination (`127.0.1.1:80`) with the client sockets toward it.
    pub destinations: Vec<(String, u64)>,
}

impl Ready {
    fn parse(line: &str) -> Ready {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("READY"), "not a READY line: {line:?}");
        let mut ready = Ready::default();
        for word in words {
            let (key, value) = word.split_once('=').expect("key=value");
            let number = || value.parse::<u64>().expect("a number");
            match key {
                "netns" => ready.netns = value.to_string(),
                "sockets" => ready.sockets = number(),
                "established" => ready.established = number(),
                "time_wait" => ready.time_wait = number(),
                "listen" => ready.listen = number(),
                "workers" => ready.workers = number() as usize,
                "shared_ports" => {
                    ready.shared_ports = list(value).map(|p| p.parse().unwrap()).collect()
                }
                "destinations" => {
                    ready.destinations = list(value)
                        .map(|d| {
                            let (addr, n) = d.split_once('=').expect("ADDR=N");
                            (addr.to_string(), n.parse().unwrap())
                        })
                        .collect()
                }
                _ => {}
            }
        }
        ready
    }
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').filter(|s| !s.is_empty())
}

/// How to stop the load generator.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    CloseStdin,
    Signal(i32),
}

/// A running load generator; dropping it sends SIGTERM, so a failed test leaves nothing behind.
pub struct LoadGen {
    child: Child,
    stdin: Option<ChildStdin>,
    pub ready: Ready,
}

impl LoadGen {
    /// The load generator started with `args` for `test`, or `None` (the test skips) without root:
    /// see [`super::have_root`].
    pub fn for_test(test: &str, args: &[&str]) -> Option<LoadGen> {
        super::have_root(test).then(|| LoadGen::start(args))
    }

    /// Starts the load generator with `args` and waits for its READY line.
    pub fn start(args: &[&str]) -> LoadGen {
        let mut child = Command::new(executable())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the load generator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the READY line");
        if line.is_empty() {
            panic!(
                "the load generator {args:?} stopped before READY: {:?}",
                child.wait()
            );
        }
        LoadGen {
            stdin: child.stdin.take(),
            child,
            ready: Ready::parse(&line),
        }
    }

    /// Pids of the load generator's worker processes.
    pub fn workers(&self) -> Vec<u32> {
        children_of(self.child.id())
    }

    /// Stops the load generator `how`, waits for it, and checks that its namespace and workers are
    /// gone. Returns its exit status.
    pub fn stop(&mut self, how: Stop) -> ExitStatus {
        let workers = self.workers();
        match how {
            Stop::CloseStdin => drop(self.stdin.take()),
            // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
            Stop::Signal(signal) => unsafe {
                libc::kill(self.child.id() as libc::pid_t, signal);
            },
        }
        let status = self.wait();
        let netns = &self.ready.netns;
        assert!(
            !Path::new("/run/netns").join(netns).exists(),
            "namespace {netns} left behind"
        );
        let left: Vec<u32> = workers.into_iter().filter(|p| is_worker(*p)).collect();
        assert!(left.is_empty(), "worker processes left behind: {left:?}");
        status
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the load generator") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the load generator did not stop within {STOP_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LoadGen {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: as in `stop`.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

/// Processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // `PID (COMM) STATE PPID ...`; COMM may hold spaces, so split after its closing paren.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push(child);
        }
    }
    children
}

/// True while `pid` is a load generator worker (a reused pid is some other program).
fn is_worker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"--worker"))
}

/// The load generator's executable, built once per test binary first: `cargo test` builds examples
/// but `cargo test --test NAME` does not, and a stale binary would test old code.
pub fn executable() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/PROFILE/deps/TEST-HASH → target/PROFILE
            let exe = std::env::current_exe().expect("test executable path");
            let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.args(["build", "--quiet", "--example", "loadgen"]);
            if profile_dir.file_name().is_some_and(|p| p == "release") {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("run cargo build");
            assert!(status.success(), "cargo build --example loadgen: {status}");
            profile_dir.join("examples").join("loadgen")
        })
        .clone()
}
