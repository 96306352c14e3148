"""A device's status in the bucket (`status.url`): the agent writes `<device_id>.json` (its
models' versions and steps, its condition, the agent's and the server's versions) after a
change and at its heartbeat, and nothing more while idle (counted at moto's S3 server); with
the link cut it keeps serving and installing what it can, and the status written meanwhile
reaches the bucket once the link is back."""

import json
import time

import pytest

from agent_support import ProxiedDevice, golden_folder, installed, wait_for
from moto_s3 import MotoS3
from test_repository_s3 import BUCKET

pytestmark = pytest.mark.long_running

DEVICE = "cam-entrance-01"
KEY = f"fleet/status/{DEVICE}.json"
CONFIG = (
    f'device_id = "{DEVICE}"\n'
    "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 2\nconnect_timeout_secs = 1\nstall_timeout_secs = 1\n"
    "[watch]\nwindow_secs = 0\n"
    f'[status]\nurl = "s3://{BUCKET}/fleet/status/"\nheartbeat_secs = 2\n'
)


def read_status(client):
    try:
        return json.loads(client.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def wait_for_object(client, predicate, what, limit_s=60.0):
    deadline = time.monotonic() + limit_s
    report = None
    while time.monotonic() < deadline:
        report = read_status(client)
        if report is not None and predicate(report):
            return report
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last object: {json.dumps(report, indent=1)}")


def active(report):
    return report.get("models", {}).get("classifier", {}).get("active")


def test_the_status_reaches_the_bucket_after_changes_and_heartbeats_and_after_a_cut(tmp_path):
    s3 = MotoS3()
    s3.client.create_bucket(Bucket=BUCKET)
    client = s3.client
    device = ProxiedDevice(tmp_path, s3.endpoint, BUCKET)

    def puts():
        return sum(1 for method, path, _ in s3.requests() if method == "PUT" and path.endswith(KEY))

    try:
        device.publisher.publish("int8", 1, golden_folder(tmp_path, "ok", "Egyptian cat"))
        status_url = device.start(CONFIG)
        wait_for(status_url, installed(1), "version 1")
        report = wait_for_object(client, lambda r: active(r) == 1 and r["state"] == "idle", "version 1 in the bucket")
        assert report["device_id"] == DEVICE
        assert report["agent_version"] and report["server_version"], report
        assert report["models"]["classifier"]["last_good"] == 1, report
        assert report["written_at"].endswith("Z"), report

        # Idle: a check every second, a status write every heartbeat (2 s), nothing more.
        before = puts()
        time.sleep(5)
        writes = puts() - before
        assert 1 <= writes <= 3, writes

        # The link cut: the device goes offline and keeps serving; what it writes waits.
        device.proxy.blackhole = True
        wait_for(status_url, lambda r: r["state"] == "offline", "the agent to report offline", limit_s=60)
        device.publisher.publish("float", 2, golden_folder(tmp_path, "ok-image", "Egyptian cat"))
        time.sleep(2)
        assert active(read_status(client)) == 1
        device.proxy.blackhole = False
        wait_for(status_url, installed(2), "version 2 after the link is back", limit_s=90)
        # The write that failed is retried within a heartbeat.
        report = wait_for_object(client, lambda r: active(r) == 2 and r["state"] == "idle",
                                 "version 2 in the bucket", limit_s=60)
        assert report["models"]["classifier"]["last_good"] == 2, report
    finally:
        device.close()
        s3.stop()

