//! Kernel settings that bound port allocation: the ephemeral range, reserved ports, TIME_WAIT knobs and
//! descriptor limits. Plain data; `collect::sysctl` reads them from procfs.

use serde::Serialize;

/// `net.ipv4.ip_local_port_range`, both ends inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

impl PortRange {
    /// Number of ports in the range.
    pub fn size(&self) -> u32 {
        u32::from(self.high).saturating_sub(u32::from(self.low)) + 1
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.low..=self.high).contains(&port)
    }
}

/// Everything portradar reads from `/proc/sys` and the process limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelSettings {
    pub port_range: PortRange,
    /// `net.ipv4.ip_local_reserved_ports` as inclusive `[low, high]` spans, sorted.
    pub reserved_ports: Vec<[u16; 2]>,
    pub tcp_tw_reuse: u8,
    /// `net.ipv4.tcp_tw_reuse_delay`: how old a TIME_WAIT entry must be before connect() may reuse it.
    pub tcp_tw_reuse_delay_ms: u32,
    pub tcp_fin_timeout: u32,
    pub tcp_max_tw_buckets: u64,
    /// `fs.file-nr`: allocated, unused, max.
    pub file_nr: [u64; 3],
    pub file_max: u64,
    pub nr_open: u64,
    /// RLIMIT_NOFILE of this process: soft, hard.
    pub rlimit_nofile: [u64; 2],
    pub kernel_release: String,
}

impl KernelSettings {
    /// True when `port` lies in one of the reserved spans.
    pub fn is_reserved(&self, port: u16) -> bool {
        self.reserved_ports
            .iter()
            .any(|[lo, hi]| (*lo..=*hi).contains(&port))
    }

    /// Settings for tests and renders: the given range, nothing reserved, Linux defaults elsewhere.
    pub fn with_range(low: u16, high: u16) -> KernelSettings {
        KernelSettings {
            port_range: PortRange { low, high },
            reserved_ports: Vec::new(),
            tcp_tw_reuse: 2,
            tcp_tw_reuse_delay_ms: 1000,
            tcp_fin_timeout: 60,
            tcp_max_tw_buckets: 131072,
            file_nr: [0, 0, 0],
            file_max: 0,
            nr_open: 0,
            rlimit_nofile: [0, 0],
            kernel_release: String::from("test"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_size_counts_both_ends() {
        assert_eq!(
            PortRange {
                low: 1025,
                high: 1034
            }
            .size(),
            10
        );
        assert_eq!(
            PortRange {
                low: 0,
                high: 65535
            }
            .size(),
            65536
        );
    }

    #[test]
    fn reserved_spans_are_inclusive() {
        let mut s = KernelSettings::with_range(1000, 2000);
        s.reserved_ports = vec![[1100, 1100], [1200, 1210]];
        assert!(s.is_reserved(1100) && s.is_reserved(1210));
        assert!(!s.is_reserved(1101) && !s.is_reserved(1211));
    }
}
