//! `portradar export` against the real thing: `promtool check metrics` accepts what it serves; in a
//! private namespace, the headroom gauge equals the `free` of `portradar snapshot`, and a real
//! Prometheus server scraping the exporter returns the same values from its query API; the textfile
//! is never seen half-written; a 1 MB request and slow clients do not stop the exporter serving.
//!
//! Tests needing Prometheus (Debian package `prometheus`) skip without it, and fail under CI=true.

mod common;

use common::netns::Netns;
use common::{have_tool, portradar_json};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The end marker of every exposition.
const END: &str = "# EOF\n";

/// A running `portradar export`, killed on drop.
struct Exporter {
    child: Child,
    /// Where it serves `/metrics` (inside its namespace, with `-N`).
    addr: Option<SocketAddr>,
}

impl Exporter {
    /// Starts `portradar export ARGS`; when it serves HTTP (with `--listen`, or without `--textfile`),
    /// waits for the line saying where.
    fn start(args: &[&str]) -> Exporter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_portradar"))
            .arg("export")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portradar export");
        let serves = args.contains(&"--listen") || !args.contains(&"--textfile");
        let addr = serves.then(|| {
            let stderr = child.stderr.take().expect("stderr");
            let mut line = String::new();
            BufReader::new(stderr)
                .read_line(&mut line)
                .expect("read stderr");
            let addr = line
                .trim()
                .strip_prefix("portradar: serving metrics on http://")
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .unwrap_or_else(|| panic!("portradar export said: {line}"));
            addr.parse().expect("listening address")
        });
        Exporter { child, addr }
    }

    fn addr(&self) -> SocketAddr {
        self.addr.expect("serving HTTP")
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process (Prometheus), killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on `addr` with HTTP/1.0: the status code and the body, within `timeout`.
fn get(addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// The exposition, once it has a line starting with `wanted` (rates need a second refresh).
fn scrape_until(addr: SocketAddr, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = get(addr, "/metrics", Duration::from_secs(10)).expect("scrape");
        assert_eq!(code, 200, "{body}");
        if body.lines().any(|l| l.starts_with(wanted)) {
            return body;
        }
        assert!(Instant::now() < deadline, "no {wanted} in:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A destination of this test's own: a listener and a connection to it, kept open.
fn own_destination() -> (TcpListener, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let server = listener.accept().expect("accept").0;
    (listener, client, server)
}

#[test]
fn promtool_accepts_the_exposition() {
    if !have_tool("promtool", "prometheus", "promtool_accepts_the_exposition") {
        return;
    }
    let _dest = own_destination();
    let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--interval", "200"]);
    // With a second refresh, rates and forecasts are in as well.
    let text = scrape_until(
        exporter.addr(),
        "portradar_destination_sustainable_per_second{",
    );
    assert!(text.ends_with(END));
    promtool_check(&text);
}

/// `promtool check metrics` accepts `text`.
fn promtool_check(text: &str) {
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Port range of the namespace workload.
const LOW: u16 = 40000;
const HIGH: u16 = 40999;
const DST: &str = "127.0.0.2:5000";
const CONNECTIONS: usize = 10;
const TIME_WAITS: usize = 4;

/// In `ns`: a listener on [`DST`] and [`CONNECTIONS`] connections to it from 127.0.0.1, the first
/// [`TIME_WAITS`] closed client-first into TIME_WAIT. Returns what must stay open.
fn workload(ns: &Netns) -> Vec<TcpStream> {
    ns.ports(LOW, HIGH, 0);
    ns.run(|| {
        let listener = TcpListener::bind(DST).expect("listen");
        let mut open = Vec::new();
        for i in 0..CONNECTIONS {
            let client = TcpStream::connect(DST).expect("connect");
            let mut server = listener.accept().expect("accept").0;
            if i < TIME_WAITS {
                drop(client);
                assert_eq!(server.read(&mut [0u8; 1]).expect("read EOF"), 0);
            } else {
                open.extend([client, server]);
            }
        }
        open
    })
}

/// The snapshot's `free` for 127.0.0.1 toward [`DST`], its ports used and its TIME_WAIT count.
fn snapshot_values(ns: &Netns) -> (f64, f64, f64) {
    let doc = portradar_json(&["snapshot", "-N", &ns.name, "--format", "json"]);
    let dest = doc["destinations"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["remote"] == DST))
        .unwrap_or_else(|| panic!("no {DST} in the snapshot"));
    let free = dest["headroom"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["local_ip"] == "127.0.0.1"))
        .and_then(|h| h["free"].as_f64())
        .expect("headroom of 127.0.0.1");
    let used = dest["ports_in_range"].as_f64().expect("ports_in_range");
    let time_wait = dest["by_state"]["TIME_WAIT"].as_f64().unwrap_or(0.0);
    (free, used, time_wait)
}

/// The exporter's port in the test namespaces: outside the range, so its listener blocks no port
/// of it.
const LISTEN: &str = "127.0.0.1:9870";

const LABELS: &str = r#"{src="127.0.0.1",dst="127.0.0.2",dport="5000"}"#;

#[test]
fn headroom_gauge_equals_the_snapshot_free() {
    let Some(ns) = Netns::for_test("export_headroom") else {
        return;
    };
    let _open = workload(&ns);
    let exporter = Exporter::start(&["-N", &ns.name, "--listen", LISTEN]);
    let addr = exporter.addr();
    let text = ns.run(|| scrape_until(addr, "portradar_destination_headroom_ports{"));
    let (free, used, time_wait) = snapshot_values(&ns);
    let series = |name: &str| sample(&text, &format!("{name}{LABELS}"));
    assert_eq!(series("portradar_destination_headroom_ports"), Some(free));
    assert_eq!(free, f64::from(HIGH - LOW + 1) - CONNECTIONS as f64);
    assert_eq!(series("portradar_destination_ports_used"), Some(used));
    assert_eq!(
        series("portradar_destination_time_wait_sockets"),
        Some(time_wait)
    );
    assert_eq!(time_wait, TIME_WAITS as f64);
    assert_eq!(
        sample(&text, "portradar_local_port_range_ports"),
        Some(f64::from(HIGH - LOW + 1))
    );
}

#[test]
fn it_listens_on_loopback_port_9870_unless_told() {
    let Some(ns) = Netns::for_test("export_default") else {
        return;
    };
    let exporter = Exporter::start(&["-N", &ns.name]);
    assert_eq!(exporter.addr(), LISTEN.parse().unwrap());
    let (code, body) = ns
        .run(|| get(exporter.addr(), "/metrics", Duration::from_secs(10)))
        .expect("scrape");
    assert_eq!(code, 200);
    assert!(body.ends_with(END));
    let (code, _) = ns
        .run(|| get(exporter.addr(), "/", Duration::from_secs(10)))
        .expect("GET /");
    assert_eq!(code, 404);
}

/// `query` percent-encoded for a URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value Prometheus' query API returns for `query`, once it has one (`None` until then).
fn query(prometheus: SocketAddr, query: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", encode(query));
    let (code, body) = get(prometheus, &path, Duration::from_secs(5)).ok()?;
    if code != 200 {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
    doc["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Prometheus' own port in the test namespace (nothing else listens there).
const PROMETHEUS: &str = "127.0.0.1:19090";

/// Starts Prometheus in `ns`, scraping `target` every second, with its files under `dir`.
fn start_prometheus(ns: &Netns, target: SocketAddr, dir: &Path) -> Killed {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: portradar\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .expect("write the Prometheus config");
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("log file");
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "prometheus"])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={PROMETHEUS}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    Killed(child)
}

/// A directory of this test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("portradar-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn prometheus_scrapes_the_exporter_and_its_api_returns_the_same_values() {
    let test = "prometheus_scrapes_the_exporter";
    if !have_tool("prometheus", "prometheus", test) {
        return;
    }
    let Some(ns) = Netns::for_test("export_prom") else {
        return;
    };
    let _open = workload(&ns);
    let exporter = Exporter::start(&["-N", &ns.name, "--listen", LISTEN]);
    let target = exporter.addr();
    let text = ns.run(|| scrape_until(target, "portradar_destination_headroom_ports{"));
    let (free, used, _) = snapshot_values(&ns);
    let dir = TempDir::new("prometheus");
    let _prometheus = start_prometheus(&ns, target, &dir.0);
    let api: SocketAddr = PROMETHEUS.parse().unwrap();
    let wanted = [
        ("portradar_destination_headroom_ports", free),
        ("portradar_destination_ports_used", used),
    ];
    for (name, expected) in wanted {
        let promql = format!("{name}{LABELS}");
        assert_eq!(sample(&text, &promql), Some(expected), "the exporter's own");
        let deadline = Instant::now() + Duration::from_secs(90);
        let value = ns.run(|| {
            loop {
                if let Some(v) = query(api, &promql) {
                    return Some(v);
                }
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        let log = std::fs::read_to_string(dir.0.join("prometheus.log")).unwrap_or_default();
        assert_eq!(
            value,
            Some(expected),
            "{promql} from Prometheus; its log:\n{log}"
        );
    }
    let range = ns.run(|| query(api, "portradar_local_port_range_ports"));
    assert_eq!(range, Some(f64::from(HIGH - LOW + 1)));
}

#[test]
fn the_textfile_is_never_seen_half_written() {
    const REWRITES: usize = 20;
    let dir = TempDir::new("textfile");
    let path = dir.0.join("portradar.prom");
    let _exporter = Exporter::start(&[
        "--textfile",
        path.to_str().expect("utf-8 temp dir"),
        "--interval",
        "100",
    ]);
    // Every rewrite carries a new snapshot time: count the distinct ones read.
    let mut seen = std::collections::BTreeSet::new();
    let mut reads = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < REWRITES {
        assert!(
            Instant::now() < deadline,
            "{} rewrites seen in {reads} reads",
            seen.len()
        );
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => panic!("read {}: {e}", path.display()),
        };
        reads += 1;
        assert!(
            text.starts_with("# HELP ") && text.ends_with(END),
            "read {reads} is not whole:\n{text}"
        );
        let taken = text
            .lines()
            .find(|l| l.starts_with("portradar_snapshot_timestamp_seconds "))
            .expect("snapshot time")
            .to_string();
        seen.insert(taken);
    }
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".prom"))
        .collect();
    assert_eq!(names, ["portradar.prom"], "the collector sees one file");
}

/// What a misbehaving client got: the status code of a response, or how the connection ended.
fn outcome(s: &mut TcpStream) -> String {
    let mut response = Vec::new();
    match s.read_to_end(&mut response) {
        Ok(_) if !response.is_empty() => String::from_utf8_lossy(&response)
            .split("\r\n")
            .next()
            .unwrap_or("")
            .to_string(),
        Ok(_) => "closed".to_string(),
        Err(e) => format!("error: {}", e.kind()),
    }
}

#[test]
fn a_huge_request_and_slow_clients_do_not_stop_the_exporter() {
    let exporter = Exporter::start(&["--listen", "127.0.0.1:0", "--interval", "500"]);
    let addr = exporter.addr();
    scrape_until(addr, "portradar_build_info");
    let patience = Some(Duration::from_secs(15));
    // Silent: connects and sends nothing.
    let mut silent = TcpStream::connect(addr).expect("connect");
    silent.set_read_timeout(patience).unwrap();
    // Dribbling: one byte a second, never finishing its head.
    let dribbler = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(patience).unwrap();
        for byte in b"GET /metrics HTTP/1.1\r\nX: " {
            if s.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        outcome(&mut s)
    });
    // Huge: a 1 MB head.
    let huge = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(patience).unwrap();
        let mut request = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        request.resize(1 << 20, b'a');
        let sent = s.write_all(&request);
        (sent.is_ok(), outcome(&mut s))
    });
    // Meanwhile, normal scrapes are answered, each well within the slow clients' deadline.
    for _ in 0..3 {
        let (code, body) = get(addr, "/metrics", Duration::from_secs(3)).expect("a normal scrape");
        assert_eq!(code, 200);
        assert!(body.ends_with(END));
    }
    let (sent, huge) = huge.join().unwrap();
    // Refused at 8 KiB: the response, or (its unread rest reset the connection) an error.
    assert!(
        huge.contains(" 431 ") || huge.starts_with("error"),
        "the 1 MB request (sent whole: {sent}) got: {huge}"
    );
    let silent = outcome(&mut silent);
    assert!(silent.contains(" 408 "), "the silent client got: {silent}");
    let dribbled = dribbler.join().unwrap();
    assert!(
        dribbled.contains(" 408 ") || dribbled.starts_with("error"),
        "the dribbling client got: {dribbled}"
    );
    let (code, _) = get(addr, "/metrics", Duration::from_secs(3)).expect("a last scrape");
    assert_eq!(code, 200);
}

