"""The bundled default model driven by real clients: tritonclient (HTTP) and kserve's REST client."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

MODEL = "mobilenet_v2_int8"
FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "models"


def reference_input():
    """Input tensor of test_data_set_0 (chelsea.png, preprocessed) as a numpy array."""
    import onnx_tensor

    return onnx_tensor.read(FIXTURES / "mobilenet_v2_1.0_224_int8_qdq.test_data" / "test_data_set_0" / "input_0.pb")


def reference_output():
    import onnx_tensor

    return onnx_tensor.read(FIXTURES / "mobilenet_v2_1.0_224_int8_qdq.test_data" / "test_data_set_0" / "output_0.pb")


def int8_dot_products_saturate():
    """Whether ONNX Runtime's u8 x s8 kernels saturate here: x86-64 without VNNI (see
    crates/testkit/src/cpu.rs; measured 11 output steps on MobileNetV2 int8, AVX2-only CPU)."""
    import platform

    if platform.machine() != "x86_64":
        return False
    flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
    return not ({"avx512_vnni", "avx_vnni"} & set(flags))


def assert_matches_reference(probabilities):
    """Within one output step (1/255) of the reference, or twelve where the CPU's integer
    kernels saturate, and the reference's top class."""
    steps = 12 if int8_dot_products_saturate() else 1
    assert np.max(np.abs(probabilities - reference_output())) <= steps / 255 + 1e-6
    assert int(np.argmax(probabilities)) == int(np.argmax(reference_output()))


def test_tritonclient_health_metadata_config(server):
    client = httpclient.InferenceServerClient(url=server["url"])
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert not client.is_model_ready("no_such_model")
    meta = client.get_server_metadata()
    assert meta["name"] == "outpost"
    assert "binary_tensor_data" in meta["extensions"]
    model = client.get_model_metadata(MODEL)
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [1, 3, 224, 224]}]
    assert model["outputs"][0]["name"] == "probabilities"
    assert model["versions"] == ["1"]
    config = client.get_model_config(MODEL)
    assert config["max_batch_size"] == 0
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert config["output"][0]["label_filename"] == "labels.txt"


@pytest.mark.parametrize("binary_in,binary_out", [(False, False), (True, True), (True, False), (False, True)])
def test_tritonclient_infer(server, binary_in, binary_out):
    client = httpclient.InferenceServerClient(url=server["url"])
    data = reference_input()
    inp = httpclient.InferInput("input", list(data.shape), "FP32")
    inp.set_data_from_numpy(data, binary_data=binary_in)
    out = httpclient.InferRequestedOutput("probabilities", binary_data=binary_out)
    result = client.infer(MODEL, [inp], outputs=[out], request_id="cat-1")
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (1, 1001)
    assert_matches_reference(probabilities)
    assert int(np.argmax(probabilities)) == 286  # Egyptian cat
    assert result.get_response()["id"] == "cat-1"


def test_tritonclient_errors(server):
    client = httpclient.InferenceServerClient(url=server["url"])
    wrong = httpclient.InferInput("input", [1, 224, 224, 3], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 224, 224, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="shape"):
        client.infer(MODEL, [wrong])
    with pytest.raises(InferenceServerException, match="unknown model"):
        client.get_model_metadata("no_such_model")


def test_kserve_rest_client(server, tmp_path):
    """kserve's generated gRPC messages clash with tritonclient's in one process (both are package
    `inference`), so its client runs in a child interpreter."""
    np.save(tmp_path / "input.npy", reference_input())
    script = f"""
import asyncio, sys
import numpy as np
sys.argv = sys.argv[:1]  # `import kserve` parses the command line
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

async def run():
    client = InferenceRESTClient(config=RESTConfig(protocol="v2", timeout=60))
    try:
        base = {server["base_url"]!r}
        assert await client.is_server_live(base)
        assert await client.is_server_ready(base)
        assert await client.is_model_ready(base, "{MODEL}")
        data = np.load({str(tmp_path / "input.npy")!r})
        for binary in (False, True):
            inp = InferInput(name="input", shape=list(data.shape), datatype="FP32")
            inp.set_data_from_numpy(data, binary_data=binary)
            request = InferRequest(model_name="{MODEL}", infer_inputs=[inp], request_id=f"kserve-{{binary}}")
            response = await client.infer(base, request, model_name="{MODEL}")
            np.save({str(tmp_path)!r} + f"/output-{{binary}}.npy", response.outputs[0].as_numpy())
    finally:
        await client.close()

asyncio.run(run())
"""
    run_child_python(tmp_path, script)
    for binary in (False, True):
        probabilities = np.load(tmp_path / f"output-{binary}.npy")
        assert probabilities.shape == (1, 1001)
        assert int(np.argmax(probabilities)) == 286
        assert_matches_reference(probabilities)


def run_child_python(tmp_path, script):
    """Runs `script` in a fresh interpreter of this environment; fails the test if it fails."""
    path = tmp_path / "child.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_tritonclient_sends_a_jpeg_as_bytes(server):
    """A model that declares image preprocessing takes encoded images as a BYTES input."""
    client = httpclient.InferenceServerClient(url=server["url"])
    images = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "images"
    for name, expected in [("chelsea.png", 286), ("cat_720p.jpg", None)]:
        encoded = np.array([(images / name).read_bytes()], dtype=np.object_)
        inp = httpclient.InferInput("input", [1], "BYTES")
        inp.set_data_from_numpy(encoded, binary_data=True)
        result = client.infer(MODEL, [inp], outputs=[httpclient.InferRequestedOutput("probabilities")])
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (1, 1001)
        if expected is not None:
            assert int(np.argmax(probabilities)) == expected
    broken = httpclient.InferInput("input", [1], "BYTES")
    broken.set_data_from_numpy(np.array([b"\xff\xd8\xff not a jpeg"], dtype=np.object_), binary_data=True)
    with pytest.raises(InferenceServerException, match="cannot be decoded"):
        client.infer(MODEL, [broken])


def test_openapi_document_is_valid(server):
    import json
    import urllib.request

    from openapi_spec_validator import validate

    with urllib.request.urlopen(f"{server['base_url']}/openapi.json", timeout=10) as response:
        document = json.load(response)
    validate(document)
    assert "/v2/models/{model}/image" in document["paths"]
