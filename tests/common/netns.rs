//! Private network namespaces for the tests (`ip netns add`), named after the test and the test
//! process, deleted on drop.

use std::process::Command;

/// A private network namespace with lo up, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A namespace for `test`, or `None` (the test skips) without root: see [`super::have_root`].
    pub fn for_test(test: &str) -> Option<Netns> {
        super::have_root(test).then(|| Netns::new(test))
    }

    /// `prtest-TAG-PID`, with lo up.
    pub fn new(tag: &str) -> Netns {
        let name = format!("prtest-{tag}-{}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `/run/netns/NAME`, the file that holds the namespace.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs a command inside the namespace and returns its stdout; panics when it fails.
    pub fn exec(&self, cmd: &[&str]) -> String {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(cmd);
        run("ip", &args)
    }

    /// `command` run inside the namespace (`ip netns exec`), as the same process.
    pub fn command(&self, command: &Command) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name])
            .arg(command.get_program())
            .args(command.get_args());
        c
    }

    pub fn sysctl(&self, key: &str, value: &str) {
        self.exec(&["sysctl", "-qw", &format!("{key}={value}")]);
    }

    /// Sets the namespace's `ip_local_port_range` and `tcp_tw_reuse`.
    pub fn ports(&self, low: u16, high: u16, tw_reuse: u8) {
        self.sysctl("net.ipv4.ip_local_port_range", &format!("{low} {high}"));
        self.sysctl("net.ipv4.tcp_tw_reuse", &tw_reuse.to_string());
    }

    /// A bash child in the namespace opens `tries` connections to 127.0.0.1:`port` and holds them
    /// until it exits: returns how many of its connect()s failed with EADDRNOTAVAIL ("Cannot assign
    /// requested address").
    pub fn exhaust(&self, port: u16, tries: usize) -> u64 {
        let connects: String = (3..3 + tries)
            .map(|fd| format!("exec {fd}<>/dev/tcp/127.0.0.1/{port}; "))
            .collect();
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "bash", "-c", &connects])
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run the client");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let failed = stderr
            .lines()
            .filter(|l| l.contains("connect: Cannot assign requested address"))
            .count() as u64;
        assert!(failed >= 1, "the range was exhausted: {stderr}");
        failed
    }

    /// Runs `f` on a thread that has entered the namespace (sockets it opens live there).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = std::fs::File::open(&path).expect("open netns file");
                use std::os::fd::AsRawFd;
                // SAFETY: setns on a valid namespace fd affects only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("netns thread")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
