//! Property tests of the filter language: random filter texts (every condition in every spelling:
//! `dst`/`src` with IPv4 and IPv6 prefixes and ports, `sport`/`dport` with every operator, states and
//! state groups, `exclude`, `autobound`, `dev`; `and`/`or`/`not` nested) over random sockets.
//!
//! - `compiled_programs_agree_with_the_evaluator`: the filter prints back to text that parses to the
//!   same filter; its bytecode passes the kernel's audit; on every socket, the kernel's verdict (the
//!   state mask, then the bytecode run by `filter::interp`, the kernel's interpreter transcribed) is
//!   [`Filter::matches`] when the split is exact, and a superset of it when not. 2000 filters by
//!   32 sockets per run; `PROPTEST_CASES=N` runs more (`bench/property.sh`).
//! - `the_kernel_agrees_with_the_evaluator`: a sample of such filters run by the real kernel on a
//!   sock_diag dump of real loopback sockets (listeners, connections, TIME_WAIT, half-closed pairs, a
//!   bound-only socket, one bound to `lo`), in a private network namespace when root, compared with
//!   the evaluator on an unfiltered dump of the same sockets.
//! - `the_kernel_audit_agrees_with_the_transcribed_one`: compiled programs with one byte changed are
//!   refused by the kernel (EINVAL) exactly when `filter::interp`'s audit refuses them.

mod common;

use portradar::collect::{ALL_STATES, Collector, Families, Source};
use portradar::filter::interp::{Entry, Program};
use portradar::filter::{Filter, KernelFilter};
use portradar::socket::{BoundDev, Endpoint, SockRecord, TcpState};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};

/// What filters and sockets are drawn from, so that conditions hit sockets often.
#[derive(Clone, Debug)]
struct Pools {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
    ports: Vec<u16>,
    devs: Vec<u32>,
}

impl Pools {
    fn synthetic() -> Pools {
        Pools {
            v4: [
                "127.0.0.1",
                "127.0.2.1",
                "10.1.2.3",
                "0.0.0.0",
                "192.168.7.9",
            ]
            .map(|a| a.parse().unwrap())
            .to_vec(),
            v6: ["::1", "::", "2001:db8::7", "fe80::1", "::ffff:127.0.2.1"]
                .map(|a| a.parse().unwrap())
                .to_vec(),
            ports: vec![0, 1, 79, 80, 81, 443, 32768, 65534, 65535],
            devs: vec![0, 1, 2],
        }
    }
}

fn pick<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> BoxedStrategy<T> {
    proptest::sample::select(items).boxed()
}

