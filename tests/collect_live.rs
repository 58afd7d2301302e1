//! The collector against the real kernel: sockets this test opens on loopback, read back through
//! sock_diag netlink and through the procfs fallback, and compared with what `ss -tanoe` prints for the
//! same sockets. Also `--netns`: entering a namespace made with `ip netns add` shows its own table.
//!
//! Needs `ss` (iproute2); the namespace test also needs root and `ip`: without root it says SKIPPED,
//! except under `CI=true`, where it fails.

mod common;

use common::netns::Netns;
use common::ss::{self, SsSocket};
use common::system_port_range;
use portradar::collect::{ALL_STATES, Collector, Families, Query, Source, Table, netns};
use portradar::filter::{Filter, KernelFilter};
use portradar::socket::{Endpoint, SockRecord, TcpState, TimerKind};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;
use std::time::Duration;

/// A free port inside the ephemeral range on `ip`: bind(0) picks it from the range; the test then binds
/// it again explicitly, so the kernel sees an explicit bind.
fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A listener explicitly bound to a port of the ephemeral range.
fn listener(ip: &str) -> TcpListener {
    let ip: IpAddr = ip.parse().unwrap();
    for _ in 0..20 {
        if let Ok(l) = TcpListener::bind((ip, free_port(ip))) {
            return l;
        }
    }
    panic!("no free port on {ip}");
}

/// A connected pair: (client, accepted server end).
fn pair(l: &TcpListener) -> (TcpStream, TcpStream) {
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (server, _) = l.accept().unwrap();
    (client, server)
}

fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// A TCP socket bound to `local` (with SO_REUSEADDR when `reuse`), neither listening nor connected.
fn bound_socket(local: SocketAddrV4, reuse: bool) -> OwnedFd {
    // SAFETY: plain socket calls on a descriptor this function owns; pointers are to live locals.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let fd = OwnedFd::from_raw_fd(fd);
        if reuse {
            let one: libc::c_int = 1;
            let rc = libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
            assert_eq!(rc, 0, "SO_REUSEADDR: {}", std::io::Error::last_os_error());
        }
        let sa = sockaddr_in(local);
        let rc = libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "bind {local}: {}", std::io::Error::last_os_error());
        fd
    }
}

/// A client explicitly bound to `local` with SO_REUSEADDR, connected to `remote`.
fn reuse_client(local: SocketAddrV4, remote: SocketAddrV4) -> TcpStream {
    let fd = bound_socket(local, true);
    let sa = sockaddr_in(remote);
    // SAFETY: `fd` is a live socket; `sa` outlives the call.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "connect {local} -> {remote}: {}",
        std::io::Error::last_os_error()
    );
    TcpStream::from(fd)
}

fn inode_of(fd: &impl AsRawFd) -> u32 {
    // SAFETY: fstat writes into a zeroed stat for a live descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }, 0);
    st.st_ino as u32
}

/// Every kind of socket the test checks, kept open while it looks.
struct Scene {
    /// Ports of this test's own sockets: a socket is the test's when one of its ends uses one.
    ports: BTreeSet<u16>,
    listener_ports: Vec<u16>,
    shared_port: u16,
    bound_port: u16,
    bound_inode: u32,
    client_ports: Vec<u16>,
    _keep: Vec<Box<dyn std::any::Any>>,
}

