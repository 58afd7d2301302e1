//! Names a filter may use instead of numbers, looked up once while it is parsed: service names for
//! ports (the `tcp` entries of `/etc/services`, as `ss` finds them with getservbyname), host names
//! for addresses (every address getaddrinfo gives), and interface names for `dev` (if_nametoindex).
//!
//! The parser asks through [`Names`], so its tests run on a fixed set of names instead of the host's.
//!
//! Host names are resolved on a helper thread and waited for at most [`RESOLVE_LIMIT`] in all for
//! one filter, since the dashboard parses its `/` prompt on the UI thread: a slow or dead DNS server
//! makes the filter an error ("resolving NAME took too long"), never a frozen screen.

use std::ffi::CString;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where the parser looks names up. Errors are the message of a [`super::FilterError`].
pub(super) trait Names {
    /// The TCP port of a service name.
    fn service(&mut self, name: &str) -> Result<u16, String>;
    /// Every address of a host name, each once.
    fn host(&mut self, name: &str) -> Result<Vec<IpAddr>, String>;
    /// The index of a network interface.
    fn interface(&mut self, name: &str) -> Result<u32, String>;
}

/// The services database.
const SERVICES: &str = "/etc/services";

/// How long the host names of one filter may take to resolve, all together.
pub(super) const RESOLVE_LIMIT: Duration = Duration::from_secs(2);

/// The host's own names: `/etc/services` (read on the first service name), the resolver and the
/// interfaces of the current network namespace.
#[derive(Default)]
pub(super) struct System {
    services: Option<Result<String, String>>,
    /// When resolving host names must be over: [`RESOLVE_LIMIT`] after the first one.
    resolve_by: Option<Instant>,
}

/// Runs `work` on a helper thread and waits for its result until `by`; `None` when it is not done
/// by then (the thread finishes on its own, its result dropped), or when `by` has passed already.
fn within<T: Send + 'static>(by: Instant, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let left = by.checked_duration_since(Instant::now())?;
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .ok()?;
    rx.recv_timeout(left).ok()
}

impl Names for System {
    fn service(&mut self, name: &str) -> Result<u16, String> {
        let services = self.services.get_or_insert_with(|| {
            std::fs::read_to_string(SERVICES).map_err(|e| format!("which cannot be read: {e}"))
        });
        match services {
            Ok(text) => service_port(text, name).ok_or_else(|| unknown_service(name)),
            Err(e) => Err(format!(
                "unknown service '{name}' (not a tcp service in {SERVICES}, {e})"
            )),
        }
    }

    fn host(&mut self, name: &str) -> Result<Vec<IpAddr>, String> {
        let by = *self
            .resolve_by
            .get_or_insert_with(|| Instant::now() + RESOLVE_LIMIT);
        let owned = name.to_string();
        let lookup = move || -> std::io::Result<Vec<SocketAddr>> {
            Ok((owned.as_str(), 0).to_socket_addrs()?.collect())
        };
        let addrs = within(by, lookup)
            .ok_or_else(|| format!("resolving '{name}' took too long"))?
            .map_err(|e| format!("cannot resolve host name '{name}': {e}"))?;
        let mut ips: Vec<IpAddr> = Vec::new();
        for addr in addrs {
            if !ips.contains(&addr.ip()) {
                ips.push(addr.ip());
            }
        }
        if ips.is_empty() {
            return Err(format!("host name '{name}' has no address"));
        }
        Ok(ips)
    }

    fn interface(&mut self, name: &str) -> Result<u32, String> {
        let no_such = || format!("no such network interface '{name}'");
        let c_name = CString::new(name).map_err(|_| no_such())?;
        // SAFETY: `c_name` is a NUL-terminated string that lives across the call.
        match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
            0 => Err(no_such()),
            index => Ok(index),
        }
    }
}

/// The message for a service name that is not in the database.
pub(super) fn unknown_service(name: &str) -> String {
    format!("unknown service '{name}' (not a tcp service in {SERVICES})")
}

