"""Rollouts across a fleet, end to end with two real devices (a server and an agent each) on one
signed repository folder, writing their status to one folder.

- A bundle published with waves reaches the device whose wave opens at publishing and waits on
  the other, whose status says for which wave; `outpost fleet open` signs the next wave open and
  the other device installs it. `fleet pause` holds a bundle whatever is open, `fleet resume`
  lets it through, and `fleet yank` sends every device on it back to the version before, which
  no device leaves for the yanked one again.
- `outpost fleet watch --once` opens a wave whose start has passed once the first wave's device
  reports the version, and pauses a bundle that failed on the first wave's device before the
  second wave's device takes it; `fleet status` shows both, as a table and as JSON."""

import hashlib
import json
import time

import pytest

from agent_support import MODEL, TOKEN, Publisher, golden_folder, installed, model_status, start_agent, wait_for
from conftest import start_outpost, stop_outpost
from test_repository_s3 import outpost

pytestmark = pytest.mark.long_running


def wave_seed(device_id: str) -> int:
    """The agent's place in the fleet for `device_id` (outpost_trust::device_seed)."""
    digest = hashlib.sha256(f"outpost wave seed\n{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def waiting(version, why):
    return lambda r: f"version {version}: {why}" in model_status(r).get("waiting", [])


class Fleet:
    """A publisher and two devices: `first` in the first half of the fleet, `second` in the
    other; each a server in explicit mode and an agent, their status in one folder."""

    def __init__(self, tmp_path):
        ids = [f"cam-{i}" for i in range(100)]
        self.ids = (next(i for i in ids if wave_seed(i) < 5000), next(i for i in ids if wave_seed(i) >= 5000))
        self.tmp_path = tmp_path
        self.publisher = Publisher(tmp_path / "publisher")
        self.status_dir = tmp_path / "status"
        self.status_dir.mkdir()
        self.servers, self.agents, self.devices = [], [], []
        self.half = tmp_path / "half.toml"
        self.half.write_text('[[wave]]\nstart_after = "0s"\nfleet_percent = 50\n'
                             '[[wave]]\nstart_after = "1h"\nfleet_percent = 100\n')

    def start(self):
        config = ("[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n[watch]\nwindow_secs = 0\n"
                  f'[status]\nurl = "{self.status_dir}"\n')
        for device_id in self.ids:
            home = self.tmp_path / device_id
            models = home / "models"
            models.mkdir(parents=True)
            server, addresses = start_outpost(models, "--model-control-mode", "explicit",
                                              env={"OUTPOST_CONTROL_TOKEN": TOKEN})
            self.servers.append(server)
            agent, status_url = start_agent(
                home, str(self.publisher.repo), self.publisher.trusted_root, models, addresses["base_url"],
                {"OUTPOST_CONTROL_TOKEN": TOKEN}, config,
                extra=("--state-dir", str(home / "state"), "--device-id", device_id))
            self.agents.append(agent)
            self.devices.append(status_url)
        return self.devices

    def report(self, device_id, predicate, what, limit_s=60.0):
        """Waits until the device's status object satisfies `predicate`."""
        deadline = time.monotonic() + limit_s
        report = None
        while time.monotonic() < deadline:
            try:
                report = json.loads((self.status_dir / f"{device_id}.json").read_text())
                if predicate(report):
                    return report
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last object: {report}")

    def fleet(self, *args):
        done = outpost("fleet", *args)
        assert done.returncode == 0, done.stderr
        return done

    def watch_once(self):
        return self.fleet("watch", *self.publisher.flags, "--status", str(self.status_dir), "--once")

    def status(self, *extra):
        return self.fleet("status", "--repository", str(self.publisher.repo),
                          "--trusted-root", str(self.publisher.trusted_root),
                          "--status", str(self.status_dir), *extra)

    def close(self):
        for agent in self.agents:
            if agent.poll() is None:
                agent.terminate()
                assert agent.wait(timeout=30) == 0
        for server in self.servers:
            stop_outpost(server)


@pytest.fixture
def fleet(tmp_path):
    made = Fleet(tmp_path)
    try:
        yield made
    finally:
        made.close()


def test_waves_open_pause_resume_and_yank_on_two_devices(fleet, tmp_path):
    publisher, golden = fleet.publisher, golden_folder(tmp_path, "ok", "Egyptian cat")
    publisher.publish("int8", 1, golden)
    a, b = fleet.start()
    for status_url in (a, b):
        report = wait_for(status_url, installed(1), "version 1 everywhere")
    assert report["wave_seed"] == wave_seed(fleet.ids[1])

    # Waves: half the fleet at publishing, the rest once the fleet role opens it.
    publisher.publish("int8", 2, golden, waves=str(fleet.half))
    wait_for(a, installed(2), "version 2 on the first wave's device")
    wait_for(b, waiting(2, "waiting for wave 2"), "the second device to wait for wave 2")
    assert model_status(wait_for(b, installed(1), "version 1 still"))["active"] == 1
    publisher.fleet("open", 2, "--percent", "100", "--reason", "wave 2")
    wait_for(b, installed(2), "version 2 once wave 2 is open")

    # A paused bundle is held whatever is open; resumed, it goes through.
    publisher.publish("int8", 3, golden, waves="default")
    publisher.fleet("pause", 3, "--reason", "looking at wave 1")
    publisher.fleet("open", 3, "--percent", "100")
    for status_url in (a, b):
        wait_for(status_url, waiting(3, "paused"), "version 3 paused")
    assert all(model_status(wait_for(s, installed(2), "still 2"))["active"] == 2 for s in (a, b))
    publisher.fleet("resume", 3)
    for status_url in (a, b):
        wait_for(status_url, installed(3), "version 3 after resume")

    # Yanked: every device on it goes back to version 2 and stays there.
    publisher.fleet("yank", 3, "--reason", "bad boxes")
    for status_url in (a, b):
        report = wait_for(status_url, installed(2), "version 2 after the yank")
        refusals = model_status(report)["rejected"]
        assert any(r["version"] == 3 and "yanked by the fleet: bad boxes" in r["reason"]
                   for r in refusals), refusals
    for device_id in fleet.ids:
        model_dir = tmp_path / device_id / "models" / MODEL
        assert sorted(p.name for p in model_dir.iterdir()) == ["2", "serving.toml"]
    # A yank is for good.
    done = outpost("fleet", "resume", *publisher.flags, MODEL, "3")
    assert done.returncode != 0 and "yanked, for good" in done.stderr, done.stderr


def test_fleet_watch_opens_waves_and_halts_a_failing_bundle(fleet, tmp_path):
    publisher = fleet.publisher
    good, bad = golden_folder(tmp_path, "ok", "Egyptian cat"), golden_folder(tmp_path, "bad", "tabby")
    first, second = fleet.ids
    fast = tmp_path / "fast.toml"
    fast.write_text('[[wave]]\nstart_after = "0s"\nfleet_percent = 50\n'
                    '[[wave]]\nstart_after = "1s"\nfleet_percent = 100\n')
    publisher.publish("int8", 1, good)
    a, b = fleet.start()
    for status_url in (a, b):
        wait_for(status_url, installed(1), "version 1 everywhere")

    # A good bundle: the first wave's device reports it, then watch opens the second wave.
    published = time.monotonic()
    publisher.publish("int8", 2, good, waves=str(fast))
    fleet.report(first, lambda r: r["models"][MODEL]["active"] == 2, "version 2 on the first device")
    time.sleep(max(0.0, 1.5 - (time.monotonic() - published)))  # past wave 2's start_after
    fleet.watch_once()
    wait_for(b, installed(2), "version 2 once watch opened wave 2")

    # A failing bundle: refused on the first wave's device; watch halts it before the second
    # wave's device, whose wave has started by then, takes it.
    publisher.publish("int8", 3, bad, waves=str(fast))
    fleet.report(first, lambda r: any(x["version"] == 3 for x in r["models"][MODEL]["rejected"]),
                 "the first device's refusal of version 3")
    time.sleep(1)  # wave 2's start_after has passed: only the halt holds it now
    said = fleet.watch_once()
    assert "automatic halt: 1 of 1 devices" in said.stderr + said.stdout, said.stderr + said.stdout
    wait_for(b, waiting(3, "paused"), "version 3 paused on the second device")
    assert model_status(wait_for(b, installed(2), "still 2"))["active"] == 2

    table = fleet.status().stdout
    assert "2 devices reported" in table, table
    assert "version 3: paused at 50 %" in table and f"failed on {first}: " in table, table
    shown = json.loads(fleet.status("--json").stdout)
    three = next(v for v in shown["versions"] if v["version"] == 3)
    assert three["control"]["paused"] and "automatic halt" in three["control"]["reason"]
    assert [device for device, _ in three["failed"]] == [first]
    assert [device for device, _ in three["waiting"]] == [second]
    assert [w["devices"] for w in three["waves"]] == [1, 1]
    two = next(v for v in shown["versions"] if v["version"] == 2)
    assert sorted(two["installed"]) == sorted([first, second])