impl Scene {
    fn build() -> Scene {
        let l4 = listener("127.0.0.1");
        let l6 = listener("::1");
        let dests: Vec<TcpListener> = (1..=3).map(|i| listener(&format!("127.0.3.{i}"))).collect();
        let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
        let mut client_ports = Vec::new();

        // ESTABLISHED both ends, IPv4 and IPv6.
        for l in [&l4, &l6] {
            let (c, s) = pair(l);
            client_ports.push(c.local_addr().unwrap().port());
            keep.push(Box::new((c, s)));
        }
        // Client TIME_WAIT: the client closes first, the server reads EOF and closes.
        let (c, mut s) = pair(&l4);
        client_ports.push(c.local_addr().unwrap().port());
        drop(c);
        assert_eq!(s.read(&mut [0; 1]).unwrap(), 0);
        drop(s);
        // Server FIN_WAIT2 / client CLOSE_WAIT, the server end still open (a full socket).
        let (c, s) = pair(&l4);
        client_ports.push(c.local_addr().unwrap().port());
        s.shutdown(Shutdown::Write).unwrap();
        keep.push(Box::new((c, s)));
        // The same with the server end closed: an orphan the kernel keeps as a timewait minisocket.
        let (c, s) = pair(&l4);
        client_ports.push(c.local_addr().unwrap().port());
        drop(s);
        keep.push(Box::new(c));
        // Bound but neither listening nor connected: BOUND_INACTIVE.
        let bound_port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let bound = bound_socket(SocketAddrV4::new(Ipv4Addr::LOCALHOST, bound_port), false);
        let bound_inode = inode_of(&bound);
        keep.push(Box::new(bound));
        // One local port, explicitly bound with SO_REUSEADDR, connected to three destinations.
        let shared_port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for d in &dests {
            let SocketAddr::V4(remote) = d.local_addr().unwrap() else {
                unreachable!()
            };
            let c = reuse_client(SocketAddrV4::new(Ipv4Addr::LOCALHOST, shared_port), remote);
            let (s, _) = d.accept().unwrap();
            keep.push(Box::new((c, s)));
        }

        let mut listener_ports = vec![
            l4.local_addr().unwrap().port(),
            l6.local_addr().unwrap().port(),
        ];
        listener_ports.extend(dests.iter().map(|d| d.local_addr().unwrap().port()));
        let mut ports: BTreeSet<u16> = listener_ports.iter().copied().collect();
        ports.extend([shared_port, bound_port]);
        keep.push(Box::new((l4, l6, dests)));
        // Let the FIN/ACK exchanges settle into TIME_WAIT and FIN_WAIT2.
        thread::sleep(Duration::from_millis(300));
        Scene {
            ports,
            listener_ports,
            shared_port,
            bound_port,
            bound_inode,
            client_ports,
            _keep: keep,
        }
    }

    fn owns(&self, local: &Endpoint, remote: &Endpoint) -> bool {
        self.ports.contains(&local.port) || self.ports.contains(&remote.port)
    }
}

/// One socket as compared: what must be equal, and the timer's remaining time (compared within 1 s).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    state: TcpState,
    local: Endpoint,
    remote: Endpoint,
    inode: u32,
    uid: u32,
    cookie: u64,
    timer: &'static str,
}

fn row(r: &SockRecord) -> (Row, u32) {
    let row = Row {
        state: r.state,
        local: r.local,
        remote: r.remote,
        inode: r.inode,
        uid: r.uid,
        cookie: r.cookie,
        timer: r.timer.name(),
    };
    (row, r.expires_ms)
}

/// A socket as `ss -Htanoe` prints it, as compared.
fn ss_row(s: &SsSocket) -> (Row, u32) {
    let row = Row {
        state: s.state,
        local: s.local,
        remote: s.remote,
        inode: s.inode.unwrap_or(0),
        uid: s.uid.unwrap_or(0),
        cookie: s.cookie.unwrap_or(0),
        timer: s.timer.map_or("off", |t| t.name),
    };
    let expires = s
        .timer
        .map_or(0, |t| u32::try_from(t.ms).expect("ss timer in ms"));
    (row, expires)
}

/// The rows of this test's sockets among `ss -Htanoe`'s.
fn ss_rows(scene: &Scene, sockets: Vec<SsSocket>) -> Vec<(Row, u32)> {
    sockets
        .iter()
        .map(ss_row)
        .filter(|(r, _)| scene.owns(&r.local, &r.remote))
        .collect()
}

fn new_table() -> Table {
    Table::new()
}

