"""Prometheus metrics against the real binary: the exposition parses as OpenMetrics; requests
over HTTP, gRPC and the camera endpoint are counted per model, version, protocol, endpoint and
outcome; the executor, container and model gauges are there; `/metrics` moves to its own port or
goes away as configured; and under a real 1-CPU cgroup quota every thread pool sizes to 1."""

import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from cgroups import make_cgroup
from conftest import ROOT, start_outpost, stop_outpost
from test_clients import MODEL, reference_input
from test_model_control import status_of

IMAGE = ROOT / "tests" / "fixtures" / "images" / "cat_720p.jpg"


def scrape(base_url):
    """{(name, frozenset(labels)): value} for every sample, and the raw text."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, text


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_until(read, predicate, what, seconds=30):
    """Reads (e.g. a scraped gauge) until `predicate` holds of what `read` answers, and answers
    that; fails with `what` and the last reading after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = read()
        if predicate(now):
            return now
        time.sleep(0.01)
    raise AssertionError(f"{what}: {read()}")


def requests_count(samples, protocol, endpoint, status):
    return value(
        samples, "outpost_inference_requests_total",
        model=MODEL, version="1", protocol=protocol, endpoint=endpoint, status=status,
        served_by="none" if status == "failure" else "local",
    )


def infer_http(url, data):
    client = httpclient.InferenceServerClient(url=url)
    tensor = httpclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=True)
    return client.infer(MODEL, [tensor])


def test_requests_are_counted_per_protocol_endpoint_and_outcome(server):
    before, _ = scrape(server["base_url"])
    data = reference_input()
    infer_http(server["url"], data)
    infer_http(server["url"], data)
    with pytest.raises(InferenceServerException):
        infer_http(server["url"], np.zeros((1, 3, 10, 10), dtype=np.float32))
    grpc = grpcclient.InferenceServerClient(url=server["grpc_url"])
    tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    grpc.infer(MODEL, [tensor])
    request = urllib.request.Request(
        f"{server['base_url']}/v2/models/{MODEL}/image", data=IMAGE.read_bytes(),
        headers={"Content-Type": "image/jpeg"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200

    after, text = scrape(server["base_url"])
    delta = lambda *route: requests_count(after, *route) - requests_count(before, *route)
    assert delta("http", "infer", "success") == 2
    assert delta("http", "infer", "failure") == 1
    assert delta("grpc", "infer", "success") == 1
    assert delta("http", "image", "success") == 1
    latency = lambda s, protocol: value(
        s, "outpost_inference_request_duration_seconds_count",
        model=MODEL, version="1", protocol=protocol, endpoint="infer", served_by="local",
    )
    assert latency(after, "http") - latency(before, "http") == 2
    assert latency(after, "grpc") - latency(before, "grpc") == 1

    assert value(after, "outpost_inference_threads") >= 1
    assert value(after, "outpost_cpus") >= 1
    assert value(after, "process_resident_memory_bytes") > 10 * 2**20
    # The weights loaded through the C allocator: its live bytes cover at least the model file.
    assert value(after, "outpost_allocator_in_use_bytes") > 2 * 2**20
    assert value(after, "outpost_allocator_free_bytes") >= 0
    info = [labels for (name, labels) in after if name == "outpost_model_info"]
    assert any(dict(l)["model"] == MODEL and dict(l)["backend"] in ("onnxruntime", "tract")
               and dict(l)["execution_provider"] for l in info), info
    assert value(after, "outpost_model_load_duration_seconds", model=MODEL, version="1") > 0
    assert text.endswith("# EOF\n")


def test_metrics_on_their_own_port_or_off():
    process, addresses = start_outpost(ROOT / "models", "--metrics-port", "0")
    try:
        assert addresses["metrics_url"] is not None
        samples, _ = scrape(f"http://{addresses['metrics_url']}")
        assert value(samples, "outpost_inference_threads") >= 1
        assert status_of(f"{addresses['base_url']}/metrics") == 404
        assert status_of(f"http://{addresses['metrics_url']}/v2/health/ready") == 404
    finally:
        stop_outpost(process)

    process, addresses = start_outpost(ROOT / "models", "--metrics-enabled", "false")
    try:
        assert status_of(f"{addresses['base_url']}/metrics") == 404
    finally:
        stop_outpost(process)


def test_a_one_cpu_quota_sizes_every_thread_pool_to_one():
    cgroup = make_cgroup(cpus=1.0)
    try:
        process, addresses = start_outpost(ROOT / "models", preexec_fn=cgroup.enter)
        try:
            samples, _ = scrape(addresses["base_url"])
            assert value(samples, "outpost_cpu_quota_cores") == 1.0
            assert value(samples, "outpost_cpus") == 1
            assert value(samples, "outpost_inference_threads") == 1
            assert value(samples, "outpost_model_intra_op_threads", model=MODEL, version="1") == 1
            client = httpclient.InferenceServerClient(url=addresses["url"])
            config = client.get_model_config(MODEL)
            assert config["parameters"]["intra_op_thread_count"]["string_value"] == "1"
            # Nothing to spread over one CPU: one single-threaded session, whatever the load.
            assert config["parameters"]["scheduling"]["string_value"] == "1 x 1 thread"
            assert value(samples, "outpost_model_sessions", model=MODEL, version="1") == 1
            # Still answers correctly on one thread.
            result = infer_http(addresses["url"], reference_input())
            assert int(np.argmax(result.as_numpy("probabilities"))) == 286
        finally:
            stop_outpost(process)
    finally:
        cgroup.remove()