/// An IPv4 address: from the pool, or one with its last bits changed (prefix edges), or any.
fn v4(p: &Pools) -> BoxedStrategy<Ipv4Addr> {
    prop_oneof![
        4 => pick(p.v4.clone()),
        2 => (pick(p.v4.clone()), 0u32..256).prop_map(|(a, x)| Ipv4Addr::from(u32::from(a) ^ x)),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
    .boxed()
}

fn v6(p: &Pools) -> BoxedStrategy<Ipv6Addr> {
    prop_oneof![
        4 => pick(p.v6.clone()),
        2 => (pick(p.v6.clone()), 0u128..65536).prop_map(|(a, x)| Ipv6Addr::from(u128::from(a) ^ x)),
        1 => v4(p).prop_map(|a| a.to_ipv6_mapped()),
        1 => any::<u128>().prop_map(Ipv6Addr::from),
    ]
    .boxed()
}

fn port(p: &Pools) -> BoxedStrategy<u16> {
    prop_oneof![4 => pick(p.ports.clone()), 1 => any::<u16>()].boxed()
}

/// The HOST of a `dst`/`src` condition, in each form the grammar has.
fn host(p: &Pools) -> BoxedStrategy<String> {
    let v4_forms = (v4(p), 0u8..=32, port(p), 0..4).prop_map(|(a, len, port, form)| match form {
        0 => format!("{a}"),
        1 => format!("{a}/{len}"),
        2 => format!("{a}:{port}"),
        _ => format!("{a}/{len}:{port}"),
    });
    let v6_forms = (v6(p), 0u8..=128, port(p), 0..7).prop_map(|(a, len, port, form)| match form {
        0 => format!("{a}"),
        1 => format!("{a}/{len}"),
        2 => format!("[{a}]"),
        3 => format!("[{a}]/{len}"),
        4 => format!("[{a}]:{port}"),
        5 => format!("[{a}/{len}]:{port}"),
        _ => format!("[{a}]/{len}:{port}"),
    });
    let any_addr = (port(p), 0..3).prop_map(|(port, form)| match form {
        0 => "*".to_string(),
        1 => format!(":{port}"),
        _ => format!("*:{port}"),
    });
    prop_oneof![3 => v4_forms, 3 => v6_forms, 1 => any_addr].boxed()
}

const PORT_OPS: [&str; 17] = [
    "", "=", "==", "!=", "<", "<=", ">", ">=", "eq", "ne", "neq", "lt", "le", "leq", "gt", "ge",
    "geq",
];

const STATE_WORDS: [&str; 22] = [
    "established",
    "estab",
    "syn-sent",
    "syn-recv",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "TIME_WAIT",
    "closed",
    "close-wait",
    "last-ack",
    "listen",
    "listening",
    "closing",
    "new-syn-recv",
    "bound-inactive",
    "all",
    "connected",
    "synchronized",
    "bucket",
    "big",
    "LISTEN",
];

/// One condition, in one of its spellings.
fn cond(p: &Pools) -> BoxedStrategy<String> {
    let side_host = pick(vec!["dst", "src", "dst =", "src ==", "dst eq"]);
    let side_port = pick(vec!["dport", "sport"]);
    prop_oneof![
        4 => (side_host, host(p)).prop_map(|(w, h)| format!("{w} {h}")),
        3 => (side_port, pick(PORT_OPS.to_vec()), port(p), any::<bool>())
            .prop_map(|(w, op, port, colon)| format!("{w} {op} {}{port}", if colon { ":" } else { "" })),
        2 => pick(STATE_WORDS.to_vec()).prop_map(|s| format!("state {s}")),
        1 => (pick(vec!["exclude", "excl"]), pick(STATE_WORDS.to_vec()))
            .prop_map(|(w, s)| format!("{w} {s}")),
        1 => Just("autobound".to_string()),
        1 => (pick(vec!["dev", "dev =", "dev !=", "dev ne"]), pick(p.devs.clone()))
            .prop_map(|(w, d)| format!("{w} {d}")),
    ]
    .boxed()
}

/// A whole filter: conditions joined by `and`/`or` (in their spellings, or side by side), negated,
/// parenthesised, nested.
fn filter_text(p: &Pools) -> BoxedStrategy<String> {
    cond(p)
        .prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                (pick(vec!["not ", "! ", "!"]), inner.clone())
                    .prop_map(|(n, e)| format!("{n}({e})")),
                (pick(vec!["not ", "! "]), inner.clone()).prop_map(|(n, e)| format!("{n}{e}")),
                (
                    proptest::collection::vec(inner.clone(), 2..4),
                    pick(vec![" and ", " && ", " & ", " "])
                )
                    .prop_map(|(items, op)| format!("({})", items.join(op))),
                (
                    proptest::collection::vec(inner.clone(), 2..4),
                    pick(vec![" or ", " || ", " | "])
                )
                    .prop_map(|(items, op)| format!("({})", items.join(op))),
                // Without parentheses: precedence decides.
                (inner.clone(), inner.clone(), inner)
                    .prop_map(|(a, b, c)| format!("{a} or {b} and {c}")),
            ]
        })
        .boxed()
}

