"""Makes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from the real fixtures: the
mobilenet reference tensors (tests/fixtures/models/*.test_data), requests and answers shaped as
the Python clients (tritonclient) send and Triton answers them, and a bundle of a real model
packed by `outpost bundle create` with golden cases. The seeds are committed; run this again
(with the test environment's Python, after a build) when a format changes:

    OUTPOST_BIN=target/ci/outpost .venv/bin/python fuzz/make_seeds.py
"""

import json
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SEEDS = ROOT / "fuzz" / "seeds"
FIXTURES = ROOT / "tests" / "fixtures"
DATA = FIXTURES / "models" / "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq.test_data" / "test_data_set_0"
FLOAT_DATA = FIXTURES / "models" / "mobilenet_v2_1.0_224_int8_qdq.test_data" / "test_data_set_0"
sys.path.insert(0, str(ROOT / "tests" / "python"))

import onnx_tensor  # noqa: E402
from tritonclient.grpc import service_pb2  # noqa: E402


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def sample_tensors():
    """Small tensors of every datatype, the first of them cut from the real reference input."""
    image = onnx_tensor.read(DATA / "input_0.pb")
    pixels = image.reshape(-1)[:48].reshape(1, 4, 4, 3)
    return [
        ("input", "UINT8", pixels),
        ("scores", "FP32", onnx_tensor.read(FLOAT_DATA / "output_0.pb").reshape(-1)[:8].reshape(1, 8)),
        ("ids", "INT64", np.array([[1, -2, 3]], dtype=np.int64)),
        ("mask", "BOOL", np.array([True, False, True, True])),
        ("small", "INT8", np.array([-128, 0, 127], dtype=np.int8)),
        ("half", "FP16", np.array([0.5, -1.0, 65504.0], dtype=np.float16)),
        ("wide", "FP64", np.array([1e300, -0.0], dtype=np.float64)),
        ("count", "UINT32", np.array([7], dtype=np.uint32)),
        ("texts", "BYTES", np.array([b"cat", b"", "caf\u00e9".encode()], dtype=object)),
    ]


def json_request(tensors, **extra):
    inputs = []
    for name, datatype, array in tensors:
        data = [v.decode("latin-1") for v in array.reshape(-1)] if datatype == "BYTES" else array.reshape(-1).tolist()
        inputs.append({"name": name, "shape": list(array.shape), "datatype": datatype, "data": data})
    return {"id": "seed", "inputs": inputs, **extra}


def binary_request(tensors, outputs=None):
    """The body tritonclient's HTTP client sends: JSON header, then each tensor's bytes."""
    inputs, raw = [], b""
    for name, datatype, array in tensors:
        if datatype == "BYTES":
            data = b"".join(struct.pack("<I", len(v)) + v for v in array.reshape(-1))
        else:
            data = array.astype(array.dtype.newbyteorder("<")).tobytes()
        inputs.append({"name": name, "shape": list(array.shape), "datatype": datatype,
                       "parameters": {"binary_data_size": len(data)}})
        raw += data
    header = {"inputs": inputs}
    if outputs:
        header["outputs"] = outputs
    header = json.dumps(header).encode()
    return struct.pack("<H", len(header)) + header + raw


def grpc_request(tensors, raw=True):
    request = service_pb2.ModelInferRequest(model_name="mobilenet_v2_int8", id="seed")
    for name, datatype, array in tensors:
        tensor = request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
        if raw:
            if datatype == "BYTES":
                request.raw_input_contents.append(
                    b"".join(struct.pack("<I", len(v)) + v for v in array.reshape(-1)))
            else:
                request.raw_input_contents.append(array.tobytes())
        elif datatype == "FP32":
            tensor.contents.fp32_contents.extend(array.reshape(-1).tolist())
        elif datatype in ("UINT8", "UINT32"):
            tensor.contents.uint_contents.extend(int(v) for v in array.reshape(-1))
        elif datatype in ("INT8",):
            tensor.contents.int_contents.extend(int(v) for v in array.reshape(-1))
        elif datatype == "INT64":
            tensor.contents.int64_contents.extend(int(v) for v in array.reshape(-1))
        elif datatype == "BOOL":
            tensor.contents.bool_contents.extend(bool(v) for v in array.reshape(-1))
        elif datatype == "FP64":
            tensor.contents.fp64_contents.extend(array.reshape(-1).tolist())
        elif datatype == "BYTES":
            tensor.contents.bytes_contents.extend(array.reshape(-1).tolist())
        else:
            request.inputs.pop()
    return request.SerializeToString()


