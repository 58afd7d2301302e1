//! The socket table maintained from allocator events between full dumps. Root only (BPF and
//! namespaces).
//!
//! First what the maintained table relies on, seen on the running kernel: every state change of a
//! listener and of a connection's two ends makes a record, TIME_WAIT excepted (the client's end
//! shows FIN_WAIT2→CLOSE when it enters it).
//!
//! Then, on a quiet namespace, a resync after a listener, two connections and a closed one were made
//! finds the table kept from their changes equal to the dump, TIME_WAIT included.
//!
//! Then the table under churn, at about 100,000 sockets (the load generator's) while a client in the same
//! namespace connects and closes about a thousand times a second: at each resync the maintained
//! table is compared with a fresh dump, and the count of sockets present on one side only or in
//! another state must stay within what the dump's non-atomicity explains. A dump walks the kernel's
//! hash tables for about 100 ms here, and a socket that changes meanwhile is seen before or after
//! its change depending on whether the walk had passed its bucket, so each change stamped between the
//! last change applied to the maintained table and the dump's end may make one difference. TIME_WAIT
//! ends have no event and the kernel's timer fires up to a timer-wheel granularity late, so a
//! TIME_WAIT ending within that slack of the dump may differ too; and sockets that never make an
//! event (BOUND_INACTIVE, NEW_SYN_RECV, a closed socket waiting for its peer's FIN, a TIME_WAIT the
//! kernel ended early, the odd FIN_WAIT1 socket the kernel takes into TIME_WAIT without running the
//! tracepoint) differ until the dump shows them.
//! `Resync::explained` counts exactly these, and one more for each record lost since the last
//! resync (the kernel skips the program when a state change interrupts it on the same CPU); the test
//! asserts the differences stay within it, that several resyncs ran under churn, that the ring
//! buffer never overflowed (a handful of skipped records at most), and that once the churn stops a
//! resync with nothing to explain finds no difference at all.
//!
//! The tests run one at a time: each loads its own program, which sees every namespace's changes,
//! and the load generator's burst of 40,000 connections would overflow another test's ring buffer.

mod common;

