//! `portradar man`: the manual page (roff, section 1) on stdout. The synopsis and every option come
//! from the clap definition (clap_mangen); the filter language, the dashboard's keys (the table the
//! dashboard's own help is drawn from), the JSON fields and the exit status are written here, so an
//! installed binary documents itself.

use super::write_stdout;
use crate::cli::Cli;
use anyhow::Result;
use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use std::io::{self, Write};

/// What portradar shows, after the one-line summary.
const DESCRIPTION: [&str; 3] = [
    "portradar reads the TCP socket table through sock_diag netlink (or /proc/net/tcp and \
     /proc/net/tcp6 when netlink is refused) and shows how the host uses its ports: the ephemeral \
     range (net.ipv4.ip_local_port_range) as a radar dial with the kernel's inferred search pointer, \
     the destinations using ports and how many more connections each can take (its headroom), local \
     ports reused across several 4-tuples, and TIME_WAIT draining.",
    "A connection only needs its 4-tuple (local address and port, remote address and port) to be \
     unique, so one local port serves many destinations, and the range bounds the connections from one \
     local address to one destination. Headroom toward a destination D from a local address L is the \
     ports of the range, less reserved ports, less ports held by bind()-ed sockets, less the ports \
     already paired with D from L in any state: that many more connect() calls succeed.",
    "Without a subcommand portradar runs the live dashboard (it needs a terminal). The subcommands \
     print a snapshot (once, or every interval with --watch), stream allocator events, serve \
     Prometheus metrics, record the table to a file and replay it, or run the port-choice experiment.",
];

/// The filter language: (syntax, meaning).
const FILTER_TERMS: [(&str, &str); 8] = [
    (
        "dst HOST, src HOST",
        "The remote (dst) or local (src) end: an address or prefix with an optional port \
         (10.0.0.5, 10.0.0.0/8, 10.0.0.5:443, [::1]:443, :443, *), or a host name, looked up once \
         when the filter is read and matching every address it has (dst db.internal:5432).",
    ),
    (
        "dport OP PORT, sport OP PORT",
        "Compares the remote (dport) or local (sport) port. OP is one of = != < <= > >= or eq ne lt \
         le gt ge (none means =). PORT is a number or a service name from /etc/services, with or \
         without a colon (dport = :https).",
    ),
    (
        "state NAME",
        "Sockets in a kernel state: established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, \
         time-wait, close, close-wait, last-ack, listen, closing, new-syn-recv, bound-inactive \
         (the kernel spelling TIME_WAIT and ss's estab and listening work too), or a group, as in \
         ss: all; connected (every \
         state but listen and close); synchronized (connected but syn-sent); bucket (the \
         minisockets: syn-recv and time-wait); big (every state but bucket).",
    ),
    (
        "exclude NAME",
        "Every state but NAME (a state or a group): not state NAME.",
    ),
    (
        "dev IFACE",
        "Sockets bound to the interface IFACE, by name (eth0) or index.",
    ),
    (
        "autobound",
        "Sockets whose local port the kernel chose (connect() without bind(), or bind() to port 0).",
    ),
    (
        "not X, X and Y, X or Y, ( X )",
        "Combine conditions; not binds tighter than and, and tighter than or. Two conditions side by \
         side are and-ed. !, && and || are accepted too.",
    ),
    (
        "Examples",
        "dst 10.0.0.0/8 and state established; dport = :https and not (state time-wait or dst \
         10.1.2.3); exclude bucket; src :8080.",
    ),
];

/// How `snapshot --watch` prints its JSON, after the fields.
const JSON_WATCH: &str = "snapshot --watch MS --format json prints one such object per line, one \
     line per refresh (JSON Lines), each written and flushed as the refresh ends; from the second \
     line on, rates and forecasts are filled in where a one-shot snapshot leaves them null.";

