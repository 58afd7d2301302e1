//! What a cgroup path names: the systemd unit, the container (docker, containerd, cri-o) or the
//! Kubernetes pod that holds a socket. Pure functions on the path text.

use std::fmt;

/// The unit, container or pod a cgroup path names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A systemd service, `nginx.service`.
    Service(String),
    /// A systemd scope that is not a container, `session-3.scope`.
    Scope(String),
    /// A container of `runtime` (docker, containerd, crio) with its id, maybe in a Kubernetes pod.
    Container {
        runtime: &'static str,
        id: String,
        pod: Option<String>,
    },
    /// A Kubernetes pod (its UID) seen without a container part.
    Pod(String),
}

/// How many characters of a container id are shown, as `docker ps` does.
const SHORT_ID: usize = 12;

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Service(name) | Unit::Scope(name) => f.write_str(name),
            Unit::Container { runtime, id, pod } => {
                let short = &id[..id.len().min(SHORT_ID)];
                match pod {
                    Some(uid) => write!(f, "pod {uid} ({runtime} {short})"),
                    None => write!(f, "{runtime} {short}"),
                }
            }
            Unit::Pod(uid) => write!(f, "pod {uid}"),
        }
    }
}

/// The unit a cgroup path names, or `None` for the root and paths that name nothing known.
/// The innermost container wins over the units around it; a pod is kept beside its container.
pub fn derive(path: &str) -> Option<Unit> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let pod = parts.iter().find_map(|p| pod_uid(p));
    for (i, part) in parts.iter().enumerate().rev() {
        if let Some((runtime, id)) = container(part, i.checked_sub(1).map(|j| parts[j])) {
            return Some(Unit::Container { runtime, id, pod });
        }
    }
    if let Some(uid) = pod {
        return Some(Unit::Pod(uid));
    }
    parts.iter().rev().find_map(|part| {
        if part.ends_with(".service") {
            Some(Unit::Service((*part).to_string()))
        } else if part.ends_with(".scope") {
            Some(Unit::Scope((*part).to_string()))
        } else {
            None
        }
    })
}

/// A container part: `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope` (systemd
/// driver), or a bare id under `docker` or a pod directory (cgroupfs driver).
fn container(part: &str, parent: Option<&str>) -> Option<(&'static str, String)> {
    const SCOPES: [(&str, &str); 3] = [
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "crio"),
    ];
    if let Some(stem) = part.strip_suffix(".scope") {
        for (prefix, runtime) in SCOPES {
            if let Some(id) = stem.strip_prefix(prefix)
                && is_container_id(id)
            {
                return Some((runtime, id.to_string()));
            }
        }
        return None;
    }
    let parent = parent?;
    if !is_container_id(part) {
        return None;
    }
    if parent == "docker" {
        Some(("docker", part.to_string()))
    } else if pod_uid(parent).is_some() {
        Some(("container", part.to_string()))
    } else {
        None
    }
}

/// A container id: 64 hex digits.
fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The pod UID in `kubepods-burstable-pod<UID>.slice` (underscores for dashes) or `pod<UID>`.
fn pod_uid(part: &str) -> Option<String> {
    let stem = part.strip_suffix(".slice").unwrap_or(part);
    let at = stem.rfind("pod")?;
    let before = &stem[..at];
    if !(before.is_empty() || before.starts_with("kubepods")) {
        return None;
    }
    let uid = stem[at + 3..].replace('_', "-");
    let looks_like_uid = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    looks_like_uid.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c0e9a7b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6";
    const UID: &str = "0f3b8d2e-1c4a-4e5b-9a6d-7c8e9f0a1b2c";

    fn shown(path: &str) -> Option<String> {
        derive(path).map(|u| u.to_string())
    }

    #[test]
    fn systemd_services_and_scopes() {
        assert_eq!(
            derive("/system.slice/nginx.service"),
            Some(Unit::Service("nginx.service".into()))
        );
        assert_eq!(
            shown("/user.slice/user-1000.slice/session-3.scope").as_deref(),
            Some("session-3.scope")
        );
        assert_eq!(
            shown("/system.slice/postgresql@15-main.service/worker").as_deref(),
            Some("postgresql@15-main.service")
        );
    }

    #[test]
    fn docker_with_either_cgroup_driver() {
        let unit = Unit::Container {
            runtime: "docker",
            id: ID.into(),
            pod: None,
        };
        assert_eq!(
            derive(&format!("/system.slice/docker-{ID}.scope")),
            Some(unit.clone())
        );
        assert_eq!(derive(&format!("/docker/{ID}")), Some(unit.clone()));
        assert_eq!(unit.to_string(), "docker 4f1c0e9a7b2d");
    }

    #[test]
    fn kubernetes_pods_with_their_containers() {
        let systemd = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID}.scope",
            UID.replace('-', "_")
        );
        assert_eq!(
            derive(&systemd),
            Some(Unit::Container {
                runtime: "containerd",
                id: ID.into(),
                pod: Some(UID.into())
            })
        );
        assert_eq!(
            shown(&systemd).as_deref(),
            Some("pod 0f3b8d2e-1c4a-4e5b-9a6d-7c8e9f0a1b2c (containerd 4f1c0e9a7b2d)")
        );
        let crio = format!(
            "/kubepods.slice/kubepods-pod{}.slice/crio-{ID}.scope",
            UID.replace('-', "_")
        );
        assert!(matches!(
            derive(&crio),
            Some(Unit::Container {
                runtime: "crio",
                ..
            })
        ));
        let cgroupfs = format!("/kubepods/besteffort/pod{UID}/{ID}");
        assert!(matches!(
            derive(&cgroupfs),
            Some(Unit::Container {
                runtime: "container",
                pod: Some(_),
                ..
            })
        ));
        assert_eq!(
            derive(&format!("/kubepods/besteffort/pod{UID}")),
            Some(Unit::Pod(UID.into()))
        );
    }

    #[test]
    fn root_and_unknown_paths_name_nothing() {
        assert_eq!(derive("/"), None);
        assert_eq!(derive(""), None);
        assert_eq!(
            derive("/init.scope/../x"),
            Some(Unit::Scope("init.scope".into()))
        );
        assert_eq!(derive("/portradar-test-1234"), None);
        assert_eq!(
            derive("/system.slice/docker-nothex.scope"),
            Some(Unit::Scope("docker-nothex.scope".into()))
        );
        assert_eq!(derive("/mypod/abc"), None);
    }
}
