//! Finding this process's cgroup and reading its limits and usage, for cgroup v2
//! (`memory.max`, `cpu.max`, `memory.current`, `memory.events`) and v1 (`memory.limit_in_bytes`,
//! `cpu.cfs_quota_us`/`cpu.cfs_period_us`, `memory.usage_in_bytes`, `memory.oom_control`), hybrid
//! machines included (a v1 controller wins over the unified hierarchy). The process's cgroup
//! comes from `/proc/self/cgroup`, the mount points from `/proc/self/mountinfo`. A limit is the
//! tightest one from the process's cgroup up to the root of the mount it can see.

use std::path::{Path, PathBuf};

/// Which cgroup interface a controller was found under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// cgroup v1: one hierarchy per controller.
    V1,
    /// cgroup v2: the unified hierarchy.
    V2,
}

impl CgroupVersion {
    /// `v1` or `v2`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "v1",
            CgroupVersion::V2 => "v2",
        }
    }
}

/// One controller's directory for this process and the mount it lives under.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerDir {
    /// The interface it was found under.
    pub version: CgroupVersion,
    /// The process's own cgroup directory.
    pub dir: PathBuf,
    /// The mount point: the walk up to ancestors stops here.
    pub mount_point: PathBuf,
}

impl ControllerDir {
    /// The process's directory, then each parent up to the mount point.
    fn ancestry(&self) -> impl Iterator<Item = &Path> {
        let stop = self.mount_point.clone();
        let mut next = Some(self.dir.as_path());
        std::iter::from_fn(move || {
            let current = next?;
            next = if current == stop {
                None
            } else {
                current.parent().filter(|p| p.starts_with(&stop))
            };
            Some(current)
        })
    }

    /// The memory limit in bytes, `None` when unlimited.
    pub fn memory_limit(&self) -> Option<u64> {
        let file = match self.version {
            CgroupVersion::V2 => "memory.max",
            CgroupVersion::V1 => "memory.limit_in_bytes",
        };
        self.ancestry()
            .filter_map(|dir| read_trimmed(&dir.join(file)))
            .filter_map(|text| parse_memory_limit(&text))
            .min()
    }

    /// The CPU quota in cores (quota / period), `None` when unlimited.
    pub fn cpu_quota(&self) -> Option<f64> {
        self.ancestry()
            .filter_map(|dir| match self.version {
                CgroupVersion::V2 => {
                    read_trimmed(&dir.join("cpu.max")).and_then(|text| parse_cpu_max(&text))
                }
                CgroupVersion::V1 => {
                    let quota = read_trimmed(&dir.join("cpu.cfs_quota_us"))?;
                    let period = read_trimmed(&dir.join("cpu.cfs_period_us"))?;
                    parse_cfs(&quota, &period)
                }
            })
            .min_by(f64::total_cmp)
    }

    /// Memory the cgroup uses now (page cache included, as the kernel counts it for the limit).
    pub fn memory_used(&self) -> Option<u64> {
        let file = match self.version {
            CgroupVersion::V2 => "memory.current",
            CgroupVersion::V1 => "memory.usage_in_bytes",
        };
        read_trimmed(&self.dir.join(file))?.parse().ok()
    }

    /// Processes the kernel's OOM killer has killed in this cgroup.
    pub fn oom_kills(&self) -> Option<u64> {
        let file = match self.version {
            CgroupVersion::V2 => "memory.events",
            CgroupVersion::V1 => "memory.oom_control",
        };
        let text = std::fs::read_to_string(self.dir.join(file)).ok()?;
        text.lines()
            .filter_map(|line| line.strip_prefix("oom_kill "))
            .find_map(|n| n.trim().parse().ok())
    }
}

/// The memory and CPU controller directories of this process, where it has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessCgroups {
    /// The memory controller's directory.
    pub memory: Option<ControllerDir>,
    /// The CPU controller's directory.
    pub cpu: Option<ControllerDir>,
}

impl ProcessCgroups {
    /// Reads `/proc/self/cgroup` and `/proc/self/mountinfo`; empty off Linux or without cgroups.
    pub fn of_this_process() -> ProcessCgroups {
        let (Ok(membership), Ok(mounts)) = (
            std::fs::read_to_string("/proc/self/cgroup"),
            std::fs::read_to_string("/proc/self/mountinfo"),
        ) else {
            return ProcessCgroups::default();
        };
        ProcessCgroups::locate(&membership, &mounts)
    }

