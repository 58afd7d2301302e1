//! `portradar --all-netns` in a pseudo-terminal: the namespaces view lists a test namespace with a
//! 100-port range nearly used up first (tightest headroom), with its own range; Enter opens its
//! dashboard (its range in the header, the consumers view on `c` names the test process), and Esc
//! comes back to the list.

mod common;

use common::Netns;
use common::pty::Term;
use std::net::{TcpListener, TcpStream};

const COLS: u16 = 160;

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
    let mut screen = Term::start(&["--all-netns", "--interval", "500"], COLS);
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