/// The sample of `series` once it is at least `least`, scraping until it is.
fn scrape_at_least(addr: SocketAddr, series: &str, least: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape_until(addr, series);
        if sample(&text, series).is_some_and(|v| v >= least) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} below {least} in:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn connect_failures_of_a_child_exhausting_the_range_are_served() {
    let Some(ns) = Netns::for_test("export_events") else {
        return;
    };
    ns.sysctl("net.ipv4.ip_local_port_range", "40000 40003");
    let _listener = ns.run(|| TcpListener::bind("127.0.0.1:50002").expect("listen"));
    let exporter = Exporter::start(&["-N", &ns.name, "--listen", LISTEN, "--interval", "200"]);
    let addr = exporter.addr();
    // Events attach before the first refresh: the counter is there, at zero, from the first scrape.
    let first = ns.run(|| scrape_until(addr, "portradar_connect_failures_total"));
    assert_eq!(
        sample(&first, "portradar_connect_failures_total"),
        Some(0.0)
    );
    // Six connect()s: four get the four ports, two fail.
    let failed = ns.exhaust(50002, 6) as f64;
    let text = ns.run(|| scrape_at_least(addr, "portradar_connect_failures_total", failed));
    let series = r#"portradar_destination_connect_failures_total{src="127.0.0.1",dst="127.0.0.1",dport="50002"}"#;
    assert!(
        sample(&text, series).is_some_and(|v| v >= failed),
        "{series} at least {failed} in:\n{text}"
    );
    assert!(
        sample(&text, "portradar_events_lost_total").is_some(),
        "{text}"
    );
}

