//! `portradar events` against the kernel: picks, failures, bound and no-port connects, namespaces,
//! losses under load, and the one-line refusal without privilege. Root only (BPF and namespaces).

mod common;

use common::{Netns, have_root};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long portradar may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `portradar events --format json`, attached (its readiness line was read).
struct Events {
    child: Child,
    stdout: Option<JoinHandle<Vec<String>>>,
}

impl Events {
    /// Starts `portradar events --format json ARGS` and waits until it says it is attached.
    fn start(args: &[&str]) -> Events {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portradar"))
            .args(["events", "--format", "json"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portradar events");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr.read_line(&mut line).expect("read stderr");
        if !line.contains("events attached") {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            let _ = child.kill();
            panic!("portradar events did not attach: {line}{rest}");
        }
        // Drained concurrently so a full pipe never blocks portradar.
        let out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map(|l| l.expect("read stdout"))
                .collect()
        });
        Events {
            child,
            stdout: Some(stdout),
        }
    }

    /// Sends SIGTERM, checks the clean exit, and returns every JSON line printed.
    fn stop(mut self) -> Vec<Value> {
        // SAFETY: kill on the pid of a child we own and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait portradar") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "portradar events ignored SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "portradar events exited with {status}");
        let lines = self.stdout.take().expect("stdout").join().expect("reader");
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn kind(e: &Value) -> &str {
    e["kind"].as_str().unwrap_or_default()
}

fn local_port(e: &Value) -> u16 {
    e["local"]
        .as_str()
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map_or(0, |a| a.port())
}

/// The events toward `remote` (`127.0.0.1:50001`).
fn toward<'a>(events: &'a [Value], remote: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["remote"] == remote).collect()
}

/// The inode of a named namespace, as events report it.
fn netns_inode(ns: &Netns) -> u64 {
    std::fs::metadata(format!("/run/netns/{}", ns.name))
        .expect("stat the namespace")
        .ino()
}

fn listen(ns: &Netns, addr: &str) -> TcpListener {
    let addr: SocketAddr = addr.parse().unwrap();
    ns.run(|| TcpListener::bind(addr).expect("listen"))
}

#[test]
fn a_small_range_gives_four_picks_even_first_then_a_failure_all_from_the_caller() {
    if !have_root("events picks and failure") {
        return;
    }
    let ns = Netns::new("evpick");
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40003");
    let _listener = listen(&ns, "127.0.0.1:50001");
    let events = Events::start(&["--netns", &ns.name]);
    // A child process makes five connect()s and keeps the four that succeed open until it exits.
    let connects: String = (3..8)
        .map(|fd| format!("exec {fd}<>/dev/tcp/127.0.0.1/50001; "))
        .collect();
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "bash", "-c", &connects])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the client");
    let pid = u64::from(child.id());
    let out = child.wait_with_output().expect("client");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Cannot assign requested address"),
        "the fifth connect() should fail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = events.stop();
    let seen = toward(&all, "127.0.0.1:50001");
    let kinds: Vec<&str> = seen.iter().map(|e| kind(e)).collect();
    assert_eq!(kinds, ["pick", "pick", "pick", "pick", "fail"], "{all:#?}");
    let ports: Vec<u16> = seen[..4].iter().map(|e| local_port(e)).collect();
    let mut sorted = ports.clone();
    sorted.sort();
    assert_eq!(sorted, [40000, 40001, 40002, 40003], "picks {ports:?}");
    assert!(
        ports[..2].iter().all(|p| p % 2 == 0),
        "even ports first: {ports:?}"
    );
    assert_eq!(local_port(seen[4]), 0, "a failure has no port");
    for e in &seen {
        assert_eq!(e["pid"], pid, "{e}");
        assert_eq!(e["comm"], "bash", "{e}");
        assert_eq!(e["netns"], netns_inode(&ns), "{e}");
    }
}

/// IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const IP_BIND_ADDRESS_NO_PORT: libc::c_int = 24;

