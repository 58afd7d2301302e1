//! Child processes that hold connections, for the attribution tests: a python3 process renamed
//! (its comm) to a name the test picks, which opens N connections when told to and keeps them until
//! it is dropped.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The child's program: rename itself, wait for a line, connect, say "ready", wait for EOF.
const PROGRAM: &str = r#"
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
sys.stdin.readline()
held = [socket.create_connection((sys.argv[2], int(sys.argv[3]))) for _ in range(int(sys.argv[4]))]
print("ready", flush=True)
sys.stdin.read()
"#;

/// A child process holding connections; killed and reaped on drop.
pub struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    /// Starts a child named `comm` (at most 15 bytes) that will hold `count` connections to `to`
    /// once [`Holder::connect`] is called.
    pub fn spawn(comm: &str, to: SocketAddr, count: usize) -> Holder {
        let mut child = Command::new("python3")
            .args([
                "-c",
                PROGRAM,
                comm,
                &to.ip().to_string(),
                &to.port().to_string(),
                &count.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("child stdout"));
        Holder {
            child,
            stdin,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Tells the child to connect and waits until every connection is up.
    pub fn connect(&mut self) {
        let stdin = self.stdin.as_mut().expect("child stdin");
        stdin.write_all(b"go\n").expect("tell the child");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the child");
        assert_eq!(line.trim(), "ready", "the child failed to connect");
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
