//! The integration tests' toolkit: running the binary, the root/CI skip rule, the port range, and
//! (in their own modules) `ss` as the reference, private network namespaces, the load generator,
//! the simulated port allocator and portradar in a pseudo-terminal.
#![allow(dead_code)] // each test file uses its own subset

pub mod allocator;
pub mod loadgen;
pub mod netns;
pub mod nobody;
pub mod pty;
pub mod ss;

// The names test files used before these modules existed.
#[allow(unused_imports)]
pub use netns::Netns;
#[allow(unused_imports)]
pub use ss::{SsSocket, ss, ss_in};

use portradar::settings::PortRange;
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

/// The set of ports of a group of sockets, for restricting comparisons to a test's own sockets.
pub fn ports_of(addrs: &[SocketAddr]) -> BTreeSet<u16> {
    addrs.iter().map(|a| a.port()).collect()
}

/// `ip_local_port_range` of the namespace the tests run in, read from /proc.
pub fn system_port_range() -> PortRange {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("read range");
    let mut ends = text
        .split_whitespace()
        .map(|n| n.parse::<u16>().expect("port"));
    PortRange {
        low: ends.next().expect("low"),
        high: ends.next().expect("high"),
    }
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

/// Whether `tool` runs (`tool --version`). Without it the test prints a skip note naming the Debian
/// `package` and returns false; under CI (`CI=true`) a missing tool fails the test instead.
pub fn have_tool(tool: &str, package: &str, test: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test} needs {tool} (Debian package {package}) and CI must not skip it"
        );
        eprintln!("SKIPPED {test}: {tool} not found (Debian package {package})");
    }
    found
}
