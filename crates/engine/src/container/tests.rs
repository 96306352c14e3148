//! Container limits from fake cgroup trees: v2, v2 with a tighter parent, v1 on a hybrid machine,
//! a cgroup namespace, no cgroups at all, and the CPU count rounding.

use std::path::Path;

use super::cgroup::{CgroupVersion, ProcessCgroups};
use super::ContainerLimits;

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(file), text).unwrap();
}

#[test]
fn cgroup_v2_limits_usage_and_oom_kills() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("cgroup");
    write(&mount, "cgroup.controllers", "cpuset cpu io memory pids\n");
    write(&mount, "memory.max", "67108864\n");
    write(&mount, "cpu.max", "50000 100000\n");
    write(&mount, "memory.current", "31457280\n");
    write(
        &mount,
        "memory.events",
        "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
    );
    let mountinfo = format!(
        "22 1 0:21 / / rw - overlay overlay rw\n30 22 0:26 / {} rw,nosuid - cgroup2 cgroup2 rw\n",
        mount.display()
    );
    let cgroups = ProcessCgroups::locate("0::/\n", &mountinfo);
    let limits = ContainerLimits::from_cgroups(cgroups, 8);
    assert_eq!(limits.memory_limit_bytes, Some(64 << 20));
    assert_eq!(limits.cpu_quota_cores, Some(0.5));
    assert_eq!(limits.cpus(), 1, "half a core still runs one thread");
    assert_eq!(limits.memory_cgroup_version(), Some(CgroupVersion::V2));
    assert_eq!(limits.memory_used_bytes(), Some(30 << 20));
    assert_eq!(limits.oom_kills(), Some(1));
}

#[test]
fn a_tighter_parent_limit_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("cgroup");
    let pod = mount.join("kubepods/pod-1");
    let container = pod.join("camera");
    write(&mount, "cgroup.controllers", "cpu memory\n");
    write(&pod, "memory.max", "33554432\n");
    write(&pod, "cpu.max", "200000 100000\n");
    write(&container, "cgroup.controllers", "cpu memory\n");
    write(&container, "memory.max", "max\n");
    write(&container, "cpu.max", "max 100000\n");
    let mountinfo = format!("30 22 0:26 / {} rw - cgroup2 cgroup2 rw\n", mount.display());
    let cgroups = ProcessCgroups::locate("0::/kubepods/pod-1/camera\n", &mountinfo);
    let limits = ContainerLimits::from_cgroups(cgroups, 16);
    assert_eq!(limits.memory_limit_bytes, Some(32 << 20));
    assert_eq!(limits.cpu_quota_cores, Some(2.0));
    assert_eq!(limits.cpus(), 2);
}

#[test]
fn cgroup_v1_on_a_hybrid_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let memory = tmp.path().join("memory");
    let cpu = tmp.path().join("cpu");
    let unified = tmp.path().join("unified");
    let own = memory.join("sandbox/job-7");
    write(&memory, "memory.limit_in_bytes", "9223372036854771712\n");
    write(
        &memory.join("sandbox"),
        "memory.limit_in_bytes",
        "134217728\n",
    );
    write(&own, "memory.limit_in_bytes", "9223372036854771712\n");
    write(&own, "memory.usage_in_bytes", "1048576\n");
    write(
        &own,
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    );
    write(&cpu, "cpu.cfs_quota_us", "150000\n");
    write(&cpu, "cpu.cfs_period_us", "100000\n");
    write(&unified, "cgroup.controllers", "");
    let mountinfo = format!(
        "32 31 0:29 / {cpu} rw,relatime - cgroup cgroup rw,cpu\n\
         35 31 0:32 / {memory} rw,relatime - cgroup cgroup rw,memory\n\
         40 31 0:37 / {systemd} rw,relatime - cgroup cgroup rw,name=systemd\n\
         41 31 0:38 / {unified} rw,relatime - cgroup2 cgroup2 rw\n",
        cpu = cpu.display(),
        memory = memory.display(),
        systemd = tmp.path().join("systemd").display(),
        unified = unified.display(),
    );
    let membership = "9:name=systemd:/\n4:memory:/sandbox/job-7\n1:cpu:/\n0::/\n";
    let limits = ContainerLimits::from_cgroups(ProcessCgroups::locate(membership, &mountinfo), 4);
    assert_eq!(limits.memory_cgroup_version(), Some(CgroupVersion::V1));
    assert_eq!(limits.memory_limit_bytes, Some(128 << 20));
    assert_eq!(limits.cpu_quota_cores, Some(1.5));
    assert_eq!(limits.cpus(), 2);
    assert_eq!(limits.memory_used_bytes(), Some(1 << 20));
    assert_eq!(limits.oom_kills(), Some(0));
}

#[test]
fn inside_a_cgroup_namespace_the_mount_is_the_process_cgroup() {
    let tmp = tempfile::tempdir().unwrap();
    let memory = tmp.path().join("memory");
    write(&memory, "memory.limit_in_bytes", "67108864\n");
    let mountinfo = format!(
        "35 31 0:32 /docker/0123abcd {} ro,nosuid - cgroup cgroup rw,memory\n",
        memory.display()
    );
    let cgroups = ProcessCgroups::locate("4:memory:/\n", &mountinfo);
    let dir = cgroups.memory.as_ref().unwrap();
    assert_eq!(dir.dir, memory);
    assert_eq!(dir.memory_limit(), Some(64 << 20));
}

#[test]
fn without_cgroups_the_affinity_mask_decides() {
    let limits = ContainerLimits::from_cgroups(ProcessCgroups::locate("", ""), 3);
    assert_eq!(limits.memory_limit_bytes, None);
    assert_eq!(limits.cpu_quota_cores, None);
    assert_eq!(limits.cpus(), 3);
    assert_eq!(limits.memory_used_bytes(), None);
    // A quota above the mask does not add threads.
    let mut generous = limits.clone();
    generous.cpu_quota_cores = Some(8.0);
    assert_eq!(generous.cpus(), 3);
}
