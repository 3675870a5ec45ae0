"""The edge with a real connector (`warren tunnel run`) and the real origin
(origin.py): bodies checked by SHA-256 both ways, chunked, 100 concurrent
requests, WebSocket, forwarding headers, refusals of bad registrations, and
graceful shutdown with a request in flight."""
import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import Origin, curl
from edgeenv import Connector, Edge, create_tunnel, fetch

class Env:
    """protocol: the connector's --protocol (the suite runs over both)."""
    def __init__(self, tmp, ha=2, protocol="quic"):
        self.protocol = protocol
        self.tunnels, self.cred = create_tunnel(tmp, "web", "app.example.com")
        self.origin = Origin()
        self.edge = Edge(tmp, self.tunnels, "--grace-period", "10s")
        self.conn = Connector(self.edge, self.cred, self.origin.url, ha=ha,
                              extra=["--protocol", protocol])
        self.edge.wait_for(r"INF Registered tunnel connection tunnel=web .*protocol=" + protocol,
                           count=ha)

    def args(self, path):
        h, p = self.edge.http
        return ["--resolve", f"app.example.com:{p}:{h}", f"http://app.example.com:{p}{path}"]

    def close(self):
        self.conn.stop()
        self.edge.stop()
        self.origin.stop()


@pytest.fixture(params=["quic", "http2"])
def env(tmp_path, request):
    e = Env(tmp_path, protocol=request.param)
    yield e
    e.close()


def pattern_sha(n):
    import origin as o
    return o.pattern_sha256(n)


def test_registration_log_and_ready(env):
    lines = env.edge.wait_for(r"INF Registered tunnel connection", count=2)
    idx = sorted(re.search(r"connIndex=(\d+)", l).group(1) for l in lines)
    assert idx == ["0", "1"]
    assert all(re.search(r"connection=[0-9a-f-]{36} location=edge", l) for l in lines)
    status, body = fetch(env.edge.murl("/ready"))
    assert status == 200 and json.loads(body) == {"status": 200, "readyConnections": 2}
    status, body = fetch(env.edge.murl("/metrics"))
    assert env.edge.metric(body.decode(),
                           'warren_edge_tunnel_connections{tunnel="web",protocol="%s"}'
                           % env.protocol) == 2


def test_get_small_and_large(env):
    r = curl(*env.args("/hello"))
    assert r.stdout == b"Hello from the origin\n"
    r = curl("-D", "-", "-o", "/dev/null", *env.args("/bytes/1024"))
    assert b"Content-Length: 1024" in r.stdout
    n = 200 * 1000 * 1000  # the "200 MB"
    r = subprocess.run(f"curl -sS --resolve app.example.com:{env.edge.http[1]}:127.0.0.1 "
                       f"http://app.example.com:{env.edge.http[1]}/bytes/{n} | sha256sum",
                       shell=True, capture_output=True, text=True, timeout=120)
    assert r.stdout.split()[0] == pattern_sha(n)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def peak_rss_during(proc, pids):
    """Peak VmRSS growth (MB) of each pid while proc runs."""
    base = {p: rss_mb(p) for p in pids}
    peak = dict(base)
    while proc.poll() is None:
        for p in pids:
            peak[p] = max(peak[p], rss_mb(p))
        time.sleep(0.05)
    return {p: peak[p] - base[p] for p in pids}


def test_memory_stays_bounded(env):
    """400 MB each way, the user reading slower than the origin sends and the
    origin reading slower than the user sends: flow control holds the bytes
    back, so neither the edge nor the connector grows by more than a few
    windows (the issue: a 10 GB transfer never holds more than a bounded
    amount in memory on either side)."""
    n = 400 * 1000 * 1000
    port = env.edge.http[1]
    url = f"--resolve app.example.com:{port}:127.0.0.1 http://app.example.com:{port}"
    pids = [env.edge.proc.pid, env.conn.proc.pid]
    down = subprocess.Popen(f"curl -sS --limit-rate 80M {url}/bytes/{n} | sha256sum",
                            shell=True, stdout=subprocess.PIPE, text=True)
    grown_down = peak_rss_during(down, pids)
    assert down.stdout.read().split()[0] == pattern_sha(n)
    up = subprocess.Popen(f"head -c {n} /dev/zero | curl -sS -T - {url}/sha256", shell=True,
                          stdout=subprocess.PIPE, text=True)
    grown_up = peak_rss_during(up, pids)
    zeros = hashlib.sha256()
    block = bytes(1 << 20)
    for _ in range(n >> 20):
        zeros.update(block)
    zeros.update(bytes(n - ((n >> 20) << 20)))
    assert up.stdout.read().split() == [zeros.hexdigest(), str(n)]
    print(f"RSS growth MB (edge, connector): down {list(grown_down.values())}, "
          f"up {list(grown_up.values())}")
    for grown in (grown_down, grown_up):
        assert max(grown.values()) < 32, grown  # 4.5 MB at most when measured


