//! The sockets the load generator makes: listeners, established pairs (client and accepted server
//! end), pairs from an explicitly bound shared port, and client-side TIME_WAIT.

use anyhow::{Context, Result, ensure};
use socket2::{Domain, Socket, Type};
use std::io::Read;
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

/// Accept queue of every listener (capped by `net.core.somaxconn`, raised in the namespace).
const BACKLOG: i32 = 65535;
/// How long accept() waits before giving up: a connection that never shows up means a worker died.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// A listener on `addr` whose accept() times out instead of hanging.
pub fn listen(addr: SocketAddrV4) -> Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).context("socket")?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&SocketAddr::V4(addr).into())
        .with_context(|| format!("bind {addr}"))?;
    socket
        .listen(BACKLOG)
        .with_context(|| format!("listen on {addr}"))?;
    socket.set_read_timeout(Some(ACCEPT_TIMEOUT))?;
    Ok(socket.into())
}

/// Connects to `dest` and accepts one connection from its `listener`. The accepted end may belong to
/// another process's connect() when several share the listener; each process accepts as many as it
/// connects, so every end is held by someone.
pub fn pair(listener: &TcpListener, dest: SocketAddrV4) -> Result<(TcpStream, TcpStream)> {
    let client = TcpStream::connect(dest).with_context(|| format!("connect to {dest}"))?;
    Ok((client, accept(listener, dest)?))
}

/// Like [`pair`], from local port `port` of 127.0.0.1 bound with SO_REUSEADDR, which any number of
/// sockets connected to different destinations may share.
pub fn shared_pair(
    listener: &TcpListener,
    port: u16,
    dest: SocketAddrV4,
) -> Result<(TcpStream, TcpStream)> {
    let local = SocketAddr::from(([127, 0, 0, 1], port));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).context("socket")?;
    socket.set_reuse_address(true)?;
    socket
        .bind(&local.into())
        .with_context(|| format!("bind {local} with SO_REUSEADDR"))?;
    socket
        .connect(&SocketAddr::V4(dest).into())
        .with_context(|| format!("connect {local} to {dest}"))?;
    Ok((socket.into(), accept(listener, dest)?))
}

/// Leaves one client-side TIME_WAIT socket toward `dest`. The client shuts its sending side first;
/// the server end closes once it has read that FIN; the client then reads the server's FIN, which
/// puts it in TIME_WAIT before its descriptor is closed. Closing the client first instead would
/// leave an orphan whose FIN_WAIT2 to TIME_WAIT step can race with the server's FIN and end in a
/// reset (one socket in 200000 here). Only the caller may accept from `listener` meanwhile.
pub fn time_wait(listener: &TcpListener, dest: SocketAddrV4) -> Result<()> {
    let (mut client, mut server) = pair(listener, dest)?;
    client.shutdown(Shutdown::Write)?;
    expect_fin(&mut server, dest, "server")?;
    drop(server);
    expect_fin(&mut client, dest, "client")
}

/// Reads the peer's FIN (end of stream) from `end`.
fn expect_fin(end: &mut TcpStream, dest: SocketAddrV4, which: &str) -> Result<()> {
    let n = end
        .read(&mut [0u8; 1])
        .with_context(|| format!("{dest}: waiting for the FIN on the {which} end"))?;
    ensure!(n == 0, "{dest}: the {which} end read data instead of a FIN");
    Ok(())
}

fn accept(listener: &TcpListener, dest: SocketAddrV4) -> Result<TcpStream> {
    let (stream, _) = listener
        .accept()
        .with_context(|| format!("accept on {dest}"))?;
    Ok(stream)
}
