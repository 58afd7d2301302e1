//! Who holds the sockets: the cgroup each one is charged to ([`cgroup`], free with every dump), the
//! unit, container or pod that cgroup names ([`unit`]), and the process holding it ([`process`], a
//! `/proc` walk kept lazy and bounded).

pub mod cgroup;
pub mod process;
pub mod unit;

pub use cgroup::CgroupNames;
pub use process::{Owner, ProcessMap, Resolution};
pub use unit::Unit;
