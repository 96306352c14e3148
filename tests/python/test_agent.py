"""`outpost agent` end to end, against the real binaries and moto's S3 server: signed bundles
published with `outpost repo publish --upload s3://...` reach a server that shares its model
repository with the agent. Version 1 installs on an empty device; version 2 is checked as a
candidate and promoted while four clients send requests, with no failed request and no answer
from version 1 after the switch; version 3 fails its golden cases and never takes unversioned
traffic; version 4 passes its golden cases but fails the clients' requests once promoted, and
is rolled back to version 2 within its watch window. /status and /metrics say what happened.
A watch that saw too few requests is never recorded as passed: kept as not judged, or rolled
back, as `watch.on_quiet` says."""

import time
import urllib.request

import pytest

from agent_support import (MODEL, TOKEN, Load, Publisher, agent_metric, golden_folder,
                           model_status, start_agent, status, wait_for)
from conftest import start_outpost, stop_outpost
from test_repository_s3 import BUCKET, s3  # noqa: F401  (fixture)

# Started first by the workers (conftest.py).
pytestmark = pytest.mark.long_running


def start_device(tmp_path, endpoint, prefix, watch):
    """A server in explicit mode and an agent following `s3://BUCKET/prefix`, watching as
    `watch` (the `[watch]` lines) says: the publisher, the model repository, the server's
    addresses, the agent's status URL, and the two processes."""
    publisher = Publisher(tmp_path / "publisher", endpoint, f"s3://{BUCKET}/{prefix}")
    models = tmp_path / "models"
    models.mkdir()
    server, addresses = start_outpost(
        models, "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN}
    )
    agent, status_url = start_agent(
        tmp_path, f"s3://{BUCKET}/{prefix}", publisher.trusted_root, models,
        addresses["base_url"], {**publisher.env, "OUTPOST_CONTROL_TOKEN": TOKEN},
        "[repository]\npoll_interval_secs = 1\nmax_backoff_secs = 2\n[watch]\n" + watch,
    )
    return publisher, models, addresses, status_url, (agent, server)


def stop_device(processes):
    agent, server = processes
    agent.terminate()
    assert agent.wait(timeout=30) == 0
    stop_outpost(server)


@pytest.fixture
def device(tmp_path, s3):  # noqa: F811
    *parts, processes = start_device(
        tmp_path, s3[0], "fleet",
        "window_secs = 8\nsample_secs = 1\nmin_requests = 20\nmax_p99_increase_percent = 1000\n",
    )
    yield parts
    stop_device(processes)


def settled(version):
    return lambda r: model_status(r).get("active") == version and model_status(r).get("candidate") is None


