#!/usr/bin/env python3
"""A real HTTP/1.1 origin for the tunnel tests and benchmarks (standard library only).

    origin.py [--host 127.0.0.1] [--port 0] [--unix PATH]

Prints "listening PORT" (or "listening unix:PATH") once ready. Endpoints:
  GET  /hello            a short text body
  GET  /bytes/N          N deterministic bytes with Content-Length (streamed)
  GET  /chunked/N        N deterministic bytes with Transfer-Encoding: chunked
  GET  /status/CODE      an empty response with that status
  GET  /headers          the request line and headers as JSON
  GET  /slow/MS          waits MS milliseconds, then answers "slow"
  GET  /peer             the client's address and port as the origin sees them
  POST /sha256           reads the body (Content-Length or chunked) and answers its SHA-256 hex
  POST /echo             answers the body back
  POST /slow/MS          reads the body, waits MS milliseconds, then answers "slow"
  GET  /ws               WebSocket echo (RFC 6455, text and binary frames)
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import socketserver
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = bytes(range(256)) * 256  # 64 KiB pattern


def pattern(n):
    """Yields n bytes of a fixed pattern, 64 KiB at a time."""
    while n > 0:
        chunk = BLOCK[: min(n, len(BLOCK))]
        n -= len(chunk)
        yield chunk


def pattern_sha256(n):
    h = hashlib.sha256()
    for c in pattern(n):
        h.update(c)
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "warren-test-origin"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def reply(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """Yields the request body in pieces, whichever framing it came in."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(left, 1 << 16))
                    if not piece:
                        raise ConnectionError("body ended early")
                    left -= len(piece)
                    yield piece
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                piece = self.rfile.read(min(left, 1 << 16))
                if not piece:
                    raise ConnectionError("body ended early")
                left -= len(piece)
                yield piece

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["hello"]:
            return self.reply(200, b"Hello from the origin\n")
        if parts[0] == "bytes" and len(parts) == 2:
            n = int(parts[1])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for c in pattern(n):
                self.wfile.write(c)
            return
        if parts[0] == "chunked" and len(parts) == 2:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for c in pattern(int(parts[1])):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            self.wfile.write(b"0\r\n\r\n")
            return
        if parts[0] == "status" and len(parts) == 2:
            return self.reply(int(parts[1]))
        if parts == ["headers"]:
            info = {"method": self.command, "path": self.path,
                    "headers": [[k, v] for k, v in self.headers.items()]}
            return self.reply(200, json.dumps(info).encode(), "application/json")
        if parts == ["peer"]:
            return self.reply(200, f"{self.client_address[0]}:{self.client_address[1]}".encode())
        if parts[0] == "slow" and len(parts) == 2:
            time.sleep(int(parts[1]) / 1000)
            return self.reply(200, b"slow")
        if parts == ["ws"] and self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        return self.reply(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        path = self.path.split("?")[0]
        if path == "/sha256":
            h = hashlib.sha256()
            n = 0
            for piece in self.read_body():
                h.update(piece)
                n += len(piece)
            return self.reply(200, f"{h.hexdigest()} {n}\n".encode())
        if path == "/echo":
            return self.reply(200, b"".join(self.read_body()),
                              self.headers.get("Content-Type", "application/octet-stream"))
        if path.startswith("/slow/"):
            for _ in self.read_body():
                pass
            time.sleep(int(path[len("/slow/"):]) / 1000)
            return self.reply(200, b"slow")
        for _ in self.read_body():
            pass
        return self.reply(404, b"not found\n")

    do_PUT = do_POST

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        rf, wf = self.rfile, self.wfile
        while True:
            head = rf.read(2)
            if len(head) < 2:
                return
            opcode, n = head[0] & 0x0F, head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", rf.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", rf.read(8))[0]
            mask = rf.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(rf.read(n)))
            if opcode == 8:  # close: answer it and stop
                wf.write(b"\x88\x00")
                wf.flush()
                self.close_connection = True
                return
            if opcode in (1, 2):
                out = bytes([0x80 | opcode])
                if len(data) < 126:
                    out += bytes([len(data)])
                elif len(data) < 65536:
                    out += bytes([126]) + struct.pack("!H", len(data))
                else:
                    out += bytes([127]) + struct.pack("!Q", len(data))
                wf.write(out + data)
                wf.flush()


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("unix", 0)


def main():
    ap = argparse.ArgumentParser(description="Test origin for warren's tunnel tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--unix", help="listen on a Unix socket at this path instead")
    args = ap.parse_args()
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        srv = UnixHTTPServer(args.unix, Handler)
        print(f"listening unix:{args.unix}", flush=True)
    else:
        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer.request_queue_size = 256
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        ThreadingHTTPServer.address_family = family
        srv = ThreadingHTTPServer((args.host, args.port), Handler)
        print(f"listening {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
