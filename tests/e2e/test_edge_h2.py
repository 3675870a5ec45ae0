"""HTTP/2 users on the edge's HTTPS port (ALPN h2), through the whole tunnel
to the real origin (origin.py) with real curl --http2: bodies by SHA-256 both
ways, 20 concurrent streams on one connection, the edge's own 404 and 502
pages, response headers, and HTTP/1.1 clients on the same port; WebSockets over
HTTP/2 (RFC 8441 extended CONNECT) with python3-h2 as the client."""
import hashlib
import json
import os
import re
import subprocess
import time

import pytest

from conftest import Origin, curl
from edgeenv import Connector, Edge, create_tunnel, fetch


def pattern_sha(n):
    import origin as o
    return o.pattern_sha256(n)


class H2Env:
    def __init__(self, tmp):
        self.tunnels, self.cred = create_tunnel(tmp, "web", "app.example.com")
        # A second tunnel nobody runs: its hostname is routed but offline.
        create_tunnel(tmp, "off", "off.example.com", tunnels=self.tunnels)
        self.origin = Origin()
        self.edge = Edge(tmp, self.tunnels, "--https", "127.0.0.1:0")
        self.conn = Connector(self.edge, self.cred, self.origin.url, ha=2)
        self.edge.wait_for(r"INF Registered tunnel connection tunnel=web", count=2)
        line = self.edge.wait_for(r"INF Starting edge")[0]
        self.port = int(re.search(r"https=127\.0\.0\.1:(\d+)", line).group(1))
        self.tmp = tmp

    def base(self, host="app.example.com"):
        return ["--cacert", str(self.edge.ca), "--insecure",
                "--connect-to", f"{host}:443:127.0.0.1:{self.port}"]

    def h2(self, *args, host="app.example.com", timeout=60):
        return curl("--http2", *self.base(host), *args, timeout=timeout)

    def close(self):
        self.conn.stop()
        self.edge.stop()
        self.origin.stop()


@pytest.fixture
def env(tmp_path):
    e = H2Env(tmp_path)
    yield e
    e.close()


def split_w(out, marker=b"\n@@"):
    body, _, tail = out.rpartition(marker)
    return body, tail.decode()


def test_h2_get_small_and_large(env):
    r = env.h2("-w", "\n@@%{http_version} %{http_code}", "https://app.example.com/hello")
    body, tail = split_w(r.stdout)
    assert tail == "2 200", r.stderr
    assert body == b"Hello from the origin\n"
    n = 30 * 1000 * 1000
    r = env.h2("-D", env.tmp / "h.txt", "https://app.example.com/bytes/%d" % n, timeout=120)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n)
    head = (env.tmp / "h.txt").read_text()
    assert head.startswith("HTTP/2 200")
    names = [l.split(":")[0] for l in head.splitlines()[1:] if ":" in l]
    assert "content-length" in names and "content-type" in names
    assert all(n == n.lower() for n in names)
    assert "connection" not in names and "transfer-encoding" not in names
    # A chunked origin response has no Transfer-Encoding on HTTP/2.
    n = 1234567
    r = env.h2("-D", env.tmp / "c.txt", "https://app.example.com/chunked/%d" % n)
    assert hashlib.sha256(r.stdout).hexdigest() == pattern_sha(n)
    assert "transfer-encoding" not in (env.tmp / "c.txt").read_text().lower()


def test_h2_forwarding_headers_and_head(env):
    r = env.h2("-H", "X-Custom: Yes", "https://app.example.com/headers")
    info = json.loads(r.stdout)
    seen = {k.lower(): v for k, v in info["headers"]}
    assert info["method"] == "GET" and info["path"] == "/headers"
    assert seen["host"] == "app.example.com"
    assert seen["x-custom"] == "Yes"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["forwarded"] == "for=127.0.0.1;proto=https"
    r = env.h2("-I", "https://app.example.com/bytes/5000")
    assert r.returncode == 0, r.stderr
    assert b"content-length: 5000" in r.stdout


def test_h2_post_large(env):
    body = os.urandom(20 * 1024 * 1024)
    p = subprocess.run(["curl", "-sS", "--http2", *env.base(), "--data-binary", "@-",
                        "-w", "\n@@%{http_version}", "https://app.example.com/sha256"],
                       input=body, capture_output=True, timeout=120)
    out, ver = split_w(p.stdout)
    assert ver == "2", p.stderr
    assert out.decode().split() == [hashlib.sha256(body).hexdigest(), str(len(body))]


