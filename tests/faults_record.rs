//! Faults while `portradar record` runs against a private network namespace (root): the port range
//! and reserved ports changed, 300 connections (600 sockets) reset between two dumps, the port range
//! file made unreadable (bind-mounted over in the recorder's own mount namespace; it runs as
//! `nobody`, since root reads any file), then the recorder stopped with SIGTERM; and the namespace
//! deleted under a recorder stopped with SIGINT. Read back, the recording holds a table for every
//! refresh the recorder says it made, in order, each change showing from the first table taken
//! after it, and ends with a whole frame; the recorder says on stderr what it worked around.

mod common;

use common::Netns;
use common::nobody::{NobodysCopy, PORT_RANGE, bind_in_mounts_of, unreadable_file};
use portradar::record::{Moment, Recording};
use portradar::settings::PortRange;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const RESERVED: &str = "net.ipv4.ip_local_reserved_ports";

/// How long a recorder may take to record what a test waits for.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `portradar record`, its stderr read on a thread.
struct Recorder {
    child: Child,
    path: PathBuf,
    stderr: JoinHandle<String>,
}

impl Recorder {
    fn start(mut command: Command, path: &Path) -> Recorder {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start portradar record");
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        Recorder {
            child,
            path: path.into(),
            stderr,
        }
    }

