"""deploy/compose end to end on a real Docker engine: the images built from the local build
(deploy/docker/build-local.sh, FROM scratch, with the arguments and so the tags docs/deploy.md
gives; the compose files' own default images, no .env naming them); the standalone server
(compose.standalone.yaml) answering a street photo with boxes right after its `up`, on the
repository's models mounted read-only; `docker-compose up` of the server and the agent
with the limits compose.yaml sets, both health checks passing; a photo classified through the
published port; a new signed bundle published to the repository folder the agent reads and the
server answering with it; the agent cut off its network while serving goes on; the server
killed (SIGKILL) and brought back by its restart policy, the agent converging again. From inside the
containers (a static busybox mounted for the test only): the memory and CPU limits, the
read-only root, the non-root user, no capabilities, no new privileges."""

import io
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

from agent_support import MODEL, Publisher, golden_folder
from conftest import ROOT
from docker_engine import build_images, documented_images, ensure_engine, run

# Started first by the workers (conftest.py).
pytestmark = pytest.mark.long_running

IMAGES = ROOT / "tests" / "fixtures" / "images"
SERVER_IMAGE_BOUND = 80 * 1000 * 1000
AGENT_IMAGE_BOUND = 32 * 1000 * 1000
TOKEN = "compose-test-control-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def classify(port, image="chelsea.png", model=MODEL):
    """(model_version, best label) from the camera endpoint, or None while it cannot answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/models/{model}/image", data=(IMAGES / image).read_bytes(),
        method="POST", headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    return answer["model_version"], answer["classifications"][0]["label"]


def eventually(what, check, limit_s=180.0):
    deadline = time.monotonic() + limit_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit_s} s")
        time.sleep(0.5)


class Unit:
    """One compose project made from deploy/compose in a folder of the test's own."""

    def __init__(self, folder, name, compose_file="compose.yaml"):
        self.folder, self.name, self.compose_file = folder, name, compose_file

    def compose(self, *args, check=True):
        return run("docker-compose", "-p", self.name, "-f", self.compose_file, "-f", "compose.test.yaml",
                   *args, cwd=self.folder, check=check)

    def container(self, service):
        return self.compose("ps", "-q", service).stdout.strip()

    def inspect(self, service, template):
        return run("docker", "inspect", "-f", template, self.container(service)).stdout.strip()

    def inside(self, service, *command, check=True):
        return run("docker", "exec", self.container(service), "/usr/local/bin/busybox", *command, check=check)

    def healthy(self, service):
        return self.inspect(service, "{{.State.Health.Status}}") == "healthy"

    def agent_status(self):
        done = self.inside("agent", "wget", "-qO-", "http://127.0.0.1:8003/status", check=False)
        return json.loads(done.stdout) if done.returncode == 0 else None


