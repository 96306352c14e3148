"""Slow and hostile HTTP clients, run as a process of their own beside a test (so that their
event loop does not share an interpreter with the clients being timed):

- slowloris: connections that send a request head one byte a second and never finish it;
- tricklers: connections that send a whole head for a POST with a large Content-Length, then
  its body one byte a second.

Each connection keeps sending until the server closes it, and records when that happened and,
for tricklers, the status line of any answer. Prints one JSON object with every connection's
figures when all are closed or `--limit` seconds have passed.

    python slow_clients.py HOST PORT --slowloris 1000 --tricklers 100 --path /v2/models/m/infer
"""

import argparse
import asyncio
import json
import resource
import time

SLOWLORIS_HEAD = (
    b"GET /v2/health/ready HTTP/1.1\r\nHost: outpost\r\nUser-Agent: slowloris\r\n"
    b"X-Padding: " + b"a" * 4000 + b"\r\n\r\n"
)


async def slow_connection(host, port, head, body_length, started, limit, result):
    """Opens one connection, sends `head` (all at once when `body_length` is set, else a byte a
    second), then `body_length` body bytes a byte a second; records when the server closed it."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as error:
        result.update(opened=False, error=str(error))
        return
    result.update(opened=True, opened_at=time.monotonic() - started)
    answer = bytearray()

    async def read_answer():
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            answer.extend(chunk)

    reading = asyncio.ensure_future(read_answer())
    try:
        if body_length:
            writer.write(head)
            await writer.drain()
            remaining = body_length
        else:
            remaining = len(head)
        sent = 0
        while time.monotonic() - started < limit and not reading.done():
            if remaining == 0:
                await asyncio.sleep(1)
                continue
            data = head[sent:sent + 1] if not body_length else b"x"
            writer.write(data)
            await writer.drain()
            sent += 1
            remaining -= 1
            await asyncio.wait([reading], timeout=1)
        if not reading.done():
            result.update(closed_by_server=False)
            return
    except (ConnectionError, OSError):
        pass
    closed_at = time.monotonic() - started
    status = None
    if answer.startswith(b"HTTP/1.1 "):
        status = int(answer.split(b" ", 2)[1])
    result.update(closed_by_server=True, closed_at=closed_at,
                  held_s=closed_at - result["opened_at"], status=status,
                  bytes_sent=sent)
    reading.cancel()
    writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--slowloris", type=int, default=1000)
    parser.add_argument("--tricklers", type=int, default=100)
    parser.add_argument("--path", default="/v2/models/mobilenet_v2_int8/infer")
    parser.add_argument("--limit", type=float, default=120.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    body_length = 1_000_000
    trickle_head = (
        f"POST {args.path} HTTP/1.1\r\nHost: outpost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {body_length}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    tricklers = [{"kind": "trickler"} for _ in range(args.tricklers)]
    slowloris = [{"kind": "slowloris"} for _ in range(args.slowloris)]
    tasks = [
        asyncio.ensure_future(slow_connection(
            args.host, args.port, trickle_head, body_length, started, args.limit, r))
        for r in tricklers
    ]
    # Tricklers first, so that their heads are in before the slowloris connections fill the cap.
    await asyncio.sleep(0.5)
    print(json.dumps({"event": "tricklers_open"}), flush=True)
    for result in slowloris:
        tasks.append(asyncio.ensure_future(slow_connection(
            args.host, args.port, SLOWLORIS_HEAD, 0, started, args.limit, result)))
    print(json.dumps({"event": "slowloris_started"}), flush=True)
    await asyncio.gather(*tasks)
    print(json.dumps({"event": "done", "connections": tricklers + slowloris}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
