"""Dynamic batching against the real binary: concurrent tritonclient requests for a model that
takes batches are joined into shared executions (the statistics show fewer executions than
inferences and batch sizes above one), every request gets exactly the rows the unbatched model
gives for its own input, the model configuration advertises the batcher over HTTP and gRPC, a
request whose deadline passes while it waits for partners gets 504, and `[dynamic_batching]` on
a model without a batch dimension is refused with a clear reason."""

import concurrent.futures
import json
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from conftest import ROOT, start_outpost, stop_outpost
from test_clients import reference_input

BATCH_MODEL = ROOT / "tests" / "fixtures" / "generated" / "mobilenet_v2_int8_dynamic_batch.onnx"
FIXED_MODEL = ROOT / "tests" / "fixtures" / "models" / "mobilenet_v2_1.0_224_int8_qdq.onnx"
DELAY_US = 300_000


def add_model(repository, name, model_file, config):
    (repository / name / "1").mkdir(parents=True)
    shutil.copy(model_file, repository / name / "1" / "model.onnx")
    (repository / name / "model.toml").write_text(config)


@pytest.fixture(scope="module")
def batching_server(tmp_path_factory):
    repository = tmp_path_factory.mktemp("batching") / "models"
    add_model(repository, "batched", BATCH_MODEL, f"""backend = "ort"
max_batch_size = 8
[dynamic_batching]
max_queue_delay_microseconds = {DELAY_US}
preferred_batch_sizes = [4]
""")
    add_model(repository, "single", BATCH_MODEL, 'backend = "ort"\nmax_batch_size = 8\n')
    add_model(repository, "no_batch_dimension", FIXED_MODEL, "[dynamic_batching]\n")
    process, addresses = start_outpost(repository, "--max-queued-requests-per-model", "16")
    yield addresses
    stop_outpost(process)


def samples():
    """The cat and five noise images, each [1, 3, 224, 224]."""
    cat = reference_input().astype(np.float32)
    rng = np.random.default_rng(7)
    noise = [rng.uniform(-1, 1, cat.shape).astype(np.float32) for _ in range(5)]
    return [cat, *noise]


def infer(url, model, data):
    client = httpclient.InferenceServerClient(url=url)
    tensor = httpclient.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data, binary_data=True)
    result = client.infer(model, [tensor])
    return result.as_numpy("probabilities")


def statistics(url, model):
    client = httpclient.InferenceServerClient(url=url)
    return client.get_inference_statistics(model)["model_stats"][0]


def test_concurrent_requests_share_executions_and_each_gets_its_own_rows(batching_server):
    url = batching_server["url"]
    inputs = samples()
    # One request of two samples among the single ones.
    requests = [*inputs, np.concatenate(inputs[:2])]
    expected = [infer(url, "single", data) for data in requests]
    assert int(np.argmax(expected[0])) == 286

    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda data: infer(url, "batched", data), requests))

    for data, answer, reference in zip(requests, answers, expected):
        assert answer.shape == (data.shape[0], 1001)
        np.testing.assert_allclose(answer, reference, rtol=0, atol=1e-6)
    stats = statistics(url, "batched")
    assert int(stats["inference_count"]) == 8
    assert int(stats["execution_count"]) < len(requests), stats
    sizes = {int(b["batch_size"]) for b in stats["batch_stats"]}
    assert max(sizes) > 1, stats
    assert sizes <= {1, 2, 3, 4, 5, 6, 7, 8}


def test_the_configuration_advertises_the_batcher(batching_server):
    http_config = httpclient.InferenceServerClient(url=batching_server["url"]).get_model_config("batched")
    assert http_config["max_batch_size"] == 8
    assert http_config["dynamic_batching"] == {
        "preferred_batch_size": [4],
        "max_queue_delay_microseconds": DELAY_US,
    }
    grpc_config = grpcclient.InferenceServerClient(url=batching_server["grpc_url"]).get_model_config(
        "batched", as_json=True)["config"]
    assert grpc_config["dynamic_batching"]["preferred_batch_size"] == [4]
    assert int(grpc_config["dynamic_batching"]["max_queue_delay_microseconds"]) == DELAY_US
    unbatched = httpclient.InferenceServerClient(url=batching_server["url"]).get_model_config("single")
    assert "dynamic_batching" not in unbatched


def test_a_request_whose_deadline_passes_while_it_waits_for_partners_gets_504(batching_server):
    data = samples()[0]
    header = json.dumps({
        "inputs": [{"name": "input", "shape": list(data.shape), "datatype": "FP32",
                    "parameters": {"binary_data_size": data.nbytes}}],
    }).encode()
    request = urllib.request.Request(
        f"{batching_server['base_url']}/v2/models/batched/infer",
        data=header + data.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)),
                 "Content-Type": "application/octet-stream",
                 # Far shorter than the queue delay: alone, it waits for partners past it.
                 "X-Request-Timeout-Ms": "50"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 504
    # The server goes on batching.
    assert int(np.argmax(infer(batching_server["url"], "batched", data))) == 286


def test_batching_a_model_without_a_batch_dimension_is_refused_with_the_reason(batching_server):
    base = batching_server["base_url"]
    with pytest.raises(urllib.error.HTTPError) as not_ready:
        urllib.request.urlopen(f"{base}/v2/models/no_batch_dimension/ready", timeout=10)
    assert not_ready.value.code in (400, 404, 503)
    with pytest.raises(urllib.error.HTTPError) as described:
        urllib.request.urlopen(f"{base}/v2/models/no_batch_dimension", timeout=10)
    assert "needs a model that takes batches" in described.value.read().decode()
