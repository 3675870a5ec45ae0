"""`warren edge` without a connector: the CLI, routing answers of the edge
itself (404, 502), the strict parser against smuggling attempts, limits, the
metrics endpoint and graceful shutdown. Real curl and raw sockets."""
import json
import socket
import subprocess
import time

import pytest

from conftest import curl, run_warren
from edgeenv import Edge, create_tunnel, fetch, raw_http


@pytest.fixture
def edge(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com", "*.dev.example.com")
    e = Edge(tmp_path, tunnels)
    yield e
    e.stop()


def test_help_and_misuse(tmp_path):
    r = run_warren("edge", "--help")
    assert r.returncode == 0
    assert "--listen ADDR:PORT" in r.stdout and "--self-signed DIR" in r.stdout
    r = run_warren("edge", "--http", "127.0.0.1:0")
    assert r.returncode == 2 and "--listen ADDR:PORT is required" in r.stderr
    r = run_warren("edge", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tunnels",
                   tmp_path / "t.yml")
    assert r.returncode == 2 and "a certificate is required" in r.stderr
    r = run_warren("edge", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tunnels",
                   tmp_path / "t.yml", "--self-signed", tmp_path, "--cert", "x", "--key", "y")
    assert r.returncode == 2 and "not both" in r.stderr
    r = run_warren("edge", "--listen", "localhost:7844", "--http", "127.0.0.1:0", "--tunnels",
                   tmp_path / "t.yml", "--self-signed", tmp_path)
    assert r.returncode == 2 and "--listen" in r.stderr
    r = run_warren("edge", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--tunnels",
                   tmp_path / "missing.yml", "--self-signed", tmp_path / "c")
    assert r.returncode == 1 and "does not exist" in r.stderr and "warren tunnel create" in r.stderr


def test_http_port_in_use(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_warren("edge", "--listen", "127.0.0.1:0", "--http", f"127.0.0.1:{port}",
                       "--tunnels", tunnels, "--self-signed", tmp_path / "c")
    assert r.returncode == 1
    assert f"cannot listen for HTTP on 127.0.0.1:{port}" in r.stderr


def test_unknown_host_404_and_offline_502(edge):
    r = curl("-i", "-H", "Host: nobody.example.org", edge.url + "/x")
    out = r.stdout.decode()
    assert out.startswith("HTTP/1.1 404 Not Found\r\n"), out
    assert "No tunnel serves this hostname" in out
    for host in ("app.example.com", "APP.example.com:8080", "a.b.dev.example.com"):
        r = curl("-i", "-H", f"Host: {host}", edge.url + "/x")
        out = r.stdout.decode()
        assert out.startswith("HTTP/1.1 502 Bad Gateway\r\n"), (host, out)
        assert "tunnel for this hostname is offline" in out
    # dev.example.com itself is not covered by *.dev.example.com
    r = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: dev.example.com",
             edge.url + "/")
    assert r.stdout == b"404"
    edge.wait_for(r"WRN Tunnel offline tunnel=web host=app\.example\.com client=127\.0\.0\.1 "
                  r"status=502")
    edge.wait_for(r"INF No tunnel for host host=nobody\.example\.org .*status=404")
    # A POST with a body to an offline tunnel: answered, connection closed.
    r = curl("-i", "-H", "Host: app.example.com", "--data-binary", "x" * 5000, edge.url + "/p")
    assert r.stdout.decode().startswith("HTTP/1.1 502 ")


def test_keep_alive_between_local_answers(edge):
    r = curl("-v", "-o", "/dev/null", "-o", "/dev/null", "-H", "Host: nobody.example.org",
             edge.url + "/a", edge.url + "/b")
    err = r.stderr.decode()
    assert "Re-using existing connection" in err, err
    assert err.count("< HTTP/1.1 404") == 2


# Each of these must be refused with the status shown and a closed connection:
# leniency here is how requests get smuggled past a proxy.
SMUGGLING = [
    (b"POST / HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
     b"\r\nhello", 400),
    (b"POST / HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked, identity\r\n"
     b"\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"GET / HTTP/1.1\r\nHost: app.example.com\r\nX: a\r\n b\r\n\r\n", 400),  # obs-fold
    (b"GET / HTTP/1.1\r\nHost: app.example.com\r\nX : a\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: app.example.com\n\n", 400),  # bare LF
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host in 1.1
    (b"GET / HTTP/1.1\r\nHost: app.example.com\r\nX: a\x00b\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: app.example.com\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: app.example.com\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
]


@pytest.mark.parametrize("req,status", SMUGGLING)
def test_strict_parser_refusals(edge, req, status):
    out = raw_http(edge.http, req)
    assert out.startswith(f"HTTP/1.1 {status} ".encode()), out[:200]
    assert b"Connection: close\r\n" in out
    edge.wait_for(rf"WRN Refused a request client=127\.0\.0\.1 status={status} reason=")


def test_pipelined_requests_answered_in_order(edge):
    reqs = b"".join(b"GET /%d HTTP/1.1\r\nHost: nobody%d.example.org\r\n\r\n" % (i, i)
                    for i in range(5))
    reqs += b"GET /last HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n"
    out = raw_http(edge.http, reqs)
    assert out.count(b"HTTP/1.1 404 Not Found") == 5
    assert out.rfind(b"HTTP/1.1 502 Bad Gateway") > out.rfind(b"HTTP/1.1 404")


def test_metrics_and_ready(edge):
    curl("-s", "-H", "Host: nobody.example.org", edge.url + "/")
    curl("-s", "-H", "Host: app.example.com", edge.url + "/")
    raw_http(edge.http, b"GET / HTTP/1.1\r\n\r\n")
    status, body = fetch(edge.murl("/metrics"))
    text = body.decode()
    assert status == 200
    assert edge.metric(text, 'warren_edge_responses_total{code="404"}') == 1
    assert edge.metric(text, 'warren_edge_responses_total{code="502"}') == 1
    assert edge.metric(text, 'warren_edge_responses_total{code="400"}') == 1
    assert edge.metric(text, 'warren_edge_errors_total{reason="tunnel_offline"}') == 1
    assert edge.metric(text, 'warren_edge_errors_total{reason="unknown_host"}') == 1
    assert edge.metric(text, 'warren_edge_errors_total{reason="bad_request"}') == 1
    assert edge.metric(text, 'warren_edge_requests_total{tunnel="web"}') == 1
    assert edge.metric(text, "warren_edge_http_connections_total") == 3
    assert "# TYPE warren_edge_tunnel_connections gauge" in text
    status, body = fetch(edge.murl("/ready"))
    assert status == 503
    assert json.loads(body) == {"status": 503, "readyConnections": 0}


def test_header_timeout(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    e = Edge(tmp_path, tunnels, "--header-timeout", "1s")
    try:
        t0 = time.monotonic()
        out = raw_http(e.http, b"GET / HTTP/1.1\r\nHost: app.exa", timeout=10)
        took = time.monotonic() - t0
        assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), (out, took, e.log())
        assert 0.9 < took < 5, took
        e.wait_for(r"WRN Refused a request client=127\.0\.0\.1 status=408 reason=\"no complete "
                   r"request head within 1000 ms\"")
        status, body = fetch(e.murl("/metrics"))
        assert e.metric(body.decode(), 'warren_edge_errors_total{reason="header_timeout"}') == 1
    finally:
        e.stop()


def test_connection_limit(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    e = Edge(tmp_path, tunnels, "--max-connections", "2")
    try:
        a = socket.create_connection(e.http)
        b = socket.create_connection(e.http)
        time.sleep(0.3)
        c = socket.create_connection(e.http, timeout=5)
        assert c.recv(100) == b""  # closed at once
        e.wait_for(r"WRN Refused a user connection client=127\.0\.0\.1 reason=\"connection limit "
                   r"reached\" limit=2")
        # the two first ones still work
        a.sendall(b"GET / HTTP/1.1\r\nHost: x.example.org\r\n\r\n")
        assert a.recv(100).startswith(b"HTTP/1.1 404 ")
        for s in (a, b, c):
            s.close()
        status, body = fetch(e.murl("/metrics"))
        assert e.metric(body.decode(), 'warren_edge_errors_total{reason="connection_limit"}') == 1
    finally:
        e.stop()


def test_config_file(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    cfg = tmp_path / "edge.yml"
    cfg.write_text(f"listen: 127.0.0.1:0\nhttp: 127.0.0.1:0\ntunnels: {tunnels}\n"
                   f"self-signed: {tmp_path / 'certs'}\nlocation: test-loc\n")
    e_proc = subprocess.Popen([str(run_warren.__globals__['WARREN']), "edge", "--config", cfg],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = e_proc.stdout.readline()
        while "Starting edge" not in line and line:
            line = e_proc.stdout.readline()
        assert "location=test-loc" in line, line
    finally:
        e_proc.terminate()
        assert e_proc.wait(10) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("listen: 127.0.0.1:0\nhtpp: 127.0.0.1:0\n")
    r = run_warren("edge", "--config", bad)
    assert r.returncode == 2
    assert f"{bad}:2:1: unknown key \"htpp\"" in r.stderr


def test_sigterm_graceful_exit(edge):
    s = socket.create_connection(edge.http)  # an idle keep-alive user
    assert edge.stop() == 0
    assert s.recv(10) == b""
    log = edge.log()
    assert "INF Initiating graceful shutdown" in log
    assert "INF Edge stopped" in log


def test_idle_keep_alive_closed(tmp_path):
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    e = Edge(tmp_path, tunnels, "--idle-timeout", "1s")
    try:
        with socket.create_connection(e.http, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: nobody.example.org\r\n\r\n")
            first = s.recv(4096)
            assert first.startswith(b"HTTP/1.1 404 ")
            t0 = time.monotonic()
            rest = s.recv(4096)
            took = time.monotonic() - t0
        assert rest == b"" and 0.7 < took < 5, (rest, took)
    finally:
        e.stop()


def test_http2_tunnel_listener_speaks_tls_with_its_alpn(tmp_path):
    import re
    import ssl
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    e = Edge(tmp_path, tunnels, "--listen-http2", "127.0.0.1:0")
    try:
        line = e.wait_for(r"INF Starting edge")[0]
        port = int(re.search(r"http2=127\.0\.0\.1:(\d+)", line).group(1))
        ctx = ssl.create_default_context(cafile=str(e.ca))
        ctx.check_hostname = False
        ctx.set_alpn_protocols(["warren-tunnel-h2/1"])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as s:
                assert s.selected_alpn_protocol() == "warren-tunnel-h2/1"
    finally:
        e.stop()


def test_https_local_answers(tmp_path):
    import re
    tunnels, _ = create_tunnel(tmp_path, "web", "app.example.com")
    e = Edge(tmp_path, tunnels, "--https", "127.0.0.1:0")
    try:
        line = e.wait_for(r"INF Starting edge")[0]
        port = int(re.search(r"https=127\.0\.0\.1:(\d+)", line).group(1))
        # the self-signed certificate names 127.0.0.1: verified against it as the CA
        r = curl("-i", "--http1.1", "--cacert", e.ca, "-H", "Host: nobody.example.org",
                 f"https://127.0.0.1:{port}/")
        assert r.stdout.decode().startswith("HTTP/1.1 404 Not Found\r\n"), r.stderr
        r = curl("-i", "--http1.1", "--cacert", e.ca, "-H", "Host: app.example.com",
                 f"https://127.0.0.1:{port}/")
        assert r.stdout.decode().startswith("HTTP/1.1 502 Bad Gateway\r\n")
        # curl's default offers h2 first, and gets it
        r = curl("-i", "--cacert", e.ca, "-H", "Host: nobody.example.org",
                 f"https://127.0.0.1:{port}/")
        assert r.stdout.decode().startswith("HTTP/2 404"), r.stderr
    finally:
        assert e.stop() == 0
