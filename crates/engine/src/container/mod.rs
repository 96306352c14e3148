//! The container the server runs in: its memory limit and CPU quota from the process's cgroup
//! ([`cgroup`]), and the CPU count thread pools size from. Read once at start; memory use and
//! OOM kills are read again whenever asked (metrics).

pub(crate) mod cgroup;

use cgroup::{CgroupVersion, ProcessCgroups};

/// What the container allows this process.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerLimits {
    cgroups: ProcessCgroups,
    /// Memory limit in bytes; `None` when unlimited.
    pub memory_limit_bytes: Option<u64>,
    /// CPU quota in cores; `None` when unlimited.
    pub cpu_quota_cores: Option<f64>,
    /// CPUs the affinity mask allows.
    pub affinity_cpus: usize,
}

impl ContainerLimits {
    /// Reads this process's cgroups.
    pub fn detect() -> ContainerLimits {
        let affinity_cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        ContainerLimits::from_cgroups(ProcessCgroups::of_this_process(), affinity_cpus)
    }

    /// The limits in `cgroups`, with `affinity_cpus` CPUs allowed by the affinity mask.
    pub fn from_cgroups(cgroups: ProcessCgroups, affinity_cpus: usize) -> ContainerLimits {
        ContainerLimits {
            memory_limit_bytes: cgroups
                .memory
                .as_ref()
                .and_then(cgroup::ControllerDir::memory_limit),
            cpu_quota_cores: cgroups
                .cpu
                .as_ref()
                .and_then(cgroup::ControllerDir::cpu_quota),
            affinity_cpus: affinity_cpus.max(1),
            cgroups,
        }
    }

    /// Threads that can run at once: the quota rounded up (half a core still needs one thread),
    /// never more than the affinity mask allows, at least one.
    pub fn cpus(&self) -> usize {
        let by_quota = self
            .cpu_quota_cores
            .map_or(usize::MAX, |cores| cores.ceil().max(1.0) as usize);
        by_quota.min(self.affinity_cpus).max(1)
    }

    /// Which cgroup interface the memory controller came from.
    pub fn memory_cgroup_name(&self) -> Option<&'static str> {
        self.memory_cgroup_version().map(CgroupVersion::as_str)
    }

    /// The cgroup version the memory limit was read from.
    pub(crate) fn memory_cgroup_version(&self) -> Option<CgroupVersion> {
        self.cgroups.memory.as_ref().map(|m| m.version)
    }

    /// Memory the container uses now, as the kernel counts it against the limit.
    pub fn memory_used_bytes(&self) -> Option<u64> {
        self.cgroups.memory.as_ref()?.memory_used()
    }

    /// OOM kills the kernel reports for the process's memory cgroup.
    pub fn oom_kills(&self) -> Option<u64> {
        self.cgroups.memory.as_ref()?.oom_kills()
    }
}

#[cfg(test)]
mod tests;
