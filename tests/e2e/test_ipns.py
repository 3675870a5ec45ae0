"""IPNS records between warren and npm's `ipns` (js-ipns 10, run by
tests/npm/ipns.mjs): warren's records pass js-ipns's validator, js-ipns's
records are validated, stored and resolved by warren; tampered, expired and
oversize records are refused with their reasons; the higher sequence (then the
later validity) wins; keys live in the keystore as kubo keeps them."""
import base64
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, run_warren

NPM_DIR = ROOT / "tests" / "npm"
IPNS_MJS = NPM_DIR / "ipns.mjs"
CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


@pytest.fixture(scope="module")
def node():
    node = shutil.which("node")
    assert node, "node is missing: scripts/install-deps installs nodejs and npm"
    if not (NPM_DIR / "node_modules" / "ipns").exists():
        subprocess.run([shutil.which("npm"), "ci", "--no-audit", "--no-fund"], cwd=NPM_DIR,
                       check=True, capture_output=True, timeout=600)
    return node


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = tmp_path / "repo"
    monkeypatch.setenv("WARREN_PATH", str(r))
    return r


def js(node, *args):
    return subprocess.run([node, str(IPNS_MJS), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def js_create(node, tmp_path, out, value, seq, lifetime_ms=3600_000, mode="v1", ttl=None,
              key="jskey"):
    args = [tmp_path / key, out, value, seq, lifetime_ms, mode]
    if ttl is not None:
        args.append(ttl)
    p = js(node, "create", *args)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def w(*args, ok=True, **kw):
    p = run_warren(*args, **kw)
    if ok:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def self_name():
    for line in w("key", "list", "-l").stdout.splitlines():
        ident, name = line.split()
        if name == "self":
            return ident
    raise AssertionError("no self key listed")


def test_keys_like_kubo(warren_bin, repo):
    ident = w("key", "gen", "site").stdout.strip()
    assert ident.startswith("k51")
    # kubo's file name: "key_" + base32("site"), lower case, unpadded
    f = repo / "keystore" / ("key_" + base64.b32encode(b"site").decode().rstrip("=").lower())
    assert f.exists() and (f.stat().st_mode & 0o777) == 0o600
    assert f.read_bytes()[:4] == bytes([0x08, 0x01, 0x12, 0x40])  # PrivateKey, Ed25519
    assert w("key", "list").stdout.split() == ["self", "site"]
    assert f"{ident} site" in w("key", "list", "-l").stdout
    p = w("key", "gen", "site", ok=False)
    assert p.returncode == 1 and 'a key named "site" already exists' in p.stderr
    p = w("key", "gen", "self", ok=False)
    assert p.returncode == 1 and "is the node's own key" in p.stderr
    assert w("key", "rm", "site").stdout.strip() == "site"
    assert w("key", "list").stdout.split() == ["self"]
    p = w("key", "rm", "site", ok=False)
    assert p.returncode == 1 and 'no key named "site"' in p.stderr


def test_warren_records_pass_js_ipns(warren_bin, repo, node, tmp_path):
    p = w("name", "publish", CID, ok=False)
    assert p.returncode == 1 and "--allow-offline" in p.stderr
    out = w("name", "publish", "--allow-offline", "--lifetime", "2h", "--ttl", "90s",
            f"/ipfs/{CID}/a").stdout
    name = self_name()
    assert out.strip() == f"Published to {name}: /ipfs/{CID}/a"
    rec = tmp_path / "w.rec"
    rec.write_bytes(subprocess.run([str(warren_bin), "name", "get", "self"], capture_output=True,
                                   check=True).stdout)
    p = js(node, "validate", name, rec)
    assert p.returncode == 0, p.stdout + p.stderr
    got = json.loads(p.stdout)
    assert got["value"] == f"/ipfs/{CID}/a"
    assert got["sequence"] == "0"
    assert got["ttl"] == str(90 * 10**9)
    assert got["v1"] is True
    eol = time.mktime(time.strptime(got["validity"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(eol - (time.time() + 7200)) < 60
    # Same value again keeps the sequence (kubo); a new value takes the next.
    w("name", "publish", "--allow-offline", f"/ipfs/{CID}/a")
    rec.write_bytes(subprocess.run([str(warren_bin), "name", "get", "self"], capture_output=True,
                                   check=True).stdout)
    assert json.loads(js(node, "validate", name, rec).stdout)["sequence"] == "0"
    w("name", "publish", "--allow-offline", CID)
    rec.write_bytes(subprocess.run([str(warren_bin), "name", "get", "self"], capture_output=True,
                                   check=True).stdout)
    got = json.loads(js(node, "validate", name, rec).stdout)
    assert got["sequence"] == "1" and got["value"] == f"/ipfs/{CID}"
    # A named key, and the base58 form of its name.
    kid = w("key", "gen", "blog").stdout.strip()
    assert w("name", "publish", "--allow-offline", "--key", "blog", "-Q",
             "/ipfs/bafkqaaa").stdout.strip() == kid
    assert w("name", "resolve", "blog").stdout.strip() == "/ipfs/bafkqaaa"
    assert w("name", "resolve", f"/ipns/{kid}/x/y").stdout.strip() == "/ipfs/bafkqaaa/x/y"
    # js-ipns refuses warren's record for another name, and a tampered one.
    other = tmp_path / "b.rec"
    other.write_bytes(subprocess.run([str(warren_bin), "name", "get", "blog"],
                                     capture_output=True, check=True).stdout)
    p = js(node, "validate", name, other)
    assert p.returncode == 1 and "invalid" in p.stdout
    data = bytearray(rec.read_bytes())
    data[-3] ^= 1  # inside data's ValidityType/Validity: the V2 signature breaks
    rec.write_bytes(bytes(data))
    p = js(node, "validate", name, rec)
    assert p.returncode == 1 and "invalid" in p.stdout


def test_js_records_validated_and_resolved(warren_bin, repo, node, tmp_path):
    for mode in ("v1", "v2only"):
        rec = tmp_path / f"{mode}.rec"
        name = js_create(node, tmp_path, rec, f"/ipfs/{CID}", 5, mode=mode, ttl=30,
                         key=f"k-{mode}")
        assert name.startswith("k51")
        assert w("name", "resolve", "--record", rec, name).stdout.strip() == f"/ipfs/{CID}"
        out = w("name", "inspect", "--verify", name, rec).stdout
        assert "Sequence: 5" in out and "TTL: 30000000000" in out and "Valid: true" in out
        assert ("Signature V1: (none)" in out) == (mode == "v2only")
        assert w("name", "put", name, rec).stdout.strip() == "stored"
        assert w("name", "resolve", name).stdout.strip() == f"/ipfs/{CID}"
        assert w("name", "resolve", f"/ipns/{name}/dir/f").stdout.strip() == f"/ipfs/{CID}/dir/f"
        # The kept file is js-ipns's bytes, and js-ipns still validates it.
        got = tmp_path / "got.rec"
        got.write_bytes(subprocess.run([str(warren_bin), "name", "get", name],
                                       capture_output=True, check=True).stdout)
        assert got.read_bytes() == rec.read_bytes()
        assert js(node, "validate", name, got).returncode == 0


def test_bad_records_refused_with_reasons(warren_bin, repo, node, tmp_path):
    good = tmp_path / "good.rec"
    name = js_create(node, tmp_path, good, f"/ipfs/{CID}", 1)
    other = js_create(node, tmp_path, tmp_path / "o.rec", f"/ipfs/{CID}", 1, key="other")

    def refused(path, nm, reason):
        p = w("name", "resolve", "--record", path, nm, ok=False)
        assert p.returncode == 1, p.stdout
        assert reason in p.stderr, p.stderr
        p = w("name", "put", nm, path, ok=False)
        assert p.returncode == 1 and reason in p.stderr, p.stderr

    # A record of another key.
    refused(good, other, "does not verify with the name's key")
    # Tampered: the last byte sits in data (ValidityType) or its signature.
    raw = good.read_bytes()
    bad = tmp_path / "bad.rec"
    i = raw.rfind(b"/ipfs/")  # data's copy of the value
    bad.write_bytes(raw[:i + 7] + bytes([raw[i + 7] ^ 1]) + raw[i + 8:])
    refused(bad, name, "differs from its signed data")
    v2only = tmp_path / "v2.rec"
    js_create(node, tmp_path, v2only, f"/ipfs/{CID}", 1, mode="v2only")
    raw = v2only.read_bytes()
    i = raw.rfind(b"/ipfs/")
    bad.write_bytes(raw[:i + 7] + bytes([raw[i + 7] ^ 1]) + raw[i + 8:])
    refused(bad, name, "signatureV2 does not verify")
    p = js(node, "validate", name, bad)
    assert p.returncode == 1 and "invalid" in p.stdout  # js-ipns agrees
    # Expired: a lifetime of 1 ms.
    old = tmp_path / "old.rec"
    js_create(node, tmp_path, old, f"/ipfs/{CID}", 2, lifetime_ms=1)
    time.sleep(0.05)
    refused(old, name, "the record has expired")
    # Oversize: a value that makes the record pass 10 KiB.
    big = tmp_path / "big.rec"
    js_create(node, tmp_path, big, "/ipfs/" + CID + "/" + "a" * 6000, 3)
    assert big.stat().st_size > 10240
    refused(big, name, "larger than 10 KiB")
    p = w("name", "inspect", big, ok=False)
    assert p.returncode == 1 and "larger than 10 KiB" in p.stderr
    # Garbage and a truncated record.
    (tmp_path / "junk").write_bytes(b"\x0a\x05hello")
    p = w("name", "inspect", tmp_path / "junk", ok=False)
    assert p.returncode == 1 and "not a valid IPNS record" in p.stderr
    trunc = tmp_path / "trunc.rec"
    trunc.write_bytes(good.read_bytes()[:-10])
    p = w("name", "inspect", trunc, ok=False)
    assert p.returncode == 1 and "not a valid IPNS record" in p.stderr
    # Nothing bad was stored.
    p = w("name", "resolve", name, ok=False)
    assert p.returncode == 1 and "no record for" in p.stderr


def test_selection_by_sequence_then_validity(warren_bin, repo, node, tmp_path):
    r5 = tmp_path / "r5.rec"
    r7 = tmp_path / "r7.rec"
    r7late = tmp_path / "r7late.rec"
    name = js_create(node, tmp_path, r7, "/ipfs/bafkqaaa/seven", 7, lifetime_ms=600_000)
    js_create(node, tmp_path, r5, "/ipfs/bafkqaaa/five", 5, lifetime_ms=3600_000)
    js_create(node, tmp_path, r7late, "/ipfs/bafkqaaa/seven-later", 7, lifetime_ms=7200_000)
    assert w("name", "put", name, r7).stdout.strip() == "stored"
    # A lower sequence loses even with a later validity.
    assert "newer" in w("name", "put", name, r5).stdout
    assert w("name", "resolve", name).stdout.strip() == "/ipfs/bafkqaaa/seven"
    # Same sequence, later validity wins; the earlier one then loses.
    assert w("name", "put", name, r7late).stdout.strip() == "stored"
    assert "newer" in w("name", "put", name, r7).stdout
    assert w("name", "resolve", name).stdout.strip() == "/ipfs/bafkqaaa/seven-later"


def test_recursive_names(warren_bin, repo, tmp_path):
    kid = w("key", "gen", "inner").stdout.strip()
    w("name", "publish", "--allow-offline", "--key", "inner", f"/ipfs/{CID}")
    w("name", "publish", "--allow-offline", f"/ipns/{kid}/sub")
    assert w("name", "resolve").stdout.strip() == f"/ipfs/{CID}/sub"
    assert w("name", "resolve", "-r=false").stdout.strip() == f"/ipns/{kid}/sub"
    # A name with no record, and a name that is not a key.
    w("key", "rm", "inner")
    p = w("name", "resolve", "/ipns/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
          ok=False)
    assert p.returncode == 1 and "libp2p-key" in p.stderr


def rpc(url, cmd, **q):
    """POSTs kubo's /api/v0/CMD with query q (lists repeat); (status, JSON)."""
    args = []
    for k, v in q.items():
        for one in v if isinstance(v, list) else [v]:
            args += ["--data-urlencode", f"{k}={one}"]
    r = subprocess.run(["curl", "-s", "-G", "-X", "POST", "-w", "\n%{http_code}", *args,
                        f"{url}/api/v0/{cmd}"], capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    return int(code), json.loads(body)


def test_rpc_api_kubo_shapes(warren_bin, tmp_path, node, monkeypatch):
    from daemon import Daemon
    repo = tmp_path / "repo"
    monkeypatch.setenv("WARREN_PATH", str(repo))
    w("init")
    d = Daemon(repo)
    try:
        code, got = rpc(d.url, "key/gen", arg="site", type="ed25519")
        assert code == 200 and got["Name"] == "site" and got["Id"].startswith("k51"), got
        site = got["Id"]
        code, got = rpc(d.url, "key/list", l="true")
        assert code == 200
        assert [k["Name"] for k in got["Keys"]] == ["self", "site"]
        assert got["Keys"][0]["Id"] == self_name()  # the CLI reads the same repo
        code, got = rpc(d.url, "key/gen", arg="self")
        assert code == 400 and got["Type"] == "error" and "node's own key" in got["Message"]
        code, got = rpc(d.url, "name/publish", arg=f"/ipfs/{CID}", key="site", lifetime="1h",
                        ttl="5m")
        assert code == 200 and got == {"Name": site, "Value": f"/ipfs/{CID}"}, got
        code, got = rpc(d.url, "name/resolve", arg=f"/ipns/{site}/a")
        assert code == 200 and got == {"Path": f"/ipfs/{CID}/a"}
        code, got = rpc(d.url, "name/publish", arg=CID)  # self
        assert code == 200 and got["Name"] == self_name()
        code, got = rpc(d.url, "name/resolve")
        assert code == 200 and got == {"Path": f"/ipfs/{CID}"}
        code, got = rpc(d.url, "name/publish", arg="/ipfs/notacid")
        assert code >= 400 and got["Type"] == "error"
        code, got = rpc(d.url, "name/resolve", arg="/ipns/" + CID)
        assert code == 400 and "libp2p-key" in got["Message"]
        # The daemon's record is the CLI's, and js-ipns validates it.
        assert w("name", "resolve", "site").stdout.strip() == f"/ipfs/{CID}"
        rec = tmp_path / "site.rec"
        rec.write_bytes(subprocess.run([str(warren_bin), "name", "get", "site"],
                                       capture_output=True, check=True).stdout)
        got = json.loads(js(node, "validate", site, rec).stdout)
        assert got["ttl"] == str(300 * 10**9) and got["value"] == f"/ipfs/{CID}"
        # The CLI goes through the running daemon (no --allow-offline needed there).
        out = w("name", "publish", "--key", "site", "--lifetime", "3h", "/ipfs/bafkqaaa").stdout
        assert out.strip() == f"Published to {site}: /ipfs/bafkqaaa"
        assert w("name", "resolve", "site").stdout.strip() == "/ipfs/bafkqaaa"
        assert w("name", "resolve", f"/ipns/{site}/x").stdout.strip() == "/ipfs/bafkqaaa/x"
        rec.write_bytes(subprocess.run([str(warren_bin), "name", "get", "site"],
                                       capture_output=True, check=True).stdout)
        got = json.loads(js(node, "validate", site, rec).stdout)
        assert got["sequence"] == "1" and got["ttl"] == str(3600 * 10**9)
        eol = time.mktime(time.strptime(got["validity"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        assert abs(eol - (time.time() + 3 * 3600)) < 60
        p = w("name", "publish", "/ipfs/notacid", ok=False)
        assert p.returncode == 1 and "notacid" in p.stderr
        p = w("name", "resolve", "/ipns/k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w",
              ok=False)
        assert p.returncode == 1 and "no record for" in p.stderr
        assert w("--offline", "name", "resolve", "site").stdout.strip() == "/ipfs/bafkqaaa"
        code, got = rpc(d.url, "key/rm", arg="site")
        assert code == 200 and got == {"Keys": [{"Name": "site", "Id": site}]}
        code, got = rpc(d.url, "key/rm", arg="site")
        assert code == 500 and 'no key named "site"' in got["Message"]
    finally:
        d.stop()


FIXTURES = ROOT / "tests" / "fixtures" / "ipns"
# gateway-conformance's expectations: V1-only records, a broken V2 signature
# and a V1 value that differs from data are refused; a broken V1 signature is
# ignored (V2 is what counts).
REFUSED = {"v1": "no signatureV2", "v1-v2-broken-signature-v2": "signatureV2 does not verify",
           "v1-v2-broken-v1-value": "value differs from its signed data"}


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.ipns-record")), ids=lambda p: p.name[:60])
def test_gateway_conformance_records(warren_bin, repo, node, path):
    stem = path.name[:-len(".ipns-record")]
    name, _, kind = stem.partition("_")
    p = w("name", "resolve", "--record", path, name, ok=False)
    js_ok = js(node, "validate", name, path).returncode == 0
    if name.startswith("Qm"):
        # An RSA key: js-ipns verifies it; warren verifies Ed25519 only.
        assert js_ok
        assert p.returncode == 1 and "not Ed25519" in p.stderr
        return
    if kind in REFUSED:
        assert p.returncode == 1 and REFUSED[kind] in p.stderr, p.stderr
        assert not js_ok
        return
    assert p.returncode == 0, p.stderr
    assert js_ok
    value = p.stdout.strip()
    assert value.startswith("/ipfs/")
    # Kept and resolved from the repo like any other record.
    assert w("name", "put", name, path).stdout.strip() == "stored"
    assert w("name", "resolve", name).stdout.strip() == value


def test_names_through_dnslink(warren_bin, repo, tmp_path):
    from dnsmasq import Dnsmasq
    d = Dnsmasq(tmp_path, [("_dnslink.site.test", f"dnslink=/ipfs/{CID}/www")])
    try:
        kid = w("key", "gen", "dns").stdout.strip()
        w("name", "publish", "--allow-offline", "--key", "dns", "/ipns/site.test/docs")
        r = w("name", "resolve", "--dns-resolver", d.addr, "dns")
        assert r.stdout.strip() == f"/ipfs/{CID}/www/docs"
        r = w("name", "resolve", "--dns-resolver", d.addr, "-r=false", "dns")
        assert r.stdout.strip() == "/ipns/site.test/docs"
        r = w("name", "resolve", "--dns-resolver", d.addr, "site.test")
        assert r.stdout.strip() == f"/ipfs/{CID}/www"
        # `warren resolve` takes IPNS keys too, and follows them into DNSLink.
        r = run_warren("resolve", "--dns-resolver", d.addr, f"/ipns/{kid}/a")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"/ipfs/{CID}/www/docs/a"
        w("name", "publish", "--allow-offline", "--key", "dns", f"/ipfs/{CID}")
        r = run_warren("resolve", "--dns-resolver", d.addr, f"/ipns/{kid}")
        assert r.stdout.strip() == f"/ipfs/{CID}"
        r = run_warren("resolve", "--dns-resolver", d.addr, "/ipns/k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w")
        assert r.returncode == 1 and "no record for" in r.stderr
    finally:
        d.stop()


def test_records_through_the_dht(warren_bin, tmp_path, node):
    """Daemon B bootstraps from daemon A; a record A publishes goes into the DHT
    with `routing put /ipns/NAME` (checked by the /ipns/ validator) and B gets the
    same bytes back, keeps and resolves them; a tampered or expired record is
    refused by the validator; `name publish` puts and `name resolve` gets through
    the daemons by themselves."""
    from daemon import Daemon

    def wr(repo, *args):
        return subprocess.run([str(warren_bin), "--repo", str(repo), *map(str, args)],
                              capture_output=True, timeout=60)

    a_repo, b_repo = tmp_path / "a", tmp_path / "b"
    for r in (a_repo, b_repo):
        assert wr(r, "init").returncode == 0
    a = Daemon(a_repo)
    b = None
    try:
        aid = json.loads(wr(a_repo, "id").stdout)
        b = Daemon(b_repo, "--bootstrap", aid["Addresses"][0])
        deadline = time.time() + 10
        while "DHT bootstrap done" not in b.output() and time.time() < deadline:
            time.sleep(0.05)
        assert "DHT bootstrap done peers=1" in b.output(), b.output()
        r = wr(a_repo, "name", "publish", "-Q", f"/ipfs/{CID}")
        assert r.returncode == 0, r.stderr
        name = r.stdout.decode().strip()
        rec = tmp_path / "a.rec"
        rec.write_bytes(wr(a_repo, "name", "get", "self").stdout)
        r = wr(a_repo, "routing", "put", f"/ipns/{name}", rec)
        assert r.returncode == 0, r.stderr
        r = wr(b_repo, "routing", "get", f"/ipns/{name}")
        assert r.returncode == 0 and r.stdout == rec.read_bytes(), r.stderr
        got = tmp_path / "b.rec"
        got.write_bytes(r.stdout)
        assert wr(b_repo, "name", "put", name, got).returncode == 0
        assert wr(b_repo, "--offline", "name", "resolve", name).stdout.decode().strip() == \
            f"/ipfs/{CID}"
        # The validator refuses a tampered record and an expired one.
        raw = rec.read_bytes()
        i = raw.rfind(b"/ipfs/")
        bad = tmp_path / "bad.rec"
        bad.write_bytes(raw[:i + 7] + bytes([raw[i + 7] ^ 1]) + raw[i + 8:])
        r = wr(a_repo, "routing", "put", f"/ipns/{name}", bad)
        assert r.returncode != 0 and b"not valid" in r.stderr, r.stderr
        old = tmp_path / "old.rec"
        jsname = js_create(node, tmp_path, old, f"/ipfs/{CID}", 9, lifetime_ms=1)
        time.sleep(0.05)
        r = wr(a_repo, "routing", "put", f"/ipns/{jsname}", old)
        assert r.returncode != 0 and b"not valid" in r.stderr, r.stderr
        # A record of the right name from js-ipns goes through too.
        fresh = tmp_path / "fresh.rec"
        js_create(node, tmp_path, fresh, "/ipfs/bafkqaaa", 10)
        r = wr(a_repo, "routing", "put", f"/ipns/{jsname}", fresh)
        assert r.returncode == 0, r.stderr
        r = wr(b_repo, "routing", "get", f"/ipns/{jsname}")
        assert r.returncode == 0 and r.stdout == fresh.read_bytes()
        # name publish on A's daemon puts the record; name resolve on B's daemon,
        # which holds no record of the name, gets it from the DHT.
        kid = wr(a_repo, "key", "gen", "net").stdout.decode().strip()
        r = wr(a_repo, "name", "publish", "--key", "net", f"/ipfs/{CID}/net")
        assert r.returncode == 0, r.stderr
        assert wr(b_repo, "--offline", "name", "resolve", kid).returncode == 1
        r = wr(b_repo, "name", "resolve", kid)
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().strip() == f"/ipfs/{CID}/net"
        # B kept it: it resolves offline now, and it is A's record byte for byte.
        assert wr(b_repo, "--offline", "name", "resolve", kid).stdout.decode().strip() == \
            f"/ipfs/{CID}/net"
        assert wr(b_repo, "name", "get", kid).stdout == wr(a_repo, "name", "get", "net").stdout
    finally:
        for d in (a, b):
            if d:
                d.stop()
