//! `snapshot --watch --format json` with allocator events, against the kernel: a child process that
//! exhausts a tiny range shows up as picks and failed connect()s of its destination; with
//! `--no-events`, and without privilege, the event fields are null (and snapshot still works).
//! Root only (BPF and namespaces).

mod common;

use common::{Netns, have_root};
use serde_json::Value;
use std::io::{BufRead, BufReader, Lines};
use std::net::TcpListener;
use std::process::{Child, ChildStdout, Command, Stdio};

const REMOTE: &str = "127.0.0.1:50001";

/// A running `portradar snapshot --watch 200 --format json`, read one object at a time.
struct Watch {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Watch {
    fn start(args: &[&str]) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portradar"))
            .args(["snapshot", "--watch", "200", "--format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start portradar snapshot --watch");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Watch { child, lines }
    }

    /// The next object, or `None` once the watch ended.
    fn next(&mut self) -> Option<Value> {
        let line = self.lines.next()?.expect("read stdout");
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The destination `remote` of a snapshot object.
fn destination<'a>(snap: &'a Value, remote: &str) -> Option<&'a Value> {
    snap["destinations"]
        .as_array()?
        .iter()
        .find(|d| d["remote"] == remote)
}

fn listen(ns: &Netns) -> TcpListener {
    ns.run(|| TcpListener::bind(REMOTE).expect("listen"))
}

#[test]
fn a_watch_counts_the_picks_and_failures_of_a_child_exhausting_the_range() {
    if !have_root("snapshot --watch with events") {
        return;
    }
    let ns = Netns::new("evsnap");
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40003");
    let _listener = listen(&ns);
    // Events attach before the first refresh: the first object means they are live.
    let mut watch = Watch::start(&["--netns", &ns.name, "--count", "100"]);
    let first = watch.next().expect("a first snapshot");
    assert_eq!(first["events"]["source"], "bpf", "{first}");
    assert_eq!(first["events"]["failures"], 0, "{first}");
    // Six connect()s: four get the four ports, two fail.
    let failed = ns.exhaust(50001, 6);
    let counted = loop {
        let snap = watch
            .next()
            .expect("the failures show before the watch ends");
        let Some(d) = destination(&snap, REMOTE) else {
            continue;
        };
        if d["connect_failures"].as_u64().unwrap_or(0) >= failed {
            break snap;
        }
    };
    let d = destination(&counted, REMOTE).expect("the destination");
    assert_eq!(d["picks"], 4, "one pick per successful connect(): {d}");
    assert!(d["failures_last_minute"].as_u64() >= Some(failed), "{d}");
    let failing = d["failing"].as_array().expect("failing processes");
    assert!(
        failing.iter().any(|f| f["comm"] == "bash"),
        "the client is named: {d}"
    );
    assert_eq!(counted["events"]["source"], "bpf");
    assert!(counted["events"]["picks"].as_u64() >= Some(4), "{counted}");
    assert!(counted["events"]["failures"].as_u64() >= Some(failed));
}

#[test]
fn with_no_events_the_event_fields_are_null() {
    if !have_root("snapshot --watch --no-events") {
        return;
    }
    let ns = Netns::new("evnone");
    let listener = listen(&ns);
    let _client = ns.run(|| std::net::TcpStream::connect(REMOTE).expect("connect"));
    let _accepted = listener.accept().expect("accept");
    let mut watch = Watch::start(&["--netns", &ns.name, "--count", "2", "--no-events"]);
    let mut seen = 0;
    while let Some(snap) = watch.next() {
        seen += 1;
        assert!(snap["events"].is_null(), "{snap}");
        let d = destination(&snap, REMOTE).expect("the destination");
        assert!(d["connect_failures"].is_null(), "{d}");
        assert!(d["picks"].is_null(), "{d}");
        assert!(d["failures_last_minute"].is_null(), "{d}");
    }
    assert_eq!(seen, 2);
}

#[test]
fn without_privilege_snapshot_works_and_events_are_null() {
    if !have_root("snapshot without privilege") {
        return;
    }
    for watch in [&["--watch", "200", "--count", "1"][..], &[]] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_portradar"))
            .args(["snapshot", "--format", "json"])
            .args(watch)
            .output()
            .expect("run setpriv");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{watch:?}: {stderr}");
        let snap: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(snap["events"].is_null(), "{watch:?}: {snap}");
        if !watch.is_empty() {
            assert!(
                stderr.contains("events unavailable") && stderr.contains("CAP_BPF"),
                "a watch says why events are off: {stderr}"
            );
        }
    }
}
