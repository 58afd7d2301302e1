//! The command line (clap, derive style): `portradar [OPTIONS] [FILTER...]` (the dashboard),
//! `portradar snapshot`, `portradar probe`, `portradar completions SHELL`, `portradar man`.
//!
//! Each command declares the options it honours, and nothing else: the dashboard's options are the
//! top-level ones, a subcommand's come after its name. [`parse`] adds what clap cannot say on its
//! own (an option written before the subcommand, a mistyped subcommand, options that need each
//! other) and returns every mistake as one [`UsageError`](crate::exit::UsageError).

mod typo;

use crate::exit::UsageError;
use anyhow::Result;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use portradar::collect::Families;
use portradar::collect::netns::{NetnsArg, NetnsSpec};
use portradar::probe::ProbeArgs;
use std::ffi::OsString;

/// Refresh interval limits of the dashboard, in milliseconds.
const INTERVAL_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;

#[derive(Debug, Parser)]
#[command(
    name = "portradar",
    version,
    about = "How this Linux host uses its TCP ports: the ephemeral range as a radar dial, \
             destinations, reused ports and TIME_WAIT, live.",
    after_help = "FILTER is an ss-style expression: dst PREFIX[:PORT], src PREFIX[:PORT], \
                  dport OP PORT, sport OP PORT, state NAME, exclude STATE, autobound, dev IFACE, \
                  combined with and, or, not and parentheses (`portradar man` has the details).\n\
                  Examples: portradar dst 10.0.0.5:443\n          \
                  portradar snapshot --format json state time-wait"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub dashboard: DashboardArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print one snapshot of the socket table and exit, or one every MS with --watch.
    Snapshot(SnapshotArgs),
    /// Reproduce the port-choice experiment: watch which local ports connect() picks.
    Probe(ProbeArgs),
    /// Stream allocator events as they happen: ports picked, bound connects, failed port searches.
    Events(EventsArgs),
    /// Serve Prometheus metrics on /metrics, or write them for node_exporter's textfile collector.
    Export(ExportArgs),
    /// Append a snapshot of the socket table to FILE every interval: a recording to replay.
    Record(RecordArgs),
    /// The dashboard over a recording, with keys to pause, step, jump and change speed.
    Replay(ReplayArgs),
    /// Print a shell completion script (bash, zsh or fish) to stdout.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout: `portradar man | man -l -`.
    Man,
}

/// The live dashboard's options (the top-level ones).
#[derive(Debug, Clone, Args)]
pub struct DashboardArgs {
    /// Refresh interval in milliseconds, 100 to 3600000.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = interval_ms,
          allow_negative_numbers = true)]
    pub interval: u64,
    #[command(flatten)]
    pub scope: SocketScope,
    /// No colours (the NO_COLOR variable does the same).
    #[arg(long)]
    pub no_color: bool,
    /// Draw the dial with plain characters, no braille (chosen by itself for TERM=dumb and
    /// TERM=linux).
    #[arg(long)]
    pub ascii: bool,
    /// Record every refresh to FILE as well (appending to a recording there).
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
    /// Do not watch the kernel's port allocator (no BPF): counts come from the socket table only.
    #[arg(long)]
    pub no_events: bool,
    /// Every network namespace of the host, tightest headroom first; Enter opens one's dashboard.
    #[arg(long, conflicts_with = "netns")]
    pub all_netns: bool,
    /// Filter expression (ss style).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// `record`: where, how often, how long.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The recording: created, or continued when it is one from the same host, namespace and
    /// families.
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
    /// Refresh interval in milliseconds, 100 to 3600000.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = interval_ms,
          allow_negative_numbers = true)]
    pub interval: u64,
    /// Stop after S seconds (default: at SIGINT or SIGTERM).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    #[command(flatten)]
    pub scope: SocketScope,
}

