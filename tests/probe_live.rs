//! `portradar probe` on this kernel: the article's experiment run for real through the binary. The
//! pointer model's window must predict loopback connect()s, `--range` must reproduce the article's parity
//! (in a private namespace: root), `--bind` must show the other parity, `--socket-range` step 1.

mod common;

use common::{have_root, portradar, portradar_json, system_port_range};
use portradar::pointer::{DestinationKey, Parity, PointerTracker};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};

fn ports(report: &Value) -> Vec<u16> {
    report["ports"]
        .as_array()
        .expect("ports array")
        .iter()
        .map(|p| p.as_u64().expect("port number") as u16)
        .collect()
}

fn probe_json(args: &[&str]) -> (Value, Vec<u16>) {
    let mut all = vec!["probe", "--format", "json"];
    all.extend_from_slice(args);
    let report = portradar_json(&all);
    let ports = ports(&report);
    (report, ports)
}

/// Runs a probe that needs a private namespace; `None` (skip) without the privilege outside CI.
fn probe_in_namespace(test: &str, args: &[&str]) -> Option<Vec<u16>> {
    if !have_root(test) {
        return None;
    }
    Some(probe_json(args).1)
}

fn parity(ports: &[u16]) -> Parity {
    Parity::of_all(ports.iter().copied())
}

#[test]
fn the_window_predicts_loopback_connects() {
    let (report, ports) = probe_json(&["--count", "50"]);
    assert_eq!(ports.len(), 50);
    assert_eq!(report["deltas"].as_array().unwrap().len(), 49);
    assert_eq!(report["batches"][0].as_array().unwrap().len(), 50);

    let hits = report["score"]["hits"].as_u64().unwrap();
    let predicted = report["score"]["predicted"].as_u64().unwrap();
    let rate = hits as f64 / predicted as f64;
    assert!(
        rate >= 0.9,
        "the window held {hits} of {predicted} ports ({:.1}%), below 90%: {ports:?}",
        100.0 * rate
    );

    // The library's tracker, fed the same ports, scores them the same.
    let range = system_port_range();
    let mut tracker = PointerTracker::new(range);
    let key = DestinationKey {
        local_ip: [127, 0, 0, 1].into(),
        remote: report["destination"]
            .as_str()
            .unwrap()
            .parse::<SocketAddr>()
            .unwrap(),
    };
    for &port in &ports {
        tracker.observe(key, port);
    }
    assert_eq!(tracker.score().hits, hits);
    assert_eq!(tracker.score().predicted, predicted);

    // On this kernel (6.x): step 2, on the parity of the range's low end.
    assert_eq!(report["verdict"]["step"], 2, "{report}");
    assert_eq!(
        report["verdict"]["parity"],
        Parity::of(range.low).as_str(),
        "{report}"
    );
}

#[test]
fn a_range_starting_odd_gives_odd_ports() {
    let Some(ports) = probe_in_namespace(
        "probe --range 1025-1034",
        &["--range", "1025-1034", "--count", "20"],
    ) else {
        return;
    };
    assert_eq!(parity(&ports), Parity::Odd, "{ports:?}");
    assert!(ports.iter().all(|p| (1025..=1034).contains(p)), "{ports:?}");
}

#[test]
fn a_range_starting_even_gives_even_ports() {
    let Some(ports) = probe_in_namespace(
        "probe --range 1024-1035",
        &["--range", "1024-1035", "--count", "20"],
    ) else {
        return;
    };
    assert_eq!(parity(&ports), Parity::Even, "{ports:?}");
    assert!(ports.iter().all(|p| (1024..=1035).contains(p)), "{ports:?}");
}

