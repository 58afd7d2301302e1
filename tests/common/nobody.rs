//! Running portradar as `nobody` with `/proc/sys` files made unreadable: root reads any file, so
//! the faults tests copy the binary where `nobody` may run it and bind-mount an unreadable file over
//! a `/proc/sys` file in a private mount namespace of that child.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

pub const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// A file nobody but root may read, to bind-mount over a `/proc/sys` file.
pub fn unreadable_file(tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("portradar-{tag}-{}", std::process::id()));
    std::fs::write(&path, "1 2\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    path
}

/// `portradar ARGS` as `nobody` in a private mount namespace (so mounts made in it stay there).
pub fn as_nobody_in_own_mounts(bin: &NobodysCopy, args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "--mount",
        "--propagation",
        "private",
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        bin.path(),
    ])
    .args(args);
    c
}

/// A copy of the binary that `nobody` can run (the build tree may be private to root), deleted on
/// drop.
pub struct NobodysCopy(std::path::PathBuf);

impl NobodysCopy {
    pub fn new(tag: &str) -> NobodysCopy {
        let dir = std::env::temp_dir().join(format!("portradar-bin-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("portradar");
        std::fs::copy(env!("CARGO_BIN_EXE_portradar"), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        NobodysCopy(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for NobodysCopy {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Bind-mounts `file` over `target` in the mount namespace of process `pid` (one that
/// [`as_nobody_in_own_mounts`] started), and there only. From its network namespace too: the files
/// of `/proc/sys/net` are not the same ones in another, and a mount covers only the one it names.
pub fn bind_in_mounts_of(pid: u32, file: &std::path::Path, target: &str) {
    let mounted = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "-n", "mount", "--bind"])
        .arg(file)
        .arg(target)
        .status()
        .unwrap();
    assert!(mounted.success());
}
