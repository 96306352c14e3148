"""Ten real devices (an `outpost serve` and an `outpost agent` each, on the small int8 model) on
one machine follow one repository in moto's S3 bucket and write their status beside it, under a
schedule compressed to seconds (wave 1: 20 % after 1 s; wave 2: everyone after 30 s):

- `fleet watch` opens wave 1 once its start has passed, cut through the seeds of the devices that
  reported: exactly two devices take version 2, which passes its golden case but fails the
  clients' requests once promoted (as in the agent's rollback test). Both roll back to version 1,
  and `fleet watch` pauses the bundle before wave 2 starts; after that start it opens nothing. No
  other device downloads version 2 (GETs counted at moto).
- `fleet status --json` shows the waves, the two failures with their reasons and the pause.
- Version 3, published to everyone at once and installed everywhere, is withdrawn with
  `fleet yank`: every device goes back to version 1, its last known good version.
- `fleet watch` re-signs the fleet role once less than half of its lifetime is left."""

import hashlib
import json
import time

import pytest

from agent_support import MODEL, TOKEN, Load, Publisher, golden_folder, installed, model_status, start_agent, wait_for
from conftest import start_outpost, stop_outpost
from moto_s3 import MotoS3
from test_repository_s3 import BUCKET, outpost, s3_env

pytestmark = pytest.mark.long_running

DEVICES = 10
WAVE_2_AFTER_S = 30
WAVES = ('[[wave]]\nstart_after = "1s"\nfleet_percent = 20\n'
         f'[[wave]]\nstart_after = "{WAVE_2_AFTER_S}s"\nfleet_percent = 100\n')
STATUS_URL = f"s3://{BUCKET}/status/"
AGENT_CONFIG = (
    "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 2\n"
    "[watch]\nwindow_secs = 3\nmax_window_secs = 3\nsample_secs = 1\nmin_requests = 5\n"
    f'[status]\nurl = "{STATUS_URL}"\n'
)


