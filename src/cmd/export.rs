//! `portradar export`: Prometheus metrics of the socket table, served on `/metrics` (loopback by
//! default) or written to node_exporter's textfile collector, until SIGINT or SIGTERM.

use super::snapshot::stop_on_signals;
use super::{enter_netns, parse_filter};
use crate::cli::ExportArgs;
use anyhow::{Context, Result, bail};
use portradar::collect::namespaces;
use portradar::export::{self, DEFAULT_LISTEN, Options};
use portradar::refresh::Refresher;
use std::net::SocketAddr;
use std::time::Duration;

pub fn run(args: &ExportArgs) -> Result<()> {
    enter_netns(&args.scope)?;
    let filter = parse_filter(&args.filter)?;
    let listen = match (args.listen, &args.textfile) {
        (Some(addr), _) => Some(addr),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_LISTEN.parse::<SocketAddr>()?),
    };
    let listener = listen.map(export::listen).transpose()?;
    if let Some(listener) = &listener {
        let addr = listener
            .local_addr()
            .context("reading the listening address")?;
        note!("portradar: serving metrics on http://{addr}/metrics");
    }
    let options = Options {
        listener,
        textfile: args.textfile.clone(),
        top: usize::from(args.top),
        interval: Duration::from_millis(args.interval),
    };
    let stop = stop_on_signals().context("installing signal handlers")?;
    if args.all_netns {
        let found = namespaces::discover();
        if found.is_empty() {
            bail!("no network namespace found");
        }
        let families = args.scope.families();
        return Ok(export::run_all_netns(
            found, families, filter, options, &stop,
        )?);
    }
    let refresher = Refresher::new(
        args.scope.netns().map(ToString::to_string),
        args.scope.families(),
        filter,
    );
    // Attached before the first refresh, so the first exposition already counts failures.
    let (refresher, _feed) =
        super::with_events(refresher, args.no_events, "no connect() failure metrics");
    Ok(export::run(refresher, options, &stop)?)
}
