"""The agent's footprint while nothing changes: its resident memory when idle, and what one poll
costs the repository, counted at the S3 server (moto's, on loopback).

Publishes one bundle to moto with `outpost repo publish --upload`, runs `outpost serve` and
`outpost agent` (polling every second) until the bundle is installed, lets the agent idle for
`--polls` polls, and counts the requests moto logged meanwhile. Passes when every idle poll cost
at most one request, each a conditional GET of timestamp.json answered 304 Not Modified, and the
agent's idle resident memory (VmRSS) is at most `--max-rss-mib`. Prints a Markdown table.

    .venv/bin/python benches/agent_footprint.py target/release/outpost
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from agent_support import (MODEL, TOKEN, Publisher, golden_folder, model_status,  # noqa: E402
                           start_agent, wait_for)
from conftest import start_outpost, stop_outpost  # noqa: E402
from moto_s3 import MotoS3  # noqa: E402


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outpost", help="the outpost binary")
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--max-rss-mib", type=float, default=20.0)
    args = parser.parse_args()
    os.environ["OUTPOST_BIN"] = str(pathlib.Path(args.outpost).resolve())

    moto = MotoS3()
    moto.client.create_bucket(Bucket="models")
    server = agent = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        try:
            publisher = Publisher(tmp / "publisher", moto.endpoint, "s3://models/fleet")
            publisher.publish("int8", 1, golden_folder(tmp, "ok", "Egyptian cat"))
            models = tmp / "models"
            models.mkdir()
            server, addresses = start_outpost(
                models, "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN})
            agent, status_url = start_agent(
                tmp, "s3://models/fleet", publisher.trusted_root, models, addresses["base_url"],
                {**publisher.env, "OUTPOST_CONTROL_TOKEN": TOKEN, "OUTPOST_LOG_LEVEL": "warn"},
                "[repository]\npoll_interval_secs = 1\n[watch]\nwindow_secs = 0\n")
            wait_for(status_url, lambda r: model_status(r).get("active") == 1
                     and model_status(r).get("candidate") is None, "the bundle to install")
            # Settle: one poll after the install, then count.
            time.sleep(2.0)
            before = len(moto.requests())
            started = time.monotonic()
            time.sleep(args.polls + 0.5)
            elapsed = time.monotonic() - started
            idle = moto.requests()[before:]
            rss = rss_kib(agent.pid) / 1024
        finally:
            if agent:
                agent.terminate()
                agent.wait(timeout=30)
            if server:
                stop_outpost(server)
            moto.stop()

    polls = int(elapsed)  # one poll a second
    conditional = [r for r in idle if r[0] == "GET" and r[1].endswith("/metadata/timestamp.json") and r[2] == 304]
    others = [r for r in idle if r not in conditional]
    print("| figure | value | bound |")
    print("|---|---|---|")
    print(f"| agent idle resident memory (VmRSS) | {rss:.1f} MiB | {args.max_rss_mib} MiB |")
    print(f"| idle polls | {polls} | |")
    print(f"| requests at the S3 server while idle | {len(idle)} | {polls} |")
    print(f"| of which conditional GETs of timestamp.json answered 304 | {len(conditional)} | |")
    failures = []
    if rss > args.max_rss_mib:
        failures.append(f"idle RSS {rss:.1f} MiB above {args.max_rss_mib} MiB")
    if len(idle) > polls or others:
        failures.append(f"idle polls cost more than one conditional GET each: {others[:5]}")
    if not conditional:
        failures.append("no conditional GET of timestamp.json was seen")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
