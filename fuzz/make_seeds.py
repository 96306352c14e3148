"""Makes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from the real fixtures: the
mobilenet reference tensors (tests/fixtures/models/*.test_data), requests and answers shaped as
the Python clients (tritonclient) send and Triton answers them, and a bundle of a real model
packed by `outpost bundle create` with golden cases, camera forms as urllib3 (requests) and
curl encode them around real photos, the repository's model.toml files and server configurations,
and outbox records shaped as the engine writes them. The seeds are committed; run this again
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


def forms():
    """Camera forms around real photos: as requests/urllib3 and as curl -F send them."""
    from urllib3 import encode_multipart_formdata

    photo = (FIXTURES / "images" / "face.jpg").read_bytes()
    body, content_type = encode_multipart_formdata(
        {"image": ("face.jpg", photo, "image/jpeg")}, boundary="4e1c2b8d0f7a4a3c9b6d5e2f1a0b9c8d")
    write("camera_form", "urllib3_jpeg", content_type.encode() + b"\n" + body)
    boundary = "------------------------d74496d66958873e"
    curl = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"camera\"\r\n\r\nfront door\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"snapshot\"; filename=\"chelsea.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    curl += (FIXTURES / "images" / "chelsea.png").read_bytes()[:4096] + f"\r\n--{boundary}--\r\n".encode()
    write("camera_form", "curl_png_after_a_note", f"multipart/form-data; boundary={boundary}\n".encode() + curl)


def configurations():
    """model.toml files of the repository's models and test fixtures; the server configurations
    the deployments ship, one with flags given beside it."""
    for path in sorted((ROOT / "models").glob("*/model.toml")):
        write("model_config", path.parent.name + ".toml", path.read_bytes())
    for path in sorted((FIXTURES / "configs").glob("*.toml")):
        write("model_config", path.name, path.read_bytes())
    compose = (ROOT / "deploy" / "compose" / "config" / "outpost.toml").read_bytes()
    write("server_config", "compose.toml", compose)
    write("server_config", "k3s.toml", (ROOT / "deploy" / "k3s" / "base" / "outpost.toml").read_bytes())
    write("server_config", "compose_with_flags", compose + b"\0http.port=0\nconnections.max_connections=64\n"
          b"model_control.mode=explicit\nlimits.max_image_pixels=4000000\n")
    write("server_config", "upstream_outbox_ort.toml",
          '[upstream]\nurl = "grpcs://cloud.example:8001"\npolicy = "prefer_local"\nescalate_below = 0.6\n\n'
          '[outbox]\npath = "/var/lib/outpost/outbox.db"\ndestination = "s3://results/site-a"\n'
          'max_bytes = 67108864\n\n[ort]\nexecution_providers = ["cpu"]\n\n[connections]\n'
          'max_connections = 64\nheader_read_timeout_secs = 5\n\n[tls]\ncert_file = "/etc/outpost/server.pem"\n'
          'key_file = "/etc/outpost/server.key"\n')


def outbox_records():
    """Records as the engine writes them: a V2 answer (the reference output's first scores),
    one with its inputs, and a camera answer with boxes; separated by 0xFF."""
    scores = onnx_tensor.read(FLOAT_DATA / "output_0.pb").reshape(-1)[:8].tolist()
    answer = {"time": "2026-12-02T10:00:00Z", "model": "mobilenet_v2_int8", "version": "1",
              "served_by": "local", "id": "frame-9",
              "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [1, 8], "data": scores}]}
    with_inputs = {**answer, "id": None, "served_by": "upstream",
                   "inputs": [{"name": "input", "datatype": "UINT8", "shape": [1, 2, 2, 3],
                               "data_base64": "AAECAwQFBgcICQoL"}]}
    camera = {"time": "2026-12-02T10:00:01Z", "model": "ssd_mobilenet_v1_coco", "version": "1",
              "served_by": "local", "endpoint": "image", "image": {"width": 768, "height": 576},
              "detections": [{"label": "person", "class_index": 0, "score": 0.91,
                              "box": {"x_min": 12.5, "y_min": 40.0, "x_max": 96.0, "y_max": 300.25}}]}
    records = [json.dumps(r, separators=(",", ":")).encode() for r in (answer, with_inputs, camera)]
    write("outbox_records", "engine_records", b"\xff".join(records))
    write("outbox_records", "spaced", json.dumps(answer, indent=1).encode() + b"\xff{ }")


def main():
    for folder in ("infer_request_json", "infer_request_binary", "grpc_infer_request",
                   "upstream_response", "bundle_read", "golden_cases", "onnx_tensor",
                   "camera_form", "model_config", "server_config", "outbox_records"):
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
    forms()
    configurations()
    outbox_records()


if __name__ == "__main__":
    main()