fn query() -> Query {
    Query {
        families: Families::BOTH,
        filter: None,
        port_range: system_port_range(),
    }
}

fn mine(scene: &Scene, table: &Table) -> Vec<SockRecord> {
    table
        .records
        .iter()
        .filter(|r| scene.owns(&r.local, &r.remote))
        .copied()
        .collect()
}

/// Compares two row lists: same rows, timer remaining times within 1 s for `timewait`.
fn assert_same(ours: &[(Row, u32)], theirs: &[(Row, u32)]) {
    let ours: BTreeMap<&Row, u32> = ours.iter().map(|(r, e)| (r, *e)).collect();
    let theirs: BTreeMap<&Row, u32> = theirs.iter().map(|(r, e)| (r, *e)).collect();
    let only_ours: Vec<_> = ours.keys().filter(|r| !theirs.contains_key(*r)).collect();
    let only_theirs: Vec<_> = theirs.keys().filter(|r| !ours.contains_key(*r)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "only in portradar: {only_ours:#?}\nonly in ss: {only_theirs:#?}"
    );
    for (row, expires) in &ours {
        if row.timer == "timewait" {
            let delta = expires.abs_diff(theirs[row]);
            assert!(
                delta <= 1000,
                "{row:?}: {expires} ms vs ss {} ms",
                theirs[row]
            );
        }
    }
}

#[test]
fn netlink_dump_matches_ss_and_procfs() {
    let scene = Scene::build();
    let mut collector = Collector::open();
    assert_eq!(
        collector.source(),
        Source::Netlink,
        "{:?}",
        collector.fallback_reason()
    );
    let mut table = new_table();
    collector
        .collect(&query(), &mut table)
        .expect("netlink collect");
    assert_eq!(table.source, Source::Netlink);
    let ours = mine(&scene, &table);
    let theirs = ss_rows(&scene, ss::ss("oe", &[]));

    // Every state the scene made, as the kernel names it.
    let states: BTreeSet<TcpState> = ours.iter().map(|r| r.state).collect();
    for s in [
        TcpState::Listen,
        TcpState::Established,
        TcpState::TimeWait,
        TcpState::FinWait2,
        TcpState::CloseWait,
        TcpState::BoundInactive,
    ] {
        assert!(states.contains(&s), "no {s} among {ours:#?}");
    }
    let fw2: Vec<TimerKind> = ours
        .iter()
        .filter(|r| r.state == TcpState::FinWait2)
        .map(|r| r.timer)
        .collect();
    assert!(
        fw2.contains(&TimerKind::Timewait) && fw2.contains(&TimerKind::Off),
        "FIN_WAIT2 timers {fw2:?}"
    );
    let tw = ours.iter().find(|r| r.state == TcpState::TimeWait).unwrap();
    assert!(
        tw.expires_ms > 50_000 && tw.expires_ms <= 60_000,
        "TIME_WAIT expires {}",
        tw.expires_ms
    );
    let v6 = ours
        .iter()
        .filter(|r| r.local.ip.is_ipv6() && r.state == TcpState::Established)
        .count();
    assert_eq!(v6, 2, "the [::1] pair");

    // Against ss: everything but the bound-inactive socket, which ss only shows when it knows the state.
    let (bound, rest): (Vec<&SockRecord>, Vec<&SockRecord>) = ours
        .iter()
        .partition(|r| r.state == TcpState::BoundInactive);
    let rest: Vec<(Row, u32)> = rest.into_iter().map(row).collect();
    assert_same(&rest, &theirs);
    // Under a one-state filter ss prints no State column: the same TIME_WAIT rows all the same.
    let time_wait: Vec<(Row, u32)> = (rest.iter())
        .filter(|(r, _)| r.state == TcpState::TimeWait)
        .cloned()
        .collect();
    assert!(!time_wait.is_empty());
    assert_same(
        &time_wait,
        &ss_rows(&scene, ss::ss("oe", &["state", "time-wait"])),
    );

    assert_eq!(bound.len(), 1, "{bound:?}");
    let b = bound[0];
    assert_eq!(
        b.local,
        Endpoint::new(Ipv4Addr::LOCALHOST.into(), scene.bound_port)
    );
    assert_eq!(
        (b.inode, b.uid),
        (scene.bound_inode, unsafe { libc::geteuid() })
    );
    if ss::ss_knows_state("bound-inactive") {
        let theirs = ss::ss("oe", &["state", "bound-inactive"]);
        assert_same(&[row(b)], &ss_rows(&scene, theirs));
    } else {
        eprintln!(
            "note: this ss does not know bound-inactive; checked the socket against fstat instead"
        );
    }

    // Explicit binds: the shared SO_REUSEADDR port, the listeners and the bound socket; no auto-bound
    // client port.
    let explicit: BTreeSet<u16> = table.explicit_bind_ports.iter().copied().collect();
    assert!(
        table.explicit_bind_ports.windows(2).all(|w| w[0] < w[1]),
        "sorted, unique"
    );
    for port in scene
        .listener_ports
        .iter()
        .chain([&scene.shared_port, &scene.bound_port])
    {
        assert!(
            explicit.contains(port),
            "explicit bind {port} missing from {explicit:?}"
        );
    }
    for port in &scene.client_ports {
        assert!(
            !explicit.contains(port),
            "auto-bound client port {port} reported as explicit"
        );
    }
    let range = system_port_range();
    assert!(explicit.iter().all(|p| range.contains(*p)));

    // The procfs fallback: same 4-tuples, states, inodes and uids for the states procfs shows.
    let mut procfs = Collector::procfs();
    let mut ptable = new_table();
    procfs
        .collect(&query(), &mut ptable)
        .expect("procfs collect");
    assert_eq!(ptable.source, Source::Procfs);
    let key = |r: &SockRecord| (r.state, r.local, r.remote, r.inode, r.uid, r.timer.name());
    let from_procfs: BTreeSet<_> = mine(&scene, &ptable).iter().map(key).collect();
    let from_netlink: BTreeSet<_> = ours
        .iter()
        .filter(|r| r.state != TcpState::BoundInactive)
        .map(key)
        .collect();
    assert_eq!(from_procfs, from_netlink);
    for port in &scene.listener_ports {
        assert!(
            ptable.explicit_bind_ports.contains(port),
            "procfs: listener {port} as explicit bind"
        );
    }
}

