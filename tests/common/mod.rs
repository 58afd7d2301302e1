//! Helpers shared by the integration tests: running the binary, reading `ss`, private network
//! namespaces, and the root/CI skip rule.
#![allow(dead_code)] // each test file uses its own subset

pub mod loadgen;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Output};

/// Runs the portradar binary with `args`.
pub fn portradar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portradar"))
        .args(args)
        .output()
        .expect("run portradar")
}

/// Runs portradar and parses its stdout as JSON, failing with its stderr when it fails.
pub fn portradar_json(args: &[&str]) -> serde_json::Value {
    let out = portradar(args);
    assert!(
        out.status.success(),
        "portradar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("portradar prints JSON")
}

/// One line of `ss -Htan[oe]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsSocket {
    /// Kernel state name as portradar prints it (`TIME_WAIT`).
    pub state: String,
    pub local: String,
    pub remote: String,
    /// `timer:(NAME,REMAINING,...)` when `-o` was given.
    pub timer: Option<(String, u64)>,
    pub inode: Option<u64>,
    pub uid: Option<u64>,
}

/// Runs `ss -H -t -a -n` with extra flags and a filter expression, and parses every line.
pub fn ss(flags: &str, filter: &[&str]) -> Vec<SsSocket> {
    let out = Command::new("ss")
        .arg(format!("-Htan{flags}"))
        .args(filter)
        .output()
        .expect("run ss (iproute2)");
    assert!(
        out.status.success(),
        "ss {filter:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_ss_line)
        .collect()
}

/// Like [`ss`], in the named network namespace (`ss -N NAME`).
pub fn ss_in(netns: &str, flags: &str, filter: &[&str]) -> Vec<SsSocket> {
    let mut args = vec!["-N", netns];
    args.extend_from_slice(filter);
    ss(flags, &args)
}

/// Parses a line that has ss's State column (ss drops it under a `state` filter).
fn parse_ss_line(line: &str) -> SsSocket {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(
        words.len() >= 5 && words[0].parse::<u64>().is_err(),
        "ss line without a State column: {line:?}"
    );
    let field = |prefix: &str| {
        words
            .iter()
            .find_map(|w| w.strip_prefix(prefix))
            .and_then(|v| v.parse().ok())
    };
    SsSocket {
        state: ss_state(words[0]),
        local: normalize_endpoint(words[3]),
        remote: normalize_endpoint(words[4]),
        timer: words
            .iter()
            .find_map(|w| w.strip_prefix("timer:("))
            .map(parse_timer),
        inode: field("ino:"),
        uid: field("uid:"),
    }
}

/// `timewait,59sec,0)` → ("timewait", 59000 ms).
fn parse_timer(t: &str) -> (String, u64) {
    let parts: Vec<&str> = t.trim_end_matches(')').split(',').collect();
    (parts[0].to_string(), parse_ss_duration(parts[1]))
}

/// ss prints `59sec`, `1min2sec`, `250ms`, `1.5sec`.
fn parse_ss_duration(s: &str) -> u64 {
    let mut ms = 0f64;
    let mut num = String::new();
    let mut unit = String::new();
    let mut flush = |num: &mut String, unit: &mut String| {
        let n: f64 = num.parse().unwrap_or(0.0);
        ms += n * match unit.as_str() {
            "min" => 60_000.0,
            "sec" => 1000.0,
            _ => 1.0,
        };
        num.clear();
        unit.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() || c == '.' {
            if !unit.is_empty() {
                flush(&mut num, &mut unit);
            }
            num.push(c);
        } else {
            unit.push(c);
        }
    }
    flush(&mut num, &mut unit);
    ms as u64
}

/// ss's state names → kernel names.
fn ss_state(s: &str) -> String {
    match s {
        "ESTAB" => "ESTABLISHED",
        "SYN-SENT" => "SYN_SENT",
        "SYN-RECV" => "SYN_RECV",
        "FIN-WAIT-1" => "FIN_WAIT1",
        "FIN-WAIT-2" => "FIN_WAIT2",
        "TIME-WAIT" => "TIME_WAIT",
        "UNCONN" => "CLOSE",
        "CLOSE-WAIT" => "CLOSE_WAIT",
        "LAST-ACK" => "LAST_ACK",
        "LISTEN" => "LISTEN",
        "CLOSING" => "CLOSING",
        "UNKNOWN" => "BOUND_INACTIVE",
        other => other,
    }
    .to_string()
}

/// ss prints `*` for a wildcard address and `[::ffff:1.2.3.4]` for mapped ones; portradar prints
/// `0.0.0.0:0` / `[::]:0` and the same brackets.
fn normalize_endpoint(e: &str) -> String {
    let e = e.replace("%lo", "");
    match e.rsplit_once(':') {
        Some((ip, "*")) => format!("{}:0", normalize_ip(ip)),
        Some((ip, port)) => format!("{}:{port}", normalize_ip(ip)),
        None => e,
    }
}

fn normalize_ip(ip: &str) -> String {
    match ip {
        "*" | "0.0.0.0" => "0.0.0.0".into(),
        "[::]" | "[*]" => "[::]".into(),
        other => other.into(),
    }
}

/// Whether the test may use root-only features. Without root it prints a skip note and returns
/// false; under CI (`CI=true`) a missing privilege fails the test instead.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test} needs root (network namespaces) and CI must not skip it"
        );
        eprintln!("SKIPPED {test}: needs root to create a network namespace");
    }
    root
}

/// A private network namespace with lo up, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("prtest-{tag}-{}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace and returns its stdout; panics when it fails.
    pub fn exec(&self, cmd: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        run("ip", &args)
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// Runs `f` on a thread that has entered the namespace (sockets it opens live there).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns file");
                use std::os::fd::AsRawFd;
                // SAFETY: setns on a valid namespace fd affects only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("netns thread")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The set of ports of a group of sockets, for restricting comparisons to a test's own sockets.
pub fn ports_of(addrs: &[SocketAddr]) -> BTreeSet<u16> {
    addrs.iter().map(|a| a.port()).collect()
}

/// The port of an `ip:port` / `[ip]:port` string.
pub fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

/// Accepts connections on `listener` until `stop`, reading each to its end (so the peer closes
/// first and keeps the TIME_WAIT entry).
pub fn serve_until_eof(listener: &std::net::TcpListener, stop: &std::sync::atomic::AtomicBool) {
    use std::io::Read;
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, _)) => {
                s.set_nonblocking(false).expect("blocking stream");
                let _ = s.read_to_end(&mut Vec::new());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
