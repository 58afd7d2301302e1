//! TIME_WAIT at a glance: how many, when their timers end, how many ports free up soon.

use crate::socket::{SockRecord, TcpState};
use serde::Serialize;

/// TIME_WAIT sockets of one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimeWaitSummary {
    pub count: u32,
    /// Sockets by remaining whole seconds, rounded up: index 0 holds the ones about to go, 60 the
    /// newest.
    pub remaining_s: Vec<u32>,
    pub freeing_10s: u32,
    pub freeing_30s: u32,
    pub freeing_60s: u32,
}

impl TimeWaitSummary {
    pub(crate) fn build(records: &[SockRecord]) -> TimeWaitSummary {
        let mut s = TimeWaitSummary {
            count: 0,
            remaining_s: vec![0; 61],
            freeing_10s: 0,
            freeing_30s: 0,
            freeing_60s: 0,
        };
        for r in records.iter().filter(|r| r.state == TcpState::TimeWait) {
            s.count += 1;
            let secs = r.expires_ms.div_ceil(1000).min(60) as usize;
            s.remaining_s[secs] += 1;
            s.freeing_10s += u32::from(r.expires_ms <= 10_000);
            s.freeing_30s += u32::from(r.expires_ms <= 30_000);
            s.freeing_60s += u32::from(r.expires_ms <= 60_000);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testkit::{rec, tw};

    #[test]
    fn histogram_and_release_schedule() {
        let records = [
            tw("127.0.0.1:1000", "127.0.0.2:80", 0),
            tw("127.0.0.1:1001", "127.0.0.2:80", 9_999),
            tw("127.0.0.1:1002", "127.0.0.2:80", 10_001),
            tw("127.0.0.1:1003", "127.0.0.2:80", 59_900),
            rec("127.0.0.1:1004", "127.0.0.2:80", TcpState::Established),
        ];
        let s = TimeWaitSummary::build(&records);
        assert_eq!(s.count, 4);
        assert_eq!((s.freeing_10s, s.freeing_30s, s.freeing_60s), (2, 3, 4));
        assert_eq!(
            (
                s.remaining_s[0],
                s.remaining_s[10],
                s.remaining_s[11],
                s.remaining_s[60]
            ),
            (1, 1, 1, 1)
        );
    }
}
