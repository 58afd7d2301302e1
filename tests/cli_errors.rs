//! Bad input gets a clear one-line error and exit status 2, never a panic; options belong to the
//! commands that honour them; `--netns` takes a name, a path or a PID; completions and the man page.

mod common;

use common::{Netns, have_root, portradar, portradar_json};
use std::io::BufRead;
use std::io::BufReader;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

fn assert_usage_error(args: &[&str], mentions: &str) {
    let out = portradar(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} exits 2; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: one line, got {stderr}"
    );
    assert!(
        stderr.contains(mentions),
        "{args:?}: {stderr:?} should mention {mentions:?}"
    );
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
}

#[test]
fn invalid_filter_names_the_word_at_fault() {
    assert_usage_error(
        &["snapshot", "dst", "127.0.0.1", "andd", "sport", "=", "80"],
        "andd",
    );
    assert_usage_error(&["snapshot", "(", "dport", "=", "80"], "(");
}

#[test]
fn unknown_state_is_named() {
    assert_usage_error(&["snapshot", "state", "tim-wait"], "tim-wait");
}

#[test]
fn port_over_65535_is_refused() {
    assert_usage_error(&["snapshot", "dport", "=", "65536"], "65536");
    assert_usage_error(&["snapshot", "dst", "127.0.0.1:70000"], "70000");
}

#[test]
fn missing_netns_is_a_clear_error() {
    assert_usage_error(
        &["snapshot", "--netns", "portradar-no-such-namespace"],
        "portradar-no-such-namespace",
    );
}

#[test]
fn option_errors_are_one_line() {
    assert_usage_error(&["--interval", "0"], "must be 100..=3600000");
    assert_usage_error(&["--interval", "-1"], "must be 100..=3600000");
    assert_usage_error(&["--interval", "abc"], "not a number");
    assert_usage_error(&["--frobnicate"], "'--frobnicate'");
    assert_usage_error(&["snapshot", "--format", "xml"], "table, json, summary");
    assert_usage_error(&["-4", "-6"], "'-4' cannot be used with '-6'");
    assert_usage_error(&["snapshot", "-6", "-4"], "cannot be used with");
    assert_usage_error(&["completions"], "<SHELL>");
    assert_usage_error(&["completions", "tcsh"], "bash, zsh, fish");
}

#[test]
fn errors_point_at_the_help_of_the_command_at_fault() {
    assert_usage_error(
        &["snapshot", "--format", "xml"],
        "see portradar snapshot --help",
    );
    assert_usage_error(&["probe", "--frobnicate"], "see portradar probe --help");
}

#[test]
fn a_huge_filter_is_cut_in_the_message() {
    let word = "x".repeat(100_000);
    let many = "dst 10.0.0.1 ".repeat(8_000) + "andd";
    for filter in [format!("dst {word}"), word.clone(), many] {
        let out = portradar(&["snapshot", &filter]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.len() < 300, "{} bytes: {stderr}", stderr.len());
    }
}

#[test]
fn options_belong_to_their_subcommand() {
    assert_usage_error(&["snapshot", "--interval", "500"], "'--interval'");
    assert_usage_error(&["snapshot", "--no-color"], "'--no-color'");
    assert_usage_error(&["snapshot", "--ascii"], "'--ascii'");
    assert_usage_error(&["probe", "--sockets"], "'--sockets'");
    assert_usage_error(&["man", "-4"], "'-4'");
    assert_usage_error(&["-4", "snapshot"], "portradar snapshot -4");
    assert_usage_error(
        &["--interval", "500", "probe"],
        "'probe' does not take --interval",
    );
    assert_usage_error(&["snapshot", "--sockets"], "add --format json");
    assert_usage_error(
        &["snapshot", "--sockets", "--format", "table"],
        "--format json",
    );
}

#[test]
fn options_may_follow_the_filter_words() {
    let doc = portradar_json(&["snapshot", "dst", "127.0.0.1", "-4", "--format", "json"]);
    assert_eq!(doc["filter"], "dst 127.0.0.1");
    let doc = portradar_json(&["snapshot", "--format", "json", "dst", "::1", "-4"]);
    assert_eq!(
        doc["totals"]["sockets"], 0,
        "no IPv4 socket has an IPv6 remote end"
    );
}

#[test]
fn a_mistyped_subcommand_is_named() {
    assert_usage_error(&["snapshto"], "did you mean 'snapshot'?");
    assert_usage_error(
        &["snapshto", "--format", "json"],
        "did you mean 'snapshot'?",
    );
    assert_usage_error(&["prboe"], "did you mean 'probe'?");
}

#[test]
fn probe_refuses_what_it_cannot_do() {
    assert_usage_error(
        &["probe", "--range", "1-1"],
        "the probe's own listener takes it",
    );
    assert_usage_error(
        &["probe", "--netns", "portradar-no-such-namespace"],
        "portradar-no-such-namespace",
    );
    assert_usage_error(
        &["probe", "-6", "--dst", "127.0.0.1:9"],
        "-6 does not match",
    );
    assert_usage_error(&["probe", "-4", "-6"], "exclude each other");
    assert_usage_error(
        &["probe", "--netns", "x", "--range", "1025-1034"],
        "--netns",
    );
}

