//! The command line of `portradar probe` as clap sees it ([`ProbeArgs`]), and the checked [`Plan`] the
//! probe runs from. Every semantic check lives in [`Plan::from_args`], so a bad value is one typed
//! [`ProbeError`] whoever built the arguments.

use super::ProbeError;
use crate::settings::PortRange;
use std::net::SocketAddr;
use std::time::Duration;

/// Pause between batches when `--repeat` is given without `--sleep`.
const DEFAULT_SLEEP_MS: u64 = 1000;

/// Command-line options of `portradar probe`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ProbeArgs {
    /// Connect to ADDR:PORT instead of a loopback listener of the probe's own. Nothing needs to
    /// listen there: a refused connect() has allocated its local port all the same. The probe sends
    /// one SYN per connect() and resets the connection at once.
    #[arg(long, value_name = "ADDR:PORT")]
    pub dst: Option<String>,
    /// connect() calls per batch.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub count: u32,
    /// bind() each socket to port 0 before connect(), to show the parity bind() picks.
    #[arg(long)]
    pub bind: bool,
    /// Run K batches, to show how the start point moves between them.
    #[arg(long, value_name = "K")]
    pub repeat: Option<u32>,
    /// Pause between batches, in milliseconds (default 1000; needs --repeat).
    #[arg(long, value_name = "MS")]
    pub sleep: Option<u64>,
    /// Run inside a throwaway network namespace whose ip_local_port_range is LOW-HIGH (needs root or
    /// CAP_SYS_ADMIN), as in the article's 1025-1034 experiment.
    #[arg(long, value_name = "LOW-HIGH")]
    pub range: Option<String>,
    /// Set IP_LOCAL_PORT_RANGE on each socket (Linux 6.3+): it only narrows the system range, and the
    /// kernel then searches it with step 1 and no parity.
    #[arg(long, value_name = "LOW-HIGH")]
    pub socket_range: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// How the probe prints its report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Which port range the connect()s search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// The current network namespace's `ip_local_port_range`.
    System,
    /// A private namespace whose `ip_local_port_range` is this.
    Namespace(PortRange),
    /// The system range narrowed on each socket by `IP_LOCAL_PORT_RANGE`.
    Socket(PortRange),
}

/// A checked probe request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// Where to connect; `None`: a loopback listener the probe opens.
    pub destination: Option<SocketAddr>,
    pub count: u32,
    pub batches: u32,
    pub pause: Duration,
    pub bind: bool,
    pub scope: Scope,
    pub format: Format,
}

impl Plan {
    pub fn from_args(args: &ProbeArgs) -> Result<Plan, ProbeError> {
        let count = at_least_one("--count", args.count)?;
        let batches = at_least_one("--repeat", args.repeat.unwrap_or(1))?;
        if count == 1 && batches == 1 {
            return Err(ProbeError::TooFew);
        }
        if args.sleep.is_some() && args.repeat.is_none() {
            return Err(ProbeError::SleepWithoutRepeat);
        }
        Ok(Plan {
            destination: args.dst.as_deref().map(parse_destination).transpose()?,
            count,
            batches,
            pause: Duration::from_millis(args.sleep.unwrap_or(DEFAULT_SLEEP_MS)),
            bind: args.bind,
            scope: scope(args)?,
            format: args.format,
        })
    }

    /// The range set on each socket, if any.
    pub fn socket_range(&self) -> Option<PortRange> {
        match self.scope {
            Scope::Socket(range) => Some(range),
            Scope::System | Scope::Namespace(_) => None,
        }
    }
}

fn at_least_one(option: &'static str, n: u32) -> Result<u32, ProbeError> {
    if n == 0 {
        Err(ProbeError::Zero { option })
    } else {
        Ok(n)
    }
}

fn scope(args: &ProbeArgs) -> Result<Scope, ProbeError> {
    match (&args.range, &args.socket_range) {
        (Some(_), Some(_)) => Err(ProbeError::BothRanges),
        (Some(text), None) => Ok(Scope::Namespace(parse_range("--range", text)?)),
        (None, Some(text)) => Ok(Scope::Socket(parse_range("--socket-range", text)?)),
        (None, None) => Ok(Scope::System),
    }
}

