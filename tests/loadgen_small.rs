//! The load generator builds the table it claims, as `ss` in its namespace sees it: sockets per
//! state, client sockets per destination, shared local ports; and it leaves no namespace and no
//! worker process behind, whether stopped by closing its stdin or by SIGTERM. It refuses a table it
//! cannot build with a clear error.

mod common;

use common::loadgen::{LoadGen, Stop};
use common::ss::ss_in;
use portradar::socket::TcpState;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

#[test]
fn builds_the_table_it_claims_and_cleans_up() {
    let args = [
        "--established",
        "3000",
        "--destinations",
        "3",
        "--time-wait",
        "1000",
        "--shared-ports",
        "2",
    ];
    let Some(mut load) = LoadGen::for_test("builds_the_table_it_claims_and_cleans_up", &args)
    else {
        return;
    };
    let ready = load.ready.clone();
    assert_eq!(
        (ready.established, ready.time_wait, ready.listen),
        (6000, 1000, 3)
    );
    assert_eq!(ready.sockets, 7003);
    assert_eq!(ready.shared_ports.len(), 2);
    assert_eq!(ready.destinations.len(), 3);
    assert_eq!(load.workers().len(), ready.workers);
    assert!(ready.workers >= 1);

    let table = ss_in(&ready.netns, "", &[]);
    let mut by_state = BTreeMap::new();
    for s in &table {
        *by_state.entry(s.state.name()).or_insert(0u64) += 1;
    }
    let claimed = BTreeMap::from([
        ("ESTABLISHED", ready.established),
        ("LISTEN", ready.listen),
        ("TIME_WAIT", ready.time_wait),
    ]);
    assert_eq!(by_state, claimed);

    for (dest, claimed) in &ready.destinations {
        let toward = table
            .iter()
            .filter(|s| s.remote.to_string() == *dest)
            .count() as u64;
        assert_eq!(toward, *claimed, "client sockets toward {dest}");
    }
    let dests: BTreeSet<String> = ready.destinations.iter().map(|(d, _)| d.clone()).collect();
    for port in &ready.shared_ports {
        let local = format!("127.0.0.1:{port}");
        let sharing: Vec<_> = table
            .iter()
            .filter(|s| s.local.to_string() == local)
            .collect();
        assert!(
            sharing.iter().all(|s| s.state == TcpState::Established),
            "{sharing:?}"
        );
        let remotes: BTreeSet<String> = sharing.iter().map(|s| s.remote.to_string()).collect();
        assert_eq!(
            remotes, dests,
            "{local} is shared by one connection to every destination"
        );
        assert_eq!(sharing.len(), dests.len());
    }

    let status = load.stop(Stop::CloseStdin);
    assert!(status.success(), "{status}");
}

#[test]
fn sigterm_removes_the_namespace_and_the_workers() {
    let args = [
        "--established",
        "500",
        "--destinations",
        "2",
        "--time-wait",
        "100",
        "--hold",
    ];
    let test = "sigterm_removes_the_namespace_and_the_workers";
    let Some(mut load) = LoadGen::for_test(test, &args) else {
        return;
    };
    assert!(!load.workers().is_empty());
    let status = load.stop(Stop::Signal(libc::SIGTERM));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
}

#[test]
fn refuses_a_table_it_cannot_build() {
    let exe = common::loadgen::executable();
    for (args, says) in [
        (
            &[
                "--established",
                "10",
                "--destinations",
                "1",
                "--shared-ports",
                "2",
            ][..],
            "at least 2 destinations",
        ),
        (
            &["--established", "100000", "--destinations", "2"][..],
            "use --destinations 4 or more",
        ),
    ] {
        let out = Command::new(&exe).args(args).output().expect("run loadgen");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
}
