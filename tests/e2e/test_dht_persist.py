"""What the daemon's DHT keeps in the repo (store/dhtdb): the /pk/ and /ipns/
records peers stored with PUT_VALUE, with their expiry, and the keys callers
asked it to provide, so a restarted daemon -- even one killed with SIGKILL a few
seconds after the put -- still answers for them."""
import base64
import json
import os
import signal
import subprocess
import time

from conftest import WARREN
from daemon import Daemon


def w(repo, *args, timeout=60, **kw):
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)],
                          capture_output=True, timeout=timeout, **kw)


def node_id(repo):
    return json.loads(w(repo, "id").stdout)


def wait_log(d, text, timeout=15):
    deadline = time.time() + timeout
    while text not in d.output() and time.time() < deadline:
        time.sleep(0.05)
    assert text in d.output(), d.output()


def record(repo, tmp_path, key, lifetime):
    """An IPNS record made in another repo (key `key`); returns (name, bytes)."""
    assert w(repo, "--offline", "key", "gen", key).returncode == 0
    r = w(repo, "--offline", "name", "publish", "--allow-offline", "-Q", "--key", key,
          "--lifetime", lifetime, "/ipfs/bafkqaaa", text=True)
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    rec = w(repo, "name", "get", key).stdout
    f = tmp_path / f"{key}.rec"
    f.write_bytes(rec)
    return name, f


def test_records_survive_a_kill(tmp_path):
    """Records put to a daemon with no peers live in its memory and, within the
    2 s flush, in the repo: after kill -9 and a restart a new peer gets the same
    bytes from it; an IPNS record whose EOL passed meanwhile is not served."""
    a_repo, b_repo, c_repo = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for r in (a_repo, b_repo, c_repo):
        assert w(r, "init").returncode == 0
    name, rec = record(c_repo, tmp_path, "site", "1h")
    short, short_rec = record(c_repo, tmp_path, "short", "4s")
    a = Daemon(a_repo)
    b = None
    try:
        aid = node_id(a_repo)
        pk = base64.b64decode(aid["PublicKey"])
        kf = tmp_path / "pk"
        kf.write_bytes(pk)
        # Nobody else takes them: they are kept here (the command says so).
        for key, f in ((f"/pk/{aid['ID']}", kf), (f"/ipns/{name}", rec),
                       (f"/ipns/{short}", short_rec)):
            w(a_repo, "routing", "put", key, f)
            r = w(a_repo, "routing", "get", key)
            assert r.returncode == 0 and r.stdout == f.read_bytes(), r.stderr
        time.sleep(4.5)  # a flush (every 2 s), and the short record's end
        a.stop(signal.SIGKILL)
        (a_repo / "api").unlink()  # left by the killed daemon: Daemon() waits for a new one
        a = Daemon(a_repo)
        wait_log(a, "Daemon is ready")
        # The two live ones; the expired one is refused by the validator.
        assert "DHT records restored records=2 refused=1" in a.output(), a.output()
        b = Daemon(b_repo, "--bootstrap", node_id(a_repo)["Addresses"][0])  # a new port
        wait_log(b, "DHT bootstrap done peers=1")
        r = w(b_repo, "routing", "get", f"/pk/{aid['ID']}")
        assert r.returncode == 0 and r.stdout == pk, r.stderr
        r = w(b_repo, "routing", "get", f"/ipns/{name}")
        assert r.returncode == 0 and r.stdout == rec.read_bytes(), r.stderr
        r = w(b_repo, "name", "resolve", name, text=True)
        assert r.returncode == 0 and r.stdout.strip() == "/ipfs/bafkqaaa", r.stderr
        r = w(b_repo, "routing", "get", f"/ipns/{short}")
        assert r.returncode != 0, r.stdout
        # A clean stop and start keeps them as well.
        b.stop()
        b = None
        assert a.stop() == 0
        a = Daemon(a_repo)
        assert "DHT records restored records=2" in a.output(), a.output()
    finally:
        if b:
            b.stop()
        a.stop()


def test_provided_keys_survive_a_restart(tmp_path):
    """Keys given to `routing provide` (unpinned content, which the start-up round
    over the pins would miss) are provided again after a restart, to a peer that
    never met the node before; a key whose block was removed meanwhile is
    dropped."""
    a_repo, b_repo = tmp_path / "a", tmp_path / "b"
    for r in (a_repo, b_repo):
        assert w(r, "init").returncode == 0
    f1, f2 = tmp_path / "one", tmp_path / "two"
    f1.write_bytes(os.urandom(300))
    f2.write_bytes(os.urandom(300))
    a = Daemon(a_repo)
    b = None
    try:
        aid = node_id(a_repo)
        cids = []
        for f in (f1, f2):
            cid = w(a_repo, "--offline", "add", "--pin=false", "--cid-version=1", "-Q", f,
                    text=True).stdout.strip()
            r = w(a_repo, "routing", "provide", cid, text=True)
            assert r.returncode == 0, r.stderr
            cids.append(cid)
        assert a.stop() == 0
        # The second block goes while the daemon is down.
        r = w(a_repo, "--offline", "block", "rm", cids[1], text=True)
        assert r.returncode == 0, r.stderr
        a = Daemon(a_repo)
        assert "Keys to provide restored keys=1 dropped=1" in a.output(), a.output()
        b = Daemon(b_repo, "--bootstrap", node_id(a_repo)["Addresses"][0])
        wait_log(b, "DHT bootstrap done peers=1")
        # A's round, retried when its first peer joins, tells B.
        wait_log(a, "DHT provide round done keys=1 lookups=1 messages=1")
        a.stop()
        r = w(b_repo, "routing", "findprovs", cids[0], text=True)
        assert r.stdout.split() == [aid["ID"]], (r.stdout, r.stderr)
        a = Daemon(a_repo)
        assert "Keys to provide restored keys=1 dropped=0" in a.output(), a.output()
    finally:
        if b:
            b.stop()
        a.stop()
