//! Recordings end to end: a workload recorded in a private network namespace reads back, through
//! `snapshot --from FILE --at T`, as the snapshot the live refresher built from the same table at
//! that time; a recording cut at any byte reads up to its last whole frame and says so; a file
//! that is not a recording is a one-line error, exit status 1; a recording continues only one of
//! the same host, namespace and families.
//!
//! The workload tests need root for the namespace and skip without it (`common::have_root`).

mod common;

use common::{Netns, portradar};
use portradar::output::json::{self, Layout};
use portradar::output::rfc3339;
use portradar::record::{RecordError, Recorded, Recording, Scope};
use portradar::refresh::Refresh;
use serde_json::Value;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Tables recorded in the workload test.
const TABLES: usize = 12;

/// A path for this test's recording in the temporary directory, removed first.
fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("portradar-{name}-{}.rec", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A listener that holds every connection until its client closes it.
fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = { stream }.read_to_end(&mut Vec::new());
            });
        }
    });
    addr
}

/// `t` in RFC 3339 with nanoseconds: the exact time of a table.
fn exact(t: SystemTime) -> String {
    let ms = rfc3339(t);
    let nanos = t.duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}.{nanos:09}Z", &ms[..19])
}

/// A snapshot document with its socket list in a fixed order (the dump's order is the kernel's;
/// a recording keeps sockets by cookie).
fn canonical(mut doc: Value) -> Value {
    if let Some(Value::Array(sockets)) = doc.get_mut("sockets") {
        sockets.sort_by_key(|s| s.to_string());
    }
    // A recording keeps the table, not who held it (cgroups, processes): those are live-only.
    if let Some(Value::Array(destinations)) = doc.get_mut("destinations") {
        for d in destinations {
            d["consumers"] = Value::Null;
        }
    }
    doc
}

/// Records TABLES refreshes of a changing workload through the library, keeping the live JSON of
/// each (with sockets), in a namespace of its own.
fn record_workload(ns: &Netns, path: &Path) -> Vec<(SystemTime, Value)> {
    ns.run(|| {
        let addr = serve();
        let other = serve();
        let scope = Scope {
            netns: None,
            families: portradar::collect::Families::BOTH,
            interval_ms: 100,
            filter: None,
        };
        let (mut recorded, _) = Recorded::open(path, scope).expect("open the recording");
        let mut kept: Vec<TcpStream> = Vec::new();
        let mut live = Vec::new();
        for step in 0..TABLES {
            // Churn: new connections, some closed (TIME_WAIT), to two destinations.
            for i in 0..(3 + step % 4) {
                let to = if i % 2 == 0 { addr } else { other };
                kept.push(TcpStream::connect(to).expect("connect"));
            }
            for _ in 0..(step % 3) {
                if !kept.is_empty() {
                    drop(kept.remove(0));
                }
            }
            let (snap, failed) = recorded.refresh_recorded().expect("refresh");
            assert!(failed.is_none(), "the write failed: {failed:?}");
            let mut out = Vec::new();
            json::write(&snap, Some(recorded.records()), Layout::Line, &mut out).unwrap();
            let doc: Value = serde_json::from_slice(&out).unwrap();
            live.push((snap.meta.taken_at, canonical(doc)));
        }
        live
    })
}