def wave_seed(device_id: str) -> int:
    """The agent's place in the fleet for `device_id` (outpost_trust::device_seed)."""
    digest = hashlib.sha256(f"outpost wave seed\n{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def rejected(version):
    return lambda r: any(x["version"] == version for x in model_status(r).get("rejected", []))


class Fleet:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.moto = MotoS3()
        self.moto.client.create_bucket(Bucket=BUCKET)
        self.env = s3_env(self.moto.endpoint)
        self.publisher = Publisher(tmp_path / "publisher", self.moto.endpoint, f"s3://{BUCKET}/repo")
        self.ids = [f"camera-{i:02}" for i in range(DEVICES)]
        self.servers, self.agents, self.status_urls, self.base_urls = [], [], {}, {}

    def start(self):
        for device_id in self.ids:
            home = self.tmp_path / device_id
            models = home / "models"
            models.mkdir(parents=True)
            server, addresses = start_outpost(models, "--model-control-mode", "explicit",
                                              env={"OUTPOST_CONTROL_TOKEN": TOKEN})
            self.servers.append(server)
            self.base_urls[device_id] = addresses
            agent, status_url = start_agent(
                home, f"s3://{BUCKET}/repo", self.publisher.trusted_root, models, addresses["base_url"],
                {**self.env, "OUTPOST_CONTROL_TOKEN": TOKEN}, AGENT_CONFIG,
                extra=("--state-dir", str(home / "state"), "--device-id", device_id))
            self.agents.append(agent)
            self.status_urls[device_id] = status_url

    def wait_all(self, predicate, what, ids=None):
        return {d: wait_for(self.status_urls[d], predicate, what) for d in (ids or self.ids)}

    def reports_in_bucket(self, predicate, what, limit_s=60.0):
        """Waits until every device's status object satisfies `predicate`."""
        deadline = time.monotonic() + limit_s
        reports = {}
        while time.monotonic() < deadline:
            reports = {}
            for device_id in self.ids:
                try:
                    body = self.moto.client.get_object(Bucket=BUCKET, Key=f"status/{device_id}.json")["Body"]
                    reports[device_id] = json.loads(body.read())
                except self.moto.client.exceptions.NoSuchKey:
                    pass
            if len(reports) == DEVICES and all(predicate(r) for r in reports.values()):
                return reports
            time.sleep(0.25)
        raise AssertionError(f"timed out waiting for {what}; last objects: {reports}")

    def fleet(self, *args):
        done = outpost("fleet", *args, env=self.env)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    def watch_once(self):
        return self.fleet("watch", *self.publisher.flags, "--status", STATUS_URL, "--once")

    def status_json(self):
        return json.loads(self.fleet("status", "--repository", f"s3://{BUCKET}/repo",
                                     "--trusted-root", str(self.publisher.trusted_root),
                                     "--status", STATUS_URL, "--json"))

    def bundle_gets(self, version):
        return [r for r in self.moto.requests()
                if r[0] == "GET" and r[1].endswith(f".{MODEL}-{version}.bundle") and r[2] in (200, 206)]

    def close(self):
        for agent in self.agents:
            if agent.poll() is None:
                agent.terminate()
                assert agent.wait(timeout=30) == 0
        for server in self.servers:
            stop_outpost(server)
        self.moto.stop()


@pytest.fixture
def fleet(tmp_path):
    made = Fleet(tmp_path)
    try:
        yield made
    finally:
        made.close()


def test_ten_devices_waves_an_automatic_halt_and_a_yank(fleet, tmp_path):
    publisher = fleet.publisher
    golden = golden_folder(tmp_path, "ok", "Egyptian cat")
    publisher.publish("int8", 1, golden)
    fleet.start()
    fleet.wait_all(installed(1), "version 1 on every device")
    fleet.reports_in_bucket(lambda r: r["models"][MODEL]["active"] == 1, "every report on version 1")

    # Wave 1 is 20 % of the ten devices that reported: the two with the lowest seeds.
    by_seed = sorted(fleet.ids, key=wave_seed)
    wave_1, others = by_seed[:2], by_seed[2:]
    waves = tmp_path / "waves.toml"
    waves.write_text(WAVES)
    loads = [Load(fleet.base_urls[d]["url"], clients=1) for d in wave_1]
    try:
        publisher.publish("uint8_nhwc", 2, golden, waves=str(waves))
        published = time.monotonic()
        time.sleep(1.5)  # past wave 1's start
        said = fleet.watch_once()
        assert "open to 20 % of the fleet" in said, said
        for device_id in wave_1:
            report = wait_for(fleet.status_urls[device_id], rejected(2), f"{device_id} rolling back version 2")
            assert model_status(report)["active"] == 1
        fleet.reports_in_bucket(
            lambda r: r["device_id"] not in wave_1 or any(x["version"] == 2 for x in r["models"][MODEL]["rejected"]),
            "the wave-1 devices' rollbacks in the bucket")
        said = fleet.watch_once()
        halted_after = time.monotonic() - published
        assert "automatic halt: 2 of 2 devices" in said, said
        assert halted_after < WAVE_2_AFTER_S, f"halted {halted_after:.1f} s after publishing"
    finally:
        results = [r for load in loads for r in load.stop()]
    assert any(r[2].startswith("error") for r in results), "version 2 never failed a request"
    for device_id in wave_1:
        reason = next(x for x in model_status(wait_for(fleet.status_urls[device_id], installed(1), "version 1"))[
            "rejected"] if x["version"] == 2)["reason"]
        assert reason.startswith("rolled back") and "failed" in reason, reason
    for device_id in others:
        wait_for(fleet.status_urls[device_id],
                 lambda r: "version 2: paused" in model_status(r).get("waiting", []), "version 2 paused")

    # A bundle for everyone at once, then withdrawn: every device goes back to version 1.
    publisher.publish("int8", 3, golden)
    fleet.wait_all(installed(3), "version 3 on every device")
    publisher.fleet("yank", 3, "--reason", "wrong labels")
    reports = fleet.wait_all(lambda r: installed(1)(r) and rejected(3)(r), "version 1 again after the yank")
    for report in reports.values():
        refusal = next(x for x in model_status(report)["rejected"] if x["version"] == 3)
        assert "yanked by the fleet: wrong labels" in refusal["reason"], refusal

    # Past wave 2's start, the paused bundle stays paused, and only wave 1 ever downloaded it.
    time.sleep(max(0.0, WAVE_2_AFTER_S + 1 - (time.monotonic() - published)))
    fleet.watch_once()
    for device_id in others:
        report = wait_for(fleet.status_urls[device_id], installed(1), "version 1 on the others")
        assert not rejected(2)(report), model_status(report)["rejected"]
    assert len(fleet.bundle_gets(2)) == 2, fleet.bundle_gets(2)
    fleet.reports_in_bucket(lambda r: r["models"][MODEL]["active"] == 1, "every report back on version 1")

    shown = fleet.status_json()
    two = next(v for v in shown["versions"] if v["version"] == 2)
    assert two["control"]["paused"] and "automatic halt" in two["control"]["reason"], two["control"]
    assert sorted(device for device, _ in two["failed"]) == sorted(wave_1)
    assert sorted(device for device, _ in two["waiting"]) == sorted(others)
    assert [(w["devices"], w["failed"]) for w in two["waves"]] == [(2, 2), (8, 0)]
    three = next(v for v in shown["versions"] if v["version"] == 3)
    assert three["control"]["yanked"] and not three["installed"] and not three["failed"]
    one = next(v for v in shown["versions"] if v["version"] == 1)
    assert sorted(one["installed"]) == sorted(fleet.ids)

    # The fleet role's signature lapses with its own lifetime (--root-expiry, 365 days), which
    # only the fleet key renews: watch re-signs it once less than half is left (here: a lifetime
    # of 1000 days asked for), and devices go on reading the repository and its controls.
    said = fleet.fleet("watch", *publisher.flags, "--status", STATUS_URL, "--once", "--root-expiry", "1000d")
    assert "fleet role re-signed, valid until" in said, said
    renewed = json.loads((publisher.repo / "metadata" / "timestamp.json").read_text())["signed"]["version"]
    assert "re-signed" not in fleet.watch_once()
    for device_id in fleet.ids:
        wait_for(fleet.status_urls[device_id],
                 lambda r: r["state"] == "idle" and (r.get("repository_versions") or [0, 0, 0])[2] >= renewed
                 and model_status(r)["active"] == 1,
                 "the renewed repository verified")
