"""Live tunnel changes (issue 10, bullet 4): `warren edge` follows its tunnels
file while it runs. `warren tunnel delete` closes the deleted tunnel's
connections within a second and its credentials are refused; `warren tunnel
create` is served without a restart; a changed secret refuses the old one; a
broken file keeps the previous state and says why. The file is watched
(inotify on its folder) and SIGHUP reloads it (shown with a tunnels file
behind a symlink, whose target's folder is not watched)."""
import base64
import os
import re
import signal
import time
import urllib.request

import pytest

from conftest import Origin, curl, run_warren
from edgeenv import Connector, Edge, create_tunnel

WEB, KEEP, NEW = "app.example.com", "keep.example.com", "new.example.com"


def get(edge, host, path="/hello"):
    h, p = edge.http
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "--resolve", f"{host}:{p}:{h}",
             f"http://{host}:{p}{path}")
    return r.stdout.decode()


def metrics(edge):
    with urllib.request.urlopen(edge.murl("/metrics"), timeout=5) as r:
        return r.read().decode()


def conns(edge, tunnel):
    m = metrics(edge)
    return sum(edge.metric(m, f'warren_edge_tunnel_connections{{tunnel="{tunnel}",protocol="{p}"}}')
               for p in ("quic", "http2"))


def wait_until(cond, timeout, step=0.02):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def env(tmp_path):
    origin = Origin()
    procs = []
    yield tmp_path, origin, procs
    for p in reversed(procs):
        p.stop()
    origin.stop()


@pytest.mark.parametrize("trigger", ["inotify", "sighup"])
def test_delete_and_create_while_running(env, trigger):
    tmp, origin, procs = env
    real = tmp / "conf" / "tunnels.yml"
    real.parent.mkdir()
    create_tunnel(tmp, "web", WEB, tunnels=real)
    _, keep_cred = create_tunnel(tmp, "keep", KEEP, tunnels=real)
    if trigger == "sighup":
        # The edge reads the file through a symlink in another folder: a
        # change to the target makes no event in the watched folder, so only
        # SIGHUP reloads it.
        (tmp / "etc").mkdir()
        given = tmp / "etc" / "tunnels.yml"
        given.symlink_to(real)
    else:
        given = real
    edge = Edge(tmp, given)
    procs.append(edge)
    web = Connector(edge, tmp / "web.json", origin.url, ha=2, name="web")
    keep = Connector(edge, keep_cred, origin.url, ha=1, name="keep")
    procs += [web, keep]
    edge.wait_for(r"INF Registered tunnel connection tunnel=web", count=2)
    edge.wait_for(r"INF Registered tunnel connection tunnel=keep")
    assert get(edge, WEB) == "200" and get(edge, KEEP) == "200"

    # Delete: the connections close within a second, the host is no longer
    # routed, the connector's credentials are refused when it comes back.
    r = run_warren("tunnel", "delete", "web", "--tunnels", real)
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    if trigger == "sighup":
        time.sleep(0.5)
        assert "Reloaded tunnels" not in edge.log()
        assert conns(edge, "web") == 2
        t0 = time.monotonic()
        edge.proc.send_signal(signal.SIGHUP)
    took = wait_until(lambda: conns(edge, "web") == 0, 5)
    took = time.monotonic() - t0
    print(f"{trigger}: connections of the deleted tunnel gone {took:.3f} s after the change")
    assert took < 1.0, f"connections of the deleted tunnel closed after {took:.2f} s"
    why = "SIGHUP" if trigger == "sighup" else "file changed"
    edge.wait_for(rf"INF Reloaded tunnels file=\S+ trigger={why} tunnels=1 added=0 removed=1 "
                  r"changed=0 closedConnections=2")
    edge.wait_for(r"INF Tunnel deleted tunnel=web closedConnections=2")
    assert get(edge, WEB) == "404"
    web.wait_for(r"Register tunnel error from server side .*unknown tunnel", timeout=20)
    assert conns(edge, "web") == 0
    # The other tunnel was not touched.
    assert conns(edge, "keep") == 1 and get(edge, KEEP) == "200"
    assert "tunnel=keep" not in "\n".join(
        l for l in edge.log().splitlines() if "Tunnel connection closed" in l)

    # Create: accepted at once, no restart.
    _, new_cred = create_tunnel(tmp, "new", NEW, tunnels=real)
    if trigger == "sighup":
        edge.proc.send_signal(signal.SIGHUP)
    edge.wait_for(rf"INF Reloaded tunnels file=\S+ trigger={why} tunnels=2 added=1 removed=0")
    new = Connector(edge, new_cred, origin.url, ha=1, name="new")
    procs.append(new)
    edge.wait_for(r"INF Registered tunnel connection tunnel=new", timeout=20)
    assert get(edge, NEW) == "200"
    m = metrics(edge)
    assert edge.metric(m, 'warren_edge_tunnel_reloads_total{result="ok"}') >= 2
    assert edge.metric(m, 'warren_edge_tunnel_reloads_total{result="failed"}') == 0


