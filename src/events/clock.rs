//! Boot-time stamps (CLOCK_BOOTTIME, what the BPF program records) to wall-clock time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The offset between the wall clock and the boot clock, read once.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    /// Wall-clock time at boot, in nanoseconds since the epoch.
    boot_at_ns: u128,
}

impl BootClock {
    /// Reads both clocks now.
    pub fn now() -> BootClock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        BootClock {
            boot_at_ns: wall.saturating_sub(u128::from(boottime_ns())),
        }
    }

    /// A clock whose boot happened at `boot_at` (for tests and replays).
    pub fn booted_at(boot_at: SystemTime) -> BootClock {
        BootClock {
            boot_at_ns: boot_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        }
    }

    /// The wall-clock time of a boot-clock stamp.
    pub fn wall(&self, boot_ns: u64) -> SystemTime {
        let ns = self.boot_at_ns + u128::from(boot_ns);
        let secs = u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX);
        // The remainder is below 10^9 and fits.
        UNIX_EPOCH + Duration::new(secs, (ns % 1_000_000_000) as u32)
    }
}

/// CLOCK_BOOTTIME now, in nanoseconds (the clock of event stamps).
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_BOOTTIME exists since Linux 2.6.39.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_boot_plus_its_age() {
        let clock = BootClock::booted_at(UNIX_EPOCH + Duration::from_secs(100));
        assert_eq!(
            clock.wall(1_500_000_123),
            UNIX_EPOCH + Duration::new(101, 500_000_123)
        );
    }

    #[test]
    fn the_current_boot_time_maps_to_about_now() {
        let clock = BootClock::now();
        let now = SystemTime::now();
        let then = clock.wall(boottime_ns());
        let gap = now.duration_since(then).unwrap_or_else(|e| e.duration());
        assert!(gap < Duration::from_secs(5), "gap {gap:?}");
    }
}
