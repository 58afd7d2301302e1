//! `portradar snapshot --format json --sockets` against `ss -tanoe` on a loopback workload of this
//! test's own: listeners on several 127.0.0.0/8 addresses, connections in several states, one local
//! port shared by three destinations, and an IPv6 connection.

mod common;

use common::portradar_json;
use common::ss::{SsSocket, SsTimer, ss, timer_name};
use portradar::socket::{Endpoint, TcpState};
use socket2::{Domain, Socket, Type};
use std::collections::BTreeSet;
use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Sockets held open for the duration of the test.
struct Workload {
    _keep: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
    ports: BTreeSet<u16>,
    shared: SocketAddr,
    shared_remotes: Vec<SocketAddr>,
}

fn listen(addr: &str) -> TcpListener {
    TcpListener::bind(addr).expect("listen")
}

fn connect_pair(l: &TcpListener) -> (TcpStream, TcpStream) {
    let c = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

fn build() -> Workload {
    let listeners: Vec<TcpListener> = ["127.0.5.1:0", "127.0.5.2:0", "127.0.5.3:0", "[::1]:0"]
        .map(listen)
        .into();
    let mut keep = Vec::new();
    // ESTABLISHED on both ends, IPv4 and IPv6.
    for l in [&listeners[0], &listeners[3]] {
        let (c, s) = connect_pair(l);
        keep.extend([c, s]);
    }
    // Client TIME_WAIT: the client closes first, the server follows.
    let (c, mut s) = connect_pair(&listeners[1]);
    let client = c.local_addr().unwrap();
    drop(c);
    let mut buf = [0u8; 1];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "server sees EOF");
    drop(s);
    wait_for_state(client, TcpState::TimeWait);
    // Server FIN_WAIT2 / client CLOSE_WAIT: the server shuts down its side, the client does not.
    let (mut c, s) = connect_pair(&listeners[2]);
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.read(&mut buf).unwrap(), 0, "client sees the server's FIN");
    wait_for_state(s.local_addr().unwrap(), TcpState::FinWait2);
    keep.extend([c, s]);
    // One local port, bound with SO_REUSEADDR, connected to three destinations.
    let mut shared: Option<SocketAddr> = None;
    let mut shared_remotes = Vec::new();
    for l in &listeners[..3] {
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        sock.set_reuse_address(true).unwrap();
        let bind: SocketAddr = shared.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        sock.bind(&bind.into()).expect("bind the shared port");
        sock.connect(&l.local_addr().unwrap().into())
            .expect("connect from the shared port");
        shared = Some(sock.local_addr().unwrap().as_socket().unwrap());
        shared_remotes.push(l.local_addr().unwrap());
        keep.push(sock.into());
        keep.push(l.accept().unwrap().0);
    }
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    Workload {
        _keep: keep,
        _listeners: listeners,
        ports,
        shared: shared.unwrap(),
        shared_remotes,
    }
}

/// Waits until the kernel has moved the socket bound to `local` into `state` (a closing handshake
/// completes asynchronously, even on loopback).
fn wait_for_state(local: SocketAddr, state: TcpState) {
    let filter = format!("sport = :{}", local.port());
    let deadline = Instant::now() + Duration::from_secs(5);
    // (ss drops its State column under a `state` filter, so filter by port only.)
    while !ss("", &[&filter])
        .iter()
        .any(|s| s.local == endpoint(local) && s.state == state)
    {
        assert!(Instant::now() < deadline, "{local} never reached {state}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::new(addr.ip(), addr.port())
}

/// The sockets that touch one of `ports`, from portradar's JSON, as ss's are read.
fn portradar_sockets(doc: &serde_json::Value, ports: &BTreeSet<u16>) -> Vec<SsSocket> {
    let text = |v: &serde_json::Value| v.as_str().expect("a string").to_string();
    let mut out: Vec<SsSocket> = doc["sockets"]
        .as_array()
        .expect("--sockets lists sockets")
        .iter()
        .map(|s| SsSocket {
            state: TcpState::parse(&text(&s["state"])).expect("a state name"),
            local: text(&s["local"]).parse().expect("local endpoint"),
            remote: text(&s["remote"]).parse().expect("remote endpoint"),
            timer: Some(SsTimer {
                name: timer_name(&text(&s["timer"])).expect("a timer name"),
                ms: s["expires_ms"].as_u64().unwrap(),
            }),
            inode: s["inode"].as_u64().map(|i| i as u32),
            uid: s["uid"].as_u64().map(|u| u as u32),
            cookie: s["cookie"].as_u64(),
        })
        .filter(|s| touches(s, ports))
        .collect();
    out.sort();
    out
}

fn touches(s: &SsSocket, ports: &BTreeSet<u16>) -> bool {
    ports.contains(&s.local.port) || ports.contains(&s.remote.port)
}

fn tuple(s: &SsSocket) -> (Endpoint, Endpoint, TcpState) {
    (s.local, s.remote, s.state)
}

#[test]
fn snapshot_matches_ss_socket_for_socket() {
    let w = build();
    let doc = portradar_json(&["snapshot", "--format", "json", "--sockets"]);
    let mut theirs: Vec<SsSocket> = ss("oe", &[])
        .into_iter()
        .filter(|s| touches(s, &w.ports))
        .collect();
    theirs.sort();
    let ours = portradar_sockets(&doc, &w.ports);

    let ours_tuples: Vec<_> = ours.iter().map(tuple).collect();
    let theirs_tuples: Vec<_> = theirs.iter().map(tuple).collect();
    assert_eq!(ours_tuples, theirs_tuples, "same 4-tuples and states as ss");

    for state in [
        TcpState::Established,
        TcpState::TimeWait,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::Listen,
    ] {
        assert!(
            ours.iter().any(|s| s.state == state),
            "the workload has a {state} socket"
        );
    }
    assert!(
        ours.iter()
            .any(|s| s.local.ip == std::net::Ipv6Addr::LOCALHOST),
        "the IPv6 connection is there"
    );

    for (o, t) in ours.iter().zip(&theirs) {
        if t.state != TcpState::TimeWait {
            assert_eq!(o.inode, t.inode, "inode of {o:?}");
            continue;
        }
        let theirs = t.timer.expect("ss -o prints the TIME_WAIT timer");
        let (name, ss_ms) = (theirs.name, theirs.ms);
        let ours = o.timer.unwrap();
        let (our_name, our_ms) = (ours.name, ours.ms);
        assert_eq!((our_name, name), ("timewait", "timewait"));
        assert!(
            our_ms.abs_diff(ss_ms) <= 1000,
            "TIME_WAIT remaining {our_ms} ms vs ss {ss_ms} ms"
        );
    }

    let shared = w.shared.to_string();
    let groups = doc["reused_ports"].as_array().unwrap();
    let group = groups
        .iter()
        .find(|g| g["local"] == shared.as_str())
        .unwrap_or_else(|| panic!("{shared} is in reused_ports: {groups:?}"));
    let mut remotes: Vec<String> = group["tuples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["remote"].as_str().unwrap().to_string())
        .collect();
    remotes.sort();
    let mut expected: Vec<String> = w.shared_remotes.iter().map(|a| a.to_string()).collect();
    expected.sort();
    assert_eq!(remotes, expected, "exactly the shared port's three tuples");
    assert_eq!(group["remotes"], 3);
}
