"""The agent's footprint while nothing changes: its resident memory when idle, and what one poll
costs the repository, counted at the S3 server (moto's, on loopback).

Publishes one bundle to moto with `outpost repo publish --upload`, runs `outpost serve` and the
agent (polling every second) until the bundle is installed, lets the agent idle for `--polls`
polls, and counts the requests moto logged meanwhile; once with `outpost agent`, once with the
lean `outpost-agent` binary (beside `outpost`). Passes when every idle poll cost at most one
request, each a conditional GET of timestamp.json answered 304 Not Modified, and the lean
agent's idle resident memory (VmRSS) is at most `--max-rss-mib`. Prints a Markdown table.

    .venv/bin/python benches/agent_footprint.py target/release/outpost
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

from agent_support import (MODEL, TOKEN, Publisher, golden_folder, model_status,  # noqa: E402
                           start_agent, wait_for)
from conftest import start_outpost, stop_outpost  # noqa: E402
from moto_s3 import MotoS3  # noqa: E402


def memory_kib(pid):
    """VmRSS and its anonymous and file-backed parts, KiB."""
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0])
    return fields


def checks(status_url):
    """The agent's repository checks so far, from its /metrics."""
    with urllib.request.urlopen(f"{status_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("outpost_agent_checks_total{"))


def measure(polls, lean_binary):
    """One agent's idle figures: (memory in KiB, polls it made, requests moto logged while
    idle)."""
    if lean_binary:
        os.environ["OUTPOST_AGENT_BIN"] = str(lean_binary)
    else:
        os.environ.pop("OUTPOST_AGENT_BIN", None)
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
            before, checks_before = len(moto.requests()), checks(status_url)
            time.sleep(polls + 0.5)
            idle, checks_made = moto.requests()[before:], checks(status_url) - checks_before
            memory = memory_kib(agent.pid)
            if os.environ.get("OUTPOST_FOOTPRINT_SMAPS"):
                print(pathlib.Path(f"/proc/{agent.pid}/smaps").read_text(), file=sys.stderr)
        finally:
            if agent:
                agent.terminate()
                agent.wait(timeout=30)
            if server:
                stop_outpost(server)
            moto.stop()
    return memory, int(checks_made), idle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outpost", help="the outpost binary (outpost-agent beside it)")
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--max-rss-mib", type=float, default=20.0)
    args = parser.parse_args()
    outpost = pathlib.Path(args.outpost).resolve()
    os.environ["OUTPOST_BIN"] = str(outpost)
    failures = []
    print("| agent | idle VmRSS | anonymous / file-backed | idle polls | requests at S3 | conditional GETs of timestamp.json, 304 |")
    print("|---|---|---|---|---|---|")
    for name, lean in (("outpost agent", None), ("outpost-agent", outpost.parent / "outpost-agent")):
        memory, polls, idle = measure(args.polls, lean)
        rss = memory["VmRSS"] / 1024
        conditional = [r for r in idle if r[0] == "GET" and r[1].endswith("/metadata/timestamp.json") and r[2] == 304]
        others = [r for r in idle if r not in conditional]
        print(f"| `{name}` | {rss:.1f} MiB | {memory['RssAnon'] / 1024:.1f} / {memory['RssFile'] / 1024:.1f} MiB "
              f"| {polls} | {len(idle)} | {len(conditional)} |")
        if lean and rss > args.max_rss_mib:
            failures.append(f"{name}: idle RSS {rss:.1f} MiB above {args.max_rss_mib} MiB")
        # A poll in flight when the count starts or ends may be logged on one side only.
        if len(idle) > polls + 1 or others:
            failures.append(f"{name}: idle polls cost more than one conditional GET each: {others[:5]}")
        if not conditional:
            failures.append(f"{name}: no conditional GET of timestamp.json was seen")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
