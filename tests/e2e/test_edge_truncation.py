"""No truncated response looks complete (issue 10, bullet 5): a connector
killed with -9 mid-body ends the user's connection with a TCP reset
(HTTP/1.x, whatever the framing: close-delimited HTTP/1.0, chunked,
Content-Length) or the stream with RST_STREAM (HTTP/2), so real curl reports
an error instead of a clean 200."""
import re
import signal
import subprocess
import time

import pytest

from conftest import Origin
from edgeenv import Connector, Edge, create_tunnel

HOST = "app.example.com"
BIG = 200_000_000


@pytest.fixture
def env(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--https", "127.0.0.1:0")
    line = edge.wait_for(r"INF Starting edge")[0]
    https_port = int(re.search(r"https=127\.0\.0\.1:(\d+)", line).group(1))
    procs = [edge]
    yield tmp_path, edge, cred, origin, https_port, procs
    for p in reversed(procs):
        p.stop()
    origin.stop()


def cut_mid_body(tmp, edge, cred, origin, procs, curl_args, protocol, victim="connector",
                 limit=10):
    """Starts a slow download of BIG bytes with curl_args, kills the only
    connector (or the origin) with -9 once bytes flow, and returns (curl's exit
    code, bytes received, the status curl saw, curl's stderr). curl must end
    within limit seconds of the kill."""
    conn = Connector(edge, cred, origin.url, ha=1, extra=["--protocol", protocol])
    procs.append(conn)
    edge.wait_for(r"INF Registered tunnel connection")
    out = tmp / "body"
    cp = subprocess.Popen(["curl", "-sS", "--limit-rate", "4M", "-o", str(out),
                           "-w", "%{http_code}", *curl_args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 1_000_000):
            time.sleep(0.05)
        assert out.exists() and out.stat().st_size >= 1_000_000, "the download never started"
        (conn.proc if victim == "connector" else origin.proc).send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        try:
            stdout, stderr = cp.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("curl never ended; edge log:\n" + edge.log()[-3000:])
        took = time.monotonic() - t0
    finally:
        if cp.poll() is None:
            cp.kill()
            cp.wait()
    size = out.stat().st_size
    assert size < BIG
    # A dead origin is noticed at once (the connector resets the stream), a
    # dead connector over http2 by the TCP reset, over QUIC by ICMP port
    # unreachable or, when nothing answers at all, within about two seconds
    # (the edge PINGs a connection whose requests wait and hears nothing).
    print(f"curl ended {took:.2f} s after the kill")
    assert took < limit, f"curl took {took:.1f} s to end after the kill; edge log:\n" + edge.log()[-3000:]
    return cp.returncode, size, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("protocol", ["quic", "http2"])
def test_http10_close_delimited_cut_is_an_error(env, protocol):
    """HTTP/1.0 with a body of unknown length (the origin chunks it): the edge
    sends it close-delimited, so only a reset can tell the user it was cut."""
    tmp, edge, cred, origin, _, procs = env
    h, p = edge.http
    rc, size, code, err = cut_mid_body(
        tmp, edge, cred, origin, procs,
        ["-0", "--resolve", f"{HOST}:{p}:{h}", f"http://{HOST}:{p}/chunked/{BIG}"], protocol,
        limit=10)
    assert code == "200"
    assert rc == 56 and "reset" in err.lower(), f"curl -0 exit {rc} after {size} bytes: {err}"
    assert "Reset a user connection" in edge.log() or "Response aborted" in edge.log()


@pytest.mark.parametrize("path", [f"/chunked/{BIG}", f"/bytes/{BIG}"])
@pytest.mark.parametrize("version", ["-0", "--http1.1"])
def test_origin_killed_mid_body_is_a_reset(env, path, version):
    """The origin dies: the connector resets the stream, the edge resets the
    user's connection, whatever the framing (close-delimited for HTTP/1.0
    when the origin chunks, chunked for HTTP/1.1, Content-Length)."""
    tmp, edge, cred, origin, _, procs = env
    h, p = edge.http
    rc, size, code, err = cut_mid_body(
        tmp, edge, cred, origin, procs,
        [version, "--resolve", f"{HOST}:{p}:{h}", f"http://{HOST}:{p}{path}"], "quic",
        victim="origin")
    assert code == "200"
    assert rc == 56 and "reset" in err.lower(), f"curl exit {rc} after {size} bytes: {err}"


@pytest.mark.parametrize("victim,path", [("connector", f"/chunked/{BIG}"),
                                         ("origin", f"/chunked/{BIG}"),
                                         ("origin", f"/bytes/{BIG}")])
def test_http2_cut_is_rst_stream(env, victim, path):
    tmp, edge, cred, origin, https_port, procs = env
    rc, size, code, err = cut_mid_body(
        tmp, edge, cred, origin, procs,
        ["--http2", "--insecure", "--connect-to", f"{HOST}:443:127.0.0.1:{https_port}",
         f"https://{HOST}{path}"], "http2", victim=victim)
    assert code == "200"
    # curl: (92) HTTP/2 stream 1 was not closed cleanly: INTERNAL_ERROR (err 2)
    assert rc == 92 and "INTERNAL_ERROR" in err, (rc, err)
