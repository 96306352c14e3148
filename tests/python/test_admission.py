"""Admission control against the real binary: a model version takes a bounded number of requests
at once (running or waiting for an inference thread); past that, HTTP answers 503 with
Retry-After and gRPC RESOURCE_EXHAUSTED at once, while the admitted requests still succeed. A
request takes its place once its body is in: clients still uploading hold no place (slow or
trickling uploads cannot starve a model). A request whose X-Request-Timeout-Ms passes before it
can run gets 504 and never runs. Uploads are held open by sending their headers and keeping back
the end of the body."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from conftest import ROOT, start_outpost, stop_outpost
from test_clients import MODEL, reference_input
from test_metrics import scrape, value

EGYPTIAN_CAT = 286


def binary_request(data):
    header = json.dumps({
        "inputs": [{"name": "input", "shape": list(data.shape), "datatype": "FP32",
                    "parameters": {"binary_data_size": data.nbytes}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}],
    }).encode()
    return header, header + data.tobytes()


class HeldRequest:
    """An infer request whose body is sent only when `finish` is called."""

    def __init__(self, address, extra_headers=()):
        header, self.body = binary_request(reference_input())
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        lines = [
            f"POST /v2/models/{MODEL}/infer HTTP/1.1",
            f"Host: {address}",
            "Content-Type: application/octet-stream",
            f"Content-Length: {len(self.body)}",
            f"Inference-Header-Content-Length: {len(header)}",
            *extra_headers,
            "", "",
        ]
        self.sock.sendall("\r\n".join(lines).encode())
        self.sock.sendall(self.body[:1000])

    def finish(self):
        self.sock.sendall(self.body[1000:])
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(65536)
        head, _, rest = response.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.sock.close()
        return status, json.loads(rest)


def post_infer(base_url, extra_headers=None):
    _, body = binary_request(reference_input())
    header, _ = binary_request(reference_input())
    request = urllib.request.Request(
        f"{base_url}/v2/models/{MODEL}/infer", data=body, method="POST",
        headers={"Inference-Header-Content-Length": str(len(header)),
                 "Content-Type": "application/octet-stream", **(extra_headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def top_class(answer):
    return int(np.argmax(answer["outputs"][0]["data"]))


def wait_for_in_flight(base_url, count):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples, _ = scrape(base_url)
        if value(samples, "outpost_model_requests_in_flight", model=MODEL, version="1") == count:
            return samples
        time.sleep(0.01)
    raise AssertionError(f"the server never held {count} requests")


@pytest.fixture(scope="module")
def small_server():
    # One inference thread and one waiting place: two requests at once per model version.
    process, addresses = start_outpost(
        ROOT / "models", "--max-concurrent-requests", "1", "--max-queued-requests-per-model", "1",
    )
    yield addresses
    stop_outpost(process)


def test_a_full_queue_answers_at_once_and_the_admitted_requests_still_succeed(small_server):
    base_url = small_server["base_url"]
    before, _ = scrape(base_url)
    assert value(before, "outpost_model_request_capacity", model=MODEL, version="1") == 2
    # Twelve HTTP clients and four gRPC clients at once on two places.
    outcomes = []
    lock = threading.Lock()
    data = reference_input()

    def http_client():
        for _ in range(8):
            started = time.perf_counter()
            status, headers, answer = post_infer(base_url)
            with lock:
                outcomes.append(("http", status, time.perf_counter() - started, headers, answer))

    def grpc_client():
        client = grpcclient.InferenceServerClient(url=small_server["grpc_url"])
        tensor = grpcclient.InferInput("input", list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        for _ in range(8):
            started = time.perf_counter()
            try:
                answer = client.infer(MODEL, [tensor]).as_numpy("probabilities")
                status = int(np.argmax(answer))
            except InferenceServerException as error:
                status = error.status()
            with lock:
                outcomes.append(("grpc", status, time.perf_counter() - started, None, None))

    threads = [threading.Thread(target=http_client) for _ in range(12)]
    threads += [threading.Thread(target=grpc_client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    answered = [o for o in outcomes if o[0] == "http" and o[1] == 200]
    refused = [o for o in outcomes if o[0] == "http" and o[1] == 503]
    assert len(answered) + len(refused) == 96, {o[1] for o in outcomes if o[0] == "http"}
    assert answered and refused, (len(answered), len(refused))
    for _, _, _, headers, answer in answered:
        assert top_class(answer) == EGYPTIAN_CAT
    for _, _, _, headers, answer in refused:
        assert headers.get("Retry-After") == "1"
        assert "retry" in answer["error"]
    # A refusal comes at once, without waiting for a place.
    assert np.median([o[2] for o in refused]) < np.median([o[2] for o in answered])
    grpc_answered = [o for o in outcomes if o[0] == "grpc" and o[1] == EGYPTIAN_CAT]
    grpc_refused = [o for o in outcomes if o[0] == "grpc" and o[1] == "StatusCode.RESOURCE_EXHAUSTED"]
    assert len(grpc_answered) + len(grpc_refused) == 32, {o[1] for o in outcomes if o[0] == "grpc"}

    # The places are free again, and every refusal was counted.
    after = wait_for_in_flight(base_url, 0)
    status, _, answer = post_infer(base_url)
    assert status == 200 and top_class(answer) == EGYPTIAN_CAT
    rejected = lambda s, protocol: value(
        s, "outpost_inference_rejected_requests_total", model=MODEL, version="1",
        protocol=protocol, endpoint="infer", reason="queue_full",
    )
    assert rejected(after, "http") - rejected(before, "http") == len(refused)
    assert rejected(after, "grpc") - rejected(before, "grpc") == len(grpc_refused)


def test_a_body_still_uploading_holds_no_queue_place(small_server):
    """Uploads in progress take no place in the model's queue (two of them on a model with two
    places used to turn every other client away until they finished or timed out)."""
    base_url = small_server["base_url"]
    held = [HeldRequest(small_server["url"]) for _ in range(3)]
    for _ in range(3):
        status, _, answer = post_infer(base_url)
        assert status == 200, answer
        assert top_class(answer) == EGYPTIAN_CAT
    samples, _ = scrape(base_url)
    assert value(samples, "outpost_model_requests_in_flight", model=MODEL, version="1") == 0
    for request in held:
        status, answer = request.finish()
        assert status == 200, answer
        assert top_class(answer) == EGYPTIAN_CAT


def test_a_request_past_its_deadline_gets_504_and_never_runs(small_server):
    base_url = small_server["base_url"]
    before, _ = scrape(base_url)
    late = HeldRequest(small_server["url"], ["X-Request-Timeout-Ms: 50"])
    time.sleep(0.2)  # the deadline passes while the body is still on its way
    status, answer = late.finish()
    assert status == 504, answer
    assert "deadline" in answer["error"]
    after = wait_for_in_flight(base_url, 0)
    expired = lambda s: value(
        s, "outpost_inference_rejected_requests_total", model=MODEL, version="1",
        protocol="http", endpoint="infer", reason="deadline_exceeded",
    )
    successes = lambda s: value(
        s, "outpost_inference_requests_total", model=MODEL, version="1",
        protocol="http", endpoint="infer", status="success", served_by="local",
    )
    assert expired(after) - expired(before) == 1
    assert successes(after) == successes(before), "the expired request did not run"

    # A generous deadline is met; a malformed one is a 400.
    status, _, answer = post_infer(base_url, {"X-Request-Timeout-Ms": "60000"})
    assert status == 200 and top_class(answer) == EGYPTIAN_CAT
    status, _, answer = post_infer(base_url, {"X-Request-Timeout-Ms": "soon"})
    assert status == 400 and "X-Request-Timeout-Ms".lower() in answer["error"].lower()
