"""A full disk under `outpost agent`: the model repository and the agent's state live on a
small tmpfs, mounted in a mount namespace of the test's own (the server and the agent enter it;
nothing outside changes). A 20 MB bundle that does not fit fails its download, and later its
unpack, cleanly: no partial download, no staging folder, no half version; version 1 keeps
serving; the agent retries, and installs it once there is room. Needs root (mount namespaces)."""

import ctypes
import os
import subprocess
import time

import pytest

from agent_support import (MODEL, TOKEN, Publisher, golden_folder, model_status, start_agent,
                           status, wait_for)
from conftest import start_outpost, stop_outpost
from test_agent_network import twenty_megabyte_bundle

CLONE_NEWNS = 0x00020000

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")


class SmallDisk:
    """A tmpfs of `size` mounted at `path` in a new mount namespace, held open by a process."""

    def __init__(self, path, size):
        self.path = path
        path.mkdir()
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             f"mount -t tmpfs -o size={size} outpost-test-disk {path} && echo mounted && exec sleep 3600"],
            stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline().strip() == "mounted"

    def enter(self):
        """For preexec_fn: moves the child into the namespace."""
        fd = os.open(f"/proc/{self.holder.pid}/ns/mnt", os.O_RDONLY)
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        os.close(fd)

    def run(self, *command):
        return subprocess.run(["nsenter", "--target", str(self.holder.pid), "--mount", "--", *command],
                              check=True, capture_output=True, text=True).stdout

    def resize(self, size):
        self.run("mount", "-o", f"remount,size={size}", str(self.path))

    def listing(self, relative):
        return sorted(self.run("ls", "-A", str(self.path / relative)).split())

    def empties(self, relative, absent=None, timeout=10.0):
        """True once `relative` is seen without `absent` (or empty, when no name is given).
        The agent retries about once a second and each try writes for a moment, so a
        single look may land inside a try; what stays after a failed try is never seen gone."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            names = self.listing(relative)
            if (absent not in names) if absent else names == []:
                return True
            time.sleep(0.02)
        return False

    def close(self):
        self.holder.kill()
        self.holder.wait(timeout=10)


def test_a_full_disk_fails_the_update_cleanly_and_it_is_retried(tmp_path):
    publisher = Publisher(tmp_path / "publisher")
    golden = golden_folder(tmp_path, "ok", "Egyptian cat")
    disk = SmallDisk(tmp_path / "disk", "14m")
    models = disk.path / "models"
    disk.run("mkdir", "-p", str(models))
    server = agent = None
    try:
        server, addresses = start_outpost(
            models, "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN},
            preexec_fn=disk.enter)
        agent, status_url = start_agent(
            tmp_path, str(publisher.repo), publisher.trusted_root, models, addresses["base_url"],
            {"OUTPOST_CONTROL_TOKEN": TOKEN},
            "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n[watch]\nwindow_secs = 0\n",
            preexec_fn=disk.enter)
        publisher.publish("int8", 1, golden)
        wait_for(status_url, lambda r: model_status(r).get("active") == 1
                 and model_status(r).get("candidate") is None, "version 1")

        size = twenty_megabyte_bundle(publisher, golden, 2)
        # 14 MiB: the download itself cannot fit.
        report = wait_for(status_url, lambda r: "No space left" in (r.get("last_error") or ""),
                          "the download to fail for room")
        assert model_status(report)["step"] == "downloading"
        assert disk.empties("models/.outpost-agent/downloads"), "a partial download stayed"
        assert disk.listing(f"models/{MODEL}") == ["1", "serving.toml"]

        # Room for the download but not for the unpacked copy beside it.
        disk.resize(f"{(size >> 20) + 12}m")
        wait_for(status_url, lambda r: model_status(r).get("step") == "installing"
                 and "No space left" in (r.get("last_error") or ""), "the unpack to fail for room")
        assert disk.empties("models", absent=".outpost-staging"), "the staging folder stayed"
        assert disk.listing(f"models/{MODEL}") == ["1", "serving.toml"]
        assert status(status_url)["models"][MODEL]["active"] == 1

        # Room enough: the retry installs version 2.
        disk.resize("80m")
        wait_for(status_url, lambda r: model_status(r).get("active") == 2
                 and model_status(r).get("candidate") is None, "version 2 once there is room")
        assert disk.listing(f"models/{MODEL}") == ["2", "serving.toml"]
    finally:
        if agent:
            agent.terminate()
            assert agent.wait(timeout=30) == 0
        if server:
            stop_outpost(server)
        disk.close()
