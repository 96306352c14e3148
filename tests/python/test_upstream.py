"""A model's upstream, end to end: two real servers, an edge and a "cloud" (serving the same
classifier as version 2, so answers say who gave them), with the in-tree fault proxy between
them. prefer_upstream answers come from the cloud while it answers; with the cloud blackholed
the first request is answered locally within timeout_ms + 50 ms, and once the circuit is open
the upstream is not tried at all (the local answers' p50 against a local-only model's is
outpost-bench-online's, benches/harness/src/bin/online_cost.rs); with the
cloud back, answers come from it again within one probe interval; no request fails throughout.
upstream_only answers 503 naming the upstream while it is unreachable; prefer_local asks the
cloud about an unsure image only, and only while it is reachable."""

import http.client
import json
import shutil
import time
import urllib.error
import urllib.request

import tritonclient.grpc as grpcclient

from conftest import ROOT, start_outpost, stop_outpost
from fault_proxy import FaultProxy
from test_admission import binary_request
from test_clients import reference_input
from test_metrics import scrape, value

SOURCE = ROOT / "models" / "mobilenet_v2_int8"
IMAGES = ROOT / "tests" / "fixtures" / "images"
TIMEOUT_MS = 300
PROBE_MS = 1000
# How late past the upstream's timeout an answer may come: what is checked is that the server
# waits out one timeout and no more (not a second one, nor the client's), on a 2-core CI machine
# where four pytest workers, their servers and a browser share the cores and delay an answer by
# tens of milliseconds (357 ms seen against a 350 ms bound).
LATE_S = TIMEOUT_MS / 2 / 1000


def model_folder(repository, name, version, upstream=None, local_graph=True):
    folder = repository / name
    (folder / str(version)).mkdir(parents=True)
    if local_graph:
        shutil.copy(SOURCE / "1" / "model.onnx", folder / str(version) / "model.onnx")
    shutil.copy(SOURCE / "labels.txt", folder / "labels.txt")
    config = (SOURCE / "model.toml").read_text()
    if upstream:
        config += "\n[upstream]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in upstream.items())
    if not local_graph:
        config += ('\n[[inputs]]\nname = "input"\ndatatype = "FP32"\nshape = [1, 3, 224, 224]\n'
                   '\n[[outputs]]\nname = "probabilities"\ndatatype = "FP32"\nshape = [1, 1001]\n')
    (folder / "model.toml").write_text(config)


def upstream(proxy, policy, **more):
    return {"url": f"http://{proxy.address}", "model": "classifier", "policy": policy,
            "timeout_ms": TIMEOUT_MS, "failures_to_open": 2, "probe_interval_ms": PROBE_MS, **more}


HEADER, BODY = binary_request(reference_input())


