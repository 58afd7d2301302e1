//! Worker processes: each holds one block of established connections, as many as its descriptor
//! limit allows (two descriptors per connection: the client and the accepted server end).
//!
//! A worker is this same executable started with `--worker FIRST-END`, in the namespace its parent
//! entered, with the listeners inherited at the descriptor numbers given by `--listen-fds`. It prints
//! `ok` once its connections stand and holds them until its stdin closes. It dies with its parent
//! (PR_SET_PDEATHSIG), so no worker outlives the load generator.

use crate::plan::{destination, route};
use crate::sockets;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::ops::Range;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// What a worker prints once its connections stand.
const OK: &str = "ok";

/// Builds connections `block` (destination of each by [`route`]) on the inherited `listen_fds`, one
/// per destination, reports, and holds them until stdin closes.
pub fn run(block: Range<u64>, listen_fds: &[RawFd]) -> Result<()> {
    // SAFETY: the parent passes listeners it opened and left open across exec at these numbers.
    let listeners: Vec<TcpListener> = listen_fds
        .iter()
        .map(|fd| unsafe { TcpListener::from_raw_fd(*fd) })
        .collect();
    let k = listeners.len();
    let mut held = Vec::with_capacity(2 * (block.end - block.start) as usize);
    for i in block {
        let d = route(i, k);
        let (client, server) = sockets::pair(&listeners[d], destination(d as u64))?;
        held.push(client);
        held.push(server);
    }
    println!("{OK}");
    std::io::stdout().flush()?;
    // Hold until the parent closes our stdin (or dies, which closes it too).
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    Ok(())
}

/// The parent's end of a started worker's pipes.
pub struct Handle {
    pid: u32,
    /// Closing it tells the worker to let go.
    _stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// Starts a worker for `block` that inherits `listeners`.
pub fn spawn(block: &Range<u64>, listeners: &[TcpListener]) -> Result<(Child, Handle)> {
    let fds: Vec<RawFd> = listeners.iter().map(AsRawFd::as_raw_fd).collect();
    let list: Vec<String> = fds.iter().map(RawFd::to_string).collect();
    let exe = std::env::current_exe().context("finding the loadgen executable")?;
    let mut command = Command::new(exe);
    command
        .arg("--worker")
        .arg(format!("{}-{}", block.start, block.end))
        .arg("--listen-fds")
        .arg(list.join(","))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    // SAFETY: between fork and exec this only makes async-signal-safe calls (fcntl, prctl) on
    // descriptors that stay open in the parent.
    unsafe {
        command.pre_exec(move || {
            for fd in &fds {
                if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().context("starting a worker")?;
    let handle = Handle {
        pid: child.id(),
        _stdin: child.stdin.take().expect("piped stdin"),
        stdout: BufReader::new(child.stdout.take().expect("piped stdout")),
    };
    Ok((child, handle))
}

impl Handle {
    /// Waits for the worker's `ok`.
    pub fn wait_ready(&mut self) -> Result<()> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.trim_end() != OK {
            bail!(
                "worker {} stopped before its connections stood (its error is above)",
                self.pid
            );
        }
        Ok(())
    }
}