#[test]
fn collect_selects_families_and_refills_the_table() {
    let mut collector = Collector::open();
    let l6 = listener("::1");
    let l4 = listener("127.0.0.1");
    let port6 = l6.local_addr().unwrap().port();
    let port4 = l4.local_addr().unwrap().port();
    let mut table = new_table();
    let v6_only = Query {
        families: Families {
            v4: false,
            v6: true,
        },
        ..query()
    };
    collector.collect(&v6_only, &mut table).unwrap();
    assert!(table.records.iter().all(|r| r.local.ip.is_ipv6()));
    assert!(table.records.iter().any(|r| r.local.port == port6));
    // The table is cleared and refilled, and explicit binds cover both families whatever the query.
    collector.collect(&v6_only, &mut table).unwrap();
    assert_eq!(
        table
            .records
            .iter()
            .filter(|r| r.local.port == port6)
            .count(),
        1
    );
    assert!(table.explicit_bind_ports.contains(&port4));
}

#[test]
fn netns_enter_shows_the_namespace_table() {
    let Some(ns) = Netns::for_test("netns_enter_shows_the_namespace_table") else {
        return;
    };
    let missing =
        netns::enter(&netns::NetnsSpec::Name("portradar-no-such-netns".into())).unwrap_err();
    assert!(missing.to_string().contains("ip netns list"), "{missing}");

    let host = listener("127.0.0.1");
    let host_port = host.local_addr().unwrap().port();
    let name = ns.name.clone();
    let inside = thread::spawn(move || {
        netns::enter(&netns::NetnsSpec::Name(name)).expect("enter the namespace");
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let tables = [Collector::open(), Collector::procfs()].map(|mut c| {
            let mut t = new_table();
            c.collect(&query(), &mut t).unwrap();
            t
        });
        drop(l);
        (port, tables)
    });
    let (port, tables) = inside.join().unwrap();
    for t in &tables {
        let want = Endpoint::new(Ipv4Addr::LOCALHOST.into(), port);
        let seen: Vec<(TcpState, Endpoint)> =
            t.records.iter().map(|r| (r.state, r.local)).collect();
        assert_eq!(
            seen,
            vec![(TcpState::Listen, want)],
            "{:?}: lo-only namespace, host port {host_port} absent",
            t.source
        );
    }
    let path = ns.path();
    drop(ns);
    assert!(!std::path::Path::new(&path).exists(), "namespace deleted");
}