#[test]
fn bind_gives_the_other_parity() {
    let (connect, bind) = match Parity::of(system_port_range().low) {
        Parity::Even => (Parity::Even, Parity::Odd),
        _ => (Parity::Odd, Parity::Even),
    };
    let (_, connected) = probe_json(&["--count", "10"]);
    let (report, bound) = probe_json(&["--bind", "--count", "10"]);
    assert_eq!(parity(&connected), connect, "connect() ports {connected:?}");
    assert_eq!(parity(&bound), bind, "bind(0) ports {bound:?}");
    assert!(
        report["verdict"]["matches"]
            .as_str()
            .unwrap()
            .starts_with("bind(0)"),
        "{report}"
    );

    let args = ["--range", "1025-1034", "--bind", "--count", "10"];
    if let Some(bound) = probe_in_namespace("probe --range 1025-1034 --bind", &args) {
        assert_eq!(parity(&bound), Parity::Even, "{bound:?}");
    }
}

#[test]
fn a_socket_range_inside_the_system_range_gives_both_parities() {
    let system = system_port_range();
    assert!(
        system.size() >= 200,
        "the system range {system:?} is too small for this test"
    );
    let low = system.low + 100;
    let high = low + 39;
    let (report, ports) =
        probe_json(&["--socket-range", &format!("{low}-{high}"), "--count", "30"]);
    assert!(
        ports.iter().all(|p| (low..=high).contains(p)),
        "{ports:?} outside {low}-{high}"
    );
    assert_eq!(parity(&ports), Parity::Mixed, "one parity only: {ports:?}");
    assert_eq!(report["verdict"]["step"], 1, "{report}");
    assert_eq!(report["notes"].as_array().unwrap().len(), 0, "{report}");
}

#[test]
fn a_socket_range_outside_the_system_range_is_reported_ignored() {
    let system = system_port_range();
    let (report, ports) = probe_json(&["--socket-range", "1-2000", "--count", "5"]);
    assert!(ports.iter().all(|&p| system.contains(p)), "{ports:?}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("LOW 1 lies outside the system range"),
        "{notes}"
    );
    assert!(
        notes.contains("HIGH 2000 lies outside the system range"),
        "{notes}"
    );
}

#[test]
fn a_refused_connect_still_allocates_its_port() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (report, ports) = probe_json(&["--dst", &closed.to_string(), "--count", "5"]);
    let system = system_port_range();
    assert_eq!(ports.len(), 5, "{report}");
    assert!(ports.iter().all(|&p| system.contains(p)), "{ports:?}");
    assert_eq!(report["destination"], closed.to_string());
}

#[test]
fn repeated_batches_are_reported_apart() {
    let (report, ports) = probe_json(&["--count", "3", "--repeat", "2", "--sleep", "50"]);
    assert_eq!(ports.len(), 6);
    let batches: Vec<usize> = report["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_array().unwrap().len())
        .collect();
    assert_eq!(batches, [3, 3]);
}

#[test]
fn the_text_report_lists_ports_and_the_verdict() {
    let out = portradar(&["probe"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let port_lines = text
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<u16>().is_ok())
        })
        .count();
    assert_eq!(port_lines, 5, "{text}");
    for label in ["verdict  step", "matches  ", "window   ", "next     "] {
        assert!(text.contains(label), "no {label:?} in:\n{text}");
    }
}

#[test]
fn bad_input_is_a_one_line_usage_error() {
    let cases: [&[&str]; 5] = [
        &["--count", "0"],
        &["--dst", "127.0.0.1:70000"],
        &["--range", "1034-1025"],
        &["--range", "1025-1034", "--socket-range", "1025-1034"],
        &["--sleep", "100"],
    ];
    for args in cases {
        let mut all = vec!["probe"];
        all.extend_from_slice(args);
        let out = portradar(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("portradar: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn dash_six_probes_over_ipv6_loopback() {
    let (report, ports) = probe_json(&["-6", "--count", "5"]);
    let destination: SocketAddr = report["destination"].as_str().unwrap().parse().unwrap();
    assert_eq!(destination.ip(), std::net::Ipv6Addr::LOCALHOST, "{report}");
    assert_eq!(ports.len(), 5, "{report}");
    let system = system_port_range();
    assert!(ports.iter().all(|&p| system.contains(p)), "{ports:?}");

    let args = ["-6", "--range", "1025-1034", "--count", "10"];
    if let Some(ports) = probe_in_namespace("probe -6 --range 1025-1034", &args) {
        assert_eq!(parity(&ports), Parity::Odd, "{ports:?}");
    }
}