/// A socket and the interface index it is bound to.
fn socket(p: &Pools) -> BoxedStrategy<(SockRecord, u32)> {
    let ends = prop_oneof![
        (v4(p), v4(p)).prop_map(|(a, b)| (IpAddr::V4(a), IpAddr::V4(b))),
        (v6(p), v6(p)).prop_map(|(a, b)| (IpAddr::V6(a), IpAddr::V6(b))),
    ];
    (
        ends,
        port(p),
        port(p),
        pick(TcpState::ALL.to_vec()),
        pick(p.devs.clone()),
    )
        .prop_map(|((local, remote), sport, dport, state, ifindex)| {
            let record = SockRecord {
                dev: BoundDev::from_kernel(ifindex),
                ..SockRecord::new(
                    Endpoint::new(local, sport),
                    Endpoint::new(remote, dport),
                    state,
                )
            };
            (record, ifindex)
        })
        .boxed()
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The kernel's verdict on a socket: in the state mask, and accepted by the bytecode in the
/// transcribed interpreter.
fn interpreted(k: &KernelFilter, record: &SockRecord, ifindex: u32) -> Result<bool, TestCaseError> {
    if k.states & record.state.mask_bit() == 0 {
        return Ok(false);
    }
    if k.bytecode.is_empty() {
        return Ok(true);
    }
    let program = Program::audit(&k.bytecode)
        .map_err(|e| TestCaseError::fail(format!("audit refuses {:?}: {e}", k.bytecode)))?;
    Ok(program.accepts(&Entry::new(record, ifindex)))
}

#[test]
fn compiled_programs_agree_with_the_evaluator() {
    let pools = Pools::synthetic();
    let mut runner = TestRunner::new(Config {
        cases: cases(2000),
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        filter_text(&pools),
        proptest::collection::vec(socket(&pools), 32),
    );
    let (exact, inexact, accepted) = (Cell::new(0u32), Cell::new(0u32), Cell::new(0u32));
    runner
        .run(&strategy, |(text, sockets)| {
            let filter = Filter::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("{text:?} does not parse: {e}")))?;
            let printed = filter.expr().to_string();
            let again = Filter::parse(&printed).map_err(|e| {
                TestCaseError::fail(format!("{text:?} printed as {printed:?}: {e}"))
            })?;
            prop_assert_eq!(
                again.expr(),
                filter.expr(),
                "{:?} printed as {:?}",
                text,
                printed
            );
            let k = filter.kernel();
            let split = if k.exact { &exact } else { &inexact };
            split.set(split.get() + 1);
            for (record, ifindex) in &sockets {
                let (kernel, user) = (interpreted(&k, record, *ifindex)?, filter.matches(record));
                accepted.set(accepted.get() + u32::from(user));
                if k.exact {
                    prop_assert_eq!(kernel, user, "{:?} (exact) on {:?}", text, record);
                } else {
                    prop_assert!(kernel || !user, "{:?}: the kernel drops {:?}", text, record);
                }
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches both kinds of split and filters that match something.
    let (exact, inexact, accepted) = (exact.get(), inexact.get(), accepted.get());
    assert!(
        exact > 100 && inexact > 50,
        "{exact} exact, {inexact} inexact"
    );
    assert!(accepted > 1000, "only {accepted} matches");
}

/// The test's own sockets, kept open while it runs.
struct Sockets {
    ports: BTreeSet<u16>,
    v4: Vec<Ipv4Addr>,
    _keep: Vec<Box<dyn Send>>,
}

/// A socket bound to `ip` on an explicit port (one the kernel found free a moment before): bound by
/// the user, as `autobound` assumes of listeners and bound-only sockets.
fn bound(domain: socket2::Domain, ip: &str, device: Option<&[u8]>) -> socket2::Socket {
    use socket2::{Socket, Type};
    let any = SocketAddr::new(ip.parse().unwrap(), 0);
    let port = std::net::TcpListener::bind(any)
        .and_then(|probe| probe.local_addr())
        .unwrap_or_else(|e| panic!("find a free port on {ip}: {e}"))
        .port();
    let s = Socket::new(domain, Type::STREAM, None).unwrap();
    if domain == socket2::Domain::IPV6 {
        s.set_only_v6(ip != "::").unwrap();
    }
    s.bind_device(device).unwrap();
    s.bind(&SocketAddr::new(any.ip(), port).into())
        .unwrap_or_else(|e| panic!("bind {ip}:{port}: {e}"));
    s
}

fn listen(domain: socket2::Domain, ip: &str, device: Option<&[u8]>) -> TcpListener {
    let s = bound(domain, ip, device);
    s.listen(16).unwrap();
    s.into()
}

/// Listeners on 127.0.0.1-3, [::1] and a dual-stack [::] (one bound to `lo`), connections to each,
/// an IPv4 client of the dual-stack listener (IPv4-mapped server side), TIME_WAIT, a FIN_WAIT2 /
/// CLOSE_WAIT pair and a socket bound but neither listening nor connected.
fn open_sockets() -> Sockets {
    use socket2::Domain;
    let mut keep: Vec<Box<dyn Send>> = Vec::new();
    let mut ports = BTreeSet::new();
    let listeners = vec![
        listen(Domain::IPV4, "127.0.0.1", None),
        listen(Domain::IPV4, "127.0.0.2", None),
        listen(Domain::IPV6, "::1", None),
        listen(Domain::IPV6, "::", None),
        listen(Domain::IPV4, "127.0.0.3", Some(b"lo")),
    ];
    let connect = |l: &TcpListener, to: SocketAddr| -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(to).unwrap();
        let (server, _) = l.accept().unwrap();
        (client, server)
    };
    let addr = |l: &TcpListener| l.local_addr().unwrap();
    let dual_v4 = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr(&listeners[3]).port());
    let mut pairs = Vec::new();
    for (i, to) in [0, 1, 2, 4, 0]
        .into_iter()
        .map(|i| (i, addr(&listeners[i])))
        .chain([(3, dual_v4)])
    {
        pairs.push(connect(&listeners[i], to));
    }
    // TIME_WAIT on the client: it closes first, the server reads the end and closes.
    for i in [0, 2] {
        let (client, mut server) = connect(&listeners[i], addr(&listeners[i]));
        ports.insert(client.local_addr().unwrap().port());
        client.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).unwrap();
        drop(server);
        drop(client);
    }
    // FIN_WAIT2 (client) and CLOSE_WAIT (server).
    let (half, server) = connect(&listeners[1], addr(&listeners[1]));
    half.shutdown(Shutdown::Write).unwrap();
    pairs.push((half, server));
    let bound = bound(Domain::IPV4, "127.0.0.4", None);
    ports.insert(bound.local_addr().unwrap().as_socket().unwrap().port());
    keep.push(Box::new(bound));
    for l in &listeners {
        ports.insert(addr(l).port());
    }
    for (client, server) in pairs {
        ports.insert(client.local_addr().unwrap().port());
        keep.push(Box::new(client));
        keep.push(Box::new(server));
    }
    for l in listeners {
        keep.push(Box::new(l));
    }
    Sockets {
        ports,
        v4: ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
            .map(|a| a.parse().unwrap())
            .to_vec(),
        _keep: keep,
    }
}

