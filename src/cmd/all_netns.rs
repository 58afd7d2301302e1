//! `snapshot --all-netns`: every network namespace of the host, each read in itself (its own port
//! range and settings), printed one after the other (JSON: one object with a `namespaces` list).

use super::snapshot::{print, tell_fallback};
use crate::cli::{Format, SnapshotArgs};
use anyhow::{Context, Result, bail};
use portradar::attribution::ProcessLookup;
use portradar::collect::namespaces;
use portradar::filter::Filter;
use portradar::output::json::{self, Layout, SocketList};
use portradar::refresh::namespaces::{NsRefresher, read_all};
use std::io::{self, Write};

/// Reads every namespace once and prints them.
pub fn snapshot(
    args: &SnapshotArgs,
    filter: Option<Filter>,
    lookup: Option<ProcessLookup>,
) -> Result<()> {
    let found = namespaces::discover();
    let read = read_all(found, args.scope.families(), filter, lookup);
    let mut snaps = Vec::with_capacity(read.len());
    for (ns, reading) in &read {
        match &reading.snapshot {
            Ok(snap) => snaps.push((ns, snap)),
            Err(e) => note!("portradar: namespace {}: {e}", ns.namespace.label),
        }
    }
    let Some((_, first)) = snaps.first() else {
        bail!("no network namespace could be read (entering another one needs root)");
    };
    tell_fallback(first);
    let mut out = io::BufWriter::new(io::stdout().lock());
    if args.format == Format::Json {
        let all = snaps
            .iter()
            .map(|(ns, snap)| (*snap, sockets(ns, args.sockets)));
        json::write_namespaces(all, Layout::Pretty, &mut out)
            .and_then(|()| out.flush())
            .context("writing the snapshot")?;
        return Ok(());
    }
    for (i, (ns, snap)) in snaps.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        writeln!(out, "== network namespace {} ==", ns.namespace.label)?;
        print(snap, None, args.format, Layout::Pretty, &mut out)?;
    }
    Ok(())
}

/// The socket list of a namespace's last refresh, when `wanted`.
fn sockets(ns: &NsRefresher, wanted: bool) -> Option<SocketList<'_>> {
    wanted.then(|| SocketList {
        records: ns.refresher.records(),
        cgroups: Some(ns.refresher.cgroups()),
        who: Some(ns.refresher.attribution()),
    })
}
