"""The gRPC front end driven by real clients: tritonclient's gRPC client and kserve's
InferenceGRPCClient, plus a check that the server's .proto agrees field by field with the
messages tritonclient was generated from."""

import pathlib

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from test_clients import MODEL, assert_matches_reference, reference_input, run_child_python

ROOT = pathlib.Path(__file__).resolve().parents[2]


def infer_cat(client):
    data = reference_input()
    inp = grpcclient.InferInput("input", list(data.shape), "FP32")
    inp.set_data_from_numpy(data)
    out = grpcclient.InferRequestedOutput("probabilities")
    return client.infer(MODEL, [inp], outputs=[out], request_id="grpc-cat")


def test_health_metadata_and_config(server):
    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "1")
    assert not client.is_model_ready("no_such_model")
    assert not client.is_model_ready(MODEL, "7")
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "outpost"
    assert {"binary_tensor_data", "model_configuration", "statistics"} <= set(meta["extensions"])
    model = client.get_model_metadata(MODEL, as_json=True)
    assert model["versions"] == ["1"]
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["1", "3", "224", "224"]}]
    assert model["outputs"][0]["name"] == "probabilities"
    config = client.get_model_config(MODEL, as_json=True)["config"]
    assert config["name"] == MODEL
    assert config["backend"] in ("onnxruntime", "tract")
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert config["input"][0]["dims"] == ["1", "3", "224", "224"]
    assert config["output"][0]["label_filename"] == "labels.txt"
    assert config["version_policy"] == {"latest": {"num_versions": 1}}
    assert config["instance_group"][0]["kind"] == "KIND_CPU"


def test_infer_with_binary_contents_matches_the_reference(server):
    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    result = infer_cat(client)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (1, 1001)
    assert_matches_reference(probabilities)
    assert int(np.argmax(probabilities)) == 286  # Egyptian cat
    response = result.get_response(as_json=True)
    assert response["id"] == "grpc-cat"
    assert response["model_name"] == MODEL
    assert response["model_version"] == "1"


def test_infer_with_typed_contents(server):
    """Without raw contents the tensor travels in fp32_contents."""
    from tritonclient.grpc import service_pb2

    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    data = reference_input()
    request = service_pb2.ModelInferRequest(model_name=MODEL)
    tensor = request.inputs.add(name="input", datatype="FP32", shape=list(data.shape))
    tensor.contents.fp32_contents.extend(data.flatten().tolist())
    response = client._client_stub.ModelInfer(request)
    probabilities = np.frombuffer(response.raw_output_contents[0], dtype=np.float32)
    assert int(np.argmax(probabilities)) == 286


def test_error_codes(server):
    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    data = reference_input()
    good = grpcclient.InferInput("input", list(data.shape), "FP32")
    good.set_data_from_numpy(data)
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("no_such_model", [good])
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    with pytest.raises(InferenceServerException) as metadata:
        client.get_model_metadata("no_such_model")
    assert metadata.value.status() == "StatusCode.NOT_FOUND"

    wrong_shape = grpcclient.InferInput("input", [1, 224, 224, 3], "FP32")
    wrong_shape.set_data_from_numpy(np.zeros((1, 224, 224, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="shape") as shape:
        client.infer(MODEL, [wrong_shape])
    assert shape.value.status() == "StatusCode.INVALID_ARGUMENT"

    wrong_type = grpcclient.InferInput("input", list(data.shape), "INT32")
    wrong_type.set_data_from_numpy(np.zeros(data.shape, dtype=np.int32))
    with pytest.raises(InferenceServerException, match="datatype") as datatype:
        client.infer(MODEL, [wrong_type])
    assert datatype.value.status() == "StatusCode.INVALID_ARGUMENT"

    unknown_input = grpcclient.InferInput("pixels", list(data.shape), "FP32")
    unknown_input.set_data_from_numpy(data)
    with pytest.raises(InferenceServerException) as name:
        client.infer(MODEL, [unknown_input])
    assert name.value.status() == "StatusCode.INVALID_ARGUMENT"

    # A message over grpc.max_message_bytes (32 MiB by default) is refused before it is decoded.
    from tritonclient.grpc import service_pb2

    huge = service_pb2.ModelInferRequest(model_name=MODEL)
    huge.inputs.add(name="input", datatype="FP32", shape=[1, 3, 224, 224])
    huge.raw_input_contents.append(bytes(40 * 1024 * 1024))
    with pytest.raises(Exception) as oversize:
        client._client_stub.ModelInfer(huge)
    assert "OUT_OF_RANGE" in str(oversize.value) and "too large" in str(oversize.value)

    # The server is still serving after every refusal.
    assert int(np.argmax(infer_cat(client).as_numpy("probabilities"))) == 286


def test_stream_infer_answers_each_request_in_order(server):
    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    answers = []
    client.start_stream(callback=lambda result, error: answers.append((result, error)))
    try:
        data = reference_input()
        for i, shape in enumerate([list(data.shape), [1, 224, 224, 3], list(data.shape)]):
            inp = grpcclient.InferInput("input", shape, "FP32")
            inp.set_data_from_numpy(data.reshape(shape))
            client.async_stream_infer(MODEL, [inp], request_id=f"s{i}")
    finally:
        client.stop_stream()
    assert len(answers) == 3
    assert answers[0][1] is None and answers[2][1] is None
    assert int(np.argmax(answers[0][0].as_numpy("probabilities"))) == 286
    assert answers[1][0] is None and "shape" in str(answers[1][1])


def test_statistics_count_requests_from_both_protocols(server):
    grpc = grpcclient.InferenceServerClient(url=server["grpc_url"])
    http = httpclient.InferenceServerClient(url=server["url"])

    def counts():
        stats = grpc.get_inference_statistics(MODEL, as_json=True)["model_stats"]
        assert [(s["name"], s["version"]) for s in stats] == [(MODEL, "1")]
        infer_stats = stats[0]["inference_stats"]
        return (
            int(infer_stats.get("success", {}).get("count", 0)),
            int(infer_stats.get("fail", {}).get("count", 0)),
            int(stats[0].get("inference_count", 0)),
        )

    success, fail, inferences = counts()
    infer_cat(grpc)
    data = reference_input()
    inp = httpclient.InferInput("input", list(data.shape), "FP32")
    inp.set_data_from_numpy(data, binary_data=True)
    http.infer(MODEL, [inp])
    bad = grpcclient.InferInput("input", [1, 2], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 2), dtype=np.float32))
    with pytest.raises(InferenceServerException):
        grpc.infer(MODEL, [bad])
    assert counts() == (success + 2, fail + 1, inferences + 2)

    rest = http.get_inference_statistics(MODEL)["model_stats"][0]
    assert rest["inference_stats"]["success"]["count"] >= success + 2
    assert rest["inference_stats"]["compute_infer"]["ns"] > 0
    assert rest["last_inference"] > 0
    assert rest["batch_stats"][0]["batch_size"] == 1
    everything = http.get_inference_statistics()["model_stats"]
    assert MODEL in [s["name"] for s in everything]
    with pytest.raises(InferenceServerException) as unknown:
        grpc.get_inference_statistics("no_such_model")
    assert unknown.value.status() == "StatusCode.NOT_FOUND"