def infer(base_url, model, connection=None):
    """One binary V2 request: (status, served-by header, answer, seconds). With `connection` (an
    open http.client connection to the server), on it; else on a new one."""
    own = connection is None
    if own:
        connection = http.client.HTTPConnection(base_url.split("://", 1)[1], timeout=30)
    started = time.perf_counter()
    connection.request("POST", f"/v2/models/{model}/infer", body=BODY,
                       headers={"Inference-Header-Content-Length": str(len(HEADER)),
                                "Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    if own:
        connection.close()
    length = int(response.headers.get("Inference-Header-Content-Length", len(body)))
    return response.status, response.headers.get("Outpost-Served-By"), json.loads(body[:length]), took


def classify(base_url, model, image):
    request = urllib.request.Request(
        f"{base_url}/v2/models/{model}/image", data=(IMAGES / image).read_bytes(), method="POST",
        headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
        assert response.headers["Outpost-Served-By"] == answer["served_by"]
        return answer


def total(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def circuit(base_url, proxy):
    samples, _ = scrape(base_url)
    return value(samples, "outpost_upstream_circuit_state", upstream=f"http://{proxy.address}")


def test_prefer_upstream_falls_back_at_once_and_returns(tmp_path):
    cloud_repo, edge_repo = tmp_path / "cloud", tmp_path / "edge"
    model_folder(cloud_repo, "classifier", 2)
    cloud, cloud_addresses = start_outpost(cloud_repo)
    proxy = FaultProxy("127.0.0.1", int(cloud_addresses["url"].rsplit(":", 1)[1]))
    only_proxy = FaultProxy("127.0.0.1", int(cloud_addresses["url"].rsplit(":", 1)[1]))
    model_folder(edge_repo, "classifier", 1, upstream(proxy, "prefer_upstream"))
    model_folder(edge_repo, "classifier_local", 1)
    model_folder(edge_repo, "classifier_remote", 1, upstream(only_proxy, "upstream_only"),
                 local_graph=False)
    edge, addresses = start_outpost(edge_repo)
    base = addresses["base_url"]
    statuses = []
    try:
        # Online: the cloud answers, and every answer says so.
        for _ in range(3):
            status, served_by, answer, _ = infer(base, "classifier")
            statuses.append(status)
            assert (served_by, answer["model_version"]) == ("upstream", "2")
            assert answer["parameters"]["outpost_served_by"] == "upstream"
        assert classify(base, "classifier", "chelsea.png")["served_by"] == "upstream"
        grpc = grpcclient.InferenceServerClient(addresses["grpc_url"])
        inp = grpcclient.InferInput("input", [1, 3, 224, 224], "FP32")
        inp.set_data_from_numpy(reference_input())
        result = grpc.infer("classifier", [inp]).get_response()
        assert (result.model_version, result.parameters["outpost_served_by"].string_param) == \
            ("2", "upstream")
        assert infer(base, "classifier_remote")[1] == "upstream"
        config = json.loads(urllib.request.urlopen(f"{base}/v2/models/classifier/config").read())
        assert config["parameters"]["upstream_policy"]["string_value"] == "prefer_upstream"
        assert config["parameters"]["upstream_circuit"]["string_value"] == "closed"
        assert circuit(base, proxy) == 0

        # The cloud stops answering: the first request waits for the timeout, then the local
        # model answers it; after failures_to_open the circuit is open. What the fallback adds
        # is measured over a plain local answer taken just before, so that a busy machine (the
        # other test worker) slows both alike.
        local_took = infer(base, "classifier_local")[3]
        proxy.blackhole = True
        status, served_by, answer, took = infer(base, "classifier")
        statuses.append(status)
        assert (served_by, answer["model_version"]) == ("local", "1")
        assert TIMEOUT_MS / 1000 <= took, took
        assert took - local_took <= TIMEOUT_MS / 1000 + LATE_S, (took, local_took)
        statuses.append(infer(base, "classifier")[0])
        assert circuit(base, proxy) == 2
        config = json.loads(urllib.request.urlopen(f"{base}/v2/models/classifier/config").read())
        assert config["parameters"]["upstream_circuit"]["string_value"] == "open"

        # Open circuit: answered locally with no added wait: the upstream is not even tried
        # (the proxy sees no connection but the probes'), and no request comes near the
        # timeout. (The p50 side by side with a local-only model is the benchmark's.)
        connections_before, opened_at = proxy.connections, time.monotonic()
        connection = http.client.HTTPConnection(addresses["url"], timeout=30)
        for _ in range(40):
            status, served_by, _, took = infer(base, "classifier", connection)
            statuses.append(status)
            assert served_by == "local"
            assert took < TIMEOUT_MS / 2000, took
        connection.close()
        probes = (time.monotonic() - opened_at) * 1000 / PROBE_MS + 1
        assert proxy.connections - connections_before <= probes

        # The cloud answers again: within one probe interval (plus the request), answers come
        # from it again.
        proxy.blackhole = False
        back = time.monotonic()
        while True:
            status, served_by, answer, _ = infer(base, "classifier")
            statuses.append(status)
            if served_by == "upstream":
                break
            assert time.monotonic() - back <= (PROBE_MS + TIMEOUT_MS) / 1000, \
                "the circuit did not close within one probe interval"
            time.sleep(0.02)
        assert answer["model_version"] == "2"
        assert circuit(base, proxy) == 0
        assert all(s == 200 for s in statuses), statuses

        # upstream_only with its upstream unreachable: 503 within the deadline, naming it.
        only_proxy.blackhole = True
        status, _, answer, took = infer(base, "classifier_remote")
        assert status == 503, answer
        assert only_proxy.address in answer["error"], answer
        assert took <= TIMEOUT_MS / 1000 + LATE_S, took

        samples, _ = scrape(base)
        assert total(samples, "outpost_inference_requests_total", model="classifier",
                     status="success", served_by="upstream") >= 5
        assert total(samples, "outpost_inference_requests_total", model="classifier",
                     status="success", served_by="local") >= 40
        assert value(samples, "outpost_upstream_circuit_opened_total",
                     upstream=f"http://{proxy.address}") == 1
    finally:
        stop_outpost(edge)
        stop_outpost(cloud)
        proxy.close()
        only_proxy.close()


def test_prefer_local_escalates_unsure_answers_while_online(tmp_path):
    cloud_repo, edge_repo = tmp_path / "cloud", tmp_path / "edge"
    model_folder(cloud_repo, "classifier", 2)
    cloud, cloud_addresses = start_outpost(cloud_repo)
    proxy = FaultProxy("127.0.0.1", int(cloud_addresses["url"].rsplit(":", 1)[1]))
    # face.jpg's best class scores 0.14, coffee.png's 0.98.
    model_folder(edge_repo, "classifier", 1, upstream(proxy, "prefer_local", escalate_below=0.5))
    edge, addresses = start_outpost(edge_repo)
    base = addresses["base_url"]
    try:
        sure = classify(base, "classifier", "coffee.png")
        assert (sure["served_by"], sure["model_version"]) == ("local", "1")
        unsure = classify(base, "classifier", "face.jpg")
        assert (unsure["served_by"], unsure["model_version"]) == ("upstream", "2")

        proxy.blackhole = True
        for _ in range(3):
            offline = classify(base, "classifier", "face.jpg")
            assert (offline["served_by"], offline["model_version"]) == ("local", "1")
        assert classify(base, "classifier", "coffee.png")["served_by"] == "local"
        assert circuit(base, proxy) == 2
    finally:
        stop_outpost(edge)
        stop_outpost(cloud)
        proxy.close()


def test_upstreams_over_grpc_and_over_tls_with_a_private_ca(tmp_path):
    """grpc://, and https:// and grpcs:// to a cloud whose certificate only `ca_file` vouches
    for, with a credential from the environment; an upstream whose CA is not trusted fails over
    to the local model."""
    from test_tls import make_pki, tls_context

    pki = make_pki(tmp_path, "cloud")
    stranger = make_pki(tmp_path, "stranger")
    plain_repo, tls_repo, edge_repo = tmp_path / "plain", tmp_path / "tls", tmp_path / "edge"
    model_folder(plain_repo, "classifier", 2)
    # The same graph without an image pipeline: it cannot take a photo.
    (plain_repo / "bare" / "2").mkdir(parents=True)
    shutil.copy(SOURCE / "1" / "model.onnx", plain_repo / "bare" / "2" / "model.onnx")
    model_folder(tls_repo, "classifier", 2)
    plain, plain_addresses = start_outpost(plain_repo)
    secure, secure_addresses = start_outpost(
        tls_repo, "--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"],
        tls_context=tls_context(pki))
    common = {"model": "classifier", "policy": "prefer_upstream", "timeout_ms": 2000}
    model_folder(edge_repo, "over_grpc", 1,
                 {**common, "url": f"grpc://{plain_addresses['grpc_url']}"})
    model_folder(edge_repo, "over_https", 1,
                 {**common, "url": f"https://{secure_addresses['url']}", "ca_file": pki["ca"],
                  "auth_env": "CLOUD_TOKEN"})
    model_folder(edge_repo, "over_grpcs", 1,
                 {**common, "url": f"grpcs://{secure_addresses['grpc_url']}",
                  "ca_file": pki["ca"], "auth_env": "CLOUD_TOKEN"})
    model_folder(edge_repo, "untrusted", 1,
                 {**common, "url": f"https://{secure_addresses['url']}",
                  "ca_file": stranger["ca"]})
    plain_url = f"http://{plain_addresses['url']}"
    model_folder(edge_repo, "photo_upstream", 1,
                 {**common, "url": plain_url, "camera_sends": "image"})
    model_folder(edge_repo, "tensor_to_bare", 1, {**common, "url": plain_url, "model": "bare"})
    model_folder(edge_repo, "photo_to_bare", 1,
                 {**common, "url": plain_url, "model": "bare", "camera_sends": "image"})
    edge, addresses = start_outpost(edge_repo, env={"CLOUD_TOKEN": "Bearer edge-7"})
    try:
        for model in ("over_grpc", "over_https", "over_grpcs"):
            status, served_by, answer, _ = infer(addresses["base_url"], model)
            assert (status, served_by, answer["model_version"]) == (200, "upstream", "2"), model
            assert classify(addresses["base_url"], model, "chelsea.png")["served_by"] == "upstream"
        status, served_by, answer, _ = infer(addresses["base_url"], "untrusted")
        assert (status, served_by, answer["model_version"]) == (200, "local", "1")

        # camera_sends = "image": the photo goes upstream (a remote model without an image
        # pipeline cannot take it, and the local model answers); by default the tensor goes.
        base = addresses["base_url"]
        local = classify(base, "photo_upstream", "chelsea.png")
        assert (local["served_by"], local["model_version"]) == ("upstream", "2")
        assert classify(base, "tensor_to_bare", "chelsea.png")["served_by"] == "upstream"
        refused = classify(base, "photo_to_bare", "chelsea.png")
        assert (refused["served_by"], refused["model_version"]) == ("local", "1")
        assert refused["classifications"][0]["label"] == local["classifications"][0]["label"]
    finally:
        stop_outpost(edge)
        stop_outpost(secure)
        stop_outpost(plain)


def test_a_server_wide_upstream_and_credentials_that_arrive(tmp_path):
    """`[upstream]` in the server's configuration: every model inherits it, a model's own
    `[upstream]` replaces its keys one by one (`policy = "local"` opts out). The cloud sits
    behind gateways that pass a request only with the right credential (the REST one in a
    header of the operator's choosing, read from `auth_file`; the gRPC one as `authorization`
    metadata, read from `auth_env`), so an upstream answer shows the credential arrived."""
    from auth_gate import GrpcAuthGate, HttpAuthGate

    cloud_repo, edge_repo = tmp_path / "cloud", tmp_path / "edge"
    model_folder(cloud_repo, "classifier", 2)
    cloud, cloud_addresses = start_outpost(cloud_repo)
    rest_gate = HttpAuthGate(cloud_addresses["url"], "X-Api-Key", "key-from-file")
    grpc_gate = GrpcAuthGate(cloud_addresses["grpc_url"], "authorization", "Bearer edge-7")
    key_file = tmp_path / "cloud-key"
    key_file.write_text("key-from-file\n")
    config = tmp_path / "outpost.toml"
    config.write_text(
        "[upstream]\n"
        f'url = "http://{rest_gate.address}"\n'
        'policy = "prefer_upstream"\n'
        "timeout_ms = 2000\n"
        'auth_header = "X-Api-Key"\n'
        f"auth_file = {json.dumps(str(key_file))}\n")
    model_folder(edge_repo, "classifier", 1)
    model_folder(edge_repo, "kept_local", 1, {"policy": "local"})
    model_folder(edge_repo, "over_grpc", 1,
                 {"url": f"grpc://{grpc_gate.address}", "model": "classifier",
                  "auth_header": "Authorization", "auth_env": "CLOUD_TOKEN"})
    model_folder(edge_repo, "wrong_header", 1, {"model": "classifier", "auth_header": "X-Other"})
    edge, addresses = start_outpost(edge_repo, "--config", str(config),
                                    env={"CLOUD_TOKEN": "Bearer edge-7"})
    base = addresses["base_url"]
    try:
        status, served_by, answer, _ = infer(base, "classifier")
        assert (status, served_by, answer["model_version"]) == (200, "upstream", "2")
        assert classify(base, "classifier", "chelsea.png")["served_by"] == "upstream"
        assert rest_gate.passed == 2 and rest_gate.refused == 0

        status, served_by, answer, _ = infer(base, "kept_local")
        assert (status, served_by, answer["model_version"]) == (200, "local", "1")
        assert rest_gate.passed == 2 and rest_gate.refused == 0
        described = json.loads(urllib.request.urlopen(f"{base}/v2/models/kept_local/config").read())
        assert "upstream_policy" not in described.get("parameters", {}), described

        status, served_by, answer, _ = infer(base, "over_grpc")
        assert (status, served_by, answer["model_version"]) == (200, "upstream", "2")
        assert grpc_gate.passed >= 1 and grpc_gate.refused == 0

        # The credential under another header is refused at the gate; the local model answers.
        status, served_by, answer, _ = infer(base, "wrong_header")
        assert (status, served_by, answer["model_version"]) == (200, "local", "1")
        assert rest_gate.refused == 1
    finally:
        stop_outpost(edge)
        stop_outpost(cloud)
        rest_gate.close()
        grpc_gate.close()
