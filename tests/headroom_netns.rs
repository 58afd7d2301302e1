//! Headroom truth: in a private network namespace with a tiny port range, the headroom portradar
//! reports for (local ip, destination) must equal the number of further connect() calls that the
//! kernel lets succeed, through a reserved port, a listener inside the range, a second destination
//! and TIME_WAIT with `tcp_tw_reuse` 0 and 1.

mod common;

use common::netns::Netns;
use common::portradar_json;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const LOW: u16 = 40000;
const HIGH: u16 = 40011;
const RESERVED: u16 = 40005;

/// The `free` and `reusable_time_wait` portradar reports for 127.0.0.1 toward `dst`.
fn headroom(ns: &Netns, dst: SocketAddr) -> Option<(u64, u64)> {
    let doc = portradar_json(&["snapshot", "--netns", &ns.name, "--format", "json"]);
    let dest = doc["destinations"]
        .as_array()?
        .iter()
        .find(|d| d["remote"] == dst.to_string().as_str())?;
    let h = dest["headroom"]
        .as_array()?
        .iter()
        .find(|h| h["local_ip"] == "127.0.0.1")?;
    Some((h["free"].as_u64()?, h["reusable_time_wait"].as_u64()?))
}

/// Connects to `dst` and accepts the server side; `None` once connect() fails with EADDRNOTAVAIL.
fn connect(l: &TcpListener, dst: SocketAddr) -> Option<(TcpStream, TcpStream)> {
    match TcpStream::connect(dst) {
        Ok(c) => Some((c, l.accept().expect("accept").0)),
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => None,
        Err(e) => panic!("connect to {dst}: {e}"),
    }
}

/// Closes a connection client-first so the client end enters TIME_WAIT.
fn into_time_wait((client, mut server): (TcpStream, TcpStream)) {
    drop(client);
    let mut buf = [0u8; 1];
    assert_eq!(server.read(&mut buf).expect("read EOF"), 0);
}

#[test]
fn headroom_equals_further_successful_connects() {
    let Some(ns) = Netns::for_test("headroom_equals_further_successful_connects") else {
        return;
    };
    ns.ports(LOW, HIGH, 0);
    ns.sysctl("net.ipv4.ip_local_reserved_ports", &RESERVED.to_string());
    ns.run(|| {
        let (d1, d2): (SocketAddr, SocketAddr) = (
            "127.0.0.2:5000".parse().unwrap(),
            "127.0.0.3:5000".parse().unwrap(),
        );
        let (l1, l2) = (
            TcpListener::bind(d1).unwrap(),
            TcpListener::bind(d2).unwrap(),
        );
        let mut conns = vec![connect(&l1, d1).unwrap()];
        let other = connect(&l2, d2).unwrap();

        // A listener inside the range lowers every destination's headroom by one.
        let (before1, before2) = (headroom(&ns, d1).unwrap().0, headroom(&ns, d2).unwrap().0);
        let used = [
            conns[0].0.local_addr().unwrap().port(),
            other.0.local_addr().unwrap().port(),
        ];
        let free_port = (LOW..=HIGH)
            .find(|p| *p != RESERVED && !used.contains(p))
            .unwrap();
        let _in_range = TcpListener::bind(("127.0.0.9", free_port)).unwrap();
        assert_eq!(
            headroom(&ns, d1).unwrap().0,
            before1 - 1,
            "listener on {free_port}"
        );
        assert_eq!(headroom(&ns, d2).unwrap().0, before2 - 1);
        // 12 ports − 1 reserved − 1 listener − 1 taken by this pair.
        assert_eq!(before1 - 1, u64::from(HIGH - LOW + 1) - 3);

        // Fill toward d1, recording the reported headroom before every connect().
        let mut reported = Vec::new();
        loop {
            reported.push(headroom(&ns, d1).unwrap().0);
            match connect(&l1, d1) {
                Some(c) => conns.push(c),
                None => break,
            }
        }
        let successes = reported.len() as u64 - 1;
        let expected: Vec<u64> = (0..=successes).rev().collect();
        assert_eq!(
            reported, expected,
            "headroom before each connect() vs what succeeded"
        );

        // The second destination is untouched by the first one's exhaustion.
        assert_eq!(headroom(&ns, d2).unwrap().0, before2 - 1);
        let extra = connect(&l2, d2).expect("d2 still has ports");

        // TIME_WAIT holds the 4-tuple: with tcp_tw_reuse=0 it stays taken.
        for c in conns.drain(..3) {
            into_time_wait(c);
        }
        assert_eq!(headroom(&ns, d1).unwrap(), (0, 0));
        assert!(
            connect(&l1, d1).is_none(),
            "TIME_WAIT ports are not reused with tcp_tw_reuse=0"
        );

        // With tcp_tw_reuse=1, entries older than a second become reusable and connect() takes them.
        ns.sysctl("net.ipv4.tcp_tw_reuse", "1");
        let deadline = Instant::now() + Duration::from_secs(10);
        let reusable = loop {
            let (free, reusable) = headroom(&ns, d1).unwrap();
            assert_eq!(free, 0);
            if reusable == 3 || Instant::now() > deadline {
                break reusable;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(reusable, 3, "all three TIME_WAIT entries reported reusable");
        let mut reused = Vec::new();
        while let Some(c) = connect(&l1, d1) {
            reused.push(c);
        }
        assert_eq!(
            reused.len(),
            3,
            "connect() reused exactly the reported TIME_WAIT entries"
        );
        drop((conns, other, extra, reused));
    });
}