def cgroup_value(unit, service, v1_file, v2_file):
    for path in (f"/sys/fs/cgroup/{v2_file}", f"/sys/fs/cgroup/{v1_file}"):
        done = unit.inside(service, "cat", path, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    raise AssertionError(f"no cgroup file {v1_file} or {v2_file} in {service}")


def check_confinement(unit, service, memory_bytes, cpus):
    assert cgroup_value(unit, service, "memory/memory.limit_in_bytes", "memory.max") == str(memory_bytes)
    v2 = unit.inside(service, "cat", "/sys/fs/cgroup/cpu.max", check=False)
    if v2.returncode == 0:
        quota, period = v2.stdout.split()
    else:
        quota = cgroup_value(unit, service, "cpu/cpu.cfs_quota_us", "cpu.max")
        period = cgroup_value(unit, service, "cpu/cpu.cfs_period_us", "cpu.max")
    assert int(quota) / int(period) == cpus
    assert unit.inside(service, "id", "-u").stdout.strip() == "65532"
    assert unit.inside(service, "id", "-g").stdout.strip() == "65532"
    refused = unit.inside(service, "touch", "/written", check=False)
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused.stderr
    status = unit.inside(service, "cat", "/proc/self/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"].strip(), 16) == 0 and int(fields["CapPrm"].strip(), 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"


def idle_memory(unit, services=("server", "agent")):
    names = {unit.container(s): s for s in services}
    done = run("docker", "stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.MemUsage}}", *names)
    return {names[line.split()[0]]: line.split(" ", 1)[1] for line in done.stdout.splitlines()}


BINARY = pathlib.Path(os.environ.get("OUTPOST_BIN", ROOT / "target" / "ci" / "outpost")).resolve()


@pytest.fixture(scope="module")
def images():
    """The images built from the binaries under test; their sizes in bytes."""
    if os.geteuid() != 0:
        pytest.skip("the compose test runs a Docker engine: root only")
    ensure_engine()
    sizes = build_images(BINARY.parent)
    print(f"image sizes: {sizes}")
    return sizes


def test_the_images_stay_within_their_bounds(images):
    """The server image within its 80 MB target (the stripped binary with ONNX Runtime as its
    one backend, ONNX Runtime's library, glibc and libstdc++; docs/deploy.md), the agent's within
    32 MB."""
    server, agent = documented_images()
    assert images[server] <= SERVER_IMAGE_BOUND, images
    assert images[agent] <= AGENT_IMAGE_BOUND, images


@pytest.fixture
def unit(tmp_path, images):

    folder = tmp_path / "unit"
    shutil.copytree(ROOT / "deploy" / "compose", folder)
    publisher = Publisher(tmp_path / "publisher")
    shutil.copy(publisher.trusted_root, folder / "config" / "root.json")
    for name, text in (("control_token", TOKEN + "\n"), ("repository_credentials", "")):
        (folder / "secrets" / name).write_text(text)
        (folder / "secrets" / name).chmod(0o444)
    for path in (folder / "config").iterdir():
        path.chmod(0o444)
    # The agent of the test polls every second and skips the watch after promotion.
    agent_config = (folder / "config" / "agent.toml")
    agent_config.chmod(0o644)
    agent_config.write_text(agent_config.read_text().replace(
        "poll_interval_secs = 60", "poll_interval_secs = 1\nmax_backoff_secs = 2")
        + "\n[watch]\nwindow_secs = 0\n")
    http_port = free_port()
    # The images are compose.yaml's defaults: the ones the documented build made.
    (folder / ".env").write_text(
        f"DEVICE_ID=compose-test\nPUBLISH_ADDRESS=127.0.0.1\nHTTP_PORT={http_port}\n"
        f"GRPC_PORT={free_port()}\nREPOSITORY_URL=/srv/repository\n"
        f"LOCAL_REPOSITORY={publisher.repo}\n")
    # Test only: a static busybox to look around inside the shell-less containers.
    (folder / "compose.test.yaml").write_text(
        "services:\n"
        "  server:\n    volumes:\n      - /bin/busybox:/usr/local/bin/busybox:ro\n"
        "  agent:\n    volumes:\n      - /bin/busybox:/usr/local/bin/busybox:ro\n")
    unit = Unit(folder, f"outposttest{uuid.uuid4().hex[:8]}")
    unit.http_port = http_port
    unit.publisher = publisher
    try:
        yield unit
    finally:
        for service in ("server", "agent"):
            logs = unit.compose("logs", "--no-color", "--tail", "40", service, check=False).stdout
            print(f"--- {service} ---\n{logs}")
        unit.compose("down", "-v", "--remove-orphans", check=False)


def test_the_edge_unit_serves_updates_and_comes_back(unit, tmp_path):
    golden = golden_folder(tmp_path, "ok", "Egyptian cat")
    unit.publisher.publish("int8", 1, golden)
    unit.compose("up", "-d")
    eventually("both health checks", lambda: unit.healthy("server") and unit.healthy("agent"))

    # Version 1 arrives through the agent and answers through the published port.
    assert eventually("version 1 to answer", lambda: classify(unit.http_port) == ("1", "Egyptian cat"))

    # A new signed bundle in the repository: the server answers with it.
    unit.publisher.publish("float", 2, golden)
    eventually("version 2 to answer", lambda: (classify(unit.http_port) or ("",))[0] == "2")
    eventually("the agent to settle on version 2",
               lambda: (unit.agent_status() or {}).get("models", {}).get(MODEL, {}).get("active") == 2)

    # The status page's figures, through the published port: the server asks the agent beside
    # it (config/outpost.toml), which no browser could reach.
    with urllib.request.urlopen(f"http://127.0.0.1:{unit.http_port}/status/data", timeout=10) as response:
        page = json.loads(response.read())
    assert page["agent"]["reachable"], page["agent"]
    assert page["agent"]["report"]["models"][MODEL]["active"] == 2, page["agent"]
    assert [m["default_version"] for m in page["models"] if m["name"] == MODEL] == [2], page["models"]

    # The agent loses its network: serving goes on.
    network = f"{unit.name}_default"
    run("docker", "network", "disconnect", network, unit.container("agent"))
    for _ in range(10):
        assert classify(unit.http_port) == ("2", "Egyptian cat")
    run("docker", "network", "connect", "--alias", "agent", network, unit.container("agent"))

    # The server is killed (SIGKILL to its process, as a crash or the kernel's OOM killer does;
    # the engine takes `docker kill` for an operator's stop, which no restart policy undoes): its
    # restart policy brings it back, still on version 2, and the agent converges on it again.
    restarts = int(unit.inspect("server", "{{.RestartCount}}"))
    os.kill(int(unit.inspect("server", "{{.State.Pid}}")), signal.SIGKILL)
    eventually("the server to restart", lambda: int(unit.inspect("server", "{{.RestartCount}}")) > restarts)
    eventually("the server to be healthy again", lambda: unit.healthy("server"))
    assert eventually("version 2 to answer again", lambda: classify(unit.http_port)) == ("2", "Egyptian cat")
    report = eventually("the agent to converge",
                        lambda: (lambda r: r if r and r["models"][MODEL].get("active") == 2
                                 and r["models"][MODEL].get("candidate") is None
                                 and r["state"] in ("idle", "working") else None)(unit.agent_status()))
    assert report["models"][MODEL]["last_good"] == 2

    # From inside: limits, read-only root, non-root, no capabilities, no new privileges.
    check_confinement(unit, "server", 128 * 1024 * 1024, 2)
    check_confinement(unit, "agent", 32 * 1024 * 1024, 0.5)
    for service in ("server", "agent"):
        assert unit.inspect(service, "{{.HostConfig.ReadonlyRootfs}}") == "true"

    time.sleep(5)
    print(f"idle memory: {idle_memory(unit)}")


def detect(port, image="street.jpg"):
    """The detector's answer for a fixture photo, or None while the server cannot answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/models/ssd_mobilenet_v1_coco/image",
        data=(IMAGES / image).read_bytes(), method="POST", headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_the_standalone_server_answers_with_boxes_on_its_first_up(tmp_path, images):
    """compose.standalone.yaml as a fresh clone has it: deploy/compose beside models/, no .env
    but the test's ports, the compose file's default image. Right after `up` (its health check
    passing) the detector finds the people in the street photo and the classifier names the cat;
    the models are mounted read-only and the container is confined like the edge unit's server."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "deploy" / "compose", clone / "deploy" / "compose")
    shutil.copytree(ROOT / "models", clone / "models")
    folder = clone / "deploy" / "compose"
    http_port = free_port()
    (folder / ".env").write_text(f"HTTP_PORT={http_port}\nGRPC_PORT={free_port()}\n")
    (folder / "compose.test.yaml").write_text(
        "services:\n  server:\n    volumes:\n      - /bin/busybox:/usr/local/bin/busybox:ro\n")
    unit = Unit(folder, f"outpoststandalone{uuid.uuid4().hex[:8]}", "compose.standalone.yaml")
    try:
        unit.compose("up", "-d")
        started = time.monotonic()
        eventually("the server's health check", lambda: unit.healthy("server"))
        answer = detect(http_port)
        print(f"healthy after {time.monotonic() - started:.1f} s")
        assert answer is not None, "healthy but not answering"
        people = [d for d in answer["detections"] if d["label"] == "person"]
        assert len(people) >= 4, answer
        assert classify(http_port, model="mobilenet_v2_int8") == ("1", "Egyptian cat")

        refused = unit.inside("server", "touch", "/models/written", check=False)
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused.stderr
        check_confinement(unit, "server", 128 * 1024 * 1024, 2)
        time.sleep(2)
        print(f"idle memory: {idle_memory(unit, ['server'])}")
    finally:
        logs = unit.compose("logs", "--no-color", "--tail", "40", "server", check=False).stdout
        print(f"--- server ---\n{logs}")
        unit.compose("down", "-v", "--remove-orphans", check=False)


def test_the_build_context_leaves_out_build_outputs_and_environments(tmp_path):
    """`docker build` of the repository sends what .dockerignore lets through: an image of the
    whole context (FROM scratch, COPY .) holds no target/, .cache/ or .venv/ (gigabytes once
    built and set up: they are here while this runs) and stays under the tracked files' size
    with room for a few local files."""
    if os.geteuid() != 0:
        pytest.skip("needs the Docker engine: root only")
    ensure_engine()
    tracked = run("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    tracked_bytes = sum((ROOT / name).stat().st_size for name in tracked if name and (ROOT / name).is_file())
    name = f"outpost-context-test:{uuid.uuid4().hex[:8]}"
    run("docker", "build", "-q", "-t", name, "-f", "-", str(ROOT),
        input="FROM scratch\nCOPY . /context\n")
    try:
        size = int(run("docker", "image", "inspect", "--format", "{{.Size}}", name).stdout)
        container = run("docker", "create", name, "none").stdout.strip()
        try:
            exported = subprocess.run(["docker", "export", container], capture_output=True, check=True,
                                      timeout=600).stdout
        finally:
            run("docker", "rm", container)
    finally:
        run("docker", "rmi", name)
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        top = {member.name.split("/")[1] for member in archive.getmembers() if member.name.startswith("context/")
               and member.name.count("/") >= 1}
    for excluded in ("target", ".cache", ".venv", ".git"):
        assert excluded not in top, f"{excluded}/ is in the build context: {sorted(top)}"
    print(f"build context {size} bytes, tracked files {tracked_bytes} bytes")
    assert size <= tracked_bytes + 16 * 1024 * 1024, (size, tracked_bytes)
