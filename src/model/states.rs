//! Socket counts per TCP state, as a flat array indexed by the kernel's state number.

use crate::socket::TcpState;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// How many sockets are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts([u32; 14]);

impl StateCounts {
    pub fn add(&mut self, state: TcpState) {
        self.0[usize::from(state.kernel_number())] += 1;
    }

    pub fn get(&self, state: TcpState) -> u32 {
        self.0[usize::from(state.kernel_number())]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|n| u64::from(*n)).sum()
    }

    /// The states with at least one socket, in kernel order.
    pub fn nonzero(&self) -> impl Iterator<Item = (TcpState, u32)> + '_ {
        TcpState::ALL
            .iter()
            .map(|s| (*s, self.get(*s)))
            .filter(|(_, n)| *n > 0)
    }

    /// Sockets in states other than ESTABLISHED, TIME_WAIT and LISTEN.
    pub fn others(&self) -> u32 {
        self.nonzero()
            .filter(|(s, _)| {
                !matches!(
                    s,
                    TcpState::Established | TcpState::TimeWait | TcpState::Listen
                )
            })
            .map(|(_, n)| n)
            .sum()
    }
}

/// Serializes as `{"ESTABLISHED": 3, "TIME_WAIT": 1}`, states with no socket left out.
impl Serialize for StateCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (state, n) in self.nonzero() {
            map.serialize_entry(state.name(), &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_serializes_nonzero_states() {
        let mut c = StateCounts::default();
        c.add(TcpState::TimeWait);
        c.add(TcpState::TimeWait);
        c.add(TcpState::BoundInactive);
        c.add(TcpState::SynSent);
        assert_eq!(c.total(), 4);
        assert_eq!(c.others(), 2);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"SYN_SENT":1,"TIME_WAIT":2,"BOUND_INACTIVE":1}"#
        );
    }
}