type Tuple = (u8, Endpoint, Endpoint);

fn tuple(r: &SockRecord) -> Tuple {
    (r.state.kernel_number(), r.local, r.remote)
}

/// Runs a sample of random filters as real sock_diag dumps and compares each with the evaluator on
/// an unfiltered dump.
fn kernel_sample(in_private_netns: bool) {
    let mut collector = Collector::open();
    if collector.source() != Source::Netlink {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "netlink sock_diag is unavailable"
        );
        eprintln!("SKIPPED the_kernel_agrees_with_the_evaluator: netlink sock_diag is unavailable");
        return;
    }
    let sockets = open_sockets();
    let ours = |r: &SockRecord| {
        in_private_netns
            || sockets.ports.contains(&r.local.port)
            || sockets.ports.contains(&r.remote.port)
    };
    let everything = KernelFilter {
        states: ALL_STATES,
        bytecode: Vec::new(),
        exact: true,
    };
    let dump_all = |collector: &mut Collector| {
        let mut all = Vec::new();
        collector
            .dump_kernel(Families::BOTH, &everything, &mut all)
            .unwrap();
        all.retain(|r| ours(r));
        all
    };
    // The half-closed client leaves FIN_WAIT1 when the server's delayed ACK comes: wait for it, so
    // that no socket changes state during the comparisons.
    let started = std::time::Instant::now();
    let all = loop {
        let all = dump_all(&mut collector);
        if !all.iter().any(|r| r.state == TcpState::FinWait1) {
            break all;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "a socket stays in FIN_WAIT1: {all:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(
        all.len() >= 20,
        "only {} sockets dumped: {all:?}",
        all.len()
    );
    let pools = Pools {
        v4: [sockets.v4.clone(), vec![Ipv4Addr::UNSPECIFIED]].concat(),
        v6: vec![
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::UNSPECIFIED,
            Ipv4Addr::LOCALHOST.to_ipv6_mapped(),
        ],
        ports: sockets.ports.iter().copied().chain([0]).collect(),
        devs: vec![0, 1, 2],
    };
    let mut runner = TestRunner::new(Config {
        cases: cases(200).min(400),
        failure_persistence: None,
        ..Config::default()
    });
    let collector = RefCell::new(collector);
    let with_bytecode = Cell::new(0u32);
    runner
        .run(&filter_text(&pools), |text| {
            let filter = Filter::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let k = filter.kernel();
            with_bytecode.set(with_bytecode.get() + u32::from(!k.bytecode.is_empty()));
            let collector = &mut *collector.borrow_mut();
            let mut dumped = Vec::new();
            collector
                .dump_kernel(Families::BOTH, &k, &mut dumped)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
            let kernel: BTreeSet<Tuple> = dumped.iter().filter(|r| ours(r)).map(tuple).collect();
            let all = dump_all(collector);
            let user: BTreeSet<Tuple> = all
                .iter()
                .filter(|r| filter.matches(r))
                .map(tuple)
                .collect();
            if k.exact {
                prop_assert!(
                    kernel == user,
                    "{:?} (exact): only the kernel {:?}, only the evaluator {:?}",
                    text,
                    kernel.difference(&user).collect::<Vec<_>>(),
                    user.difference(&kernel).collect::<Vec<_>>()
                );
            } else {
                prop_assert!(
                    kernel.is_superset(&user),
                    "{:?}: the kernel drops {:?}",
                    text,
                    user.difference(&kernel).collect::<Vec<_>>()
                );
            }
            Ok(())
        })
        .unwrap();
    let with_bytecode = with_bytecode.get();
    assert!(with_bytecode > 50, "{with_bytecode} filters ran bytecode");
}