    /// Finds the controllers from the two files' text.
    pub fn locate(membership: &str, mountinfo: &str) -> ProcessCgroups {
        let mounts = parse_mountinfo(mountinfo);
        let memberships = parse_membership(membership);
        let find = |controller: &str| {
            find_v1(controller, &memberships, &mounts)
                .or_else(|| find_v2(controller, &memberships, &mounts))
        };
        ProcessCgroups {
            memory: find("memory"),
            cpu: find("cpu"),
        }
    }
}

struct Mount {
    root: String,
    mount_point: PathBuf,
    fs_type: String,
    super_options: Vec<String>,
}

struct Membership {
    /// The cgroup v2 line (`0::/path`).
    unified: bool,
    controllers: Vec<String>,
    path: String,
}

fn find_v1(
    controller: &str,
    memberships: &[Membership],
    mounts: &[Mount],
) -> Option<ControllerDir> {
    let membership = memberships
        .iter()
        .find(|m| m.controllers.iter().any(|c| c == controller))?;
    let mount = mounts
        .iter()
        .find(|m| m.fs_type == "cgroup" && m.super_options.iter().any(|o| o == controller))?;
    Some(ControllerDir {
        version: CgroupVersion::V1,
        dir: join_under_mount(mount, &membership.path),
        mount_point: mount.mount_point.clone(),
    })
}

fn find_v2(
    controller: &str,
    memberships: &[Membership],
    mounts: &[Mount],
) -> Option<ControllerDir> {
    let membership = memberships.iter().find(|m| m.unified)?;
    let mount = mounts.iter().find(|m| m.fs_type == "cgroup2")?;
    let dir = join_under_mount(mount, &membership.path);
    // The controller must be enabled for this cgroup; the root lists what exists at all.
    let listed = std::fs::read_to_string(dir.join("cgroup.controllers"))
        .or_else(|_| std::fs::read_to_string(mount.mount_point.join("cgroup.controllers")))
        .ok()?;
    listed
        .split_whitespace()
        .any(|c| c == controller)
        .then(|| ControllerDir {
            version: CgroupVersion::V2,
            dir,
            mount_point: mount.mount_point.clone(),
        })
}

/// The directory of cgroup `path` under `mount`. Inside a cgroup namespace the mount's root may
/// not be a prefix of the path; the mount point itself is then the process's cgroup.
fn join_under_mount(mount: &Mount, path: &str) -> PathBuf {
    let root = mount.root.trim_end_matches('/');
    match path.strip_prefix(root) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            mount.mount_point.join(rest.trim_start_matches('/'))
        }
        _ => mount.mount_point.clone(),
    }
}

/// `/proc/self/cgroup` lines: `hierarchy-id:controller,list:/path` (v2: `0::/path`).
fn parse_membership(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some(Membership {
                unified: id == "0" && controllers.is_empty(),
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty() && !c.starts_with("name="))
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// `/proc/self/mountinfo`: `id parent dev root mount-point options [optional...] - type source super-options`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let fs_type = after.next()?.to_string();
            let _source = after.next()?;
            let super_options = after.next().unwrap_or("");
            Some(Mount {
                root: unescape(fields.get(3)?),
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                fs_type,
                super_options: super_options.split(',').map(str::to_string).collect(),
            })
        })
        .filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2")
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], escaped) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Limits at or above 2^62 bytes are how v1 writes "no limit" (page-rounded `LONG_MAX`).
const V1_UNLIMITED: u64 = 1 << 62;

fn parse_memory_limit(text: &str) -> Option<u64> {
    if text == "max" {
        return None;
    }
    text.parse::<u64>().ok().filter(|&n| n < V1_UNLIMITED)
}

/// `cpu.max`: `max 100000` (no limit) or `50000 100000` (half a core).
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?;
    let period: f64 = parts.next().unwrap_or("100000").parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0).then(|| quota / period)
}

/// v1: a quota of -1 means no limit.
fn parse_cfs(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.parse().ok()?;
    let period: i64 = period.parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn limit_values() {
        assert_eq!(parse_memory_limit("max"), None);
        assert_eq!(parse_memory_limit("9223372036854771712"), None);
        assert_eq!(parse_memory_limit("67108864"), Some(64 << 20));
        assert_eq!(parse_cpu_max("max 100000"), None);
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_cfs("-1", "100000"), None);
        assert_eq!(parse_cfs("200000", "100000"), Some(2.0));
        assert_eq!(unescape(r"/mnt/with\040space"), "/mnt/with space");
    }
}
