"""Model control against the real binary: explicit load and unload over REST and gRPC behind a
bearer token, refusal when control is off, and poll mode picking up a newly copied version."""

import json
import pathlib
import shutil
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import ROOT, start_outpost, stop_outpost
from test_clients import MODEL, reference_input

TOKEN = "control-token-for-tests"


def post(base_url, path, token=None, body=b""):
    request = urllib.request.Request(f"{base_url}{path}", data=body, method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def copy_model(repository, versions=(1,)):
    source = ROOT / "models" / MODEL
    target = repository / MODEL
    target.mkdir(parents=True)
    for name in ("model.toml", "labels.txt"):
        shutil.copy(source / name, target / name)
    for version in versions:
        (target / str(version)).mkdir()
        shutil.copy(source / "1" / "model.onnx", target / str(version) / "model.onnx")
    return target


def infer_version(url):
    client = httpclient.InferenceServerClient(url=url)
    data = reference_input()
    inp = httpclient.InferInput("input", list(data.shape), "FP32")
    inp.set_data_from_numpy(data, binary_data=True)
    result = client.infer(MODEL, [inp])
    assert int(np.argmax(result.as_numpy("probabilities"))) == 286
    return result.get_response()["model_version"]


@pytest.fixture(scope="module")
def explicit_server(tmp_path_factory):
    repository = tmp_path_factory.mktemp("explicit")
    copy_model(repository)
    process, addresses = start_outpost(
        repository, "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN}
    )
    yield addresses
    stop_outpost(process)


def test_rest_control_needs_the_token(explicit_server):
    base = explicit_server["base_url"]
    for path in ("/v2/repository/index", f"/v2/repository/models/{MODEL}/unload", f"/v2/repository/models/{MODEL}/load"):
        for token in (None, "wrong-token"):
            status, body = post(base, path, token)
            assert status == 401, (path, token)
            assert "Bearer" in body["error"]
    assert status_of(f"{base}/v2/models/{MODEL}/ready") == 200


def test_rest_unload_then_load(explicit_server):
    base = explicit_server["base_url"]
    status, index = post(base, "/v2/repository/index", TOKEN)
    assert status == 200
    assert {"name": MODEL, "version": "1", "state": "READY"} in index

    assert post(base, f"/v2/repository/models/{MODEL}/unload", TOKEN) == (200, {})
    assert status_of(f"{base}/v2/models/{MODEL}/ready") == 404
    status, index = post(base, "/v2/repository/index", TOKEN, b'{"ready": false}')
    assert {"name": MODEL, "state": "UNAVAILABLE", "reason": "not loaded"} in index
    assert post(base, "/v2/repository/index", TOKEN, b'{"ready": true}') == (200, [])

    assert post(base, f"/v2/repository/models/{MODEL}/load", TOKEN) == (200, {})
    assert status_of(f"{base}/v2/models/{MODEL}/ready") == 200
    assert infer_version(explicit_server["url"]) == "1"

    status, body = post(base, "/v2/repository/models/no_such_model/load", TOKEN)
    assert status == 404 and "no_such_model" in body["error"]
    status, body = post(base, "/v2/repository/models/..%2Fetc/load", TOKEN)
    assert status in (400, 404)


def test_grpc_unload_then_load(explicit_server):
    client = grpcclient.InferenceServerClient(url=explicit_server["grpc_url"])
    with pytest.raises(InferenceServerException) as refused:
        client.unload_model(MODEL)
    assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
    with pytest.raises(InferenceServerException) as refused:
        client.get_model_repository_index(headers={"authorization": "Bearer nope"})
    assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
    assert client.is_model_ready(MODEL)

    headers = {"authorization": f"Bearer {TOKEN}"}
    client.unload_model(MODEL, headers=headers)
    assert not client.is_model_ready(MODEL)
    client.load_model(MODEL, headers=headers)
    assert client.is_model_ready(MODEL)
    index = client.get_model_repository_index(headers=headers, as_json=True)["models"]
    assert {"name": MODEL, "version": "1", "state": "READY"} in index
    with pytest.raises(InferenceServerException) as unknown:
        client.load_model("no_such_model", headers=headers)
    assert unknown.value.status() == "StatusCode.NOT_FOUND"


def test_control_is_refused_when_off(server):
    """The default server (model_control.mode = none, no token) refuses load and unload."""
    for action in ("load", "unload"):
        status, body = post(server["base_url"], f"/v2/repository/models/{MODEL}/{action}")
        assert status == 403
        assert "model_control.mode is 'none'" in body["error"]
    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    with pytest.raises(InferenceServerException) as refused:
        client.load_model(MODEL)
    assert refused.value.status() == "StatusCode.FAILED_PRECONDITION"
    with pytest.raises(InferenceServerException) as refused:
        client.unload_model(MODEL)
    assert refused.value.status() == "StatusCode.FAILED_PRECONDITION"
    assert client.is_model_ready(MODEL)


def start_polling(tmp_path):
    """A server in poll mode (a scan a second) over a repository holding version 1 of the model.
    Returns the process, its addresses and the model's directory."""
    repository = tmp_path / "repository"
    model_dir = copy_model(repository)
    config = tmp_path / "outpost.toml"
    config.write_text('[model_control]\nmode = "poll"\npoll_interval_secs = 1\n')
    process, addresses = start_outpost(repository, "--config", str(config))
    return process, addresses, model_dir


def test_poll_mode_picks_up_a_copied_version_and_a_removed_model(tmp_path):
    process, addresses, model_dir = start_polling(tmp_path)
    try:
        base = addresses["base_url"]
        assert infer_version(addresses["url"]) == "1"
        # Copy the new version next to the repository, then move it in whole.
        staging = tmp_path / "staging"
        staging.mkdir()
        shutil.copy(model_dir / "1" / "model.onnx", staging / "model.onnx")
        staging.rename(model_dir / "2")
        wait_for(lambda: status_of(f"{base}/v2/models/{MODEL}/versions/2/ready") == 200)
        assert infer_version(addresses["url"]) == "2"
        # The default policy serves the latest version only.
        assert status_of(f"{base}/v2/models/{MODEL}/versions/1/ready") == 404
        shutil.rmtree(model_dir)
        wait_for(lambda: status_of(f"{base}/v2/models/{MODEL}/ready") == 404)
        status, body = post(base, f"/v2/repository/models/{MODEL}/load")
        assert status == 403 and "'poll'" in body["error"]
    finally:
        stop_outpost(process)


def wait_for(condition, limit_s=60.0):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