/// The port of TCP service `name` (or one of its aliases) in the text of `/etc/services`, whose lines
/// read `NAME PORT/PROTOCOL [ALIAS...] [# comment]`; the first entry wins, as with getservbyname.
pub(super) fn service_port(services: &str, name: &str) -> Option<u16> {
    services.lines().find_map(|line| {
        let line = line.split_once('#').map_or(line, |(data, _)| data);
        let mut words = line.split_whitespace();
        let primary = words.next()?;
        let (port, protocol) = words.next()?.split_once('/')?;
        let named = primary == name || words.any(|alias| alias == name);
        (named && protocol == "tcp").then(|| port.parse().ok())?
    })
}

/// A fixed set of names instead of the host's, for tests and fuzzing: `http`/`www`, `https`, `ssh`;
/// `localhost`, `db.internal`; `lo`, `eth0`.
#[cfg(any(test, fuzzing))]
pub(super) struct Fixed;

#[cfg(any(test, fuzzing))]
impl Names for Fixed {
    fn service(&mut self, name: &str) -> Result<u16, String> {
        match name {
            "http" | "www" => Ok(80),
            "https" => Ok(443),
            "ssh" => Ok(22),
            _ => Err(unknown_service(name)),
        }
    }

    fn host(&mut self, name: &str) -> Result<Vec<IpAddr>, String> {
        match name {
            "localhost" => Ok(vec![
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ]),
            "db.internal" => Ok(vec![IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5))]),
            _ => Err(format!("cannot resolve host name '{name}': not known")),
        }
    }

    fn interface(&mut self, name: &str) -> Result<u32, String> {
        match name {
            "lo" => Ok(1),
            "eth0" => Ok(2),
            _ => Err(format!("no such network interface '{name}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# Network services, Internet style
tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
https\t\t443/tcp
https\t\t443/udp
bootps\t\t67/udp
domain\t\t53/tcp
nonsense\tx/tcp
first\t\t1000/tcp
first\t\t2000/tcp
";

    #[test]
    fn services_are_found_by_name_and_alias_for_tcp_only() {
        assert_eq!(service_port(SAMPLE, "http"), Some(80));
        assert_eq!(service_port(SAMPLE, "www"), Some(80));
        assert_eq!(service_port(SAMPLE, "https"), Some(443));
        assert_eq!(service_port(SAMPLE, "tcpmux"), Some(1));
        assert_eq!(service_port(SAMPLE, "bootps"), None, "udp only");
        assert_eq!(
            service_port(SAMPLE, "HTTP"),
            None,
            "names are case-sensitive"
        );
        assert_eq!(service_port(SAMPLE, "nonsense"), None);
        assert_eq!(service_port(SAMPLE, "first"), Some(1000));
        assert_eq!(
            service_port(SAMPLE, "Network"),
            None,
            "comments are not entries"
        );
        assert_eq!(service_port("", "http"), None);
    }

    #[test]
    fn the_system_knows_loopback_and_refuses_unknown_interfaces() {
        let mut system = System::default();
        assert_eq!(system.interface("lo"), Ok(1));
        let err = system.interface("nosuchif0").unwrap_err();
        assert_eq!(err, "no such network interface 'nosuchif0'");
        assert!(system.interface("a\0b").is_err());
        let local = system.host("localhost").unwrap();
        assert!(local.iter().all(|ip| ip.is_loopback()), "{local:?}");
    }

    #[test]
    fn a_lookup_that_never_answers_is_given_up_at_the_limit() {
        let (_never, hangs) = mpsc::channel::<()>();
        let stuck = move || hangs.recv().is_ok();
        let by = Instant::now() + Duration::from_millis(20);
        assert_eq!(within(by, stuck), None);
        assert_eq!(within(Instant::now() + RESOLVE_LIMIT, || 7), Some(7));
    }

    #[test]
    fn the_resolve_limit_is_shared_by_the_names_of_one_filter() {
        let mut system = System {
            resolve_by: Some(Instant::now()),
            ..System::default()
        };
        assert_eq!(
            system.host("localhost"),
            Err("resolving 'localhost' took too long".to_string())
        );
    }
}
