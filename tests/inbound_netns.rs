//! A server's TIME_WAIT entries are inbound, listener or not. In a private network namespace, a
//! listener closes each connection before its peer (so the server side keeps TIME_WAIT), then closes
//! itself: its entries are counted under its service, never as destinations, in the refreshes that
//! saw the listener and after it, and in a one-shot snapshot where it is already gone (its port lies
//! outside the ephemeral range, its peers' inside).

mod common;

use common::{Netns, have_root, portradar_json};
use portradar::collect::Families;
use portradar::model::Snapshot;
use portradar::refresh::Refresher;
use portradar::socket::TcpState;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const PEERS: u32 = 20;

/// Serves `PEERS` connections on `listener`, closing each before its client, and lets the clients
/// close too.
fn server_closes_first(listener: &TcpListener) {
    let at = listener.local_addr().unwrap();
    let clients: Vec<TcpStream> = (0..PEERS)
        .map(|_| TcpStream::connect(at).unwrap())
        .collect();
    let servers: Vec<TcpStream> = (0..PEERS).map(|_| listener.accept().unwrap().0).collect();
    drop(servers);
    for mut c in clients {
        // The server's FIN arrives as end of stream; closing then ends the server side in
        // TIME_WAIT.
        assert_eq!(c.read(&mut [0u8; 1]).unwrap(), 0);
    }
}

/// Runs a listener at `local` that closes after its peers, and refreshes until its TIME_WAIT entries
/// are all there, then once more after the listener closed; returns that last snapshot.
fn listener_closes(refresher: &mut Refresher, local: &str) -> Snapshot {
    let listener = TcpListener::bind(local.parse::<SocketAddr>().unwrap()).unwrap();
    server_closes_first(&listener);
    let snap = refresh_until_time_wait(refresher, local);
    assert!(snap.destinations.is_empty(), "{:?}", snap.destinations);
    drop(listener);
    let snap = refresher.refresh().expect("refresh");
    assert_eq!(snap.totals.get(TcpState::Listen), 0, "{:?}", snap.totals);
    snap
}

/// Refreshes until the service at `local` holds `PEERS` TIME_WAIT entries.
fn refresh_until_time_wait(refresher: &mut Refresher, local: &str) -> Snapshot {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let snap = refresher.refresh().expect("refresh");
        let tw = service_time_wait(&snap, local);
        if tw == PEERS {
            return snap;
        }
        assert!(
            Instant::now() < deadline,
            "{local} reaches {PEERS} TIME_WAIT entries, has {tw}: {:?} {:?}",
            snap.services,
            snap.destinations
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn service_time_wait(snap: &Snapshot, local: &str) -> u32 {
    snap.services
        .iter()
        .find(|s| s.local.to_string() == local)
        .map_or(0, |s| s.by_state.get(TcpState::TimeWait))
}

#[test]
fn a_closed_listeners_time_wait_stays_inbound() {
    if !have_root("a_closed_listeners_time_wait_stays_inbound") {
        return;
    }
    let ns = Netns::new("inbound-tw");
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40199");
    // One listener outside the range (5000), one inside it (40100): only the memory of the listener
    // tells the second one's server side from a client's.
    let outside = "127.0.0.1:5000";
    let inside = "127.0.0.1:40100";
    ns.run(|| {
        let mut refresher = Refresher::new(Some(ns.name.clone()), Families::BOTH, None);
        let snap = listener_closes(&mut refresher, outside);
        assert_eq!(
            service_time_wait(&snap, outside),
            PEERS,
            "{:?}",
            snap.services
        );
        assert!(snap.destinations.is_empty(), "{:?}", snap.destinations);

        // A one-shot snapshot never saw the listener: the range tells.
        let doc = portradar_json(&["snapshot", "--netns", &ns.name, "--format", "json"]);
        let service = doc["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["local"] == outside)
            .unwrap_or_else(|| panic!("{outside} is a service: {}", doc["services"]));
        assert_eq!(service["by_state"]["TIME_WAIT"], PEERS, "{service}");
        assert_eq!(doc["destinations"], serde_json::json!([]));

        // Inside the range, the refreshes remember the listener.
        let snap = listener_closes(&mut refresher, inside);
        for local in [outside, inside] {
            assert_eq!(
                service_time_wait(&snap, local),
                PEERS,
                "{:?}",
                snap.services
            );
        }
        assert!(snap.destinations.is_empty(), "{:?}", snap.destinations);
    });
}
