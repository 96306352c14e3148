"""A Docker engine for the deploy tests (scripts/setup-docker.sh: Debian's docker.io and
docker-compose and a static busybox installed when missing, dockerd started when it is not
running), and the images built from the local build by deploy/docker/build-local.sh with the
arguments docs/deploy.md gives it, so they carry the tags the documentation and the compose
files name."""

import shlex
import subprocess

from conftest import ROOT

BUILD_LOCAL = ROOT / "deploy" / "docker" / "build-local.sh"


def run(*args, check=True, timeout=600, **kwargs):
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def ensure_engine():
    """Installs and starts what is missing (scripts/setup-docker.sh, one run at a time); the
    engine answers when this returns."""
    run(str(ROOT / "scripts" / "setup-docker.sh"))


def documented_build_arguments():
    """The arguments of the `deploy/docker/build-local.sh ...` commands docs/deploy.md shows (all
    alike: the test fails when they differ)."""
    commands = {
        tuple(shlex.split(line.split("#", 1)[0])[1:])
        for line in (ROOT / "docs" / "deploy.md").read_text().splitlines()
        if line.startswith("deploy/docker/build-local.sh")
    }
    assert len(commands) == 1, f"docs/deploy.md builds the images in more than one way: {commands}"
    return list(commands.pop())


def documented_images():
    """The image names the documented command makes: (server, agent)."""
    server, agent = run(str(BUILD_LOCAL), *documented_build_arguments(), "--print-tags").stdout.split()
    return server, agent


def build_images(bin_dir):
    """The images of the documented command, from the binaries in `bin_dir` instead of its
    profile's folder; their sizes in bytes by name."""
    arguments = documented_build_arguments()
    if "--profile" in arguments:
        at = arguments.index("--profile")
        del arguments[at:at + 2]
    done = run(str(BUILD_LOCAL), *arguments, "--bin-dir", str(bin_dir))
    sizes = {}
    for line in done.stdout.splitlines():
        name, size = line.split()[:2]
        sizes[name] = int(size)
    return sizes