/// The JSON of `snapshot --format json`: (field, meaning).
const JSON_FIELDS: [(&str, &str); 16] = [
    ("version", "Format version, 1."),
    ("taken_at", "RFC 3339 UTC time of the dump."),
    (
        "source",
        "netlink, or procfs when netlink was refused and /proc/net/tcp{,6} was read.",
    ),
    ("netns", "The --netns given, or null."),
    ("filter", "The filter expression, or null."),
    (
        "bind_side_read_at",
        "When bound-inactive sockets and explicitly bound ports were last read (RFC 3339), or null.",
    ),
    ("kernel", "Kernel release."),
    (
        "port_range",
        "{low, high, size} of net.ipv4.ip_local_port_range; reserved_ports: \
         net.ipv4.ip_local_reserved_ports as [low, high] spans.",
    ),
    (
        "sysctls",
        "tcp_tw_reuse, tcp_tw_reuse_delay_ms, tcp_fin_timeout, tcp_max_tw_buckets, file_nr, \
         file_max, nr_open, rlimit_nofile.",
    ),
    (
        "totals",
        "{sockets, by_state: {STATE: n}} over the (filtered) table.",
    ),
    (
        "destinations[]",
        "Outbound connections per remote end: remote, sockets, by_state, local_ips, ports_in_range, \
         headroom[] per local address (local_ip, free, reusable_time_wait, time_wait_freeing_10s, \
         _30s, _60s), new_per_s and forecast (rate_per_s, sustainable_per_s, exhausted_in_s or null \
         when it holds, half_range_used; both null in a one-shot snapshot), pointer (the inferred \
         search pointer, or null).",
    ),
    (
        "services[]",
        "Inbound connections per local end held by a listener: local, sockets, by_state.",
    ),
    (
        "reused_ports[]",
        "Local ends shared by several outbound 4-tuples (at most 1000): local, tuples[] (local, \
         remote, state), remotes; reused_ports_total counts them all.",
    ),
    (
        "time_wait",
        "count, remaining_s (histogram by seconds left, 0..60), freeing_10s, freeing_30s, \
         freeing_60s.",
    ),
    (
        "pointer",
        "inferred (always true), newest_auto_port, recent_allocations, score {hits, predicted, \
         unpredicted}, hit_rate.",
    ),
    (
        "sockets[]",
        "With --sockets: family, state, local, remote, timer, expires_ms, retrans, uid, inode, \
         cookie.",
    ),
];

/// Exit statuses: (status, meaning).
const EXIT_STATUS: [(&str, &str); 3] = [
    ("0", "Success (also after --help and --version)."),
    (
        "1",
        "A failure while running: the kernel refused a read, the terminal failed, the probe could \
         not connect.",
    ),
    (
        "2",
        "A usage error: an unknown option or subcommand, a bad value, a bad filter, a network \
         namespace that does not exist. One line on stderr says what is wrong.",
    ),
];

/// Environment variables: (name, effect).
const ENVIRONMENT: [(&str, &str); 2] = [
    (
        "NO_COLOR",
        "When set and not empty, the dashboard uses no colours, as --no-color.",
    ),
    (
        "TERM",
        "dumb or linux: the dashboard draws the dial with plain characters, as --ascii.",
    ),
];

/// The lines roff starts every rendering with (they define the apostrophe string `\*(Aq`): once
/// at the top of the page is enough.
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

pub fn run() -> Result<()> {
    let page = page()?;
    write_stdout("the manual page", |out| out.write_all(page.as_bytes()))
}

/// The page, assembled from parts that each begin with the apostrophe preamble, which it keeps once.
fn page() -> io::Result<String> {
    let mut parts = Vec::new();
    render(&mut parts)?;
    let text = String::from_utf8_lossy(&parts);
    let body = text.replace(APOSTROPHE_PREAMBLE, "");
    Ok(if text.starts_with(APOSTROPHE_PREAMBLE) {
        format!("{APOSTROPHE_PREAMBLE}{body}")
    } else {
        body
    })
}

