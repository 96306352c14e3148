"""Real cgroups for tests that run the server under container limits: creates a cgroup with a CPU
quota and/or memory limit through cgroupfs (v2 where the controller is there, else v1), starts
processes inside it, reads its counters, and removes it afterwards. Tests skip with a message
where cgroups cannot be written, and fail instead when CI=true."""

import os
import pathlib
import uuid

import pytest


def _mounts():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            fields = before.split()
            fs_type, _source, options = (after.split() + ["", "", ""])[:3]
            yield pathlib.Path(fields[4]), fs_type, options.split(",")


def _v1_mount(controller):
    for point, fs_type, options in _mounts():
        if fs_type == "cgroup" and controller in options:
            return point
    return None


def _v2_mount_with(controllers):
    for point, fs_type, _ in _mounts():
        if fs_type != "cgroup2":
            continue
        available = (point / "cgroup.controllers").read_text().split()
        if all(c in available for c in controllers):
            return point
    return None


class Cgroup:
    """One test cgroup; `directories` are the per-controller directories (one on v2)."""

    def __init__(self, cpus=None, memory_bytes=None):
        wanted = [c for c, v in (("cpu", cpus), ("memory", memory_bytes)) if v is not None]
        name = f"outpost-test-{uuid.uuid4().hex[:12]}"
        self.directories = []
        self.version = None
        v2 = _v2_mount_with(wanted)
        v1_mounts = {c: _v1_mount(c) for c in wanted}
        if all(v1_mounts.values()):
            self.version = "v1"
            for controller in wanted:
                directory = v1_mounts[controller] / name
                directory.mkdir()
                self.directories.append(directory)
            if cpus is not None:
                cpu_dir = v1_mounts["cpu"] / name
                (cpu_dir / "cpu.cfs_period_us").write_text("100000")
                (cpu_dir / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
            if memory_bytes is not None:
                memory_dir = v1_mounts["memory"] / name
                (memory_dir / "memory.limit_in_bytes").write_text(str(memory_bytes))
                # No swap to fall back on, as on a board.
                swap = memory_dir / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(memory_bytes))
        elif v2 is not None:
            self.version = "v2"
            (v2 / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
            directory = v2 / name
            directory.mkdir()
            self.directories.append(directory)
            if cpus is not None:
                (directory / "cpu.max").write_text(f"{int(cpus * 100000)} 100000")
            if memory_bytes is not None:
                (directory / "memory.max").write_text(str(memory_bytes))
                if (directory / "memory.swap.max").exists():
                    (directory / "memory.swap.max").write_text("0")
        else:
            raise OSError("no cgroup hierarchy with the wanted controllers")

    def enter(self):
        """For `subprocess.Popen(preexec_fn=...)`: moves the child into the cgroup before exec."""
        for directory in self.directories:
            (directory / "cgroup.procs").write_text(str(os.getpid()))

    def memory_dir(self):
        return next(d for d in self.directories if (d / "memory.max").exists()
                    or (d / "memory.limit_in_bytes").exists())

    def oom_kills(self):
        directory = self.memory_dir()
        events = directory / ("memory.events" if self.version == "v2" else "memory.oom_control")
        for line in events.read_text().splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def max_usage(self):
        """Peak memory charged to the cgroup (None where the kernel does not record it)."""
        directory = self.memory_dir()
        peak = directory / ("memory.peak" if self.version == "v2" else "memory.max_usage_in_bytes")
        return int(peak.read_text()) if peak.exists() else None

    def remove(self):
        for directory in self.directories:
            try:
                directory.rmdir()
            except OSError:
                pass


def make_cgroup(**limits):
    """A Cgroup, or a skip (a failure when CI=true) where cgroups cannot be written here."""
    try:
        return Cgroup(**limits)
    except OSError as error:
        message = f"cannot create a cgroup here: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
