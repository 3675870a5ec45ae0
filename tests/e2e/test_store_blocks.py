"""End-to-end tests of the block store: block put/get/stat/rm, pins, gc,
corruption detection and bad input, on the real build/warren with a temp repo."""
import os
import pathlib
import re

import pytest

from conftest import run_warren

HELLO = b"hello world\n"
HELLO_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
EMPTY_DIR_V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"  # dag-pb block 0a020801
EMPTY_DIR_V1 = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


@pytest.fixture
def repo(tmp_path, warren_bin):
    return tmp_path / "repo"


def w(repo, *args, input=None, **kw):
    """Runs warren against repo; input bytes go to stdin; returns CompletedProcess (bytes)."""
    import subprocess
    from conftest import WARREN
    return subprocess.run([str(WARREN), "--repo", str(repo), *map(str, args)], input=input,
                          capture_output=True, timeout=60, **kw)


def put(repo, data, *flags):
    r = w(repo, "block", "put", *flags, input=data)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def dagpb_node(links, data=b""):
    """Encodes a dag-pb node (links: binary CIDs) by hand, independently of warren."""
    def varint(n):
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    out = b""
    for cid in links:
        link = b"\x0a" + varint(len(cid)) + cid + b"\x12\x00"  # Hash, empty Name
        out += b"\x12" + varint(len(link)) + link
    unixfs = b"\x08\x01"  # UnixFS Directory
    out += b"\x0a" + varint(len(unixfs) + len(data)) + unixfs + data
    return out


def cid_bytes_of_raw(data):
    import hashlib
    return b"\x01\x55\x12\x20" + hashlib.sha256(data).digest()


def test_init_is_idempotent(repo):
    r = w(repo, "init")
    assert r.returncode == 0 and b"initialized warren repo at" in r.stdout
    r = w(repo, "init")
    assert r.returncode == 0 and b"already exists" in r.stdout
    assert (repo / "store" / "data.mdb").exists()


def test_repo_from_env(tmp_path):
    import subprocess
    from conftest import WARREN
    env = dict(os.environ, WARREN_PATH=str(tmp_path / "envrepo"))
    r = subprocess.run([str(WARREN), "block", "put"], input=HELLO, env=env, capture_output=True)
    assert r.returncode == 0 and r.stdout.decode().strip() == HELLO_RAW
    assert (tmp_path / "envrepo" / "store" / "data.mdb").exists()


def test_block_put_get_stat_rm_round_trip(repo):
    assert put(repo, HELLO) == HELLO_RAW
    assert put(repo, HELLO, "--cid-codec", "raw", "--mhtype", "sha2-256") == HELLO_RAW
    r = w(repo, "block", "get", HELLO_RAW)
    assert r.returncode == 0 and r.stdout == HELLO
    r = w(repo, "block", "stat", HELLO_RAW)
    assert r.stdout.decode() == f"Key: {HELLO_RAW}\nSize: 12\n"
    # dag-pb: the same bytes under CIDv1 and CIDv0 are one block (keyed by multihash).
    assert put(repo, bytes.fromhex("0a020801"), "--cid-codec", "dag-pb") == EMPTY_DIR_V1
    r = w(repo, "block", "get", EMPTY_DIR_V0)
    assert r.returncode == 0 and r.stdout == bytes.fromhex("0a020801")
    r = w(repo, "block", "rm", HELLO_RAW)
    assert r.returncode == 0 and r.stdout.decode() == f"removed {HELLO_RAW}\n"
    r = w(repo, "block", "get", HELLO_RAW)
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == (f"warren: block get: cannot read {HELLO_RAW}: "
                                 "block not found in the local store.\n")
    r = w(repo, "block", "rm", HELLO_RAW)
    assert r.returncode == 1 and b"block not found" in r.stderr
    assert w(repo, "block", "rm", "-f", HELLO_RAW).returncode == 0