/// Every part of the page, in order.
fn render(out: &mut dyn Write) -> io::Result<()> {
    let command = Cli::command();
    let man = Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    for paragraph in DESCRIPTION {
        roff.control("PP", []).text([roman(paragraph)]);
    }
    commands(&mut roff, &command);
    roff.to_writer(out)?;
    // clap adds --help and --version when it builds a command: they land under OPTIONS, each
    // command's own options under a heading of their own.
    Man::new(
        command
            .clone()
            .mut_args(|a| a.help_heading("DASHBOARD OPTIONS")),
    )
    .render_options_section(out)?;
    for sub in command.get_subcommands() {
        if sub.get_arguments().next().is_some() {
            let kind = if sub.get_arguments().all(clap::Arg::is_positional) {
                "ARGUMENTS"
            } else {
                "OPTIONS"
            };
            let heading = format!("{} {kind}", sub.get_name().to_uppercase());
            let sub = sub.clone().disable_help_flag(true);
            Man::new(sub.mut_args(|a| a.help_heading(heading.clone())))
                .render_options_section(out)?;
        }
    }
    let mut roff = Roff::new();
    filters(&mut roff);
    keys(&mut roff);
    list(&mut roff, "JSON OUTPUT", &JSON_FIELDS);
    roff.control("PP", []).text([roman(JSON_WATCH)]);
    list(&mut roff, "EXIT STATUS", &EXIT_STATUS);
    list(&mut roff, "ENVIRONMENT", &ENVIRONMENT);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// Each command's synopsis and what it does.
fn commands(roff: &mut Roff, command: &clap::Command) {
    let mut command = command.clone();
    command.build();
    roff.control("SH", ["COMMANDS"]);
    let mut entry = |usage: String, about: String| {
        roff.control("TP", [])
            .text([bold(usage)])
            .text([roman(about)]);
    };
    entry(
        usage(&command).replace(" [COMMAND]", ""),
        "The live dashboard (the default). Options: DASHBOARD OPTIONS.".to_string(),
    );
    for sub in command
        .get_subcommands()
        .filter(|sub| sub.get_name() != "help")
    {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        entry(usage(sub), about);
    }
}

/// `portradar snapshot [OPTIONS] [FILTER]...`, as clap writes it.
fn usage(command: &clap::Command) -> String {
    let usage = command.clone().render_usage().to_string();
    let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage);
    // The top-level usage lists the subcommand form too; the dashboard's is the first line.
    usage.lines().next().unwrap_or_default().trim().to_string()
}

fn filters(roff: &mut Roff) {
    roff.control("SH", ["FILTER"]);
    roff.text([roman(
        "FILTER is an ss-style expression, given as the trailing words of the dashboard or of \
         snapshot, or typed at the dashboard's / prompt. Keywords are case-insensitive. Address, \
         port and dev conditions are compiled to inet_diag bytecode so the kernel filters before \
         copying; state conditions go into the request's state mask. A bad expression is a usage \
         error that names the word at fault.",
    )]);
    for (term, meaning) in FILTER_TERMS {
        roff.control("TP", [])
            .text([bold(term)])
            .text([roman(meaning)]);
    }
}

fn keys(roff: &mut Roff) {
    roff.control("SH", ["KEYS"]);
    roff.text([roman("The dashboard's keys (? shows them on screen):")]);
    for key in portradar::ui::KEYS.iter() {
        roff.control("TP", [])
            .text([bold(key.keys)])
            .text([roman(key.long)]);
    }
}

/// A section of tagged paragraphs.
fn list(roff: &mut Roff, heading: &str, items: &[(&str, &str)]) {
    roff.control("SH", [heading]);
    for (term, meaning) in items {
        roff.control("TP", [])
            .text([italic(*term)])
            .text([roman(*meaning)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_its_options_are_documented() {
        let page = page().unwrap();
        assert_eq!(page.matches(".ds Aq").count(), 2, "one preamble");
        assert!(page.starts_with(APOSTROPHE_PREAMBLE));
        assert!(page.contains("\n.TH portradar 1 "));
        for heading in [
            ".SH SYNOPSIS",
            ".SH COMMANDS",
            ".SH \"DASHBOARD OPTIONS\"",
            ".SH \"SNAPSHOT OPTIONS\"",
            ".SH \"PROBE OPTIONS\"",
            ".SH FILTER",
            ".SH KEYS",
            ".SH \"JSON OUTPUT\"",
            ".SH \"EXIT STATUS\"",
        ] {
            assert!(page.contains(heading), "{heading} missing");
        }
        assert!(
            page.contains("one such object per line"),
            "--watch JSON lines"
        );
        for option in ["interval", "netns", "ascii", "sockets", "socket\\-range"] {
            assert!(page.contains(option), "{option} missing");
        }
    }
}
