//! Rates of new connections when connect() takes TIME_WAIT entries over (`tcp_tw_reuse`): the tuple
//! stays, the socket cookie changes. In a private network namespace, real sockets show that a socket
//! moving on to TIME_WAIT is not new, a takeover is, and a paced client's own count of connections
//! matches what portradar reports between two refreshes.

mod common;

use common::{Netns, have_root, serve_until_eof};
use portradar::collect::Families;
use portradar::model::{Destination, Snapshot};
use portradar::refresh::Refresher;
use portradar::socket::{SockRecord, TcpState};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

const DST: &str = "127.0.0.2:5000";

fn refresh(refresher: &mut Refresher) -> Snapshot {
    refresher.refresh().expect("refresh")
}

fn find_destination(snap: &Snapshot) -> Option<&Destination> {
    snap.destinations
        .iter()
        .find(|d| d.remote.to_string() == DST)
}

fn destination(snap: &Snapshot) -> &Destination {
    find_destination(snap).unwrap_or_else(|| {
        panic!(
            "{DST} is a destination: {:?} {:?}",
            snap.destinations, snap.totals
        )
    })
}

/// The client side of the connection from `port` in the last refresh.
fn client_record(refresher: &Refresher, port: u16) -> SockRecord {
    *refresher
        .records()
        .iter()
        .find(|r| r.local.port == port && r.remote.to_string() == DST)
        .unwrap_or_else(|| panic!("a socket from port {port}"))
}

#[test]
fn moving_on_is_not_new_and_a_takeover_is() {
    if !have_root("moving_on_is_not_new_and_a_takeover_is") {
        return;
    }
    let ns = Netns::new("rate-takeover");
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40003");
    ns.sysctl("net.ipv4.tcp_tw_reuse", "1");
    // Kernels before 6.13 wait a fixed second instead.
    if std::path::Path::new("/proc/sys/net/ipv4/tcp_tw_reuse_delay").exists() {
        ns.sysctl("net.ipv4.tcp_tw_reuse_delay", "1");
    }
    ns.run(|| {
        let dst: SocketAddr = DST.parse().unwrap();
        let listener = TcpListener::bind(dst).unwrap();
        let clients: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(dst).unwrap()).collect();
        let servers: Vec<TcpStream> = (0..4).map(|_| listener.accept().unwrap().0).collect();
        let ports: Vec<u16> = clients
            .iter()
            .map(|c| c.local_addr().unwrap().port())
            .collect();
        let mut refresher = Refresher::new(Some(ns.name.clone()), Families::BOTH, None);
        refresh(&mut refresher);
        let cookies: Vec<u64> = ports
            .iter()
            .map(|p| client_record(&refresher, *p).cookie)
            .collect();
        assert!(cookies.iter().all(|c| *c != 0), "netlink gives cookies");

        // Client first: FIN_WAIT, then TIME_WAIT once the servers close too. Every refresh until then
        // sees the same four connections moving on (a dump that races them into TIME_WAIT may catch
        // them in CLOSE, which is no connection).
        drop(clients);
        drop(servers);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let snap = refresh(&mut refresher);
            let d = find_destination(&snap);
            if let Some(d) = d {
                assert_eq!(d.new_since_last, 0, "moving on is not new: {d:?}");
            }
            if d.is_some_and(|d| d.time_wait() == 4) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the clients reach TIME_WAIT: {d:?}"
            );
        }
        for (p, cookie) in ports.iter().zip(&cookies) {
            let r = client_record(&refresher, *p);
            assert_eq!(r.state, TcpState::TimeWait);
            assert_eq!(
                r.cookie, *cookie,
                "the timewait minisocket keeps the cookie"
            );
        }

        // Every port of the range is in TIME_WAIT: the next connect() can only take one over.
        let taken = loop {
            match TcpStream::connect(dst) {
                Ok(c) => break c,
                Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
                    assert!(Instant::now() < deadline, "tcp_tw_reuse lets connect() in");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("connect: {e}"),
            }
        };
        let port = taken.local_addr().unwrap().port();
        let snap = refresh(&mut refresher);
        let d = destination(&snap);
        assert_eq!(
            d.new_since_last, 1,
            "the takeover is one new connection: {d:?}"
        );
        let r = client_record(&refresher, port);
        assert_eq!(r.state, TcpState::Established);
        let before = cookies[ports.iter().position(|p| *p == port).unwrap()];
        assert_ne!(r.cookie, before, "the new socket has a cookie of its own");
        assert_eq!(
            snap.allocations.recent,
            vec![port],
            "the pointer model is fed"
        );
    });
}