#[test]
fn netns_accepts_names_paths_and_pids() {
    assert_usage_error(
        &["snapshot", "-N", "portradar-no-such-namespace"],
        "ip netns list",
    );
    assert_usage_error(
        &["snapshot", "--netns", "/portradar/no/such/netns"],
        "/portradar/no/such/netns does not exist",
    );
    assert_usage_error(
        &["snapshot", "--netns", "4294967295"],
        "no process 4294967295",
    );
    assert_usage_error(&["snapshot", "--netns", ".."], "not a name");
}

#[test]
fn help_and_version_print_normally() {
    for args in [&["--help"][..], &["snapshot", "--help"], &["probe", "-h"]] {
        let out = portradar(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: portradar"));
        assert!(out.stderr.is_empty());
    }
    let out = portradar(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("portradar "));
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = portradar(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.len() > 500, "{shell}: {script}");
        for word in ["snapshot", "probe", "netns", "interval"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
}

#[test]
fn the_manual_page_documents_filters_keys_json_and_exit_status() {
    let out = portradar(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).expect("UTF-8 roff");
    assert!(page.starts_with('.'), "roff starts with a request");
    let th = page.find("\n.TH portradar 1").expect(".TH");
    assert!(th < 100, ".TH near the top");
    for section in [
        "SYNOPSIS",
        "FILTER",
        "KEYS",
        "\"JSON OUTPUT\"",
        "\"EXIT STATUS\"",
    ] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
    for text in [
        "exclude",
        "synchronized",
        "dev IFACE",
        ":https",
        "freeze",
        "exhausted_in_s",
    ] {
        assert!(page.contains(text), "no {text:?}");
    }
}

/// `--netns` as a name, a path and a PID reads the table of that namespace, and only that one.
#[test]
fn netns_reads_the_namespace_named_by_name_path_or_pid() {
    if !have_root("netns by name, path and pid") {
        return;
    }
    let ns = Netns::new("cli");
    let listener = ns.run(|| TcpListener::bind("127.0.0.1:0").expect("listen in the namespace"));
    let port = listener.local_addr().unwrap().port();
    let holder = NamespaceHolder::start(&ns);
    let path = format!("/run/netns/{}", ns.name);
    let pid = holder.pid().to_string();
    for spec in [ns.name.as_str(), &path, &pid] {
        let doc = portradar_json(&["snapshot", "-N", spec, "--format", "json", "--sockets"]);
        assert_eq!(doc["netns"], spec.to_string());
        let sockets = doc["sockets"].as_array().expect("sockets");
        assert_eq!(
            sockets.len(),
            1,
            "{spec}: only the namespace's listener: {sockets:?}"
        );
        assert_eq!(sockets[0]["local"], format!("127.0.0.1:{port}"), "{spec}");
        assert_eq!(sockets[0]["state"], "LISTEN", "{spec}");
    }
}

/// `--netns PID` of this very process reads the namespace it runs in.
#[test]
fn netns_pid_of_this_process_reads_its_namespace() {
    if !have_root("netns pid of the test process") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pid = std::process::id().to_string();
    let filter = format!("sport = {port}");
    let doc = portradar_json(&[
        "snapshot",
        "--netns",
        &pid,
        "--format",
        "json",
        "--sockets",
        &filter,
    ]);
    let sockets = doc["sockets"].as_array().expect("sockets");
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    assert_eq!(sockets[0]["local"], format!("127.0.0.1:{port}"));
}

/// `probe --netns` runs the experiment in that namespace: its ports come from the namespace's range.
#[test]
fn probe_runs_in_the_namespace_given() {
    if !have_root("probe --netns") {
        return;
    }
    let ns = Netns::new("cliprobe");
    ns.sysctl("net.ipv4.ip_local_port_range", "20000 20099");
    let doc = portradar_json(&[
        "probe", "--netns", &ns.name, "--format", "json", "--count", "6",
    ]);
    assert_eq!(doc["range"]["low"], 20000, "{doc}");
    assert_eq!(doc["range"]["high"], 20099, "{doc}");
    let ports = doc["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 6);
    assert!(
        ports
            .iter()
            .all(|p| (20000..=20099).contains(&p.as_u64().unwrap())),
        "{ports:?}"
    );
}

/// A process kept inside a namespace, for `--netns PID`. It says "ready" once `ip netns exec` has
/// moved it there (`ip` and `sh` exec, so the pid stays the same); closing its stdin ends it.
struct NamespaceHolder {
    child: Child,
}

impl NamespaceHolder {
    fn start(ns: &Netns) -> NamespaceHolder {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "sh",
                "-c",
                "echo ready; exec cat",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a process in the namespace");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("read ready");
        assert_eq!(line.trim(), "ready");
        NamespaceHolder { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NamespaceHolder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