#[test]
fn with_no_events_there_are_no_failure_counters() {
    let Some(ns) = Netns::for_test("export_noevents") else {
        return;
    };
    let exporter = Exporter::start(&["-N", &ns.name, "--listen", LISTEN, "--no-events"]);
    let addr = exporter.addr();
    let text = ns.run(|| scrape_until(addr, "portradar_local_port_range_ports"));
    assert!(!text.contains("connect_failures"), "{text}");
    assert!(!text.contains("events_lost"), "{text}");
}

#[test]
fn all_netns_labels_each_namespace_with_its_own_range() {
    let Some(a) = Netns::for_test("export_all_a") else {
        return;
    };
    let b = Netns::new("export_all_b");
    a.sysctl("net.ipv4.ip_local_port_range", "40000 40009");
    b.sysctl("net.ipv4.ip_local_port_range", "40000 40099");
    let exporter = Exporter::start(&[
        "--all-netns",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "200",
    ]);
    let series = |ns: &Netns| format!(r#"portradar_local_port_range_ports{{netns="{}"}}"#, ns.name);
    // The sweep reads one namespace at a time: scrape until both are in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape_until(exporter.addr(), "portradar_local_port_range_ports{");
        if sample(&text, &series(&a)).is_some() && sample(&text, &series(&b)).is_some() {
            break text;
        }
        assert!(Instant::now() < deadline, "both namespaces in:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(sample(&text, &series(&a)), Some(10.0));
    assert_eq!(sample(&text, &series(&b)), Some(100.0));
    let helps = text
        .matches("# HELP portradar_local_port_range_ports ")
        .count();
    assert_eq!(helps, 1, "one family for all namespaces");
    if have_tool("promtool", "prometheus", "all_netns_labels_each_namespace") {
        promtool_check(&text);
    }
}

#[test]
fn without_privilege_one_line_says_why_and_failure_metrics_are_absent() {
    if !common::have_root("export without privilege") {
        return;
    }
    let child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_portradar"))
        .args(["export", "--listen", "127.0.0.1:0", "--interval", "200"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run setpriv");
    // Killed on drop, whatever happens.
    let mut exporter = Exporter { child, addr: None };
    let stderr = exporter.child.stderr.take().expect("stderr");
    let mut stderr = BufReader::new(stderr).lines();
    let mut line = || stderr.next().expect("a line").expect("read stderr");
    let serving = line();
    let addr: SocketAddr = serving
        .strip_prefix("portradar: serving metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("portradar export said: {serving}"))
        .parse()
        .expect("listening address");
    let why = line();
    let text = scrape_until(addr, "portradar_local_port_range_ports");
    assert!(
        why.contains("events unavailable") && why.contains("CAP_BPF"),
        "{why}"
    );
    assert!(!text.contains("connect_failures"), "{text}");
    assert!(!text.contains("events_lost"), "{text}");
}
