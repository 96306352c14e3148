"""`outpost agent` when it cannot or must not install: the repository unreachable (the fault
proxy drops everything) leaves the device serving its version, `/status` saying `offline` and
checks backing off; metadata that expired is reported as `metadata_expired` and nothing new is
installed; a clock behind the latest time the device has seen is reported as `clock_behind`
and nothing is installed until it is right."""

import json
import time

import pytest

from agent_support import (MODEL, Load, ProxiedDevice, agent_metric, golden_folder, installed,
                           model_status, status, wait_for)
from test_repository_s3 import BUCKET, s3  # noqa: F401  (fixture)

# Started first by the workers (conftest.py).
pytestmark = pytest.mark.long_running

CONFIG = "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 4\nconnect_timeout_secs = 1\nstall_timeout_secs = 1\n[watch]\nwindow_secs = 0\n"


@pytest.fixture
def device(tmp_path, s3):  # noqa: F811
    device = ProxiedDevice(tmp_path, s3[0], BUCKET)
    yield (device.publisher, device.proxy, lambda: device.start(CONFIG), device.addresses,
           device.models, tmp_path)
    device.close()


def test_offline_the_device_keeps_serving_and_backs_off(device):
    publisher, proxy, start, addresses, _, tmp_path = device
    publisher.publish("int8", 1, golden_folder(tmp_path, "ok", "Egyptian cat"))
    status_url = start()
    wait_for(status_url, installed(1), "version 1")
    proxy.blackhole = True
    load = Load(addresses["url"], clients=1)
    try:
        wait_for(status_url, lambda r: r["state"] == "offline", "the agent to report offline", limit_s=60)
        failed_before = agent_metric(status_url, 'outpost_agent_checks_total{result="failed"}')
        time.sleep(8)
        failed_during = agent_metric(status_url, 'outpost_agent_checks_total{result="failed"}') - failed_before
    finally:
        results = load.stop()
    # Polling every second would have failed about 8 times; backing off (up to 4 s, less
    # jitter) fails fewer.
    assert 1 <= failed_during <= 5, failed_during
    assert results and {r[2] for r in results} == {"1"}, {r[2] for r in results}
    proxy.blackhole = False
    wait_for(status_url, lambda r: r["state"] == "idle", "the agent to come back", limit_s=60)


def test_expired_metadata_is_reported_and_nothing_installs(device):
    publisher, _, start, _, models, tmp_path = device
    publisher.publish("int8", 1, golden_folder(tmp_path, "ok", "Egyptian cat"))
    status_url = start()
    wait_for(status_url, installed(1), "version 1")
    # The publisher signs version 2 with a timestamp that expires at once.
    publisher.flags += ["--timestamp-expiry", "0s"]
    publisher.publish("float", 2, golden_folder(tmp_path, "ok2", "Egyptian cat"))
    report = wait_for(status_url, lambda r: r["state"] == "metadata_expired", "metadata_expired")
    assert "expired" in report["last_error"]
    time.sleep(2)
    assert model_status(status(status_url))["active"] == 1
    assert sorted(p.name for p in (models / MODEL).iterdir()) == ["1", "serving.toml"]


def test_a_clock_behind_the_latest_time_seen_stops_installs(device):
    publisher, _, start, _, models, tmp_path = device
    state = models / ".outpost-agent"
    state.mkdir(mode=0o700)
    # A device that once saw a time a day ahead of this clock.
    (state / "state.json").write_text(json.dumps(
        {"format": 1, "models": {}, "latest_time_seen": int(time.time()) + 86400}))
    publisher.publish("int8", 1, golden_folder(tmp_path, "ok", "Egyptian cat"))
    status_url = start()
    report = wait_for(status_url, lambda r: r["state"] == "clock_behind", "clock_behind")
    assert "behind the latest time seen" in report["last_error"]
    time.sleep(2)
    assert not (models / MODEL).exists(), "nothing may be installed while the clock is behind"
