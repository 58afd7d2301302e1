//! `portradar --all-netns` in a pseudo-terminal: the namespaces view lists a test namespace with a
//! 100-port range nearly used up first (tightest headroom), with its own range; Enter opens its
//! dashboard (its range in the header, the consumers view on `c` names the test process), and Esc
//! comes back to the list.

mod common;

use common::Netns;
use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROWS: u16 = 40;
const COLS: u16 = 160;
/// How long a screen condition may take to appear.
const DEADLINE: Duration = Duration::from_secs(20);

/// The dashboard in a pseudo-terminal, killed on drop.
struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Screen {
    fn start(args: &[&str]) -> Screen {
        let size = PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system().openpty(size).expect("openpty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_portradar"));
        cmd.args(args);
        cmd.cwd(std::env::current_dir().expect("a working directory"));
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).expect("spawn portradar");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            0,
        )));
        let mut reader = pair.master.try_clone_reader().unwrap();
        let feed = Arc::clone(&parser);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                feed.lock().unwrap().process(&buf[..n]);
            }
        });
        Screen {
            parser,
            writer: pair.master.take_writer().unwrap(),
            child,
            _master: pair.master,
        }
    }

    fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Polls the screen until `ok` holds, and returns it.
    fn wait_for(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.parser.lock().unwrap().screen().contents();
            if ok(&screen) {
                return screen;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("portradar exited ({status:?}) waiting for {what}; screen:\n{screen}");
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn namespaces_view_opens_a_namespace_and_comes_back() {
    let Some(ns) = Netns::for_test("andash") else {
        return;
    };
    ns.ports(45000, 45099, 1);
    let _held = ns.run(|| {
        // Outside the range, so the listener takes none of its ports.
        let listener = TcpListener::bind("127.0.0.1:5432").unwrap();
        let to = listener.local_addr().unwrap();
        let clients: Vec<TcpStream> = (0..95).map(|_| TcpStream::connect(to).unwrap()).collect();
        (listener, clients)
    });
    let mut screen = Screen::start(&["--all-netns", "--interval", "500"]);
    let list = screen.wait_for("the test namespace first in the list", |s| {
        s.lines()
            .find(|l| l.contains("45000-45099"))
            .is_some_and(|l| l.contains(&ns.name))
            && s.lines().position(|l| l.contains(&ns.name))
                < s.lines().position(|l| l.contains("host"))
    });
    let row = list
        .lines()
        .find(|l| l.contains(&ns.name))
        .unwrap()
        .to_string();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[1], "191",
        "95 connections, both ends, and the listener: {row}"
    );
    assert_eq!(cells[4], "5", "5 of 100 ports free: {row}");
    screen.send("\x1b[H"); // Home: the tightest namespace
    screen.send("\r");
    screen.wait_for("its dashboard", |s| {
        s.contains(&format!("netns {}", ns.name)) && s.contains("45000–45099")
    });
    screen.send("c");
    let pid = std::process::id().to_string();
    screen.wait_for("the test process among the consumers", |s| {
        s.contains("Consumers of") && s.contains(&format!("[{pid}]"))
    });
    screen.send("\x1b");
    screen.wait_for("the consumers view closed", |s| !s.contains("Consumers of"));
    screen.send("\x1b");
    screen.wait_for("the list again", |s| {
        s.contains("network namespaces, tightest headroom first")
    });
}
