"""Memory per model in the server's container image: each fixture model served alone by
`outpost:TAG` (deploy/docker/build-local.sh) with a memory limit, loaded, then 20 photos
classified or detected through the camera endpoint; prints the container's memory as the
engine counts it (`docker stats`: the cgroup's usage less its page cache) idle after loading
and after the requests, and the cgroup's peak. Needs a running Docker engine.

    .venv/bin/python benches/container_memory.py [--image outpost:test] [--memory 256m]
"""

import argparse
import json
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PHOTOS = {"detection": "pets.jpg", "classification": "chelsea.png"}


def docker(*args):
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def usage_mib(container):
    text = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", container).split("/")[0].strip()
    value, unit = float(text[:-3]), text[-3:]
    return value * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


def peak_mib(container):
    full = docker("inspect", "-f", "{{.Id}}", container)
    for path in (f"/sys/fs/cgroup/memory/docker/{full}/memory.max_usage_in_bytes",
                 f"/sys/fs/cgroup/system.slice/docker-{full}.scope/memory.peak"):
        if pathlib.Path(path).exists():
            return int(pathlib.Path(path).read_text()) / 2**20
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="outpost:test")
    parser.add_argument("--memory", default="256m")
    args = parser.parse_args()
    rows = []
    for config in sorted((FIXTURES / "configs").glob("*.toml")):
        name = config.stem
        with tempfile.TemporaryDirectory() as tmp:
            repo = pathlib.Path(tmp)
            (repo / "m" / "1").mkdir(parents=True)
            shutil.copy(FIXTURES / "models" / f"{name}.onnx", repo / "m" / "1" / "model.onnx")
            text = config.read_text()
            shutil.copy(FIXTURES / "labels" / ("coco_90_labels.txt" if "ssd" in name else
                        "ultraface_labels.txt" if "ultraface" in name else "imagenet_1001_labels.txt"),
                        repo / "m" / "labels.txt")
            (repo / "m" / "model.toml").write_text(text)
            if "anchors.npy" in text:
                shutil.copy(FIXTURES / "models" / "ssd_mobilenet_v1_anchors_yxhw.npy", repo / "m" / "anchors.npy")
            repo.chmod(0o755)  # the container's user (65532) reads it
            for path in repo.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            port = free_port()
            container = docker("run", "-d", "--memory", args.memory, "--read-only", "--cap-drop", "ALL",
                               "-v", f"{repo}:/models:ro", "-p", f"127.0.0.1:{port}:8000", args.image,
                               "serve", "--model-repository", "/models", "--http-host", "0.0.0.0")
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        urllib.request.urlopen(f"{base}/v2/models/m/ready", timeout=2)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise SystemExit(f"{name} did not load:\n" + docker("logs", container))
                        time.sleep(0.2)
                time.sleep(1)
                idle = usage_mib(container)
                kind = "detection" if "detection" in text else "classification"
                photo = (FIXTURES / "images" / PHOTOS[kind]).read_bytes()
                for _ in range(20):
                    request = urllib.request.Request(f"{base}/v2/models/m/image", data=photo, method="POST",
                                                     headers={"Content-Type": "application/octet-stream"})
                    json.loads(urllib.request.urlopen(request, timeout=30).read())
                rows.append((name, idle, usage_mib(container), peak_mib(container)))
            finally:
                docker("rm", "-f", container)
    print(f"| model | idle after load (MiB) | after 20 photos (MiB) | cgroup peak (MiB) |")
    print("|---|---|---|---|")
    for name, idle, busy, peak in rows:
        print(f"| {name} | {idle:.1f} | {busy:.1f} | {peak:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
