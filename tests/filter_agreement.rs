//! Filter agreement on real sockets: for each expression, the kernel-filtered dump (state mask and
//! bytecode from `Filter::kernel`) must equal, or when not `exact` contain, the user-space evaluation
//! (`Filter::matches`) of an unfiltered dump, equal it after refinement, and both must equal what
//! `ss -Htan` reports for the same expression. Only the test's own sockets are compared: listeners on
//! 127.0.2.1-3, [::1] and a dual-stack [::] (whose IPv4 clients appear as IPv4-mapped sockets), one
//! bound to the device `lo`, one whose full accept queue leaves a client in SYN_SENT, on ports picked
//! at random below the ephemeral range, one on the port of a service named in `/etc/services`, and
//! the connections to them.
//!
//! Needs netlink sock_diag, IPv6 on loopback, `ss` (iproute2) and `/etc/services` (Debian package
//! netbase): without them it says why and passes, except under `CI=true`, where it fails.

mod common;

use portradar::collect::{ALL_STATES, CollectError, Collector, Families, Source};
use portradar::filter::{Cond, Expr, Filter, KernelFilter};
use portradar::socket::{Endpoint, SockRecord, TcpState};
use socket2::{Domain, Socket, Type};
use std::collections::BTreeSet;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One socket as both sides report it: unspecified addresses print as `*`, as ss does for some.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tuple {
    state: u8,
    local: (String, u16),
    remote: (String, u16),
}

impl std::fmt::Display for Tuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = TcpState::from_kernel(self.state).map_or("?", TcpState::name);
        write!(
            f,
            "{state} {}:{} -> {}:{}",
            self.local.0, self.local.1, self.remote.0, self.remote.1
        )
    }
}

fn ip_text(ip: IpAddr) -> String {
    if ip.is_unspecified() {
        "*".into()
    } else {
        ip.to_string()
    }
}

fn tuple(r: &SockRecord) -> Tuple {
    tuple_of(r.state, &r.local, &r.remote)
}

fn tuple_of(state: TcpState, local: &Endpoint, remote: &Endpoint) -> Tuple {
    Tuple {
        state: state.kernel_number(),
        local: (ip_text(local.ip), local.port),
        remote: (ip_text(remote.ip), remote.port),
    }
}

/// The sockets of one `ss -Htan ARGS...` run that touch `ports`.
fn ss_run(args: &[&str], ports: &[u16]) -> BTreeSet<Tuple> {
    (common::ss("", args).iter())
        .map(|s| tuple_of(s.state, &s.local, &s.remote))
        .filter(|t| ports.contains(&t.local.1) || ports.contains(&t.remote.1))
        .collect()
}

/// Every socket in every state, no bytecode.
fn everything() -> KernelFilter {
    KernelFilter {
        states: ALL_STATES,
        bytecode: Vec::new(),
        exact: true,
    }
}

fn dump(collector: &mut Collector, k: &KernelFilter, ports: &[u16]) -> Vec<SockRecord> {
    let mut out = Vec::new();
    collector
        .dump_kernel(Families::BOTH, k, &mut out)
        .unwrap_or_else(|e| panic!("dump with bytecode {:?}: {e}", k.bytecode));
    out.retain(|r| ports.contains(&r.local.port) || ports.contains(&r.remote.port));
    out
}

fn tuples<'a>(records: impl Iterator<Item = &'a SockRecord>) -> BTreeSet<Tuple> {
    records.map(tuple).collect()
}

fn show(set: &BTreeSet<Tuple>) -> String {
    set.iter().map(|t| format!("\n    {t}")).collect::<String>()
}

/// Skips with a reason, or fails under CI.
fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("filter_agreement cannot run under CI=true: {reason}");
    }
    eprintln!("filter_agreement: SKIPPED: {reason}");
}

/// The test's sockets, kept open for its duration.
struct Sockets {
    /// The listeners' ports: the five of [`listeners`], the one bound to `lo`, the one with a full
    /// accept queue.
    ports: [u16; 7],
    _keep: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
    _syn_sent: Socket,
}