def test_block_put_binary_and_limits(repo):
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    cid = put(repo, data)
    assert w(repo, "block", "get", cid).stdout == data
    big = b"x" * (4 * 1024 * 1024 + 1)
    r = w(repo, "block", "put", input=big)
    assert r.returncode == 1
    assert r.stderr.decode() == "warren: block put: the block is larger than the 4194304-byte limit.\n"
    r = w(repo, "block", "put", "--cid-codec", "dag-pb", input=b"\xff\xff")
    assert r.returncode == 1 and b"not a valid dag-pb block" in r.stderr
    r = w(repo, "block", "put", "--mhtype", "md5", input=b"x")
    assert r.returncode == 2 and b"--mhtype supports only sha2-256" in r.stderr


@pytest.mark.parametrize("bad,why", [
    ("notacid", "unknown multibase prefix"),
    ("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei", ""),  # truncated
    ("Qm1111", ""),
    ("", ""),
])
def test_invalid_cid(repo, bad, why):
    put(repo, HELLO)
    for cmd in (["block", "get"], ["block", "stat"], ["block", "rm"], ["pin", "add"],
                ["pin", "rm"]):
        r = w(repo, *cmd, bad)
        assert r.returncode == 1, (cmd, r)
        err = r.stderr.decode()
        assert err.startswith(f"warren: {cmd[0]} {cmd[1]}: invalid CID \"{bad}\": "), err
        assert why in err
        assert err.count("\n") == 1
    assert w(repo, "block", "get", HELLO_RAW).stdout == HELLO  # nothing lost


def corrupt_in_place(repo, payload):
    """Flips one bit of payload inside LMDB's data file (every copy of it)."""
    data_mdb = repo / "store" / "data.mdb"
    raw = bytearray(data_mdb.read_bytes())
    hits = [m.start() for m in re.finditer(re.escape(payload), raw)]
    assert hits, "payload not found in data.mdb"
    for h in hits:
        raw[h + 3] ^= 0x01
    data_mdb.write_bytes(raw)


def test_corrupted_block_is_detected(repo):
    payload = b"warren corruption canary " + os.urandom(16).hex().encode() + b" end"
    cid = put(repo, payload)
    put(repo, HELLO)
    corrupt_in_place(repo, payload)
    for cmd in (["block", "get"], ["block", "stat"]):
        r = w(repo, *cmd, cid)
        assert r.returncode == 1 and r.stdout == b""
        err = r.stderr.decode()
        assert f"warren: {cmd[0]} {cmd[1]}: cannot" in err and cid in err
        assert "corrupted (its bytes do not match its hash)" in err
        assert re.search(r"ERR Stored block is corrupted.*block=" + cid, err)
    assert w(repo, "block", "get", HELLO_RAW).stdout == HELLO  # the rest is fine


def test_gc_refuses_when_a_pinned_node_is_corrupt(repo):
    leaf = put(repo, HELLO)
    payload = b"node canary " + os.urandom(16).hex().encode()
    root = put(repo, dagpb_node([cid_bytes_of_raw(HELLO)], payload), "--cid-codec", "dag-pb")
    assert w(repo, "pin", "add", root).returncode == 0
    garbage = put(repo, b"garbage\n")
    corrupt_in_place(repo, payload)
    r = w(repo, "gc")
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert re.search(r"ERR Stored block is corrupted.*block=", lines[0])
    assert lines[-1] == (
        f"warren: gc: block {root} of the pinned DAG {root} is corrupted; nothing was removed. "
        f"Re-import the DAG or unpin it (warren pin rm {root}).")
    assert w(repo, "block", "get", garbage).returncode == 0
    assert w(repo, "block", "get", leaf).stdout == HELLO


