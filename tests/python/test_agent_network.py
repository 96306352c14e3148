"""`outpost agent` over a flaky link: the in-tree fault proxy sits between the agent and moto's
S3 server. A 20 MB bundle still installs when its transfer is cut or reset five times, and the
agent fetches at most 1.2 times the bundle's size in all (each attempt resumes with a ranged GET
from what is on disk); a transfer that stalls is abandoned after the stall timeout and resumed;
a slow but steady link is not mistaken for a stall."""

import os

import pytest

from agent_support import (MODEL, ProxiedDevice, agent_metric, golden_folder, installed,
                           wait_for)
from test_repository_s3 import BUCKET, s3  # noqa: F401  (fixture)

# Started first by the workers (conftest.py).
pytestmark = pytest.mark.long_running

MB = 1 << 20


def twenty_megabyte_bundle(publisher, golden, version):
    """The float MobileNetV2 (14 MB) with 6 MB of calibration data beside it."""
    from agent_support import model_folder

    folder = model_folder(publisher.root / "sources", "float", version)
    (folder / "calibration.bin").write_bytes(os.urandom(6 * MB))
    bundle = publisher.root / f"{MODEL}-{version}.bundle"
    publisher.run("bundle", "create", str(folder), "--name", MODEL, "--version", str(version),
                  "--golden", str(golden), "-o", str(bundle))
    publisher.run("repo", "publish", *publisher.flags, "--waves", "now", str(bundle))
    return bundle.stat().st_size


BASE_CONFIG = "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 1\n"


@pytest.fixture
def flaky(tmp_path, s3):  # noqa: F811
    device = ProxiedDevice(tmp_path, s3[0], BUCKET)
    yield (device.publisher, device.proxy,
           lambda config="": device.start(BASE_CONFIG + config), tmp_path)
    device.close()


def test_five_cuts_during_a_20_mb_bundle_cost_at_most_1_2_times_its_size(flaky):
    publisher, proxy, start, tmp_path = flaky
    size = twenty_megabyte_bundle(publisher, golden_folder(tmp_path, "ok", "Egyptian cat"), 1)
    assert size >= 20_000_000
    # A 64 Mbit/s link (unpaced, loopback lets the kernel queue megabytes for the agent, which
    # a reset throws away: a buffer no real uplink has), with five faults spread over the
    # transfer, cuts and resets alternating.
    proxy.rate = 8 * MB
    proxy.schedule(*[(int(size * f), a) for f, a in
                     ((0.15, "cut"), (0.3, "reset"), (0.5, "cut"), (0.7, "reset"), (0.85, "cut"))])
    status_url = start()
    wait_for(status_url, installed(1), "the 20 MB version to install over the flaky link", limit_s=180)
    acted = [a for a, _ in proxy.done]
    assert acted == ["cut", "reset", "cut", "reset", "cut"], proxy.done
    ratio = proxy.downstream_bytes / size
    print(f"bundle {size} bytes; {proxy.downstream_bytes} bytes through the proxy ({ratio:.3f}x) "
          f"over {proxy.connections} connections")
    assert ratio <= 1.2, ratio
    assert agent_metric(status_url, "outpost_agent_download_resumes_total") >= 1
    assert agent_metric(status_url, "outpost_agent_download_bytes_total") <= 1.2 * size


def test_a_stalled_transfer_is_abandoned_and_resumed_and_a_slow_one_is_not(flaky):
    publisher, proxy, start, tmp_path = flaky
    size = twenty_megabyte_bundle(publisher, golden_folder(tmp_path, "ok", "Egyptian cat"), 1)
    # 64 KiB/s for 256 KiB (four seconds, longer than the stall timeout, but never idle that
    # long), then full speed until half-way, where the transfer stalls.
    proxy.schedule((MB, ("rate", 64 * 1024)), (MB + 256 * 1024, ("rate", None)), (size // 2, "stall"))
    status_url = start("stall_timeout_secs = 2\n")
    wait_for(status_url, installed(1), "the version to install after a stall", limit_s=180)
    assert [a for a, _ in proxy.done][-1] == "stall", proxy.done
    assert agent_metric(status_url, "outpost_agent_download_resumes_total") == 1
    report = agent_metric(status_url, "outpost_agent_download_bytes_total")
    assert report <= 1.2 * size, report
