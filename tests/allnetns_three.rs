//! `snapshot --all-netns`: three namespaces with different workloads and port ranges are each read
//! in itself (totals equal to `ss -N` there, each its own range); a namespace with no process in it
//! (an `ip netns add` bind mount) is found, and so is one found only through `/proc/PID/ns/net`
//! (an `unshare -n` child). `--netns PID` and `--netns /proc/PID/ns/net` read that process's
//! namespace.

mod common;

use common::Netns;
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};

/// Opens a listener and `n` connections to it inside `ns`, kept open by the caller.
fn workload(ns: &Netns, n: usize) -> (TcpListener, Vec<TcpStream>, Vec<TcpStream>) {
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = listener.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..n).map(|_| TcpStream::connect(to).unwrap()).collect();
        let servers = (0..n).map(|_| listener.accept().unwrap().0).collect();
        (listener, clients, servers)
    })
}

/// The snapshot of the namespace labelled `label` in an `--all-netns` document.
fn namespace<'a>(doc: &'a Value, label: &str) -> &'a Value {
    doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["netns"] == label)
        .unwrap_or_else(|| panic!("namespace {label} not listed"))
}

/// A child alone in a new network namespace (`unshare -n`), with lo up and a listener on `port`;
/// killed on drop.
struct Unshared(Child);

impl Unshared {
    fn start(port: u16) -> Unshared {
        let script = format!(
            "ip link set lo up && exec python3 -c 'import socket,sys; s=socket.socket(); s.bind((\"127.0.0.1\", {port})); s.listen(); print(\"ready\", flush=True); sys.stdin.read()'"
        );
        let mut child = Command::new("unshare")
            .args(["-n", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start unshare");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready");
        Unshared(child)
    }
}

impl Drop for Unshared {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_namespace_is_read_in_itself() {
    let Some(a) = Netns::for_test("ana") else {
        return;
    };
    let b = Netns::new("anb");
    let empty = Netns::new("anc");
    a.ports(20000, 20099, 1);
    b.ports(30000, 30999, 0);
    empty.ports(40000, 40009, 2);
    let _wa = workload(&a, 7);
    let _wb = workload(&b, 3);
    let alone = Unshared::start(45678);
    let doc = common::portradar_json(&["snapshot", "--all-netns", "--format", "json"]);
    assert_eq!(doc["version"], Value::from(1));
    for (ns, low, high, reuse) in [
        (&a, 20000, 20099, 1),
        (&b, 30000, 30999, 0),
        (&empty, 40000, 40009, 2),
    ] {
        let snap = namespace(&doc, &ns.name);
        assert_eq!(snap["port_range"]["low"], Value::from(low), "{}", ns.name);
        assert_eq!(snap["port_range"]["high"], Value::from(high), "{}", ns.name);
        assert_eq!(
            snap["sysctls"]["tcp_tw_reuse"],
            Value::from(reuse),
            "{}",
            ns.name
        );
        let ss = common::ss_in(&ns.name, "", &[]);
        assert_eq!(
            snap["totals"]["sockets"].as_u64().unwrap(),
            ss.len() as u64,
            "{}: {ss:?}",
            ns.name
        );
    }
    assert_eq!(
        namespace(&doc, &a.name)["totals"]["sockets"],
        Value::from(15)
    );
    assert_eq!(
        namespace(&doc, &b.name)["totals"]["sockets"],
        Value::from(7)
    );
    assert_eq!(
        namespace(&doc, &empty.name)["totals"]["sockets"],
        Value::from(0)
    );
    let pid = alone.0.id();
    let unnamed = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["netns"]
                .as_str()
                .is_some_and(|l| l.contains(&format!("pid {pid} (")))
        })
        .expect("the unshare child's namespace is found through /proc");
    assert_eq!(unnamed["totals"]["sockets"], Value::from(1));
    assert_eq!(unnamed["totals"]["by_state"]["LISTEN"], Value::from(1));
}

#[test]
fn netns_by_pid_and_by_proc_path_read_that_process_namespace() {
    if !common::have_root("netns_by_pid_and_by_proc_path_read_that_process_namespace") {
        return;
    }
    let alone = Unshared::start(45679);
    let pid = alone.0.id().to_string();
    let path = format!("/proc/{pid}/ns/net");
    for spec in [pid.as_str(), path.as_str()] {
        let doc =
            common::portradar_json(&["snapshot", "--netns", spec, "--format", "json", "--sockets"]);
        assert_eq!(doc["netns"], Value::from(spec));
        let sockets = doc["sockets"].as_array().unwrap();
        assert_eq!(sockets.len(), 1, "{spec}: {sockets:?}");
        assert_eq!(sockets[0]["state"], Value::from("LISTEN"));
        assert_eq!(sockets[0]["local"], Value::from("127.0.0.1:45679"));
    }
}

#[test]
fn all_netns_refuses_one_namespace_and_watch_as_usage_errors() {
    for args in [
        &["snapshot", "--all-netns", "-N", "x"][..],
        &["snapshot", "--all-netns", "--watch", "1000"],
        &["--all-netns", "--netns", "x"],
    ] {
        let out = common::portradar(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--all-netns"), "{args:?}: {stderr}");
    }
}