#[test]
fn the_kernel_agrees_with_the_evaluator() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let ns = common::Netns::new("filter_property");
        ns.run(|| kernel_sample(true));
    } else {
        kernel_sample(false);
    }
}

/// Found by the filter fuzz target: on a socket bound to an interface index from 255 up, a record
/// keeps only "255 or more" (`BoundDev`), so the evaluator cannot decide `dev N` there. The kernel
/// can, and `Filter::kernel` calls `dev` exact, so a netlink dump never asks the evaluator: the
/// kernel's verdict is the one used. (The fuzz target now draws interface indexes below 255.)
#[test]
fn dev_on_large_interface_indexes_is_left_to_the_kernel() {
    let filter = Filter::parse(" dev !=00000800009").unwrap();
    assert_eq!(filter.expr().to_string(), "not dev 800009");
    let k = filter.kernel();
    assert!(k.exact && !k.bytecode.is_empty());
    let record = SockRecord {
        dev: BoundDev::from_kernel(301),
        ..SockRecord::new(
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            TcpState::SynSent,
        )
    };
    let program = Program::audit(&k.bytecode).unwrap();
    assert!(
        program.accepts(&Entry::new(&record, 301)),
        "bound to 301, not 800009"
    );
    assert!(!program.accepts(&Entry::new(&record, 800009)));
    assert!(
        !filter.matches(&record),
        "the record cannot tell 301 from 800009"
    );
}

/// The audit transcribed in `filter::interp` refuses exactly the programs the kernel refuses: compiled
/// programs with one byte changed (a jump, a length, an operand, a code) are sent as real dumps
/// (listeners only, to keep them small), and the kernel's EINVAL is compared with
/// `Program::audit`.
#[test]
fn the_kernel_audit_agrees_with_the_transcribed_one() {
    let collector = Collector::open();
    if collector.source() != Source::Netlink {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "netlink sock_diag is unavailable"
        );
        eprintln!("SKIPPED the_kernel_audit_agrees_with_the_transcribed_one: no sock_diag");
        return;
    }
    let collector = RefCell::new(collector);
    let pools = Pools::synthetic();
    let mut runner = TestRunner::new(Config {
        cases: cases(300).min(1000),
        failure_persistence: None,
        ..Config::default()
    });
    let (refused, accepted) = (Cell::new(0u32), Cell::new(0u32));
    let strategy = (
        filter_text(&pools),
        any::<prop::sample::Index>(),
        any::<u8>(),
    );
    runner
        .run(&strategy, |(text, at, byte)| {
            let filter = Filter::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut bytecode = filter.kernel().bytecode;
            if bytecode.is_empty() {
                return Ok(());
            }
            let at = at.index(bytecode.len());
            bytecode[at] = byte;
            let ours = Program::audit(&bytecode).map(|_| ());
            let k = KernelFilter {
                states: TcpState::Listen.mask_bit(),
                bytecode,
                exact: true,
            };
            let mut out = Vec::new();
            let kernel = collector
                .borrow_mut()
                .dump_kernel(Families::BOTH, &k, &mut out);
            match (&ours, &kernel) {
                (Ok(_), Ok(())) => accepted.set(accepted.get() + 1),
                (Err(_), Err(portradar::collect::CollectError::Kernel { errno, .. }))
                    if *errno == libc::EINVAL =>
                {
                    refused.set(refused.get() + 1)
                }
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "{:?} byte {at} set to {byte}: ours {ours:?}, the kernel's {kernel:?}",
                        k.bytecode
                    )));
                }
            }
            Ok(())
        })
        .unwrap();
    let (refused, accepted) = (refused.get(), accepted.get());
    assert!(
        refused > 20 && accepted > 20,
        "{refused} refused, {accepted} accepted"
    );
}