/// `replay`: the recording, and how to draw.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A recording made by `portradar record` or `portradar --record`.
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
    /// No colours (the NO_COLOR variable does the same).
    #[arg(long)]
    pub no_color: bool,
    /// Draw the dial with plain characters, no braille.
    #[arg(long)]
    pub ascii: bool,
    /// Filter expression (ss style), applied to the recorded table.
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// Which sockets the dashboard and `snapshot` read: one family or both, in which namespace.
#[derive(Debug, Clone, Args)]
pub struct SocketScope {
    /// IPv4 sockets only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 sockets only.
    #[arg(short = '6')]
    pub ipv6: bool,
    #[command(flatten)]
    pub netns: NetnsArg,
}

impl SocketScope {
    pub fn families(&self) -> Families {
        Families {
            v4: !self.ipv6,
            v6: !self.ipv4,
        }
    }

    pub fn netns(&self) -> Option<&NetnsSpec> {
        self.netns.netns.as_ref()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables, readable in 100 columns.
    Table,
    /// One JSON object (its fields are in `portradar man`).
    Json,
    /// A few lines: range, totals, top destinations, reused ports.
    Summary,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub scope: SocketScope,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Add the list of sockets to the JSON output (needs --format json).
    #[arg(long)]
    pub sockets: bool,
    /// Name the process holding each socket toward a destination (with --sockets, every socket) by
    /// reading /proc/PID/fd, within a time budget (JSON: consumers[].pid, processes.partial).
    #[arg(long)]
    pub processes: bool,
    /// Read every network namespace of the host (/run/netns, /var/run/docker/netns, /proc/*/ns/net),
    /// each with its own port range, once; JSON: {"version": 1, "namespaces": [...]}.
    #[arg(long, conflicts_with_all = ["netns", "watch"])]
    pub all_netns: bool,
    /// Refresh every MS milliseconds and print each snapshot (JSON: one object per line), so rates
    /// and forecasts are filled in; runs until --count refreshes, SIGINT/SIGTERM or a closed pipe.
    #[arg(long, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub watch: Option<u64>,
    /// Read the snapshot from a recording instead of the kernel (with --watch: play it, printing
    /// its state every MS of recorded time, as fast as it prints).
    #[arg(long, value_name = "FILE")]
    pub from: Option<std::path::PathBuf>,
    /// The time in the recording: RFC 3339 or +SECONDS from its start (default: its end; with
    /// --watch, its start).
    #[arg(
        long,
        value_name = "TIME",
        requires = "from",
        allow_hyphen_values = true
    )]
    pub at: Option<String>,
    /// Stop after N refreshes (with --watch).
    #[arg(long, value_name = "N", requires = "watch",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// With --watch, do not watch the kernel's port allocator (no BPF): event fields are null.
    #[arg(long)]
    pub no_events: bool,
    /// Filter expression (ss style).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// `events`: what to stream and how.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output format: one line of text or one JSON object per event.
    #[arg(long, value_enum, default_value_t = EventsFormat::Text)]
    pub format: EventsFormat,
    /// Show the events of every network namespace, not only this one's.
    #[arg(long)]
    pub all_netns: bool,
    #[command(flatten)]
    pub scope: SocketScope,
    /// Filter expression (addresses and ports of the event's ends).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// `export`: where the metrics go, how many destinations, how often.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Serve GET /metrics on ADDR:PORT [default: 127.0.0.1:9870 unless --textfile is given alone].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Rewrite this file (node_exporter's textfile collector, *.prom) after every refresh,
    /// atomically.
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<std::path::PathBuf>,
    /// Export the K destinations that use the most ports.
    #[arg(long, value_name = "K", default_value_t = portradar::output::metrics::DEFAULT_TOP,
          value_parser = clap::value_parser!(u16).range(0..=1000))]
    pub top: u16,
    /// Refresh interval in milliseconds, 100 to 3600000.
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = interval_ms,
          allow_negative_numbers = true)]
    pub interval: u64,
    #[command(flatten)]
    pub scope: SocketScope,
    /// Do not watch the kernel's port allocator (no BPF): no connect() failure counters.
    #[arg(long)]
    pub no_events: bool,
    /// Every network namespace of the host, each sample labelled `netns` (no allocator events).
    #[arg(long, conflicts_with = "netns")]
    pub all_netns: bool,
    /// Filter expression (ss style): only the sockets it matches are exported.
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventsFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per line: time, kind, local, remote, pid, comm, cgroup, netns, cookie.
    Json,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Parses the command line. Usage mistakes come back as one-line [`UsageError`]s; `--help` and