def test_h2_twenty_concurrent_streams_one_connection(env):
    status, text = fetch(env.edge.murl("/metrics"))
    before = env.edge.metric(text.decode(), "warren_edge_http_connections_total")
    sizes = [100000 + 7919 * i for i in range(20)]
    args = ["--parallel", "--parallel-max", "20", "-w", "%{http_version} %{num_connects}\\n"]
    for i, n in enumerate(sizes):
        args += ["-o", env.tmp / f"o{i}", "https://app.example.com/bytes/%d" % n]
    r = env.h2(*args, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split()
    assert lines[0::2] == ["2"] * 20
    assert sum(int(x) for x in lines[1::2]) == 1  # one connection made, 20 streams on it
    for i, n in enumerate(sizes):
        assert hashlib.sha256((env.tmp / f"o{i}").read_bytes()).hexdigest() == pattern_sha(n)
    status, text = fetch(env.edge.murl("/metrics"))
    assert env.edge.metric(text.decode(), "warren_edge_http_connections_total") == before + 1


def test_h2_unknown_host_404_and_offline_502(env):
    r = env.h2("-w", "\n@@%{http_version} %{http_code}", "https://nope.example.com/",
               host="nope.example.com")
    body, tail = split_w(r.stdout)
    assert tail == "2 404"
    assert b"No tunnel serves this hostname" in body
    r = env.h2("-w", "\n@@%{http_version} %{http_code}", "https://off.example.com/x",
               host="off.example.com")
    body, tail = split_w(r.stdout)
    assert tail == "2 502"
    assert b"offline" in body
    # A body to an unknown host is answered and the connection stays usable.
    (env.tmp / "big").write_bytes(b"x" * 300000)
    r = env.h2("--data-binary", "@%s" % (env.tmp / "big"), "-w", "\n@@%{http_code}",
               "https://nope.example.com/", host="nope.example.com")
    assert split_w(r.stdout)[1] == "404"
    env.edge.wait_for(r"WRN Tunnel offline tunnel=off .*protocol=h2")


def test_http11_still_served_on_the_same_port(env):
    r = env.h2("-w", "\n@@%{http_version}", "https://app.example.com/hello")
    assert split_w(r.stdout)[1] == "2"
    for extra in (["--http1.1"], ["--http1.1", "--no-alpn"]):
        r = curl(*extra, *env.base(), "-w", "\n@@%{http_version}",
                 "https://app.example.com/bytes/200000")
        body, ver = split_w(r.stdout)
        assert ver == "1.1", r.stderr
        assert hashlib.sha256(body).hexdigest() == pattern_sha(200000)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def test_h2_slow_reader_bounded_memory(env):
    """A user reading slowly holds the origin back through HTTP/2 and tunnel
    flow control: the edge does not buffer the body."""
    n = 48 * 1000 * 1000
    before = rss_kb(env.edge.proc.pid)
    p = subprocess.Popen(["curl", "-sS", "--http2", *env.base(), "--limit-rate", "12M",
                          "-o", str(env.tmp / "slow"), "https://app.example.com/bytes/%d" % n])
    peak = before
    while p.poll() is None:
        peak = max(peak, rss_kb(env.edge.proc.pid))
        time.sleep(0.1)
    assert p.returncode == 0
    assert hashlib.sha256((env.tmp / "slow").read_bytes()).hexdigest() == pattern_sha(n)
    print(f"edge RSS before {before} kB, peak {peak} kB during a {n} byte slow download")
    assert (peak - before) * 1024 < n // 4


def test_h2_client_vanishes_mid_transfer(env):
    """A user killed mid-download and mid-upload: the tunnel streams are
    aborted and the edge goes on serving."""
    down = subprocess.Popen(["curl", "-sS", "--http2", *env.base(), "--limit-rate", "1M",
                             "-o", "/dev/null", "https://app.example.com/bytes/100000000"])
    up = subprocess.Popen(["curl", "-sS", "--http2", *env.base(), "--limit-rate", "1M",
                           "--data-binary", "@-", "https://app.example.com/sha256"],
                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    up.stdin.write(os.urandom(2 * 1024 * 1024))
    time.sleep(1.5)
    down.kill()
    up.kill()
    down.wait()
    up.wait()
    env.edge.wait_for(r"tunnel=web|client_aborted|ended a stream", timeout=5)
    r = env.h2("-w", "\n@@%{http_version} %{http_code}", "https://app.example.com/hello")
    assert split_w(r.stdout) == (b"Hello from the origin\n", "2 200")
    status, text = fetch(env.edge.murl("/metrics"))
    deadline = time.monotonic() + 10
    while env.edge.metric(text.decode(), "warren_edge_requests_in_flight") != 0:
        assert time.monotonic() < deadline, "tunnel streams left open"
        time.sleep(0.2)
        status, text = fetch(env.edge.murl("/metrics"))


# ---- WebSockets over HTTP/2 (RFC 8441), with the h2 library as the client ----

def ws_frame(opcode, payload):
    """A masked client frame (RFC 6455)."""
    import struct
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_parse(buf):
    """(opcode, payload, rest) for one whole unmasked server frame, or None."""
    import struct
    if len(buf) < 2:
        return None
    n, at = buf[1] & 0x7F, 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, at = struct.unpack("!H", buf[2:4])[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, at = struct.unpack("!Q", buf[2:10])[0], 10
    if len(buf) < at + n:
        return None
    return buf[0] & 0x0F, buf[at:at + n], buf[at + n:]


class H2Client:
    """An HTTP/2 client (python3-h2) over TLS to the edge's HTTPS port."""

    def __init__(self, env):
        import socket
        import ssl
        import h2.config
        import h2.connection
        ctx = ssl.create_default_context(cafile=str(env.edge.ca))
        ctx.check_hostname = False  # the edge's self-signed certificate names localhost
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", env.port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname="app.example.com")
        assert self.sock.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()
        self.settings = {}
        self.headers, self.data, self.ended, self.reset = {}, {}, set(), {}

    def flush(self):
        self.sock.sendall(self.conn.data_to_send())

    def pump(self, until, timeout=10):
        import h2.events
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "timed out waiting for the edge"
            chunk = self.sock.recv(65536)
            assert chunk, "the edge closed the connection"
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.RemoteSettingsChanged):
                    self.settings.update({k: v.new_value for k, v in ev.changed_settings.items()})
                elif isinstance(ev, h2.events.ResponseReceived):
                    self.headers[ev.stream_id] = dict(
                        (k.decode(), v.decode()) for k, v in ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    self.data[ev.stream_id] = self.data.get(ev.stream_id, b"") + ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset[ev.stream_id] = ev.error_code
            self.flush()

    def connect(self, sid, protocol="websocket", path="/ws"):
        self.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", protocol),
                                     (":scheme", "https"), (":path", path),
                                     (":authority", "app.example.com"),
                                     ("sec-websocket-version", "13")])
        self.flush()
        self.pump(lambda: sid in self.headers or sid in self.reset)
        return self.headers.get(sid, {})

    def send(self, sid, data, end=False):
        while data:  # as flow control allows
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room == 0:
                self.pump(lambda: self.conn.local_flow_control_window(sid) > 0)
                continue
            self.conn.send_data(sid, data[:room])
            data = data[room:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def close(self):
        self.sock.close()


def test_h2_websocket_extended_connect(env):
    import h2.settings
    c = H2Client(env)
    try:
        c.pump(lambda: h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL in c.settings)
        assert c.settings[h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL] == 1
        head = c.connect(1)
        assert head[":status"] == "200", head
        assert "sec-websocket-accept" not in head and "upgrade" not in head
        big = os.urandom(200_000)  # more than one stream window each way
        for opcode, msg in ((1, b"hello over h2"), (2, big)):
            c.data.pop(1, None)
            c.send(1, ws_frame(opcode, msg))
            c.pump(lambda: ws_parse(c.data.get(1, b"")) is not None, timeout=30)
            got = ws_parse(c.data[1])
            assert got[0] == opcode and got[1] == msg and got[2] == b""
        c.data.pop(1, None)
        c.send(1, ws_frame(8, b""), end=True)  # close, and END_STREAM
        c.pump(lambda: 1 in c.ended)
        assert ws_parse(c.data[1])[0] == 8
        # The same connection goes on serving plain requests.
        c.conn.send_headers(3, [(":method", "GET"), (":scheme", "https"), (":path", "/hello"),
                                (":authority", "app.example.com")], end_stream=True)
        c.flush()
        c.pump(lambda: 3 in c.ended)
        assert c.headers[3][":status"] == "200" and c.data[3] == b"Hello from the origin\n"
    finally:
        c.close()


def test_h2_extended_connect_other_protocol_refused(env):
    c = H2Client(env)
    try:
        assert c.connect(1, protocol="webtransport")[":status"] == "501"
        c.pump(lambda: 1 in c.ended)
    finally:
        c.close()
    assert env.edge.proc.poll() is None
