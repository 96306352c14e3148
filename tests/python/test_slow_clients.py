"""Slow and hostile clients against the server as users run it (default [connections] settings),
inside a 128 MiB cgroup (the edge unit's limit): 1,000 connections that send a request head a byte
a second (slowloris) and 100 that trickle a request body do not keep four ordinary clients from
their answers, memory stays within the limit, and every slow connection is closed by its timeout
and counted in /metrics."""

import http.client
import json
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cgroups import make_cgroup
from conftest import ROOT, start_outpost, stop_outpost
from test_admission import binary_request
from test_clients import MODEL, reference_input
from test_metrics import scrape, value

pytestmark = pytest.mark.long_running

LIMIT = 128 * 2**20
SLOWLORIS = 1000
TRICKLERS = 100
# The defaults of docs/configuration.md's [connections].
HEADER_READ_TIMEOUT_S = 10
BODY_TIMEOUT_S = 20
HERE = pathlib.Path(__file__).resolve().parent


class OrdinaryClients:
    """Four clients, each on its own keep-alive connection, posting the classifier's binary
    request back to back and timing each answer."""

    def __init__(self, address, count=4):
        self.address = address
        self.header, self.body = binary_request(reference_input())
        self.latencies = []
        self.failures = []
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self):
        host, port = self.address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Content-Type": "application/octet-stream",
                   "Inference-Header-Content-Length": str(len(self.header))}
        while self.running.is_set():
            started = time.perf_counter()
            try:
                connection.request("POST", f"/v2/models/{MODEL}/infer", self.body, headers)
                response = connection.getresponse()
                answer = response.read()
                elapsed = time.perf_counter() - started
                ok = response.status == 200 and "outputs" in json.loads(answer)
            except (OSError, http.client.HTTPException, ValueError) as error:
                ok, elapsed, answer = False, time.perf_counter() - started, repr(error).encode()
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            with self.lock:
                if ok:
                    self.latencies.append(elapsed)
                else:
                    self.failures.append(answer[:200])
        connection.close()

    def start(self):
        self.running.set()
        for thread in self.threads:
            thread.start()

    def take(self):
        """The latencies and failures since the last call."""
        with self.lock:
            latencies, failures = self.latencies, self.failures
            self.latencies, self.failures = [], []
        return latencies, failures

    def stop(self):
        self.running.clear()
        for thread in self.threads:
            thread.join(timeout=60)


def test_slowloris_and_trickling_bodies_do_not_starve_ordinary_clients():
    cgroup = make_cgroup(memory_bytes=LIMIT)
    try:
        process, addresses = start_outpost(ROOT / "models", preexec_fn=cgroup.enter)
        try:
            base_url, address = addresses["base_url"], addresses["url"]
            clients = OrdinaryClients(address)
            clients.start()
            # Warm-up, then the usual latency.
            time.sleep(2)
            clients.take()
            time.sleep(8)
            usual, usual_failures = clients.take()
            assert not usual_failures, usual_failures[:3]
            usual_p99 = float(np.percentile(usual, 99))

            host, port = address.rsplit(":", 1)
            attack = subprocess.Popen(
                [sys.executable, str(HERE / "slow_clients.py"), host, port,
                 "--slowloris", str(SLOWLORIS), "--tricklers", str(TRICKLERS),
                 "--path", f"/v2/models/{MODEL}/infer", "--limit", "120"],
                stdout=subprocess.PIPE, text=True,
            )
            events = (json.loads(line) for line in attack.stdout)
            assert next(events)["event"] == "tricklers_open"
            assert next(events)["event"] == "slowloris_started"
            clients.take()
            # The ordinary clients while every slow connection is open or waiting for a place,
            # until the last ones are cut (header timeout twice over, body timeout once).
            time.sleep(HEADER_READ_TIMEOUT_S + 5)
            during, during_failures = clients.take()
            samples, _ = scrape(base_url)
            open_during = value(samples, "outpost_connections_open", listener="http")
            done = next(events)
            assert done["event"] == "done"
            attack.wait(timeout=30)
            after, after_failures = clients.take()
            clients.stop()

            during_p99 = float(np.percentile(during, 99))
            connections = done["connections"]
            slowloris = [c for c in connections if c["kind"] == "slowloris"]
            tricklers = [c for c in connections if c["kind"] == "trickler"]
            held_slowloris = [c["held_s"] for c in slowloris if c.get("closed_by_server")]
            held_tricklers = [c["held_s"] for c in tricklers if c.get("closed_by_server")]
            samples, _ = scrape(base_url)
            header_timeouts = value(samples, "outpost_connections_timed_out_total",
                                    listener="http", reason="header_timeout")
            body_timeouts = value(samples, "outpost_connections_timed_out_total",
                                  listener="http", reason="body_too_slow")
            waited = value(samples, "outpost_connections_waited_for_place_total", listener="http")
            peak = cgroup.max_usage()
            oom_kills = cgroup.oom_kills()
            print(f"usual p99 {usual_p99 * 1000:.1f} ms over {len(usual)} answers; during the "
                  f"attack p99 {during_p99 * 1000:.1f} ms over {len(during)}; "
                  f"{len(after)} after; open connections during {open_during:.0f}; "
                  f"slowloris held {min(held_slowloris):.1f}-{max(held_slowloris):.1f} s, "
                  f"tricklers {min(held_tricklers):.1f}-{max(held_tricklers):.1f} s; "
                  f"header timeouts {header_timeouts:.0f}, body timeouts {body_timeouts:.0f}, "
                  f"waits for a place {waited:.0f}; peak memory "
                  f"{peak / 2**20 if peak else float('nan'):.1f} MiB of {LIMIT >> 20}")

            # The ordinary clients were answered throughout, within twice their usual p99.
            assert not during_failures and not after_failures, (during_failures + after_failures)[:3]
            assert len(during) >= 20, len(during)
            assert during_p99 <= 2 * usual_p99, (during_p99, usual_p99)
            # Every slow connection was opened and closed by the server, by its own timeout.
            assert all(c["opened"] for c in connections), [c for c in connections if not c["opened"]][:3]
            assert len(held_slowloris) == SLOWLORIS, [c for c in slowloris if not c.get("closed_by_server")][:3]
            assert len(held_tricklers) == TRICKLERS, [c for c in tricklers if not c.get("closed_by_server")][:3]
            assert all(c["status"] is None for c in slowloris)
            assert all(c["status"] == 408 for c in tricklers), {c["status"] for c in tricklers}
            # Held for their timeout (counted from the accept, which may come after the connect
            # while the cap is full), never for ever.
            assert max(held_slowloris) < 3 * HEADER_READ_TIMEOUT_S + 5, max(held_slowloris)
            assert min(held_slowloris) >= HEADER_READ_TIMEOUT_S - 1, min(held_slowloris)
            assert min(held_tricklers) >= BODY_TIMEOUT_S - 1, min(held_tricklers)
            assert max(held_tricklers) < BODY_TIMEOUT_S + 2 * HEADER_READ_TIMEOUT_S + 5
            # Counted in /metrics: each closed for its reason; the cap held.
            assert header_timeouts == SLOWLORIS, header_timeouts
            assert body_timeouts == TRICKLERS, body_timeouts
            assert open_during <= 512
            assert waited > 0
            # Memory within the container's limit, no OOM kill.
            assert peak is None or peak < LIMIT
            assert oom_kills == 0, oom_kills
        finally:
            stop_outpost(process)
    finally:
        cgroup.remove()
