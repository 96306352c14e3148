"""What the online/offline features cost a request, measured side by side on one server with
perf_analyzer (gRPC), in interleaved rounds, with the bundled classifier served three times:

- `local`: policy `local`, `forward = "none"`: the plain path;
- `forwarding`: `forward = "results"`: every answer is on disk in the outbox (SQLite, WAL,
  synchronous=FULL, group commit) before it goes out;
- `open_circuit`: `prefer_upstream` with an upstream that refuses connections, its circuit open.

Passes when the forwarding model's throughput at saturation (concurrency 8) is at least
`--min-forward-ratio` of the local model's, and the open-circuit model's p50 at concurrency 1
is within `--max-p50-gap-ms` of the local model's (each the median over the rounds of the
figures paired within a round). Prints a
Markdown table.

    .venv/bin/python benches/upstream_cost.py target/release/outpost
"""

import argparse
import csv
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from conftest import start_outpost, stop_outpost  # noqa: E402

SOURCE = ROOT / "models" / "mobilenet_v2_int8"
PERF_VENV = ROOT / ".cache" / "perf-analyzer-venv"


def model(repository, name, extra="", top=""):
    folder = repository / name
    (folder / "1").mkdir(parents=True)
    shutil.copy(SOURCE / "1" / "model.onnx", folder / "1" / "model.onnx")
    shutil.copy(SOURCE / "labels.txt", folder / "labels.txt")
    (folder / "model.toml").write_text(top + (SOURCE / "model.toml").read_text() + extra)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def perf(grpc_url, name, concurrency, interval_ms, report):
    """(inferences per second, p50 in ms) of one perf_analyzer run."""
    cudart = subprocess.run(
        [str(PERF_VENV / "bin" / "python"), "-c",
         "import nvidia.cuda_runtime, os; print(os.path.join(nvidia.cuda_runtime.__path__[0], 'lib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    env = {**os.environ, "LD_LIBRARY_PATH": cudart + ":" + os.environ.get("LD_LIBRARY_PATH", "")}
    run = subprocess.run(
        [str(PERF_VENV / "bin" / "perf_analyzer"), "-m", name, "-u", grpc_url, "-i", "grpc",
         "--concurrency-range", str(concurrency), "--measurement-interval", str(interval_ms),
         "--stability-percentage", "50", "-f", str(report)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        raise SystemExit(f"perf_analyzer failed on {name}:\n{run.stdout[-3000:]}")
    with open(report) as f:
        row = next(csv.DictReader(f))
    return float(row["Inferences/Second"]), float(row["p50 latency"]) / 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", nargs="?", default=str(ROOT / "target" / "release" / "outpost"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="clients for the throughput at saturation")
    parser.add_argument("--interval-ms", type=int, default=1500)
    parser.add_argument("--min-forward-ratio", type=float, default=0.95)
    parser.add_argument("--max-p50-gap-ms", type=float, default=1.0)
    args = parser.parse_args()
    os.environ["OUTPOST_BIN"] = args.binary

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        repository = tmp / "models"
        model(repository, "local")
        model(repository, "forwarding", top='forward = "results"\n')
        model(repository, "open_circuit",
              f'\n[upstream]\nurl = "http://127.0.0.1:{closed_port()}"\npolicy = "prefer_upstream"\n'
              'timeout_ms = 200\nfailures_to_open = 1\nprobe_interval_ms = 600000\n')
        config = tmp / "outpost.toml"
        config.write_text(f'[outbox]\npath = "{tmp / "outbox.db"}"\n')
        server, addresses = start_outpost(repository, "--config", str(config), "--log-level", "warn")
        try:
            # One refused request opens the circuit.
            request = urllib.request.Request(
                f"{addresses['base_url']}/v2/models/open_circuit/image", method="POST",
                data=(ROOT / "tests" / "fixtures" / "images" / "chelsea.png").read_bytes(),
                headers={"Content-Type": "image/png"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.headers["Outpost-Served-By"] == "local"
            figures = {key: [] for key in ("local_tp", "forwarding_tp", "local_p50", "open_p50")}
            for round_index in range(args.rounds):
                runs = [("local_tp", "local", args.concurrency), ("forwarding_tp", "forwarding", args.concurrency),
                        ("local_p50", "local", 1), ("open_p50", "open_circuit", 1)]
                if round_index % 2:
                    runs.reverse()
                for key, name, concurrency in runs:
                    throughput, p50 = perf(addresses["grpc_url"], name, concurrency,
                                           args.interval_ms, tmp / f"{key}-{round_index}.csv")
                    figures[key].append(throughput if key.endswith("_tp") else p50)
        finally:
            stop_outpost(server)

    median = {key: statistics.median(values) for key, values in figures.items()}
    # Paired per round (each round measures both sides back to back), then the median: the
    # machine's drift between rounds cancels out.
    forward_ratio = statistics.median(
        f / l for f, l in zip(figures["forwarding_tp"], figures["local_tp"]))
    p50_gap = statistics.median(
        o - l for o, l in zip(figures["open_p50"], figures["local_p50"]))
    print("| figure | local | with the feature | ratio / gap | bound |")
    print("|---|---|---|---|---|")
    print(f"| throughput at concurrency {args.concurrency}, `forward = \"results\"` (inferences/s) | "
          f"{median['local_tp']:.1f} | {median['forwarding_tp']:.1f} | {forward_ratio:.3f} | "
          f">= {args.min_forward_ratio} |")
    print(f"| p50 at concurrency 1, `prefer_upstream` with its circuit open (ms) | "
          f"{median['local_p50']:.2f} | {median['open_p50']:.2f} | {p50_gap:+.2f} ms | "
          f"<= {args.max_p50_gap_ms} ms |")
    print(f"rounds: {args.rounds}; every figure: {figures}")
    failed = forward_ratio < args.min_forward_ratio or p50_gap > args.max_p50_gap_ms
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
