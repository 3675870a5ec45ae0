"""Bitswap between `warren daemon` and Helia 7 (@helia/bitswap, tests/npm-p2p
helia_peer.mjs: TCP, Noise, yamux, identify, no DHT): Helia fetches a
multi-block file from warren byte for byte; warren's cat, ls, pin add and dag
export fetch content only Helia holds; fetched blocks are unpinned (gc
collects them); --offline refuses; a provider killed mid-fetch leaves the
fetch to the other; a peer serving corrupted blocks is disconnected and the
block comes from elsewhere; --timeout ends a fetch nobody can serve."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import WARREN
from p2pdiag import NODE, NPM_P2P, Proc
from daemon import Daemon
from test_rpc_daemon import w

HELIA_JS = NPM_P2P / "helia_peer.mjs"
CHUNK = 262144


def swarm_daemon(tmp_path, name="repo"):
    repo = tmp_path / name
    assert w(repo, "init").returncode == 0
    d = Daemon(repo, "--swarm", "/ip4/127.0.0.1/tcp/0")
    m = re.search(r"Swarm listening address=(/ip4/127\.0\.0\.1/tcp/\d+/p2p/\S+)", d.output())
    assert m, d.output()
    d.swarm = m.group(1)
    return d


def helia(*args):
    assert NODE.exists(), "tests/npm-p2p is not installed: run make npm-deps"
    return Proc([NODE, HELIA_JS, *map(str, args)], cwd=NPM_P2P)


def helia_serve(path, dial, *extra):
    """A Helia node holding path, connected to dial; returns (proc, ready)."""
    p = helia("serve", path, "--chunk", CHUNK, "--dial", dial, *extra)
    ready = json.loads(p.wait_for(lambda l: '"ready"' in l or '"error"' in l, timeout=120))
    assert ready["event"] == "ready", ready
    return p, ready


def random_file(tmp_path, name, size):
    p = tmp_path / name
    p.write_bytes(os.urandom(size))
    return p


def wait_log(d, pattern, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, d.output())
        if m:
            return m
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in the daemon's log:\n{d.output()}")


def test_helia_fetches_from_warren(tmp_path):
    data = random_file(tmp_path, "f", 5 * 1024 * 1024 + 12345)
    d = swarm_daemon(tmp_path)
    try:
        # kubo's default layout: CIDv0, dag-pb leaves of 256 KiB (21 leaves).
        r = w(d.repo, "add", "-Q", data)
        assert r.returncode == 0, r.stderr
        cid = r.stdout.decode().strip()
        assert cid.startswith("Qm")
        out = tmp_path / "out"
        with helia("fetch", cid, out, "--dial", d.swarm, "--timeout", 60000) as h:
            ev = json.loads(h.wait_for(lambda l: '"fetched"' in l or '"error"' in l, timeout=90))
        assert ev["event"] == "fetched", ev
        assert ev["bytes"] == data.stat().st_size
        assert out.read_bytes() == data.read_bytes()
    finally:
        d.stop()


def test_warren_fetches_from_helia(tmp_path):
    data = random_file(tmp_path, "g", 5 * 1024 * 1024)
    d = swarm_daemon(tmp_path)
    try:
        with helia_serve(data, d.swarm)[0] as h:
            cid = json.loads(h.lines[-1])["cid"]
            # Offline, the repo alone: refused, nothing fetched.
            r = w(d.repo, "--offline", "cat", cid)
            assert r.returncode != 0
            assert b"not in the store" in r.stderr, r.stderr
            r = subprocess.run(["curl", "-s", "-X", "POST",
                                f"{d.url}/api/v0/cat?arg={cid}&offline=true"],
                               capture_output=True, timeout=30)
            assert b"not in the store" in r.stdout, r.stdout
            # Through the daemon: fetched with Bitswap.
            t0 = time.time()
            r = w(d.repo, "cat", cid, timeout=60)
            assert r.returncode == 0, r.stderr
            assert r.stdout == data.read_bytes()
            print(f"warren fetched 5 MiB from Helia in {time.time() - t0:.2f}s")
            # Cached: now the repo alone has it, unpinned.
            assert w(d.repo, "--offline", "cat", cid).stdout == data.read_bytes()
            assert cid not in w(d.repo, "pin", "ls").stdout.decode()
            # ls and a second cat are local now; ls names the 20 chunks.
            r = w(d.repo, "ls", cid)
            assert r.returncode == 0, r.stderr
            assert len(r.stdout.decode().splitlines()) == 20
    finally:
        d.stop()
    # gc collects what was fetched: 20 leaves and the root.
    r = w(d.repo, "gc")
    assert r.returncode == 0, r.stderr
    assert "removed 21 blocks" in r.stdout.decode(), r.stdout


def metric(d, name):
    """A counter of the daemon's /debug/metrics/prometheus (kubo's path)."""
    with urllib.request.urlopen(d.url + "/debug/metrics/prometheus", timeout=10) as r:
        m = re.search(rf"^{name} (\S+)$", r.read().decode(), re.M)
    assert m, name
    return float(m.group(1))


def test_fetch_spreads_over_every_provider(tmp_path):
    """Three warren daemons hold the same 96 MiB file (384 leaves); a fourth
    connected to all of them fetches it: each provider serves a share of the
    blocks (want-blocks go to the least loaded peer that said HAVE), and
    blocks do not come twice. The first read-ahead window (128 blocks) often goes
    whole to the peer that answered for the root first, before the others
    said HAVE; the windows after it are spread, hence a file of three."""
    data = random_file(tmp_path, "f", 96 * 1024 * 1024)
    provs, d = [], None
    try:
        for i in range(3):
            p = swarm_daemon(tmp_path, f"p{i}")
            provs.append(p)
            cid = w(p.repo, "add", "-Q", data).stdout.decode().strip()
        d = swarm_daemon(tmp_path, "fetcher")
        for p in provs:
            r = w(d.repo, "swarm", "connect", p.swarm)
            assert r.returncode == 0, r.stderr
        r = w(d.repo, "cat", cid, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout == data.read_bytes()
        sent = [metric(p, "warren_bitswap_blocks_sent_total") for p in provs]
        got = metric(d, "warren_bitswap_blocks_received_total")
        stat = w(provs[0].repo, "repo", "stat").stdout.decode()
        blocks = int(re.search(r"NumObjects:\s+(\d+)", stat).group(1))  # the file's DAG
        extra = {k: metric(d, "warren_bitswap_" + k) for k in
                 ("duplicate_blocks_total", "want_reasks_total", "want_timeouts_total")}
        print(f"blocks {blocks}: sent {sent}, received {got}, {extra}")
        assert got == blocks and sum(sent) >= blocks, (sent, got, blocks)
        # None came twice in 11 runs here; a want timed out on a loaded
        # machine moves, and may then come twice: a little slack for that.
        assert sum(sent) <= blocks * 1.02 and extra["duplicate_blocks_total"] <= blocks * 0.02, extra
        for n in sent:
            assert n >= blocks * 0.15, sent
    finally:
        for p in provs + [d]:
            if p:
                p.stop()


def test_pin_add_and_dag_export_fetch(tmp_path):
    data = random_file(tmp_path, "p", 3 * 1024 * 1024)
    d = swarm_daemon(tmp_path)
    try:
        with helia_serve(data, d.swarm)[0] as h:
            cid = json.loads(h.lines[-1])["cid"]
            # ls of a file only Helia holds: its 12 chunks, fetched to be listed.
            r = w(d.repo, "ls", cid, timeout=60)
            assert r.returncode == 0, r.stderr
            assert len(r.stdout.decode().splitlines()) == 12
            # get through the API (kubo-rpc-client's get): a tar of the file.
            r = subprocess.run(["curl", "-s", "-f", "-X", "POST", f"{d.url}/api/v0/get?arg={cid}"],
                               capture_output=True, timeout=60)
            assert r.returncode == 0, r.stderr
            (tmp_path / "x").mkdir()
            t = subprocess.run(["tar", "-x", "-C", str(tmp_path / "x")], input=r.stdout,
                               capture_output=True, timeout=30)
            assert t.returncode == 0, t.stderr
            assert (tmp_path / "x" / cid).read_bytes() == data.read_bytes()
            r = w(d.repo, "dag", "export", cid, timeout=60)
            assert r.returncode == 0, r.stderr
            car = r.stdout
            r = w(d.repo, "pin", "add", cid, timeout=60)
            assert r.returncode == 0, r.stderr
            assert cid in w(d.repo, "pin", "ls").stdout.decode()
        # The provider is gone: all of it is local, pinned, and the CAR the
        # daemon wrote is the one the repo alone writes.
        assert w(d.repo, "--offline", "cat", cid).stdout == data.read_bytes()
        assert w(d.repo, "--offline", "dag", "export", cid).stdout == car
    finally:
        d.stop()
    r = w(d.repo, "gc")
    assert "removed 0 blocks" in r.stdout.decode(), r.stdout


def start_cat(d, cid, *flags):
    """A `warren cat` through the daemon, unbuffered (communicate() reads the
    pipe itself afterwards)."""
    return subprocess.Popen([str(WARREN), "--repo", str(d.repo), *flags, "cat", cid],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)


def read_head(cat, n):
    """Reads the first n bytes of cat's output, so the fetch is under way but
    far from done (the read-ahead window is 128 blocks, the files have 256)."""
    head = b""
    while len(head) < n:
        chunk = cat.stdout.read(n - len(head))
        assert chunk, cat.stderr.read()
        head += chunk
    return head


def finish_cat(cat, timeout=120):
    try:
        rest, err = cat.communicate(timeout=timeout)
    finally:
        if cat.poll() is None:
            cat.kill()
            cat.wait()
    return rest, err


def written(p):
    """Bytes the process wrote so far (sockets included): a provider that
    sends blocks writes megabytes, one that answers HAVE a few kilobytes."""
    with open(f"/proc/{p.p.pid}/io") as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar in /proc/PID/io")


def serving(provs):
    """The one of provs (Helia serve processes) that has sent the most."""
    return max(provs, key=written)


def provider_fault(tmp_path, fault):
    """Two Helia providers of a 64 MiB file; `warren cat` reads a megabyte,
    then fault(p) hits the provider that serves it (a session asks first the
    peer that gave it the root: often one serves all). Returns (seconds from
    the fault to the end of the fetch, the daemon's log, the faulted peer's
    ID); the output must be complete and byte-exact."""
    size = 64 * 1024 * 1024
    data = random_file(tmp_path, "big", size)
    d = swarm_daemon(tmp_path)
    a = b = None
    try:
        a, ra = helia_serve(data, d.swarm)
        b, rb = helia_serve(data, d.swarm)
        assert ra["cid"] == rb["cid"]
        cat = start_cat(d, ra["cid"])
        try:
            head = read_head(cat, 1024 * 1024)
            victim = serving([a, b])
            fault(victim)
            t_fault = time.time()
        except BaseException:
            finish_cat(cat, timeout=1)
            raise
        rest, err = finish_cat(cat)
        took = time.time() - t_fault
        print(f"fetch finished {took:.2f}s after the fault")
        log = d.output()
        assert cat.returncode == 0, (err, log[-3000:])
        got = head + rest
        assert len(got) == size
        assert got == data.read_bytes()
        return took, log, (ra if victim is a else rb)["peerId"]
    finally:
        for p in (a, b):
            if p:
                if p.p.poll() is None:
                    p.p.send_signal(signal.SIGCONT)
                p.stop()
        d.stop()


def test_provider_killed_mid_fetch(tmp_path):
    took, log, aid = provider_fault(tmp_path, lambda a: a.p.send_signal(signal.SIGKILL))
    assert re.search(r"Peer disconnected peer=" + aid, log), log[-3000:]
    # The rest (about 60 MiB) comes from B; its wants move at once.
    assert took < 60


def test_provider_stopped_mid_fetch(tmp_path):
    """A provider that stops answering (SIGSTOP: its connection stays up, no
    FIN, no RST, until the keep-alive gives up 15-30 s on): its want-blocks
    move to the other provider once unanswered for the 5 s block timeout,
    and new ones go there while it is silent. Before, wants moved to the
    stopped peer from a busy one stayed there, and the fetch stalled past
    120 s in 2 of 3 runs; now it ends in 6-21 s on the loaded test machine."""
    took, log, aid = provider_fault(tmp_path, lambda a: a.p.send_signal(signal.SIGSTOP))
    assert took < 40, (took, log[-3000:])


def test_provider_that_loses_wants(tmp_path):
    """One provider whose first message of blocks fails as it is sent (as
    Helia's do when they cannot be sent within 10 s on a loaded machine): it
    counts them as sent and forgets the wants. They are asked of it again (it
    is the only one that has them) and the fetch completes; before, they were
    waited on until the fetch timed out."""
    size = 16 * 1024 * 1024
    data = random_file(tmp_path, "lost", size)
    d = swarm_daemon(tmp_path)
    a = None
    try:
        a, ra = helia_serve(data, d.swarm, "--lose-once")
        t0 = time.time()
        r = w(d.repo, "--timeout", "60s", "cat", ra["cid"], timeout=90)
        took = time.time() - t0
        print(f"fetch took {took:.2f}s")
        assert r.returncode == 0, (r.stderr, d.output()[-6000:])
        assert r.stdout == data.read_bytes()
        lost = json.loads(a.wait_for(lambda l: '"lost"' in l))
        assert lost["bytes"] > 65536
        assert took < 30, took
    finally:
        if a:
            a.stop()
        d.stop()
    # It went silent with the blocks owed, and was asked again.
    assert "Bitswap peer is silent; its wants move on peer=" + ra["peerId"] in d.final_output


def test_corrupt_peer_rejected(tmp_path):
    data = random_file(tmp_path, "c", 2 * 1024 * 1024)
    d = swarm_daemon(tmp_path)
    bad = good = None
    try:
        bad, rbad = helia_serve(data, d.swarm, "--corrupt")
        cid = rbad["cid"]
        # Only the corrupted peer at first: with a short timeout, no block.
        r = w(d.repo, "--timeout", "3s", "cat", cid, timeout=30)
        assert r.returncode != 0
        assert re.search(rb"was not found on the network in time", r.stderr), (r.stderr, d.output())
        wait_log(d, r"WRN Bitswap peer sent a block nobody wanted; disconnecting it peer=" +
                 rbad["peerId"])
        cat = subprocess.Popen([str(WARREN), "--repo", str(d.repo), "cat", cid],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # The bad peer reconnects to serve again; then a good one comes.
            bad.stop()
            bad, _ = helia_serve(data, d.swarm, "--corrupt")
            time.sleep(1)
            good, rgood = helia_serve(data, d.swarm)
            assert rgood["cid"] == cid
            out, err = cat.communicate(timeout=120)
        finally:
            if cat.poll() is None:
                cat.kill()
                cat.wait()
        assert cat.returncode == 0, err
        assert out == data.read_bytes()
        assert len(re.findall(r"Bitswap peer sent a block nobody wanted", d.output())) >= 2
        # Nothing corrupted was stored.
        r = w(d.repo, "--offline", "repo", "verify")
        assert r.returncode == 0, (r.stdout, r.stderr)
    finally:
        for p in (bad, good):
            if p:
                p.stop()
        d.stop()


def test_fetch_from_a_provider_found_through_the_dht(tmp_path):
    """B bootstraps from R; A, also bootstrapped from R, holds and announces
    the file. B is cut from A; B's cat: R says DONT_HAVE, the session asks
    the DHT for providers, dials A and fetches from it."""
    data = random_file(tmp_path, "d", 3 * 1024 * 1024)
    repos = {k: tmp_path / k for k in "rab"}
    for r in repos.values():
        assert w(r, "init").returncode == 0
    ds = []
    try:
        r = Daemon(repos["r"], "--swarm", "/ip4/127.0.0.1/tcp/0")
        ds.append(r)
        raddr = wait_log(r, r"Swarm listening address=(\S+)").group(1)
        a = Daemon(repos["a"], "--swarm", "/ip4/127.0.0.1/tcp/0", "--bootstrap", raddr)
        ds.append(a)
        b = Daemon(repos["b"], "--swarm", "/ip4/127.0.0.1/tcp/0", "--bootstrap", raddr)
        ds.append(b)
        for d in (a, b):
            wait_log(d, r"DHT bootstrap done peers=\d")
        aid = wait_log(a, r"Swarm listening address=\S+/p2p/(\S+)").group(1)
        cid = w(a.repo, "add", "-Q", data).stdout.decode().strip()
        # A announced it: R knows A as its provider.
        end = time.time() + 20
        while time.time() < end:
            got = w(b.repo, "routing", "findprovs", cid).stdout.decode().split()
            if aid in got:
                break
            time.sleep(0.2)
        assert aid in got
        # The bootstrap connected B to A as well: cut that, so only the
        # session's finder (a DHT lookup for providers) brings A back.
        w(b.repo, "swarm", "disconnect", aid)
        end = time.time() + 10
        while aid in w(b.repo, "swarm", "peers").stdout.decode() and time.time() < end:
            time.sleep(0.1)
        assert aid not in w(b.repo, "swarm", "peers").stdout.decode()
        r2 = w(b.repo, "--timeout", "30s", "cat", cid, timeout=60)
        assert r2.returncode == 0, r2.stderr
        assert r2.stdout == data.read_bytes()
        assert aid in w(b.repo, "swarm", "peers").stdout.decode()
    finally:
        for d in reversed(ds):
            d.stop()


def tree_of(root):
    """{relative path: bytes, "-> target" for a symlink, or None for a folder}."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = None
            else:
                out[rel] = open(p, "rb").read()
    return out


def test_cli_get_fetches_through_the_daemon(tmp_path):
    """`warren get` through a daemon fetches what the node lacks, as cat does:
    a folder tree (a 3 MiB file, an empty one, a symlink, a nested folder, a
    name over ustar's 100 bytes) added on daemon A is written by daemon B's
    CLI, connected to A, entry for entry; --offline refuses it first; a path
    inside it goes to its last part in the working folder; a CID nobody has
    fails at --timeout with the block named."""
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"hello\n")
    (src / "empty").write_bytes(b"")
    (src / "sub" / "big").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (src / "sub" / "deeper" / ("n" * 150)).write_bytes(b"long name\n")
    os.symlink("a.txt", src / "link")
    a = swarm_daemon(tmp_path, "a")
    b = None
    try:
        b = swarm_daemon(tmp_path, "b")
        r = w(a.repo, "add", "-r", "-Q", src)
        assert r.returncode == 0, r.stderr
        cid = r.stdout.decode().strip()
        assert w(b.repo, "swarm", "connect", a.swarm).returncode == 0
        out = tmp_path / "out"
        r = w(b.repo, "--offline", "get", cid, "-o", out)
        assert r.returncode != 0
        assert b"not in the store" in r.stderr, r.stderr
        assert not out.exists()
        t0 = time.time()
        r = w(b.repo, "get", cid, "-o", out, timeout=90)
        print(f"get through the daemon took {time.time() - t0:.2f}s")
        assert r.returncode == 0, (r.stderr, b.output()[-3000:])
        assert r.stderr.decode() == f"Saving file(s) to {out}\n"
        assert tree_of(out) == tree_of(src)
        # On a terminal, a progress line while the bytes come, cleared at the end.
        big = random_file(tmp_path, "bigf", 48 * 1024 * 1024)
        bigcid = w(a.repo, "add", "-Q", big).stdout.decode().strip()
        master, slave = os.openpty()
        p = subprocess.Popen([str(WARREN), "--repo", str(b.repo), "get", bigcid, "-o",
                              str(tmp_path / "bigout")], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        tty = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
        os.close(master)
        assert p.wait(timeout=90) == 0, tty
        assert (tmp_path / "bigout").read_bytes() == big.read_bytes()
        # The final figures stay on their line (as kubo's bar), the whole file counted.
        last = re.findall(rb"\r\x1b\[K([0-9.]+) MiB  [0-9.]+ MiB/s", tty)
        assert last and abs(float(last[-1]) - big.stat().st_size / 1048576) < 0.1, tty
        assert tty.endswith(b" MiB/s\r\nSaving file(s) to " + str(tmp_path / "bigout").encode() +
                            b"\r\n"), tty
        # B holds it now, unpinned: the repo alone writes the same tree.
        r = w(b.repo, "--offline", "get", cid, "-o", tmp_path / "again")
        assert r.returncode == 0, r.stderr
        assert tree_of(tmp_path / "again") == tree_of(src)
        assert cid not in w(b.repo, "pin", "ls").stdout.decode()
        # A path inside; the default destination is its last part.
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        r = subprocess.run([str(WARREN), "--repo", str(b.repo), "get", f"/ipfs/{cid}/sub/"],
                           cwd=cwd, capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert tree_of(cwd / "sub") == tree_of(src / "sub")
        # Content nobody has: the fetch ends at --timeout, naming the block.
        other = tmp_path / "other"
        assert w(other, "init").returncode == 0
        lone = random_file(tmp_path, "lone", 1000)
        missing = w(other, "add", "-Q", lone).stdout.decode().strip()
        t0 = time.time()
        r = w(b.repo, "--timeout", "3s", "get", missing, "-o", tmp_path / "none", timeout=60)
        assert r.returncode != 0
        assert time.time() - t0 < 30
        assert re.search(rb"block \S+ was not found on the network in time", r.stderr), r.stderr
        assert not (tmp_path / "none").exists()
        # A folder whose second file's block is gone everywhere: the first is
        # written, then the archive breaks off and the CLI says so.
        part = tmp_path / "part"
        part.mkdir()
        (part / "a").write_bytes(b"first\n")
        (part / "b").write_bytes(os.urandom(5000))
        pcid = w(a.repo, "add", "-r", "-Q", part).stdout.decode().strip()
        bcid = w(a.repo, "ls", pcid).stdout.decode().splitlines()[1].split()[0]
        assert w(a.repo, "pin", "rm", pcid).returncode == 0
        r = w(a.repo, "block", "rm", bcid)
        assert r.returncode == 0, r.stderr
        r = w(b.repo, "--timeout", "3s", "get", pcid, "-o", tmp_path / "partial", timeout=60)
        assert r.returncode != 0
        assert re.search(rb"get: the daemon's answer broke off after \d+ bytes", r.stderr), r.stderr
        assert (tmp_path / "partial" / "a").read_bytes() == b"first\n"
        assert re.search(r"API command failed mid-stream command=get error=\"\S+: block " + bcid +
                         " was not found on the network in time", b.output()), b.output()[-2000:]
    finally:
        if b:
            b.stop()
        a.stop()
