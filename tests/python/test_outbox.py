"""Store-and-forward against the real binary and a real S3 server (moto): 10 000 answered
requests of a model with `forward = "results"` while the uplink is down (nothing listens where
the outbox uploads), the server killed with SIGKILL twice along the way and started again on the
same outbox, then the uplink restored: every answered request's record arrives in S3 exactly
once, under keys <prefix>/<device>/<date>/<first-seq>-<last-seq>.jsonl.zst. With a small byte
bound the oldest records are dropped and counted, and the outbox stays within the bound on
disk."""

import json
import os
import re
import shutil
import signal
import socket
import threading
import urllib.error
import urllib.request

import pytest
import zstandard

from conftest import ROOT, start_outpost, stop_outpost
from moto_s3 import MotoS3
from test_metrics import scrape, value, wait_until
from test_repository_s3 import s3_env

# Started first by the workers (conftest.py).
pytestmark = pytest.mark.long_running

MODEL = "adder"
KEY = re.compile(r"^site-a/edge-1/\d{4}-\d{2}-\d{2}/(\d{12})-(\d{12})\.jsonl\.zst$")


def repository(tmp_path, forward="results"):
    folder = tmp_path / "models" / MODEL
    (folder / "1").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "generated" / "qlinear_add_contrib.onnx",
                folder / "1" / "model.onnx")
    (folder / "model.toml").write_text(f'backend = "ort"\nforward = "{forward}"\n')
    return tmp_path / "models"


def config_file(tmp_path, **outbox):
    lines = [f"{k} = {json.dumps(v)}" for k, v in {
        "path": str(tmp_path / "outbox" / "outbox.db"), "upload_interval_secs": 1,
        "retry_max_secs": 1, **outbox}.items()]
    path = tmp_path / "outpost.toml"
    path.write_text("[outbox]\n" + "\n".join(lines) + "\n")
    return path


