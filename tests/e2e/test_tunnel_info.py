"""`warren tunnel info NAME` (cloudflared's command): asks each edge's metrics
address (/tunnels) for the tunnel's live connections and prints one table."""
import json
import re
import urllib.request

import pytest

from conftest import Origin, run_warren
from edgeenv import Connector, Edge, create_tunnel


@pytest.fixture
def setup(tmp_path):
    tunnels, cred = create_tunnel(tmp_path, "web", "app.example.com")
    create_tunnel(tmp_path, "idle", "idle.example.com", tunnels=tunnels)
    origin = Origin()
    procs = []
    yield tmp_path, tunnels, cred, origin, procs
    for p in procs:
        p.stop()
    origin.stop()


def metrics_addr(edge):
    return f"{edge.metrics[0]}:{edge.metrics[1]}"


def test_info_lists_connectors_across_edges(setup):
    tmp, tunnels, cred, origin, procs = setup
    a = Edge(tmp, tunnels, "--location", "ams")
    b = Edge(tmp, tunnels, "--location", "fra")
    procs += [a, b]
    c1 = Connector([a, b], cred, origin.url, ha=4)
    c2 = Connector(a, cred, origin.url, ha=1, extra=["--protocol", "http2"])
    procs += [c1, c2]
    c1.wait_for(r"INF Registered tunnel connection", count=4)
    c2.wait_for(r"INF Registered tunnel connection", count=1)
    doc = json.loads(urllib.request.urlopen(a.murl("/tunnels"), timeout=5).read())
    assert doc["location"] == "ams"
    [t] = doc["tunnels"]
    assert t["name"] == "web" and re.fullmatch(r"[0-9a-f-]{36}", t["id"])
    assert all(c["state"] == "ready" and c["originIP"] == "127.0.0.1" for c in t["connections"])
    r = run_warren("tunnel", "info", "web", "--edge-metrics", metrics_addr(a),
                   "--edge-metrics", metrics_addr(b), "--tunnels", tunnels)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "NAME:     web" and lines[1] == f"ID:       {t['id']}"
    assert lines[3].split() == ["CONNECTOR", "ID", "SINCE", "ORIGIN", "IP", "EDGE"]
    rows = [l.split(None, 3) for l in lines[4:]]
    # c1 spreads its 4 connections over both edges, c2 holds one http2 to ams
    assert sorted(r[3] for r in rows) == sorted(["ams: 2xquic", "fra: 2xquic", "ams: 1xhttp2"])
    assert len({r[0] for r in rows}) == 2
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r[1]) and r[2] == "127.0.0.1"
               for r in rows)
    r = run_warren("tunnel", "info", "idle", "--edge-metrics", metrics_addr(a))
    assert r.returncode == 0
    assert r.stdout == "Your tunnel idle does not have any active connection.\n"


def test_info_says_what_is_wrong(setup):
    tmp, tunnels, cred, origin, procs = setup
    r = run_warren("tunnel", "info", "web")
    assert r.returncode == 2 and "--edge-metrics ADDR:PORT" in r.stderr
    r = run_warren("tunnel", "info", "web", "--edge-metrics", "127.0.0.1:1")
    assert r.returncode == 1 and "cannot reach the edge's metrics address 127.0.0.1:1" in r.stderr
    r = run_warren("tunnel", "list", "--edge-metrics", "127.0.0.1:1")
    assert r.returncode == 2 and "does not take --edge-metrics" in r.stderr
