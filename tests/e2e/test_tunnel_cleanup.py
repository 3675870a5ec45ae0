"""`warren tunnel cleanup NAME` (cloudflared's command): the tunnel's owner
dials the edge as a connector does, proves the tunnel secret bound to that TLS
session (CLEANUP on the control stream), and the edge closes the tunnel's
connections (or one connector's), answering with the count. Connectors that
still run reconnect; wrong credentials are refused and change nothing."""
import base64
import json
import os
import re
import signal
import urllib.request

import pytest

from conftest import Origin, run_warren
from edgeenv import Connector, Edge, create_tunnel, raw_http


@pytest.fixture
def setup(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    origin = Origin()
    procs = []
    yield tmp_path, tunnels, cred, origin, procs
    for p in procs:
        try:  # a test that failed between SIGSTOP and SIGCONT
            os.kill(p.proc.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        p.stop()
    origin.stop()


def edge_addr(edge):
    return f"127.0.0.1:{edge.quic_port}"


def cleanup(edge, cred, *extra, name="web"):
    return run_warren("tunnel", "--edge", edge_addr(edge), "--edge-ca", edge.ca,
                      "--credentials-file", cred, *extra, "cleanup", name)


def live(edge):
    """The tunnel web's connections at edge, from /tunnels."""
    doc = json.loads(urllib.request.urlopen(edge.murl("/tunnels"), timeout=5).read())
    return [c for t in doc["tunnels"] if t["name"] == "web" for c in t["connections"]]


def gauge(edge, name):
    text = urllib.request.urlopen(edge.murl("/metrics"), timeout=5).read().decode()
    return edge.metric(text, name)


def info(edge):
    return run_warren("tunnel", "info", "web", "--edge-metrics",
                      f"{edge.metrics[0]}:{edge.metrics[1]}")


def test_cleanup_closes_all_connections_and_connectors_reconnect(setup):
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    c1 = Connector(edge, cred, origin.url, ha=2)
    c2 = Connector(edge, cred, origin.url, ha=1, extra=["--protocol", "http2"])
    procs += [c1, c2]
    c1.wait_for(r"INF Registered tunnel connection", count=2)
    c2.wait_for(r"INF Registered tunnel connection", count=1)
    assert len(live(edge)) == 3
    # Stopped connectors cannot dial again, so what the edge shows right after
    # the cleanup is what the cleanup left.
    for c in (c1, c2):
        os.kill(c.proc.pid, signal.SIGSTOP)
    r = cleanup(edge, cred)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Closed 3 connections of tunnel web at edge {edge_addr(edge)}\n"
    edge.wait_for(r"INF Cleaned up tunnel connections tunnel=web .*connector=all closed=3")
    assert live(edge) == []
    r = info(edge)
    assert r.returncode == 0
    assert r.stdout == "Your tunnel web does not have any active connection.\n"
    assert gauge(edge, 'warren_edge_tunnel_connections{tunnel="web",protocol="quic"}') == 0
    assert gauge(edge, 'warren_edge_tunnel_connections{tunnel="web",protocol="http2"}') == 0
    assert gauge(edge, 'warren_edge_tunnel_cleanups_total{result="ok"}') == 1
    # The cleanup's own connection never registered: nothing else was refused.
    assert "Refused" not in edge.log()
    # Running again, the connectors hear of the close and dial again, as
    # after any lost connection.
    for c in (c1, c2):
        os.kill(c.proc.pid, signal.SIGCONT)
    c1.wait_for(r"closed by tunnel cleanup", count=2)
    c1.wait_for(r"INF Registered tunnel connection", count=4)
    c2.wait_for(r"INF Registered tunnel connection", count=2)
    conns = live(edge)
    assert len(conns) == 3 and all(c["state"] == "ready" for c in conns)
    answer = raw_http(edge.http, b"GET /bytes/5 HTTP/1.1\r\nHost: app.example.com\r\n"
                                 b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    r = info(edge)
    assert r.returncode == 0 and "1xhttp2" in r.stdout and "2xquic" in r.stdout


def test_cleanup_of_one_connector(setup):
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    c1 = Connector(edge, cred, origin.url, ha=2)
    procs.append(c1)
    c1.wait_for(r"INF Registered tunnel connection", count=2)
    [id1] = {c["connectorID"] for c in live(edge)}
    c2 = Connector(edge, cred, origin.url, ha=2)
    procs.append(c2)
    c2.wait_for(r"INF Registered tunnel connection", count=2)
    [id2] = {c["connectorID"] for c in live(edge)} - {id1}
    kept = sorted((c["connIndex"], c["since"]) for c in live(edge) if c["connectorID"] == id1)
    os.kill(c2.proc.pid, signal.SIGSTOP)
    r = cleanup(edge, cred, "--connector-id", id2, "--protocol", "http2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Closed 2 connections of tunnel web at edge {edge_addr(edge)}\n"
    edge.wait_for(rf"INF Cleaned up tunnel connections tunnel=web .*connector={id2} closed=2")
    # Only c1's connections are left, the very same ones.
    conns = live(edge)
    assert {c["connectorID"] for c in conns} == {id1}
    assert sorted((c["connIndex"], c["since"]) for c in conns) == kept
    assert "Connection terminated" not in c1.log()
    os.kill(c2.proc.pid, signal.SIGCONT)
    c2.wait_for(r"INF Registered tunnel connection", count=4)
    # A connector the edge does not have: nothing to close.
    r = cleanup(edge, cred, "--connector-id", "00000000-0000-4000-8000-000000000000")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Closed 0 connections of tunnel web")
    assert len(live(edge)) == 4


def test_cleanup_refuses_wrong_credentials(setup):
    tmp, tunnels, cred, origin, procs = setup
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    c1 = Connector(edge, cred, origin.url, ha=2)
    procs.append(c1)
    c1.wait_for(r"INF Registered tunnel connection", count=2)
    before = live(edge)
    # The tunnel's ID with another secret.
    doc = json.loads(cred.read_text())
    doc["TunnelSecret"] = base64.b64encode(os.urandom(32)).decode()
    forged = tmp / "forged.json"
    forged.write_text(json.dumps(doc))
    forged.chmod(0o600)
    for proto in ("quic", "http2"):
        r = cleanup(edge, forged, "--protocol", proto)
        assert r.returncode == 1
        assert ("edge 127.0.0.1:%d: the edge refused: the cleanup proof does not verify"
                % edge.quic_port) in r.stderr, r.stderr
        assert "are these the credentials of this tunnel?" in r.stderr
    edge.wait_for(r"WRN Refused tunnel cleanup tunnel=web .*result=unauthorized", count=2)
    # A tunnel this edge does not know.
    _, stranger = create_tunnel(tmp, "stranger", "x.example.com", tunnels=tmp / "other.yml")
    r = cleanup(edge, stranger, name="stranger")
    assert r.returncode == 1 and "the edge refused: unknown tunnel" in r.stderr, r.stderr
    assert gauge(edge, 'warren_edge_tunnel_cleanups_total{result="unauthorized"}') == 2
    assert gauge(edge, 'warren_edge_tunnel_cleanups_total{result="unknown_tunnel"}') == 1
    assert gauge(edge, 'warren_edge_tunnel_cleanups_total{result="ok"}') == 0
    # Nothing was closed.
    assert live(edge) == before
    assert "Connection terminated" not in c1.log()


def test_cleanup_help_and_usage(setup):
    tmp, tunnels, cred, origin, procs = setup
    r = run_warren("tunnel", "cleanup", "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: warren tunnel [FLAGS] cleanup")
    assert "A running connector reconnects" in r.stdout and "--connector-id" in r.stdout
    r = run_warren("tunnel", "--help")
    assert "cleanup [NAME]" in r.stdout
    r = run_warren("tunnel", "--url", "http://x", "cleanup", "web")
    assert r.returncode == 2 and "tunnel cleanup does not take --url" in r.stderr
    r = run_warren("tunnel", "--edge", "127.0.0.1:1", "--edge-ca", "x",
                   "--credentials-file", cred, "--connector-id", "nope", "cleanup")
    assert r.returncode != 0
    r = run_warren("tunnel", "--edge", "127.0.0.1:1", "--credentials-file", cred, "cleanup",
                   "other")
    assert r.returncode == 1 and "other" in r.stderr
    r = run_warren("tunnel", "--connector-id", "x", "run")
    assert r.returncode == 2 and "tunnel run does not take --connector-id" in r.stderr


def test_cleanup_at_every_edge_given(setup):
    tmp, tunnels, cred, origin, procs = setup
    a = Edge(tmp, tunnels, "--location", "ams")
    b = Edge(tmp, tunnels, "--location", "fra")
    procs += [a, b]
    c = Connector([a, b], cred, origin.url, ha=2)
    procs.append(c)
    c.wait_for(r"INF Registered tunnel connection", count=2)
    os.kill(c.proc.pid, signal.SIGSTOP)
    r = run_warren("tunnel", "--edge", edge_addr(a), "--edge", edge_addr(b), "--edge-ca", a.ca,
                   "--credentials-file", cred, "cleanup", "web")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"Closed 1 connection of tunnel web at edge {edge_addr(a)}\n"
                        f"Closed 1 connection of tunnel web at edge {edge_addr(b)}\n")
    assert live(a) == [] and live(b) == []
    os.kill(c.proc.pid, signal.SIGCONT)
    c.wait_for(r"INF Registered tunnel connection", count=4)
    # An edge that is down: QUIC is refused, then http2 too; the others are
    # still asked, and the exit status says one failed.
    b.stop()
    r = run_warren("tunnel", "--edge", edge_addr(b), "--edge", edge_addr(a), "--edge-ca", a.ca,
                   "--credentials-file", cred, "cleanup", "web")
    assert r.returncode == 1
    assert f"tunnel cleanup: edge {edge_addr(b)}: the connection to the edge ended" in r.stderr
    assert r.stdout.startswith("Closed ") and f"at edge {edge_addr(a)}" in r.stdout
