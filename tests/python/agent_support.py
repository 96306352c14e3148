"""Helpers for the agent tests: model folders and golden cases for the bundles, a signed
repository uploaded to moto's S3 server, the agent process, and its /status."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import tritonclient.http as httpclient

from conftest import ROOT
from test_clients import reference_input
from test_repository_s3 import outpost, s3_env

FIXTURES = ROOT / "tests" / "fixtures"
MODEL = "classifier"
TOKEN = "agent-test-control-token"
CONFIGS = {
    "int8": (ROOT / "models" / "mobilenet_v2_int8" / "model.toml", ROOT / "models" / "mobilenet_v2_int8" / "1" / "model.onnx"),
    "float": (FIXTURES / "configs" / "mobilenet_v2_1.0_224_float32.toml", FIXTURES / "models" / "mobilenet_v2_1.0_224_float32.onnx"),
    "uint8_nhwc": (FIXTURES / "configs" / "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq.toml", FIXTURES / "models" / "mobilenet_v2_1.0_224_quant_uint8_nhwc_qdq.onnx"),
}


def model_folder(root: pathlib.Path, kind: str, version: int) -> pathlib.Path:
    """A model folder in repository layout holding `version` of the `kind` model."""
    config, onnx = CONFIGS[kind]
    folder = root / f"{kind}-{version}"
    (folder / str(version)).mkdir(parents=True)
    shutil.copy(config, folder / "model.toml")
    shutil.copy(ROOT / "models" / "mobilenet_v2_int8" / "labels.txt", folder / "labels.txt")
    shutil.copy(onnx, folder / str(version) / "model.onnx")
    return folder


def golden_folder(root: pathlib.Path, name: str, top_label: str, tensor_case: bool = False) -> pathlib.Path:
    """Golden cases: chelsea.png must come out as `top_label`; with `tensor_case`, also the
    int8 model's reference tensors."""
    folder = root / f"golden-{name}"
    folder.mkdir()
    shutil.copy(FIXTURES / "images" / "chelsea.png", folder / "chelsea.png")
    cases = f'[[case]]\nname = "chelsea"\nimage = "chelsea.png"\ntop_label = "{top_label}"\nmin_score = 0.2\n'
    if tensor_case:
        data = FIXTURES / "models" / "mobilenet_v2_1.0_224_int8_qdq.test_data" / "test_data_set_0"
        shutil.copy(data / "input_0.pb", folder / "input_0.pb")
        shutil.copy(data / "output_0.pb", folder / "output_0.pb")
        # ONNX Runtime's u8 x s8 kernels on x86 CPUs without VNNI land up to 12 output steps of
        # 1/255 from the reference on this model (crates/testkit/src/cpu.rs): a golden case for
        # devices of either kind allows that, 0.05.
        cases += '\n[[case]]\nname = "reference tensors"\ninputs = { input = "input_0.pb" }\noutputs = { probabilities = "output_0.pb" }\ntolerance = 0.05\n'
    (folder / "cases.toml").write_text(cases)
    return folder


class Publisher:
    """A publisher's keys and repository folder, uploaded after each signing when `endpoint`
    and `upload_url` name an S3 server and a place on it."""

    def __init__(self, root: pathlib.Path, endpoint: str = None, upload_url: str = None):
        self.root = root
        self.env = s3_env(endpoint) if endpoint else {}
        self.flags = ["--keys", str(root / "keys"), "--repo", str(root / "repo")]
        if upload_url:
            self.flags += ["--upload", upload_url]
        self.run("repo", "init", *self.flags)

    @property
    def repo(self) -> pathlib.Path:
        return self.root / "repo"

    def run(self, *args):
        done = outpost(*args, env=self.env)
        assert done.returncode == 0, done.stderr
        return done

    @property
    def trusted_root(self) -> pathlib.Path:
        return self.root / "repo" / "metadata" / "1.root.json"

    def publish(self, kind: str, version: int, golden: pathlib.Path, waves: str = "now") -> pathlib.Path:
        """Publishes `kind` as `version`, to the whole fleet at once unless `waves` says
        otherwise (`default`, `fast` or a file)."""
        folder = model_folder(self.root / "sources", kind, version)
        bundle = self.root / f"{MODEL}-{version}.bundle"
        self.run("bundle", "create", str(folder), "--name", MODEL, "--version", str(version),
                 "--golden", str(golden), "-o", str(bundle))
        self.run("repo", "publish", *self.flags, "--waves", waves, str(bundle))
        return bundle

    def fleet(self, command: str, version: int, *extra):
        """`outpost fleet COMMAND` for MODEL's `version`, signed from this folder."""
        return self.run("fleet", command, *self.flags, MODEL, str(version), *extra)