use common::loadgen::{LoadGen, Stop, TABLE_100K};
use common::{Netns, have_root, serve_until_eof, ss_in};
use portradar::collect::Families;
use portradar::collect::netns::{NetnsSpec, enter};
use portradar::events::{EventSource, boottime_ns};
use portradar::filter::Filter;
use portradar::model::ResyncFound;
use portradar::refresh::feed::lock;
use portradar::refresh::{EventFeed, Refresher};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Held by each test for its whole run (see the module's documentation).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kernel state numbers.
const ESTABLISHED: u8 = 1;
const SYN_SENT: u8 = 2;
const SYN_RECV: u8 = 3;
const FIN_WAIT1: u8 = 4;
const FIN_WAIT2: u8 = 5;
const CLOSE: u8 = 7;
const CLOSE_WAIT: u8 = 8;
const LAST_ACK: u8 = 9;
const LISTEN: u8 = 10;

#[test]
fn every_change_of_a_listener_and_a_connections_two_ends_is_traced() {
    let _alone = one_at_a_time();
    let Some(ns) = Netns::for_test("evmlife") else {
        return;
    };
    ns.run(|| {
        let netns = std::fs::metadata("/proc/thread-self/ns/net")
            .expect("netns inode")
            .ino() as u32;
        let mut source = EventSource::attach().expect("events load as root");
        let listener = TcpListener::bind("127.0.0.1:50010").expect("listen");
        let mut client = TcpStream::connect("127.0.0.1:50010").expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        client.write_all(b"x").expect("write");
        drop(client);
        // Read to the client's FIN: closing with unread data would reset the connection.
        server.read_to_end(&mut Vec::new()).expect("read");
        drop(server);
        drop(listener);
        // Each socket's changes by cookie, in order, until both ends and the listener closed.
        let mut by_cookie: BTreeMap<u64, Vec<(u8, u8)>> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        let closed = |m: &BTreeMap<u64, Vec<(u8, u8)>>| {
            m.values()
                .filter(|v| v.last().is_some_and(|c| c.1 == CLOSE))
                .count()
        };
        while closed(&by_cookie) < 3 {
            assert!(Instant::now() < deadline, "changes so far: {by_cookie:?}");
            source
                .wait(None, Some(Duration::from_millis(100)))
                .expect("wait");
            source.read(|t, _| {
                if t.netns == netns {
                    by_cookie
                        .entry(t.cookie)
                        .or_default()
                        .push((t.old_state, t.new_state));
                }
            });
        }
        let mut lives: Vec<Vec<(u8, u8)>> = by_cookie.into_values().collect();
        lives.sort();
        assert_eq!(
            lives,
            [
                // The client closes first and goes to TIME_WAIT (FIN_WAIT2→CLOSE).
                vec![
                    (CLOSE, SYN_SENT),
                    (SYN_SENT, ESTABLISHED),
                    (ESTABLISHED, FIN_WAIT1),
                    (FIN_WAIT1, FIN_WAIT2),
                    (FIN_WAIT2, CLOSE)
                ],
                // The listener: listen() and close().
                vec![(CLOSE, LISTEN), (LISTEN, CLOSE)],
                // The accepted end, born in SYN_RECV as a clone of the listener.
                vec![
                    (LISTEN, SYN_RECV),
                    (SYN_RECV, ESTABLISHED),
                    (ESTABLISHED, CLOSE_WAIT),
                    (CLOSE_WAIT, LAST_ACK),
                    (LAST_ACK, CLOSE)
                ],
            ]
        );
    });
}

#[test]
fn on_a_quiet_table_a_resync_finds_that_the_changes_made_it_exactly() {
    let _alone = one_at_a_time();
    let Some(ns) = Netns::for_test("evmquiet") else {
        return;
    };
    ns.run(|| {
        let plain = Refresher::new(None, Families::BOTH, None);
        assert_eq!(plain.resyncs(), None, "without events: dumps as before");
        let feed = EventFeed::start().expect("events load as root");
        let mut refresher = Refresher::new(None, Families::BOTH, None).with_events(feed.ledger());
        // Resync at every refresh (a dump here walks the host's shared table: never cheap enough
        // to count on).
        refresher.set_resync_period(Duration::ZERO);
        refresher.refresh().expect("first refresh");
        assert_eq!(
            refresher.resyncs(),
            Some((1, None)),
            "nothing to compare yet"
        );
        // After the first dump: a listener, two connections held open, one closed by the client.
        let listener = TcpListener::bind("127.0.0.1:50030").expect("listen");
        let held: Vec<_> = (0..2)
            .map(|_| {
                let c = TcpStream::connect("127.0.0.1:50030").expect("connect");
                (c, listener.accept().expect("accept").0)
            })
            .collect();
        let client = TcpStream::connect("127.0.0.1:50030").expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        drop(client);
        server.read_to_end(&mut Vec::new()).expect("read");
        drop(server);
        // The closing handshake ends in softirq context: wait for its last state.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(ss_in(&ns.name, "", &["state", "time-wait"]).len() == 1
            && ss_in(&ns.name, "", &["state", "last-ack"]).is_empty())
        {
            assert!(
                Instant::now() < deadline,
                "the client's end reaches TIME_WAIT"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Every change made so far is queued once the event thread has read past now.
        let made = boottime_ns();
        while lock(&feed.ledger()).changes().caught_up() <= made {
            assert!(Instant::now() < deadline, "the event thread reads");
            std::thread::sleep(Duration::from_millis(10));
        }
        let snapshot = refresher.refresh().expect("second refresh");
        let (resyncs, last) = refresher.resyncs().unwrap();
        assert_eq!(resyncs, 2);
        let r = last.expect("compared");
        assert_eq!((r.diff.total(), r.explained), (0, 0), "{r:?}");
        let by_state: BTreeMap<String, u32> = snapshot
            .totals
            .nonzero()
            .map(|(state, n)| (state.short_name().to_string(), n))
            .collect();
        assert_eq!(
            by_state,
            BTreeMap::from([
                ("ESTAB".to_string(), 4),
                ("LISTEN".to_string(), 1),
                ("TIME-WAIT".to_string(), 1)
            ])
        );
        let found = ResyncFound {
            differences: 0,
            explainable: 0,
        };
        assert_eq!(lock(&feed.ledger()).resync(), Some(found));
        let events = snapshot.events.as_ref().expect("events in the snapshot");
        assert_eq!(events.resync, Some(found), "and in its JSON");
        // A filtered table is dumped, not kept: the last comparison no longer describes it.
        refresher.set_filter(Some(Filter::parse("dport = 50030").expect("a filter")));
        let filtered = refresher.refresh().expect("filtered refresh");
        let events = filtered.events.as_ref().expect("events in the snapshot");
        assert_eq!(events.resync, None);
        assert_eq!(lock(&feed.ledger()).resync(), None);
        drop(held);
    });
}

/// Records the kernel may skip: it does not run the program again on a CPU where it is running, so
/// a state change in a softirq that interrupts it makes no record (counted as lost; a few in a run
/// here). An overflowing ring buffer would lose thousands.
const MAX_SKIPPED: u64 = 50;

/// The churn's server: an address of lo the load generator leaves alone.
const SERVER: &str = "127.0.2.1:80";
/// How long the client churns while resyncs are compared.
const CHURN: Duration = Duration::from_secs(12);
/// How often the test refreshes (as `snapshot --watch 250` would).
const EVERY: Duration = Duration::from_millis(250);
/// The resync period asked for.
const PERIOD: Duration = Duration::from_secs(2);
/// The load generator's TIME_WAIT sockets, made just before READY, start to end 60 s after: the
/// quiet check must come before that.
const QUIET_BEFORE: Duration = Duration::from_secs(55);

#[test]
fn the_maintained_table_equals_a_fresh_dump_at_each_resync_under_churn_at_100k() {
    let _alone = one_at_a_time();
    let test = "the_maintained_table_equals_a_fresh_dump_at_each_resync_under_churn_at_100k";
    if !have_root(test) {
        return;
    }
    let Some(mut load) = LoadGen::for_test(test, &TABLE_100K) else {
        return;
    };
    let ready_at = Instant::now();
    let ready = load.ready.clone();
    assert!(ready.sockets >= 100_000, "{ready:?}");
    let spec = NetnsSpec::Name(ready.netns.clone());
    let stop = AtomicBool::new(false);
    let churned = AtomicBool::new(false);
    let connections = AtomicU64::new(0);
    let in_netns = || enter(&spec).expect("enter the load generator's namespace");
    let listener = std::thread::scope(|s| {
        s.spawn(|| {
            in_netns();
            let listener = TcpListener::bind(SERVER).expect("listen");
            // A longer accept queue than std's 128: an overflowing queue drops handshakes, and the
            // retransmissions that follow end some TIME_WAIT sockets early, without an event.
            // SAFETY: listen() on a descriptor the listener owns.
            let rc = unsafe { libc::listen(listener.as_raw_fd(), 4096) };
            assert_eq!(rc, 0, "listen backlog");
            listener
        })
        .join()
        .unwrap()
    });
    std::thread::scope(|s| {
        s.spawn(|| serve_until_eof(&listener, &stop));
        let churn = s.spawn(|| {
            in_netns();
            while !stop.load(Ordering::Relaxed) {
                drop(TcpStream::connect(SERVER).expect("connect"));
                connections.fetch_add(1, Ordering::Relaxed);
                // About a thousand connections a second.
                std::thread::sleep(Duration::from_micros(700));
            }
            churned.store(true, Ordering::Relaxed);
        });
        let checker = s.spawn(|| {
            in_netns();
            let feed = EventFeed::start().expect("events load as root");
            let mut refresher = Refresher::new(Some(ready.netns.clone()), Families::BOTH, None)
                .with_events(feed.ledger());
            refresher.set_resync_period(PERIOD);
            let mut seen = 0;
            let mut compared = Vec::new();
            let mut steady = Vec::new();
            let began = Instant::now();
            // Once the churn is over: the first resync with nothing in its window to explain.
            let mut settled = false;
            let quiet = loop {
                let t = Instant::now();
                let after_churn = settled;
                let snapshot = refresher.refresh().expect("refresh");
                let took = t.elapsed();
                let (resyncs, last) = refresher.resyncs().expect("events are on");
                if resyncs == seen {
                    steady.push(took);
                } else if let Some(r) = last {
                    seen = resyncs;
                    eprintln!(
                        "resync {resyncs}: {:?}, explained {}, {} sockets, took {took:?}",
                        r.diff,
                        r.explained,
                        snapshot.totals.total()
                    );
                    assert!(
                        r.diff.total() <= r.explained,
                        "resync {resyncs}: {r:?} is more than the dump's window explains"
                    );
                    if after_churn && r.explained == 0 {
                        break r;
                    }
                    if !settled {
                        compared.push(r);
                    }
                }
                let lost = lock(&feed.ledger()).lost();
                assert!(
                    lost <= MAX_SKIPPED,
                    "{lost} records lost: the ring buffer overflowed"
                );
                if began.elapsed() >= CHURN {
                    stop.store(true, Ordering::Relaxed);
                }
                settled |= churned.load(Ordering::Relaxed);
                assert!(
                    ready_at.elapsed() < QUIET_BEFORE,
                    "no quiet resync before the load generator's TIME_WAIT sockets may end"
                );
                std::thread::sleep(EVERY.saturating_sub(t.elapsed()));
            };
            steady.sort();
            eprintln!(
                "maintained refreshes: {}, median {:?}, max {:?}",
                steady.len(),
                steady[steady.len() / 2],
                steady.last().unwrap()
            );
            (compared, quiet)
        });
        let (compared, quiet) = checker.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
        let made = connections.load(Ordering::Relaxed);
        eprintln!("{made} connections churned");
        assert!(
            compared.len() >= 4,
            "several resyncs under churn: {compared:?}"
        );
        assert!(
            compared.iter().any(|r| r.explained > 0),
            "the churn made changes inside some dump's window: {compared:?}"
        );
        assert_eq!(quiet.diff.total(), 0, "a quiet table: {quiet:?}");
    });
    load.stop(Stop::CloseStdin);
}
