"""Request bodies count against the memory budget, against the real binary: bodies still on their
way hold room for the bytes that arrived (never for a length only declared: announcing a large
body takes no room); a body that outgrows the room beside them is turned away with 503 and
Retry-After, a body that could never fit beside the loaded models with 413 before it is read, and
a body sent without a declared length is refused as it grows past the room left. Once the held
bodies go, their room is free again and requests succeed.

The budget is set explicitly; the body sizes are fractions of what the budget leaves after the
loaded models (read from the server's own anonymous-memory gauge), so the test holds for debug
and release builds alike. Refused bodies declared larger than the server's drain bound (64 MiB)
are answered without being read."""

import socket
import time

import numpy as np
import pytest

from conftest import ROOT, start_outpost, stop_outpost
from test_admission import post_infer, top_class
from test_clients import MODEL
from test_metrics import scrape, value, wait_until

EGYPTIAN_CAT = 286
MIB = 1 << 20
BUDGET = 400 * MIB


def reserved(base_url):
    samples, _ = scrape(base_url)
    return value(samples, "outpost_request_body_reserved_bytes")


def wait_for_reserved(base_url, predicate):
    return wait_until(lambda: reserved(base_url), predicate, "reserved body memory stayed at")


def read_response(sock):
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(65536)
        if not chunk:
            break
        response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.decode().split(": ", 1) for line in lines[1:] if b": " in line)
    length = int(headers.get("content-length", headers.get("Content-Length", "0")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body.decode()


class AnnouncedBody:
    """A JSON infer request that declares `length` bytes and sends only its first `send` (at
    least its first few)."""

    def __init__(self, address, length, send=0):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.sock.sendall("\r\n".join([
            f"POST /v2/models/{MODEL}/infer HTTP/1.1", f"Host: {address}",
            "Content-Type: application/json", f"Content-Length: {length}", "", "",
        ]).encode() + b'{"inputs": [')
        if send > 12:
            self.sock.sendall(b" " * (send - 12))

    def answer(self):
        return read_response(self.sock)

    def close(self):
        self.sock.close()


def send_chunked(address, total, chunk=4 * MIB):
    """Sends a JSON body of `total` bytes without a declared length, stopping early if the
    server answers; returns the answer."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall("\r\n".join([
            f"POST /v2/models/{MODEL}/infer HTTP/1.1", f"Host: {address}",
            "Content-Type: application/json", "Transfer-Encoding: chunked", "", "",
        ]).encode())
        piece = b" " * chunk
        sent = 0
        try:
            while sent < total:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(sock)


@pytest.fixture(scope="module")
def budgeted_server():
    process, addresses = start_outpost(
        ROOT / "models", "--memory-budget-bytes", str(BUDGET), "--max-body-bytes", str(BUDGET),
        "--max-queued-requests-per-model", "16",
    )
    samples, _ = scrape(addresses["base_url"])
    models = value(samples, "outpost_process_anonymous_memory_bytes")
    room = BUDGET - models
    assert room > 200 * MIB, f"the models left only {room / MIB:.0f} MiB of the budget"
    yield addresses, room
    stop_outpost(process)


def test_an_announced_body_takes_no_room_until_its_bytes_arrive(budgeted_server):
    """Three bodies announced at 0.4 of the room each and never sent (a client declaring large
    Content-Lengths and trickling them) used to hold all of it, turning every other request away
    until they timed out."""
    addresses, room = budgeted_server
    base_url = addresses["base_url"]
    announced = [AnnouncedBody(addresses["url"], int(room * 0.4)) for _ in range(3)]
    try:
        status, _, answer = post_infer(base_url)
        assert status == 200 and top_class(answer) == EGYPTIAN_CAT
        assert reserved(base_url) < 3 * 4096
    finally:
        for request in announced:
            request.close()


def test_bodies_beyond_the_room_left_are_turned_away_at_once(budgeted_server):
    addresses, room = budgeted_server
    base_url = addresses["base_url"]
    body = int(room * 0.4)
    held = [AnnouncedBody(addresses["url"], body + MIB, send=body) for _ in range(2)]
    try:
        wait_for_reserved(base_url, lambda n: n >= 2 * body)

        # A third body does not fit beside the two: 503 with Retry-After once it outgrows the room.
        started = time.monotonic()
        third = AnnouncedBody(addresses["url"], int(room * 0.25), send=int(room * 0.25))
        status, headers, answer = third.answer()
        third.close()
        assert time.monotonic() - started < 5
        assert status == 503, answer
        assert headers.get("retry-after", headers.get("Retry-After")) == "1"
        assert "request bodies in flight hold" in answer and "memory budget" in answer

        # A body without a declared length is refused once it grows past the room left (0.2).
        status, _, answer = send_chunked(addresses["url"], int(room * 0.3))
        assert status == 503, answer
        assert "memory budget" in answer

        # A small request still fits in what is left.
        status, _, answer = post_infer(base_url)
        assert status == 200, answer
        assert top_class(answer) == EGYPTIAN_CAT
    finally:
        for request in held:
            request.close()

    # The held bodies' room is given back when their clients leave.
    wait_for_reserved(base_url, lambda n: n == 0)
    status, _, answer = post_infer(base_url)
    assert status == 200 and top_class(answer) == EGYPTIAN_CAT


def test_a_body_that_could_never_fit_beside_the_models_is_too_large(budgeted_server):
    addresses, room = budgeted_server
    too_big = AnnouncedBody(addresses["url"], int(room * 1.2))
    status, _, answer = too_big.answer()
    too_big.close()
    assert status == 413, answer
    assert "does not fit in the memory budget" in answer
    assert reserved(addresses["base_url"]) == 0
    status, _, answer = post_infer(addresses["base_url"])
    assert status == 200 and int(np.argmax(answer["outputs"][0]["data"])) == EGYPTIAN_CAT