/// Installs a seccomp filter on the calling thread only, as a container profile would: socket() of
/// AF_NETLINK fails with EPERM and, with `send_errno`, every sendto() fails with that errno.
fn refuse_netlink_in_this_thread(send_errno: Option<i32>) {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = |offset: u32| stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset);
    let ret = |action: u32| stmt(libc::BPF_RET | libc::BPF_K, action);
    let deny = |errno: i32| libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA);
    let send_nr = send_errno.map_or(u32::MAX, |_| libc::SYS_sendto as u32);
    // seccomp_data: nr at 0, args[0] at 16 (its low half on a little-endian machine).
    let program = [
        load(0),
        jeq(libc::SYS_socket as u32, 0, 3),
        load(16),
        jeq(libc::AF_NETLINK as u32, 0, 1),
        ret(deny(libc::EPERM)),
        load(0),
        jeq(send_nr, 0, 1),
        ret(deny(send_errno.unwrap_or(0))),
        ret(libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: prctl reads `fprog` and the program it points to, both alive across the calls.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        let rc = libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog);
        assert_eq!(rc, 0, "seccomp: {}", std::io::Error::last_os_error());
    }
}

#[test]
fn refused_netlink_falls_back_to_procfs() {
    let opened = thread::spawn(move || {
        refuse_netlink_in_this_thread(None);
        let mut collector = Collector::open();
        let mut table = new_table();
        collector.collect(&query(), &mut table).unwrap();
        (
            collector.source(),
            collector.fallback_reason().map(str::to_string),
            table.source,
        )
    });
    let (source, reason, table_source) = opened.join().unwrap();
    assert_eq!((source, table_source), (Source::Procfs, Source::Procfs));
    assert!(reason.unwrap().contains("Operation not permitted"));

    // Opened fine, then the dump is refused: the collector switches for good and serves this
    // refresh from procfs.
    let l = listener("127.0.0.1");
    let port2 = l.local_addr().unwrap().port();
    let refused = thread::spawn(move || {
        let mut collector = Collector::open();
        assert_eq!(collector.source(), Source::Netlink);
        refuse_netlink_in_this_thread(Some(libc::EACCES));
        let mut table = new_table();
        collector.collect(&query(), &mut table).unwrap();
        let seen = table
            .records
            .iter()
            .any(|r| r.local.port == port2 && r.state == TcpState::Listen);
        let listeners_explicit = table.explicit_bind_ports.contains(&port2);
        let again = collector.dump_kernel(Families::BOTH, &everything(), &mut Vec::new());
        (
            collector.source(),
            table.source,
            seen,
            listeners_explicit,
            again.err().map(|e| e.to_string()),
        )
    });
    let (source, table_source, seen, explicit, again) = refused.join().unwrap();
    assert_eq!((source, table_source), (Source::Procfs, Source::Procfs));
    assert!(
        seen && explicit,
        "procfs table holds the listener {port2} and its port as explicit"
    );
    assert_eq!(
        again.as_deref(),
        Some("netlink is not in use: this collector reads procfs")
    );
}

