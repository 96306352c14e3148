"""Rollouts across a fleet, end to end with two real devices (a server and an agent each) on one
signed repository folder. A bundle published with waves reaches the device whose wave opens at
publishing and waits on the other, whose status says for which wave; `outpost fleet open`
signs the next wave open and the other device installs it. `fleet pause` holds a bundle
whatever is open, `fleet resume` lets it through, and `fleet yank` sends every device on it back
to the version before, which no device leaves for the yanked one again."""

import hashlib

import pytest

from agent_support import MODEL, TOKEN, Publisher, golden_folder, installed, model_status, start_agent, wait_for
from conftest import start_outpost, stop_outpost
from test_repository_s3 import outpost

pytestmark = pytest.mark.long_running

AGENT_CONFIG = "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n[watch]\nwindow_secs = 0\n"


def wave_seed(device_id: str) -> int:
    """The agent's place in the fleet for `device_id` (outpost_trust::device_seed)."""
    digest = hashlib.sha256(f"outpost wave seed\n{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def waiting(version, why):
    return lambda r: f"version {version}: {why}" in model_status(r).get("waiting", [])


def test_waves_open_pause_resume_and_yank_on_two_devices(tmp_path):
    ids = [f"cam-{i}" for i in range(100)]
    first = next(i for i in ids if wave_seed(i) < 5000)
    second = next(i for i in ids if wave_seed(i) >= 5000)
    publisher = Publisher(tmp_path / "publisher")
    golden = golden_folder(tmp_path, "ok", "Egyptian cat")
    waves = tmp_path / "waves.toml"
    waves.write_text('[[wave]]\nstart_after = "0s"\nfleet_percent = 50\n'
                     '[[wave]]\nstart_after = "1h"\nfleet_percent = 100\n')
    devices, servers, agents = [], [], []
    try:
        publisher.publish("int8", 1, golden)
        for device_id in (first, second):
            home = tmp_path / device_id
            models = home / "models"
            models.mkdir(parents=True)
            server, addresses = start_outpost(models, "--model-control-mode", "explicit",
                                              env={"OUTPOST_CONTROL_TOKEN": TOKEN})
            servers.append(server)
            agent, status_url = start_agent(
                home, str(publisher.repo), publisher.trusted_root, models, addresses["base_url"],
                {"OUTPOST_CONTROL_TOKEN": TOKEN}, AGENT_CONFIG,
                extra=("--state-dir", str(home / "state"), "--device-id", device_id))
            agents.append(agent)
            devices.append(status_url)
        for status_url in devices:
            report = wait_for(status_url, installed(1), "version 1 everywhere")
        assert report["wave_seed"] == wave_seed(second)
        a, b = devices

        # Waves: half the fleet at publishing, the rest once the fleet role opens it.
        publisher.publish("int8", 2, golden, waves=str(waves))
        wait_for(a, installed(2), "version 2 on the first wave's device")
        wait_for(b, waiting(2, "waiting for wave 2"), "the second device to wait for wave 2")
        assert model_status(wait_for(b, installed(1), "version 1 still"))["active"] == 1
        publisher.fleet("open", 2, "--percent", "100", "--reason", "wave 2")
        wait_for(b, installed(2), "version 2 once wave 2 is open")

        # A paused bundle is held whatever is open; resumed, it goes through.
        publisher.publish("int8", 3, golden, waves="default")
        publisher.fleet("pause", 3, "--reason", "looking at wave 1")
        publisher.fleet("open", 3, "--percent", "100")
        for status_url in devices:
            wait_for(status_url, waiting(3, "paused"), "version 3 paused")
        assert all(model_status(wait_for(s, installed(2), "still 2"))["active"] == 2 for s in devices)
        publisher.fleet("resume", 3)
        for status_url in devices:
            wait_for(status_url, installed(3), "version 3 after resume")

        # Yanked: every device on it goes back to version 2 and stays there.
        publisher.fleet("yank", 3, "--reason", "bad boxes")
        for status_url in devices:
            report = wait_for(status_url, installed(2), "version 2 after the yank")
            refusals = model_status(report)["rejected"]
            assert any(r["version"] == 3 and "yanked by the fleet: bad boxes" in r["reason"]
                       for r in refusals), refusals
        for model_dir in (tmp_path / first / "models" / MODEL, tmp_path / second / "models" / MODEL):
            assert sorted(p.name for p in model_dir.iterdir()) == ["2", "serving.toml"]
        # A yank is for good.
        done = outpost("fleet", "resume", *publisher.flags, MODEL, "3")
        assert done.returncode != 0 and "yanked, for good" in done.stderr, done.stderr
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.terminate()
                assert agent.wait(timeout=30) == 0
        for server in servers:
            stop_outpost(server)