    /// Waits until the recording holds at least `tables` tables, the last of which passes `check`;
    /// returns how many it holds then. The file is read while it is written.
    fn wait_for(&mut self, tables: usize, what: &str, check: impl Fn(&Moment) -> bool) -> usize {
        let started = Instant::now();
        loop {
            if let Ok(r) = Recording::open(&self.path) {
                let n = r.len();
                if n >= tables && r.moment(n - 1).is_ok_and(|m| check(&m)) {
                    return n;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the recorder ended ({status}) before {what}");
            }
            assert!(started.elapsed() < PATIENCE, "no table shows {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` and waits: the exit status and everything the recorder said.
    fn stop(mut self, signal: i32) -> (ExitStatus, String) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's, not reaped yet.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
        let status = self.child.wait().unwrap();
        (status, self.stderr.join().unwrap())
    }
}

/// The number in the recorder's last note, `recorded N tables, ...`.
fn tables_recorded(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("portradar: recorded "))
        .unwrap_or_else(|| panic!("no count of tables: {stderr}"));
    line.split(' ').next().unwrap().parse().unwrap()
}

/// Every table of a recording that ends with a whole frame and holds `tables` tables, taken in
/// order.
fn read_back(path: &Path, tables: usize) -> Vec<Moment> {
    let r = Recording::open(path).expect("the recording opens");
    assert_eq!(r.truncation, None, "the file ends with a whole frame");
    assert_eq!(r.len(), tables, "a table for every refresh");
    let mut moment = r.moment(0).expect("the first table");
    let mut all = vec![moment.clone()];
    for i in 1..r.len() {
        r.advance(&mut moment, i).expect("every table decodes");
        assert!(
            r.time(i - 1) < r.time(i),
            "tables {} and {i} in order",
            i - 1
        );
        all.push(moment.clone());
    }
    all
}

/// The index of the first table for which `f` holds, checking that it holds for every one after.
fn first_for_good(tables: &[Moment], what: &str, f: impl Fn(&Moment) -> bool) -> usize {
    let first = tables
        .iter()
        .position(&f)
        .unwrap_or_else(|| panic!("no table shows {what}"));
    assert!(
        tables[first..].iter().all(f),
        "{what} from table {first} on"
    );
    first
}

fn range(low: u16, high: u16) -> PortRange {
    PortRange { low, high }
}

/// A directory `nobody` may write the recording in, removed with what is in it on drop.
struct OpenDir(PathBuf);

impl OpenDir {
    fn new(tag: &str) -> OpenDir {
        let dir = std::env::temp_dir().join(format!("portradar-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        OpenDir(dir)
    }
}

impl Drop for OpenDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `count` loopback connections to a listener, both ends set to reset on close (so that they
/// vanish at once, without TIME_WAIT), and the listener.
fn connections(count: usize) -> (TcpListener, Vec<(TcpStream, TcpStream)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().unwrap();
    let pairs = (0..count)
        .map(|_| {
            let client = TcpStream::connect(addr).expect("connect");
            let (server, _) = listener.accept().expect("accept");
            for s in [&client, &server] {
                socket2::SockRef::from(s)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            (client, server)
        })
        .collect();
    (listener, pairs)
}

#[test]
fn a_recording_under_faults_holds_every_refresh_and_ends_whole() {
    let Some(ns) = Netns::for_test("faults_rec") else {
        return;
    };
    ns.ports(40000, 40999, 0);
    ns.sysctl(RESERVED, "40100,40200-40209");
    let (listener, pairs) = ns.run(|| connections(300));
    let all_sockets = 2 * pairs.len() + 1;

    let dir = OpenDir::new("faults-rec-dir");
    let path = dir.0.join("faults.rec");
    let bin = NobodysCopy::new("faults-rec");
    let mut inner = Command::new("unshare");
    inner
        .args(["--mount", "--propagation", "private", "setpriv"])
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            bin.path(),
        ])
        .args(["record", path.to_str().unwrap(), "--interval", "100"]);
    let mut recorder = Recorder::start(ns.command(&inner), &path);

    recorder.wait_for(2, "the first sockets and range", |m| {
        m.records.len() == all_sockets && m.settings.port_range == range(40000, 40999)
    });
    // Another range, which does not overlap the first, and other reserved ports.
    ns.ports(50000, 50099, 0);
    ns.sysctl(RESERVED, "50010-50019");
    recorder.wait_for(0, "the new range and reserved ports", |m| {
        m.settings.port_range == range(50000, 50099)
            && m.settings.reserved_ports == [[50010, 50019]]
    });
    // Every connection reset at once: only the listener is left.
    let before_vanish = Recording::open(&path).unwrap().len();
    drop(pairs);
    let vanished = recorder.wait_for(0, "the sockets gone", |m| m.records.len() == 1);
    // The range file unreadable to the recorder, and the range changed behind it: it records on,
    // with the settings it read last.
    let file = unreadable_file("faults-rec");
    bind_in_mounts_of(recorder.child.id(), &file, PORT_RANGE);
    ns.ports(60000, 60099, 0);
    recorder.wait_for(
        vanished + 3,
        "tables after the range became unreadable",
        |m| m.records.len() == 1,
    );
    let (status, stderr) = recorder.stop(libc::SIGTERM);
    std::fs::remove_file(&file).unwrap();
    drop(listener);
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("kernel settings unreadable") && stderr.contains(PORT_RANGE),
        "the recorder says what it works around: {stderr}"
    );

    let tables = read_back(&path, tables_recorded(&stderr));
    assert!(tables.len() >= vanished + 3);
    // The first range and reserved ports, then the new ones for good; the range the recorder could
    // not read never shows.
    let new_range = first_for_good(&tables, "the new range", |m| {
        m.settings.port_range == range(50000, 50099)
    });
    assert!(new_range >= 2);
    assert!(
        tables[..new_range]
            .iter()
            .all(|m| m.settings.port_range == range(40000, 40999))
    );
    let new_reserved = first_for_good(&tables, "the new reserved ports", |m| {
        m.settings.reserved_ports == [[50010, 50019]]
    });
    assert!(
        tables[..new_reserved]
            .iter()
            .all(|m| m.settings.reserved_ports == [[40100, 40100], [40200, 40209]])
    );
    // Every socket until the reset, then fewer, down to the listener for good.
    assert!(
        tables[..before_vanish]
            .iter()
            .all(|m| m.records.len() == all_sockets)
    );
    let gone = first_for_good(&tables, "the listener alone", |m| m.records.len() == 1);
    assert!(gone >= before_vanish);
    assert!(
        tables[before_vanish..=gone]
            .windows(2)
            .all(|w| w[1].records.len() <= w[0].records.len()),
        "the count only drops"
    );

    // `snapshot --from` reads it to its end without a note of a torn tail.
    let out = common::portradar(&[
        "snapshot",
        "--from",
        path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        last["taken_at"],
        portradar::output::rfc3339(tables.last().unwrap().taken_at)
    );
}

#[test]
fn a_recording_of_a_namespace_deleted_under_it_goes_on_and_says_so() {
    let Some(ns) = Netns::for_test("faults_rec_del") else {
        return;
    };
    let listener = ns.run(|| TcpListener::bind("127.0.0.1:0").expect("listen"));
    let dir = OpenDir::new("faults-rec-del");
    let path = dir.0.join("deleted.rec");
    let mut command = Command::new(env!("CARGO_BIN_EXE_portradar"));
    command.args([
        "record",
        path.to_str().unwrap(),
        "-N",
        &ns.name,
        "--interval",
        "100",
    ]);
    let mut recorder = Recorder::start(command, &path);
    let before = recorder.wait_for(2, "the listener", |m| m.records.len() == 1);
    let status = Command::new("ip")
        .args(["netns", "del", &ns.name])
        .status()
        .unwrap();
    assert!(status.success());
    recorder.wait_for(before + 3, "tables after the deletion", |m| {
        m.records.len() == 1
    });
    let (status, stderr) = recorder.stop(libc::SIGINT);
    drop(listener);
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains(&format!("network namespace {} was deleted", ns.name)),
        "{stderr}"
    );
    let tables = read_back(&path, tables_recorded(&stderr));
    assert!(tables.len() >= before + 3);
    assert!(tables.iter().all(|m| m.records.len() == 1));
}