class Load:
    """Clients sending unversioned requests for MODEL in a loop; every answer recorded as
    (start, end, model_version or error text). A wrong answer counts as an error."""

    def __init__(self, url, clients=4):
        self.url = url
        self.results = []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def client(self):
        client = httpclient.InferenceServerClient(url=self.url, network_timeout=60)
        data = reference_input()
        inp = httpclient.InferInput("input", list(data.shape), "FP32")
        inp.set_data_from_numpy(data, binary_data=True)
        while self.running:
            start = time.monotonic()
            try:
                result = client.infer(MODEL, [inp])
                assert int(np.argmax(result.as_numpy("probabilities"))) == 286
                outcome = result.get_response()["model_version"]
            except Exception as error:  # recorded and judged by the test
                outcome = f"error: {error}"
            with self.lock:
                self.results.append((start, time.monotonic(), outcome))

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=60)
        return list(self.results)


def start_agent(tmp_path, repository_url, trusted_root, model_repository, server_url, env, config_text="", extra=(),
                preexec_fn=None, status_port=0):
    """Starts `outpost agent` (or the lean `outpost-agent` when $OUTPOST_AGENT_BIN names it) with
    its status listener on `status_port` (0: a free one); returns the process and the status
    base URL."""
    config = tmp_path / "agent.toml"
    config.write_text(config_text)
    if os.environ.get("OUTPOST_AGENT_BIN"):
        command = [os.environ["OUTPOST_AGENT_BIN"]]
    else:
        command = [os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost")), "agent"]
    process = subprocess.Popen(
        [*command, "--config", str(config),
         "--repository", repository_url, "--trusted-root", str(trusted_root),
         "--model-repository", str(model_repository), "--server", server_url,
         "--status-host", "127.0.0.1", "--status-port", str(status_port), *extra],
        stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
        env={**os.environ, **env}, preexec_fn=preexec_fn,
    )
    for line in process.stdout:
        if line.startswith("outpost-agent: status listening on "):
            return process, "http://" + line.strip().rsplit(" ", 1)[1]
    process.kill()
    raise RuntimeError("the agent did not announce its status address")


def status(status_url):
    with urllib.request.urlopen(f"{status_url}/status", timeout=5) as response:
        return json.load(response)


def wait_for(status_url, predicate, what, limit_s=120.0):
    """Polls /status until `predicate(report)` holds; fails with the last report."""
    deadline = time.monotonic() + limit_s
    report = None
    while time.monotonic() < deadline:
        try:
            report = status(status_url)
            if predicate(report):
                return report
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last status: {json.dumps(report, indent=1)}")


def model_status(report, model=MODEL):
    return report.get("models", {}).get(model, {})


class ProxiedDevice:
    """A device behind the fault proxy: moto's S3 server with a publisher uploading to it, a
    server in explicit mode on an empty model repository, and agents that reach S3 only through
    the proxy. `start(config_text)` starts one and answers its status URL."""

    def __init__(self, tmp_path, endpoint, bucket):
        from conftest import start_outpost
        from fault_proxy import FaultProxy

        host, port = endpoint.removeprefix("http://").split(":")
        self.tmp_path = tmp_path
        self.url = f"s3://{bucket}/fleet"
        self.proxy = FaultProxy(host, int(port))
        self.publisher = Publisher(tmp_path / "publisher", endpoint, self.url)
        self.models = tmp_path / "models"
        self.models.mkdir()
        self.server, self.addresses = start_outpost(
            self.models, "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN})
        self.agents = []

    def start(self, config_text):
        env = {**self.publisher.env, "AWS_ENDPOINT_URL": f"http://{self.proxy.address}",
               "OUTPOST_CONTROL_TOKEN": TOKEN}
        process, status_url = start_agent(self.tmp_path, self.url, self.publisher.trusted_root,
                                          self.models, self.addresses["base_url"], env, config_text)
        self.agents.append(process)
        return status_url

    def close(self):
        from conftest import stop_outpost

        for process in self.agents:
            if process.poll() is None:
                process.terminate()
                assert process.wait(timeout=30) == 0
        stop_outpost(self.server)
        self.proxy.close()


def installed(version):
    """A /status predicate: `version` is active and no update is under way."""
    return lambda r: model_status(r).get("active") == version and model_status(r).get("candidate") is None


def agent_metric(status_url, name):
    """One series of the agent's /metrics, 0 when absent."""
    with urllib.request.urlopen(f"{status_url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0