def test_install_promote_reject_and_roll_back(device, tmp_path):
    publisher, models, addresses, status_url = device
    golden_ok = golden_folder(tmp_path, "ok", "Egyptian cat", tensor_case=True)
    golden_ok_image = golden_folder(tmp_path, "ok-image", "Egyptian cat")
    golden_wrong = golden_folder(tmp_path, "wrong", "tabby")

    # Version 1 on an empty device.
    publisher.publish("int8", 1, golden_ok)
    report = wait_for(status_url, settled(1), "version 1 to be installed")
    assert model_status(report)["last_good"] == 1
    assert (models / MODEL / "serving.toml").read_text().strip().endswith("default_version = 1")

    # Version 2 under load: checked as a candidate, promoted with no failed request.
    load = Load(addresses["url"])
    try:
        time.sleep(1.0)
        publisher.publish("float", 2, golden_ok_image)
        wait_for(status_url, settled(2), "version 2 to be promoted and watched")
        time.sleep(1.0)
    finally:
        results = load.stop()
    failures = [r for r in results if r[2].startswith("error")]
    assert not failures, failures[:3]
    versions = [r[2] for r in results]
    assert "1" in versions and "2" in versions, set(versions)
    first_v2_end = min(end for _, end, v in results if v == "2")
    late_v1 = [r for r in results if r[2] == "1" and r[0] > first_v2_end]
    assert not late_v1, f"{len(late_v1)} answers from version 1 after the switch"
    assert not (models / MODEL / "1").exists(), "version 1 leaves the disk once version 2 passed its watch"

    # Version 3 fails its golden cases: never the default, removed, refused with the reason.
    load = Load(addresses["url"], clients=2)
    try:
        publisher.publish("float", 3, golden_wrong)
        report = wait_for(
            status_url, lambda r: any(x["version"] == 3 for x in model_status(r).get("rejected", [])),
            "version 3 to be refused")
    finally:
        results = load.stop()
    assert {r[2] for r in results} == {"2"}, {r[2] for r in results}
    rejection = [x for x in model_status(report)["rejected"] if x["version"] == 3][0]
    assert "golden case 'chelsea' failed" in rejection["reason"] and "tabby" in rejection["reason"]
    assert model_status(report)["active"] == 2
    assert not (models / MODEL / "3").exists()

    # Version 4 passes its golden cases (camera endpoint) but fails the clients' FP32 NCHW
    # requests once promoted: rolled back to version 2 within the watch window.
    load = Load(addresses["url"])
    try:
        publisher.publish("uint8_nhwc", 4, golden_ok_image)
        report = wait_for(
            status_url, lambda r: any(x["version"] == 4 for x in model_status(r).get("rejected", [])),
            "version 4 to be rolled back")
        time.sleep(0.5)
    finally:
        results = load.stop()
    rejection = [x for x in model_status(report)["rejected"] if x["version"] == 4][0]
    assert rejection["reason"].startswith("rolled back") and "failed" in rejection["reason"], rejection
    assert model_status(report)["active"] == 2 and model_status(report)["last_good"] == 2
    assert "4" in {r[2] for r in results if not r[2].startswith("error")} or any(
        r[2].startswith("error") for r in results), "version 4 took traffic before the rollback"
    assert results[-1][2] == "2"
    assert not (models / MODEL / "4").exists()
    assert (models / MODEL / "serving.toml").read_text().strip().endswith("default_version = 2")

    with urllib.request.urlopen(f"{status_url}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'outpost_agent_installs_total{outcome="promoted"} 2' in metrics
    assert 'outpost_agent_installs_total{outcome="rejected"} 2' in metrics
    assert "outpost_agent_rollbacks_total 1" in metrics
    assert status(status_url)["state"] in ("idle", "working")


@pytest.mark.parametrize("on_quiet", ["keep", "roll_back"])
def test_a_watch_that_saw_too_few_requests_is_never_recorded_as_passed(tmp_path, s3, on_quiet):  # noqa: F811
    """A quiet camera: version 2 is promoted and nobody sends a request. The watch goes on past
    its window up to `max_window_secs`, then `keep` leaves version 2 serving as not judged with
    version 1 still the last known good (and on disk), or `roll_back` goes back to version 1."""
    publisher, models, _, status_url, processes = start_device(
        tmp_path, s3[0], "quiet",
        f'window_secs = 1\nmax_window_secs = 4\nsample_secs = 1\nmin_requests = 1000\non_quiet = "{on_quiet}"\n',
    )
    try:
        golden = golden_folder(tmp_path, "ok", "Egyptian cat")
        publisher.publish("int8", 1, golden)
        report = wait_for(status_url, settled(1), "version 1 to install")
        assert model_status(report)["last_watch"].startswith("passed"), report
        promoted_at = time.monotonic()
        publisher.publish("float", 2, golden)
        if on_quiet == "keep":
            report = wait_for(
                status_url,
                lambda r: settled(2)(r) and (model_status(r).get("last_watch") or "").startswith("not judged"),
                "version 2 kept as not judged",
            )
            record = model_status(report)
            assert record["last_good"] == 1, report
            assert (models / MODEL / "1").is_dir(), "the last known good version stays on disk"
            assert agent_metric(status_url, 'outpost_agent_installs_total{outcome="not_judged"}') == 1
        else:
            report = wait_for(
                status_url,
                lambda r: settled(1)(r) and (model_status(r).get("last_watch") or "").startswith("rolled back: not judged"),
                "version 2 rolled back as not judged",
            )
            assert not (models / MODEL / "2").exists()
            assert any(r["version"] == 2 for r in model_status(report)["rejected"]), report
        # It waited past the 1 s window, for the quiet limit.
        assert time.monotonic() - promoted_at >= 3, report
    finally:
        stop_device(processes)