/// `--version` as the clap error that prints them.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli> {
    let args: Vec<OsString> = args.into_iter().collect();
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(e) if crate::exit::is_display(&e) => return Err(e.into()),
        Err(e) => {
            let misspelt = args.get(1).and_then(misspelt_command);
            return Err(misspelt
                .unwrap_or_else(|| UsageError::from_clap(&e, &command_path(&args)))
                .into());
        }
    };
    check_order(&matches)?;
    let cli = Cli::from_arg_matches(&matches)
        .map_err(|e| UsageError::from_clap(&e, &command_path(&args)))?;
    cli.check()?;
    Ok(cli)
}

impl Cli {
    /// What clap's declarations cannot express.
    fn check(&self) -> Result<(), UsageError> {
        match &self.command {
            Some(Command::Snapshot(args)) if args.sockets && args.format != Format::Json => Err(
                UsageError::new("--sockets lists the sockets in JSON only: add --format json"),
            ),
            Some(Command::Snapshot(args))
                if args.from.is_some()
                    && (args.scope.ipv4 || args.scope.ipv6 || args.scope.netns().is_some()) =>
            {
                Err(UsageError::new(
                    "--from reads a recording: -4, -6 and --netns do not apply to it",
                ))
            }
            Some(_) => Ok(()),
            None => match self.dashboard.filter.first().and_then(misspelt_command) {
                Some(misspelt) => Err(misspelt),
                None => Ok(()),
            },
        }
    }
}

/// `portradar SUBCOMMAND` when the arguments name one, else `portradar`: whose help to point at.
fn command_path(args: &[OsString]) -> String {
    let command = Cli::command();
    let sub = args.iter().skip(1).find_map(|arg| {
        command
            .get_subcommands()
            .map(clap::Command::get_name)
            .find(|name| arg.to_str() == Some(*name))
    });
    match sub {
        Some(name) => format!("portradar {name}"),
        None => "portradar".to_string(),
    }
}

/// A word that is not a subcommand but close to one (`snapshto`).
fn misspelt_command(word: impl AsRef<std::ffi::OsStr>) -> Option<UsageError> {
    let word = word.as_ref().to_str()?;
    let command = Cli::command();
    let names = command.get_subcommands().map(clap::Command::get_name);
    let near = typo::nearest(word, names)?;
    Some(UsageError::new(format!(
        "unknown command '{word}': did you mean '{near}'?"
    )))
}