class ReservedPort:
    """A loopback port held bound, not listening, for a server that starts later: connections to
    it are refused as to a server that is down, and no other bind to port 0 (the Outposts the
    test restarts meanwhile) is given it. `release()` frees it just before its server binds."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def release(self):
        self.socket.close()
        return self.port


def infer(base_url, request_id):
    body = json.dumps({"id": request_id, "inputs": [
        {"name": "a", "shape": [1, 4], "datatype": "UINT8", "data": [1, 2, 3, 4]},
        {"name": "b", "shape": [1, 4], "datatype": "UINT8", "data": [4, 3, 2, 1]}]}).encode()
    request = urllib.request.Request(f"{base_url}/v2/models/{MODEL}/infer", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
        assert answer["id"] == request_id
        return answer


def send(base_url, pending, answered, kill_after=None, process=None):
    """Sends the ids in `pending` (a list, consumed from the front) from four threads; answered
    ids go into `answered`. With `kill_after`, the server is killed (SIGKILL) with requests in
    flight once that many have been answered here, and sending stops; ids not yet sent stay in
    `pending`."""
    lock, answered_here, killed = threading.Lock(), [0], threading.Event()

    def worker():
        while not killed.is_set():
            with lock:
                if not pending:
                    return
                request_id = pending.pop(0)
            try:
                infer(base_url, request_id)
            except (urllib.error.URLError, ConnectionError, OSError):
                continue  # The server was killed under this request.
            with lock:
                answered.add(request_id)
                answered_here[0] += 1
                if kill_after is not None and answered_here[0] == kill_after:
                    process.send_signal(signal.SIGKILL)
                    killed.set()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_every_record_arrives_once_across_kills_and_an_outage(tmp_path):
    uplink = ReservedPort()
    models = repository(tmp_path)
    config = config_file(tmp_path, destination="s3://results/site-a", device_id="edge-1")
    env = s3_env(f"http://127.0.0.1:{uplink.port}")
    ids = [f"r{i}" for i in range(10_000)]
    answered = set()
    process, addresses = start_outpost(models, "--config", str(config), env=env)
    moto = None
    try:
        # The uplink is down: nothing listens on the port the outbox uploads to.
        pending = list(ids)
        send(addresses["base_url"], pending, answered, kill_after=3000, process=process)
        process.wait(timeout=30)
        process, addresses = start_outpost(models, "--config", str(config), env=env)
        send(addresses["base_url"], pending, answered, kill_after=3500, process=process)
        process.wait(timeout=30)
        process, addresses = start_outpost(models, "--config", str(config), env=env)
        send(addresses["base_url"], pending, answered)
        assert not pending
        # Only requests in flight at a kill can go unanswered.
        assert len(answered) >= len(ids) - 8, len(answered)
        samples, _ = scrape(addresses["base_url"])
        assert value(samples, "outpost_outbox_upload_failures_total") > 0
        assert value(samples, "outpost_outbox_backlog_records") >= 3500

        # The uplink comes back: everything in the outbox is uploaded, then removed.
        moto = MotoS3(port=uplink.release())
        moto.client.create_bucket(Bucket="results")
        wait_until(lambda: scrape(addresses["base_url"])[0],
                   lambda s: value(s, "outpost_outbox_backlog_records") == 0
                   and value(s, "outpost_outbox_uploaded_records_total") > 0,
                   "the outbox to empty", seconds=120)

        seen, seqs = [], []
        listing = moto.client.list_objects_v2(Bucket="results", Prefix="site-a/")
        assert not listing.get("IsTruncated")
        for item in listing["Contents"]:
            match = KEY.match(item["Key"])
            assert match, item["Key"]
            body = moto.client.get_object(Bucket="results", Key=item["Key"])["Body"].read()
            lines = zstandard.ZstdDecompressor().decompressobj().decompress(body).splitlines()
            records = [json.loads(line) for line in lines]
            assert [r["seq"] for r in records][0] == int(match.group(1))
            assert [r["seq"] for r in records][-1] == int(match.group(2))
            for record in records:
                assert (record["model"], record["version"], record["served_by"]) == (MODEL, "1", "local")
                assert record["outputs"][0]["name"] == "y"
            seen += [r["id"] for r in records]
            seqs += [r["seq"] for r in records]
        assert len(seqs) == len(set(seqs)), "a record was uploaded twice"
        assert len(seen) == len(set(seen)), "a request was recorded twice"
        assert answered <= set(seen), f"{len(answered - set(seen))} answered requests missing"
        assert set(seen) <= set(ids)
    finally:
        if process.poll() is None:
            stop_outpost(process)
        if moto:
            moto.stop()


def test_a_small_bound_drops_the_oldest_and_the_file_stays_within_it(tmp_path):
    bound = 256 * 1024
    config = config_file(tmp_path, max_bytes=bound)
    process, addresses = start_outpost(repository(tmp_path), "--config", str(config))
    answered = set()
    try:
        send(addresses["base_url"], [f"r{i}" for i in range(3000)], answered)
        assert len(answered) == 3000
        samples, _ = scrape(addresses["base_url"])
        dropped = value(samples, "outpost_outbox_dropped_total", reason="bounds")
        kept = value(samples, "outpost_outbox_backlog_records")
        assert dropped > 0 and kept > 0
        assert dropped + kept == 3000
        assert value(samples, "outpost_outbox_disk_bytes") <= bound
        on_disk = sum(os.path.getsize(p) for p in (tmp_path / "outbox").glob("outbox.db*")
                      if not p.name.endswith("-shm"))
        assert on_disk <= bound, on_disk
    finally:
        stop_outpost(process)


class Ingest:
    """An HTTP endpoint that takes batches by PUT (and MKCOL for folders, as WebDAV servers do),
    keeping each body under its path; the first `refuse` PUTs are answered 503."""

    def __init__(self, refuse=0):
        import http.server

        ingest = self
        self.bodies, self.attempts, self.refuse = {}, [], refuse
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_PUT(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with ingest.lock:
                    ingest.attempts.append(self.path)
                    refused = len(ingest.attempts) <= ingest.refuse
                    if not refused:
                        ingest.bodies[self.path] = body
                self._answer(503 if refused else 201)

            def do_MKCOL(self):
                self._answer(201)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_batches_go_to_an_http_endpoint_once_each(tmp_path):
    ingest = Ingest(refuse=2)
    config = config_file(tmp_path, destination=f"{ingest.url}/ingest/site-a", device_id="edge-1",
                         batch_max_records=100)
    process, addresses = start_outpost(repository(tmp_path), "--config", str(config))
    answered = set()
    try:
        send(addresses["base_url"], [f"r{i}" for i in range(300)], answered)
        assert len(answered) == 300
        wait_until(lambda: scrape(addresses["base_url"])[0],
                   lambda s: value(s, "outpost_outbox_backlog_records") == 0
                   and value(s, "outpost_outbox_uploaded_records_total") == 300,
                   "the outbox to empty", seconds=60)
        seen = []
        for path, body in ingest.bodies.items():
            match = KEY.match(path.removeprefix("/ingest/"))
            assert match, path
            lines = zstandard.ZstdDecompressor().decompressobj().decompress(body).splitlines()
            seen += [json.loads(line)["id"] for line in lines]
        assert sorted(seen) == sorted(answered), "every answered request once, and nothing else"
        # The refused upload was retried under the same key.
        assert ingest.attempts[0] == ingest.attempts[1] == ingest.attempts[2]
        assert ingest.attempts[0] in ingest.bodies
    finally:
        stop_outpost(process)
        ingest.close()
