//! The socket experiment, as the article ran it: batches of connect() calls toward one destination, each
//! local port read with getsockname() right after connect() — the kernel allocates it inside the call,
//! whatever then happens to the handshake. Every socket is closed (reset) before the next one opens.

use super::ProbeError;
use super::args::Plan;
use super::range;
use super::socket::ProbeSocket;
use crate::settings::PortRange;
use crate::socket::Family;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::thread;

/// What the experiment saw.
#[derive(Clone, Debug)]
pub(super) struct Observed {
    pub destination: SocketAddr,
    /// True when the destination is the probe's own loopback listener.
    pub own_listener: bool,
    /// The local address of the first connect().
    pub local_ip: IpAddr,
    /// The range the connect()s searched.
    pub range: PortRange,
    /// Local ports, batch by batch, in the order they were allocated.
    pub batches: Vec<Vec<u16>>,
    /// Remarks for the reader (ignored `--socket-range` ends).
    pub notes: Vec<String>,
}

/// Runs the plan's batches in the calling thread's network namespace.
pub(super) fn run(plan: &Plan) -> Result<Observed, ProbeError> {
    let system = range::system()?;
    let (range, notes) = match plan.socket_range() {
        Some(asked) => range::narrow(system, asked),
        None => (system, Vec::new()),
    };
    let target = Target::open(plan.destination, plan.family)?;
    let destination = target.addr()?;
    let mut batches = Vec::new();
    for n in 0..plan.batches {
        if n > 0 {
            thread::sleep(plan.pause);
        }
        batches.push(batch(plan, &target, destination)?);
    }
    let local_ip = batches
        .iter()
        .flatten()
        .next()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), SocketAddr::ip);
    Ok(Observed {
        destination,
        own_listener: matches!(target, Target::Listener(_)),
        local_ip,
        range,
        batches: batches
            .iter()
            .map(|locals| locals.iter().map(SocketAddr::port).collect())
            .collect(),
        notes,
    })
}

/// `plan.count` connect()s: the local addresses they were given, in order.
fn batch(plan: &Plan, target: &Target, dst: SocketAddr) -> Result<Vec<SocketAddr>, ProbeError> {
    (0..plan.count)
        .map(|_| connect_once(plan, target, dst))
        .collect()
}

/// One connect(): returns the local address it was given.
fn connect_once(plan: &Plan, target: &Target, dst: SocketAddr) -> Result<SocketAddr, ProbeError> {
    let socket = ProbeSocket::new(&dst)?;
    if let Some(range) = plan.socket_range() {
        socket.restrict_ports(range)?;
    }
    if plan.bind {
        socket.bind_any_port(&dst)?;
    }
    let connected = socket.start_connect(&dst);
    let local = socket.local_addr()?;
    drop(socket);
    target.settle();
    match connected {
        Err(source) if local.port() == 0 => Err(ProbeError::NoPort { dst, source }),
        _ => Ok(local),
    }
}

/// Where the probe connects.
enum Target {
    /// A loopback listener of the probe's own, drained after each connect().
    Listener(TcpListener),
    /// A destination the user named: refused or not, each connect() allocates a port.
    Remote(SocketAddr),
}

impl Target {
    /// `destination`, or a listener on the loopback address of `family`.
    fn open(destination: Option<SocketAddr>, family: Family) -> Result<Target, ProbeError> {
        if let Some(addr) = destination {
            return Ok(Target::Remote(addr));
        }
        let (loopback, call): (IpAddr, _) = match family {
            Family::Inet => (Ipv4Addr::LOCALHOST.into(), "listen on 127.0.0.1"),
            Family::Inet6 => (
                Ipv6Addr::LOCALHOST.into(),
                "listen on ::1 (is IPv6 disabled?)",
            ),
        };
        let listener = TcpListener::bind((loopback, 0)).map_err(ProbeError::socket(call))?;
        listener
            .set_nonblocking(true)
            .map_err(ProbeError::socket("fcntl(O_NONBLOCK)"))?;
        Ok(Target::Listener(listener))
    }

    fn addr(&self) -> Result<SocketAddr, ProbeError> {
        match self {
            Target::Listener(listener) => listener
                .local_addr()
                .map_err(ProbeError::socket("getsockname")),
            Target::Remote(addr) => Ok(*addr),
        }
    }

    /// Accepts and closes whatever reached the listener, so its queue never fills. The drain ends at
    /// the first accept() error: `WouldBlock` when the queue is empty.
    fn settle(&self) {
        if let Target::Listener(listener) = self {
            while let Ok(accepted) = listener.accept() {
                drop(accepted);
            }
        }
    }
}
