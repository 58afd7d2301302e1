//! Faults while running, in private network namespaces (root): the watched namespace deleted under
//! `snapshot --watch`, the port range and reserved ports changed between two refreshes, and
//! `/proc/sys` files made unreadable (an unreadable file bind-mounted over
//! `ip_local_port_range` in a private mount namespace of the child, which runs as `nobody` since
//! root reads any file). Each time portradar goes on and says what happened in the snapshot's
//! header, or a one-shot command exits with one clear line.

mod common;

use common::Netns;
use common::nobody::{NobodysCopy, as_nobody_in_own_mounts, bind_in_mounts_of, unreadable_file};
use portradar::collect::Families;
use portradar::refresh::Refresher;
use portradar::settings::PortRange;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::nobody::PORT_RANGE;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_portradar")
}

/// The JSON lines of a running `snapshot --watch`, one at a time.
struct Watch {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Watch {
    fn start(command: &mut Command) -> Watch {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portradar");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Watch { child, lines }
    }

    /// The next snapshot, or `None` when the watch ended.
    fn next(&mut self) -> Option<serde_json::Value> {
        let line = self.lines.next()?.expect("read stdout");
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    /// The rest of the snapshots and the exit status.
    fn finish(mut self) -> (Vec<serde_json::Value>, std::process::ExitStatus, String) {
        let mut rest = Vec::new();
        while let Some(doc) = self.next() {
            rest.push(doc);
        }
        let output = self.child.wait_with_output().expect("wait for portradar");
        (
            rest,
            output.status,
            String::from_utf8_lossy(&output.stderr).into(),
        )
    }
}

fn warnings(doc: &serde_json::Value) -> Vec<String> {
    doc["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_watch_goes_on_when_its_namespace_is_deleted_and_says_so() {
    let Some(ns) = Netns::for_test("faults_deleted") else {
        return;
    };
    let mut watch = Watch::start(Command::new(bin()).args([
        "snapshot", "-N", &ns.name, "--watch", "100", "--count", "5", "--format", "json",
    ]));
    let first = watch.next().expect("a first snapshot");
    assert!(warnings(&first).is_empty(), "{first}");
    let status = Command::new("ip")
        .args(["netns", "del", &ns.name])
        .status()
        .unwrap();
    assert!(status.success());
    let (rest, status, stderr) = watch.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(rest.len(), 4, "the watch ran to its count: {stderr}");
    let last = warnings(rest.last().unwrap());
    assert!(
        last.iter()
            .any(|w| w.contains(&format!("network namespace {} was deleted", ns.name))),
        "{last:?}"
    );

    // A one-shot command in the deleted namespace: one line, and a failure status.
    let out = common::portradar(&["snapshot", "-N", &ns.name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn the_port_range_and_reserved_ports_changed_between_refreshes_show_in_the_next_snapshot() {
    let Some(ns) = Netns::for_test("faults_range") else {
        return;
    };
    let reserved = "net.ipv4.ip_local_reserved_ports";
    ns.ports(40000, 40999, 0);
    ns.sysctl(reserved, "40100,40200-40209");
    ns.run(|| {
        let mut r = Refresher::new(Some(ns.name.clone()), Families::BOTH, None);
        let first = r.refresh().expect("first refresh");
        assert_eq!(
            first.settings.port_range,
            PortRange {
                low: 40000,
                high: 40999
            }
        );
        assert_eq!(
            first.settings.reserved_ports,
            vec![[40100, 40100], [40200, 40209]]
        );
        // A narrower range that does not even overlap the old one, and new reserved ports.
        ns.ports(50000, 50099, 0);
        ns.sysctl(reserved, "50010-50019");
        let second = r.refresh().expect("refresh after the change");
        assert_eq!(
            second.settings.port_range,
            PortRange {
                low: 50000,
                high: 50099
            }
        );
        assert_eq!(second.settings.reserved_ports, vec![[50010, 50019]]);
        assert!(
            second.meta.warnings.is_empty(),
            "{:?}",
            second.meta.warnings
        );
        // And up to the last port.
        ns.ports(1024, 65535, 0);
        ns.sysctl(reserved, "");
        let third = r.refresh().expect("refresh up to the last port");
        assert_eq!(
            third.settings.port_range,
            PortRange {
                low: 1024,
                high: 65535
            }
        );
        assert!(third.settings.reserved_ports.is_empty());
    });
}

#[test]
fn unreadable_proc_sys_fails_a_one_shot_with_one_line() {
    if !common::have_root("unreadable_proc_sys_fails_a_one_shot_with_one_line") {
        return;
    }
    let bin = NobodysCopy::new("oneshot");
    let file = unreadable_file("oneshot");
    let script = format!(
        "mount --bind {} {PORT_RANGE} && exec setpriv --reuid=65534 --regid=65534 --clear-groups {} snapshot --format summary",
        file.display(),
        bin.path()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(PORT_RANGE) && stderr.contains("Permission denied"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("Permission denied").count(),
        1,
        "the cause once: {stderr}"
    );
}

#[test]
fn unreadable_proc_sys_under_a_watch_keeps_the_last_settings_and_says_so() {
    if !common::have_root("unreadable_proc_sys_under_a_watch") {
        return;
    }
    let bin = NobodysCopy::new("watch");
    let file = unreadable_file("watch");
    let mut watch = Watch::start(&mut as_nobody_in_own_mounts(
        &bin,
        &[
            "snapshot", "--watch", "100", "--count", "5", "--format", "json",
        ],
    ));
    let first = watch.next().expect("a first snapshot");
    assert!(warnings(&first).is_empty(), "{first}");
    // Make the file unreadable in the watch's own mount namespace.
    bind_in_mounts_of(watch.child.id(), &file, PORT_RANGE);
    let (rest, status, stderr) = watch.finish();
    std::fs::remove_file(&file).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(rest.len(), 4, "the watch ran to its count: {stderr}");
    let last = rest.last().unwrap();
    let w = warnings(last);
    assert!(
        w.iter()
            .any(|w| w.contains(PORT_RANGE) && w.contains("showing those read")),
        "{w:?}"
    );
    assert_eq!(
        last["port_range"], first["port_range"],
        "the last range read stands in"
    );
}