#[test]
fn a_snapshot_from_the_recording_equals_the_live_one_at_that_time() {
    let Some(ns) = Netns::for_test("rec-live") else {
        return;
    };
    let path = scratch("live");
    let live = record_workload(&ns, &path);
    let file = path.to_str().unwrap();
    let recording = Recording::open(&path).expect("the recording opens");
    assert_eq!(recording.len(), TABLES);
    assert!(recording.truncation.is_none());
    for (i, (taken_at, expected)) in live.iter().enumerate() {
        let at = exact(*taken_at);
        let out = portradar(&[
            "snapshot",
            "--from",
            file,
            "--at",
            &at,
            "--format",
            "json",
            "--sockets",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = canonical(serde_json::from_slice(&out.stdout).expect("JSON"));
        assert_eq!(&got, expected, "table {i} at {at}");
        let sockets = got["sockets"].as_array().expect("a socket list");
        assert!(sockets.len() >= 2 * (i + 1), "the workload grows: {i}");
    }
    // The default is the end; +SECONDS counts from the start.
    let end = common::portradar_json(&["snapshot", "--from", file, "--format", "json"]);
    assert_eq!(end["taken_at"], live[TABLES - 1].1["taken_at"]);
    let start =
        common::portradar_json(&["snapshot", "--from", file, "--at", "+0", "--format", "json"]);
    assert_eq!(start["taken_at"], live[0].1["taken_at"]);
    // --watch MS plays the recording, printing its table every MS of recorded time (here the
    // tables came faster than 100 ms): from the first to the last, in order, each one the last
    // taken by then.
    let out = portradar(&[
        "snapshot", "--from", file, "--watch", "100", "--format", "json",
    ]);
    let times: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["taken_at"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let start = live[0].0;
    let mut expected: Vec<String> = Vec::new();
    for k in 0.. {
        let t = start + std::time::Duration::from_millis(100 * k);
        let last = live
            .iter()
            .rev()
            .find(|(at, _)| *at <= t)
            .unwrap_or(&live[TABLES - 1]);
        let time = last.1["taken_at"].as_str().unwrap().to_string();
        if expected.last() != Some(&time) {
            expected.push(time);
        }
        if t >= live[TABLES - 1].0 {
            break;
        }
    }
    assert_eq!(times, expected);
    // A filter applies to the recorded table in user space.
    let filtered = common::portradar_json(&[
        "snapshot",
        "--from",
        file,
        "--format",
        "json",
        "--sockets",
        "state",
        "listen",
    ]);
    let states: Vec<&Value> = filtered["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["state"])
        .collect();
    assert_eq!(states.len(), 2, "{filtered}");
    assert!(states.iter().all(|s| *s == "LISTEN"));
    let _ = std::fs::remove_file(&path);
}

/// Where each frame of a recording ends: after the 16-byte header, each frame is its 8-byte
/// prefix (length, CRC) and the length it gives.
fn frame_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 16;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 8 + len;
        ends.push(at);
    }
    assert_eq!(at, bytes.len(), "the frames fill the file");
    ends
}

#[test]
fn a_cut_recording_reads_up_to_its_last_whole_frame_and_says_so() {
    let Some(ns) = Netns::for_test("rec-cut") else {
        return;
    };
    let path = scratch("whole");
    record_workload(&ns, &path);
    let bytes = std::fs::read(&path).unwrap();
    let ends = frame_ends(&bytes);
    let cut_path = scratch("cut");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for n in 0..60 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut = (seed % bytes.len() as u64) as usize;
        std::fs::write(&cut_path, &bytes[..cut]).unwrap();
        let whole = ends.iter().filter(|e| **e <= cut).count();
        match Recording::open(&cut_path) {
            Ok(r) => {
                // The host frame and `whole - 1` tables.
                assert_eq!(r.len(), whole - 1, "cut at {cut}");
                let valid = ends[whole - 1];
                let truncated = (valid < cut).then_some(cut - valid);
                assert_eq!(
                    r.truncation.map(|t| t.ignored as usize),
                    truncated,
                    "cut at {cut}"
                );
                if n % 10 == 0 && truncated.is_some() {
                    let out = portradar(&[
                        "snapshot",
                        "--from",
                        cut_path.to_str().unwrap(),
                        "--format",
                        "json",
                    ]);
                    assert!(out.status.success());
                    let err = String::from_utf8_lossy(&out.stderr);
                    assert!(err.contains("not a whole frame"), "{err}");
                }
            }
            Err(RecordError::NotARecording { .. }) => assert!(cut < 16, "cut at {cut}"),
            Err(RecordError::NoHost { .. }) => assert_eq!(whole, 0, "cut at {cut}"),
            Err(RecordError::Empty { .. }) => assert_eq!(whole, 1, "cut at {cut}"),
            Err(e) => panic!("cut at {cut}: {e}"),
        }
    }
    // A damaged byte inside a frame ends the recording before that frame.
    let mut damaged = bytes.clone();
    let inside = ends[4] + 20;
    damaged[inside] ^= 0xff;
    std::fs::write(&cut_path, &damaged).unwrap();
    let r = Recording::open(&cut_path).unwrap();
    assert_eq!(r.len(), 4);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&cut_path);
}

#[test]
fn a_file_that_is_not_a_recording_is_one_line_exit_1() {
    let path = scratch("text");
    std::fs::write(&path, "hello, this is text\n").unwrap();
    let file = path.to_str().unwrap();
    for args in [vec!["snapshot", "--from", file], vec!["replay", file]] {
        let out = portradar(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("is not a portradar recording"), "{err}");
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn recording_again_continues_the_file_and_refuses_another_scope() {
    let Some(ns) = Netns::for_test("rec-again") else {
        return;
    };
    let path = scratch("again");
    let file = path.to_str().unwrap();
    let netns = ns.path();
    let record = |extra: &[&str]| {
        let mut args = vec![
            "record",
            file,
            "--interval",
            "100",
            "--duration",
            "1",
            "-N",
            &netns,
        ];
        args.extend_from_slice(extra);
        portradar(&args)
    };
    assert!(record(&[]).status.success());
    let first = Recording::open(&path).unwrap().len();
    let out = record(&[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("continuing"));
    let second = Recording::open(&path).unwrap();
    assert!(
        second.len() > first,
        "{} tables after {first}",
        second.len()
    );
    let out = record(&["-4"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record into another file"), "{err}");
    assert_eq!(
        Recording::open(&path).unwrap().len(),
        second.len(),
        "left as it was"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_closed_stderr_does_not_stop_a_recording() {
    let path = scratch("no-stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portradar"))
        .args(["record", path.to_str().unwrap(), "--interval", "100"])
        .args(["--duration", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start portradar record");
    // Nobody reads the notes: every write to stderr fails with EPIPE.
    drop(child.stderr.take());
    let status = child.wait().expect("wait for portradar record");
    assert!(status.success(), "{status}");
    let recording = Recording::open(&path).expect("the recording opens");
    assert!(recording.len() >= 2, "{} tables", recording.len());
    let _ = std::fs::remove_file(&path);
}
