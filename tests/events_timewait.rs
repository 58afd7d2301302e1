//! With allocator events, the process that called connect() is known at once and survives into
//! TIME_WAIT (where `/proc` knows no owner): `snapshot --watch --processes` names a child that
//! connected and closed as the consumer of its TIME_WAIT sockets. Root only (BPF and namespaces).

mod common;

use common::{Netns, have_root, serve_until_eof};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

const REMOTE: &str = "127.0.0.1:50003";
const CONNECTIONS: usize = 3;

#[test]
fn a_childs_time_wait_sockets_name_it_as_their_consumer() {
    if !have_root("TIME_WAIT attribution from events") {
        return;
    }
    let ns = Netns::new("evtw");
    let listener = ns.run(|| TcpListener::bind(REMOTE).expect("listen"));
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| serve_until_eof(&listener, &stop));
        let mut child = Command::new(env!("CARGO_BIN_EXE_portradar"))
            .args([
                "snapshot", "--watch", "200", "--count", "50", "--format", "json",
            ])
            .args(["--processes", "--netns", &ns.name, "dst", REMOTE])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start portradar snapshot --watch");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut next = || -> Option<Value> {
            let line = lines.next()?.expect("read stdout");
            Some(serde_json::from_str(&line).expect("JSON"))
        };
        // The first object means events are live.
        let first = next().expect("a first snapshot");
        assert_eq!(first["events"]["source"], "bpf", "{first}");
        // The client connects, writes nothing and closes first: its ends go to TIME_WAIT.
        let connects: String = (0..CONNECTIONS)
            .map(|_| "exec 3<>/dev/tcp/127.0.0.1/50003; exec 3>&-; ".to_string())
            .collect();
        let client = Command::new("ip")
            .args(["netns", "exec", &ns.name, "bash", "-c"])
            .arg(format!("{connects} echo $$"))
            .output()
            .expect("run the client");
        let pid: u64 = String::from_utf8_lossy(&client.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the client's pid: {client:?}"));
        let consumer = loop {
            let snap = next().expect("the TIME_WAIT sockets show before the watch ends");
            let Some(d) = (snap["destinations"].as_array().into_iter().flatten())
                .find(|d| d["remote"] == REMOTE)
            else {
                continue;
            };
            let consumers = d["consumers"].as_array().cloned().unwrap_or_default();
            let tw = |c: &Value| c["by_state"]["TIME_WAIT"].as_u64().unwrap_or(0);
            if consumers.iter().map(tw).sum::<u64>() == CONNECTIONS as u64 {
                break consumers
                    .into_iter()
                    .find(|c| tw(c) > 0)
                    .expect("a TIME_WAIT consumer");
            }
        };
        let _ = child.kill();
        let _ = child.wait();
        stop.store(true, Ordering::Relaxed);
        assert_eq!(consumer["pid"].as_u64(), Some(pid), "{consumer}");
        assert_eq!(consumer["comm"], "bash", "{consumer}");
        assert_eq!(consumer["by_state"]["TIME_WAIT"], CONNECTIONS, "{consumer}");
    });
}