/// A listener on the port of a service named in `/etc/services`, and a connection to it.
struct Service {
    name: &'static str,
    port: u16,
    _listener: TcpListener,
    _ends: [TcpStream; 2],
}

/// Services of netbase's `/etc/services` between 1024 and 19999, below the test's port block.
const SERVICES: [&str; 12] = [
    "openvpn",
    "radius",
    "nfs",
    "cvspserver",
    "mysql",
    "svn",
    "postgresql",
    "x11",
    "http-alt",
    "amanda",
    "git",
    "sieve",
];

/// The port the filter language gives a service name, if `/etc/services` has it.
fn service_port(name: &str) -> Option<u16> {
    match Filter::parse(&format!("sport = :{name}")).ok()?.expr() {
        Expr::Cond(Cond::Port { port, .. }) => Some(*port),
        _ => None,
    }
}

/// Listens on 127.0.2.1 at the port of a known service that no socket of the host uses, and connects
/// to it once.
fn service_listener(collector: &mut Collector) -> io::Result<Option<Service>> {
    let mut in_use = Vec::new();
    collector
        .dump_kernel(Families::BOTH, &everything(), &mut in_use)
        .map_err(io::Error::other)?;
    for name in SERVICES {
        let Some(port) = service_port(name).filter(|p| (1024..20000).contains(p)) else {
            continue;
        };
        if in_use
            .iter()
            .any(|r| r.local.port == port || r.remote.port == port)
        {
            continue;
        }
        let Ok(listener) = TcpListener::bind(SocketAddr::new(v4(1), port)) else {
            continue;
        };
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        return Ok(Some(Service {
            name,
            port,
            _listener: listener,
            _ends: [client, server],
        }));
    }
    Ok(None)
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 2, last))
}

fn listeners(base: u16) -> io::Result<Vec<TcpListener>> {
    let addrs = [
        SocketAddr::new(v4(1), base + 1),
        SocketAddr::new(v4(2), base + 2),
        SocketAddr::new(v4(3), base + 3),
        SocketAddr::new("::1".parse().unwrap(), base + 4),
        SocketAddr::new("::".parse().unwrap(), base + 5),
    ];
    let mut out: Vec<TcpListener> = addrs
        .iter()
        .map(TcpListener::bind)
        .collect::<Result<_, _>>()?;
    out.push(listener(
        SocketAddr::new(v4(1), base + 6),
        Some(b"lo"),
        128,
    )?);
    out.push(listener(SocketAddr::new(v4(2), base + 7), None, 0)?);
    Ok(out)
}

/// A listener bound to `device`, with an accept queue of `backlog`.
fn listener(addr: SocketAddr, device: Option<&[u8]>, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind_device(device)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// A client left in SYN_SENT: the listener's accept queue (backlog 0) holds one connection already,
/// so the kernel drops this one's SYN, and its retransmissions, for longer than the test runs.
fn syn_sent(to: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&to.into()) {
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) => Err(e),
        Ok(()) => Err(io::Error::other("connected to a full accept queue")),
    }
}

/// A connection whose client closes first: the client ends in TIME_WAIT.
fn time_wait(listener: &TcpListener, to: SocketAddr) -> io::Result<()> {
    let client = TcpStream::connect(to)?;
    let (mut server, _) = listener.accept()?;
    drop(client);
    server.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0; 64];
    while server.read(&mut buf)? > 0 {}
    Ok(())
}

