"""A peer that floods the DHT server with large messages on many streams
(tests/npm-p2p/kadflood.mjs, js-libp2p: 16 streams on /ipfs/kad/1.0.0, each
announcing a 4 MiB - 1 message and sending it) is held to the server's
per-peer buffer budget: the streams past it are reset and logged, the
node's peak memory grows by about the budget, not by the flood, and it keeps
answering other peers."""
import json
import subprocess
import urllib.error
import urllib.request

from conftest import WARREN
from daemon import Daemon
from dhtnodes import warren_dht
from p2pdiag import NODE, NPM_P2P

MIB = 1 << 20


def peak_rss(pid):
    """The process's peak resident set (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def flood(addr):
    assert NODE.exists(), "tests/npm-p2p is not installed: run make npm-deps"
    r = subprocess.run([str(NODE), "kadflood.mjs", addr, "--streams", "16"], cwd=NPM_P2P,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    [line] = [l for l in r.stdout.splitlines() if l.startswith("{")]
    return json.loads(line)


def flooded(*extra):
    """Runs a flood against a fresh server; returns (its growth in peak RSS,
    the flood's report, the server's log, whether a client could bootstrap
    from it afterwards)."""
    srv = warren_dht(*extra)
    try:
        before = peak_rss(srv.p.pid)
        report = flood(srv.addr)
        grew = peak_rss(srv.p.pid) - before
        client = warren_dht("--client", "--bootstrap", srv.addr)
        try:
            booted = client.wait_event("bootstrapped")["err"] == 0
        finally:
            client.stop()
        assert srv.p.poll() is None, "the server died"
    finally:
        srv.stop()
    return grew, report, srv.stderr, booted


def test_flood_is_held_to_the_peer_budget():
    grew, report, log, booted = flooded()
    print(f"default budget: peak RSS grew {grew / MIB:.1f} MiB; flood {report}")
    assert report["streams"] == 16
    assert report["failed"] >= 1, report  # the server reset streams under the flood
    assert "WRN DHT stream reset" in log and "reason=peer_buffer_limit" in log, log[-2000:]
    assert "peerLimit=5242880" in log
    # 16 x 4 MiB were offered; the budget is 5 MiB, the rest is the
    # transport's windows and allocator slack.
    assert grew < 24 * MIB, grew
    assert booted


def test_without_the_budget_the_same_flood_costs_the_whole_offer():
    """The same flood with the budgets (per peer and for the node) raised to
    1 GiB: the contrast that shows the measurement above measures them."""
    grew, report, log, booted = flooded("--peer-buffer-limit", str(1 << 30),
                                        "--server-buffer-limit", str(1 << 30))
    print(f"1 GiB budgets: peak RSS grew {grew / MIB:.1f} MiB; flood {report}")
    assert "_buffer_limit" not in log
    assert grew > 40 * MIB, grew
    assert booted


def metrics(daemon):
    with urllib.request.urlopen(daemon.url + "/debug/metrics/prometheus", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def sample(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_daemon_counts_the_refusals_in_its_metrics(tmp_path):
    """The daemon serves its registry at kubo's /debug/metrics/prometheus on
    the API port; a flood at its swarm address shows in
    warren_dht_server_refusals_total and the node keeps answering."""
    repo = tmp_path / "repo"
    assert subprocess.run([str(WARREN), "--repo", str(repo), "init"],
                          capture_output=True).returncode == 0
    d = Daemon(repo, "--routing", "dhtserver")
    try:
        ident = json.loads(subprocess.run([str(WARREN), "--repo", str(repo), "id"],
                                          capture_output=True, text=True).stdout)
        addr = ident["Addresses"][0]
        ref = 'warren_dht_server_refusals_total{reason="peer_buffer_limit"}'
        assert sample(metrics(d), ref) == 0
        report = flood(addr)
        assert report["failed"] >= 1, report
        after = metrics(d)
        refused = sample(after, ref)
        assert 1 <= refused <= report["failed"], after
        assert "WRN DHT stream reset" in d.output()
        client = warren_dht("--client", "--bootstrap", addr)
        try:
            assert client.wait_event("bootstrapped")["err"] == 0
        finally:
            client.stop()
        req = urllib.request.Request(d.url + "/debug/metrics/prometheus", method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("POST was answered")
        except urllib.error.HTTPError as e:
            assert e.code == 405
        assert d.proc.poll() is None
    finally:
        d.stop()
