#!/usr/bin/env python3
"""Stand-in for an MLflow server behind Nginx (nginx_proxy Molecule scenario).

Usage: fake-mlflow.py PORT. Listens on 127.0.0.1:PORT. GET /health -> "OK", /version -> a
version string; any other path and method -> JSON with what arrived (method, path, Host,
X-Forwarded-* headers, size of the body, which is read and thrown away, and the port of this
instance, to see the load balancing).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 1 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Nginx's upstream keepalive expects
    server_version = "fake-mlflow"

    def log_message(self, *args):  # quiet journal
        pass

    def _drain(self, remaining):
        size = 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
            size += len(chunk)
        return size

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            size = 0
            while True:
                length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return size
                size += self._drain(length)
                self.rfile.readline()
        return self._drain(int(self.headers.get("Content-Length") or 0))

    def _reply(self, code, body, content_type):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        size = self._read_body()
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self._reply(200, "OK", "text/plain")
        if path == "/version":
            return self._reply(200, "3.17.2-fake", "text/plain")
        info = {
            "port": self.server.server_port,
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host"),
            "headers": {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-")},
            "authorization": "Authorization" in self.headers,
            "body_bytes": size,
        }
        return self._reply(200, json.dumps(info), "application/json")

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
