//! Faults while running: 100,000 sockets vanish between two refreshes. A refresher in the load
//! generator's namespace (examples/loadgen, 50,000 loopback connections: 100,000 ESTABLISHED
//! sockets) sees the table, the load generator is killed (its workers die, closing every connection,
//! and it deletes the namespace, which the refresher's thread keeps alive), and the refreshes that
//! follow succeed, warn that the namespace was deleted, and count: the one taken while the connections close, and the next ones, whose totals drop
//! to what `ss` shows in the same namespace.

mod common;

use common::loadgen::{LoadGen, Stop};
use portradar::collect::Families;
use portradar::model::Snapshot;
use portradar::refresh::Refresher;
use portradar::socket::TcpState;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `ss -Htan` in the calling thread's network namespace: (TIME_WAIT sockets, all others).
fn ss_counts() -> (u64, u64) {
    let out = Command::new("ss").arg("-Htan").output().expect("run ss");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut counts = (0, 0);
    for line in text.lines() {
        if line.starts_with("TIME-WAIT") {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }
    counts
}

fn others(snap: &Snapshot) -> u64 {
    snap.totals.total() - u64::from(snap.totals.get(TcpState::TimeWait))
}

#[test]
fn totals_drop_to_what_ss_shows_when_100k_sockets_vanish() {
    let test = "totals_drop_to_what_ss_shows_when_100k_sockets_vanish";
    let args = ["--established", "50000", "--destinations", "3"];
    let Some(mut load) = LoadGen::for_test(test, &args) else {
        return;
    };
    let name = load.ready.netns.clone();
    let netns = std::fs::File::open(format!("/run/netns/{name}")).expect("open the namespace");
    let (stopped_tx, stopped_rx) = mpsc::channel::<()>();
    let (seen_tx, seen_rx) = mpsc::channel::<u64>();
    std::thread::scope(|s| {
        let refresher = s.spawn(move || {
            // SAFETY: setns on a valid namespace descriptor affects only this thread.
            let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let mut r = Refresher::new(Some(name), Families::BOTH, None);
            let before = r.refresh().expect("refresh of the full table");
            seen_tx.send(before.totals.total()).unwrap();
            stopped_rx.recv().unwrap();
            // At once, while the connections close: it must succeed.
            let during = r.refresh().expect("refresh while the sockets vanish");
            // The load generator deleted the namespace's name too: the one warning.
            let w = &during.meta.warnings;
            assert!(w.len() == 1 && w[0].contains("was deleted"), "{w:?}");
            // Until every closing socket has settled (TIME_WAIT or gone); bounded.
            let started = Instant::now();
            loop {
                let snap = r.refresh().expect("refresh after the sockets vanished");
                if others(&snap) == 0 {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "sockets still closing: {:?}",
                    snap.totals
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            // TIME_WAIT only drains now: ours lies between ss before and ss after.
            let (tw_before, others_before) = ss_counts();
            let snap = r.refresh().expect("refresh");
            let (tw_after, others_after) = ss_counts();
            assert_eq!((others_before, others(&snap), others_after), (0, 0, 0));
            let tw = u64::from(snap.totals.get(TcpState::TimeWait));
            assert!(
                tw_after <= tw && tw <= tw_before,
                "TIME_WAIT: ss {tw_before} then {tw_after}, portradar {tw}"
            );
        });
        let before = seen_rx.recv().expect("the first refresh");
        assert!(before >= 100_000, "{before} sockets before");
        load.stop(Stop::Signal(libc::SIGTERM));
        stopped_tx.send(()).unwrap();
        refresher.join().expect("the refresher's checks");
    });
}
