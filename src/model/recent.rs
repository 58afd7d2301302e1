//! Ports remembered across refreshes: listeners seen lately, so the TIME_WAIT entries a server keeps
//! after its listener closed stay inbound, and local ports outside the ephemeral range that clients
//! were seen connecting from (explicit client binds), so their connections stay outbound.

use super::PortFacts;
use crate::portset::PortSet;
use rustc_hash::FxHashMap;
use std::time::{Duration, SystemTime};

/// How long a port is remembered after it was last seen: longer than TIME_WAIT (60 s).
const REMEMBER: Duration = Duration::from_secs(120);

/// Ports and when they were last seen.
#[derive(Debug, Default)]
pub(crate) struct RecentPorts {
    listeners: FxHashMap<u16, SystemTime>,
    client_binds: FxHashMap<u16, SystemTime>,
}

impl RecentPorts {
    /// Remembers this table's listener ports and client binds, forgets the stale ones, and adds the
    /// remembered ones to `facts`.
    pub fn update(&mut self, facts: &mut PortFacts, now: SystemTime) {
        remember(&mut self.listeners, &facts.listen, now);
        remember(&mut self.client_binds, &facts.client_binds, now);
        self.listeners.keys().for_each(|p| facts.served.insert(*p));
        self.client_binds
            .keys()
            .for_each(|p| facts.client_binds.insert(*p));
    }
}

fn remember(seen: &mut FxHashMap<u16, SystemTime>, ports: &PortSet, now: SystemTime) {
    for p in ports.iter() {
        seen.insert(p, now);
    }
    // A clock that went back keeps what it has: ages are unknown until it passes them again.
    seen.retain(|_, at| now.duration_since(*at).map_or(true, |age| age < REMEMBER));
}