def test_post_small_and_large(env, tmp_path):
    small = os.urandom(1024)
    p = subprocess.run(["curl", "-sS", "--data-binary", "@-", *env.args("/sha256")],
                       input=small, capture_output=True, timeout=30)
    assert p.stdout.decode().split()[0] == hashlib.sha256(small).hexdigest()
    # 200 MB up (the size), then a 32 MiB body chunked and echoed
    huge = tmp_path / "huge.bin"
    h = hashlib.sha256()
    with open(huge, "wb") as f:
        for _ in range(200):
            block = os.urandom(1000 * 1000)
            h.update(block)
            f.write(block)
    r = curl("--data-binary", f"@{huge}", *env.args("/sha256"), timeout=300)
    assert r.stdout.decode().split() == [h.hexdigest(), "200000000"]
    huge.unlink()
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(32):
            f.write(os.urandom(1 << 20))
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    # chunked upload, with Expect: 100-continue answered by the edge
    r = curl("-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue",
             "--data-binary", f"@{big}", *env.args("/sha256"), timeout=120)
    assert r.stdout.decode().split()[0] == want
    # echo: the body comes back whole through both directions at once
    r = subprocess.run(f"curl -sS --data-binary @{big} --resolve app.example.com:"
                       f"{env.edge.http[1]}:127.0.0.1 http://app.example.com:{env.edge.http[1]}"
                       f"/echo | sha256sum", shell=True, capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.split()[0] == want


def test_chunked_download(env):
    n = 5 * 1024 * 1024 + 7
    r = curl("-D", "/dev/stderr", *env.args(f"/chunked/{n}"), timeout=60)
    assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n)
    assert b"Transfer-Encoding: chunked" in r.stderr
    # an HTTP/1.0 user gets the same body, delimited by the close
    r = curl("-0", *env.args(f"/chunked/{n}"), timeout=60)
    assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n)


def test_forwarding_headers(env):
    r = curl("-H", "X-Forwarded-For: 6.6.6.6", "-H", "Connection: keep-alive, X-Secret",
             "-H", "X-Secret: drop-me", *env.args("/headers"))
    seen = {k.lower(): v for k, v in json.loads(r.stdout)["headers"]}
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["forwarded"] == "for=127.0.0.1;proto=http"
    assert seen["host"].startswith("app.example.com")
    assert "x-secret" not in seen


def test_100_concurrent(env, tmp_path):
    h, p = env.edge.http
    cfg = tmp_path / "urls"
    cfg.write_text("".join(f'url = "http://app.example.com:{p}/bytes/{1000 + i}"\n'
                           f'output = "/dev/null"\n' for i in range(100)))
    r = subprocess.run(["curl", "-sS", "--parallel", "--parallel-max", "100", "--resolve",
                        f"app.example.com:{p}:{h}", "-K", str(cfg), "-w",
                        "%{http_code} %{size_download}\n"], capture_output=True, text=True,
                       timeout=60)
    got = sorted(r.stdout.split("\n")[:-1])
    assert got == sorted(f"200 {1000 + i}" for i in range(100))


def ws_frame(payload, opcode=0x2):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        hdr = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock, buf):
    while len(buf) < 2:
        buf += sock.recv(65536)
    n = buf[1] & 0x7F
    off = 2
    if n == 126:
        while len(buf) < 4:
            buf += sock.recv(65536)
        n, off = int.from_bytes(buf[2:4], "big"), 4
    elif n == 127:
        while len(buf) < 10:
            buf += sock.recv(65536)
        n, off = int.from_bytes(buf[2:10], "big"), 10
    while len(buf) < off + n:
        buf += sock.recv(65536)
    return buf[0] & 0x0F, buf[off:off + n], buf[off + n:]


def test_websocket_echo(env):
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(env.edge.http, timeout=10) as s:
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: app.example.com\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        head, buf = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert b"Sec-WebSocket-Accept: " + accept in head
        for payload in (b"hello", os.urandom(300), os.urandom(200000)):
            s.sendall(ws_frame(payload))
            op, got, buf = ws_read(s, buf)
            assert op == 2 and got == payload


def test_wrong_secret_refused(env, tmp_path):
    cred = json.loads(env.cred.read_text())
    cred["TunnelSecret"] = base64.b64encode(os.urandom(32)).decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cred))
    c = Connector(env.edge, bad, env.origin.url, ha=1, extra=["--protocol", env.protocol])
    try:
        env.edge.wait_for(r"WRN Refused tunnel connection tunnel=web connIndex=0 .*"
                          r"result=unauthorized reason=\"the registration proof does not verify")
    finally:
        c.stop()
    status, body = fetch(env.edge.murl("/metrics"))
    assert env.edge.metric(body.decode(),
                           'warren_edge_registrations_total{result="unauthorized"}') >= 1
    # the good connections are untouched
    assert curl(*env.args("/hello")).stdout == b"Hello from the origin\n"


