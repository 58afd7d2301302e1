//! The command line (clap, derive style): `portradar [GLOBAL] [FILTER...]`, `portradar snapshot`,
//! `portradar probe`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use portradar::collect::Families;
use portradar::probe::ProbeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "portradar",
    version,
    about = "How this Linux host uses its TCP ports: the ephemeral range as a radar dial, \
             destinations, reused ports and TIME_WAIT, live.",
    after_help = "FILTER is an ss-style expression: dst PREFIX[:PORT], src PREFIX[:PORT], \
                  dport OP PORT, sport OP PORT, state NAME, autobound, combined with and, or, not \
                  and parentheses.\nExamples: portradar dst 10.0.0.5:443\n          \
                  portradar snapshot --format json state time-wait"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub global: Global,
    /// Filter expression (ss style), for the live dashboard.
    #[arg(
        value_name = "FILTER",
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    pub filter: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print one snapshot of the socket table and exit, or one every MS with --watch.
    Snapshot(SnapshotArgs),
    /// Reproduce the port-choice experiment: watch which local ports connect() picks.
    Probe(ProbeArgs),
    /// Stream allocator events as they happen: ports picked, bound connects, failed port searches.
    Events(crate::cmd::events::EventsArgs),
}

/// Options every command that reads the socket table takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Refresh interval of the dashboard in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, global = true,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub interval: u64,
    /// IPv4 sockets only.
    #[arg(short = '4', global = true, conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 sockets only.
    #[arg(short = '6', global = true)]
    pub ipv6: bool,
    /// Read the socket table of a named network namespace (/run/netns/NAME), like `ss -N`.
    #[arg(long, value_name = "NAME", global = true)]
    pub netns: Option<String>,
    /// No colours (the NO_COLOR variable does the same).
    #[arg(long, global = true)]
    pub no_color: bool,
}

impl Global {
    pub fn families(&self) -> Families {
        Families {
            v4: !self.ipv6,
            v6: !self.ipv4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables, readable in 100 columns.
    Table,
    /// One JSON object (fields documented in the README).
    Json,
    /// A few lines: range, totals, top destinations, reused ports.
    Summary,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Add the list of sockets to JSON output.
    #[arg(long)]
    pub sockets: bool,
    /// Refresh every MS milliseconds and print each snapshot (JSON: one object per line), so rates
    /// and forecasts are filled in; runs until --count refreshes, SIGINT/SIGTERM or a closed pipe.
    #[arg(long, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub watch: Option<u64>,
    /// Stop after N refreshes (with --watch).
    #[arg(long, value_name = "N", requires = "watch",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Filter expression (ss style).
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    pub filter: Vec<String>,
}