def test_pins_and_gc(repo):
    leaves = [b"leaf one\n", b"leaf two\n", b"leaf three\n"]
    leaf_cids = [put(repo, d) for d in leaves]
    node = dagpb_node([cid_bytes_of_raw(d) for d in leaves[:2]])
    root = put(repo, node, "--cid-codec", "dag-pb")
    garbage = put(repo, b"garbage\n")
    r = w(repo, "pin", "add", root)
    assert r.returncode == 0 and r.stdout.decode() == f"pinned {root} recursively\n"
    r = w(repo, "pin", "add", "--recursive=false", leaf_cids[2])
    assert r.stdout.decode() == f"pinned {leaf_cids[2]} directly\n"
    r = w(repo, "pin", "ls", "--type=recursive")
    assert r.stdout.decode() == f"{root} recursive\n"
    r = w(repo, "pin", "ls", "--type=direct")
    assert r.stdout.decode() == f"{leaf_cids[2]} direct\n"
    r = w(repo, "pin", "ls")
    lines = sorted(r.stdout.decode().splitlines())
    assert lines == sorted([f"{root} recursive", f"{leaf_cids[2]} direct",
                            f"{leaf_cids[0]} indirect", f"{leaf_cids[1]} indirect"])
    r = w(repo, "pin", "ls", leaf_cids[0])
    assert r.stdout.decode() == f"{leaf_cids[0]} indirect through {root}\n"
    r = w(repo, "pin", "ls", garbage)
    assert r.returncode == 1 and f"path '{garbage}' is not pinned" in r.stderr.decode()
    # pinned blocks cannot be removed
    r = w(repo, "block", "rm", leaf_cids[0])
    assert r.returncode == 1 and f"pinned via {root}" in r.stderr.decode()
    r = w(repo, "block", "rm", root)
    assert r.returncode == 1 and "pinned: recursive" in r.stderr.decode()
    # gc frees exactly the garbage
    r = w(repo, "gc")
    assert r.returncode == 0
    out = r.stdout.decode().splitlines()
    assert out[:-1] == [f"removed {garbage}"]
    assert out[-1] == "gc: removed 1 block, 8 B (8 bytes); kept 4 pinned blocks, " \
        f"{len(node) + sum(map(len, leaves))} B"
    assert w(repo, "block", "get", garbage).returncode == 1
    for c, d in zip(leaf_cids, leaves):
        assert w(repo, "block", "get", c).stdout == d
    # unpin: gc -q lists bare CIDs of everything
    assert w(repo, "pin", "rm", root).stdout.decode() == f"unpinned {root}\n"
    r = w(repo, "pin", "rm", root)
    assert r.returncode == 1 and b"is not pinned" in r.stderr
    r = w(repo, "gc", "-q")
    removed = set(r.stdout.decode().split())
    assert len(removed) == 3 and set(leaf_cids[:2]) <= removed
    assert w(repo, "block", "get", leaf_cids[2]).stdout == leaves[2]


def test_pin_add_needs_whole_dag(repo):
    present = put(repo, b"present\n")
    node = dagpb_node([cid_bytes_of_raw(b"present\n"), cid_bytes_of_raw(b"absent\n")])
    root = put(repo, node, "--cid-codec", "dag-pb")
    r = w(repo, "pin", "add", root)
    assert r.returncode == 1
    assert "is not in the local store" in r.stderr.decode()
    assert w(repo, "pin", "ls").stdout == b""  # no pin written
    r = w(repo, "pin", "add", "--recursive=false", root)
    assert r.returncode == 0
    r = w(repo, "gc")  # direct pin keeps the root only
    assert f"removed {present}" in r.stdout.decode()
    assert w(repo, "block", "stat", root).returncode == 0


def test_gc_needs_the_repo_alone(repo):
    import subprocess
    from conftest import WARREN
    put(repo, HELLO)
    # a long-running reader: block get writing into a pipe nobody reads yet
    big = put(repo, b"y" * (3 * 1024 * 1024))
    p = subprocess.Popen([str(WARREN), "--repo", str(repo), "block", "get", big],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import time
        time.sleep(0.3)
        r = w(repo, "gc")
        assert r.returncode == 1
        assert b"is in use by another warren process; gc needs it alone" in r.stderr
    finally:
        out, _ = p.communicate()
    assert len(out) == 3 * 1024 * 1024
    assert w(repo, "gc").returncode == 0


def test_usage_errors(repo):
    assert w(repo, "block").returncode == 2
    r = w(repo, "block", "frob")
    assert r.returncode == 2 and b"unknown block command" in r.stderr
    assert w(repo, "pin", "ls", "--type=weird").returncode == 2
    assert w(repo, "block", "get").returncode == 2
    for cmd in (["block", "--help"], ["pin", "--help"], ["gc", "--help"], ["init", "--help"],
                ["block", "put", "--help"], ["pin", "add", "--help"]):
        r = w(repo, *cmd)
        assert r.returncode == 0 and b"Usage: warren" in r.stdout