/// The client sides toward [`DST`] in the last refresh.
fn client_records(refresher: &Refresher) -> Vec<SockRecord> {
    let dst: SocketAddr = DST.parse().unwrap();
    refresher
        .records()
        .iter()
        .filter(|r| r.remote.ip == dst.ip() && r.remote.port == dst.port())
        .copied()
        .collect()
}

/// Opens and closes (client first) one connection every `1 / rate` seconds until `stop`; returns
/// when each connect() succeeded.
fn paced_client(rate: f64, stop: &AtomicBool) -> Vec<SystemTime> {
    let dst: SocketAddr = DST.parse().unwrap();
    let start = Instant::now();
    let mut made = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let due = start + Duration::from_secs_f64(made.len() as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let c = TcpStream::connect(dst).unwrap_or_else(|e| panic!("connect #{}: {e}", made.len()));
        made.push(SystemTime::now());
        drop(c);
    }
    made
}

/// Connections the client made in `(from, to]`.
fn made_between(made: &[SystemTime], from: SystemTime, to: SystemTime) -> u32 {
    made.iter().filter(|t| **t > from && **t <= to).count() as u32
}

#[test]
fn takeovers_count_at_the_clients_rate() {
    if !have_root("takeovers_count_at_the_clients_rate") {
        return;
    }
    let ns = Netns::new("rate-paced");
    // 300 ports, reusable after a second (the default tcp_tw_reuse_delay): 200 connections per
    // second recycle every port every 1.5 s, mostly by taking its TIME_WAIT entry over. A window
    // shorter than the reuse delay sees every tuple reused at most once.
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40299");
    ns.sysctl("net.ipv4.tcp_tw_reuse", "2");
    let window = Duration::from_millis(400);
    let (snaps, made) = ns.run(|| {
        let listener = TcpListener::bind(DST).unwrap();
        let stop = AtomicBool::new(false);
        let result = Mutex::new(None);
        std::thread::scope(|s| {
            s.spawn(|| serve_until_eof(&listener, &stop));
            let client = s.spawn(|| paced_client(200.0, &stop));
            let mut refresher = Refresher::new(Some(ns.name.clone()), Families::BOTH, None);
            // Until every port of the range has been used once, then over ten windows.
            let warm = Instant::now() + Duration::from_millis(2500);
            while Instant::now() < warm {
                std::thread::sleep(window);
                refresh(&mut refresher);
            }
            let snaps: Vec<(Snapshot, Vec<SockRecord>)> = (0..=10)
                .map(|i| {
                    if i > 0 {
                        std::thread::sleep(window);
                    }
                    let snap = refresh(&mut refresher);
                    (snap, client_records(&refresher))
                })
                .collect();
            stop.store(true, Ordering::Relaxed);
            *result.lock().unwrap() = Some((snaps, client.join().unwrap()));
        });
        result.into_inner().unwrap().unwrap()
    });
    let mut reported = 0;
    let mut takeovers = 0;
    for pair in snaps.windows(2) {
        let ((before, old), (after, new)) = (&pair[0], &pair[1]);
        let (from, to) = (before.meta.taken_at, after.meta.taken_at);
        let own = made_between(&made, from, to);
        let seen = destination(after).new_since_last;
        assert!(
            seen.abs_diff(own) * 10 <= own,
            "between two refreshes the client made {own} connections, portradar saw {seen}"
        );
        reported += seen;
        takeovers += new
            .iter()
            .filter(|r| {
                old.iter()
                    .any(|o| o.local == r.local && o.cookie != r.cookie)
            })
            .count() as u32;
    }
    let (from, to) = (snaps[0].0.meta.taken_at, snaps[10].0.meta.taken_at);
    let own = made_between(&made, from, to);
    assert!(
        takeovers * 2 >= own,
        "most connections take a TIME_WAIT tuple over: {takeovers} of {own}"
    );
    assert!(
        reported.abs_diff(own) * 20 <= own,
        "over ten refreshes the client made {own} connections, portradar saw {reported}"
    );
    let client_rate = f64::from(own) / to.duration_since(from).unwrap().as_secs_f64();
    let rate = destination(&snaps[10].0).new_per_s.expect("a rate");
    assert!(
        (rate - client_rate).abs() <= 0.1 * client_rate,
        "portradar reports {rate:.1}/s, the client made {client_rate:.1}/s"
    );
}