fn open_sockets() -> io::Result<Sockets> {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    let mut found = None;
    for attempt in 0..50u32 {
        let base = 20000 + (seed.wrapping_add(attempt.wrapping_mul(7919)) % 1200) as u16 * 10;
        match listeners(base) {
            Ok(l) => {
                found = Some((base, l));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    let (base, l) = found.ok_or_else(|| io::Error::other("no free port block"))?;
    let ports = [
        base + 1,
        base + 2,
        base + 3,
        base + 4,
        base + 5,
        base + 6,
        base + 7,
    ];
    let at = |i: usize| l[i].local_addr();
    let mut keep = Vec::new();
    let mut connect = |i: usize, to: SocketAddr| -> io::Result<TcpStream> {
        let client = TcpStream::connect(to)?;
        let (server, _) = l[i].accept()?;
        keep.push(server);
        Ok(client)
    };
    let mut clients = Vec::new();
    for (i, n) in [(0, 2), (1, 1), (2, 1), (3, 2), (5, 1)] {
        for _ in 0..n {
            clients.push(connect(i, at(i)?)?);
        }
    }
    // An IPv4 client of the dual-stack listener: the server side is IPv4-mapped IPv6.
    clients.push(connect(4, SocketAddr::new(v4(3), ports[4]))?);
    // Client FIN_WAIT2, server CLOSE_WAIT.
    let half = connect(1, at(1)?)?;
    half.shutdown(Shutdown::Write)?;
    clients.push(half);
    for i in [0, 0, 1, 3] {
        time_wait(&l[i], at(i)?)?;
    }
    // The first client fills the accept queue of listener 6, never accepted; the second waits.
    clients.push(TcpStream::connect(at(6)?)?);
    let waiting = syn_sent(at(6)?)?;
    keep.extend(clients);
    Ok(Sockets {
        ports,
        _keep: keep,
        _listeners: l,
        _syn_sent: waiting,
    })
}

/// One expression and the `ss` runs whose union is the same set of sockets.
struct Case {
    ours: String,
    ss: Vec<Vec<String>>,
}

fn case(ours: String, ss: &[&[&str]]) -> Case {
    Case {
        ours,
        ss: ss
            .iter()
            .map(|run| run.iter().map(|s| s.to_string()).collect())
            .collect(),
    }
}

/// The same text for portradar and for ss.
fn same(text: String) -> Case {
    let ss = vec![vec![text.clone()]];
    Case { ours: text, ss }
}

fn cases(p: [u16; 7], service: &str) -> Vec<Case> {
    let [p1, p2, p3, p4, p5, _, _] = p;
    let group = |name: &str| case(format!("state {name}"), &[&["state", name]]);
    vec![
        same("dst 127.0.2.1".into()),
        same("dst 127.0.2.0/24".into()),
        same(format!("dst 127.0.2.2:{p2}")),
        same("src 127.0.2.1".into()),
        same(format!("src 127.0.2.0/30:{p1}")),
        same("dst 127.0.2.3".into()),
        same("src 127.0.2.3".into()),
        same("src ::ffff:127.0.2.0/120".into()),
        same("dst 0.0.0.0".into()),
        same("dst [::]".into()),
        same("dst [::1]".into()),
        same(format!("src [::1]:{p4}")),
        same("dst ::1/128".into()),
        same(format!("dport = :{p1}")),
        same(format!("dport != {p1}")),
        same(format!("sport < {p3}")),
        same(format!("sport gt {p2}")),
        same(format!("dport <= :{p2}")),
        same(format!("dport ge {p4}")),
        same(format!("sport eq {p5}")),
        case(
            format!("(dst 127.0.2.1 or dst 127.0.2.2) and not dport = :{p2}"),
            &[&[&format!(
                "( dst 127.0.2.1 or dst 127.0.2.2 ) and not dport = :{p2}"
            )]],
        ),
        case(
            "!(src 127.0.2.0/24||src [::1])".into(),
            &[&["not ( src 127.0.2.0/24 or src [::1] )"]],
        ),
        // Precedence: portradar reads `a or b and c` as `a or (b and c)`; ss needs the parentheses.
        case(
            format!("dst 127.0.2.1 or dst 127.0.2.2 and dport = {p2}"),
            &[&[&format!(
                "dst 127.0.2.1 or ( dst 127.0.2.2 and dport = :{p2} )"
            )]],
        ),
        same(format!("dst 127.0.2.0/24 dport = {p1}")),
        // States: ss takes them before the expression only.
        case("state time-wait".into(), &[&["state", "time-wait"]]),
        case(
            "state established and dst 127.0.2.2".into(),
            &[&["state", "established", "dst 127.0.2.2"]],
        ),
        case(
            "(state time-wait or state fin-wait-2) and dst 127.0.2.0/24".into(),
            &[&[
                "state",
                "time-wait",
                "state",
                "fin-wait-2",
                "dst 127.0.2.0/24",
            ]],
        ),
        case(
            "state close-wait or state fin-wait-2".into(),
            &[&["state", "close-wait", "state", "fin-wait-2"]],
        ),
        // Side by side, state words make one set of states in both, not an impossible `and`.
        case(
            "state close-wait state fin-wait-2".into(),
            &[&["state", "close-wait", "state", "fin-wait-2"]],
        ),
        case(
            "state established state time-wait dst 127.0.2.0/24".into(),
            &[&[
                "state",
                "established",
                "state",
                "time-wait",
                "dst 127.0.2.0/24",
            ]],
        ),
        case(
            "exclude bucket state time-wait".into(),
            &[&["exclude", "bucket", "state", "time-wait"]],
        ),
        case(
            "state listen or dst 127.0.2.3".into(),
            &[&["state", "listening"], &["dst 127.0.2.3"]],
        ),
        case(
            format!("(state established and dport = {p1}) or (state listen and sport = {p2})"),
            &[
                &["state", "established", &format!("dport = :{p1}")],
                &["state", "listening", &format!("sport = :{p2}")],
            ],
        ),
        // The listeners here are explicitly bound below the ephemeral range and no client binds
        // explicitly, so ss's extra port-range check changes nothing.
        same("not autobound".into()),
        same("autobound and dst 127.0.2.0/24".into()),
        // Service names, from /etc/services on both sides.
        same(format!("dport = :{service}")),
        same(format!("sport = :{service}")),
        same(format!("dst 127.0.2.1:{service}")),
        same(format!("src 127.0.2.1:{service} or dport = {p1}")),
        // Host names: every address of localhost.
        same("dst localhost".into()),
        same("src localhost and dst 127.0.2.0/24".into()),
        // The bound device, decided by the kernel's bytecode here and in user space by ss.
        same("dev lo".into()),
        same("dev = lo".into()),
        same("dev != lo and src 127.0.2.1".into()),
        case(
            "dev lo or state time-wait".into(),
            &[&["dev lo"], &["state", "time-wait"]],
        ),
        // Excluded states and state groups: ss takes them before the expression only.
        case("exclude time-wait".into(), &[&["exclude", "time-wait"]]),
        case(
            "excl listen exclude time-wait".into(),
            &[&["excl", "listening", "exclude", "time-wait"]],
        ),
        case(
            "exclude established and dst 127.0.2.0/24".into(),
            &[&["exclude", "established", "dst 127.0.2.0/24"]],
        ),
        group("all"),
        group("connected"),
        group("synchronized"),
        group("bucket"),
        group("big"),
        case(
            "state connected exclude synchronized".into(),
            &[&["state", "syn-sent"]],
        ),
        case(
            "state big and src 127.0.2.0/24".into(),
            &[&["state", "big", "src 127.0.2.0/24"]],
        ),
    ]
}

#[test]
fn kernel_user_space_and_ss_agree() {
    if Command::new("ss").arg("-V").output().is_err() {
        return skip("`ss` (iproute2) is not installed");
    }
    let mut collector = Collector::open();
    if collector.source() != Source::Netlink {
        return skip(&format!(
            "netlink sock_diag is unavailable: {}",
            collector.fallback_reason().unwrap_or("?")
        ));
    }
    let sockets = match open_sockets() {
        Ok(s) => s,
        Err(e) => {
            return skip(&format!(
                "cannot open loopback sockets (127.0.2.x, [::1]): {e}"
            ));
        }
    };
    let service = match service_listener(&mut collector) {
        Ok(Some(service)) => service,
        Ok(None) => {
            return skip(&format!(
                "none of the services {SERVICES:?} is in /etc/services (package netbase) on a free port"
            ));
        }
        Err(e) => return skip(&format!("cannot listen on a service port: {e}")),
    };
    let mut ports = sockets.ports.to_vec();
    ports.push(service.port);

    // Let the closes settle: four TIME_WAIT, one FIN_WAIT2 / CLOSE_WAIT pair, one SYN_SENT.
    let deadline = Instant::now() + Duration::from_secs(5);
    let count =
        |records: &[SockRecord], s: TcpState| records.iter().filter(|r| r.state == s).count();
    loop {
        let all = dump(&mut collector, &everything(), &ports);
        let settled = count(&all, TcpState::TimeWait) == 4
            && count(&all, TcpState::FinWait2) == 1
            && count(&all, TcpState::CloseWait) == 1
            && count(&all, TcpState::SynSent) == 1;
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sockets did not settle:{}",
            show(&tuples(all.iter()))
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let (mut exact_with_bytecode, mut refined_with_bytecode) = (0, 0);
    let cases = cases(sockets.ports, service.name);
    for case in &cases {
        let filter = Filter::parse(&case.ours).unwrap_or_else(|e| panic!("{}: {e}", case.ours));
        let k = filter.kernel();
        let kernel = dump(&mut collector, &k, &ports);
        let all = dump(&mut collector, &everything(), &ports);
        let kernel_set = tuples(kernel.iter());
        let user = tuples(all.iter().filter(|r| filter.matches(r)));
        let refined = tuples(kernel.iter().filter(|r| filter.matches(r)));
        let context = format!(
            "\n  filter: {}\n  parsed: {}\n  states {:#x}, exact {}, bytecode {:02x?}\n  kernel:{}\n  user space:{}",
            case.ours,
            filter.expr(),
            k.states,
            k.exact,
            k.bytecode,
            show(&kernel_set),
            show(&user)
        );
        assert!(
            !user.is_empty(),
            "the case selects none of the test's sockets{context}"
        );
        if k.exact {
            assert_eq!(
                kernel_set, user,
                "exact kernel filter differs from user space{context}"
            );
        } else {
            assert!(
                kernel_set.is_superset(&user),
                "kernel dropped matching sockets{context}"
            );
        }
        assert_eq!(
            refined, user,
            "refined kernel dump differs from user space{context}"
        );
        let mut ss = BTreeSet::new();
        for run in &case.ss {
            let args: Vec<&str> = run.iter().map(String::as_str).collect();
            ss.extend(ss_run(&args, &ports));
        }
        assert_eq!(ss, user, "ss {:?} reports:{}{context}", case.ss, show(&ss));
        match (k.exact, k.bytecode.is_empty()) {
            (true, false) => exact_with_bytecode += 1,
            (false, false) => refined_with_bytecode += 1,
            _ => {}
        }
    }
    assert!(cases.len() >= 50);
    assert!(
        exact_with_bytecode >= 20,
        "{exact_with_bytecode} exact cases ran bytecode"
    );
    assert!(
        refined_with_bytecode >= 1,
        "no case refined a bytecode-filtered dump"
    );
}

/// The kernel audits the bytecode and refuses bad jumps with EINVAL: the dumps above ran the programs
/// the filter compiled, not a silently ignored attribute.
#[test]
fn kernel_refuses_bad_bytecode() {
    let mut collector = Collector::open();
    if collector.source() != Source::Netlink {
        return skip("netlink sock_diag is unavailable");
    }
    let good = Filter::parse("autobound").unwrap().kernel();
    let mut out = Vec::new();
    collector
        .dump_kernel(Families::BOTH, &good, &mut out)
        .expect("a compiled program is accepted");
    // JMP with a `no` that is not a multiple of 4; AUTO whose `no` jumps 8 bytes past the end.
    for bytecode in [vec![1u8, 4, 6, 0], vec![6, 4, 12, 0]] {
        let bad = KernelFilter {
            bytecode,
            ..good.clone()
        };
        match collector.dump_kernel(Families::BOTH, &bad, &mut out) {
            Err(CollectError::Kernel { errno, .. }) => assert_eq!(errno, libc::EINVAL),
            other => panic!("bad bytecode {:?} gave {other:?}", bad.bytecode),
        }
    }
}
