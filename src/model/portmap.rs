//! What every port of the ephemeral range is doing, one byte per port: the data the dial draws.

use super::{Input, PortFacts};
use crate::socket::TcpState;
use serde::Serialize;

/// The use of one port, in rising precedence: when several sockets share a port, the highest wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum PortUse {
    #[default]
    Free = 0,
    TimeWait = 1,
    /// Any other connection state (SYN_SENT, FIN_WAIT*, CLOSE_WAIT, ...).
    Other = 2,
    Established = 3,
    /// Held by a bind()-ed socket (listener, explicit bind): connect() skips it.
    Bound = 4,
    /// In `ip_local_reserved_ports`.
    Reserved = 5,
}

impl PortUse {
    pub const ALL: [PortUse; 6] = [
        PortUse::Free,
        PortUse::TimeWait,
        PortUse::Other,
        PortUse::Established,
        PortUse::Bound,
        PortUse::Reserved,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PortUse::Free => "free",
            PortUse::TimeWait => "TIME_WAIT",
            PortUse::Other => "other",
            PortUse::Established => "established",
            PortUse::Bound => "bound",
            PortUse::Reserved => "reserved",
        }
    }

    fn of_state(state: TcpState) -> PortUse {
        match state {
            TcpState::Established => PortUse::Established,
            TcpState::TimeWait => PortUse::TimeWait,
            TcpState::Listen | TcpState::BoundInactive => PortUse::Bound,
            _ => PortUse::Other,
        }
    }
}

/// The use of each port in `low..=low + uses.len() - 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMap {
    pub low: u16,
    uses: Vec<PortUse>,
}

/// Counts of ports per use, indexed by `PortUse as usize`.
pub type UseCounts = [u32; 6];

impl PortMap {
    pub(crate) fn build(input: &Input<'_>, facts: &PortFacts) -> PortMap {
        let range = input.settings.port_range;
        let mut uses = vec![PortUse::Free; range.size() as usize];
        let mut set = |port: u16, u: PortUse| {
            if range.contains(port) {
                let slot = &mut uses[usize::from(port - range.low)];
                *slot = (*slot).max(u);
            }
        };
        for r in input.records {
            set(r.local.port, PortUse::of_state(r.state));
        }
        for p in facts.blocked.iter_in(range.low, range.high) {
            let u = if input.settings.is_reserved(p) {
                PortUse::Reserved
            } else {
                PortUse::Bound
            };
            set(p, u);
        }
        PortMap {
            low: range.low,
            uses,
        }
    }

    /// A map from explicit uses (for rendering tests and recordings).
    pub fn from_uses(low: u16, uses: Vec<PortUse>) -> PortMap {
        PortMap { low, uses }
    }

    pub fn len(&self) -> usize {
        self.uses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uses.is_empty()
    }

    pub fn get(&self, port: u16) -> Option<PortUse> {
        self.uses
            .get(usize::from(port.checked_sub(self.low)?))
            .copied()
    }

    /// Ports per use over the offsets `from..to` of the range (clamped to the range).
    pub fn counts(&self, from: usize, to: usize) -> UseCounts {
        let mut c = [0u32; 6];
        let to = to.min(self.uses.len());
        for u in &self.uses[from.min(to)..to] {
            c[*u as usize] += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::{rec, snapshot, tw};
    use crate::settings::KernelSettings;
    use crate::socket::TcpState::*;

    #[test]
    fn each_port_takes_its_strongest_use() {
        let mut settings = KernelSettings::with_range(1000, 1007);
        settings.reserved_ports = vec![[1007, 1007]];
        let records = [
            rec("127.0.0.1:1000", "127.0.0.2:80", Established),
            tw("127.0.0.1:1000", "127.0.0.3:80", 1000),
            tw("127.0.0.1:1001", "127.0.0.3:80", 1000),
            rec("127.0.0.1:1002", "127.0.0.3:80", CloseWait),
            rec("0.0.0.0:1003", "0.0.0.0:0", Listen),
            rec("127.0.0.1:999", "127.0.0.3:80", Established),
        ];
        let m = snapshot(&records, &settings, &[1005]).ports;
        let uses: Vec<PortUse> = (1000..=1007).map(|p| m.get(p).unwrap()).collect();
        use PortUse as U;
        assert_eq!(
            uses,
            [
                U::Established,
                U::TimeWait,
                U::Other,
                U::Bound,
                U::Free,
                U::Bound,
                U::Free,
                U::Reserved
            ]
        );
        assert_eq!(m.get(999), None);
        assert_eq!(m.counts(0, 8), [2, 1, 1, 1, 2, 1]);
        assert_eq!(m.counts(6, 100), [1, 0, 0, 0, 0, 1]);
    }
}
