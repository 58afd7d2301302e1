//! The deployment assets against what the exporter serves: the Prometheus rules pass
//! `promtool check rules` and their unit tests; the Grafana dashboard parses, its queries parse, and
//! it shows every metric served (and no other); the systemd unit and the Kubernetes DaemonSet parse
//! and say what the exporter needs (its command line, the host's network, the capabilities of the
//! events, the port).
//!
//! The promtool checks skip without the Debian package `prometheus`, and fail under CI=true.

mod common;

use common::have_tool;
use portradar::collect::Families;
use portradar::model::{EventsSummary, Forecast};
use portradar::output::metrics::{RefreshStatus, render};
use portradar::refresh::Refresher;
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(asset(name)).unwrap_or_else(|e| panic!("read assets/{name}: {e}"))
}

fn yaml(name: &str) -> Value {
    serde_norway::from_str(&read(name)).unwrap_or_else(|e| panic!("assets/{name}: {e}"))
}

/// Every metric the exporter can serve: the families of a live snapshot (with a destination of
/// this test's own) whose optional parts are all filled in: events, the bind side, rates and a
/// forecast that runs out. Each `# TYPE` line names one.
fn served() -> BTreeSet<String> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let _client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let mut refresher = Refresher::new(None, Families::BOTH, None);
    let mut snap = refresher.refresh().expect("read the socket table");
    assert!(!snap.destinations.is_empty(), "this test's connection");
    snap.meta.bind_side_read_at = Some(snap.meta.taken_at);
    snap.events = Some(EventsSummary {
        source: "test".into(),
        picks: 1,
        failures: 1,
        lost: 0,
        resync: None,
    });
    for d in &mut snap.destinations {
        d.new_per_s = Some(2.0);
        d.forecast = Some(Forecast {
            rate_per_s: 2.0,
            sustainable_per_s: 1.0,
            exhausted_in_s: Some(60.0),
            half_range_used: false,
        });
        d.connect_failures = Some(1);
    }
    let text = render(&snap, &RefreshStatus::default(), usize::MAX);
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// The `portradar_*` names in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("portradar_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

fn unknown(used: &BTreeSet<String>, served: &BTreeSet<String>) -> Vec<String> {
    used.difference(served).cloned().collect()
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(asset(""))
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_rules_check_pass_their_tests_and_use_served_metrics() {
    let doc = yaml("prometheus-rules.yml");
    let rules: Vec<&Value> = doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules"))
        .collect();
    let alerts: BTreeSet<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    for wanted in [
        "PortradarHeadroomLow",
        "PortradarFullSoon",
        "PortradarRefreshFailing",
    ] {
        assert!(alerts.contains(wanted), "no {wanted} in {alerts:?}");
    }
    let used: BTreeSet<String> = rules
        .iter()
        .flat_map(|r| metric_names(r["expr"].as_str().expect("expr")))
        .collect();
    assert!(used.contains("portradar_destination_headroom_ports"));
    assert_eq!(unknown(&used, &served()), Vec::<String>::new());
    if have_tool(
        "promtool",
        "prometheus",
        "the_rules_check_pass_their_tests_and_use_served_metrics",
    ) {
        promtool(&["check", "rules", "prometheus-rules.yml"]);
        promtool(&["test", "rules", "prometheus-rules.test.yml"]);
    }
}

#[test]
fn the_dashboard_shows_every_served_metric_and_no_other() {
    let doc: Value = serde_json::from_str(&read("grafana-dashboard.json")).expect("dashboard JSON");
    assert_eq!(doc["uid"], "portradar");
    let panels = doc["panels"].as_array().expect("panels");
    let mut used = BTreeSet::new();
    let mut exprs = Vec::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(
            !targets.is_empty(),
            "panel {} shows nothing",
            panel["title"]
        );
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            used.extend(metric_names(expr));
            exprs.push(expr.replace("$instance", ".+").replace("$netns", ".*"));
        }
    }
    for variable in doc["templating"]["list"].as_array().expect("variables") {
        if let Some(q) = variable["definition"].as_str() {
            used.extend(metric_names(q));
        }
    }
    let served = served();
    assert_eq!(unknown(&used, &served), Vec::<String>::new());
    assert_eq!(
        unknown(&served, &used),
        Vec::<String>::new(),
        "served but not shown"
    );
    // promtool parses every query, as recording rules (JSON is YAML).
    if have_tool(
        "promtool",
        "prometheus",
        "the_dashboard_shows_every_served_metric_and_no_other",
    ) {
        let rules: Vec<Value> = exprs
            .iter()
            .enumerate()
            .map(|(i, expr)| serde_json::json!({"record": format!("dashboard:query{i}"), "expr": expr}))
            .collect();
        let file = std::env::temp_dir().join(format!(
            "portradar-dashboard-{}.rules.yml",
            std::process::id()
        ));
        let doc = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
        std::fs::write(&file, doc.to_string()).unwrap();
        let path = file.to_str().expect("utf-8 temp dir").to_string();
        promtool(&["check", "rules", &path]);
        std::fs::remove_file(&file).unwrap();
    }
}

