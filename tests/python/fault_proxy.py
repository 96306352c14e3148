"""A small TCP proxy for network fault tests: it listens on a free loopback port and forwards
to one target, counting the bytes the target sends back, and acts on them as planned: close the
connection (`cut`) or reset it (`reset`) once so many bytes went through in all, stop
forwarding while keeping the connection open (`stall`), or pace them (`rate`). A `blackhole`
switch stalls every connection, new ones included, until it is turned off."""

import socket
import struct
import threading
import time


class FaultProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.downstream_bytes = 0
        self.connections = 0
        self.plan = []  # (at_total_bytes, action), action: "cut" | "reset" | "stall" | ("rate", bps)
        self.rate = None
        self.blackhole = False
        self.done = []  # (action, total bytes when it acted)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def schedule(self, *steps):
        """Adds (at_total_bytes, action) steps, acted on in order of their byte counts."""
        with self.lock:
            self.plan = sorted(self.plan + list(steps), key=lambda s: s[0])

    def close(self):
        self.running = False
        self.listener.close()

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        client_gone = threading.Event()
        threading.Thread(target=self._upstream, args=(client, server, client_gone), daemon=True).start()
        self._downstream(server, client, client_gone)

    @staticmethod
    def _upstream(client, server, client_gone):
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                server.sendall(data)
        except OSError:
            pass
        finally:
            client_gone.set()
            try:
                server.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _next_step(self, chunk_len):
        """How much of a chunk may go before the next step, and that step (or None)."""
        with self.lock:
            if self.plan and self.downstream_bytes + chunk_len >= self.plan[0][0]:
                at, action = self.plan.pop(0)
                return max(0, at - self.downstream_bytes), action
        return chunk_len, None

    def _downstream(self, server, client, client_gone):
        try:
            while self.running:
                while self.blackhole and self.running:
                    time.sleep(0.05)
                data = server.recv(16384)
                if not data:
                    break
                # An answer that was already on its way when the switch went on is held too.
                while self.blackhole and self.running:
                    time.sleep(0.05)
                while data:
                    allowed, action = self._next_step(len(data))
                    self._send(client, data[:allowed])
                    data = data[allowed:]
                    if action is None:
                        break
                    with self.lock:
                        self.done.append((action, self.downstream_bytes))
                    if isinstance(action, tuple) and action[0] == "rate":
                        self.rate = action[1]
                        continue
                    if action == "cut":
                        # shutdown sends the FIN now (close alone waits for the reader thread).
                        client.shutdown(socket.SHUT_RDWR)
                        return
                    if action == "reset":
                        # Linger 0 makes the close a RST; SHUT_RD wakes the reader without a FIN.
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        client.shutdown(socket.SHUT_RD)
                        return
                    if action == "stall":
                        # Hold the connection, forwarding nothing, until the client gives up.
                        while self.running and not client_gone.wait(0.1):
                            pass
                        return
        except OSError:
            pass
        finally:
            client.close()
            server.close()

    def _send(self, client, data):
        for start in range(0, len(data), 4096):
            piece = data[start:start + 4096]
            if self.rate:
                time.sleep(len(piece) / self.rate)
            client.sendall(piece)
            with self.lock:
                self.downstream_bytes += len(piece)
