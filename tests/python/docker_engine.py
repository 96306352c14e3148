"""A Docker engine for the deploy tests (scripts/setup-docker.sh: Debian's docker.io and
docker-compose and a static busybox installed when missing, dockerd started when it is not
running), and the images built from the local build by deploy/docker/build-local.sh."""

import subprocess

from conftest import ROOT

TAG = "test"


def run(*args, check=True, timeout=600, **kwargs):
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def ensure_engine():
    """Installs and starts what is missing (scripts/setup-docker.sh, one run at a time); the
    engine answers when this returns."""
    run(str(ROOT / "scripts" / "setup-docker.sh"))


def build_images(bin_dir):
    """outpost:test and outpost-agent:test from the binaries in `bin_dir`; their sizes in bytes."""
    done = run(str(ROOT / "deploy" / "docker" / "build-local.sh"), "--bin-dir", str(bin_dir), "--tag", TAG)
    sizes = {}
    for line in done.stdout.splitlines():
        name, size = line.split()[:2]
        sizes[name] = int(size)
    return sizes