/// The `[Section]` `Key=value` pairs of a systemd unit, comments left out.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not Key=value: {line}"));
        assert!(!section.is_empty(), "{key} outside a section");
        entries.push((section.clone(), key.to_string(), value.to_string()));
    }
    entries
}

#[test]
fn the_systemd_unit_runs_the_exporter_on_the_hosts_sockets() {
    let text = read("portradar-export.service");
    let entries = unit_entries(&text);
    let get = |section: &str, key: &str| -> Vec<&str> {
        entries
            .iter()
            .filter(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
            .collect()
    };
    let exec = get("Service", "ExecStart");
    assert_eq!(exec.len(), 1);
    let words: Vec<&str> = exec[0].split_whitespace().collect();
    assert!(words[0].ends_with("/portradar") && words[1] == "export");
    let listen = words
        .iter()
        .position(|w| *w == "--listen")
        .and_then(|i| words.get(i + 1))
        .expect("--listen");
    let addr: std::net::SocketAddr = listen.parse().expect("ADDR:PORT");
    assert!(addr.ip().is_loopback(), "loopback unless the user says");
    let caps: BTreeSet<&str> = get("Service", "AmbientCapabilities")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .collect();
    assert_eq!(caps, BTreeSet::from(["CAP_BPF", "CAP_PERFMON"]));
    let families = get("Service", "RestrictAddressFamilies").join(" ");
    assert!(families.contains("AF_NETLINK"), "sock_diag needs netlink");
    assert!(
        get("Service", "PrivateNetwork").is_empty(),
        "the host's sockets"
    );
    assert_eq!(get("Service", "NoNewPrivileges"), ["yes"]);
    assert_eq!(get("Install", "WantedBy"), ["multi-user.target"]);
    // systemd's own check, where systemd is installed, with the binary just built.
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    if analyze.is_ok_and(|o| o.status.success()) {
        let dir = std::env::temp_dir().join(format!("portradar-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let unit = dir.join("portradar-export.service");
        let binary = env!("CARGO_BIN_EXE_portradar");
        std::fs::write(&unit, text.replace(words[0], binary)).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&unit)
            .output()
            .expect("systemd-analyze");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_daemonset_shares_the_hosts_network_and_serves_the_annotated_port() {
    let doc = yaml("portradar-daemonset.yaml");
    assert_eq!(doc["kind"], "DaemonSet");
    assert_eq!(doc["apiVersion"], "apps/v1");
    let template = &doc["spec"]["template"];
    assert_eq!(
        doc["spec"]["selector"]["matchLabels"],
        template["metadata"]["labels"]
    );
    let spec = &template["spec"];
    assert_eq!(spec["hostNetwork"], true);
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let port: u16 = annotations["prometheus.io/port"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .expect("prometheus.io/port");
    let containers = spec["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[0], "export");
    let listen = args
        .iter()
        .position(|a| *a == "--listen")
        .and_then(|i| args.get(i + 1))
        .expect("--listen, to be reachable off loopback");
    assert!(listen.ends_with(&format!(":{port}")), "{listen}");
    assert_eq!(c["ports"][0]["containerPort"], port);
    let security = &c["securityContext"];
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let added: BTreeSet<&str> = security["capabilities"]["add"]
        .as_array()
        .expect("capabilities.add")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(added, BTreeSet::from(["BPF", "PERFMON"]));
    assert_eq!(security["allowPrivilegeEscalation"], false);
}
