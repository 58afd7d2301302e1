//! Who holds the sockets: the cgroup each one is charged to ([`cgroup`], free with every dump), the
//! unit, container or pod that cgroup names ([`mod@unit`]), and the process holding it ([`process`], a
//! `/proc` walk kept lazy and bounded), kept together between refreshes in [`Attribution`].

pub mod cgroup;
mod lookup;
pub mod process;
mod resolved;
pub mod unit;

pub use cgroup::CgroupNames;
pub use lookup::{Attribution, ProcessLookup, ProcessScope};
pub use process::{ProcessMap, Resolution};
pub use resolved::Resolved;
pub use unit::Unit;
