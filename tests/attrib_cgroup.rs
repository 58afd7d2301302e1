//! A process moved into a new cgroup v2 child (made and removed by the test under the cgroup2
//! mount) shows that cgroup's path on its sockets and as their consumer's cgroup.

mod attrib_support;
mod common;

use attrib_support::Holder;
use portradar::attribution::cgroup::cgroup2_mount;
use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;

/// A cgroup made for the test, removed on drop (after its processes are gone).
struct TestCgroup {
    dir: PathBuf,
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn sockets_carry_the_cgroup_their_process_was_moved_into() {
    if !common::have_root("sockets_carry_the_cgroup_their_process_was_moved_into") {
        return;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let Some(mount) = cgroup2_mount(&mountinfo) else {
        eprintln!("SKIPPED: cgroup v2 is not mounted here");
        return;
    };
    let name = format!("prtest-cg-{}", std::process::id());
    let cgroup = TestCgroup {
        dir: mount.join(&name),
    };
    std::fs::create_dir(&cgroup.dir).expect("make the cgroup");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap();
    {
        let mut holder = Holder::spawn("prholder-cg", to, 4);
        // Sockets are charged to the cgroup of the process that creates them: move it first.
        std::fs::write(cgroup.dir.join("cgroup.procs"), holder.pid().to_string())
            .expect("move the child into the cgroup");
        holder.connect();
        let filter = format!("dst {to}");
        let doc = common::portradar_json(&["snapshot", "--format", "json", "--sockets", &filter]);
        let path = Value::from(format!("/{name}"));
        let sockets = doc["sockets"].as_array().unwrap();
        assert_eq!(sockets.len(), 4);
        assert!(sockets.iter().all(|s| s["cgroup"] == path), "{sockets:?}");
        let consumers = doc["destinations"][0]["consumers"].as_array().unwrap();
        assert_eq!(consumers.len(), 1, "{consumers:?}");
        assert_eq!(consumers[0]["cgroup"], path);
        assert_eq!(consumers[0]["sockets"], Value::from(4));
    }
}
