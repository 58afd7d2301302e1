//! Faults a running refresher works around and reports in [`Meta::warnings`](crate::model::Meta):
//! the watched namespace deleted or replaced under it, and kernel settings that can no longer be
//! read (the last ones read stand in for them).

use crate::collect::netns::NetnsSpec;
use crate::settings::KernelSettings;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

/// The message of an error followed by those of its causes: `a: b: c`.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text += &format!(": {e}");
        cause = e.source();
    }
    text
}

/// The namespace file the snapshots are labelled with, and the namespace it named when watching
/// started (device and inode of the namespace).
pub(super) struct NetnsWatch {
    label: String,
    path: PathBuf,
    id: Option<(u64, u64)>,
}

/// The namespace the calling thread is in.
const OWN_NETNS: &str = "/proc/thread-self/ns/net";

fn netns_id(path: &std::path::Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl NetnsWatch {
    /// Watches the namespace named by `label` (a name, path or PID, as `-N` takes it), which the
    /// calling thread has entered.
    pub(super) fn new(label: &str) -> Option<NetnsWatch> {
        let spec: NetnsSpec = label.parse().ok()?;
        Some(NetnsWatch {
            label: label.to_string(),
            path: spec.path(),
            id: netns_id(std::path::Path::new(OWN_NETNS)),
        })
    }

    /// Why the namespace file no longer names the namespace being shown, if it does not.
    pub(super) fn check(&self) -> Option<String> {
        let now = netns_id(&self.path);
        let shown = self.id?;
        match now {
            None => Some(format!(
                "network namespace {} was deleted ({} is gone): showing what is left of it",
                self.label,
                self.path.display()
            )),
            Some(id) if id != shown => Some(format!(
                "{} now names another network namespace: still showing the one entered at start",
                self.path.display()
            )),
            Some(_) => None,
        }
    }
}

/// The last kernel settings read, to stand in when they cannot be read again.
#[derive(Default)]
pub(super) struct LastSettings {
    last: Option<(KernelSettings, SystemTime)>,
}

impl LastSettings {
    /// The settings just read, or when that failed, the last ones read and a warning naming the
    /// failure; the error itself when there are none yet (a one-shot command exits with it).
    pub(super) fn settle<E: std::error::Error>(
        &mut self,
        read: Result<KernelSettings, E>,
        warnings: &mut Vec<String>,
    ) -> Result<KernelSettings, E> {
        match read {
            Ok(settings) => {
                self.last = Some((settings.clone(), SystemTime::now()));
                Ok(settings)
            }
            Err(e) => match &self.last {
                Some((settings, at)) => {
                    let age = at.elapsed().unwrap_or_default().as_secs();
                    warnings.push(format!(
                        "kernel settings unreadable ({}): showing those read {age} s ago",
                        with_causes(&e)
                    ));
                    Ok(settings.clone())
                }
                None => Err(e),
            },
        }
    }
}