/// `ADDR:PORT`, IPv6 addresses in brackets.
fn parse_destination(text: &str) -> Result<SocketAddr, ProbeError> {
    let syntax = || ProbeError::Syntax {
        option: "--dst",
        text: text.to_string(),
        expected: "ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(syntax)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip = host.parse().map_err(|_| syntax())?;
    let port = parse_port("--dst", port).map_err(|e| match e {
        ProbeError::Syntax { .. } => syntax(),
        other => other,
    })?;
    Ok(SocketAddr::new(ip, port))
}

/// `LOW-HIGH`, both ends inclusive ports.
fn parse_range(option: &'static str, text: &str) -> Result<PortRange, ProbeError> {
    let (low, high) = text.split_once('-').ok_or_else(|| ProbeError::Syntax {
        option,
        text: text.to_string(),
        expected: "LOW-HIGH, e.g. 1025-1034",
    })?;
    let (low, high) = (parse_port(option, low)?, parse_port(option, high)?);
    if low > high {
        return Err(ProbeError::ReversedRange { option, low, high });
    }
    Ok(PortRange { low, high })
}

/// A port, 1-65535.
fn parse_port(option: &'static str, text: &str) -> Result<u16, ProbeError> {
    let number: u64 = text.trim().parse().map_err(|_| ProbeError::Syntax {
        option,
        text: text.to_string(),
        expected: "a port number",
    })?;
    match u16::try_from(number) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ProbeError::PortOutOfRange {
            option,
            port: number,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(edit: impl FnOnce(&mut ProbeArgs)) -> Result<Plan, ProbeError> {
        let mut args = ProbeArgs {
            count: 5,
            ..ProbeArgs::default()
        };
        edit(&mut args);
        Plan::from_args(&args)
    }

    fn error(edit: impl FnOnce(&mut ProbeArgs)) -> String {
        let e = plan(edit).unwrap_err();
        assert!(e.is_usage(), "{e} is a usage error");
        e.to_string()
    }

    #[test]
    fn defaults_probe_a_loopback_listener_once() {
        let p = plan(|_| {}).unwrap();
        assert_eq!(p.destination, None);
        assert_eq!((p.count, p.batches, p.bind), (5, 1, false));
        assert_eq!(p.scope, Scope::System);
        assert_eq!(p.format, Format::Text);
    }

    #[test]
    fn destinations_parse_v4_and_bracketed_v6() {
        let p = plan(|a| a.dst = Some("10.1.2.3:8080".into())).unwrap();
        assert_eq!(p.destination, Some("10.1.2.3:8080".parse().unwrap()));
        let p = plan(|a| a.dst = Some("[::1]:443".into())).unwrap();
        assert_eq!(p.destination, Some("[::1]:443".parse().unwrap()));
    }

    #[test]
    fn bad_destinations_say_what_is_wrong() {
        assert_eq!(
            error(|a| a.dst = Some("127.0.0.1:70000".into())),
            "--dst: port 70000 is out of range 1-65535"
        );
        assert_eq!(
            error(|a| a.dst = Some("127.0.0.1:0".into())),
            "--dst: port 0 is out of range 1-65535"
        );
        assert!(
            error(|a| a.dst = Some("localhost".into()))
                .starts_with("--dst 'localhost': expected ADDR:PORT")
        );
        assert!(error(|a| a.dst = Some("1.2.3.4:http".into())).starts_with("--dst '1.2.3.4:http'"));
    }

    #[test]
    fn ranges_parse_and_are_checked() {
        let p = plan(|a| a.range = Some("1025-1034".into())).unwrap();
        assert_eq!(
            p.scope,
            Scope::Namespace(PortRange {
                low: 1025,
                high: 1034
            })
        );
        let p = plan(|a| a.socket_range = Some("40000-40099".into())).unwrap();
        assert_eq!(
            p.socket_range(),
            Some(PortRange {
                low: 40000,
                high: 40099
            })
        );
        assert_eq!(
            error(|a| a.range = Some("1034-1025".into())),
            "--range 1034-1025: LOW is greater than HIGH"
        );
        assert_eq!(
            error(|a| a.socket_range = Some("1000-65536".into())),
            "--socket-range: port 65536 is out of range 1-65535"
        );
        assert!(error(|a| a.range = Some("1025".into())).contains("expected LOW-HIGH"));
    }

    #[test]
    fn both_ranges_are_refused() {
        let e = error(|a| {
            a.range = Some("1025-1034".into());
            a.socket_range = Some("1025-1034".into());
        });
        assert!(
            e.starts_with("--range and --socket-range exclude each other"),
            "{e}"
        );
    }

    #[test]
    fn counts_must_give_at_least_two_connects() {
        assert_eq!(error(|a| a.count = 0), "--count must be at least 1");
        assert_eq!(error(|a| a.repeat = Some(0)), "--repeat must be at least 1");
        assert!(error(|a| a.count = 1).contains("at least 2"));
        let p = plan(|a| {
            a.count = 1;
            a.repeat = Some(3);
        })
        .unwrap();
        assert_eq!((p.count, p.batches), (1, 3));
    }

    #[test]
    fn sleep_needs_repeat_and_defaults_to_a_second() {
        assert!(error(|a| a.sleep = Some(100)).starts_with("--sleep pauses between batches"));
        let p = plan(|a| a.repeat = Some(2)).unwrap();
        assert_eq!(p.pause, Duration::from_secs(1));
        let p = plan(|a| {
            a.repeat = Some(2);
            a.sleep = Some(250);
        })
        .unwrap();
        assert_eq!(p.pause, Duration::from_millis(250));
    }
}
