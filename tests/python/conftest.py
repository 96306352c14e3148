"""Starts the real `outpost` binary on port 0 for the Python client tests.

The binary comes from $OUTPOST_BIN (default: target/debug/outpost); the repository is the
project's models/ directory (the bundled default model). The fixture waits on the readiness
endpoint instead of sleeping; a server started with TLS is polled over HTTPS.
"""

import os
import pathlib
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

# gRPC's fork handlers start threads in every forked child, and a child with threads cannot
# enter another mount namespace (setns fails with EINVAL): the full-disk test's servers must.
# Read when grpc is first imported, which is after this file.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "long_running: the file's tests take 15 s or more together (they start first)",
    )


def pytest_collection_modifyitems(session, config, items):
    """Files marked `long_running` first, the rest after, each in file order. scripts/test.sh runs
    workers that take whole files (`--dist loadfile --no-loadscope-reorder`): a long file taken
    last would leave the other workers idle while it ends."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)


def _wait_ready(base_url: str, process: subprocess.Popen, tls_context=None, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"outpost exited with {process.returncode}")
        try:
            with urllib.request.urlopen(
                f"{base_url}/v2/health/ready", timeout=2, context=tls_context
            ) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.02)
    raise RuntimeError("outpost did not become ready")


def start_outpost(repository, *extra_args, env=None, tls_context=None, preexec_fn=None):
    """Starts `outpost serve` on free loopback ports and waits until it is ready. Returns the
    process and its addresses; the caller stops it with `stop_outpost`. Pass `tls_context` (an
    `ssl.SSLContext` trusting the server) when `extra_args` turn TLS on; `preexec_fn` runs in the
    child before the binary starts (e.g. to enter a cgroup)."""
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))
    process = subprocess.Popen(
        [
            binary, "serve",
            "--http-host", "127.0.0.1", "--http-port", "0",
            "--grpc-host", "127.0.0.1", "--grpc-port", "0",
            "--model-repository", str(repository),
            *extra_args,
        ],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        env=None if env is None else {**os.environ, **env},
        preexec_fn=preexec_fn,
    )
    address = grpc_address = metrics_address = None
    # The gRPC and metrics lines come before the HTTP line, which says that every listener is bound.
    for line in process.stdout:
        if line.startswith("outpost: grpc listening on "):
            grpc_address = line.strip().rsplit(" ", 1)[1]
        if line.startswith("outpost: metrics listening on "):
            metrics_address = line.strip().rsplit(" ", 1)[1]
        if line.startswith("outpost: http listening on "):
            address = line.strip().rsplit(" ", 1)[1]
            break
    if address is None or grpc_address is None:
        process.kill()
        raise RuntimeError("outpost did not announce its address")
    base_url = f"{'https' if tls_context else 'http'}://{address}"
    _wait_ready(base_url, process, tls_context)
    return process, {
        "url": address,
        "base_url": base_url,
        "grpc_url": grpc_address,
        "metrics_url": metrics_address,
    }


def stop_outpost(process):
    process.terminate()
    assert process.wait(timeout=30) == 0


@pytest.fixture(scope="session")
def server():
    process, addresses = start_outpost(ROOT / "models")
    yield addresses
    stop_outpost(process)
