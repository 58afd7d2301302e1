//! `portradar snapshot`: one refresh of the socket table, printed as a table, a summary or JSON.

use super::{enter_netns, parse_filter, write_stdout};
use crate::cli::{Format, SnapshotArgs};
use anyhow::{Context, Result};
use portradar::output;
use portradar::refresh::Refresher;

pub fn run(args: &SnapshotArgs) -> Result<()> {
    enter_netns(&args.scope)?;
    let filter = parse_filter(&args.filter)?;
    let mut refresher = Refresher::new(args.scope.netns().map(ToString::to_string));
    let snap = refresher
        .refresh(args.scope.families(), filter.as_ref())
        .context("reading the socket table")?;
    write_stdout("the snapshot", |mut out| match args.format {
        Format::Table => out.write_all(output::table::render(&snap).as_bytes()),
        Format::Summary => out.write_all(output::summary::render(&snap).as_bytes()),
        Format::Json => {
            let sockets = args.sockets.then(|| refresher.records());
            output::json::write(&snap, sockets, &mut out)
        }
    })
}
