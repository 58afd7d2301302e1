//! `portradar snapshot --watch MS --count N`: N snapshots from the refresh worker, one JSON object
//! per line, each whole, with the totals `ss` shows for this test's own loopback sockets, and rates
//! and forecasts filled in from the second refresh on (a one-shot snapshot leaves them null).

mod common;

use common::{portradar, ss};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};

/// Loopback addresses no other test uses, one per test here (they run in parallel), so a filter on
/// one selects that test's sockets only.
const JSON_ADDR: &str = "127.83.0.1";
const TEXT_ADDR: &str = "127.83.0.2";
const WHO_ADDR: &str = "127.83.0.3";
/// Connections the test holds open to its listener.
const CONNECTIONS: usize = 3;

/// The test's sockets: a listener on its address and [`CONNECTIONS`] established connections to it
/// (both ends), held while they live.
struct Workload {
    listener: TcpListener,
    _keep: Vec<TcpStream>,
}

fn workload(addr: &str) -> Workload {
    let listener = TcpListener::bind((addr, 0)).expect("listen on the test's loopback address");
    let mut keep = Vec::new();
    for _ in 0..CONNECTIONS {
        keep.push(TcpStream::connect(listener.local_addr().unwrap()).expect("connect"));
        keep.push(listener.accept().expect("accept").0);
    }
    Workload {
        listener,
        _keep: keep,
    }
}

/// The filter words selecting the sockets of `addr`, for portradar and ss alike.
fn filter(addr: &str) -> [&str; 5] {
    ["src", addr, "or", "dst", addr]
}

/// ss's count of the sockets of `addr` by state.
fn ss_counts(addr: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for s in ss("", &filter(addr)) {
        *counts.entry(s.state.name().to_string()).or_default() += 1;
    }
    counts
}

/// A snapshot's `totals.by_state`.
fn totals(doc: &serde_json::Value) -> BTreeMap<String, u64> {
    doc["totals"]["by_state"]
        .as_object()
        .expect("totals.by_state")
        .iter()
        .map(|(state, n)| (state.clone(), n.as_u64().expect("a count")))
        .collect()
}

#[test]
fn watch_prints_one_whole_snapshot_per_line_with_rates_from_the_second_on() {
    let w = workload(JSON_ADDR);
    let dst = w.listener.local_addr().unwrap().to_string();
    let before = ss_counts(JSON_ADDR);
    let mut args = vec![
        "snapshot", "--watch", "200", "--count", "3", "--format", "json",
    ];
    args.extend(filter(JSON_ADDR));
    let out = portradar(&args);
    let after = ss_counts(JSON_ADDR);
    assert!(
        out.status.success(),
        "portradar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        before, after,
        "the test's sockets held still during the watch"
    );
    assert_eq!(before["LISTEN"], 1);
    assert_eq!(before["ESTABLISHED"], 2 * CONNECTIONS as u64);

    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one line per refresh: {stdout}");
    let docs: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    let mut taken = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        for key in [
            "version",
            "taken_at",
            "source",
            "kernel",
            "port_range",
            "sysctls",
            "totals",
            "destinations",
            "services",
            "reused_ports",
            "time_wait",
            "pointer",
        ] {
            assert!(doc.get(key).is_some(), "object {i} lacks {key}: {doc}");
        }
        assert_eq!(totals(doc), before, "object {i}: totals as ss counts them");
        assert_eq!(doc["filter"], filter(JSON_ADDR).join(" ").as_str());
        taken.push(doc["taken_at"].as_str().unwrap().to_string());

        let dest = doc["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["remote"] == dst.as_str())
            .unwrap_or_else(|| panic!("object {i} lists {dst}: {doc}"));
        assert_eq!(dest["sockets"], CONNECTIONS, "object {i}");
        if i == 0 {
            assert!(
                dest["new_per_s"].is_null(),
                "no rate before a second refresh"
            );
        } else {
            assert!(
                dest["new_per_s"].is_f64(),
                "object {i} has a rate toward {dst}: {dest}"
            );
            assert!(
                dest["forecast"].is_object(),
                "object {i} has a forecast toward {dst}: {dest}"
            );
        }
    }
    assert!(
        taken.windows(2).all(|t| t[0] < t[1]),
        "one refresh after another: {taken:?}"
    );
}

#[test]
fn text_formats_set_refreshes_apart_with_a_blank_line() {
    let _w = workload(TEXT_ADDR);
    let mut args = vec![
        "snapshot", "--watch", "100", "--count", "2", "--format", "summary",
    ];
    args.extend(filter(TEXT_ADDR));
    let out = portradar(&args);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let headers = stdout
        .lines()
        .filter(|l| l.starts_with("portradar "))
        .count();
    assert_eq!(headers, 2, "two summaries: {stdout}");
    let parts: Vec<&str> = stdout.split("\n\n").collect();
    assert_eq!(parts.len(), 2, "one blank line between them: {stdout}");
    assert!(parts[1].starts_with("portradar "), "{stdout}");
}

#[test]
fn count_without_watch_is_a_usage_error() {
    let out = portradar(&["snapshot", "--count", "2"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}

/// The `(local, cgroup, pid, comm)` of each socket of a JSON document, sorted.
fn holders(doc: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = doc["sockets"]
        .as_array()
        .expect("a socket list")
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].to_string();
            (field("local"), field("cgroup"), field("pid"), field("comm"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn watched_sockets_carry_their_cgroup_and_process_like_a_one_shot() {
    let _w = workload(WHO_ADDR);
    let mut args = vec!["snapshot", "--format", "json", "--sockets", "--processes"];
    args.extend(filter(WHO_ADDR));
    let once = common::portradar_json(&args);
    args.extend(["--watch", "200", "--count", "2"]);
    let out = portradar(&args);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let last = stdout.lines().last().expect("a snapshot");
    let watched: serde_json::Value = serde_json::from_str(last).expect("JSON");
    let expected = holders(&once);
    assert_eq!(expected.len(), 1 + 2 * CONNECTIONS, "{once}");
    let me = std::process::id().to_string();
    assert!(expected.iter().all(|h| h.2 == me), "{expected:?}");
    assert!(expected.iter().all(|h| h.1 != "null"), "{expected:?}");
    assert_eq!(holders(&watched), expected);
}
