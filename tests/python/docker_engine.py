"""A Docker engine for the deploy tests: Debian's docker.io and docker-compose (and a static
busybox, which the compose test mounts to look inside its shell-less containers) installed when
missing, dockerd started when it is not running (its log in /tmp/outpost-dockerd.log), and the
images built from the local build by deploy/docker/build-local.sh."""

import fcntl
import os
import shutil
import subprocess
import time

from conftest import ROOT

TAG = "test"


def run(*args, check=True, timeout=600, **kwargs):
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def engine_answers():
    return shutil.which("docker") and run("docker", "info", check=False, timeout=30).returncode == 0


def ensure_engine():
    """Installs and starts what is missing; the engine answers when this returns. One test
    process at a time (pytest's workers share the machine's package manager)."""
    with open("/tmp/outpost-docker-engine.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_engine()


def _ensure_engine():
    wanted = (("docker.io", "dockerd"), ("docker-compose", "docker-compose"), ("busybox-static", "busybox"))
    missing = [package for package, command in wanted if not shutil.which(command)]
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # The lock that the setup scripts hold around apt-get (scripts/lib/apt.sh).
        apt_get = ("flock", "/var/lock/outpost-apt.lock", "apt-get", "-o", "DPkg::Lock::Timeout=600")
        run(*apt_get, "update", "-qq", env=env)
        run(*apt_get, "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)
    if engine_answers():
        return
    log = open("/tmp/outpost-dockerd.log", "ab")
    subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while not engine_answers():
        if time.monotonic() > deadline:
            raise AssertionError("dockerd did not start: see /tmp/outpost-dockerd.log")
        time.sleep(0.5)


def build_images(bin_dir):
    """outpost:test and outpost-agent:test from the binaries in `bin_dir`; their sizes in bytes."""
    done = run(str(ROOT / "deploy" / "docker" / "build-local.sh"), "--bin-dir", str(bin_dir), "--tag", TAG)
    sizes = {}
    for line in done.stdout.splitlines():
        name, size = line.split()[:2]
        sizes[name] = int(size)
    return sizes
