//! `measure connects`: connect() on loopback in a namespace, as fast as one thread can (a tight
//! loop), or at a steady rate, for the allocator-events benchmark (`bench/events.sh`). Each
//! connection is closed with a reset (SO_LINGER 0), so no TIME_WAIT entry holds its port and the
//! loop can go on for as long as asked; an acceptor thread accepts and drops the server ends. Prints
//! `connects` and `connects_per_s` as raw samples.

use anyhow::{Context, Result};
use socket2::{Domain, Socket, Type};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct ConnectsArgs {
    /// The network namespace to connect in.
    #[arg(long)]
    netns: String,
    /// How long to connect.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Connections per second to keep to (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// The listener's port on 127.0.0.1.
    #[arg(long, default_value_t = 50100)]
    port: u16,
}

/// The listener's accept queue (the kernel caps it at `net.core.somaxconn`, 4096 by default).
const BACKLOG: i32 = 4096;

/// How far ahead of its schedule a paced loop may get before it sleeps.
const SLACK: Duration = Duration::from_millis(1);

pub fn connects(args: &ConnectsArgs) -> Result<()> {
    portradar::collect::netns::enter(&args.netns.parse()?)?;
    let to = SocketAddr::from(([127, 0, 0, 1], args.port));
    // A deep accept queue: when the acceptor falls behind, a full queue drops SYNs and a connect()
    // waits a second for its retransmission, which would measure the scheduler, not connect().
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&to.into()).context("binding the listener")?;
    socket.listen(BACKLOG).context("listening")?;
    let listener: TcpListener = socket.into();
    std::thread::spawn(move || {
        while let Ok(conn) = listener.accept() {
            drop(conn);
        }
    });
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.seconds);
    let mut made: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if let Some(rate) = args.rate {
            let due = start + Duration::from_secs_f64(made as f64 / rate);
            if due > now + SLACK {
                std::thread::sleep(due - now);
            }
        }
        let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        s.set_linger(Some(Duration::ZERO))?;
        s.connect(&to.into()).context("connect")?;
        made += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    super::sample("connects", made);
    super::sample("connects_per_s", made as f64 / elapsed);
    Ok(())
}
