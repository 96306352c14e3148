"""One version at a time, against the real binary in explicit mode: a version loaded as a
candidate answers only when asked for by number; made the default (promotion, rollback) it takes
unversioned requests; the default cannot be unloaded; `serving.toml` decides what a load of the
whole model serves; a version directory's own model.toml is used for that version. Over REST
and over gRPC (the generated stubs, since tritonclient's load_model cannot send parameters)."""

import json
import shutil

import grpc
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2, service_pb2_grpc

from conftest import ROOT, start_outpost, stop_outpost
from test_clients import FIXTURES, MODEL, reference_input
from test_model_control import TOKEN, copy_model, post, status_of


def add_float_version(model_dir, version):
    """Version `version`: the float32 MobileNetV2 (same input and labels as the int8 model),
    with its own model.toml and labels file inside the version directory."""
    target = model_dir / str(version)
    target.mkdir()
    shutil.copy(FIXTURES / "mobilenet_v2_1.0_224_float32.onnx", target / "model.onnx")
    shutil.copy(model_dir / "model.toml", target / "model.toml")
    shutil.copy(model_dir / "labels.txt", target / "labels.txt")


def unversioned_answer(url):
    client = httpclient.InferenceServerClient(url=url)
    data = reference_input()
    inp = httpclient.InferInput("input", list(data.shape), "FP32")
    inp.set_data_from_numpy(data, binary_data=True)
    result = client.infer(MODEL, [inp])
    assert int(np.argmax(result.as_numpy("probabilities"))) == 286
    return result.get_response()["model_version"]


def control(base, action, parameters=None, token=TOKEN):
    body = b"" if parameters is None else json.dumps({"parameters": parameters}).encode()
    return post(base, f"/v2/repository/models/{MODEL}/{action}", token, body)


@pytest.fixture()
def two_versions(tmp_path):
    model_dir = copy_model(tmp_path, versions=(1,))
    add_float_version(model_dir, 2)
    # Without serving.toml the version policy (latest 1) would load version 2 at start.
    (model_dir / "serving.toml").write_text("default_version = 1\n")
    process, addresses = start_outpost(
        tmp_path, "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN}
    )
    yield model_dir, addresses
    stop_outpost(process)


def test_candidate_promote_and_rollback_over_rest(two_versions):
    model_dir, addresses = two_versions
    base, url = addresses["base_url"], addresses["url"]
    assert unversioned_answer(url) == "1"
    assert status_of(f"{base}/v2/models/{MODEL}/versions/2/ready") == 404

    assert control(base, "load", {"version": 2}) == (200, {})
    assert status_of(f"{base}/v2/models/{MODEL}/versions/2/ready") == 200
    assert unversioned_answer(url) == "1", "a candidate must not take unversioned requests"
    status, index = post(base, "/v2/repository/index", TOKEN)
    candidate = [e for e in index if e.get("version") == "2"]
    assert candidate and candidate[0]["state"] == "READY" and "candidate" in candidate[0]["reason"]

    assert control(base, "load", {"version": 2, "default": True}) == (200, {})
    assert unversioned_answer(url) == "2"
    status, body = control(base, "unload", {"version": 2})
    assert status == 403 and "default version" in body["error"]

    # Rollback: version 1 is still loaded and becomes the default again at once.
    assert control(base, "load", {"version": "1", "default": True}) == (200, {})
    assert unversioned_answer(url) == "1"
    assert control(base, "unload", {"version": 2}) == (200, {})
    assert status_of(f"{base}/v2/models/{MODEL}/versions/2/ready") == 404
    status, body = control(base, "unload", {"version": 2})
    assert status == 404 and "not loaded" in body["error"]

    # A version whose file is not a model: the load fails, and says so in its code, which the
    # agent tells apart from a request it got wrong (that bundle is refused, the request not).
    broken = model_dir / "3"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not an ONNX graph")
    for parameters, word, code in (
        ({"version": 9}, "no version directory 9", "no_version_directory"),
        ({"version": 0}, "positive", "bad_parameter"),
        ({"default": True}, "needs 'version'", "bad_parameter"),
        ({"version": 2, "config": "{}"}, "unknown parameter 'config'", "bad_parameter"),
        ({"version": 3}, "failed to load", "model_load_failed"),
    ):
        status, body = control(base, "load", parameters)
        assert status in (400, 404) and word in body["error"], (parameters, body)
        assert body["code"] == code, (parameters, body)
    status, body = control(base, "load", {"version": 2}, token="wrong")
    assert status == 401


def test_serving_file_decides_a_whole_model_load(two_versions):
    model_dir, addresses = two_versions
    base, url = addresses["base_url"], addresses["url"]
    (model_dir / "serving.toml").write_text("default_version = 2\n")
    assert control(base, "load") == (200, {})
    assert unversioned_answer(url) == "2"
    assert status_of(f"{base}/v2/models/{MODEL}/versions/1/ready") == 404
    config = json.load(open_url(f"{base}/v2/models/{MODEL}/versions/2/config"))
    assert config["name"] == MODEL

    (model_dir / "serving.toml").write_text("default_version = 7\n")
    status, body = control(base, "load")
    assert status == 400 and "no version directory 7" in body["error"], body
    assert unversioned_answer(url) == "2", "a failed reload keeps the loaded versions serving"


def open_url(url):
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)


def test_candidate_and_promote_over_grpc(two_versions):
    _, addresses = two_versions
    channel = grpc.insecure_channel(addresses["grpc_url"])
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    metadata = (("authorization", f"Bearer {TOKEN}"),)

    def load(**parameters):
        request = service_pb2.RepositoryModelLoadRequest(model_name=MODEL)
        for name, value in parameters.items():
            if isinstance(value, bool):
                request.parameters[name].bool_param = value
            else:
                request.parameters[name].int64_param = value
        stub.RepositoryModelLoad(request, metadata=metadata)

    load(version=2)
    assert unversioned_answer(addresses["url"]) == "1"
    load(version=2, default=True)
    assert unversioned_answer(addresses["url"]) == "2"

    request = service_pb2.RepositoryModelUnloadRequest(model_name=MODEL)
    request.parameters["version"].int64_param = 2
    with pytest.raises(grpc.RpcError) as refused:
        stub.RepositoryModelUnload(request, metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as refused:
        stub.RepositoryModelLoad(service_pb2.RepositoryModelLoadRequest(model_name=MODEL))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    request.parameters["version"].int64_param = 1
    stub.RepositoryModelUnload(request, metadata=metadata)
    assert unversioned_answer(addresses["url"]) == "2"