/// Top-level options are the dashboard's: with a subcommand, one of them is either misplaced (the
/// subcommand takes it too, after its name) or foreign to the subcommand.
fn check_order(matches: &ArgMatches) -> Result<(), UsageError> {
    let Some((name, _)) = matches.subcommand() else {
        return Ok(());
    };
    let top = Cli::command();
    let Some(given) = top
        .get_arguments()
        .filter(|arg| !arg.is_positional())
        .find(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
    else {
        return Ok(());
    };
    let spelling = match (given.get_long(), given.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => given.get_id().to_string(),
    };
    let takes_it = top
        .find_subcommand(name)
        .is_some_and(|sub| sub.get_arguments().any(|a| a.get_id() == given.get_id()));
    let message = if takes_it {
        format!("{spelling} goes after the subcommand: portradar {name} {spelling} ...")
    } else {
        format!("'{name}' does not take {spelling} (an option of the dashboard)")
    };
    Err(UsageError::new(message))
}

/// `--interval MS`, with the reason when it is out of bounds.
fn interval_ms(text: &str) -> Result<u64, String> {
    let bounds = || {
        format!(
            "must be {}..={} milliseconds",
            INTERVAL_MS.start(),
            INTERVAL_MS.end()
        )
    };
    let digits = text.strip_prefix('-').unwrap_or(text);
    match text.parse::<u64>() {
        Ok(ms) if INTERVAL_MS.contains(&ms) => Ok(ms),
        _ if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => Err(bounds()),
        _ => Err(format!("not a number; {}", bounds())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Cli> {
        parse(
            std::iter::once("portradar")
                .chain(words.iter().copied())
                .map(OsString::from),
        )
    }

    fn error(words: &[&str]) -> String {
        let e = parse_words(words).unwrap_err();
        e.downcast_ref::<UsageError>()
            .unwrap_or_else(|| panic!("{words:?}: not a usage error: {e}"))
            .to_string()
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_may_follow_filter_words() {
        let cli = parse_words(&["snapshot", "dst", "10.0.0.1", "-4", "--format", "json"]).unwrap();
        let Some(Command::Snapshot(args)) = cli.command else {
            panic!("snapshot expected");
        };
        assert_eq!(args.filter, ["dst", "10.0.0.1"]);
        assert!(args.scope.ipv4 && args.format == Format::Json);
        let cli =
            parse_words(&["dst", "10.0.0.1", "--interval", "500", "dport", "=", "443"]).unwrap();
        assert_eq!(
            cli.dashboard.filter,
            ["dst", "10.0.0.1", "dport", "=", "443"]
        );
        assert_eq!(cli.dashboard.interval, 500);
    }

    #[test]
    fn netns_takes_names_paths_and_pids_and_short_n() {
        let cli = parse_words(&["snapshot", "-N", "blue"]).unwrap();
        let Some(Command::Snapshot(args)) = cli.command else {
            panic!("snapshot expected");
        };
        assert_eq!(args.scope.netns(), Some(&NetnsSpec::Name("blue".into())));
        let cli = parse_words(&["--netns", "42"]).unwrap();
        assert_eq!(cli.dashboard.scope.netns(), Some(&NetnsSpec::Pid(42)));
    }

    #[test]
    fn options_before_the_subcommand_are_refused_with_the_fix() {
        assert_eq!(
            error(&["-4", "snapshot"]),
            "-4 goes after the subcommand: portradar snapshot -4 ..."
        );
        assert_eq!(
            error(&["--interval", "500", "probe"]),
            "'probe' does not take --interval (an option of the dashboard)"
        );
    }

    #[test]
    fn subcommand_typos_are_named() {
        assert_eq!(
            error(&["snapshto"]),
            "unknown command 'snapshto': did you mean 'snapshot'?"
        );
        assert_eq!(
            error(&["prbe", "--count", "3"]),
            "unknown command 'prbe': did you mean 'probe'?"
        );
        assert!(parse_words(&["dst", "10.0.0.1"]).is_ok());
    }

    #[test]
    fn recordings_take_their_options() {
        let cli = parse_words(&["record", "f.rec", "--duration", "5", "-4"]).unwrap();
        let Some(Command::Record(args)) = cli.command else {
            panic!("record expected");
        };
        assert_eq!((args.duration, args.interval), (Some(5), 1000));
        let cli = parse_words(&["--record", "f.rec"]).unwrap();
        assert_eq!(
            cli.dashboard.record.as_deref(),
            Some(std::path::Path::new("f.rec"))
        );
        assert!(parse_words(&["snapshot", "--from", "f.rec", "--at", "+30"]).is_ok());
        assert!(error(&["snapshot", "--at", "+30"]).contains("--from"));
        assert!(error(&["snapshot", "--from", "f.rec", "-4"]).contains("do not apply"));
        assert!(parse_words(&["replay", "f.rec", "state", "listen"]).is_ok());
    }

    #[test]
    fn sockets_needs_json() {
        assert!(error(&["snapshot", "--sockets"]).contains("--format json"));
        assert!(parse_words(&["snapshot", "--sockets", "--format", "json"]).is_ok());
    }

    #[test]
    fn interval_bounds_are_explained() {
        assert_eq!(interval_ms("100"), Ok(100));
        assert_eq!(
            interval_ms("0"),
            Err("must be 100..=3600000 milliseconds".into())
        );
        assert_eq!(
            interval_ms("-1"),
            Err("must be 100..=3600000 milliseconds".into())
        );
        assert!(interval_ms("1s").unwrap_err().starts_with("not a number"));
    }
}