#[test]
fn bind_before_connect_is_bound_and_an_address_only_bind_is_no_port() {
    if !have_root("events bound and no_port") {
        return;
    }
    let ns = Netns::new("evbind");
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40003");
    let _listener = listen(&ns, "127.0.0.1:50001");
    let events = Events::start(&["--netns", &ns.name]);
    let (bound, no_port) = ns.run(|| {
        use socket2::{Domain, Socket, Type};
        let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        bound
            .bind(&"127.0.0.1:41000".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        bound
            .connect(&"127.0.0.1:50001".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let no_port = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on an open socket with a pointer to a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                no_port.as_raw_fd(),
                libc::IPPROTO_IP,
                IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "IP_BIND_ADDRESS_NO_PORT");
        no_port
            .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        no_port
            .connect(&"127.0.0.1:50001".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        (bound, no_port)
    });
    let no_port_local = no_port.local_addr().unwrap().as_socket().unwrap();
    let all = events.stop();
    let seen = toward(&all, "127.0.0.1:50001");
    assert_eq!(seen.len(), 2, "{all:#?}");
    assert_eq!(kind(seen[0]), "bound");
    assert_eq!(seen[0]["local"], "127.0.0.1:41000");
    assert_eq!(kind(seen[1]), "no_port");
    assert_eq!(seen[1]["local"], no_port_local.to_string());
    assert!((40000..=40003).contains(&no_port_local.port()));
    for e in &seen {
        assert_eq!(e["pid"], u64::from(std::process::id()), "{e}");
    }
    // The cookie is sock_diag's: `ss -e` prints it as `sk:HEX`.
    assert_eq!(
        seen[0]["cookie"],
        ss_cookie(&ns, 41000),
        "the event joins the socket table"
    );
    drop(bound);
}

/// The cookie `ss -e` shows for the socket on local port `port`.
fn ss_cookie(ns: &Netns, port: u16) -> u64 {
    let out = ns.exec(&["ss", "-Htne", "sport", "=", &port.to_string()]);
    let hex = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sk:"))
        .unwrap_or_else(|| panic!("no cookie in {out:?}"));
    u64::from_str_radix(hex, 16).expect("hex cookie")
}

#[test]
fn another_namespace_shows_only_with_all_netns() {
    if !have_root("events namespaces") {
        return;
    }
    let here = Netns::new("evhere");
    let other = Netns::new("evother");
    let _l_here = listen(&here, "127.0.0.1:50001");
    let _l_other = listen(&other, "127.0.0.1:50002");
    let own = Events::start(&["--netns", &here.name]);
    let every = Events::start(&["--netns", &here.name, "--all-netns", "dport", "=", "50002"]);
    let _a = here.run(|| TcpStream::connect("127.0.0.1:50001").unwrap());
    let _b = other.run(|| TcpStream::connect("127.0.0.1:50002").unwrap());
    let own = own.stop();
    let every = every.stop();

    let picks_here = toward(&own, "127.0.0.1:50001");
    assert_eq!(picks_here.len(), 1, "its own namespace is shown: {own:#?}");
    assert_eq!(picks_here[0]["netns"], netns_inode(&here));
    assert!(
        own.iter().all(|e| e["netns"] == netns_inode(&here)),
        "only its own namespace: {own:#?}"
    );
    assert!(toward(&own, "127.0.0.1:50002").is_empty());

    let picks_other = toward(&every, "127.0.0.1:50002");
    assert_eq!(picks_other.len(), 1, "{every:#?}");
    assert_eq!(picks_other[0]["netns"], netns_inode(&other));
    assert!(
        toward(&every, "127.0.0.1:50001").is_empty(),
        "the filter applies: {every:#?}"
    );
}

/// Makes `n` short connections to `port` in `ns` at full speed (an acceptor closes each one at once);
/// with `reset`, the client closes with a reset (SO_LINGER 0) instead of the closing handshake.
fn short_connections(ns: &Netns, port: u16, n: u64, reset: bool) {
    let listener = listen(ns, &format!("127.0.0.1:{port}"));
    let accepting = std::thread::spawn(move || {
        for _ in 0..n {
            drop(listener.accept().expect("accept"));
        }
    });
    let to: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    ns.run(|| {
        for _ in 0..n {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            if reset {
                s.set_linger(Some(Duration::ZERO)).unwrap();
            }
            s.connect(&to.into()).expect("connect");
        }
    });
    accepting.join().expect("acceptor");
}

/// The picks and the lost records among the events.
fn picks_and_lost(all: &[Value]) -> (u64, u64) {
    let picks = all.iter().filter(|e| kind(e) == "pick").count() as u64;
    let lost = all
        .iter()
        .filter(|e| kind(e) == "lost")
        .map(|e| e["count"].as_u64().unwrap_or(0))
        .sum();
    (picks, lost)
}

/// Every connection is a pick, or its record was lost: lost records (each hides at most one pick,
/// and some are other sockets' changes) cover the missing picks, and no loss means no missing pick.
fn assert_accounted(picks: u64, lost: u64, connections: u64) {
    let line = format!("{picks} picks and {lost} lost records for {connections} connections");
    assert!(picks <= connections, "{line}");
    assert!(picks + lost >= connections, "{line}");
    if lost == 0 {
        assert_eq!(picks, connections, "{line}");
    }
}

#[test]
fn two_thousand_short_connections_are_all_picks_or_counted_lost() {
    if !have_root("events under load") {
        return;
    }
    const CONNECTIONS: u64 = 2000;
    let ns = Netns::new("evload");
    let events = Events::start(&["--netns", &ns.name, "dport", "=", "50003"]);
    short_connections(&ns, 50003, CONNECTIONS, false);
    let (picks, lost) = picks_and_lost(&events.stop());
    assert_accounted(picks, lost, CONNECTIONS);
}

#[test]
fn a_reader_that_falls_behind_reports_its_losses() {
    if !have_root("events losses") {
        return;
    }
    // About six records per connection closed with a reset (three state changes at each end):
    // 120,000 records, three times what the 4 MiB ring buffer holds (about 40,000 records of 104
    // bytes), while portradar is stopped.
    const CONNECTIONS: u64 = 20_000;
    let ns = Netns::new("evlost");
    let events = Events::start(&["--netns", &ns.name, "dport", "=", "50004"]);
    let pid = events.child.id() as i32;
    // SAFETY: signals to a child we own and have not reaped.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    short_connections(&ns, 50004, CONNECTIONS, true);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let (picks, lost) = picks_and_lost(&events.stop());
    assert!(
        lost > 0,
        "the ring buffer overflowed: {picks} picks, no loss reported"
    );
    assert_accounted(picks, lost, CONNECTIONS);
}

#[test]
fn without_privilege_events_exit_1_with_one_line_saying_why() {
    if !have_root("events without privilege") {
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_portradar"))
        .arg("events")
        .output()
        .expect("run setpriv");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("events unavailable") && stderr.contains("CAP_BPF"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
