"""A connector connection that dies under requests: the edge (with a short
--tunnel-idle-timeout) declares it dead, sends the idempotent requests that got
nothing back again over the tunnel's other connection, and answers 502 for a
POST, which the origin may already have seen. Over HTTP/1.1 and HTTP/2 users."""
import re
import signal
import threading
import time

import pytest

from conftest import Origin, curl
from edgeenv import Connector, Edge, create_tunnel

HOST = "app.example.com"


def request(edge, port, user, *args):
    if user == "h2":
        base = ["--http2", "--cacert", edge.ca, "--insecure",
                "--connect-to", f"{HOST}:443:127.0.0.1:{port}"]
        url = f"https://{HOST}"
    else:
        h, p = edge.http
        base = ["--resolve", f"{HOST}:{p}:{h}"]
        url = f"http://{HOST}:{p}"
    return lambda path: curl(*base, "-o", "/dev/null", "-w", "%{http_code}", *args, url + path,
                             timeout=30)


def concurrently(n, fn, path):
    codes = [None] * n

    def one(i):
        codes[i] = fn(path).stdout.decode()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


@pytest.mark.parametrize("user", ["http1", "h2"])
def test_dead_connection_retry(tmp_path, user):
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    edge = Edge(tmp_path, tunnels, "--https", "127.0.0.1:0", "--tunnel-idle-timeout", "2s",
                "--tunnel-keepalive", "300ms")
    port = int(re.search(r"https=127\.0\.0\.1:(\d+)", edge.wait_for("Starting edge")[0]).group(1))
    frozen = Connector(edge, cred, origin.url, ha=1)
    edge.wait_for(r"INF Registered tunnel connection", count=1)
    alive = Connector(edge, cred, origin.url, ha=1)
    edge.wait_for(r"INF Registered tunnel connection", count=2)
    try:
        # Requests spread over both connections (fewest streams in flight),
        # so some land on the frozen connector and stay unanswered until the
        # edge hears nothing for 2 s and drops its connection.
        frozen.proc.send_signal(signal.SIGSTOP)
        codes = concurrently(6, request(edge, port, user), "/slow/200")
        assert codes == ["200"] * 6
        retried = edge.wait_for(r"INF Retrying request on another connection")
        assert len(retried) >= 1

        # Again, with POSTs: not idempotent, so not retried. The frozen
        # connection was judged unresponsive within two seconds and its
        # requests retried, so it may live on (it answers again) or have
        # reached its 2 s idle timeout (its connector registers anew).
        frozen.proc.send_signal(signal.SIGCONT)
        edge.wait_for(r"INF (Registered tunnel connection|Tunnel connection responsive again)",
                      count=3)
        frozen.proc.send_signal(signal.SIGSTOP)
        codes = concurrently(6, request(edge, port, user, "-X", "POST"), "/echo")
        assert "502" in codes and set(codes) <= {"200", "502"}, codes
        assert len(edge.wait_for(r"INF Retrying request on another connection")) == len(retried)
        edge.wait_for(r"WRN Tunnel connection lost during a request")
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
        for p in (frozen, alive, edge):
            p.stop()
        origin.stop()


@pytest.mark.parametrize("protocol", ["quic", "http2"])
def test_unresponsive_connection_gets_no_new_requests(tmp_path, protocol):
    """With the default 30 s idle timeout, a frozen connector's connection is
    marked unresponsive within ~2 s of unanswered data: requests sent after
    that all go to the other connector and answer at once, and the GETs stuck
    on the frozen connector are retried there too. Over http2 the frozen
    process's kernel still acknowledges TCP, so the edge's PING (sent with
    requests) is what goes unanswered."""
    tunnels, cred = create_tunnel(tmp_path, "web", HOST)
    origin = Origin()
    edge = Edge(tmp_path, tunnels)
    extra = ("--protocol", protocol)
    frozen = Connector(edge, cred, origin.url, ha=1, extra=extra)
    line = edge.wait_for(r"INF Registered tunnel connection", count=1)[0]
    conn_id = re.search(r"connection=(\S+)", line).group(1)
    alive = Connector(edge, cred, origin.url, ha=1, extra=extra)
    edge.wait_for(r"INF Registered tunnel connection", count=2)
    get = request(edge, None, "http1")
    try:
        frozen.proc.send_signal(signal.SIGSTOP)
        stuck = [None] * 4
        threads = [threading.Thread(target=lambda i=i: stuck.__setitem__(i, get("/hello")))
                   for i in range(4)]
        for t in threads:
            t.start()
        edge.wait_for(r"WRN Tunnel connection unresponsive: new requests go to the tunnel's "
                      r"other connections .*connection=" + conn_id, timeout=10)
        for _ in range(10):
            t0 = time.monotonic()
            assert get("/hello").stdout == b"200"
            assert time.monotonic() - t0 < 1.0
        frozen.proc.send_signal(signal.SIGCONT)
        edge.wait_for(r"INF Tunnel connection responsive again .*connection=" + conn_id,
                      timeout=10)
        for t in threads:
            t.join(30)
        assert [r.stdout for r in stuck] == [b"200"] * 4
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
        for p in (frozen, alive, edge):
            p.stop()
        origin.stop()