def rewrite(path, text):
    """Replaces the file atomically, as an editor or `tunnel create` does."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def test_changed_secret_refuses_the_old_one(env):
    tmp, origin, procs = env
    tunnels, cred = create_tunnel(tmp, "web", WEB)
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    web = Connector(edge, cred, origin.url, ha=2, name="web")
    procs.append(web)
    edge.wait_for(r"INF Registered tunnel connection tunnel=web", count=2)
    text = tunnels.read_text()
    old = re.search(r"secret: (\S+)", text).group(1)
    rewrite(tunnels, text.replace(old, base64.b64encode(os.urandom(32)).decode()))
    edge.wait_for(r"INF Tunnel secret changed: the old one is refused tunnel=web "
                  r"closedConnections=2")
    edge.wait_for(r"INF Reloaded tunnels .*added=0 removed=0 changed=1 closedConnections=2")
    wait_until(lambda: conns(edge, "web") == 0, 1.5)
    web.wait_for(r"Register tunnel error from server side .*unauthorized", timeout=20)
    edge.wait_for(r"WRN Refused tunnel connection tunnel=\S+ .*reason=\"", timeout=5)
    assert get(edge, WEB) == "502"  # routed, but nobody may serve it now


def test_broken_file_keeps_state(env):
    tmp, origin, procs = env
    tunnels, cred = create_tunnel(tmp, "web", WEB)
    edge = Edge(tmp, tunnels)
    procs.append(edge)
    web = Connector(edge, cred, origin.url, ha=1, name="web")
    procs.append(web)
    edge.wait_for(r"INF Registered tunnel connection tunnel=web")
    good = tunnels.read_text()
    # A YAML error, then content errors: each refused with file and line.
    rewrite(tunnels, good + "  - id: [oops\n")
    line = edge.wait_for(r"ERR Tunnels file not reloaded")[0]
    assert f"file={tunnels} trigger=file changed" in line
    assert re.search(rf'reason="{re.escape(str(tunnels))}:\d+:\d+: ', line), line
    dup = good + good[good.index("  - id:"):].replace("name: \"web\"", "name: \"web2\"")
    rewrite(tunnels, dup)
    line = edge.wait_for(r"ERR Tunnels file not reloaded", count=2)[1]
    assert re.search(rf'{re.escape(str(tunnels))}:\d+(:\d+)?: ', line), line
    os.remove(tunnels)
    line = edge.wait_for(r"ERR Tunnels file not reloaded", count=3)[2]
    assert "does not exist" in line
    # Nothing changed meanwhile: the tunnel is served, its connection kept.
    assert get(edge, WEB) == "200"
    assert conns(edge, "web") == 1
    m = metrics(edge)
    assert edge.metric(m, 'warren_edge_tunnel_reloads_total{result="failed"}') == 3
    assert edge.metric(m, 'warren_edge_tunnel_reloads_total{result="ok"}') == 0
    # Fixed: reloaded, nothing to change.
    rewrite(tunnels, good)
    edge.wait_for(r"INF Reloaded tunnels .*added=0 removed=0 changed=0 closedConnections=0")
    assert conns(edge, "web") == 1 and get(edge, WEB) == "200"
