"""`warren daemon` runs the libp2p peer: its identity and listen addresses in
`id`, and kubo's swarm and ping commands against a real js-libp2p 3 peer
(tests/npm-p2p), through warren's CLI and through npm's kubo-rpc-client."""
import json
import os
import pathlib
import re
import subprocess
import time

import pytest

from conftest import ROOT, WARREN
from daemon import Daemon
from p2pdiag import js_peer, json_lines

NPM_RPC = ROOT / "tests" / "npm-rpc"


def w(repo, *args, timeout=60):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def daemon(tmp_path):
    repo = tmp_path / "repo"
    assert w(repo, "init").returncode == 0
    d = Daemon(repo)
    yield d
    d.stop()


def js_listening():
    """A js-libp2p peer listening on loopback; returns (proc, its address)."""
    js = js_peer("listen")
    started = next(e for e in json_lines([js.readline()]) if e["event"] == "started")
    addr = next(a for a in started["addrs"] if "/tcp/" in a)
    return js, addr


def test_id_reports_the_running_peer(daemon):
    offline = json.loads(w(daemon.repo, "--offline", "id").stdout)
    online = json.loads(w(daemon.repo, "id").stdout)
    assert online["ID"] == offline["ID"] and online["PublicKey"] == offline["PublicKey"]
    assert offline["Addresses"] is None
    assert len(online["Addresses"]) == 1
    assert re.fullmatch(rf"/ip4/127\.0\.0\.1/tcp/\d+/p2p/{online['ID']}", online["Addresses"][0])
    assert {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"} <= set(online["Protocols"])
    listen = w(daemon.repo, "swarm", "addrs", "listen").stdout.split()
    assert listen == [online["Addresses"][0].split("/p2p/")[0]]


def test_daemon_runs_on_huge_page_heaps(daemon, tmp_path):
    """The daemon executes itself again with glibc's allocator tuned for bulk
    (base/mem.h): same process, still named warren, global flags kept."""
    pid = daemon.proc.pid
    env = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    # glibc cuts the variable at its first ':' while it parses it.
    assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in env, env
    assert pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == "warren"
    cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"--repo" in cmdline and b"daemon" in cmdline, cmdline
    # A tuning of the user's own is kept, and nothing is executed again.
    repo = tmp_path / "own"
    assert w(repo, "init").returncode == 0
    own = subprocess.Popen([str(WARREN), "--repo", str(repo), "daemon", "--api", "127.0.0.1:0",
                            "--swarm", "/ip4/127.0.0.1/tcp/0"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL,
                           env={**os.environ, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})
    try:
        for _ in range(200):
            if (repo / "api").exists():
                break
            time.sleep(0.025)
        env = pathlib.Path(f"/proc/{own.pid}/environ").read_bytes().split(b"\0")
        assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=0" in env, env
    finally:
        own.terminate()
        own.wait(timeout=15)


def test_cli_swarm_and_ping_with_js_libp2p(daemon):
    js, addr = js_listening()
    with js:
        jid = addr.rsplit("/p2p/", 1)[1]
        r = w(daemon.repo, "swarm", "connect", addr)
        assert r.returncode == 0 and r.stdout == f"connect {jid} success\n", r.stderr
        peers = w(daemon.repo, "swarm", "peers").stdout.splitlines()
        assert peers == [addr]
        r = w(daemon.repo, "ping", "-n", "3", jid)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == f"PING {jid}."
        assert len([l for l in lines if re.fullmatch(r"Pong received: time=\d+\.\d\d ms", l)]) == 3
        assert lines[-1].startswith("Average latency: ")
        other = json.loads(w(daemon.repo, "id", jid).stdout)
        assert other["ID"] == jid and other["AgentVersion"].startswith("js-libp2p/")
        assert "/ipfs/ping/1.0.0" in other["Protocols"]
        r = w(daemon.repo, "swarm", "disconnect", jid)
        assert r.returncode == 0 and r.stdout == f"disconnect {jid} success\n"
        assert w(daemon.repo, "swarm", "peers").stdout == ""
        # a wrong peer ID at the right address is refused by the Noise handshake
        wrong = addr.rsplit("/p2p/", 1)[0] + "/p2p/" + json.loads(w(daemon.repo, "id").stdout)["ID"]
        r = w(daemon.repo, "swarm", "connect", wrong)
        assert r.returncode == 1 and "failure" in r.stderr


def test_js_dials_the_daemon(daemon):
    me = json.loads(w(daemon.repo, "id").stdout)
    with js_peer("dial", me["Addresses"][0], "--ping", "2") as js:
        assert js.p.wait(timeout=60) == 0
    ev = json_lines(js.lines)
    ident = [e for e in ev if e["event"] == "identify"]
    assert ident and ident[0]["peer"] == me["ID"] and ident[0]["agent"] == "warren/0.1.0"
    assert [e["i"] for e in ev if e["event"] == "ping"] == [1, 2]


def test_kubo_rpc_client_drives_swarm_and_ping(daemon):
    js, addr = js_listening()
    with js:
        r = subprocess.run(["node", "swarm.mjs", daemon.url, addr], cwd=NPM_RPC,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
    jid = addr.rsplit("/p2p/", 1)[1]
    assert out["peers"] == [{"addr": addr.split("/p2p/")[0], "peer": jid}]
    assert [p["success"] for p in out["pings"]] == [False, True, True, True, True]
    assert all(p["time"] > 0 for p in out["pings"][1:4])
    assert out["other"]["id"] == jid and out["other"]["agent"].startswith("js-libp2p/")
    assert out["after"] == 0
    assert out["id"]["addresses"][0].endswith("/p2p/" + out["id"]["id"])


def test_swarm_commands_need_the_daemon(tmp_path):
    r = w(tmp_path / "repo", "swarm", "peers")
    assert r.returncode == 1 and "start `warren daemon` first" in r.stderr