def test_repository_index(server):
    client = grpcclient.InferenceServerClient(url=server["grpc_url"])
    index = client.get_model_repository_index(as_json=True)["models"]
    assert {"name": MODEL, "version": "1", "state": "READY"} in index


def test_kserve_grpc_client(server, tmp_path):
    """kserve's generated messages clash with tritonclient's in one process (both are package
    `inference`), so its client runs in a child interpreter."""
    data = reference_input()
    np.save(tmp_path / "input.npy", data)
    run_child_python(
        tmp_path,
        f"""
import asyncio, sys
import numpy as np
sys.argv = sys.argv[:1]  # `import kserve` parses the command line
from kserve import InferenceGRPCClient, InferInput, InferRequest

async def run():
    client = InferenceGRPCClient(url={server["grpc_url"]!r}, timeout=60)
    try:
        assert await client.is_server_ready()
        data = np.load({str(tmp_path / "input.npy")!r})
        inp = InferInput(name="input", shape=list(data.shape), datatype="FP32")
        inp.set_data_from_numpy(data, binary_data=True)
        request = InferRequest(model_name="{MODEL}", infer_inputs=[inp], request_id="kserve-grpc")
        response = await client.infer(request)
        np.save({str(tmp_path / "output.npy")!r}, response.outputs[0].as_numpy())
    finally:
        await client.close()

asyncio.run(run())
""",
    )
    probabilities = np.load(tmp_path / "output.npy").reshape(1, 1001)
    assert int(np.argmax(probabilities)) == 286
    assert_matches_reference(probabilities)


def test_proto_matches_the_messages_clients_use(tmp_path):
    """Every message, field and enum value in the server's .proto has the name, number and type
    that tritonclient's generated code (the protocol's reference) gives it."""
    from grpc_tools import protoc
    from google.protobuf import descriptor_pb2
    from tritonclient.grpc import model_config_pb2, service_pb2

    out = tmp_path / "outpost.pb"
    proto_dir = ROOT / "crates" / "protocol" / "proto"
    assert protoc.main(["protoc", f"-I{proto_dir}", f"--descriptor_set_out={out}", "inference.proto"]) == 0
    ours = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]

    reference = {}
    for module in (service_pb2, model_config_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        for message in proto.message_type:
            reference[message.name] = message
        for enum in proto.enum_type:
            reference[enum.name] = enum

    def compare_message(mine, theirs, path):
        for field in mine.field:
            match = [f for f in theirs.field if f.name == field.name]
            assert match, f"{path}.{field.name} is not in the reference"
            other = match[0]
            assert (field.number, field.type, field.label) == (other.number, other.type, other.label), (
                f"{path}.{field.name}"
            )
            if field.type_name:
                assert field.type_name.rsplit(".", 1)[-1] == other.type_name.rsplit(".", 1)[-1], f"{path}.{field.name}"
        for nested in mine.nested_type:
            match = [n for n in theirs.nested_type if n.name == nested.name]
            assert match, f"{path}.{nested.name} is not in the reference"
            compare_message(nested, match[0], f"{path}.{nested.name}")
        for enum in mine.enum_type:
            match = [e for e in theirs.enum_type if e.name == enum.name]
            assert match, f"{path}.{enum.name} is not in the reference"
            compare_enum(enum, match[0], f"{path}.{enum.name}")

    def compare_enum(mine, theirs, path):
        numbers = {v.name: v.number for v in theirs.value}
        for value in mine.value:
            assert numbers.get(value.name) == value.number, f"{path}.{value.name}"

    for message in ours.message_type:
        assert message.name in reference, message.name
        compare_message(message, reference[message.name], message.name)
    for enum in ours.enum_type:
        compare_enum(enum, reference[enum.name], enum.name)
    service = {m.name: m for m in service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods}
    for method in ours.service[0].method:
        assert method.name in service, method.name
        assert method.input_type.rsplit(".", 1)[-1] == service[method.name].input_type.name
        assert method.output_type.rsplit(".", 1)[-1] == service[method.name].output_type.name