fn everything() -> KernelFilter {
    KernelFilter {
        states: ALL_STATES,
        bytecode: Vec::new(),
        exact: true,
    }
}

#[test]
fn dump_kernel_appends_and_applies_the_kernel_filter() {
    let l = listener("127.0.0.1");
    let port = l.local_addr().unwrap().port();
    let (_c, _s) = pair(&l);
    let mut collector = Collector::open();
    let mut out = vec![];
    collector
        .dump_kernel(Families::BOTH, &everything(), &mut out)
        .unwrap();
    let mine = |out: &[SockRecord]| out.iter().filter(|r| r.local.port == port).count();
    assert_eq!(mine(&out), 2, "listener and accepted end");
    // Appends: a second dump adds this test's sockets again (other tests' sockets come and go).
    collector
        .dump_kernel(Families::BOTH, &everything(), &mut out)
        .unwrap();
    assert_eq!(mine(&out), 4);
    // The state mask and the bytecode reach the kernel.
    let filter = Filter::parse(&format!("state listening and sport = {port}")).unwrap();
    let mut only = vec![];
    collector
        .dump_kernel(Families::BOTH, &filter.kernel(), &mut only)
        .unwrap();
    let seen: Vec<(TcpState, u16)> = only.iter().map(|r| (r.state, r.local.port)).collect();
    assert_eq!(seen, vec![(TcpState::Listen, port)]);
}

/// Counts the allocations of each thread, so a test can check its own refresh path.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn a_steady_netlink_refresh_allocates_nothing_per_socket() {
    let l = listener("127.0.0.1");
    let _pairs: Vec<_> = (0..50).map(|_| pair(&l)).collect();
    let mut collector = Collector::open();
    let mut table = new_table();
    let query = query();
    let start = ALLOCATIONS.with(|n| n.get());
    collector.collect(&query, &mut table).unwrap();
    assert!(
        ALLOCATIONS.with(|n| n.get()) > start,
        "the first refresh sizes the table"
    );
    // Room for sockets that other tests open meanwhile.
    table.records.reserve(table.records.len() + 10_000);
    table.explicit_bind_ports.reserve(10_000);
    let before = ALLOCATIONS.with(|n| n.get());
    collector.collect(&query, &mut table).unwrap();
    let allocations = ALLOCATIONS.with(|n| n.get()) - before;
    assert!(table.records.len() > 100);
    // Nothing per socket. When the last bind-side reading was slow (a busy machine), it is read on a
    // thread of its own, and starting that thread costs this one a few allocations: a constant.
    assert!(
        allocations <= THREAD_START_ALLOCATIONS,
        "a refresh of {} sockets made {allocations} allocations",
        table.records.len()
    );
}

/// What starting one scoped thread allocates in the thread that starts it (its handle, its result
/// slot, its closure), with room to spare: far fewer than one per socket of the refresh above.
const THREAD_START_ALLOCATIONS: u64 = 8;

#[test]
fn ss_timers_read_as_iproute2_prints_them() {
    let cases = [
        ("", 0),
        ("076ms", 76),
        ("999ms", 999),
        ("1sec", 1_000),
        // Under 10 s: iproute2 up to 6.x writes `ms` after the milliseconds, later ones `sec`.
        ("5.123ms", 5_123),
        ("5.123sec", 5_123),
        ("9.001ms", 9_001),
        ("59sec", 59_000),
        ("1min", 60_000),
        ("1min2sec", 62_000),
        ("10min", 600_000),
    ];
    for (text, ms) in cases {
        assert_eq!(ss::timer_ms(text), Some(ms), "{text:?}");
    }
    for bad in ["sec", "5.12ms", "1.5", "12", "2h"] {
        assert_eq!(ss::timer_ms(bad), None, "{bad:?}");
    }
}
