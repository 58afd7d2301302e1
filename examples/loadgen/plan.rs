//! What the load generator builds, decided before anything is opened: which destination every
//! connection and TIME_WAIT socket goes to, the shared local ports, and how the established
//! connections are split over worker processes under the per-process descriptor cap.
//!
//! Connections are numbered `0..N`. Connection `i` goes to destination `i % K`; the first `S × K` of
//! them are the shared-port ones (port `j = i / K`, one connection to every destination), made by the
//! parent; the rest are split into contiguous blocks, one per worker. TIME_WAIT socket `i` goes to
//! destination `i % K` too, so every destination gets an even share of both.

use anyhow::{Result, bail, ensure};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;

/// The port every destination listens on (outside the ephemeral range, so the accepted server ends
/// are inbound connections to a service).
pub const DEST_PORT: u16 = 80;
/// The ephemeral range set inside the namespace.
pub const PORT_RANGE: (u16, u16) = (1024, 65535);
/// The most client 4-tuples (ESTABLISHED and TIME_WAIT) toward one destination. connect() searches
/// one parity half of the range (32256 ports here) before the other, so once a destination fills its
/// half every further connect() walks that whole half first: stay well below it.
pub const PER_DESTINATION_MAX: u64 = 28_000;
/// The most destinations: 127.0.1.1 to 127.0.1.250.
pub const MAX_DESTINATIONS: u64 = 250;
/// The most shared ports (bound from the bottom of the range up).
pub const MAX_SHARED_PORTS: u64 = 1000;
/// Descriptors a process keeps for itself besides its connections and the listeners (stdio, pipes,
/// the runtime).
const SPARE_FDS: u64 = 64;

/// The socket table to build.
#[derive(Clone, Debug)]
pub struct Plan {
    pub destinations: Vec<SocketAddrV4>,
    /// Established connections (each is two ESTABLISHED sockets: client and accepted server end).
    pub connections: u64,
    pub time_wait: u64,
    /// Local ports bound with SO_REUSEADDR, each shared by one connection to every destination.
    pub shared_ports: Vec<u16>,
    /// Connection indices of each worker process.
    pub workers: Vec<Range<u64>>,
}

impl Plan {
    /// Checks the request against the port range and the descriptor limit `nofile`, and splits it.
    pub fn new(
        connections: u64,
        destinations: u64,
        time_wait: u64,
        shared_ports: u64,
        nofile: u64,
    ) -> Result<Plan> {
        let k = destinations;
        ensure!(
            k >= 1 || connections + time_wait == 0,
            "--destinations must be at least 1"
        );
        ensure!(
            k <= MAX_DESTINATIONS,
            "--destinations is at most {MAX_DESTINATIONS} (127.0.1.1 to 127.0.1.{MAX_DESTINATIONS})"
        );
        ensure!(
            shared_ports <= MAX_SHARED_PORTS,
            "--shared-ports is at most {MAX_SHARED_PORTS}"
        );
        if shared_ports > 0 {
            ensure!(
                k >= 2,
                "shared ports need at least 2 destinations to be shared by"
            );
            ensure!(
                shared_ports * k <= connections,
                "--shared-ports {shared_ports} × --destinations {k} = {} connections, more than \
                 --established {connections}",
                shared_ports * k
            );
        }
        let per_destination = |k: u64| connections.div_ceil(k) + time_wait.div_ceil(k);
        if k >= 1 && per_destination(k) > PER_DESTINATION_MAX {
            let need = (k..).find(|&k| per_destination(k) <= PER_DESTINATION_MAX);
            bail!(
                "{} client sockets toward each destination exceed {PER_DESTINATION_MAX} (connect() \
                 slows down past half the port range): use --destinations {} or more",
                per_destination(k),
                need.unwrap_or(k)
            );
        }
        let listeners = k;
        let per_worker = nofile.saturating_sub(listeners + SPARE_FDS) / 2;
        ensure!(
            per_worker > 0,
            "the descriptor limit {nofile} leaves no room for connections"
        );
        let first = shared_ports * k;
        let workers = split(first..connections, per_worker);
        // The parent holds the shared-port pairs, the listeners and two pipes per worker.
        let parent_fds = 2 * shared_ports * k + listeners + 2 * workers.len() as u64 + SPARE_FDS;
        ensure!(
            parent_fds <= nofile,
            "the main process would hold {parent_fds} descriptors ({shared_ports} shared ports × \
             {k} destinations, {k} listeners, {} workers), over the limit of {nofile}",
            workers.len()
        );
        Ok(Plan {
            destinations: (0..k).map(destination).collect(),
            connections,
            time_wait,
            shared_ports: (0..shared_ports).map(|j| PORT_RANGE.0 + j as u16).collect(),
            workers,
        })
    }

    /// Client sockets (established and TIME_WAIT) toward destination `d`.
    pub fn client_sockets_toward(&self, d: usize) -> u64 {
        let share = |n: u64| {
            let k = self.destinations.len() as u64;
            n / k + u64::from((d as u64) < n % k)
        };
        share(self.connections) + share(self.time_wait)
    }

    /// The sockets `ss -tan` in the namespace shows once the table stands.
    pub fn expected(&self) -> Expected {
        Expected {
            established: 2 * self.connections,
            time_wait: self.time_wait,
            listen: self.destinations.len() as u64,
        }
    }

    /// The `READY` line: what was built, where.
    pub fn ready_line(&self, netns: &str) -> String {
        let e = self.expected();
        let ports: Vec<String> = self.shared_ports.iter().map(u16::to_string).collect();
        let dests: Vec<String> = (0..self.destinations.len())
            .map(|d| format!("{}={}", self.destinations[d], self.client_sockets_toward(d)))
            .collect();
        format!(
            "READY netns={netns} sockets={} established={} time_wait={} listen={} connections={} \
             workers={} shared_ports={} destinations={}",
            e.total(),
            e.established,
            e.time_wait,
            e.listen,
            self.connections,
            self.workers.len(),
            ports.join(","),
            dests.join(",")
        )
    }
}

/// Sockets per state of the finished table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub established: u64,
    pub time_wait: u64,
    pub listen: u64,
}

impl Expected {
    pub fn total(&self) -> u64 {
        self.established + self.time_wait + self.listen
    }
}

/// Destination `d`: 127.0.1.(d+1), on [`DEST_PORT`].
pub fn destination(d: u64) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(127, 0, 1, d as u8 + 1), DEST_PORT)
}

/// The index of the destination that connection or TIME_WAIT socket `i` goes to, of `k`.
pub fn route(i: u64, k: usize) -> usize {
    (i % k as u64) as usize
}

/// Splits `all` into the fewest blocks of at most `most` indices, of even sizes.
fn split(all: Range<u64>, most: u64) -> Vec<Range<u64>> {
    let len = all.end - all.start;
    let blocks = len.div_ceil(most);
    if blocks == 0 {
        return Vec::new();
    }
    let size = len.div_ceil(blocks);
    (0..blocks)
        .map(|b| all.start + b * size..(all.start + (b + 1) * size).min(all.end))
        .collect()
}
