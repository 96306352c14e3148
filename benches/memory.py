"""Resident memory of the server, idle and under load, per backend and allocator setting, and
of a minimal in-process program running the same model.

Runs `outpost serve` (the binary given, release build for figures worth reporting) inside a
memory cgroup with a generous limit (so the kernel records the peak charged to it), for each
variant: the model on ONNX Runtime with the CPU arena on or off, or on tract; glibc's default mmap
threshold or the server's fixed one. Each variant: idle resident memory after the model loaded,
then `--clients` concurrent clients sending binary V2 requests for `--seconds`, then resident
memory after the load and the cgroup's peak. Then the baseline: `outpost-bench-inprocess-memory`
(next to the server binary) loads the same model with the same runtime in its own process and
runs it from as many threads as the server has inference threads (two), with glibc's defaults and
with the server's allocator settings. Prints Markdown tables (docs/benchmarks.md, "Memory"), the
second with the server's figures as ratios of the baseline's. Needs root (cgroupfs) and the
Python test clients (.venv).

    cargo build --release -p outpost -p outpost-bench
    sudo .venv/bin/python benches/memory.py target/release/outpost --seconds 15
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from cgroups import Cgroup  # noqa: E402
from conftest import start_outpost, stop_outpost  # noqa: E402
from test_admission import binary_request  # noqa: E402
from test_clients import MODEL, reference_input  # noqa: E402
from test_metrics import scrape, value, wait_until  # noqa: E402


def status_mib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def settle(base_url):
    """Waits (10 s at most) until ONNX Runtime's shared CPU arena has handed the warm-up's
    buffers back, as it does once idle; without the arena the gauge is absent (read as 0)."""
    kept = lambda: value(scrape(base_url)[0], "outpost_ort_cpu_arena_kept_bytes")
    wait_until(kept, lambda bytes_kept: bytes_kept == 0, "the CPU arena still keeps", seconds=10)


def repository(directory, backend, arena):
    target = directory / MODEL
    shutil.copytree(ROOT / "models" / MODEL, target)
    config = target / "model.toml"
    text = config.read_text().replace('backend = "auto"', f'backend = "{backend}"')
    config.write_text(text + f"\n[memory]\ncpu_arena = {str(arena).lower()}\n")
    return directory


def run_variant(binary, backend, arena, threshold, clients, seconds):
    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        settings = scratch / "outpost.toml"
        settings.write_text(f"[memory]\nmalloc_mmap_threshold_bytes = {threshold}\n")
        cgroup = Cgroup(memory_bytes=1 << 30)
        os.environ["OUTPOST_BIN"] = str(binary)
        process, addresses = start_outpost(
            repository(scratch / "models", backend, arena), "--config", str(settings),
            "--max-concurrent-requests", "2", preexec_fn=cgroup.enter,
        )
        try:
            settle(addresses["base_url"])
            idle = status_mib(process.pid, "VmRSS:")
            idle_anon = status_mib(process.pid, "RssAnon:")
            header, body = binary_request(reference_input())
            answered = [0]
            stop_at = time.monotonic() + seconds

            def client():
                while time.monotonic() < stop_at:
                    request = urllib.request.Request(
                        f"{addresses['base_url']}/v2/models/{MODEL}/infer", data=body, method="POST",
                        headers={"Inference-Header-Content-Length": str(len(header))},
                    )
                    try:
                        with urllib.request.urlopen(request, timeout=120) as response:
                            response.read()
                            answered[0] += 1
                    except urllib.error.HTTPError as error:
                        error.read()

            threads = [threading.Thread(target=client) for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            after = status_mib(process.pid, "VmRSS:")
            peak = cgroup.max_usage()
            return {
                "idle": idle, "idle_anon": idle_anon, "after": after,
                "peak": peak / 2**20 if peak else float("nan"),
                "throughput": answered[0] / seconds,
            }
        finally:
            stop_outpost(process)
            cgroup.remove()


def run_in_process(binary, backend, threshold, threads, seconds):
    """The minimal program: the model in this process, no server; figures from its JSON line."""
    program = binary.parent / "outpost-bench-inprocess-memory"
    cgroup = Cgroup(memory_bytes=1 << 30)
    try:
        output = subprocess.run(
            [str(program), "--backend", backend, "--threads", str(threads), "--seconds",
             str(seconds), "--malloc-mmap-threshold-bytes", str(threshold)],
            check=True, capture_output=True, text=True, preexec_fn=cgroup.enter, cwd=ROOT,
        ).stdout
        figures = json.loads(output.strip().splitlines()[-1])
        if figures["errors"]:
            raise RuntimeError(f"in-process {backend}: {figures['errors']} inferences failed")
        peak = cgroup.max_usage()
        return {
            "idle": figures["idle_rss_mib"], "idle_anon": figures["idle_anonymous_mib"],
            "after": figures["after_load_rss_mib"],
            "peak": peak / 2**20 if peak else float("nan"),
            "throughput": figures["inferences_per_second"],
        }
    finally:
        cgroup.remove()


def threshold_text(threshold):
    return "glibc default" if threshold == 0 else f"{threshold >> 10} KiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=pathlib.Path)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    args.binary = args.binary.resolve()
    variants = [
        ("ort", True, 0), ("ort", False, 0),
        ("ort", True, 131072), ("ort", False, 131072),
        ("tract", True, 0), ("tract", True, 131072),
    ]
    print(f"| backend | ORT CPU arena | glibc mmap threshold | idle RSS (MiB) | idle anonymous (MiB) "
          f"| RSS after {args.seconds:.0f} s of {args.clients} clients (MiB) | cgroup peak (MiB) | requests/s |")
    print("|---|---|---|---|---|---|---|---|")
    server = {}
    for backend, arena, threshold in variants:
        r = run_variant(args.binary, backend, arena, threshold, args.clients, args.seconds)
        server[(backend, arena, threshold)] = r
        arena_text = ("on" if arena else "off") if backend == "ort" else "-"
        print(f"| {backend} | {arena_text} | {threshold_text(threshold)} | {r['idle']:.1f} | {r['idle_anon']:.1f} "
              f"| {r['after']:.1f} | {r['peak']:.1f} | {r['throughput']:.0f} |", flush=True)

    print()
    print(f"| in-process program | glibc mmap threshold | idle RSS (MiB) | idle anonymous (MiB) "
          f"| RSS after {args.seconds:.0f} s of 2 threads (MiB) | cgroup peak (MiB) | inferences/s "
          f"| server/in-process idle RSS | server/in-process RSS after load | server/in-process peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend in ("ort", "tract"):
        for threshold in (0, 131072):
            r = run_in_process(args.binary, backend, threshold, 2, args.seconds)
            s = server[(backend, True, threshold)]
            print(f"| {backend} | {threshold_text(threshold)} | {r['idle']:.1f} | {r['idle_anon']:.1f} "
                  f"| {r['after']:.1f} | {r['peak']:.1f} | {r['throughput']:.0f} "
                  f"| {s['idle'] / r['idle']:.2f} | {s['after'] / r['after']:.2f} "
                  f"| {s['peak'] / r['peak']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
