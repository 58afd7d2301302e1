//! The load generator's private network namespace: created with `ip netns add`, loopback up, its
//! sysctls set once the process has entered it, deleted with `ip netns del`.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Creates namespace `name` and brings its loopback up. Refuses a name that exists: the load
/// generator deletes what it made, so it must never adopt someone else's namespace.
pub fn add(name: &str) -> Result<()> {
    if Path::new("/run/netns").join(name).exists() {
        bail!(
            "network namespace {name:?} exists already: pick another --netns or `ip netns del {name}`"
        );
    }
    ip(&["netns", "add", name])
}

/// Brings up the loopback of namespace `name`.
pub fn loopback_up(name: &str) -> Result<()> {
    ip(&["-n", name, "link", "set", "lo", "up"])
}

/// Deletes namespace `name`, saying so on stderr when it cannot.
pub fn delete(name: &str) {
    if let Err(e) = ip(&["netns", "del", name]) {
        eprintln!("loadgen: {e:#}");
    }
}

/// Sets the namespace's sysctls; the calling thread must be inside it. `time_wait` is how many
/// TIME_WAIT sockets the table will hold.
pub fn configure(port_range: (u16, u16), time_wait: u64) -> Result<()> {
    let tw_buckets = (2 * time_wait).max(262_144);
    for (key, value) in [
        (
            "net/ipv4/ip_local_port_range",
            format!("{} {}", port_range.0, port_range.1),
        ),
        // Loopback's default 2 lets connect() recycle our TIME_WAIT sockets after a second.
        ("net/ipv4/tcp_tw_reuse", "0".into()),
        ("net/ipv4/tcp_max_tw_buckets", tw_buckets.to_string()),
        ("net/core/somaxconn", "65535".into()),
    ] {
        let path = Path::new("/proc/sys").join(key);
        std::fs::write(&path, &value)
            .with_context(|| format!("setting {} to {value}", path.display()))?;
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
