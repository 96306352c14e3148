"""moto's S3 server on a free loopback port, for the tests and benchmarks that need a real
S3-compatible server: its endpoint, a boto3 client, and the request lines it logged (its
standard error is read all along, so a long run never blocks on a full pipe)."""

import pathlib
import re
import subprocess
import sys
import threading

import boto3

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
REQUEST_LINE = re.compile(r'"(GET|HEAD|PUT|POST|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')


class MotoS3:
    def __init__(self, port=0):
        """On `port` (a free one when 0: a test may hold a port for a server that is down)."""
        server = pathlib.Path(sys.executable).parent / "moto_server"
        self.process = subprocess.Popen(
            [str(server), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.endpoint = None
        for line in self.process.stderr:
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.endpoint = found.group(1)
                break
        if not self.endpoint:
            self.process.kill()
            raise RuntimeError("moto_server did not start")
        self.lock = threading.Lock()
        self.log = []  # (method, path, status)
        threading.Thread(target=self._drain, daemon=True).start()
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
        )

    def _drain(self):
        for line in self.process.stderr:
            found = REQUEST_LINE.search(ANSI_ESCAPE.sub("", line))
            if found:
                with self.lock:
                    self.log.append((found.group(1), found.group(2), int(found.group(3))))

    def requests(self):
        """The requests served so far: (method, path, status)."""
        with self.lock:
            return list(self.log)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
