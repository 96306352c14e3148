"""An authenticating gateway in front of a V2 server, as a cloud puts one (an ingress that
checks a token): it passes a request on only when it carries the expected credential in the
expected header, and answers 401 (HTTP) or UNAUTHENTICATED (gRPC) otherwise. It counts what it
let through and what it refused, so a test sees that a credential arrived, not only that an
answer came back."""

import http.client
import http.server
import threading
from concurrent import futures

import grpc

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}


class HttpAuthGate:
    """HTTP/1.1 reverse proxy on a free loopback port to `target` ("host:port")."""

    def __init__(self, target, header, value):
        gate = self
        self.passed = 0
        self.refused = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.headers.get(header) != value:
                    with gate.lock:
                        gate.refused += 1
                    message = b'{"error":"a valid credential is needed"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                    return
                with gate.lock:
                    gate.passed += 1
                upstream = http.client.HTTPConnection(target, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = _relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class GrpcAuthGate:
    """gRPC proxy of unary calls (every V2 method is unary) on a free loopback port to `target`,
    passing the messages through as bytes."""

    def __init__(self, target, metadata_key, value):
        self.passed = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.channel = grpc.insecure_channel(target)
        gate = self

        class Handler(grpc.GenericRpcHandler):
            def service(self, details):
                method = details.method
                forward = gate.channel.unary_unary(method)

                def handle(request, context):
                    metadata = dict(context.invocation_metadata())
                    if metadata.get(metadata_key) != value:
                        with gate.lock:
                            gate.refused += 1
                        context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid credential is needed")
                    with gate.lock:
                        gate.passed += 1
                    try:
                        return forward(request, timeout=30)
                    except grpc.RpcError as e:
                        context.abort(e.code(), e.details())

                return grpc.unary_unary_rpc_method_handler(handle)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[Handler()])
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self.server.start()

    def close(self):
        self.server.stop(None)
        self.channel.close()
