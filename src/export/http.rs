//! The scrape endpoint: a minimal HTTP/1.1 server on std's `TcpListener`, no async runtime. One
//! thread accepts; each connection is served on a short-lived thread of its own, at most
//! [`MAX_CONNECTIONS`] at once (more are answered 503 at once), so a slow client holds one slot and
//! never the exporter. A request's head must arrive whole within [`REQUEST_DEADLINE`] and
//! [`MAX_HEAD_BYTES`]; one response per connection, then it closes. `GET` (or `HEAD`) `/metrics`
//! gets the latest exposition, already rendered: a scrape never waits for a dump.

use super::Latest;
use crate::output::metrics::CONTENT_TYPE;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The longest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client has to send its request head, and to take the response.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// The pause after a failed accept (out of descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Starts the accepting thread on `listener`, serving what `latest` holds.
pub fn spawn(listener: TcpListener, latest: Latest) -> io::Result<()> {
    thread::Builder::new()
        .name("http".into())
        .spawn(move || accept_loop(&listener, &latest))?;
    Ok(())
}

fn accept_loop(listener: &TcpListener, latest: &Latest) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            // Best effort: a busy exporter owes an overflowing client nothing more.
            let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = respond(
                &mut stream,
                &Response::status(503, "Service Unavailable"),
                false,
            );
            continue;
        }
        let slot = Slot::take(&active);
        let latest = latest.clone();
        // A thread that cannot start drops its closure, and the slot with it.
        let _ = thread::Builder::new().name("scrape".into()).spawn(move || {
            let _slot = slot;
            serve(stream, &latest);
        });
    }
}

/// One of the [`MAX_CONNECTIONS`] slots, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::AcqRel);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads one request, answers it and closes. A client that breaks off gets nothing.
fn serve(mut stream: TcpStream, latest: &Latest) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    if stream.set_write_timeout(Some(REQUEST_DEADLINE)).is_err() {
        return;
    }
    let (response, head_only) = match read_head(&mut stream, deadline) {
        Ok(head) => route(&head, latest),
        Err(HeadError::TooLarge) => (
            Response::status(431, "Request Header Fields Too Large"),
            false,
        ),
        Err(HeadError::TimedOut) => (Response::status(408, "Request Timeout"), false),
        Err(HeadError::Malformed) => (Response::status(400, "Bad Request"), false),
        Err(HeadError::Closed) => return,
    };
    // The client may be gone; there is no one left to tell.
    let _ = respond(&mut stream, &response, head_only);
}

/// Why no request head could be read.
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    TooLarge,
    TimedOut,
    Malformed,
    Closed,
}

/// Reads up to the blank line that ends the head, within the deadline and [`MAX_HEAD_BYTES`].
fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<String, HeadError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| HeadError::Closed)?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::TimedOut);
            }
            Err(_) => return Err(HeadError::Closed),
        };
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return String::from_utf8(head).map_err(|_| HeadError::Malformed);
        }
        if head.len() >= MAX_HEAD_BYTES {
            return Err(HeadError::TooLarge);
        }
    }
}

/// Where the head ends: at the first blank line (CRLF CRLF, or bare LF LF).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

/// A response with its body; `head_only` leaves the body out (HEAD).
struct Response {
    code: u16,
    reason: &'static str,
    content_type: &'static str,
    allow: bool,
    body: Arc<str>,
}

impl Response {
    fn status(code: u16, reason: &'static str) -> Response {
        Response {
            code,
            reason,
            content_type: "text/plain; charset=utf-8",
            allow: false,
            body: Arc::from(format!("{code} {reason}\n")),
        }
    }
}

/// The response to a request head, and whether it goes without its body.
fn route(head: &str, latest: &Latest) -> (Response, bool) {
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return (Response::status(400, "Bad Request"), false);
    };
    if !version.starts_with("HTTP/1.") {
        return (Response::status(400, "Bad Request"), false);
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != "/metrics" {
        return (Response::status(404, "Not Found"), method == "HEAD");
    }
    match method {
        "GET" | "HEAD" => (
            Response {
                code: 200,
                reason: "OK",
                content_type: CONTENT_TYPE,
                allow: false,
                body: latest.get(),
            },
            method == "HEAD",
        ),
        _ => (
            Response {
                allow: true,
                ..Response::status(405, "Method Not Allowed")
            },
            false,
        ),
    }
}

fn respond(stream: &mut TcpStream, response: &Response, head_only: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.code,
        response.reason,
        response.content_type,
        response.body.len()
    );
    if response.allow {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(response.body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(head: &str) -> (u16, bool) {
        let latest = Latest::new("m 1\n".into());
        let (response, head_only) = route(head, &latest);
        (response.code, head_only)
    }

    #[test]
    fn only_get_and_head_of_metrics_are_served() {
        assert_eq!(code("GET /metrics HTTP/1.1\r\nHost: x"), (200, false));
        assert_eq!(code("GET /metrics?name[]=x HTTP/1.0"), (200, false));
        assert_eq!(code("HEAD /metrics HTTP/1.1"), (200, true));
        assert_eq!(code("POST /metrics HTTP/1.1").0, 405);
        assert_eq!(code("GET / HTTP/1.1").0, 404);
        assert_eq!(code("GET /metricsx HTTP/1.1").0, 404);
        assert_eq!(code("GET /metrics").0, 400);
        assert_eq!(code("GET /metrics SPDY/3").0, 400);
        assert_eq!(code("").0, 400);
    }

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(20));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
