//! `snapshot --processes`: two child processes holding 30 and 20 connections to one loopback
//! destination are listed as its consumers with exactly those counts and their command names, and
//! `--sockets` carries each socket's pid and comm.

mod attrib_support;
mod common;

use attrib_support::Holder;
use serde_json::Value;
use std::net::TcpListener;

#[test]
fn two_processes_are_the_consumers_of_their_destination() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    let mut a = Holder::spawn("prholder-a", to, 30);
    let mut b = Holder::spawn("prholder-b", to, 20);
    a.connect();
    b.connect();
    let filter = format!("dst {to}");
    let doc = common::portradar_json(&[
        "snapshot",
        "--format",
        "json",
        "--processes",
        "--sockets",
        &filter,
    ]);
    let dests = doc["destinations"].as_array().unwrap();
    assert_eq!(dests.len(), 1, "{dests:?}");
    assert_eq!(dests[0]["remote"], Value::from(to.to_string()));
    let consumers = dests[0]["consumers"].as_array().unwrap();
    let got: Vec<(u64, &str, u64, u64)> = consumers
        .iter()
        .map(|c| {
            (
                c["pid"].as_u64().unwrap(),
                c["comm"].as_str().unwrap(),
                c["sockets"].as_u64().unwrap(),
                c["by_state"]["ESTABLISHED"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (u64::from(a.pid()), "prholder-a", 30, 30),
            (u64::from(b.pid()), "prholder-b", 20, 20)
        ]
    );
    assert_eq!(doc["processes"]["partial"], Value::from(false));
    let sockets = doc["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 50);
    let of = |pid: u32| sockets.iter().filter(|s| s["pid"] == pid).count();
    assert_eq!((of(a.pid()), of(b.pid())), (30, 20));
    assert!(
        sockets.iter().all(|s| s["cgroup"].is_string()),
        "{sockets:?}"
    );
}

#[test]
fn without_processes_consumers_have_no_pid_and_sockets_no_pid_field() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    let mut a = Holder::spawn("prholder-c", to, 3);
    a.connect();
    let filter = format!("dst {to}");
    let doc = common::portradar_json(&["snapshot", "--format", "json", "--sockets", &filter]);
    assert_eq!(doc["processes"], Value::Null);
    let consumers = doc["destinations"][0]["consumers"].as_array().unwrap();
    assert_eq!(consumers.len(), 1);
    assert_eq!(consumers[0]["pid"], Value::Null);
    assert_eq!(consumers[0]["sockets"], Value::from(3));
    let sockets = doc["sockets"].as_array().unwrap();
    assert_eq!(sockets.len(), 3);
    assert!(
        sockets
            .iter()
            .all(|s| s.get("pid").is_none() && s["cgroup"].is_string())
    );
}