def responses():
    """An upstream's answers, as Triton gives them: JSON, JSON plus binary, gRPC."""
    probabilities = onnx_tensor.read(FLOAT_DATA / "output_0.pb").reshape(1, -1)
    head = {"model_name": "mobilenet_v2_int8", "model_version": "1", "id": "seed"}
    as_json = {**head, "outputs": [{"name": "probabilities", "datatype": "FP32",
                                    "shape": list(probabilities.shape),
                                    "data": probabilities.reshape(-1).tolist()}]}
    write("upstream_response", "json", b"\x00" + json.dumps(as_json).encode())
    header = json.dumps({**head, "outputs": [{"name": "probabilities", "datatype": "FP32",
                                              "shape": list(probabilities.shape),
                                              "parameters": {"binary_data_size": probabilities.nbytes}}]}).encode()
    write("upstream_response", "binary", b"\x01" + struct.pack("<H", len(header)) + header + probabilities.tobytes())
    response = service_pb2.ModelInferResponse(**head)
    response.outputs.add(name="probabilities", datatype="FP32", shape=list(probabilities.shape))
    response.raw_output_contents.append(probabilities.tobytes())
    write("upstream_response", "grpc", b"\x02" + response.SerializeToString())
    error = {"error": "model 'mobilenet_v2_int8' has 10 requests in flight, its limit; retry in 1 s"}
    write("upstream_response", "error", b"\x00" + json.dumps(error).encode())


def bundles():
    """A bundle of a real model (the QLinearAdd contrib fixture) with golden cases of both kinds,
    packed by the binary, and the golden cases themselves."""
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "ci" / "outpost"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        model = tmp / "tiny"
        (model / "1").mkdir(parents=True)
        shutil.copy(FIXTURES / "generated" / "qlinear_add_contrib.onnx", model / "1" / "model.onnx")
        (model / "labels.txt").write_text("zero\none\n")
        golden = tmp / "golden"
        golden.mkdir()
        shutil.copy(FIXTURES / "images" / "face.jpg", golden / "face.jpg")
        shutil.copy(DATA / "output_0.pb", golden / "output_0.pb")
        shutil.copy(DATA / "output_0.pb", golden / "input_0.pb")
        cases = (
            '[[case]]\nname = "face"\nimage = "face.jpg"\ntop_label = "face"\nmin_score = 0.2\n\n'
            '[[case]]\nname = "faces"\nimage = "face.jpg"\n'
            'detect = [{ label = "face", at_least = 1, min_score = 0.5, overlaps = [10.0, 20.0, 110.0, 220.0], min_iou = 0.3 }]\n\n'
            '[[case]]\nname = "reference tensors"\ninputs = { input = "input_0.pb" }\n'
            'outputs = { probabilities = "output_0.pb" }\ntolerance = 0.05\n'
        )
        (golden / "cases.toml").write_text(cases)
        write("golden_cases", "cases.toml", cases)
        write("golden_cases", "image_only.toml", '[[case]]\nname = "cat"\nimage = "cat.jpg"\ntop_index = 282\n')
        bundle = tmp / "tiny.bundle"
        subprocess.run([binary, "bundle", "create", str(model), "--name", "tiny", "--version", "1",
                        "--golden", str(golden), "-o", str(bundle)], check=True)
        write("bundle_read", "with_golden.bundle", bundle.read_bytes())
        bare = tmp / "bare.bundle"
        subprocess.run([binary, "bundle", "create", str(model), "--name", "tiny", "--version", "1",
                        "-o", str(bare)], check=True)
        write("bundle_read", "bare.bundle", bare.read_bytes())


def main():
    for folder in ("infer_request_json", "infer_request_binary", "grpc_infer_request",
                   "upstream_response", "bundle_read", "golden_cases", "onnx_tensor"):
        shutil.rmtree(SEEDS / folder, ignore_errors=True)
    tensors = sample_tensors()
    write("infer_request_json", "all_types.json", json.dumps(json_request(tensors)))
    write("infer_request_json", "outputs.json", json.dumps(json_request(
        tensors[:1], outputs=[{"name": "probabilities", "parameters": {"classification": 3}}],
        parameters={"binary_data_output": True})))
    image = onnx_tensor.read(DATA / "input_0.pb")
    write("infer_request_binary", "all_types", binary_request(tensors))
    write("infer_request_binary", "reference_input", binary_request(
        [("input", "UINT8", image)], outputs=[{"name": "probabilities", "parameters": {"binary_data": True}}]))
    write("grpc_infer_request", "raw", grpc_request(tensors))
    write("grpc_infer_request", "typed", grpc_request(tensors, raw=False))
    write("grpc_infer_request", "reference_input", grpc_request([("input", "UINT8", image)]))
    responses()
    for data in (DATA, FLOAT_DATA):
        for pb in sorted(data.glob("*.pb")):
            if pb.stat().st_size < 200_000:
                write("onnx_tensor", f"{data.parent.name.split('.test_data')[0]}_{pb.name}", pb.read_bytes())
    bundles()


if __name__ == "__main__":
    main()
