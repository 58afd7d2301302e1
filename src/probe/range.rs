//! The port ranges a probe searches: the network namespace's `ip_local_port_range`, and what the kernel
//! makes of a per-socket `IP_LOCAL_PORT_RANGE` inside it (`inet_sk_get_local_port_range`).

use super::ProbeError;
use crate::collect::sysctl::parse_port_range;
use crate::settings::PortRange;

/// The range of the calling thread's network namespace.
pub(super) const PORT_RANGE_PATH: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// Reads `ip_local_port_range` as the calling thread sees it.
pub(super) fn system() -> Result<PortRange, ProbeError> {
    let text =
        std::fs::read_to_string(PORT_RANGE_PATH).map_err(|source| ProbeError::ReadRange {
            path: PORT_RANGE_PATH,
            source,
        })?;
    parse_port_range(&text).map_err(|what| ProbeError::ParseRange {
        path: PORT_RANGE_PATH,
        what,
    })
}

/// The range a socket with `IP_LOCAL_PORT_RANGE` = `asked` searches within `system`, and a note for
/// each end the kernel ignored. Each end counts only if it lies inside the system range (the high
/// end: between the low end kept and the system's high end); the option still switches the scan to
/// step 1 even when both are ignored.
pub(super) fn narrow(system: PortRange, asked: PortRange) -> (PortRange, Vec<String>) {
    let mut notes = Vec::new();
    let mut ignored = |end: &str, port: u16, used: u16| {
        notes.push(format!(
            "--socket-range {end} {port} lies outside the system range {}-{}: the kernel ignores it \
             and uses {used}",
            system.low, system.high
        ));
    };
    let low = if system.contains(asked.low) {
        asked.low
    } else {
        ignored("LOW", asked.low, system.low);
        system.low
    };
    let high = if (low..=system.high).contains(&asked.high) {
        asked.high
    } else {
        ignored("HIGH", asked.high, system.high);
        system.high
    };
    (PortRange { low, high }, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEM: PortRange = PortRange {
        low: 32768,
        high: 60999,
    };

    #[test]
    fn a_range_inside_the_system_range_is_kept() {
        let asked = PortRange {
            low: 40000,
            high: 40099,
        };
        assert_eq!(narrow(SYSTEM, asked), (asked, vec![]));
    }

    #[test]
    fn ends_outside_the_system_range_are_ignored_one_by_one() {
        let (range, notes) = narrow(
            SYSTEM,
            PortRange {
                low: 1025,
                high: 40000,
            },
        );
        assert_eq!(
            range,
            PortRange {
                low: 32768,
                high: 40000
            }
        );
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0]
                .starts_with("--socket-range LOW 1025 lies outside the system range 32768-60999")
        );
        let (range, notes) = narrow(
            SYSTEM,
            PortRange {
                low: 1025,
                high: 1034,
            },
        );
        assert_eq!(range, SYSTEM);
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn the_system_range_file_parses() {
        let range = system().unwrap();
        assert!(range.low <= range.high);
    }
}