def test_unknown_tunnel_refused(env, tmp_path):
    _, other_cred = create_tunnel(tmp_path, "other", "other.example.com",
                                  tunnels=tmp_path / "elsewhere.yml")
    c = Connector(env.edge, other_cred, env.origin.url, ha=1, name="other",
                  extra=["--protocol", env.protocol])
    try:
        env.edge.wait_for(r"WRN Refused tunnel connection tunnel=[0-9a-f-]{36} .*"
                          r"result=unknown_tunnel reason=\"unknown tunnel\"")
    finally:
        c.stop()


def test_graceful_shutdown_finishes_in_flight(env):
    h, p = env.edge.http
    proc = subprocess.Popen(["curl", "-sS", "-w", "\n%{http_code}", "--resolve",
                             f"app.example.com:{p}:{h}", f"http://app.example.com:{p}/slow/1500"],
                            stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    env.edge.proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert out.split("\n")[-1] == "200", out
    assert env.edge.proc.wait(20) == 0
    log = env.edge.log()
    assert "INF Initiating graceful shutdown" in log and "INF Edge stopped" in log


def test_connector_gone_then_offline(env):
    assert curl(*env.args("/hello")).stdout == b"Hello from the origin\n"
    env.conn.proc.kill()
    env.conn.proc.wait(5)
    deadline = time.monotonic() + 45
    code = b""
    while time.monotonic() < deadline:
        code = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", *env.args("/hello")).stdout
        if code == b"502":
            break
        time.sleep(0.5)
    assert code == b"502"


def test_bad_chunk_mid_body_is_400_and_the_stream_is_reset(env):
    from edgeenv import raw_http
    out = raw_http(env.edge.http,
                   b"POST /sha256 HTTP/1.1\r\nHost: app.example.com\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), out
    env.edge.wait_for(r"WRN Refused a request client=127\.0\.0\.1 status=400 reason=")
    # the tunnel is fine afterwards, on both connections
    for _ in range(4):
        assert curl(*env.args("/hello")).stdout == b"Hello from the origin\n"


def test_keep_alive_and_pipelining_through_the_tunnel(env):
    from edgeenv import raw_http
    reqs = b"".join(b"GET /bytes/%d HTTP/1.1\r\nHost: app.example.com\r\n\r\n" % n
                    for n in (10, 100000, 7))
    reqs += b"GET /hello HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n"
    out = raw_http(env.edge.http, reqs, timeout=10)
    assert out.count(b"HTTP/1.1 200 OK\r\n") == 4
    assert out.endswith(b"Hello from the origin\n")
    assert b"Content-Length: 100000\r\n" in out


def test_body_bytes_counted(env):
    a = curl("--data-binary", "x" * 3000, *env.args("/sha256")).stdout
    b = curl(*env.args("/bytes/5000")).stdout
    assert len(b) == 5000
    status, body = fetch(env.edge.murl("/metrics"))
    text = body.decode()
    assert env.edge.metric(text, "warren_edge_request_body_bytes_total") == 3000
    assert env.edge.metric(text, "warren_edge_response_body_bytes_total") == len(a) + len(b)


def test_https_through_the_tunnel(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--https", "127.0.0.1:0")
    conn = Connector(edge, cred, origin.url, ha=1)
    try:
        edge.wait_for(r"INF Registered tunnel connection tunnel=web")
        port = int(re.search(r"https=127\.0\.0\.1:(\d+)",
                             edge.wait_for(r"INF Starting edge")[0]).group(1))
        # HTTP/1.1 over TLS here; test_edge_h2.py covers HTTP/2 on the same port
        base = ["--http1.1", "--cacert", str(edge.ca),
                "--connect-to", f"app.example.com:443:127.0.0.1:{port}", "--insecure"]
        r = curl(*base, "https://app.example.com/headers")
        seen = {k.lower(): v for k, v in json.loads(r.stdout)["headers"]}
        assert seen["x-forwarded-proto"] == "https"
        assert seen["forwarded"] == "for=127.0.0.1;proto=https"
        n = 50 * 1000 * 1000
        r = curl(*base, f"https://app.example.com/bytes/{n}", timeout=120)
        assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n)
        body = os.urandom(3 * 1024 * 1024)
        p = subprocess.run(["curl", "-sS", *base, "--data-binary", "@-",
                            "https://app.example.com/sha256"], input=body, capture_output=True,
                           timeout=60)
        assert p.stdout.decode().split()[0] == hashlib.sha256(body).hexdigest()
    finally:
        conn.stop()
        edge.stop()
        origin.stop()
